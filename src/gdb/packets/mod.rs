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
//! | `x` | [`memory`] | binary reads (gdb ≥ 16, LLDB); gdbstub 0.7 has none |
//! | `M`, `X` | [`memory`] | refused: the dump is read-only |
//! | `g`, `p`, `G`, `P` | [`registers`] | read through the session's own thread selection (or LLDB's `;thread:` suffix) |
//! | `QThreadSuffixSupported` | [`registers`] | LLDB names the thread in each register packet |
//! | `Hg`, `?` | [`thread_select`] | the session's general thread, shared by the above |
//! | `qSupported` | [`supported`] | gdbstub answers, this layer adds `binary-upload+` |
//! | `Qqemu.*`, `qqemu.*`, `qOffsets` | [`qemu`] | QEMU's extensions: pwndbg and GEF see a system target |
//! | `qHostInfo`, `qProcessInfo`, `qGDBServerVersion` | [`host_info`] | LLDB's target facts |
//! | `qXfer:threads:read` | [`threads_xfer`] | thread names (a task's command); gdbstub 0.7 has none |
//!
//! Adding a packet is adding a file and one arm in [`dispatch`]. A handler answers with
//! exactly one packet, or lets the packet through to gdbstub (possibly amending
//! gdbstub's reply, [`Dispatch::Amend`]); malformed arguments get an error reply, never
//! a closed session.

pub mod host_info;
pub mod memory;
pub mod qemu;
pub mod registers;
pub mod supported;
pub mod thread_select;
pub mod threads_xfer;

use super::arch::XenArch;
use super::rsp::PacketWriter;
use super::target::DumpTarget;

/// Every packet this layer answers or amends, by the name it starts with (the fuzz
/// dictionary, `fuzz/gdb_session.dict`, must hold each: `tests/fuzz_regressions.rs`).
pub const PACKETS: &[&str] = &[
    "m",
    "x",
    "M",
    "X",
    "g",
    "p",
    "G",
    "P",
    "Hg",
    "?",
    ";thread:",
    "qSupported",
    "qHostInfo",
    "qProcessInfo",
    "qGDBServerVersion",
    "QThreadSuffixSupported",
    "Qqemu.sstepbits",
    "qqemu.sstepbits",
    "qqemu.sstep",
    "Qqemu.sstep=",
    "qqemu.PhyMemMode",
    "Qqemu.PhyMemMode:",
    "qOffsets",
    "qXfer:threads:read:",
];

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

