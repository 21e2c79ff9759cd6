//! The transport-free gdb session (`server::Session`): framing and the bound on
//! buffered replies, checked without a network.

use xendump_gdbserver::builder::tiny::TinyGuest;
use xendump_gdbserver::dump::GuestKind;
use xendump_gdbserver::gdb::session::{
    AnySession, SessionConfig, SessionStatus, OUTPUT_HIGH_WATER,
};
use xendump_gdbserver::harness::{packet, session_guests};
use xendump_gdbserver::memory::PagingMode;

fn session() -> AnySession {
    AnySession::new(session_guests()[0].clone(), &SessionConfig::default()).unwrap()
}

fn facts() -> xendump_gdbserver::builder::tiny::TinyFacts {
    TinyGuest::new(GuestKind::Pv, PagingMode::FourLevel)
        .unwrap()
        .facts
}

#[test]
fn pipelined_requests_are_answered_in_bounded_chunks() {
    let mut s = session();
    let mut out = Vec::new();
    s.feed(&packet(b"qSupported:multiprocess+"), &mut out)
        .unwrap();
    out.clear();
    // 1024 pipelined requests for the whole target description: ~10 MiB of replies.
    let one = packet(b"qXfer:features:read:target.xml:0,fff0");
    let input: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1024).collect();
    let mut rest = &input[..];
    let (mut chunks, mut total, mut largest) = (0, 0, 0);
    while !rest.is_empty() {
        let (used, status) = s.feed(rest, &mut out).unwrap();
        assert_eq!(status, SessionStatus::Open);
        assert!(used > 0, "no progress");
        largest = largest.max(out.len());
        total += out.len();
        out.clear();
        chunks += 1;
        rest = &rest[used..];
    }
    assert!(
        total > 16 * OUTPUT_HIGH_WATER,
        "only {total} bytes of replies"
    );
    assert!(chunks > 16, "{chunks} chunks");
    // At most one reply beyond the mark.
    assert!(
        largest < OUTPUT_HIGH_WATER + 128 * 1024,
        "{largest} bytes buffered"
    );
}

#[test]
fn noise_is_skipped_and_bad_checksums_are_nacked() {
    let f = facts();
    let mut s = session();
    let mut out = Vec::new();
    let mut input = b"hello\r\n-+".to_vec();
    input.extend_from_slice(b"$qSupported:multiprocess+#00");
    input.extend_from_slice(&packet(b"qSupported:multiprocess+"));
    input.extend_from_slice(&packet(format!("m{:x},4", f.banner_va).as_bytes()));
    let (used, status) = s.feed(&input, &mut out).unwrap();
    assert_eq!((used, status), (input.len(), SessionStatus::Open));
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with('-'), "{text}");
    assert!(text.contains("PacketSize="), "{text}");
    assert!(text.contains("$4c696e75#"), "{text}");
}

#[test]
fn an_oversized_packet_ends_the_session() {
    let mut s = AnySession::new(
        session_guests()[0].clone(),
        &SessionConfig {
            packet_size: 1024,
            ..SessionConfig::default()
        },
    )
    .unwrap();
    let mut out = Vec::new();
    let mut input = vec![b'$'];
    input.extend(std::iter::repeat_n(b'a', 4096));
    let err = s.feed(&input, &mut out).unwrap_err();
    assert!(err.to_string().contains("oversized"), "{err}");
    assert!(s.feed(b"+", &mut out).is_err(), "session went on");
}

#[test]
fn detach_closes_the_session_after_its_reply() {
    let mut s = session();
    let mut out = Vec::new();
    let mut input = packet(b"qSupported:multiprocess+");
    input.extend_from_slice(&packet(b"D"));
    input.extend_from_slice(&packet(b"g"));
    let (used, status) = s.feed(&input, &mut out).unwrap();
    assert_eq!(status, SessionStatus::Closed);
    assert!(used < input.len(), "read past the detach");
    assert!(String::from_utf8_lossy(&out).ends_with("$OK#9a"));
}

