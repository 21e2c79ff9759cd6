//! Memory packets: `m addr,length` (hex) and `x addr,length` (binary) read through the
//! session's general thread, `M`/`X` writes refused.
//!
//! Replies are the readable prefix (gdb then names the first byte that failed, and takes
//! a short reply as a partial read), encoded in one pass by the codec: gdbstub's
//! byte-at-a-time writer was 86% of the server's CPU time in bulk reads (README,
//! "Performance"). Nothing readable at all is `E0e` (EFAULT).
//!
//! `x` comes in two dialects that differ only in one leading byte:
//!
//! * gdb ≥ 16 sends `x` once the stub advertised `binary-upload+` (the session adds it to
//!   gdbstub's `qSupported` reply, see [`super::supported`]) and wants `b` before the
//!   data. LLDB ≥ 20 does the same when it sees `binary-upload+`.
//! * LLDB before 20 ignores `binary-upload+`, probes with `x0,0` and, on `OK`, sends `x`
//!   and wants the bare data.
//!
//! gdb never sends a zero-length read, and `x0,0` → `OK` is the LLDB convention (an LLDB
//! that got `b` or `E..` for its probe takes the gdb dialect, anything else means no `x`).
//! So the session answers exactly `x0,0` with `OK` and from then on replies in the bare
//! dialect; every other session gets `b`-prefixed replies. Both sides decide on the
//! same exchange, so they cannot disagree.

use super::super::arch::XenArch;
use super::super::rsp::{parse_hex, PacketWriter};
use super::super::target::{BinaryDialect, DumpTarget, EFAULT, EROFS};
use super::{split_pair, EINVAL};

/// How a memory reply carries its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// Two hex digits per byte, run-length encoded (`m`).
    Hex,
    /// Escaped binary, never run-length encoded (`x`); `prefixed`: after a `b` (gdb's
    /// dialect) or bare (LLDB's older one).
    Binary { prefixed: bool },
}

/// `m addr,length`.
pub fn read_hex<A: XenArch>(t: &mut DumpTarget<A>, args: &[u8], w: &mut PacketWriter<'_>) {
    read(t, args, ReplyKind::Hex, w);
}

/// `x addr,length`.
pub fn read_binary<A: XenArch>(t: &mut DumpTarget<A>, args: &[u8], w: &mut PacketWriter<'_>) {
    if args == b"0,0" {
        // LLDB's probe: from now on, bare replies.
        t.binary_dialect = BinaryDialect::Lldb;
        return w.raw(b"OK");
    }
    let prefixed = t.binary_dialect == BinaryDialect::Gdb;
    read(t, args, ReplyKind::Binary { prefixed }, w);
}

/// Read `addr,length` through the general thread and reply in `kind`.
pub fn read<A: XenArch>(
    t: &mut DumpTarget<A>,
    args: &[u8],
    kind: ReplyKind,
    w: &mut PacketWriter<'_>,
) {
    let parsed = split_pair(args, b',').and_then(|(a, l)| Some((parse_hex(a)?, parse_hex(l)?)));
    let Some((addr, len)) = parsed else {
        return w.error(EINVAL);
    };
    let thread = t.selected();
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    t.with_memory(thread, addr, len, |data| {
        if data.is_empty() && len > 0 {
            return w.error(EFAULT);
        }
        match kind {
            ReplyKind::Hex => w.hex(data),
            ReplyKind::Binary { prefixed } => {
                if prefixed {
                    w.raw(b"b");
                }
                w.binary(data);
            }
        }
    });
}

/// `M` and `X`: the dump is evidence, never written. gdb prints "Cannot access memory
/// at address …".
pub fn refuse_write(w: &mut PacketWriter<'_>) {
    w.error(EROFS);
}
