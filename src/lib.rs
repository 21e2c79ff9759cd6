//! xendump-gdbserver: serve a Xen domain core dump to gdb.
//!
//! Layers, each knowing only the one below it:
//! [`dump`] (file formats, validation) → [`memory`] (frame maps, page-table walks)
//! → [`vcpu`] (register state) → [`gdb`] (gdbstub target) → [`server`] (TCP sessions).
//! [`convert`] (on [`dump`] and [`memory`] only) writes a dump out as an ELF vmcore.
//! [`builder`] writes synthetic dumps in every format for tests, benchmarks and the demo.

pub mod addr;
pub mod builder;
pub mod convert;
pub mod dump;
pub mod gdb;
pub mod harness;
pub mod memory;
pub mod os;
pub mod server;
pub mod summary;
pub mod vcpu;
