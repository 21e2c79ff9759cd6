//! QEMU's gdbstub extensions, which QEMU-aware front ends probe for.
//!
//! pwndbg (`pwndbg/aglib/qemu.py`) and GEF (`is_qemu`, `is_qemu_system`) decide that
//! they talk to a QEMU *system* target — and enable their kernel commands — when
//! `Qqemu.sstepbits` answers `ENABLE=…` and `qOffsets` gets an empty reply (QEMU's
//! user-mode stub answers `Text=…`). A dumped guest is exactly such a target: a whole
//! machine, halted.
//!
//! | packet | reply | here |
//! |---|---|---|
//! | `Qqemu.sstepbits`, `qqemu.sstepbits` | `ENABLE=1,NOIRQ=2,NOTIMER=4` | QEMU's bit values |
//! | `qqemu.sstep` | `0x7` | the flags last set (nothing runs, so they change nothing) |
//! | `Qqemu.sstep=N` | `OK` | remembered for the query above |
//! | `qqemu.PhyMemMode` | `1` / `0` | is this session reading physical addresses? |
//! | `Qqemu.PhyMemMode:1` / `:0` | `OK` | physical / virtual reads, as `monitor view` |
//! | `qOffsets` | empty | "not a user-mode process": what a system target answers |
//!
//! Names are QEMU's (`gdbstub/gdbstub.c`, `gdb_gen_query_table`, `gdb_gen_set_table`).

use super::super::arch::XenArch;
use super::super::rsp::{parse_hex, PacketWriter};
use super::super::target::DumpTarget;
use super::EINVAL;
use crate::memory::View;

/// QEMU's single-step bit definitions (`SSTEP_ENABLE`, `SSTEP_NOIRQ`, `SSTEP_NOTIMER`).
pub const SSTEP_BITS: &[u8] = b"ENABLE=1,NOIRQ=2,NOTIMER=4";

/// Answer a QEMU extension packet (`body` whole); `false` if `body` is none of them.
pub fn answer<A: XenArch>(t: &mut DumpTarget<A>, body: &[u8], w: &mut PacketWriter<'_>) -> bool {
    match body {
        b"Qqemu.sstepbits" | b"qqemu.sstepbits" => w.raw(SSTEP_BITS),
        b"qqemu.sstep" => {
            w.raw(b"0x");
            w.hex_num(t.sstep_flags);
        }
        b"qqemu.PhyMemMode" => w.raw(if t.settings.view == View::Physical {
            b"1"
        } else {
            b"0"
        }),
        b"qOffsets" => {} // empty: a system target, not a relocated user process
        _ => {
            if let Some(v) = body.strip_prefix(b"Qqemu.sstep=") {
                match parse_hex(v) {
                    Some(flags) => {
                        t.sstep_flags = flags;
                        w.raw(b"OK");
                    }
                    None => w.error(EINVAL),
                }
            } else if let Some(mode) = body.strip_prefix(b"Qqemu.PhyMemMode:") {
                let view = match mode {
                    b"1" => Some(View::Physical),
                    b"0" => Some(View::Virtual),
                    _ => None,
                };
                match view {
                    Some(v) => {
                        t.settings.view = v;
                        w.raw(b"OK");
                    }
                    None => w.error(EINVAL),
                }
            } else {
                return false;
            }
        }
    }
    true
}
