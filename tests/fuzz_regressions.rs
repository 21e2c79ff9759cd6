//! Replays every saved fuzz finding (`tests/fuzz_regressions/TARGET/*`) through the
//! harness its target uses, and checks that the harnesses reach what they are meant
//! to exercise (a fuzzer that never gets past the checksum finds nothing).

use std::path::Path;

use xendump_gdbserver::builder::tiny::TinyGuest;
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::harness::{self, encode_read_input, ReadOp};
use xendump_gdbserver::memory::PagingMode;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        eprintln!("replaying {}", path.display());
        run(&bytes);
        n += 1;
    }
    n
}

#[test]
fn saved_open_dump_findings_stay_fixed() {
    replay("open_dump", harness::open_dump);
}

#[test]
fn saved_read_memory_findings_stay_fixed() {
    replay("read_memory", harness::read_memory);
}

#[test]
fn saved_gdb_session_findings_stay_fixed() {
    replay("gdb_session", |b| {
        harness::gdb_session(b);
    });
}

#[test]
fn the_session_harness_reaches_the_command_handlers() {
    let facts = TinyGuest::new(GuestKind::Pv, PagingMode::FourLevel)
        .unwrap()
        .facts;
    // Mode 1: packets framed by the harness, guest 0 (64-bit PV tiny guest).
    let mut input = vec![1u8];
    input.extend_from_slice(
        format!(
            "qSupported:multiprocess+\ng\nm{:x},8\nqRcmd,{}",
            facts.banner_va,
            "info"
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
        .as_bytes(),
    );
    let out = String::from_utf8_lossy(&harness::gdb_session(&input)).into_owned();
    assert!(out.contains("PacketSize="), "{out}");
    let banner_hex: String = facts
        .banner
        .bytes()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(out.contains(&banner_hex), "{out}");
    // monitor output comes back hex-encoded in O packets.
    let fmt_hex: String = "format:".bytes().map(|b| format!("{b:02x}")).collect();
    assert!(out.contains(&fmt_hex), "{out}");
}

#[test]
fn the_read_harness_reads_a_tiny_dump() {
    let t = TinyGuest::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
    let dump = t.image.write(&DumpOptions::elf(Width::Bits64)).unwrap();
    let op = ReadOp {
        view: 0,
        slot: 0,
        len: 64,
        addr: t.facts.banner_va,
    };
    // Runs every operation twice and checks the cache agrees with itself.
    harness::read_memory(&encode_read_input(&[op; 3], &dump));
    harness::open_dump(&dump);
}

#[test]
fn the_session_dictionary_names_every_packet_and_monitor_command() {
    let dict = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/gdb_session.dict"
    ))
    .unwrap();
    let tokens: Vec<&str> = dict
        .lines()
        .filter(|l| l.starts_with('"'))
        .map(|l| l.trim_matches('"'))
        .collect();
    for name in xendump_gdbserver::gdb::packets::PACKETS {
        assert!(
            tokens.contains(name),
            "{name} is not in fuzz/gdb_session.dict"
        );
    }
    for c in xendump_gdbserver::gdb::monitor::COMMANDS {
        for word in std::iter::once(&c.name).chain(c.aliases) {
            assert!(
                tokens.iter().any(|t| t.trim_end() == *word),
                "monitor {word} is not in fuzz/gdb_session.dict"
            );
        }
    }
    // And the harness reaches the front-end packets' handlers.
    let mut input = vec![1u8];
    input.extend_from_slice(b"Qqemu.sstepbits\nqOffsets\nx0,0\nQThreadSuffixSupported");
    let out = String::from_utf8_lossy(&harness::gdb_session(&input)).into_owned();
    assert!(out.contains("ENABLE=1,NOIRQ=2,NOTIMER=4"), "{out}");
    assert!(out.contains("$OK#9a"), "{out}");
}
