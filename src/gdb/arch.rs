//! gdb register files for dumped Xen vCPUs: the [`Arch`] types [`X86_64Xen`] and
//! [`I386Xen`], their register structs and register ids, and their target descriptions.
//!
//! The `g` packet is gdb's register file in target-description order, each register
//! little-endian. Both layouts start with exactly what `gdbstub_arch`'s `X86_64_SSE` /
//! `X86_SSE` send (features `org.gnu.gdb.i386.core` + `.sse`), so those structs are
//! reused, and then append:
//!
//! | amd64 raw id | offset | register | i386 raw id | offset | register |
//! |---|---|---|---|---|---|
//! | 0–56 | 0–535 | core + sse | 0–40 | 0–307 | core + sse |
//! | 57 | 536 | `orig_rax` (`i386.linux`) | 41 | 308 | `orig_eax` (`i386.linux`) |
//! | 58, 59 | 544, 552 | `fs_base`, `gs_base` (`i386.segments`) | 42, 43 | 312, 316 | `fs_base`, `gs_base` (`org.xendump.i386.segments`) |
//! | 60–69 | 560–632 | cr0 cr2 cr3 cr4 dr0–dr3 dr6 dr7 | 44–53 | 320–356 | same, 32-bit |
//!
//! for 640 resp. 360 bytes. The last block is this project's feature
//! `org.xendump.x86.sys`. Its registers are marked `group="system"`, but gdb 13.1's i386
//! register-group hook ignores the XML group for registers it does not know, so they
//! show in plain `info registers` (not in `info registers system`); `p $cr3` works.
//!
//! Choices, and why:
//! * **`orig_rax`/`orig_eax` are sent as unavailable** (`xx`), not as −1. It is a Linux
//!   kernel software field (`pt_regs.orig_ax`, the syscall number being restarted), not a
//!   CPU register; Xen never saves it, and the guest need not even be Linux. −1 would
//!   claim "not in a system call", which the dump cannot tell. gdb only uses the value
//!   when it *writes* the PC (to stop a syscall restart) and for `catch syscall`, and
//!   neither applies to a read-only dump. The feature is still described so that gdb's
//!   GNU/Linux ABI finds the register it expects and the layout stays gdb's standard one.
//! * **cr1 is left out**: architecturally reserved; Xen's `ctrlreg[1]` is a PV-only
//!   software slot (user page table), meaningful to the memory layer, not to gdb users.
//!   cr5–cr7 are reserved too. There is no cr8 or EFER in a Xen context.
//! * **dr0–dr3, dr6, dr7 are included**: Xen saves them for every vCPU, and they show
//!   the guest's hardware breakpoints/watchpoints at the time of the dump. dr4/dr5 are
//!   aliases of dr6/dr7 and are left out.
//! * **cr3 is the guest's**: as stored, except that a legacy (Xen 3.0.x) HVM dump stored
//!   the top table's *machine* address, so the thread layer gives the guest-physical one
//!   (unavailable when the stored table is not the guest's). For PV guests it is Xen's
//!   encoding of the top page-table frame, as the guest handed it to Xen.
//! * **i386 segment bases** come from the thread layer: the context's fields where Xen
//!   filled them (HVM on 64-bit Xen ≥ 4.2), else the descriptor the selector names in a
//!   PV vCPU's GDT or LDT, else unavailable. They are in a feature of this project's,
//!   not gdb's `org.gnu.gdb.i386.segments`: gdb 13's i386 GNU/Linux ABI numbers
//!   `orig_eax` where that feature's `fs_base` goes and aborts on a description with
//!   both. `p $fs_base` works the same.
//! * **FPU state absent** ⇒ the reset values of [`FpuRegs::RESET`], which is what a vCPU
//!   that never used the FPU would have.
//! * **Registers a thread's source does not hold are unavailable** ([`Unavailable`]),
//!   never zero: a sleeping Linux task has only what its switch frame saved (x86_64
//!   rip rsp rbp rbx r12–r15; i386 eip esp ebp ebx esi edi eflags), and gdb shows the
//!   rest as `<unavailable>` and unwinds from what is there.

use core::fmt::Debug;
use core::num::NonZeroUsize;

use gdbstub::arch::Arch;
use gdbstub::arch::RegId;
use gdbstub::arch::Registers;
use gdbstub_arch::x86::reg::id::X86CoreRegId;
use gdbstub_arch::x86::reg::id::X86SegmentRegId;
use gdbstub_arch::x86::reg::id::X86_64CoreRegId;
use gdbstub_arch::x86::reg::id::X87FpuInternalRegId;
use gdbstub_arch::x86::reg::X86CoreRegs;
use gdbstub_arch::x86::reg::X86SegmentRegs;
use gdbstub_arch::x86::reg::X86_64CoreRegs;
use gdbstub_arch::x86::reg::X87FpuInternalRegs;

use crate::kinds::ContextLayout;
use crate::kinds::Width;
use crate::os::linux::tasks::SavedRegisters;
use crate::threads::{ThreadRegisters, VcpuRegisters};
use crate::vcpu::FpuRegs;
use crate::vcpu::VcpuState;

