//! Packets answered in front of gdbstub, one file per extension (as gdbstub lays out its
//! own `protocol/commands` and `stub/core_impl`).
//!
//! gdbstub 0.7 parses and answers the protocol's control flow (handshake, target
//! description, thread lists, resume, monitor). This layer takes the packets that gdbstub
//! cannot answer the way a dump needs, or does not know at all, and writes their replies
//! itself with the [`rsp`](super::rsp) codec:
//!
//! | packet | file | why here |
//! |---|---|---|
//! | `m` | [`memory`] | replies encoded in one pass (gdbstub writes byte by byte) |
//! | `M`, `X` | [`memory`] | refused: the dump is read-only |
//! | `g`, `p`, `G`, `P` | [`registers`] | read through the session's own thread selection |
//! | `Hg`, `?` | [`thread_select`] | the session's general thread, shared by the above |
//! | `qSupported` | [`supported`] | gdbstub answers, this layer adds `qXfer:threads:read+` |
//! | `qXfer:threads:read` | [`threads_xfer`] | thread names (a task's command); gdbstub 0.7 has none |
//!
//! Adding a packet is adding a file and one arm in [`dispatch`]. A handler answers with
//! exactly one packet, or lets the packet through to gdbstub (possibly amending
//! gdbstub's reply, [`Dispatch::Amend`]); malformed arguments get an error reply, never
//! a closed session.

pub mod memory;
pub mod registers;
pub mod supported;
pub mod thread_select;
pub mod threads_xfer;

use super::arch::XenArch;
use super::rsp::PacketWriter;
use super::target::DumpTarget;

/// EINVAL, for malformed arguments.
pub const EINVAL: u8 = 22;

/// What became of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// The reply is written.
    Answered,
    /// gdbstub answers it.
    Forward,
    /// gdbstub answers it, then [`amend`] edits that reply.
    Amend(Amendment),
}

/// An edit of a reply gdbstub wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Amendment {
    /// Add the packet layer's features to `qSupported` ([`supported`]).
    Supported,
}

/// The reply body gdbstub wrote, amended.
pub fn amend(amendment: Amendment, body: &[u8]) -> Vec<u8> {
    match amendment {
        Amendment::Supported => supported::amend(body),
    }
}

