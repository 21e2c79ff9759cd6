//! What the target is, for LLDB: `qHostInfo`, `qProcessInfo`, and `qGDBServerVersion`
//! (LLDB, pwndbg and GEF ask for the last).
//!
//! The triple is `x86_64-unknown-none` (or `i386-unknown-none`): a bare machine, so LLDB
//! loads symbols statically (its static dynamic-loader plugin) instead of looking for a
//! user process's `ld.so`. gdbstub 0.7.10 can answer the first two through its
//! `HostInfo`/`ProcessInfo` extensions, but writes `endian:little;;`, and LLDB stops
//! reading a reply at the first empty `key:value` pair; answering here avoids that.
//!
//! Reference: LLDB's `lldbgdbremote.md` (`qHostInfo`, `qProcessInfo`,
//! `qGDBServerVersion`).

use super::super::arch::XenArch;
use super::super::rsp::PacketWriter;
use super::super::target::DumpTarget;
use crate::kinds::Width;

/// The process id the session reports (gdbstub's fake pid, as in `p1.N` thread ids).
const PID: u64 = 1;

fn triple<A: XenArch>(t: &DumpTarget<A>) -> (&'static str, u64) {
    match t.debuggee().guest().guest_width() {
        Width::Bits64 => ("x86_64-unknown-none", 8),
        Width::Bits32 => ("i386-unknown-none", 4),
    }
}

fn common<A: XenArch>(t: &DumpTarget<A>, w: &mut PacketWriter<'_>) {
    let (triple, ptrsize) = triple(t);
    w.raw(b"triple:");
    w.hex_plain(triple.as_bytes());
    w.raw(b";ptrsize:");
    w.hex_num(ptrsize); // < 10: the same in hex and decimal
    w.raw(b";endian:little;");
}

/// `qHostInfo`.
pub fn host<A: XenArch>(t: &DumpTarget<A>, w: &mut PacketWriter<'_>) {
    common(t, w);
}

/// `qProcessInfo`.
pub fn process<A: XenArch>(t: &DumpTarget<A>, w: &mut PacketWriter<'_>) {
    w.raw(b"pid:");
    w.hex_num(PID);
    w.raw(b";");
    common(t, w);
}

/// `qGDBServerVersion`.
pub fn server_version(w: &mut PacketWriter<'_>) {
    w.raw(b"name:");
    w.raw(env!("CARGO_PKG_NAME").as_bytes());
    w.raw(b";version:");
    w.raw(env!("CARGO_PKG_VERSION").as_bytes());
    w.raw(b";");
}
