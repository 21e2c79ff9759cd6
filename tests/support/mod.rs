//! Shared helpers for end-to-end tests: run the real server binary on a dump and drive
//! the real gdb against it over TCP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for something that must happen before calling it a hang. Only
/// a hang ever takes this long: tests wait for events (a line logged, a reply read, a
/// connection closed), never for time to pass, and assert nothing about durations.
pub const HANG: Duration = Duration::from_secs(120);

/// The gdb binary; the project's scripts install it. A missing gdb fails the test.
pub fn gdb_path() -> PathBuf {
    let p = std::env::var_os("GDB")
        .map(PathBuf::from)
        .unwrap_or_else(|| "gdb".into());
    let ok = Command::new(&p)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "gdb not found ({}): run scripts/install-deps.sh (end-to-end tests need the real gdb)",
        p.display()
    );
    p
}

/// A running server; killed on drop.
pub struct Server {
    child: Child,
    pub addr: String,
    log: Arc<Log>,
}

/// The server's stderr so far, and a signal for each line added.
#[derive(Default)]
struct Log {
    text: Mutex<String>,
    grew: Condvar,
}

impl Server {
    /// Start `xendump-gdbserver` on `dump`, on a free loopback port.
    pub fn start(dump: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xendump-gdbserver"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(extra)
            .arg(dump)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Log::default());
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(i) = line.find(" on 127.0.0.1:") {
                        let addr = line[i + 4..].split_whitespace().next().unwrap().to_string();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
                let mut text = log2.text.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
                log2.grew.notify_all();
            }
        });
        // The "serving … on ADDR" line: the server listens from then on.
        let addr = rx
            .recv_timeout(HANG)
            .unwrap_or_else(|_| panic!("server did not start; log:\n{}", log.text.lock().unwrap()));
        Server { child, addr, log }
    }

    /// Is the server process still running?
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.text.lock().unwrap().clone()
    }

    /// Wait until the log shows `text` at least `n` times (false after [`HANG`]).
    pub fn wait_for_log(&self, text: &str, n: usize) -> bool {
        self.wait_for_log_where(|log| log.matches(text).count() >= n)
    }

    /// Wait until `cond` holds of the log (false after [`HANG`]).
    pub fn wait_for_log_where(&self, cond: impl Fn(&str) -> bool) -> bool {
        let guard = self.log.text.lock().unwrap();
        let (guard, _) = self
            .log
            .grew
            .wait_timeout_while(guard, HANG, |t| !cond(t))
            .unwrap();
        cond(&guard)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run gdb in batch mode: connect to `addr`, run `cmds`, return stdout+stderr.
pub fn gdb(addr: &str, cmds: &[&str]) -> String {
    gdb_with(addr, cmds, &[], HANG)
}

/// Like [`gdb`], with extra gdb arguments placed before the commands.
pub fn gdb_with(addr: &str, cmds: &[&str], pre: &[&str], timeout: Duration) -> String {
    let mut c = Command::new(gdb_path());
    c.args([
        "-nx",
        "-batch",
        "-ex",
        "set pagination off",
        "-ex",
        "set confirm off",
    ]);
    c.args(pre);
    if !addr.is_empty() {
        c.args(["-ex", &format!("target remote {addr}")]);
    }
    for cmd in cmds {
        c.args(["-ex", cmd]);
    }
    run_with_timeout(c, timeout)
}

/// Run a command to completion, returning its output; after `timeout` it is taken for
/// hung, killed, and the test fails.
pub fn run_with_timeout(mut c: Command, timeout: Duration) -> String {
    let out_path = std::env::temp_dir().join(format!(
        "xd-gdb-{}-{:?}.out",
        std::process::id(),
        std::thread::current().id()
    ));
    let f = std::fs::File::create(&out_path).unwrap();
    let f2 = f.try_clone().unwrap();
    let mut child = c
        .stdin(Stdio::null())
        .stdout(f)
        .stderr(f2)
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = std::fs::read_to_string(&out_path).unwrap_or_default();
            panic!("command timed out after {timeout:?}; output so far:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    out
}

/// Value of register `name` in `info registers` output (first hex column).
pub fn reg(out: &str, name: &str) -> Option<u64> {
    out.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == name).then_some(())?;
        let v = it.next()?;
        u64::from_str_radix(v.strip_prefix("0x")?, 16).ok()
    })
}

/// Write a dump file for a test into a fresh temporary directory.
pub fn dump_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(format!("{name}.core"));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A scenario guest written as a dump in `opts` format and served: the temporary
/// directory (keep it alive), the scenario (the expected values) and the server.
pub fn serve_scenario(
    kind: xendump_gdbserver::dump::GuestKind,
    mode: xendump_gdbserver::memory::PagingMode,
    opts: &xendump_gdbserver::builder::DumpOptions,
) -> (
    tempfile::TempDir,
    xendump_gdbserver::builder::scenario::Scenario,
    Server,
) {
    let dir = tempfile::tempdir().unwrap();
    let s = xendump_gdbserver::builder::scenario::Scenario::new(kind, mode).unwrap();
    let path = dump_file(&dir, "guest", &s.image.write(opts).unwrap());
    let server = Server::start(&path, &[]);
    (dir, s, server)
}

/// A tiny x86-64 ELF "vmlinux" for front ends that want an executable: `_start` at
/// `text_va` (nop; nop; hlt; jmp _start, as the scenario's text) and an 8-byte
/// `jiffies` at `jiffies_va`. Built with the C toolchain (`cc`, which
/// scripts/install-deps.sh installs).
pub fn mini_vmlinux(dir: &Path, text_va: u64, jiffies_va: u64) -> PathBuf {
    let src = dir.join("mini-vmlinux.s");
    std::fs::write(
        &src,
        "\t.text\n\t.globl _start\n_start:\n\tnop\n\tnop\n\thlt\n\tjmp _start\n\
         \t.data\n\t.globl jiffies\njiffies:\t.quad 0\n",
    )
    .unwrap();
    let out = dir.join("mini-vmlinux");
    let status = Command::new("cc")
        .args(["-nostdlib", "-static", "-no-pie", "-Wl,--build-id=none"])
        .arg(format!("-Wl,-Ttext={text_va:#x}"))
        .arg(format!("-Wl,-Tdata={jiffies_va:#x}"))
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cc not found: run scripts/install-deps.sh");
    assert!(status.success(), "cc failed to link the mini vmlinux");
    out
}

/// `text` without ANSI colour sequences and readline's \x01/\x02 markers around them
/// (front ends such as GEF colour their output).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\x01' && c != '\x02' {
            out.push(c);
        }
    }
    out
}
