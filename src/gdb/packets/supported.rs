//! `qSupported`: gdbstub negotiates it (it must see the client's features, e.g.
//! `multiprocess+`, to format thread ids), then this layer edits its one reply to
//! advertise what the packet layer adds in front of gdbstub.
//!
//! Why amend rather than answer: gdbstub keeps the negotiated features in private state
//! that only its own `qSupported` handler sets; answering in its place would leave
//! gdbstub and the client disagreeing on the thread-id format. The session forwards the
//! packet, then hands gdbstub's reply to [`amend`] (through
//! [`Dispatch::Amend`](super::Dispatch::Amend)), which only appends features.

/// Features the packet layer adds to gdbstub's list.
///
/// * `binary-upload+`: `x` memory reads ([`super::memory`]); gdb ≥ 16 and LLDB ≥ 20
///   use them only when the stub says so.
/// * `qXfer:threads:read+`: the thread list with names ([`super::threads_xfer`]); gdb
///   then shows a task's command as the thread's name and reads every thread's extra
///   info in the same transfer.
pub const ADDED_FEATURES: &[&str] = &["binary-upload+", "qXfer:threads:read+"];

/// The `qSupported` packet body to hand gdbstub for the client's `body`, when it differs.
///
/// gdbstub 0.7.10 ends the session on a `qSupported` without features (pwndbg sends a
/// bare one mid-session to probe for `qXfer:exec-file`) or with an empty element
/// (`qSupported:a+;;`), though the protocol allows the first and the second is
/// harmless. Empty elements are dropped, and a list left empty gets
/// `xmlRegisters=i386`, which gdb sends and gdbstub ignores: gdbstub then answers as
/// usual and negotiates nothing new.
pub fn for_gdbstub(body: &[u8]) -> Option<Vec<u8>> {
    let features = body
        .strip_prefix(b"qSupported")
        .map(|rest| rest.strip_prefix(b":").unwrap_or(rest))?;
    let kept: Vec<&[u8]> = features
        .split(|&b| b == b';')
        .filter(|f| !f.is_empty())
        .collect();
    if !body.starts_with(b"qSupported:") || kept.len() != features.split(|&b| b == b';').count() {
        let mut out = b"qSupported:".to_vec();
        if kept.is_empty() {
            out.extend_from_slice(b"xmlRegisters=i386");
        }
        out.extend_from_slice(&kept.join(&b';'));
        return Some(out);
    }
    None
}

/// gdbstub's `qSupported` reply `body` with [`ADDED_FEATURES`] appended (each once).
pub fn amend(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    for feature in ADDED_FEATURES {
        let present = body.split(|&b| b == b';').any(|f| f == feature.as_bytes());
        if !present {
            if !out.is_empty() {
                out.push(b';');
            }
            out.extend_from_slice(feature.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_appended_once() {
        assert_eq!(
            amend(b"PacketSize=10000;multiprocess+"),
            b"PacketSize=10000;multiprocess+;binary-upload+;qXfer:threads:read+"
        );
        assert_eq!(
            amend(b"a+;binary-upload+;qXfer:threads:read+"),
            b"a+;binary-upload+;qXfer:threads:read+"
        );
        assert_eq!(amend(b""), b"binary-upload+;qXfer:threads:read+");
    }

    #[test]
    fn what_gdbstub_would_choke_on_is_mended() {
        let mend = |b: &[u8]| for_gdbstub(b).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(mend(b"qSupported:multiprocess+;swbreak+"), None);
        assert_eq!(
            mend(b"qSupported").as_deref(),
            Some("qSupported:xmlRegisters=i386")
        );
        assert_eq!(
            mend(b"qSupported:").as_deref(),
            Some("qSupported:xmlRegisters=i386")
        );
        assert_eq!(
            mend(b"qSupported:a+;;b-;").as_deref(),
            Some("qSupported:a+;b-")
        );
    }
}
