//! gdb layer: how the dumped guest looks to gdb and other RSP clients.
//!
//! * [`rsp`]: the Remote Serial Protocol codec (framing, checksums, escaping, run-length
//!   encoding) — the only code that knows the wire format.
//! * [`session`]: one transport-free session: framing, then the packet layer, then
//!   gdbstub's state machine.
//! * [`packets`]: packets answered in front of gdbstub, one file per extension.
//! * [`target`]: the session's state and the gdbstub `Target` over the
//!   [`Debuggee`](crate::threads::Debuggee); one file per gdbstub extension as in
//!   gdbstub's own examples: `threads.rs` (thread names), `no_run.rs` (resume refused),
//!   [`monitor`] (the `monitor` command table).
//! * [`arch`]: register files and target descriptions ([`arch::X86_64Xen`],
//!   [`arch::I386Xen`]); the XML lives in `src/gdb/xml/` and is compiled in.

pub mod arch;
pub mod monitor;
pub mod no_run;
pub mod packets;
pub mod rsp;
pub mod session;
pub mod target;
mod threads;
