//! `qXfer:threads:read::OFFSET,LENGTH`: the thread list as XML, with each thread's
//! name (a task's command), its extra info (the thread table's label) and the vCPU it
//! is on (`core`). gdbstub 0.7 has no such packet; gdb uses it instead of
//! `qfThreadInfo` once `qSupported` says so ([`super::supported`]), and then takes
//! every thread's extra info from it instead of one `qThreadExtraInfo` per thread.
//!
//! ```xml
//! <?xml version="1.0"?>
//! <threads>
//! <thread id="p1.1" core="0">vCPU 0, online, kernel mode</thread>
//! <thread id="p1.5" core="1" name="systemd">pid 1 systemd R on vCPU 1</thread>
//! </threads>
//! ```
//!
//! Thread ids use gdbstub's multiprocess form (its fake process 1), as its own thread
//! lists and stop replies do. The document is built when a read starts at offset 0
//! and kept for the reads of the following chunks.

use std::fmt::Write as _;

use super::super::arch::XenArch;
use super::super::rsp::{parse_hex, PacketWriter};
use super::super::target::DumpTarget;
use super::{split_pair, EINVAL};
use crate::threads::Debuggee;

/// The packet, up to its annex.
pub const PREFIX: &[u8] = b"qXfer:threads:read:";

/// gdbstub's fake process id (`gdbstub::FAKE_PID`).
const PID: usize = 1;

/// `qXfer:threads:read:ANNEX:OFFSET,LENGTH` (`args` is what follows [`PREFIX`]).
pub fn read<A: XenArch>(t: &mut DumpTarget<A>, args: &[u8], w: &mut PacketWriter<'_>) {
    // The annex is empty for this object.
    let Some(range) = args.strip_prefix(b":") else {
        return w.error(0);
    };
    let parsed = split_pair(range, b',').and_then(|(o, l)| Some((parse_hex(o)?, parse_hex(l)?)));
    let Some((offset, length)) = parsed else {
        return w.error(EINVAL);
    };
    if offset == 0 || t.threads_xml.is_empty() {
        t.threads_xml = threads_xml(t.debuggee()).into_bytes();
    }
    let xml = &t.threads_xml;
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(xml.len());
    let end = start.saturating_add(usize::try_from(length).unwrap_or(usize::MAX));
    let end = end.min(xml.len());
    w.raw(if end < xml.len() { b"m" } else { b"l" });
    w.binary(&xml[start..end]);
}

/// The thread list of `d` as gdb's `threads` XML document.
pub fn threads_xml(d: &Debuggee) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<threads>\n");
    for id in d.threads().ids() {
        let _ = write!(out, "<thread id=\"p{PID:x}.{:x}\"", id.get());
        if let Some(core) = d.running_on(id) {
            let _ = write!(out, " core=\"{core}\"");
        }
        if let Some(name) = d.name(id) {
            out.push_str(" name=\"");
            escape(&mut out, name);
            out.push('"');
        }
        out.push('>');
        escape(&mut out, &d.label(id));
        out.push_str("</thread>\n");
    }
    out.push_str("</threads>\n");
    out
}

/// `text` as XML character data or attribute value: markup characters as entities,
/// characters XML 1.0 does not allow (controls a guest may put in a command) as `?`.
fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('?'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_controls_are_escaped() {
        let mut s = String::new();
        escape(&mut s, "a<b>&\"c'\u{1}\td");
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;c&apos;? d");
    }
}
