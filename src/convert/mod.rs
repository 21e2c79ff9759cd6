//! `convert`: turn a xendump into an ELF vmcore laid out like a Linux kdump one, which
//! crash, makedumpfile, drgn and gdb open.
//!
//! Speaks guest *pseudo-physical* addresses (`p_paddr`) and guest virtual addresses
//! (`p_vaddr`, found through the guest's own page tables); uses only the dump and
//! memory layers and the Linux knowledge of [`crate::os::linux`]. Pipeline:
//! [`KernelMap::detect`](crate::os::linux::KernelMap::detect) finds the direct map and
//! the x86_64 kernel image mapping;
//! [`find_vmcoreinfo`](crate::os::linux::find_vmcoreinfo) finds the guest's VMCOREINFO note;
//! [`Plan::new`] lays the file out (see [`plan`]); [`write_vmcore`] streams it, page run
//! by page run, with zero pages as holes; [`convert_file`] does that into a temporary
//! file and renames it into place only when it is complete.
//!
//! PV guests: page-table pages are written canonical, with each entry's machine frame
//! replaced by its pseudo-physical frame as Xen's save path does (see [`tables`]), so
//! tools that walk the vmcore's tables as physical read it as a native guest's; every
//! other page is copied as it is. [`ConvertOptions::keep_machine_frames`] writes the
//! tables as they are instead. The p2m goes into a note of our own. A legacy PV dump,
//! which records machine frames only, converts once [`recover_pfns`] has given it the
//! pfns of the guest kernel's own p2m list.

mod elf;
mod error;
pub mod legacy;
mod notes;
pub mod plan;
mod prstatus;
mod runs;
pub mod tables;
pub mod vmlinux;
mod write;

pub use error::ConvertError;
pub use legacy::{recover_pfns, PfnRecovery};
pub use notes::{
    CORE_NOTE, NT_XENDUMP_CONTEXT, NT_XENDUMP_INFO, NT_XENDUMP_P2M, VMCOREINFO_NOTE, XENDUMP_NOTE,
};
pub use plan::{table_roots, ConvertOptions, Plan, Segment, SegmentKind, VmcoreinfoScan};
pub use prstatus::{prstatus64, PRSTATUS32_SIZE, PRSTATUS64_SIZE, PR_REG32, PR_REG64};
pub use tables::{Canonical, TableRoot, TableSet, TableStats};
pub use vmlinux::{apply_vmlinux, VmlinuxReport};
pub use write::{convert_file, write_vmcore, ConvertReport, NoProgress, Progress, WriteStats};
