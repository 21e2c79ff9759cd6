//! xendump-gdbserver: serve a Xen domain core dump to gdb.
//!
//! Layers, lowest first; each uses only layers below it (checked by
//! `tests/layering.rs`; the why of each is in `docs/architecture.md`):
//!
//! | layer | speaks | what it is |
//! |---|---|---|
//! | [`addr`], [`kinds`] | — | address newtypes; guest kind, width, context layout |
//! | [`vcpu`] | registers | the register model formats decode vCPU contexts into |
//! | [`dump`] | file pages, frames | formats: parse and validate once, then pages by frame |
//! | [`memory`] | guest virtual / physical / machine | frame maps, page-table walks, address spaces |
//! | [`os`] | kernel objects | what Linux made of the memory: kernel map, VMCOREINFO |
//! | [`threads`] | debugger threads | thread table: each thread's registers and address space |
//! | [`summary`], [`convert`] | — | `info` text; the vmcore writer |
//! | [`gdb`] | RSP packets | codec, session, packet layer, gdbstub target, monitor |
//! | [`server`] | TCP | tokio accept loop, one session per connection |
//!
//! Test support, built only with the `test-support` feature (tests, benches, examples
//! and the fuzz project turn it on): `builder` writes synthetic dumps in every format,
//! `harness` holds the fuzz targets' entry points.

pub mod addr;
#[cfg(any(test, feature = "test-support"))]
pub mod builder;
pub mod convert;
pub mod dump;
pub mod gdb;
#[cfg(any(test, feature = "test-support"))]
pub mod harness;
pub mod kinds;
pub mod memory;
pub mod os;
pub mod server;
pub mod summary;
pub mod threads;
pub mod vcpu;
