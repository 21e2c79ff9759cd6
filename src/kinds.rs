//! Leaf vocabulary shared by every layer: what kind of guest, how wide, how its vCPU
//! contexts are laid out, and which frame numbers its page tables hold.
//!
//! Kept apart from the dump reader and the register model so that neither has to
//! import the other (the formats decode contexts *into* the register model; the register
//! model only needs to know the guest's kind and layout).

use serde::Serialize;

/// Paravirtualised or hardware-virtualised guest.
///
/// The distinction decides which frame numbers the guest's page tables hold:
/// machine frames (PV) or guest frames (HVM/PVH).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum GuestKind {
    /// Paravirtualised guest: page tables and CR3 hold machine frames (mfn).
    Pv,
    /// HVM or PVH guest (auto-translated): page tables hold guest frames (pfn).
    Hvm,
}

/// Word size of a guest, or of the dom0 toolstack that wrote the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Width {
    /// 32-bit (x86_32 / i386, or compat on 64-bit Xen).
    Bits32,
    /// 64-bit (x86_64).
    Bits64,
}

impl Width {
    /// Size of a native `unsigned long` of this width, in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            Width::Bits32 => 4,
            Width::Bits64 => 8,
        }
    }
}

/// Layout of one `vcpu_guest_context` slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ContextLayout {
    /// `vcpu_guest_context_x86_64` (5168 bytes).
    X86_64,
    /// `vcpu_guest_context_x86_32` / compat (2800 bytes).
    X86_32,
}

impl ContextLayout {
    /// Size of the structure itself (a slot may be larger).
    pub fn size(self) -> u64 {
        match self {
            ContextLayout::X86_64 => 5168,
            ContextLayout::X86_32 => 2800,
        }
    }
}

/// Which frame numbers a guest's page-table entries (and its CR3) hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FrameSpace {
    /// Guest (pseudo-physical) frames: HVM/PVH.
    Guest,
    /// Machine frames: PV, and the CR3 of legacy HVM dumps.
    Machine,
}
