//! Linux guests: the kernel's address-space layout and its VMCOREINFO note; its struct
//! layouts and symbols from its debug information; its tasks.
//!
//! [`KernelMap::detect`] finds the direct map and the x86_64 kernel image mapping from
//! the guest's page tables; [`find_vmcoreinfo`] finds the note that names the release,
//! the KASLR offset and the symbols a debugger needs; [`apply_kernel_view`] gives vCPUs
//! whose own page-table root is useless the kernel's table, and checks a legacy HVM
//! dump's layout against the kernel image. [`debuginfo`] reads a `vmlinux`
//! (DWARF and symbols) into the [`layout`] the task walker needs; [`tasks`] makes every
//! kernel task (every thread of every thread group, the idle tasks included) something
//! a debugger can show as a thread: its pid, command, state, the CPU it runs on, the
//! registers its last context switch saved and its page tables. [`kernel`] puts it
//! together for one dump: the vmlinux checked against the guest, the KASLR offset, and
//! each task's registers and address space. For Xen PV kernels, [`read_p2m_list`] reads
//! the kernel's own p2m and [`find_xen_start_info`] its `xen_start_info` pointer.

pub mod debuginfo;
pub mod kernel;
pub mod kernel_map;
pub mod kernel_view;
pub mod layout;
pub mod p2m;
pub mod start_info;
pub mod tasks;
pub mod vmcoreinfo;

pub use kernel::{KernelError, KernelOptions, LinuxKernel};
pub use kernel_map::{DirectMap, KernelMap, TextMapping, START_KERNEL_MAP};
pub use kernel_view::{apply_kernel_view, find_kernel_root, KernelRoot, KernelView};
pub use p2m::{read_p2m_list, P2mList, P2mStats};
pub use start_info::{find_xen_start_info, StartInfoPointer, StartInfoSearch};
pub use vmcoreinfo::{find_vmcoreinfo, FoundBy, ScanDepth, VmcoreInfo, QUICK_SCAN_BYTES};