/// Target description served for [`X86_64Xen`] (`target.xml`).
pub const X86_64_TARGET_XML: &str = include_str!("xml/x86_64-xen.xml");
/// Target description served for [`I386Xen`] (`target.xml`).
pub const I386_TARGET_XML: &str = include_str!("xml/i386-xen.xml");

/// Bytes of the amd64 `g` packet.
pub const X86_64_G_PACKET_LEN: usize = 640;
/// Bytes of the i386 `g` packet.
pub const I386_G_PACKET_LEN: usize = 360;

/// Bytes of gdbstub_arch's `X86_64CoreRegs` (core + sse).
const X86_64_CORE_LEN: usize = 536;
/// Bytes of gdbstub_arch's `X86CoreRegs` (core + sse).
const I386_CORE_LEN: usize = 308;

/// Register names of [`X86_64Xen`], indexed by raw (remote) register number.
pub const X86_64_REGISTER_NAMES: [&str; 70] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", //
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", //
    "rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs", //
    "st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7", //
    "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop", //
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", //
    "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", //
    "mxcsr", "orig_rax", "fs_base", "gs_base", //
    "cr0", "cr2", "cr3", "cr4", "dr0", "dr1", "dr2", "dr3", "dr6", "dr7",
];

/// Register names of [`I386Xen`], indexed by raw (remote) register number.
pub const I386_REGISTER_NAMES: [&str; 54] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", //
    "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs", //
    "st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7", //
    "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop", //
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", //
    "mxcsr", "orig_eax", "fs_base", "gs_base", //
    "cr0", "cr2", "cr3", "cr4", "dr0", "dr1", "dr2", "dr3", "dr6", "dr7",
];

/// gdb target for a vCPU of a 64-bit guest: `i386:x86-64`, features core, sse, linux,
/// segments and `org.xendump.x86.sys`.
pub enum X86_64Xen {}

/// gdb target for a vCPU of a 32-bit guest: `i386`, features core, sse, linux,
/// `org.xendump.i386.segments` and `org.xendump.x86.sys`.
pub enum I386Xen {}

impl Arch for X86_64Xen {
    type Usize = u64;
    type Registers = X86_64Regs;
    type BreakpointKind = usize;
    type RegId = X86_64XenRegId;

    fn target_description_xml() -> Option<&'static str> {
        Some(X86_64_TARGET_XML)
    }
}

impl Arch for I386Xen {
    type Usize = u32;
    type Registers = I386Regs;
    type BreakpointKind = usize;
    type RegId = I386XenRegId;

    fn target_description_xml() -> Option<&'static str> {
        Some(I386_TARGET_XML)
    }
}

/// What a gdb target over a dump needs from its [`Arch`], so that one generic target type
/// can serve both guest widths.
pub trait XenArch: Arch {
    /// Guest word size this arch presents.
    const GUEST_WIDTH: Width;

    /// The registers of a dumped vCPU. `hypervisor` is the width of the Xen that wrote
    /// the contexts, which decides the FXSAVE format when the image does not say.
    fn registers_from_state(state: &VcpuState, hypervisor: Width) -> Self::Registers;

    /// The registers of a dumped vCPU as the guest saw them: the context, with the
    /// values the thread layer worked out (CR3, segment bases) in place of Xen's.
    fn registers_from_vcpu(regs: &VcpuRegisters<'_>, hypervisor: Width) -> Self::Registers;

    /// The registers a sleeping task's last context switch saved; every other register
    /// is unavailable.
    fn registers_from_saved(saved: &SavedRegisters) -> Self::Registers;

    /// The registers of a thread, from whatever its source holds.
    fn registers_of(regs: ThreadRegisters<'_>, hypervisor: Width) -> Self::Registers {
        match regs {
            ThreadRegisters::Vcpu(vcpu) => Self::registers_from_vcpu(&vcpu, hypervisor),
            ThreadRegisters::Saved(saved) => Self::registers_from_saved(&saved),
        }
    }

    /// A gdb address as a 64-bit number.
    fn addr_to_u64(addr: Self::Usize) -> u64;

    /// Copy one register for a `p` packet (`SingleRegisterAccess::read_register`):
    /// returns the bytes written, or 0 when the register is unavailable or unknown.
    fn read_register(regs: &Self::Registers, id: Self::RegId, buf: &mut [u8]) -> usize;
}

impl XenArch for X86_64Xen {
    const GUEST_WIDTH: Width = Width::Bits64;

    fn registers_from_state(state: &VcpuState, hypervisor: Width) -> X86_64Regs {
        X86_64Regs::from_state_with_hypervisor(state, hypervisor)
    }

    fn registers_from_vcpu(regs: &VcpuRegisters<'_>, hypervisor: Width) -> X86_64Regs {
        let mut out = X86_64Regs::from_state_with_hypervisor(regs.state, hypervisor);
        out.fs_base = regs.fs_base;
        out.gs_base = regs.gs_base;
        out.sys.cr3 = regs.cr3;
        out
    }

    fn registers_from_saved(saved: &SavedRegisters) -> X86_64Regs {
        X86_64Regs::from_saved(saved)
    }

