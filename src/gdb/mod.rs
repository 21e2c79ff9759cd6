//! gdb layer: how the dumped guest looks to gdb.
//!
//! [`arch`] holds the register files and target descriptions ([`arch::X86_64Xen`],
//! [`arch::I386Xen`]): it turns a [`crate::vcpu::VcpuState`] into the bytes of a `g`
//! packet; the XML target descriptions live in `src/gdb/xml/` and are compiled in.
//! [`target`] is the gdbstub `Target`, one file per extension as in gdbstub's own
//! examples: `threads.rs` (thread names), `no_run.rs` (resume refused), `monitor.rs`.
//! [`bulk_read`] encodes memory-read replies in one pass for the session driver.

pub mod arch;
pub mod bulk_read;
pub mod monitor;
pub mod no_run;
pub mod target;
mod threads;