/// What gdbstub is to be given instead of `body` for an amended packet, if not `body`
/// itself (see [`supported::for_gdbstub`]).
pub fn forwarded_body(amendment: Amendment, body: &[u8]) -> Option<Vec<u8>> {
    match amendment {
        Amendment::Supported => supported::for_gdbstub(body),
    }
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
    if body.starts_with(b"qSupported") {
        // `qSupportedXYZ` is no packet; gdbstub would end the session on it.
        reply.finish();
        return Dispatch::Answered;
    }
    if matches!(first, b'q' | b'Q') {
        match body {
            b"qHostInfo" => host_info::host(target, &mut reply),
            b"qProcessInfo" => host_info::process(target, &mut reply),
            b"qGDBServerVersion" => host_info::server_version(&mut reply),
            b"QThreadSuffixSupported" => registers::thread_suffix_supported(&mut reply),
            _ if qemu::answer(target, body, &mut reply) => {}
            _ => {
                reply.cancel();
                return Dispatch::Forward;
            }
        }
        reply.finish();
        return Dispatch::Answered;
    }
    match first {
        b'm' => memory::read_hex(target, args, &mut reply),
        b'x' => memory::read_binary(target, args, &mut reply),
        b'M' | b'X' => memory::refuse_write(&mut reply),
        b'g' | b'p' => match registers::split_thread_suffix(args) {
            Some((args, thread)) => {
                let thread = thread.unwrap_or(target.selected());
                if first == b'g' {
                    if !args.is_empty() {
                        reply.cancel();
                        return Dispatch::Forward;
                    }
                    registers::read_all(target, thread, &mut reply);
                } else {
                    registers::read_one(target, thread, args, &mut reply);
                }
            }
            None => reply.error(EINVAL),
        },
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
    use crate::addr::VirtAddr;
    use crate::builder::scenario::{Scenario, DATA_PAGES};
    use crate::builder::DumpOptions;
    use crate::dump::{GuestKind, XenDump};
    use crate::gdb::arch::X86_64Xen;
    use crate::gdb::rsp::{decode_hex, decode_reply};
    use crate::memory::{Guest, GuestOptions, PagingMode};
    use crate::threads::Debuggee;

    fn target() -> (DumpTarget<X86_64Xen>, Scenario) {
        target_with(|_| {})
    }

    /// A target over the scenario guest, changed by `edit` before it is dumped.
    fn target_with(edit: impl FnOnce(&mut Scenario)) -> (DumpTarget<X86_64Xen>, Scenario) {
        let mut s = Scenario::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
        edit(&mut s);
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

    /// Send `body`; the reply body as sent (escapes and all), checksum checked.
    fn ask_raw(t: &mut DumpTarget<X86_64Xen>, body: &str) -> Vec<u8> {
        let mut out = Vec::new();
        assert_eq!(dispatch(t, body.as_bytes(), &mut out), Dispatch::Answered);
        let hash = out.len() - 3;
        assert_eq!((out[0], out[hash]), (b'$', b'#'), "{out:?}");
        let sum = crate::gdb::rsp::checksum(&out[1..hash]);
        assert_eq!(format!("{sum:02x}").as_bytes(), &out[hash + 1..]);
        out[1..hash].to_vec()
    }

    /// Undo binary escapes, refusing any byte that may not appear unescaped.
    fn unescape(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut it = body.iter();
        while let Some(&b) = it.next() {
            assert!(!matches!(b, b'#' | b'$' | b'*'), "unescaped {b:#04x}");
            out.push(if b == b'}' {
                it.next().expect("escape at the end") ^ 0x20
            } else {
                b
            });
        }
        out
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
        for bad in [
            "m",
            "mzz,1",
            "m0",
            "m0,",
            "m1,zz",
            "x",
            "xzz,1",
            "x0",
            "x1,",
            "x,1",
            "x11111111111111111,1",
            "pzz",
            "Hgzz",
            "Hg",
            "Qqemu.sstep=zz",
            "Qqemu.sstep=",
            "Qqemu.PhyMemMode:2",
            "Qqemu.PhyMemMode:",
        ] {
            assert_eq!(ask(&mut t, bad).as_deref(), Some("E16"), "{bad}");
        }
        assert_eq!(ask(&mut t, "qSupportedXYZ").as_deref(), Some(""));
        for theirs in ["vCont?", "Hc1", "qfThreadInfo", "qRcmd,68656c70", "qC", ""] {
            assert_eq!(ask(&mut t, theirs), None, "{theirs}");
        }
        // qSupported goes to gdbstub, whose reply is then amended.
        let mut out = Vec::new();
        for q in ["qSupported", "qSupported:multiprocess+;xmlRegisters=i386"] {
            assert_eq!(
                dispatch(&mut t, q.as_bytes(), &mut out),
                Dispatch::Amend(Amendment::Supported)
            );
        }
        assert!(out.is_empty());
    }

    #[test]
    fn binary_reads_escape_every_reserved_byte_and_never_run_length_encode() {
        // Data page 1 gets every byte value, then runs that RLE would shorten.
        let mut data: Vec<u8> = (0..=255).collect();
        data.extend([b'*'; 40]);
        data.extend([0u8; 100]);
        data.extend([b'}'; 9]);
        let va = |s: &Scenario| s.facts.data_va + 4096 + 16;
        let (mut t, s) = target_with(|s| {
            let (frame, off) = s.lookup(0, VirtAddr(va(s))).unwrap();
            let pfn = s.pfn_of_table_frame(frame).unwrap();
            s.image.write_bytes(pfn, off, &data).unwrap();
        });
        let read = format!("x{:x},{:x}", va(&s), data.len());
        let body = ask_raw(&mut t, &read);
        assert_eq!(body[0], b'b');
        assert_eq!(unescape(&body[1..]), data);
        // Exactly the four reserved bytes are escaped: 4 in the 0..=255 run, 49 after.
        assert_eq!(body.len(), 1 + data.len() + 4 + 40 + 9);
        // The same bytes as `m`.
        let hex = ask(&mut t, &format!("m{:x},{:x}", va(&s), data.len())).unwrap();
        assert_eq!(decode_hex(hex.as_bytes()).unwrap(), data);
    }

    #[test]
    fn binary_reads_are_partial_or_errors_like_hex_reads() {
        let (mut t, s) = target();
        let end = s.facts.data_va + DATA_PAGES * crate::addr::PAGE_SIZE;
        let body = ask_raw(&mut t, &format!("x{:x},10", end - 8));
        assert_eq!(body[0], b'b');
        assert_eq!(unescape(&body[1..]).len(), 8);
        assert_eq!(
            ask(&mut t, &format!("x{:x},8", s.facts.unmapped_va)).as_deref(),
            Some("E0e")
        );
        let jiffies = ask_raw(&mut t, &format!("x{:x},8", s.facts.jiffies_va));
        assert_eq!(unescape(&jiffies[1..]), s.facts.jiffies.to_le_bytes());
        // A zero-length read elsewhere than LLDB's probe: an empty gdb-style reply.
        assert_eq!(
            ask(&mut t, &format!("x{:x},0", s.facts.jiffies_va)).as_deref(),
            Some("b")
        );
        // Memory follows the selected thread, as `m` does.
        let user = format!("x{:x},8", s.facts.user_va);
        assert_eq!(ask(&mut t, &user).as_deref(), Some("E0e"));
        assert_eq!(ask(&mut t, "Hg2").as_deref(), Some("OK"));
        let got = ask_raw(&mut t, &user);
        assert_eq!(unescape(&got[1..]), s.facts.user_value.to_le_bytes());
    }

    #[test]
    fn lldbs_probe_switches_the_session_to_bare_binary_replies() {
        let (mut t, s) = target();
        let read = format!("x{:x},8", s.facts.jiffies_va);
        assert_eq!(ask_raw(&mut t, &read)[0], b'b');
        assert_eq!(ask(&mut t, "x0,0").as_deref(), Some("OK"));
        let bare = ask_raw(&mut t, &read);
        assert_eq!(unescape(&bare), s.facts.jiffies.to_le_bytes());
        assert_eq!(
            ask(&mut t, &format!("x{:x},8", s.facts.unmapped_va)).as_deref(),
            Some("E0e")
        );
    }

    #[test]
    fn lldbs_thread_suffix_reads_that_thread_and_keeps_the_memory_thread() {
        let (mut t, s) = target();
        let v = s.image.expected_states();
        assert_eq!(ask(&mut t, "QThreadSuffixSupported").as_deref(), Some("OK"));
        for (tid, v) in v.iter().enumerate().map(|(i, v)| (i + 1, v)) {
            let g = ask(&mut t, &format!("g;thread:{tid:04x};")).unwrap();
            assert_eq!(&g[256..272], le_hex(v.rip), "thread {tid}");
            let p = ask(&mut t, &format!("p10;thread:{tid:04x};"));
            assert_eq!(p, Some(le_hex(v.rip)), "thread {tid}");
        }
        // The general thread is still the first: vCPU 0 has no user page.
        assert_eq!(t.selected().get(), 1);
        let user = format!("x{:x},8", s.facts.user_va);
        assert_eq!(ask(&mut t, &user).as_deref(), Some("E0e"));
        for bad in [
            "g;thread:zz;",
            "p10;thread:;",
            "g;thread:0;",
            "p10;thread:-1;",
        ] {
            assert_eq!(ask(&mut t, bad).as_deref(), Some("E16"), "{bad}");
        }
        assert_eq!(
            ask(&mut t, "g;thread:0063;").as_deref(),
            Some("E16"),
            "no thread 99"
        );
        assert_eq!(ask(&mut t, "G00;thread:0001;").as_deref(), Some("E79"));
    }

    #[test]
    fn qemu_extensions_make_a_system_target_and_switch_the_view() {
        let (mut t, s) = target();
        assert_eq!(
            ask(&mut t, "Qqemu.sstepbits").as_deref(),
            Some("ENABLE=1,NOIRQ=2,NOTIMER=4")
        );
        assert_eq!(
            ask(&mut t, "qqemu.sstepbits").as_deref(),
            Some("ENABLE=1,NOIRQ=2,NOTIMER=4")
        );
        // A system target: qOffsets is answered, and empty.
        assert_eq!(ask(&mut t, "qOffsets").as_deref(), Some(""));
        assert_eq!(ask(&mut t, "qqemu.sstep").as_deref(), Some("0x7"));
        assert_eq!(ask(&mut t, "Qqemu.sstep=5").as_deref(), Some("OK"));
        assert_eq!(ask(&mut t, "qqemu.sstep").as_deref(), Some("0x5"));
        // Physical memory mode is the session's physical view.
        let banner_pa = format!("m{:x},5", s.facts.banner_pa);
        assert_eq!(ask(&mut t, "qqemu.PhyMemMode").as_deref(), Some("0"));
        assert_eq!(ask(&mut t, &banner_pa).as_deref(), Some("E0e"));
        assert_eq!(ask(&mut t, "Qqemu.PhyMemMode:1").as_deref(), Some("OK"));
        assert_eq!(ask(&mut t, "qqemu.PhyMemMode").as_deref(), Some("1"));
        assert_eq!(t.settings.view, crate::memory::View::Physical);
        let hex = ask(&mut t, &banner_pa).unwrap();
        assert_eq!(decode_hex(hex.as_bytes()).unwrap(), b"Linux");
        assert_eq!(ask(&mut t, "Qqemu.PhyMemMode:0").as_deref(), Some("OK"));
        assert_eq!(t.settings.view, crate::memory::View::Virtual);
    }

    #[test]
    fn host_and_process_info_for_lldb() {
        let (mut t, _) = target();
        let triple: String = "x86_64-unknown-none"
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        let host = ask(&mut t, "qHostInfo").unwrap();
        assert_eq!(host, format!("triple:{triple};ptrsize:8;endian:little;"));
        let process = ask(&mut t, "qProcessInfo").unwrap();
        assert_eq!(process, format!("pid:1;{host}"));
        // Every pair is key:value, none empty (LLDB stops at an empty one).
        for pair in process.trim_end_matches(';').split(';') {
            assert!(pair
                .split_once(':')
                .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty()));
        }
        let version = ask(&mut t, "qGDBServerVersion").unwrap();
        assert_eq!(
            version,
            format!(
                "name:xendump-gdbserver;version:{};",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}