    fn addr_to_u64(addr: u64) -> u64 {
        addr
    }

    fn read_register(regs: &X86_64Regs, id: X86_64XenRegId, buf: &mut [u8]) -> usize {
        regs.read_register(id, buf)
    }
}

impl XenArch for I386Xen {
    const GUEST_WIDTH: Width = Width::Bits32;

    fn registers_from_state(state: &VcpuState, hypervisor: Width) -> I386Regs {
        I386Regs::from_state_with_hypervisor(state, hypervisor)
    }

    fn registers_from_vcpu(regs: &VcpuRegisters<'_>, hypervisor: Width) -> I386Regs {
        let low = |v: Option<u64>| v.map(|v| v as u32);
        let mut out = I386Regs::from_state_with_hypervisor(regs.state, hypervisor);
        out.fs_base = low(regs.fs_base);
        out.gs_base = low(regs.gs_base);
        out.sys.cr3 = low(regs.cr3);
        out
    }

    fn registers_from_saved(saved: &SavedRegisters) -> I386Regs {
        I386Regs::from_saved(saved)
    }

    fn addr_to_u64(addr: u32) -> u64 {
        u64::from(addr)
    }

    fn read_register(regs: &I386Regs, id: I386XenRegId, buf: &mut [u8]) -> usize {
        regs.read_register(id, buf)
    }
}

/// The hypervisor width to assume when an FXSAVE image does not record its format.
///
/// An x86_64 context can only come from 64-bit Xen. An x86_32 context comes either from
/// 32-bit Xen or from 64-bit Xen's compat layout; 32-bit is assumed. For 32-bit code the
/// two readings differ only in FXSAVE bytes 14–15 and 22–23 (reserved in the 32-bit
/// format, `FIP/FDP[63:48]` in the 64-bit one), which are zero either way. Callers that
/// know better (the dump's `xen_caps`) use the `from_state_with_hypervisor` constructors.
pub fn hypervisor_width_guess(layout: ContextLayout) -> Width {
    match layout {
        ContextLayout::X86_64 => Width::Bits64,
        ContextLayout::X86_32 => Width::Bits32,
    }
}

/// A register word: `u64` on amd64, `u32` on i386.
pub trait RegWord: Copy + Default + Debug + PartialEq + Eq {
    /// Size in the `g` packet.
    const BYTES: usize;
    /// Take a context value, keeping the low [`Self::BYTES`] bytes.
    fn from_context(value: u64) -> Self;
    /// Little-endian bytes; only the first [`Self::BYTES`] are meaningful.
    fn le_bytes(self) -> [u8; 8];
    /// Read from exactly [`Self::BYTES`] little-endian bytes.
    fn from_le_slice(bytes: &[u8]) -> Option<Self>;
}

impl RegWord for u64 {
    const BYTES: usize = 8;

    fn from_context(value: u64) -> u64 {
        value
    }

    fn le_bytes(self) -> [u8; 8] {
        self.to_le_bytes()
    }

    fn from_le_slice(bytes: &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }
}

impl RegWord for u32 {
    const BYTES: usize = 4;

    fn from_context(value: u64) -> u32 {
        // Truncation intended: a 32-bit guest's values live in the low half.
        value as u32
    }

    fn le_bytes(self) -> [u8; 8] {
        u64::from(self).to_le_bytes()
    }

    fn from_le_slice(bytes: &[u8]) -> Option<u32> {
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    }
}

fn write_word<W: RegWord>(value: W, write_byte: &mut impl FnMut(Option<u8>)) {
    for byte in &value.le_bytes()[..W::BYTES] {
        write_byte(Some(*byte));
    }
}

/// Unavailable registers go out as `xx` bytes, which gdb shows as `<unavailable>`.
fn write_optional<W: RegWord>(value: Option<W>, write_byte: &mut impl FnMut(Option<u8>)) {
    match value {
        Some(value) => write_word(value, write_byte),
        None => (0..W::BYTES).for_each(|_| write_byte(None)),
    }
}

/// Registers a thread's source does not hold, by raw register number: they go out as
/// `xx` bytes (gdb's `<unavailable>`), never as the zeros the struct holds for them.
///
/// A vCPU context holds every register (the set is empty); a sleeping task's switch
/// frame only a few ([`X86_64Regs::from_saved`]). gdbstub_arch's core register structs
/// have plain integer fields, so availability is kept beside them rather than in them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Unavailable(u128);

impl Unavailable {
    /// Every register available.
    pub const NONE: Unavailable = Unavailable(0);

    /// Every raw id below `count` unavailable except those in `available`.
    pub fn all_except(count: usize, available: &[usize]) -> Unavailable {
        let mut set = Unavailable::NONE;
        for raw in (0..count.min(128)).filter(|r| !available.contains(r)) {
            set.0 |= 1 << raw;
        }
        set
    }

    /// Is raw register `raw` unavailable?
    pub fn contains(self, raw: usize) -> bool {
        raw < 128 && self.0 & (1 << raw) != 0
    }