/// Answer `body` (a packet without `$`, `#` and checksum) if this layer handles it,
/// appending the reply packet to `out`.
pub fn dispatch<A: XenArch>(
    target: &mut DumpTarget<A>,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Dispatch {
    let Some((&first, args)) = body.split_first() else {
        return Dispatch::Forward;
    };
    if body == b"qSupported" || body.starts_with(b"qSupported:") {
        return Dispatch::Amend(Amendment::Supported);
    }
    let mut reply = PacketWriter::begin(out);
    if let Some(args) = body.strip_prefix(threads_xfer::PREFIX) {
        threads_xfer::read(target, args, &mut reply);
        reply.finish();
        return Dispatch::Answered;
    }
    match first {
        b'm' => memory::read_hex(target, args, &mut reply),
        b'M' | b'X' => memory::refuse_write(&mut reply),
        b'g' if args.is_empty() => registers::read_all(target, &mut reply),
        b'p' => registers::read_one(target, args, &mut reply),
        b'G' | b'P' => registers::refuse_write(&mut reply),
        b'H' if args.first() == Some(&b'g') => {
            thread_select::set_general(target, &args[1..], &mut reply)
        }
        b'?' => {
            thread_select::on_stop_query(target);
            reply.cancel();
            return Dispatch::Forward;
        }
        _ => {
            reply.cancel();
            return Dispatch::Forward;
        }
    }
    reply.finish();
    Dispatch::Answered
}

/// Split `a,b` at the first comma.
fn split_pair(args: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = args.iter().position(|&b| b == sep)?;
    Some((&args[..i], &args[i + 1..]))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::builder::scenario::{Scenario, DATA_PAGES};
    use crate::builder::DumpOptions;
    use crate::dump::{GuestKind, XenDump};
    use crate::gdb::arch::X86_64Xen;
    use crate::gdb::rsp::{decode_hex, decode_reply};
    use crate::memory::{Guest, GuestOptions, PagingMode};
    use crate::threads::Debuggee;

    fn target() -> (DumpTarget<X86_64Xen>, Scenario) {
        let s = Scenario::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
        let bytes = s.image.write(&DumpOptions::default()).unwrap();
        let guest = Guest::new(XenDump::from_bytes(bytes).unwrap(), GuestOptions::default());
        let debuggee = Arc::new(Debuggee::new(guest.unwrap()));
        (DumpTarget::new(debuggee), s)
    }

    /// Send `body`; the decoded reply, or `None` when gdbstub is to answer.
    fn ask(t: &mut DumpTarget<X86_64Xen>, body: &str) -> Option<String> {
        let mut out = Vec::new();
        match dispatch(t, body.as_bytes(), &mut out) {
            Dispatch::Forward | Dispatch::Amend(_) => {
                assert!(out.is_empty(), "{body}: wrote {out:?} yet forwarded");
                None
            }
            Dispatch::Answered => Some(String::from_utf8(decode_reply(&out).unwrap()).unwrap()),
        }
    }

    fn le_hex(v: u64) -> String {
        v.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn memory_goes_through_the_thread_hg_selects() {
        let (mut t, s) = target();
        let read = format!("m{:x},8", s.facts.user_va);
        // The user page is only in vCPU 1's (thread 2's) tables.
        assert_eq!(ask(&mut t, "Hgp1.1").as_deref(), Some("OK"));
        assert_eq!(ask(&mut t, &read).as_deref(), Some("E0e"));
        assert_eq!(ask(&mut t, "Hg2").as_deref(), Some("OK"));
        assert_eq!(ask(&mut t, &read), Some(le_hex(s.facts.user_value)));
        // `?` is gdbstub's, but it makes the first thread current again.
        assert_eq!(ask(&mut t, "?"), None);
        assert_eq!(ask(&mut t, &read).as_deref(), Some("E0e"));
        // "Any thread" is the first; an unknown one is refused and changes nothing.
        assert_eq!(ask(&mut t, "Hg2").as_deref(), Some("OK"));
        assert_eq!(ask(&mut t, "Hg99").as_deref(), Some("E01"));
        assert_eq!(ask(&mut t, &read), Some(le_hex(s.facts.user_value)));
        assert_eq!(ask(&mut t, "Hg0").as_deref(), Some("OK"));
        assert_eq!(ask(&mut t, &read).as_deref(), Some("E0e"));
        assert_eq!(ask(&mut t, "Hg-1").as_deref(), Some("E16"));
    }

    #[test]
    fn reads_stop_at_the_first_unreadable_byte() {
        let (mut t, s) = target();
        // 16 bytes that end 8 bytes past the data mapping: the first 8 come back.
        let end = s.facts.data_va + DATA_PAGES * crate::addr::PAGE_SIZE;
        let reply = ask(&mut t, &format!("m{:x},10", end - 8)).unwrap();
        assert_eq!(decode_hex(reply.as_bytes()).unwrap().len(), 8, "{reply}");
        let jiffies = ask(&mut t, &format!("m{:x},8", s.facts.jiffies_va));
        assert_eq!(jiffies, Some(le_hex(s.facts.jiffies)));
    }

    #[test]
    fn registers_follow_the_selected_thread_and_writes_are_refused() {
        let (mut t, s) = target();
        for (tid, v) in s.image.vcpus.iter().enumerate().map(|(i, v)| (i + 1, v)) {
            assert_eq!(ask(&mut t, &format!("Hg{tid:x}")).as_deref(), Some("OK"));
            let g = ask(&mut t, "g").unwrap();
            // rip is register 16 of the amd64 `g` packet: bytes 128..136.
            assert_eq!(&g[256..272], le_hex(v.rip), "thread {tid}");
            // `p 10` is rip too; orig_rax (0x39) is unavailable.
            assert_eq!(ask(&mut t, "p10"), Some(le_hex(v.rip)), "thread {tid}");
            assert_eq!(ask(&mut t, "p39").as_deref(), Some("xxxxxxxxxxxxxxxx"));
        }
        assert_eq!(ask(&mut t, "p999").as_deref(), Some(""), "unknown register");
        assert_eq!(ask(&mut t, "G00").as_deref(), Some("E79"));
        assert_eq!(ask(&mut t, "P10=00").as_deref(), Some("E79"));
        assert_eq!(ask(&mut t, "M0,1:00").as_deref(), Some("E1e"));
        assert_eq!(ask(&mut t, "X0,1:a").as_deref(), Some("E1e"));
    }

    #[test]
    fn the_thread_list_is_read_in_chunks_with_each_threads_label() {
        let (mut t, _) = target();
        let whole = ask(&mut t, "qXfer:threads:read::0,100000").unwrap();
        assert!(
            whole.starts_with("l<?xml version=\"1.0\"?>\n<threads>\n"),
            "{whole}"
        );
        assert!(
            whole.contains("<thread id=\"p1.2\" core=\"1\">vCPU 1, online, user mode</thread>"),
            "{whole}"
        );
        assert!(whole.ends_with("</threads>\n"), "{whole}");
        // In 7-byte chunks: 'm' until the last, which is 'l'.
        let mut joined = String::new();
        let mut offset = 0;
        loop {
            let part = ask(&mut t, &format!("qXfer:threads:read::{offset:x},7")).unwrap();
            let (kind, data) = part.split_at(1);
            joined.push_str(data);
            offset += data.len();
            if kind == "l" {
                break;
            }
            assert_eq!((kind, data.len()), ("m", 7));
        }
        assert_eq!(joined, whole[1..]);
        assert_eq!(
            ask(&mut t, &format!("qXfer:threads:read::{:x},7", offset + 100)).as_deref(),
            Some("l")
        );
        assert_eq!(
            ask(&mut t, "qXfer:threads:read:x:0,7").as_deref(),
            Some("E00")
        );
        assert_eq!(
            ask(&mut t, "qXfer:threads:read::zz").as_deref(),
            Some("E16")
        );
        assert_eq!(ask(&mut t, "qXfer:threads:read::0").as_deref(), Some("E16"));
    }

    #[test]
    fn malformed_arguments_get_errors_and_others_go_to_gdbstub() {
        let (mut t, _) = target();
        for bad in ["m", "mzz,1", "m0", "m0,", "m1,zz", "pzz", "Hgzz", "Hg"] {
            assert_eq!(ask(&mut t, bad).as_deref(), Some("E16"), "{bad}");
        }
        for theirs in ["qSupported", "vCont?", "Hc1", "qfThreadInfo", ""] {
            assert_eq!(ask(&mut t, theirs), None, "{theirs}");
        }
    }
}