#[test]
fn qsupported_is_gdbstubs_reply_plus_binary_upload() {
    use xendump_gdbserver::gdb::rsp::decode_reply;
    // Acked and not: the amendment must keep the ack in front and fix the checksum.
    for no_ack_first in [false, true] {
        let mut s = session();
        let mut out = Vec::new();
        if no_ack_first {
            s.feed(&packet(b"QStartNoAckMode"), &mut out).unwrap();
            out.clear();
        }
        s.feed(&packet(b"qSupported:multiprocess+;swbreak+"), &mut out)
            .unwrap();
        let start = out.iter().position(|&b| b == b'$').unwrap();
        assert_eq!(&out[..start], if no_ack_first { &b""[..] } else { b"+" });
        let body = String::from_utf8(decode_reply(&out[start..]).unwrap()).unwrap();
        let features: Vec<&str> = body.split(';').collect();
        assert!(features[0].starts_with("PacketSize="), "{body}");
        assert!(features.contains(&"multiprocess+"), "{body}");
        assert!(features.contains(&"qXfer:features:read+"), "{body}");
        // The packet layer's features come after gdbstub's own.
        assert_eq!(
            features[features.len() - 2..],
            ["binary-upload+", "qXfer:threads:read+"],
            "{body}"
        );
        // gdbstub negotiated multiprocess: thread ids come as pPID.TID.
        out.clear();
        s.feed(&packet(b"qfThreadInfo"), &mut out).unwrap();
        assert!(String::from_utf8_lossy(&out).contains("mp01.01"), "{out:?}");
    }
}

#[test]
fn a_bare_or_malformed_qsupported_is_answered_not_fatal() {
    use xendump_gdbserver::gdb::rsp::decode_reply;
    let mut s = session();
    let mut out = Vec::new();
    s.feed(&packet(b"qSupported:multiprocess+"), &mut out)
        .unwrap();
    // pwndbg probes with a bare qSupported mid-session; gdbstub alone would end it.
    for probe in [
        &b"qSupported"[..],
        b"qSupported:",
        b"qSupported:a+;;b+",
        b"qSupportedX",
    ] {
        out.clear();
        let (_, status) = s.feed(&packet(probe), &mut out).unwrap();
        assert_eq!(status, SessionStatus::Open);
        let start = out.iter().position(|&b| b == b'$').unwrap();
        let body = String::from_utf8(decode_reply(&out[start..]).unwrap()).unwrap();
        if probe == b"qSupportedX" {
            assert_eq!(body, "", "not a packet");
        } else {
            assert!(body.starts_with("PacketSize="), "{body}");
            assert!(
                body.ends_with(";binary-upload+;qXfer:threads:read+"),
                "{body}"
            );
        }
    }
    // Still multiprocess, still serving.
    out.clear();
    s.feed(&packet(b"qfThreadInfo"), &mut out).unwrap();
    assert!(String::from_utf8_lossy(&out).contains("mp01.01"), "{out:?}");
}

#[test]
fn a_continue_stops_at_once_with_a_stop_that_names_the_thread() {
    // What MIEngine's -exec-continue after connecting, and Eclipse's launch, rely on.
    let mut s = session();
    let mut out = Vec::new();
    s.feed(&packet(b"qSupported:multiprocess+"), &mut out)
        .unwrap();
    for (resume, thread) in [
        (&b"vCont;c"[..], "p01.01"),
        (b"c", "p01.01"),
        (b"Hgp1.2", ""),
        (b"vCont;c:p1.2", "p01.02"),
    ] {
        out.clear();
        let (_, status) = s.feed(&packet(resume), &mut out).unwrap();
        assert_eq!(status, SessionStatus::Open);
        let text = String::from_utf8_lossy(&out);
        if thread.is_empty() {
            assert!(text.contains("$OK#"), "{text}");
        } else {
            assert!(
                text.contains(&format!("T05thread:{thread};")),
                "{resume:?}: {text}"
            );
        }
    }
}
