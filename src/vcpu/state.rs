use serde::Serialize;

use crate::kinds::{ContextLayout, GuestKind};

/// General-purpose registers, named by their 64-bit names.
///
/// For a 32-bit vCPU only the low 32 bits are meaningful (`rax` holds `eax`, …) and
/// `r8`–`r15` are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Gprs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}

/// Segment selectors as stored in `cpu_user_regs`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Selectors {
    pub cs: u16,
    pub ss: u16,
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
}

/// The 512-byte FXSAVE image from `fpu_ctxt`, kept raw; see [`crate::vcpu`] helpers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FxSave(pub [u8; 512]);

impl std::fmt::Debug for FxSave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FxSave(fcw={:#x}, …)",
            u16::from_le_bytes([self.0[0], self.0[1]])
        )
    }
}

/// `VGCF_i387_valid`: the FPU image holds real state.
pub const VGCF_I387_VALID: u64 = 1 << 0;
/// `VGCF_HVM_GUEST` (Xen 3.0.0–3.0.3 only): the vCPU belongs to an HVM guest.
pub const VGCF_HVM_GUEST: u64 = 1 << 1;
/// `VGCF_in_kernel`: a PV vCPU was in guest-kernel mode.
pub const VGCF_IN_KERNEL: u64 = 1 << 2;
/// `VGCF_online`: the vCPU was up (Xen >= 3.1). Clear means stale registers.
pub const VGCF_ONLINE: u64 = 1 << 5;

/// A segment register as the processor holds it: the selector and its hidden part
/// (base, limit, attributes), which only hardware-virtualised save records carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub selector: u16,
    pub base: u64,
    pub limit: u32,
    /// Xen's packed attribute word (`arbytes`: type, S, DPL, P, AVL, L, D/B, G).
    pub attributes: u32,
}

/// A descriptor-table register (GDTR, IDTR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TableRegister {
    pub base: u64,
    pub limit: u32,
}

/// What a vCPU's state holds beyond `vcpu_guest_context`: every segment register
/// with its hidden part, the descriptor-table registers and the system-call MSRs.
/// Xen's HVM save record (`struct hvm_hw_cpu`) carries them; core dumps do not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SystemRegisters {
    pub cs: Segment,
    pub ds: Segment,
    pub es: Segment,
    pub fs: Segment,
    pub gs: Segment,
    pub ss: Segment,
    pub tr: Segment,
    pub ldtr: Segment,
    pub gdtr: TableRegister,
    pub idtr: TableRegister,
    pub sysenter_cs: u64,
    pub sysenter_esp: u64,
    pub sysenter_eip: u64,
    /// `MSR_SHADOW_GS_BASE`: the GS base `swapgs` would load.
    pub shadow_gs: u64,
    pub lstar: u64,
    pub star: u64,
    pub cstar: u64,
    pub syscall_mask: u64,
    /// `MSR_TSC_AUX` (records from Xen 3.4 on).
    pub tsc_aux: Option<u64>,
    /// The guest's TSC when saved.
    pub tsc: u64,
    /// An event Xen was about to inject (`pending_event`: vector, type, valid bit).
    pub pending_event: u32,
    pub error_code: u32,
}

/// One vCPU's registers, decoded from its context slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VcpuState {
    /// Position of the context in the dump (slot k). Not necessarily the Xen vCPU id.
    pub slot: usize,
    /// Layout the context was decoded with.
    pub layout: ContextLayout,
    /// Guest kind (decides what "kernel mode" and CR3 mean).
    pub guest_kind: GuestKind,
    /// Raw `flags` word (VGCF_*).
    pub flags: u64,
    pub gprs: Gprs,
    pub rip: u64,
    pub rflags: u64,
    pub selectors: Selectors,
    /// `ctrlreg[0..8]` as stored (PV CR3 is Xen-encoded; see the memory layer).
    pub ctrlreg: [u64; 8],
    /// `debugreg[0..8]`.
    pub debugreg: [u64; 8],
    /// FS base (x86_64 layout only).
    pub fs_base: Option<u64>,
    /// Kernel GS base as stored (x86_64 layout only).
    pub gs_base_kernel: Option<u64>,
    /// User GS base as stored (x86_64 layout only).
    pub gs_base_user: Option<u64>,
    /// FXSAVE image, when `VGCF_i387_valid` says it holds state.
    #[serde(skip)]
    pub fpu: Option<FxSave>,
    /// `IA32_EFER`, when the format records it (HVM saved images; core dumps do not).
    pub efer: Option<u64>,
    /// Hidden segment state and system MSRs, when the format records them.
    pub system: Option<Box<SystemRegisters>>,
    /// Does the file hold this vCPU's registers at all? A saved image stores none for
    /// a vCPU that was down; its slot is kept (all zeros, offline) so that slot *k*
    /// stays vCPU *k*.
    pub recorded: bool,
}

/// `EFER.LMA`: long mode is active.
pub const EFER_LMA: u64 = 1 << 10;

impl VcpuState {
    /// A vCPU the file holds no registers for: offline, every register zero.
    pub fn unrecorded(slot: usize, layout: ContextLayout, guest_kind: GuestKind) -> VcpuState {
        VcpuState {
            slot,
            layout,
            guest_kind,
            flags: 0,
            gprs: Gprs::default(),
            rip: 0,
            rflags: 0,
            selectors: Selectors::default(),
            ctrlreg: [0; 8],
            debugreg: [0; 8],
            fs_base: None,
            gs_base_kernel: None,
            gs_base_user: None,
            fpu: None,
            efer: None,
            system: None,
            recorded: false,
        }
    }

    /// Long mode as `EFER.LMA` says, when the format records EFER.
    pub fn long_mode(&self) -> Option<bool> {
        self.efer.map(|e| e & EFER_LMA != 0)
    }

    /// Was the vCPU up when dumped? Dumps from Xen < 3.1 have no such flag; every
    /// stored context was of a running vCPU then, so the caller passes `flag_known`.
    pub fn online(&self) -> bool {
        self.flags & VGCF_ONLINE != 0
    }

    /// Was the vCPU running guest-kernel code?
    ///
    /// PV: `VGCF_in_kernel`. HVM never sets that flag, so the CPL in `cs` decides.
    pub fn kernel_mode(&self) -> bool {
        match self.guest_kind {
            GuestKind::Pv => self.flags & VGCF_IN_KERNEL != 0,
            GuestKind::Hvm => self.selectors.cs & 3 == 0,
        }
    }

    /// The GS base that was live: kernel or user, by mode.
    pub fn active_gs_base(&self) -> Option<u64> {
        if self.kernel_mode() {
            self.gs_base_kernel
        } else {
            self.gs_base_user
        }
    }

    /// `ctrlreg[0]`.
    pub fn cr0(&self) -> u64 {
        self.ctrlreg[0]
    }
    /// `ctrlreg[2]`.
    pub fn cr2(&self) -> u64 {
        self.ctrlreg[2]
    }
    /// `ctrlreg[3]` as stored (raw, possibly Xen-encoded).
    pub fn cr3(&self) -> u64 {
        self.ctrlreg[3]
    }
    /// `ctrlreg[4]`.
    pub fn cr4(&self) -> u64 {
        self.ctrlreg[4]
    }
}