    /// Is every register available?
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Serialise through `body`, sending the bytes of the registers in `unavailable` as
/// `None`: the `g` packet layout of `I` says which byte belongs to which register.
fn serialize_masked<I: RegId>(
    unavailable: Unavailable,
    write_byte: &mut impl FnMut(Option<u8>),
    body: impl FnOnce(&mut dyn FnMut(Option<u8>)),
) {
    if unavailable.is_empty() {
        return body(write_byte);
    }
    let layout = g_packet_layout::<I>();
    let (mut pos, mut slot) = (0usize, 0usize);
    body(&mut |byte| {
        while slot < layout.len() && pos >= layout[slot].offset + layout[slot].size {
            slot += 1;
        }
        let hidden = layout
            .get(slot)
            .is_some_and(|s| unavailable.contains(s.raw_id));
        write_byte(if hidden { None } else { byte });
        pos += 1;
    });
}

/// Registers of the `org.xendump.x86.sys` feature, in packet order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SysRegId {
    /// `ctrlreg[0]`.
    Cr0,
    /// `ctrlreg[2]` (page-fault address).
    Cr2,
    /// `ctrlreg[3]` as the guest had it.
    Cr3,
    /// `ctrlreg[4]`.
    Cr4,
    /// `debugreg[0]`.
    Dr0,
    /// `debugreg[1]`.
    Dr1,
    /// `debugreg[2]`.
    Dr2,
    /// `debugreg[3]`.
    Dr3,
    /// `debugreg[6]` (debug status).
    Dr6,
    /// `debugreg[7]` (debug control).
    Dr7,
}

impl SysRegId {
    /// All of them, in packet order.
    pub const ALL: [SysRegId; 10] = [
        SysRegId::Cr0,
        SysRegId::Cr2,
        SysRegId::Cr3,
        SysRegId::Cr4,
        SysRegId::Dr0,
        SysRegId::Dr1,
        SysRegId::Dr2,
        SysRegId::Dr3,
        SysRegId::Dr6,
        SysRegId::Dr7,
    ];

    /// gdb's name for the register.
    pub fn name(self) -> &'static str {
        match self {
            SysRegId::Cr0 => "cr0",
            SysRegId::Cr2 => "cr2",
            SysRegId::Cr3 => "cr3",
            SysRegId::Cr4 => "cr4",
            SysRegId::Dr0 => "dr0",
            SysRegId::Dr1 => "dr1",
            SysRegId::Dr2 => "dr2",
            SysRegId::Dr3 => "dr3",
            SysRegId::Dr6 => "dr6",
            SysRegId::Dr7 => "dr7",
        }
    }

    /// Position within the feature.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Inverse of [`SysRegId::index`].
    pub fn from_index(index: usize) -> Option<SysRegId> {
        SysRegId::ALL.get(index).copied()
    }
}

/// Control and debug registers as Xen stored them (`ctrlreg[]`, `debugreg[]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SysRegs<W> {
    /// `ctrlreg[0]`.
    pub cr0: W,
    /// `ctrlreg[2]`.
    pub cr2: W,
    /// `ctrlreg[3]` as the guest had it (Xen-encoded for PV guests); `None` when the
    /// dump cannot tell (sent as unavailable).
    pub cr3: Option<W>,
    /// `ctrlreg[4]`.
    pub cr4: W,
    /// `debugreg[0]`.
    pub dr0: W,
    /// `debugreg[1]`.
    pub dr1: W,
    /// `debugreg[2]`.
    pub dr2: W,
    /// `debugreg[3]`.
    pub dr3: W,
    /// `debugreg[6]`.
    pub dr6: W,
    /// `debugreg[7]`.
    pub dr7: W,
}

impl<W: RegWord> SysRegs<W> {
    /// Take the values of `state`, truncated to `W`.
    pub fn from_state(state: &VcpuState) -> SysRegs<W> {
        let cr = |i: usize| W::from_context(state.ctrlreg[i]);
        let dr = |i: usize| W::from_context(state.debugreg[i]);
        SysRegs {
            cr0: cr(0),
            cr2: cr(2),
            cr3: Some(cr(3)),
            cr4: cr(4),
            dr0: dr(0),
            dr1: dr(1),
            dr2: dr(2),
            dr3: dr(3),
            dr6: dr(6),
            dr7: dr(7),
        }
    }

    /// The value of one register; `None` when unavailable.
    pub fn get(&self, id: SysRegId) -> Option<W> {
        Some(match id {
            SysRegId::Cr0 => self.cr0,
            SysRegId::Cr2 => self.cr2,
            SysRegId::Cr3 => return self.cr3,
            SysRegId::Cr4 => self.cr4,
            SysRegId::Dr0 => self.dr0,
            SysRegId::Dr1 => self.dr1,
            SysRegId::Dr2 => self.dr2,
            SysRegId::Dr3 => self.dr3,
            SysRegId::Dr6 => self.dr6,
            SysRegId::Dr7 => self.dr7,
        })
    }

