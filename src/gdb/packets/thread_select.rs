//! The session's general thread: `Hg` selects it, and the stop reply to `?` names the
//! first thread, which gdb then takes as selected.
//!
//! gdbstub keeps a selection of its own, but the registers and memory packets are
//! answered here, so this one is the selection that counts. `Hc` (the resume thread)
//! still goes to gdbstub, which runs the no-op resume.

use super::super::arch::XenArch;
use super::super::rsp::{parse_thread_id, IdPart, PacketWriter};
use super::super::target::DumpTarget;
use super::EINVAL;
use crate::threads::ThreadId;

/// ENOENT-like code gdbserver uses for an unknown thread.
const E_NO_THREAD: u8 = 1;

/// `Hg<thread-id>`.
pub fn set_general<A: XenArch>(t: &mut DumpTarget<A>, args: &[u8], w: &mut PacketWriter<'_>) {
    let Some(spec) = parse_thread_id(args) else {
        return w.error(EINVAL);
    };
    let id = match spec.tid {
        // "Any thread": the first one, as gdbstub picks it.
        IdPart::Any => t.debuggee().threads().first(),
        // Memory and registers cannot be read from "all threads" at once.
        IdPart::All => return w.error(EINVAL),
        IdPart::Id(n) => usize::try_from(n).ok().and_then(ThreadId::new),
    };
    match id {
        Some(id) if t.has_thread(id) => {
            t.select(id);
            w.raw(b"OK");
        }
        _ => w.error(E_NO_THREAD),
    }
}

/// `?`: gdbstub answers with a stop naming the first listed thread and makes it the
/// general thread; so does the session.
pub fn on_stop_query<A: XenArch>(t: &mut DumpTarget<A>) {
    if let Some(first) = t.debuggee().threads().first() {
        t.select(first);
    }
}
