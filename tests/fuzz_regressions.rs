//! Replays every saved fuzz input (`tests/fuzz_regressions/TARGET/*`) through the
//! harness its target uses, and checks what the harness did with it. Each target keeps
//! at least its seed there (`seed-*`, written by `cargo run --example make-fuzz-seeds --
//! --regressions`): a small input that reaches deep into the harness, whose outcome is
//! checked against the builder's description, so a replay that runs nothing (a missing
//! or misspelt folder, a harness that gives up at once) fails. Findings that once
//! crashed a target are kept beside the seeds, and must simply not crash again.
//! The last tests check that the harnesses reach what they are meant to exercise (a
//! fuzzer that never gets past the checksum finds nothing).

use std::path::Path;

use xendump_gdbserver::builder::tiny::{MicroGuest, TinyGuest};
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::harness::{self, encode_read_input, micro_seeds, ReadOp};
use xendump_gdbserver::memory::PagingMode;

/// Every input saved for `target`, by file name. A missing or empty folder is an error.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; every target keeps at least its seed there",
            dir.display()
        )
    });
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{} holds no input", dir.display());
    out
}

/// The committed seed `name` of `target`, checked to be what the builder writes now,
/// so that the builder's description says what it holds.
fn seed<'a>(inputs: &'a [(String, Vec<u8>)], target: &str, name: &str) -> &'a [u8] {
    let (_, saved) = inputs
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("tests/fuzz_regressions/{target}/{name} is missing"));
    let (_, _, want) = micro_seeds()
        .into_iter()
        .find(|(t, n, _)| *t == target && *n == name)
        .expect("a seed of the harness");
    assert!(
        *saved == want,
        "tests/fuzz_regressions/{target}/{name} is stale: \
         run `cargo run --example make-fuzz-seeds -- --regressions`"
    );
    saved
}

/// The packet bodies in a stream from the server, run-length encoding undone.
fn replies(stream: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = stream;
    while let Some(start) = rest.iter().position(|&b| b == b'$') {
        let Some(len) = rest[start..].iter().position(|&b| b == b'#') else {
            break;
        };
        let raw = &rest[start + 1..start + len];
        let mut body: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'}' if i + 1 < raw.len() => {
                    body.push(raw[i + 1] ^ 0x20);
                    i += 2;
                }
                b'*' if i + 1 < raw.len() && !body.is_empty() => {
                    let last = *body.last().unwrap();
                    body.extend(std::iter::repeat_n(last, usize::from(raw[i + 1]) - 29));
                    i += 2;
                }
                b => {
                    body.push(b);
                    i += 1;
                }
            }
        }
        out.push(String::from_utf8_lossy(&body).into_owned());
        rest = &rest[(start + len + 3).min(rest.len())..];
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn saved_open_dump_inputs_stay_fixed() {
    let inputs = inputs("open_dump");
    for (name, bytes) in &inputs {
        eprintln!("replaying open_dump/{name}");
        harness::open_dump(bytes);
    }
    // The seed: the micro guest as a current ELF dump, opened all the way.
    let m = MicroGuest::new().unwrap();
    let r = harness::open_dump(seed(&inputs, "open_dump", "seed-micro-elf-hvm32"));
    assert_eq!(r.pages, Some(m.image.page_count()), "{r:?}");
    assert_eq!(r.vcpus, m.image.vcpus.len(), "{r:?}");
    let summary = r.summary.expect("the guest model was built");
    let rip = m.image.expected_states()[0].rip;
    for want in [
        format!("rip {rip:#x}"),
        format!("(pfn {:#x}) {}", m.facts.root.frame, m.mode),
    ] {
        assert!(summary.contains(&want), "{want:?} not in:\n{summary}");
    }
}

#[test]
fn saved_read_memory_inputs_stay_fixed() {
    let inputs = inputs("read_memory");
    for (name, bytes) in &inputs {
        eprintln!("replaying read_memory/{name}");
        harness::read_memory(bytes);
    }
    // The seed: reads of the micro guest's legacy dump (see harness::micro_reads).
    let m = MicroGuest::new().unwrap();
    let r = harness::read_memory(seed(&inputs, "read_memory", "seed-micro-legacy-hvm32"));
    assert!(r.guest, "the guest model was not built");
    let banner = m.facts.banner.as_bytes().to_vec();
    let want: Vec<Vec<u8>> = vec![
        banner.clone(), // virtual
        banner.clone(), // physical
        banner,         // machine
        vec![],         // unmapped
        vec![],         // no vCPU 7
    ];
    assert_eq!(r.reads, want);
}