    fn set(&mut self, id: SysRegId, value: W) {
        let slot = match id {
            SysRegId::Cr0 => &mut self.cr0,
            SysRegId::Cr2 => &mut self.cr2,
            SysRegId::Cr3 => {
                self.cr3 = Some(value);
                return;
            }
            SysRegId::Cr4 => &mut self.cr4,
            SysRegId::Dr0 => &mut self.dr0,
            SysRegId::Dr1 => &mut self.dr1,
            SysRegId::Dr2 => &mut self.dr2,
            SysRegId::Dr3 => &mut self.dr3,
            SysRegId::Dr6 => &mut self.dr6,
            SysRegId::Dr7 => &mut self.dr7,
        };
        *slot = value;
    }

    fn serialize(&self, write_byte: &mut impl FnMut(Option<u8>)) {
        for id in SysRegId::ALL {
            write_optional(self.get(id), write_byte);
        }
    }

    /// Parse exactly `10 × W::BYTES` bytes.
    fn deserialize(bytes: &[u8]) -> Option<SysRegs<W>> {
        if bytes.len() != SysRegId::ALL.len() * W::BYTES {
            return None;
        }
        let mut regs = SysRegs::default();
        for (id, chunk) in SysRegId::ALL.into_iter().zip(bytes.chunks_exact(W::BYTES)) {
            regs.set(id, W::from_le_slice(chunk)?);
        }
        Some(regs)
    }
}

fn segments_of(state: &VcpuState) -> X86SegmentRegs {
    let s = &state.selectors;
    X86SegmentRegs {
        cs: u32::from(s.cs),
        ss: u32::from(s.ss),
        ds: u32::from(s.ds),
        es: u32::from(s.es),
        fs: u32::from(s.fs),
        gs: u32::from(s.gs),
    }
}

fn x87_internal_of(fpu: &FpuRegs) -> X87FpuInternalRegs {
    X87FpuInternalRegs {
        fctrl: fpu.fctrl,
        fstat: fpu.fstat,
        ftag: fpu.ftag,
        fiseg: fpu.fiseg,
        fioff: fpu.fioff,
        foseg: fpu.foseg,
        fooff: fpu.fooff,
        fop: fpu.fop,
    }
}

/// Serialise `regs` into a buffer of `len` bytes (`None` = unavailable).
fn serialize_to_vec(regs: &impl Registers, len: usize) -> Vec<Option<u8>> {
    let mut out = Vec::with_capacity(len);
    regs.gdb_serialize(|byte| out.push(byte));
    out
}

/// The `p`-packet bytes of raw register `raw_id`: copied into `buf`, returning the count,
/// or 0 when the register is unavailable or unknown (gdbstub then sends `xx`s).
fn read_register_of<I: RegId>(
    regs: &impl Registers,
    packet_len: usize,
    raw_id: Option<usize>,
    buf: &mut [u8],
) -> usize {
    let Some(slot) = raw_id.and_then(|id| g_packet_layout::<I>().into_iter().nth(id)) else {
        return 0;
    };
    let blob = serialize_to_vec(regs, packet_len);
    let Some(bytes) = blob.get(slot.offset..slot.offset + slot.size) else {
        return 0;
    };
    let mut written = 0;
    for (dst, src) in buf.iter_mut().zip(bytes) {
        match src {
            Some(byte) => *dst = *byte,
            None => return 0,
        }
        written += 1;
    }
    written
}

/// One register's place in the `g` packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterSlot {
    /// Remote register number (`p`/`P` packets, `regnum` in the XML).
    pub raw_id: usize,
    /// Byte offset in the `g` packet.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

/// The `g` packet layout of register-id type `I`: raw ids from 0 upwards, as long as
/// `I::from_raw_id` knows them.
pub fn g_packet_layout<I: RegId>() -> Vec<RegisterSlot> {
    let mut slots = Vec::new();
    let mut offset = 0;
    while let Some((_, size)) = I::from_raw_id(slots.len()) {
        let size = size.map_or(0, NonZeroUsize::get);
        slots.push(RegisterSlot {
            raw_id: slots.len(),
            offset,
            size,
        });
        offset += size;
    }
    slots
}

/// Registers of [`X86_64Xen`]: gdbstub_arch's core + sse block, then the extras.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct X86_64Regs {
    /// rax … mxcsr (raw ids 0–56).
    pub core: X86_64CoreRegs,
    /// Never in a Xen context; `None` is sent as unavailable.
    pub orig_rax: Option<u64>,
    /// FS base; `None` for contexts without one.
    pub fs_base: Option<u64>,
    /// The GS base that was live (kernel or user, by mode).
    pub gs_base: Option<u64>,
    /// cr0 … dr7.
    pub sys: SysRegs<u64>,
    /// Registers sent as unavailable whatever the fields above hold.
    pub unavailable: Unavailable,
}

impl X86_64Regs {
    /// Registers of a dumped vCPU, guessing the hypervisor width from the layout
    /// ([`hypervisor_width_guess`]).
    pub fn from_state(state: &VcpuState) -> X86_64Regs {
        X86_64Regs::from_state_with_hypervisor(state, hypervisor_width_guess(state.layout))
    }

