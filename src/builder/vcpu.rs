//! vCPU contexts: description and serialisation of `vcpu_guest_context` in its
//! x86_64 (5168 B) and x86_32/compat (2800 B) layouts, offsets per §4.

use crate::dump::{ContextLayout, GuestKind};
use crate::vcpu::{FxSave, Gprs, Selectors, VcpuState, VGCF_I387_VALID, VGCF_ONLINE};

/// Everything a `vcpu_guest_context` holds that a reader might decode.
///
/// Values are kept 64 bits wide; the x86_32 layout stores their low 32 bits
/// (16 bits for `error_code`/`entry_vector`). `trap_ctxt` is always written as zeros.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcpuImage {
    /// `flags` (VGCF_*).
    pub flags: u64,
    /// General-purpose registers including `rsp`; r8–r15 are dropped by the x86_32 layout.
    pub gprs: Gprs,
    /// `rip` / `eip`.
    pub rip: u64,
    /// `rflags` / `eflags`.
    pub rflags: u64,
    /// Segment selectors cs/ss/ds/es/fs/gs.
    pub selectors: Selectors,
    /// `saved_upcall_mask` (PV virtual interrupt mask).
    pub saved_upcall_mask: u8,
    /// `error_code` (u32 in x86_64, u16 in x86_32).
    pub error_code: u32,
    /// `entry_vector` (u32 in x86_64, u16 in x86_32).
    pub entry_vector: u32,
    /// `ctrlreg[0..8]`, stored as given (PV CR3 must already be Xen-encoded, see [`super::pv64_cr3`]).
    pub ctrlreg: [u64; 8],
    /// `debugreg[0..8]`.
    pub debugreg: [u64; 8],
    /// `fs_base` (x86_64 layout only).
    pub fs_base: u64,
    /// `gs_base_kernel` (x86_64 layout only).
    pub gs_base_kernel: u64,
    /// `gs_base_user` (x86_64 layout only).
    pub gs_base_user: u64,
    /// `kernel_ss`.
    pub kernel_ss: u64,
    /// `kernel_sp`.
    pub kernel_sp: u64,
    /// `ldt_base`.
    pub ldt_base: u64,
    /// `ldt_ents`.
    pub ldt_ents: u64,
    /// `gdt_frames[16]` (PV: machine frames).
    pub gdt_frames: [u64; 16],
    /// `gdt_ents`.
    pub gdt_ents: u64,
    /// `event_callback_cs` (x86_32 layout only).
    pub event_callback_cs: u64,
    /// `event_callback_eip`.
    pub event_callback_eip: u64,
    /// `failsafe_callback_cs` (x86_32 layout only).
    pub failsafe_callback_cs: u64,
    /// `failsafe_callback_eip`.
    pub failsafe_callback_eip: u64,
    /// `syscall_callback_eip` (x86_64 layout only).
    pub syscall_callback_eip: u64,
    /// `vm_assist`.
    pub vm_assist: u64,
    /// `fpu_ctxt`: the 512-byte FXSAVE image.
    pub fpu: [u8; 512],
    /// `IA32_EFER`: no `vcpu_guest_context` holds it, an HVM saved image's CPU
    /// record does (see [`super::stream`]).
    pub efer: u64,
}

impl Default for VcpuImage {
    fn default() -> Self {
        VcpuImage {
            flags: 0,
            gprs: Gprs::default(),
            rip: 0,
            rflags: 0,
            selectors: Selectors::default(),
            saved_upcall_mask: 0,
            error_code: 0,
            entry_vector: 0,
            ctrlreg: [0; 8],
            debugreg: [0; 8],
            fs_base: 0,
            gs_base_kernel: 0,
            gs_base_user: 0,
            kernel_ss: 0,
            kernel_sp: 0,
            ldt_base: 0,
            ldt_ents: 0,
            gdt_frames: [0; 16],
            gdt_ents: 0,
            event_callback_cs: 0,
            event_callback_eip: 0,
            failsafe_callback_cs: 0,
            failsafe_callback_eip: 0,
            syscall_callback_eip: 0,
            vm_assist: 0,
            fpu: [0; 512],
            efer: 0,
        }
    }
}

/// Byte offsets of the fields of one context layout (§4.3, §4.4).
struct Offsets {
    /// Width of `unsigned long` fields.
    word: usize,
    flags: usize,
    // Absolute offsets of the GPRs, by their 64-bit names.
    rbx: usize,
    rcx: usize,
    rdx: usize,
    rsi: usize,
    rdi: usize,
    rbp: usize,
    rax: usize,
    error_code: usize,
    entry_vector: usize,
    /// Width of `error_code` / `entry_vector`.
    err_width: usize,
    rip: usize,
    cs: usize,
    saved_upcall_mask: usize,
    rflags: usize,
    rsp: usize,
    ss: usize,
    es: usize,
    ds: usize,
    fs: usize,
    gs: usize,
    ldt_base: usize,
    gdt_frames: usize,
    kernel_ss: usize,
    ctrlreg: usize,
    debugreg: usize,
    vm_assist: usize,
}

