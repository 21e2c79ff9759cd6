//! The damaged-dump corpus in `tests/damaged/`: every case opens (or is refused) as its
//! manifest says, serves what is readable, and says what is damaged, through the
//! library, the `info` command and the server with the real gdb.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{gdb, Server};
use xendump_gdbserver::builder::damaged::{
    damaged_corpus, manifest, parse_manifest, Expectation, ManifestCase, ReadView,
};
use xendump_gdbserver::dump::XenDump;
use xendump_gdbserver::memory::{Guest, GuestOptions, TranslationCache, Via};
use xendump_gdbserver::summary::Summary;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/damaged")
}

fn cases() -> Vec<ManifestCase> {
    let text = std::fs::read_to_string(dir().join("MANIFEST")).expect("tests/damaged/MANIFEST");
    parse_manifest(&text).expect("manifest parses")
}

fn file(name: &str) -> PathBuf {
    dir().join(format!("{name}.core"))
}

#[test]
fn the_corpus_is_big_enough_to_mean_something() {
    let c = cases();
    let refused = c
        .iter()
        .filter(|c| matches!(c.expect, Expectation::Refused(_)))
        .count();
    assert!(refused >= 15, "{refused} refused cases");
    assert!(
        c.len() - refused >= 10,
        "{} served cases",
        c.len() - refused
    );
}

#[test]
fn every_case_opens_or_fails_as_its_manifest_says() {
    let mut failures = Vec::new();
    for case in cases() {
        let path = file(&case.name);
        let opened = XenDump::open(&path).and_then(|d| {
            Guest::new(d, GuestOptions::default()).map_err(|e| panic!("{}: guest: {e}", case.name))
        });
        match (&case.expect, opened) {
            (Expectation::Refused(text), Err(e)) => {
                if !e.to_string().contains(text.as_str()) {
                    failures.push(format!("{}: error {e:?} lacks {text:?}", case.name));
                }
            }
            (Expectation::Refused(text), Ok(_)) => failures.push(format!(
                "{}: opened, expected an error with {text:?}",
                case.name
            )),
            (Expectation::Served { .. }, Err(e)) => failures.push(format!(
                "{}: refused ({e}), expected to be served",
                case.name
            )),
            (Expectation::Served { warnings, reads }, Ok(guest)) => {
                let said = Summary::of(&guest).warnings;
                for w in warnings {
                    if !said.iter().any(|s| s.contains(w.as_str())) {
                        failures.push(format!("{}: no warning with {w:?} in {said:?}", case.name));
                    }
                }
                let mut cache = TranslationCache::new(64);
                for r in reads {
                    let via = match r.view {
                        ReadView::Virtual => match guest.vcpu_space(r.vcpu) {
                            Some(space) => Via::Virtual(space),
                            None => {
                                failures.push(format!("{}: no vCPU {}", case.name, r.vcpu));
                                continue;
                            }
                        },
                        ReadView::Physical => Via::Physical,
                        ReadView::Machine => Via::Machine,
                    };
                    let mut buf = vec![0u8; r.len];
                    let got = guest
                        .read_exact(&mut cache, via, r.addr, &mut buf)
                        .map(|()| buf);
                    let ok = match (&r.outcome, &got) {
                        (Ok(want), Ok(have)) => want == have,
                        (Err(text), Err(e)) => e.to_string().contains(text.as_str()),
                        _ => false,
                    };
                    if !ok {
                        failures.push(format!(
                            "{}: read {:?} vCPU {} {:#x}+{}: got {got:?}, want {:?}",
                            case.name, r.view, r.vcpu, r.addr, r.len, r.outcome
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_generator_still_writes_the_committed_corpus() {
    let generated = damaged_corpus();
    let text = std::fs::read_to_string(dir().join("MANIFEST")).unwrap();
    assert_eq!(
        manifest(&generated),
        text,
        "MANIFEST is stale: run scripts/make-damaged-corpus.sh"
    );
    for c in &generated {
        let on_disk = std::fs::read(file(&c.name)).unwrap();
        assert!(
            on_disk == c.bytes,
            "{}.core is stale: run scripts/make-damaged-corpus.sh",
            c.name
        );
    }
    let files = std::fs::read_dir(dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "core")
        })
        .count();
    assert_eq!(files, generated.len(), "stray files in tests/damaged");
}

#[test]
fn info_refuses_each_unusable_dump_with_its_reason_and_no_crash() {
    for case in cases() {
        let Expectation::Refused(text) = &case.expect else {
            continue;
        };
        let out = Command::new(env!("CARGO_BIN_EXE_xendump-gdbserver"))
            .arg("info")
            .arg(file(&case.name))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", case.name);
        assert!(
            stderr.contains("error:") && stderr.contains(text.as_str()),
            "{}: {stderr}",
            case.name
        );
    }
}

#[test]
fn the_server_serves_what_is_readable_and_says_what_is_damaged() {
    // Cut before its last page: the banner reads, the tail page does not.
    let c = cases();
    let reads = |name: &str| match &c.iter().find(|c| c.name == name).unwrap().expect {
        Expectation::Served { reads, .. } => reads.clone(),
        Expectation::Refused(_) => unreachable!(),
    };
    let cut = reads("pages-cut");
    let (banner, tail) = (&cut[0], &cut[2]);
    let text = String::from_utf8(banner.outcome.clone().unwrap()).unwrap();
    let mut server = Server::start(&file("pages-cut"), &[]);
    let out = gdb(
        &server.addr,
        &[
            &format!("x/s {:#x}", banner.addr),
            &format!("x/gx {:#x}", tail.addr),
            "monitor info",
        ],
    );
    assert!(out.contains(&text), "{out}");
    assert!(
        out.contains(&format!("Cannot access memory at address {:#x}", tail.addr)),
        "{out}"
    );
    assert!(
        out.contains("warning: file is truncated: only 31 of 32 pages"),
        "{out}"
    );
    assert!(server.alive());
    drop(server);

    // vCPU 1's context is absurd: thread 2 cannot read, thread 1 can, and the server
    // says which vCPU is broken.
    let absurd = reads("vcpu-cr3-absurd");
    let mut server = Server::start(&file("vcpu-cr3-absurd"), &[]);
    let out = gdb(
        &server.addr,
        &[
            &format!("x/s {:#x}", absurd[0].addr),
            "thread 2",
            &format!("x/gx {:#x}", absurd[1].addr),
            "info registers rip",
            "monitor info",
        ],
    );
    assert!(out.contains(&text), "{out}");
    assert!(
        out.contains(&format!(
            "Cannot access memory at address {:#x}",
            absurd[1].addr
        )),
        "{out}"
    );
    assert!(
        out.contains("warning: vCPU 1: its page-table root"),
        "{out}"
    );
    assert!(server.alive());
}