    /// Registers of a dumped vCPU; `hypervisor_width` decides the FXSAVE pointer format
    /// when the image does not record it.
    pub fn from_state_with_hypervisor(state: &VcpuState, hypervisor_width: Width) -> X86_64Regs {
        let g = &state.gprs;
        let fpu = FpuRegs::from_state(state, hypervisor_width);
        X86_64Regs {
            core: X86_64CoreRegs {
                regs: [
                    g.rax, g.rbx, g.rcx, g.rdx, g.rsi, g.rdi, g.rbp, g.rsp, //
                    g.r8, g.r9, g.r10, g.r11, g.r12, g.r13, g.r14, g.r15,
                ],
                // RFLAGS[63:32] are reserved (zero); gdb's eflags is 32 bits.
                eflags: state.rflags as u32,
                rip: state.rip,
                segments: segments_of(state),
                st: fpu.st,
                fpu: x87_internal_of(&fpu),
                xmm: fpu.xmm,
                mxcsr: fpu.mxcsr,
            },
            orig_rax: None,
            fs_base: state.fs_base,
            gs_base: state.active_gs_base(),
            sys: SysRegs::from_state(state),
            unavailable: Unavailable::NONE,
        }
    }

    /// Registers of a sleeping task: what its switch frame saved (rip, rsp, rbp, rbx,
    /// r12–r15), every other register unavailable.
    pub fn from_saved(saved: &SavedRegisters) -> X86_64Regs {
        let mut regs = X86_64Regs::default();
        let mut available = Vec::new();
        let mut set = |raw: usize, value: Option<u64>| {
            if let Some(v) = value {
                match raw {
                    16 => regs.core.rip = v,
                    _ => regs.core.regs[raw] = v,
                }
                available.push(raw);
            }
        };
        set(1, saved.bx);
        set(6, saved.bp);
        set(7, saved.sp);
        set(12, saved.r12);
        set(13, saved.r13);
        set(14, saved.r14);
        set(15, saved.r15);
        set(16, saved.ip);
        regs.unavailable = Unavailable::all_except(X86_64_REGISTER_NAMES.len(), &available);
        regs
    }

    /// Copy one register for a `p` packet; returns the bytes written, 0 if unavailable.
    pub fn read_register(&self, id: X86_64XenRegId, buf: &mut [u8]) -> usize {
        read_register_of::<X86_64XenRegId>(self, X86_64_G_PACKET_LEN, id.to_raw_id(), buf)
    }
}

impl Registers for X86_64Regs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.core.rip
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        serialize_masked::<X86_64XenRegId>(self.unavailable, &mut write_byte, |mut w| {
            self.core.gdb_serialize(&mut w);
            write_optional(self.orig_rax, &mut w);
            write_optional(self.fs_base, &mut w);
            write_optional(self.gs_base, &mut w);
            self.sys.serialize(&mut w);
        });
    }

    /// Parse a `G` packet. It must be exactly [`X86_64_G_PACKET_LEN`] bytes, as gdb
    /// sends back the size of our `g` reply; `self` is untouched on error.
    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        if bytes.len() != X86_64_G_PACKET_LEN {
            return Err(());
        }
        let (core_bytes, rest) = bytes.split_at(X86_64_CORE_LEN);
        let mut core = X86_64CoreRegs::default();
        core.gdb_deserialize(core_bytes)?;
        let (extras, sys_bytes) = rest.split_at(3 * u64::BYTES);
        let mut words = extras.chunks_exact(u64::BYTES).map(u64::from_le_slice);
        let orig_rax = words.next().flatten().ok_or(())?;
        let fs_base = words.next().flatten().ok_or(())?;
        let gs_base = words.next().flatten().ok_or(())?;
        let sys = SysRegs::deserialize(sys_bytes).ok_or(())?;
        *self = X86_64Regs {
            core,
            orig_rax: Some(orig_rax),
            fs_base: Some(fs_base),
            gs_base: Some(gs_base),
            sys,
            unavailable: Unavailable::NONE,
        };
        Ok(())
    }
}

/// Registers of [`I386Xen`]: gdbstub_arch's core + sse block, then the extras.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct I386Regs {
    /// eax … mxcsr (raw ids 0–40).
    pub core: X86CoreRegs,
    /// Never in a Xen context; `None` is sent as unavailable.
    pub orig_eax: Option<u32>,
    /// FS base as the guest had it; `None` when the dump cannot tell.
    pub fs_base: Option<u32>,
    /// GS base as the guest had it; `None` when the dump cannot tell.
    pub gs_base: Option<u32>,
    /// cr0 … dr7, 32 bits each.
    pub sys: SysRegs<u32>,
    /// Registers sent as unavailable whatever the fields above hold.
    pub unavailable: Unavailable,
}

impl I386Regs {
    /// Registers of a dumped 32-bit vCPU, guessing the hypervisor width from the layout
    /// ([`hypervisor_width_guess`]). For a 32-bit HVM guest (x86_64 layout) the low 32
    /// bits of every value are used.
    pub fn from_state(state: &VcpuState) -> I386Regs {
        I386Regs::from_state_with_hypervisor(state, hypervisor_width_guess(state.layout))
    }