const X86_64: Offsets = Offsets {
    word: 8,
    flags: 512,
    rbx: 560,
    rcx: 608,
    rdx: 616,
    rsi: 624,
    rdi: 632,
    rbp: 552,
    rax: 600,
    error_code: 640,
    entry_vector: 644,
    err_width: 4,
    rip: 648,
    cs: 656,
    saved_upcall_mask: 660,
    rflags: 664,
    rsp: 672,
    ss: 680,
    es: 688,
    ds: 696,
    fs: 704,
    gs: 712,
    ldt_base: 4816,
    gdt_frames: 4832,
    kernel_ss: 4968,
    ctrlreg: 4984,
    debugreg: 5048,
    vm_assist: 5136,
};

const X86_32: Offsets = Offsets {
    word: 4,
    flags: 512,
    rbx: 516,
    rcx: 520,
    rdx: 524,
    rsi: 528,
    rdi: 532,
    rbp: 536,
    rax: 540,
    error_code: 544,
    entry_vector: 546,
    err_width: 2,
    rip: 548,
    cs: 552,
    saved_upcall_mask: 554,
    rflags: 556,
    rsp: 560,
    ss: 564,
    es: 568,
    ds: 572,
    fs: 576,
    gs: 580,
    ldt_base: 2632,
    gdt_frames: 2640,
    kernel_ss: 2708,
    ctrlreg: 2716,
    debugreg: 2748,
    vm_assist: 2796,
};

/// x86_64 r8–r15 absolute offsets (`cpu_user_regs` starts at 520, r15 first).
const X86_64_R8_TO_R15: [usize; 8] = [592, 584, 576, 568, 544, 536, 528, 520];
/// x86_64 callback eips and segment bases.
const X86_64_EVENT_EIP: usize = 5112;
const X86_64_FAILSAFE_EIP: usize = 5120;
const X86_64_SYSCALL_EIP: usize = 5128;
const X86_64_FS_BASE: usize = 5144;
const X86_64_GS_BASE_KERNEL: usize = 5152;
const X86_64_GS_BASE_USER: usize = 5160;
/// x86_32 callbacks: cs/eip pairs.
const X86_32_EVENT_CS: usize = 2780;
const X86_32_EVENT_EIP: usize = 2784;
const X86_32_FAILSAFE_CS: usize = 2788;
const X86_32_FAILSAFE_EIP: usize = 2792;

/// Little-endian store of the low `width` bytes of `value` at `off`.
fn put(buf: &mut [u8], off: usize, width: usize, value: u64) {
    buf[off..off + width].copy_from_slice(&value.to_le_bytes()[..width]);
}

