//! Address and frame-number newtypes shared by every layer.
//!
//! A Xen dump speaks of four different numbering spaces, and mixing them up is the
//! classic xendump bug (a PV page-table entry holds a *machine* frame, not a guest
//! frame). Each space gets its own type so the compiler keeps them apart.

use std::fmt;

/// Size of an x86 page, the only page size Xen dumps use.
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

macro_rules! newtype {
    ($(#[$doc:meta])* $name:ident, $fmt:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u64);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(", $fmt, ")"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, $fmt, self.0)
            }
        }

        impl From<$name> for u64 {
            fn from(v: $name) -> u64 {
                v.0
            }
        }
    };
}

newtype!(
    /// A guest (pseudo-physical) frame number: a "pfn" / "gfn".
    GuestFrame,
    "pfn {:#x}"
);
newtype!(
    /// A machine frame number: an "mfn", the host's real frame.
    MachineFrame,
    "mfn {:#x}"
);
newtype!(
    /// Position of a page in the dump's page array (`.xen_pages` or the legacy page area).
    PageIndex,
    "page #{}"
);
newtype!(
    /// A byte offset in the dump file.
    FileOffset,
    "file offset {:#x}"
);
newtype!(
    /// A guest virtual (linear) address.
    VirtAddr,
    "{:#x}"
);
newtype!(
    /// A guest pseudo-physical address (pfn space, in bytes).
    PhysAddr,
    "phys {:#x}"
);
newtype!(
    /// A machine address (mfn space, in bytes).
    MachineAddr,
    "machine {:#x}"
);

impl GuestFrame {
    /// Byte address of the start of this frame.
    pub fn addr(self) -> PhysAddr {
        PhysAddr(self.0 << PAGE_SHIFT)
    }
}

impl MachineFrame {
    /// Byte address of the start of this frame.
    pub fn addr(self) -> MachineAddr {
        MachineAddr(self.0 << PAGE_SHIFT)
    }
}

impl PhysAddr {
    /// The frame holding this address.
    pub fn frame(self) -> GuestFrame {
        GuestFrame(self.0 >> PAGE_SHIFT)
    }
    /// Offset of this address within its page.
    pub fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }
}

impl MachineAddr {
    /// The frame holding this address.
    pub fn frame(self) -> MachineFrame {
        MachineFrame(self.0 >> PAGE_SHIFT)
    }
    /// Offset of this address within its page.
    pub fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }
}

impl VirtAddr {
    /// Offset of this address within its 4 KiB page.
    pub fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_addresses_round_trip() {
        let pa = PhysAddr(0x1234_5678);
        assert_eq!(pa.frame(), GuestFrame(0x12345));
        assert_eq!(pa.page_offset(), 0x678);
        assert_eq!(GuestFrame(0x12345).addr(), PhysAddr(0x1234_5000));
        let ma = MachineAddr(0xabc_def0);
        assert_eq!(ma.frame(), MachineFrame(0xabcd));
        assert_eq!(MachineFrame(0xabcd).addr().0, 0xabc_d000);
    }

    #[test]
    fn display_names_the_space() {
        assert_eq!(GuestFrame(0x10).to_string(), "pfn 0x10");
        assert_eq!(MachineFrame(0x10).to_string(), "mfn 0x10");
        assert_eq!(PageIndex(3).to_string(), "page #3");
    }
}
