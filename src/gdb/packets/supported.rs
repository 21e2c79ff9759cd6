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
/// * `qXfer:threads:read+`: the thread list with names ([`super::threads_xfer`]); gdb
///   then shows a task's command as the thread's name and reads every thread's extra
///   info in the same transfer.
pub const ADDED_FEATURES: &[&str] = &["qXfer:threads:read+"];

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
            b"PacketSize=10000;multiprocess+;qXfer:threads:read+"
        );
        assert_eq!(amend(b"a+;qXfer:threads:read+"), b"a+;qXfer:threads:read+");
        assert_eq!(amend(b""), b"qXfer:threads:read+");
    }
}