#[test]
fn saved_gdb_session_inputs_stay_fixed() {
    let inputs = inputs("gdb_session");
    for (name, bytes) in &inputs {
        eprintln!("replaying gdb_session/{name}");
        harness::gdb_session(bytes);
    }
    // The seed: a session with the harness's 64-bit PV tiny guest.
    let t = TinyGuest::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
    let out = harness::gdb_session(seed(&inputs, "gdb_session", "seed-session-pv64"));
    let bodies = replies(&out);
    let v = &t.image.expected_states()[0];
    // `g`: rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, little-endian, as gdb's amd64 layout
    // puts them first (xen-dump-format.md §7.1).
    let g = &v.gprs;
    let regs: Vec<u8> = [g.rax, g.rbx, g.rcx, g.rdx, g.rsi, g.rdi, g.rbp, g.rsp]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    assert!(
        bodies.iter().any(|b| b.starts_with(&hex(&regs))),
        "no g reply starting {}: {bodies:?}",
        hex(&regs)
    );
    // `m` of 0x40 bytes at the banner (offset 0x100 of the text page), then the
    // refused `M` write to the same place.
    let text = t
        .image
        .page(xendump_gdbserver::addr::GuestFrame(
            xendump_gdbserver::builder::tiny::TEXT_PFN,
        ))
        .unwrap();
    let memory = hex(&text[0x100..0x140]);
    let at = bodies
        .iter()
        .position(|b| *b == memory)
        .unwrap_or_else(|| panic!("no m reply {memory}: {bodies:?}"));
    assert!(bodies[at + 1].starts_with('E'), "M: {bodies:?}");
    // `monitor info`, hex-encoded in O packets.
    let format_hex = hex(b"format:");
    assert!(
        bodies
            .iter()
            .any(|b| b.starts_with('O') && b.contains(&format_hex)),
        "{bodies:?}"
    );
    assert_eq!(bodies.last().map(String::as_str), Some("OK"), "detach");
}

#[test]
fn saved_task_walker_inputs_stay_fixed() {
    let inputs = inputs("task_walker");
    for (name, bytes) in &inputs {
        eprintln!("replaying task_walker/{name}");
        harness::task_walker(bytes);
    }
    // The seed: the 64-bit made-up kernel untouched: every task, in the builder's order,
    // each with its switch frame.
    let g = &harness::task_walker_guests()[0];
    let r = harness::task_walker(seed(&inputs, "task_walker", "seed-kernel64-untouched"));
    let want: Vec<i32> = g
        .facts
        .walk_order
        .iter()
        .map(|&i| g.facts.tasks[i].desc.pid)
        .collect();
    assert_eq!(r.tasks, want);
    assert_eq!(r.registers, want.len());
    // A broken pointer in a task still ends in a bounded walk, listing fewer tasks.
    let broken = harness::task_walker(&[0, 4, 0x80, 0x03, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(broken.tasks.len() <= harness::TASK_WALK_LIMITS.0);
}

#[test]
fn saved_open_stream_inputs_stay_fixed() {
    let inputs = inputs("open_stream");
    for (name, bytes) in &inputs {
        eprintln!("replaying open_stream/{name}");
        harness::open_stream(bytes);
    }
    // The seed: the micro guest saved by Remus, two checkpoints and an unfinished
    // third; served as of the second, registers and pages alike.
    let m = MicroGuest::new().unwrap();
    let r = harness::open_stream(seed(&inputs, "open_stream", "seed-micro-remus-hvm32"));
    assert_eq!(r.pages, Some(m.image.page_count()), "{r:?}");
    assert_eq!(r.registers, vec![0], "{r:?}");
    assert_eq!(r.checkpoints, 2, "{r:?}");
    for (pfn, bytes) in &r.first_bytes {
        let page = m
            .image
            .page(xendump_gdbserver::addr::GuestFrame(*pfn))
            .map_or(vec![0; 64], |p| p[..64].to_vec());
        assert_eq!(bytes, &page, "pfn {pfn:#x}");
    }
    assert_eq!(r.first_bytes.len(), 2);
    let summary = r.summary.expect("the guest model was built");
    let rip = m.image.expected_states()[0].rip;
    assert!(summary.contains(&format!("rip {rip:#x}")), "{summary}");
    assert!(
        summary.contains("2 checkpoints: the last is served"),
        "{summary}"
    );
    assert!(r.vmcore.is_some(), "convert failed");
    // Record mode: libxc records behind fixed headers.
    let mut records = vec![2u8];
    let bare = m
        .image
        .write_stream(&xendump_gdbserver::builder::StreamOptions {
            container: xendump_gdbserver::builder::Container::Libxc,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(bare[..40], harness::libxc_headers(2)[..]);
    records.extend_from_slice(&bare[40..]);
    let r = harness::open_stream(&records);
    assert_eq!(r.pages, Some(m.image.page_count()));
    assert_eq!(harness::open_stream(b"\x01"), Default::default());
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
            hex(b"info")
        )
        .as_bytes(),
    );
    let out = String::from_utf8_lossy(&harness::gdb_session(&input)).into_owned();
    assert!(out.contains("PacketSize="), "{out}");
    let banner_hex = hex(&facts.banner.as_bytes()[..8]);
    assert!(out.contains(&banner_hex), "{out}");
    // monitor output comes back hex-encoded in O packets.
    assert!(out.contains(&hex(b"format:")), "{out}");
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
    let r = harness::read_memory(&encode_read_input(&[op; 3], &dump));
    assert!(r.guest);
    let text = t
        .image
        .page(xendump_gdbserver::addr::GuestFrame(
            xendump_gdbserver::builder::tiny::TEXT_PFN,
        ))
        .unwrap();
    let want = text[0x100..0x140].to_vec();
    assert_eq!(&want[..t.facts.banner.len()], t.facts.banner.as_bytes());
    assert_eq!(r.reads, vec![want; 3]);
    let o = harness::open_dump(&dump);
    assert_eq!(o.pages, Some(t.image.page_count()));
    assert_eq!(o.vcpus, 2);
    assert!(o.summary.is_some());
    // Bytes that are no dump: nothing opens, nothing is read.
    assert_eq!(harness::open_dump(b"not a dump"), Default::default());
    let r = harness::read_memory(&encode_read_input(&[op], b"not a dump"));
    assert!(!r.guest && r.reads.is_empty());
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
