//! Safe by default: the dump is opened read-only and never changes, whatever gdb
//! tries; the server listens on loopback unless told otherwise.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{gdb, reg, Server};
use xendump_gdbserver::builder::tiny::TinyGuest;
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::PagingMode;

fn tiny_dump(dir: &tempfile::TempDir) -> (std::path::PathBuf, TinyGuest) {
    let t = TinyGuest::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
    let path = dir.path().join("evidence.core");
    t.image
        .write_file(&path, &DumpOptions::elf(Width::Bits64))
        .unwrap();
    (path, t)
}

/// Everything about a file that a write, a truncation or a chmod would change.
fn fingerprint(path: &Path) -> (Vec<u8>, i64, i64, i64, i64, u32, u64) {
    let m = std::fs::metadata(path).unwrap();
    (
        std::fs::read(path).unwrap(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.mode(),
        m.len(),
    )
}

#[test]
fn a_full_session_of_attempted_writes_leaves_the_dump_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (path, t) = tiny_dump(&dir);
    // Date the file back to 2001: a write, whenever it came, would set a later mtime.
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        .unwrap();
    let before = fingerprint(&path);
    let mut server = Server::start(&path, &[]);
    let f = &t.facts;
    let payload = dir.path().join("payload.bin");
    std::fs::write(&payload, [0xccu8; 64]).unwrap();
    let out = gdb(
        &server.addr,
        &[
            &format!("x/s {:#x}", f.banner_va),
            &format!(
                "set var *(unsigned long *){:#x} = 0x4141414141414141",
                f.counter_va
            ),
            &format!("set var *(char *){:#x} = 0", f.banner_va),
            "set var $rax = 0x1234",
            "set var $rip = 0",
            "set var $cr3 = 0",
            &format!("restore {} binary {:#x}", payload.display(), f.data_va),
            &format!("break *{:#x}", f.text_va + 2),
            "continue",
            "stepi",
            "thread 2",
            "set var $rsp = 0",
            "monitor view physical",
            "set var *(unsigned long *)0x2040 = 1",
            "monitor view machine",
            "set var *(unsigned long *)0x51007040 = 1",
            "monitor view virtual",
            "thread 1",
            &format!("x/gx {:#x}", f.counter_va),
            "info registers rax",
            "kill",
        ],
    );
    // Every write was refused, and the values read afterwards are the dumped ones.
    assert!(out.contains("Cannot access memory"), "{out}");
    // gdb writes single registers with `P` ("register") or all with `G` ("registers").
    assert!(out.contains("Could not write register"), "{out}");
    assert!(out.contains("restore: memory write failed"), "{out}");
    assert!(out.contains("vCPUs cannot run"), "{out}");
    assert_eq!(
        x_gx(&out, f.counter_va),
        Some(f.counter),
        "counter changed? {out}"
    );
    let rax = t.image.expected_states()[0].gprs.rax;
    assert_eq!(reg(&out, "rax"), Some(rax), "rax changed? {out}");
    assert!(server.alive(), "{}", server.log());
    drop(server);
    assert!(
        fingerprint(&path) == before,
        "the dump file changed (bytes, mtime, ctime, mode or length)"
    );
}

#[test]
fn the_server_holds_the_dump_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = tiny_dump(&dir);
    let server = Server::start(&path, &[]);
    let pid = server.pid();
    let canon = std::fs::canonicalize(&path).unwrap();
    // Every descriptor on the dump is O_RDONLY.
    let mut fds = 0;
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let e = e.unwrap();
        if std::fs::read_link(e.path()).ok().as_deref() == Some(canon.as_path()) {
            fds += 1;
            let info = std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                e.file_name().to_string_lossy()
            ))
            .unwrap();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
                .unwrap();
            assert_eq!(flags & 0o3, 0, "dump opened with flags {flags:o}");
        }
    }
    assert!(fds >= 1, "the server holds no descriptor on the dump");
    // Every mapping of it is without write permission.
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mapped: Vec<&str> = maps
        .lines()
        .filter(|l| l.ends_with(canon.to_str().unwrap()))
        .collect();
    assert!(!mapped.is_empty(), "dump not mapped:\n{maps}");
    for l in mapped {
        let perms = l.split_whitespace().nth(1).unwrap();
        assert!(!perms.contains('w'), "writable mapping: {l}");
    }
}

#[test]
fn the_default_address_is_loopback() {
    let help = Command::new(env!("CARGO_BIN_EXE_xendump-gdbserver"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 127.0.0.1:1234]"), "{help}");

    // Port-only forms stay on loopback.
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = tiny_dump(&dir);
    for spec in ["0", ":0"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xendump-gdbserver"))
            .args(["--listen", spec])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let line = first_line(&mut child);
        let _ = child.kill();
        let _ = child.wait();
        assert!(line.contains(" on 127.0.0.1:"), "--listen {spec}: {line}");
    }

    // And with no --listen at all: 127.0.0.1:1234 (or, if another program holds that
    // port, an error naming it).
    let mut child = Command::new(env!("CARGO_BIN_EXE_xendump-gdbserver"))
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = first_line(&mut child);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains(" on 127.0.0.1:1234") || line.contains("cannot listen on 127.0.0.1:1234"),
        "{line}"
    );
}

fn first_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut l = String::new();
        let _ = std::io::BufReader::new(stderr).read_line(&mut l);
        let _ = tx.send(l);
    });
    rx.recv_timeout(support::HANG)
        .expect("server printed nothing")
}

/// The giant word gdb's `x/gx ADDR` printed for `addr`.
fn x_gx(out: &str, addr: u64) -> Option<u64> {
    let prefix = format!("{addr:#x}:");
    out.lines().find_map(|l| {
        let v = l.strip_prefix(&prefix)?.split_whitespace().next()?;
        u64::from_str_radix(v.strip_prefix("0x")?, 16).ok()
    })
}