impl VcpuImage {
    /// A running vCPU with valid, reset-state FPU (FCW 0x037F, MXCSR 0x1F80) and
    /// `VGCF_online | VGCF_i387_valid`; everything else zero.
    pub fn online() -> Self {
        let mut vcpu = VcpuImage {
            flags: VGCF_ONLINE | VGCF_I387_VALID,
            ..VcpuImage::default()
        };
        vcpu.fpu[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
        vcpu.fpu[24..28].copy_from_slice(&0x1F80u32.to_le_bytes());
        vcpu
    }

    /// Serialise as a `vcpu_guest_context` of `layout` (exactly `layout.size()` bytes).
    pub fn encode(&self, layout: ContextLayout) -> Vec<u8> {
        let mut buf = vec![0u8; layout.size() as usize];
        let o = match layout {
            ContextLayout::X86_64 => &X86_64,
            ContextLayout::X86_32 => &X86_32,
        };
        let w = o.word;
        buf[..512].copy_from_slice(&self.fpu);
        put(&mut buf, o.flags, w, self.flags);
        let g = &self.gprs;
        for (off, value) in [
            (o.rbx, g.rbx),
            (o.rcx, g.rcx),
            (o.rdx, g.rdx),
            (o.rsi, g.rsi),
            (o.rdi, g.rdi),
            (o.rbp, g.rbp),
            (o.rax, g.rax),
            (o.rip, self.rip),
            (o.rflags, self.rflags),
            (o.rsp, g.rsp),
        ] {
            put(&mut buf, off, w, value);
        }
        put(&mut buf, o.error_code, o.err_width, self.error_code.into());
        put(
            &mut buf,
            o.entry_vector,
            o.err_width,
            self.entry_vector.into(),
        );
        let s = &self.selectors;
        for (off, sel) in [
            (o.cs, s.cs),
            (o.ss, s.ss),
            (o.es, s.es),
            (o.ds, s.ds),
            (o.fs, s.fs),
            (o.gs, s.gs),
        ] {
            put(&mut buf, off, 2, sel.into());
        }
        buf[o.saved_upcall_mask] = self.saved_upcall_mask;
        // ldt_base, ldt_ents, gdt_frames[16], gdt_ents are consecutive words.
        put(&mut buf, o.ldt_base, w, self.ldt_base);
        put(&mut buf, o.ldt_base + w, w, self.ldt_ents);
        for (i, frame) in self.gdt_frames.iter().enumerate() {
            put(&mut buf, o.gdt_frames + i * w, w, *frame);
        }
        put(&mut buf, o.gdt_frames + 16 * w, w, self.gdt_ents);
        put(&mut buf, o.kernel_ss, w, self.kernel_ss);
        put(&mut buf, o.kernel_ss + w, w, self.kernel_sp);
        for i in 0..8 {
            put(&mut buf, o.ctrlreg + i * w, w, self.ctrlreg[i]);
            put(&mut buf, o.debugreg + i * w, w, self.debugreg[i]);
        }
        put(&mut buf, o.vm_assist, w, self.vm_assist);
        match layout {
            ContextLayout::X86_64 => {
                for (off, value) in X86_64_R8_TO_R15
                    .iter()
                    .zip([g.r8, g.r9, g.r10, g.r11, g.r12, g.r13, g.r14, g.r15])
                {
                    put(&mut buf, *off, 8, value);
                }
                put(&mut buf, X86_64_EVENT_EIP, 8, self.event_callback_eip);
                put(&mut buf, X86_64_FAILSAFE_EIP, 8, self.failsafe_callback_eip);
                put(&mut buf, X86_64_SYSCALL_EIP, 8, self.syscall_callback_eip);
                put(&mut buf, X86_64_FS_BASE, 8, self.fs_base);
                put(&mut buf, X86_64_GS_BASE_KERNEL, 8, self.gs_base_kernel);
                put(&mut buf, X86_64_GS_BASE_USER, 8, self.gs_base_user);
            }
            ContextLayout::X86_32 => {
                put(&mut buf, X86_32_EVENT_CS, 4, self.event_callback_cs);
                put(&mut buf, X86_32_EVENT_EIP, 4, self.event_callback_eip);
                put(&mut buf, X86_32_FAILSAFE_CS, 4, self.failsafe_callback_cs);
                put(&mut buf, X86_32_FAILSAFE_EIP, 4, self.failsafe_callback_eip);
            }
        }
        buf
    }

    /// The [`VcpuState`] a correct reader decodes from this context stored in `layout`.
    ///
    /// For [`ContextLayout::X86_32`] every value is truncated to 32 bits, r8–r15 are 0 and
    /// the FS/GS bases are `None` (that layout has no such fields). `fpu` is `Some` only
    /// when the stored flags have `VGCF_i387_valid`.
    pub fn to_state(&self, slot: usize, layout: ContextLayout, kind: GuestKind) -> VcpuState {
        let narrow = |v: u64| match layout {
            ContextLayout::X86_64 => v,
            ContextLayout::X86_32 => v & 0xFFFF_FFFF,
        };
        let g = &self.gprs;
        let wide_only = |v: u64| match layout {
            ContextLayout::X86_64 => v,
            ContextLayout::X86_32 => 0,
        };
        let base = |v: u64| match layout {
            ContextLayout::X86_64 => Some(v),
            ContextLayout::X86_32 => None,
        };
        let flags = narrow(self.flags);
        VcpuState {
            slot,
            layout,
            guest_kind: kind,
            flags,
            gprs: Gprs {
                rax: narrow(g.rax),
                rbx: narrow(g.rbx),
                rcx: narrow(g.rcx),
                rdx: narrow(g.rdx),
                rsi: narrow(g.rsi),
                rdi: narrow(g.rdi),
                rbp: narrow(g.rbp),
                rsp: narrow(g.rsp),
                r8: wide_only(g.r8),
                r9: wide_only(g.r9),
                r10: wide_only(g.r10),
                r11: wide_only(g.r11),
                r12: wide_only(g.r12),
                r13: wide_only(g.r13),
                r14: wide_only(g.r14),
                r15: wide_only(g.r15),
            },
            rip: narrow(self.rip),
            rflags: narrow(self.rflags),
            selectors: self.selectors,
            ctrlreg: self.ctrlreg.map(narrow),
            debugreg: self.debugreg.map(narrow),
            fs_base: base(self.fs_base),
            gs_base_kernel: base(self.gs_base_kernel),
            gs_base_user: base(self.gs_base_user),
            fpu: (flags & VGCF_I387_VALID != 0).then_some(FxSave(self.fpu)),
            efer: None,
            system: None,
            recorded: true,
        }
    }
}
