//! gdb layer: how dumped vCPUs look to gdb.
//!
//! [`arch`] holds the register files and target descriptions ([`arch::X86_64Xen`],
//! [`arch::I386Xen`]): it turns a [`crate::vcpu::VcpuState`] into the bytes of a `g`
//! packet. The XML target descriptions live in `src/gdb/xml/` and are compiled in.

pub mod arch;
