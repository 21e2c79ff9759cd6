//! Register packets: `g` (all registers) and `p n` (one) of the general thread; `G`/`P`
//! writes refused.
//!
//! Registers a thread's source does not hold go out as `xx` bytes, which gdb shows as
//! `<unavailable>`.
//!
//! LLDB's thread suffix: after `QThreadSuffixSupported` → `OK`, LLDB names the thread in
//! each register packet (`g;thread:0002;`, `p10;thread:0002;`) instead of sending `Hg`
//! first. Such a packet reads that thread and leaves the general thread (which memory
//! reads use) alone: LLDB reads every thread's registers at each stop, so following
//! them would leave memory on whichever thread came last.

use gdbstub::arch::{RegId, Registers};

use super::super::arch::XenArch;
use super::super::rsp::parse_hex;
use super::super::rsp::{parse_thread_id, IdPart, PacketWriter};
use super::super::target::{DumpTarget, E_REFUSED};
use super::EINVAL;
use crate::threads::ThreadId;

/// The arguments of a register packet without LLDB's `;thread:N;` suffix, and the
/// thread it names (`None`: the general thread); `None` for a malformed suffix.
pub fn split_thread_suffix(args: &[u8]) -> Option<(&[u8], Option<ThreadId>)> {
    const SUFFIX: &[u8] = b";thread:";
    let Some(at) = args.windows(SUFFIX.len()).position(|w| w == SUFFIX) else {
        return Some((args, None));
    };
    let id = &args[at + SUFFIX.len()..];
    let id = id.strip_suffix(b";").unwrap_or(id);
    match parse_thread_id(id)?.tid {
        IdPart::Id(n) => {
            let thread = ThreadId::new(usize::try_from(n).ok()?)?;
            Some((&args[..at], Some(thread)))
        }
        IdPart::Any | IdPart::All => None,
    }
}

/// `QThreadSuffixSupported`: yes.
pub fn thread_suffix_supported(w: &mut PacketWriter<'_>) {
    w.raw(b"OK");
}

/// Longest register value (an x87 or SSE register is 10 or 16 bytes).
const MAX_REGISTER: usize = 64;

/// `g` (of `thread`).
pub fn read_all<A: XenArch>(t: &mut DumpTarget<A>, thread: ThreadId, w: &mut PacketWriter<'_>) {
    let Some(regs) = t.registers(thread) else {
        return w.error(EINVAL);
    };
    regs.gdb_serialize(|byte| match byte {
        Some(b) => w.hex_plain(&[b]),
        None => w.unavailable(1),
    });
}

/// `p n` (of `thread`).
pub fn read_one<A: XenArch>(
    t: &mut DumpTarget<A>,
    thread: ThreadId,
    args: &[u8],
    w: &mut PacketWriter<'_>,
) {
    let Some(raw) = parse_hex(args).and_then(|n| usize::try_from(n).ok()) else {
        return w.error(EINVAL);
    };
    // An unknown register number gets an empty reply, as gdbstub (and gdbserver) give.
    let Some((id, size)) = A::RegId::from_raw_id(raw) else {
        return;
    };
    let Some(regs) = t.registers(thread) else {
        return w.error(EINVAL);
    };
    let mut buf = [0u8; MAX_REGISTER];
    let size = size.map_or(MAX_REGISTER, |s| s.get().min(MAX_REGISTER));
    match A::read_register(&regs, id, &mut buf[..size]) {
        0 => w.unavailable(size),
        n => w.hex_plain(&buf[..n.min(size)]),
    }
}

/// `G` and `P`: registers of a dump are never changed.
pub fn refuse_write(w: &mut PacketWriter<'_>) {
    w.error(E_REFUSED);
}
