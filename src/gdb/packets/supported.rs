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
pub const ADDED_FEATURES: &[&str] = &["binary-upload+"];

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
            b"PacketSize=10000;multiprocess+;binary-upload+"
        );
        assert_eq!(amend(b"a+;binary-upload+"), b"a+;binary-upload+");
        assert_eq!(amend(b""), b"binary-upload+");
    }
}