    /// As [`I386Regs::from_state`], with the hypervisor width given.
    pub fn from_state_with_hypervisor(state: &VcpuState, hypervisor_width: Width) -> I386Regs {
        let g = &state.gprs;
        let low = |value: u64| value as u32;
        let fpu = FpuRegs::from_state(state, hypervisor_width);
        let mut xmm = [0u128; 8];
        xmm.copy_from_slice(&fpu.xmm[..8]);
        I386Regs {
            core: X86CoreRegs {
                eax: low(g.rax),
                ecx: low(g.rcx),
                edx: low(g.rdx),
                ebx: low(g.rbx),
                esp: low(g.rsp),
                ebp: low(g.rbp),
                esi: low(g.rsi),
                edi: low(g.rdi),
                eip: low(state.rip),
                eflags: low(state.rflags),
                segments: segments_of(state),
                st: fpu.st,
                fpu: x87_internal_of(&fpu),
                xmm,
                mxcsr: fpu.mxcsr,
            },
            orig_eax: None,
            // The low halves of the context's bases, where it has them (the thread
            // layer also decodes them from descriptor tables).
            fs_base: state.fs_base.map(|v| v as u32),
            gs_base: state.active_gs_base().map(|v| v as u32),
            sys: SysRegs::from_state(state),
            unavailable: Unavailable::NONE,
        }
    }

    /// Registers of a sleeping task: what its switch frame saved (eip, esp, ebp, ebx,
    /// esi, edi, eflags, as the kernel's frame holds them), every other register
    /// unavailable.
    pub fn from_saved(saved: &SavedRegisters) -> I386Regs {
        let mut regs = I386Regs::default();
        let mut available = Vec::new();
        let low = |v: u64| v as u32;
        let c = &mut regs.core;
        for (raw, value, field) in [
            (3, saved.bx, &mut c.ebx),
            (4, saved.sp, &mut c.esp),
            (5, saved.bp, &mut c.ebp),
            (6, saved.si, &mut c.esi),
            (7, saved.di, &mut c.edi),
            (8, saved.ip, &mut c.eip),
            (9, saved.flags, &mut c.eflags),
        ] {
            if let Some(v) = value {
                *field = low(v);
                available.push(raw);
            }
        }
        regs.unavailable = Unavailable::all_except(I386_REGISTER_NAMES.len(), &available);
        regs
    }

    /// Copy one register for a `p` packet; returns the bytes written, 0 if unavailable.
    pub fn read_register(&self, id: I386XenRegId, buf: &mut [u8]) -> usize {
        read_register_of::<I386XenRegId>(self, I386_G_PACKET_LEN, id.to_raw_id(), buf)
    }
}

impl Registers for I386Regs {
    type ProgramCounter = u32;

    fn pc(&self) -> u32 {
        self.core.eip
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        serialize_masked::<I386XenRegId>(self.unavailable, &mut write_byte, |mut w| {
            self.core.gdb_serialize(&mut w);
            write_optional(self.orig_eax, &mut w);
            write_optional(self.fs_base, &mut w);
            write_optional(self.gs_base, &mut w);
            self.sys.serialize(&mut w);
        });
    }

    /// Parse a `G` packet of exactly [`I386_G_PACKET_LEN`] bytes; `self` is untouched on
    /// error.
    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        if bytes.len() != I386_G_PACKET_LEN {
            return Err(());
        }
        let (core_bytes, rest) = bytes.split_at(I386_CORE_LEN);
        let mut core = X86CoreRegs::default();
        core.gdb_deserialize(core_bytes)?;
        let (extras, sys_bytes) = rest.split_at(3 * u32::BYTES);
        let mut words = extras.chunks_exact(u32::BYTES).map(u32::from_le_slice);
        let orig_eax = words.next().flatten().ok_or(())?;
        let fs_base = words.next().flatten().ok_or(())?;
        let gs_base = words.next().flatten().ok_or(())?;
        let sys = SysRegs::deserialize(sys_bytes).ok_or(())?;
        *self = I386Regs {
            core,
            orig_eax: Some(orig_eax),
            fs_base: Some(fs_base),
            gs_base: Some(gs_base),
            sys,
            unavailable: Unavailable::NONE,
        };
        Ok(())
    }
}

/// Register id of [`X86_64Xen`] (raw ids 0–69).
#[derive(Debug, Clone, Copy)]
pub enum X86_64XenRegId {
    /// Raw ids 0–56, as gdbstub_arch numbers them.
    Core(X86_64CoreRegId),
    /// 57.
    OrigRax,
    /// 58.
    FsBase,
    /// 59.
    GsBase,
    /// 60–69.
    Sys(SysRegId),
}

/// Register id of [`I386Xen`] (raw ids 0–53).
#[derive(Debug, Clone, Copy)]
pub enum I386XenRegId {
    /// Raw ids 0–40, as gdbstub_arch numbers them.
    Core(X86CoreRegId),
    /// 41.
    OrigEax,
    /// 42.
    FsBase,
    /// 43.
    GsBase,
    /// 44–53.
    Sys(SysRegId),
}

const X86_64_ORIG_RAX: usize = 57;
const X86_64_FS_BASE: usize = 58;
const X86_64_GS_BASE: usize = 59;
const X86_64_SYS_FIRST: usize = 60;
const I386_ORIG_EAX: usize = 41;
const I386_FS_BASE: usize = 42;
const I386_GS_BASE: usize = 43;
const I386_SYS_FIRST: usize = 44;

