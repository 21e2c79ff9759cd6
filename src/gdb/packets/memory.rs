//! Memory packets: `m addr,length` read through the session's general thread, `M`/`X`
//! writes refused.
//!
//! Replies are the readable prefix (gdb then names the first byte that failed, and takes
//! a short reply as a partial read), encoded in one pass by the codec: gdbstub's
//! byte-at-a-time writer was 86% of the server's CPU time in bulk reads (README,
//! "Performance"). Nothing readable at all is `E0e` (EFAULT).

use super::super::arch::XenArch;
use super::super::rsp::{parse_hex, PacketWriter};
use super::super::target::{DumpTarget, EFAULT, EROFS};
use super::{split_pair, EINVAL};

/// How a memory reply carries its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// Two hex digits per byte, run-length encoded (`m`).
    Hex,
}

/// `m addr,length`.
pub fn read_hex<A: XenArch>(t: &mut DumpTarget<A>, args: &[u8], w: &mut PacketWriter<'_>) {
    read(t, args, ReplyKind::Hex, w);
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
        }
    });
}

/// `M` and `X`: the dump is evidence, never written. gdb prints "Cannot access memory
/// at address …".
pub fn refuse_write(w: &mut PacketWriter<'_>) {
    w.error(EROFS);
}
