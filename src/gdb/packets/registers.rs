//! Register packets: `g` (all registers) and `p n` (one) of the general thread; `G`/`P`
//! writes refused.
//!
//! Registers a thread's source does not hold go out as `xx` bytes, which gdb shows as
//! `<unavailable>`.

use gdbstub::arch::{RegId, Registers};

use super::super::arch::XenArch;
use super::super::rsp::{parse_hex, PacketWriter};
use super::super::target::{DumpTarget, E_REFUSED};
use super::EINVAL;

/// Longest register value (an x87 or SSE register is 10 or 16 bytes).
const MAX_REGISTER: usize = 64;

/// `g`.
pub fn read_all<A: XenArch>(t: &mut DumpTarget<A>, w: &mut PacketWriter<'_>) {
    let Some(regs) = t.registers(t.selected()) else {
        return w.error(EINVAL);
    };
    regs.gdb_serialize(|byte| match byte {
        Some(b) => w.hex_plain(&[b]),
        None => w.unavailable(1),
    });
}

/// `p n`.
pub fn read_one<A: XenArch>(t: &mut DumpTarget<A>, args: &[u8], w: &mut PacketWriter<'_>) {
    let Some(raw) = parse_hex(args).and_then(|n| usize::try_from(n).ok()) else {
        return w.error(EINVAL);
    };
    // An unknown register number gets an empty reply, as gdbstub (and gdbserver) give.
    let Some((id, size)) = A::RegId::from_raw_id(raw) else {
        return;
    };
    let Some(regs) = t.registers(t.selected()) else {
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