fn segment_index(id: X86SegmentRegId) -> usize {
    match id {
        X86SegmentRegId::CS => 0,
        X86SegmentRegId::SS => 1,
        X86SegmentRegId::DS => 2,
        X86SegmentRegId::ES => 3,
        X86SegmentRegId::FS => 4,
        X86SegmentRegId::GS => 5,
    }
}

fn fpu_index(id: X87FpuInternalRegId) -> usize {
    match id {
        X87FpuInternalRegId::Fctrl => 0,
        X87FpuInternalRegId::Fstat => 1,
        X87FpuInternalRegId::Ftag => 2,
        X87FpuInternalRegId::Fiseg => 3,
        X87FpuInternalRegId::Fioff => 4,
        X87FpuInternalRegId::Foseg => 5,
        X87FpuInternalRegId::Fooff => 6,
        X87FpuInternalRegId::Fop => 7,
    }
}

fn nonzero(size: usize) -> Option<NonZeroUsize> {
    NonZeroUsize::new(size)
}

impl X86_64XenRegId {
    /// gdb's name for the register (as in the target description).
    pub fn name(&self) -> Option<&'static str> {
        X86_64_REGISTER_NAMES.get(self.to_raw_id()?).copied()
    }
}

impl RegId for X86_64XenRegId {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        let (reg, size) = match id {
            0..=56 => {
                let (core, size) = X86_64CoreRegId::from_raw_id(id)?;
                return Some((X86_64XenRegId::Core(core), size));
            }
            X86_64_ORIG_RAX => (X86_64XenRegId::OrigRax, 8),
            X86_64_FS_BASE => (X86_64XenRegId::FsBase, 8),
            X86_64_GS_BASE => (X86_64XenRegId::GsBase, 8),
            _ => {
                let sys = SysRegId::from_index(id.checked_sub(X86_64_SYS_FIRST)?)?;
                (X86_64XenRegId::Sys(sys), 8)
            }
        };
        Some((reg, nonzero(size)))
    }

    fn to_raw_id(&self) -> Option<usize> {
        use X86_64CoreRegId as C;
        let raw = match *self {
            X86_64XenRegId::Core(core) => match core {
                C::Gpr(n) if n < 16 => usize::from(n),
                C::Rip => 16,
                C::Eflags => 17,
                C::Segment(segment) => 18 + segment_index(segment),
                C::St(n) if n < 8 => 24 + usize::from(n),
                C::Fpu(fpu) => 32 + fpu_index(fpu),
                C::Xmm(n) if n < 16 => 40 + usize::from(n),
                C::Mxcsr => 56,
                _ => return None,
            },
            X86_64XenRegId::OrigRax => X86_64_ORIG_RAX,
            X86_64XenRegId::FsBase => X86_64_FS_BASE,
            X86_64XenRegId::GsBase => X86_64_GS_BASE,
            X86_64XenRegId::Sys(sys) => X86_64_SYS_FIRST + sys.index(),
        };
        Some(raw)
    }
}

impl I386XenRegId {
    /// gdb's name for the register (as in the target description).
    pub fn name(&self) -> Option<&'static str> {
        I386_REGISTER_NAMES.get(self.to_raw_id()?).copied()
    }
}

impl RegId for I386XenRegId {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        let (reg, size) = match id {
            0..=40 => {
                let (core, size) = X86CoreRegId::from_raw_id(id)?;
                return Some((I386XenRegId::Core(core), size));
            }
            I386_ORIG_EAX => (I386XenRegId::OrigEax, 4),
            I386_FS_BASE => (I386XenRegId::FsBase, 4),
            I386_GS_BASE => (I386XenRegId::GsBase, 4),
            _ => {
                let sys = SysRegId::from_index(id.checked_sub(I386_SYS_FIRST)?)?;
                (I386XenRegId::Sys(sys), 4)
            }
        };
        Some((reg, nonzero(size)))
    }

    fn to_raw_id(&self) -> Option<usize> {
        use X86CoreRegId as C;
        let raw = match *self {
            I386XenRegId::Core(core) => match core {
                C::Eax => 0,
                C::Ecx => 1,
                C::Edx => 2,
                C::Ebx => 3,
                C::Esp => 4,
                C::Ebp => 5,
                C::Esi => 6,
                C::Edi => 7,
                C::Eip => 8,
                C::Eflags => 9,
                C::Segment(segment) => 10 + segment_index(segment),
                C::St(n) if n < 8 => 16 + usize::from(n),
                C::Fpu(fpu) => 24 + fpu_index(fpu),
                C::Xmm(n) if n < 8 => 32 + usize::from(n),
                C::Mxcsr => 40,
                _ => return None,
            },
            I386XenRegId::OrigEax => I386_ORIG_EAX,
            I386XenRegId::FsBase => I386_FS_BASE,
            I386XenRegId::GsBase => I386_GS_BASE,
            I386XenRegId::Sys(sys) => I386_SYS_FIRST + sys.index(),
        };
        Some(raw)
    }
}

#[cfg(test)]
mod tests;
