//! Linux guests: the kernel's address-space layout and its VMCOREINFO note.
//!
//! [`KernelMap::detect`] finds the direct map and the x86_64 kernel image mapping from
//! the guest's page tables; [`find_vmcoreinfo`] finds the note that names the release,
//! the KASLR offset and the symbols a debugger needs; [`read_p2m_list`] reads a Xen PV
//! kernel's own p2m.

pub mod kernel_map;
pub mod p2m;
pub mod start_info;
pub mod vmcoreinfo;

pub use kernel_map::{DirectMap, KernelMap, TextMapping, START_KERNEL_MAP};
pub use p2m::{read_p2m_list, P2mList, P2mStats};
pub use start_info::{find_xen_start_info, StartInfoPointer, StartInfoSearch};
pub use vmcoreinfo::{find_vmcoreinfo, FoundBy, ScanDepth, VmcoreInfo, QUICK_SCAN_BYTES};
