//! An IDE's session over gdb/MI, as VS Code's cppdbg (MIEngine) drives it: load the
//! symbols, `-target-select remote`, `-exec-continue` (MIEngine continues unless
//! `stopAtConnect`), then the thread list, the stack, registers and memory of the stop;
//! plus Eclipse CDT's launch steps (`monitor halt`, `monitor reset`, `load`). Each step
//! waits for gdb's answer to it (no timing).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::PagingMode;

/// gdb under `--interpreter=mi2`, its output lines arriving on a channel.
struct Mi {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// Everything read so far, for failure messages.
    log: String,
}

/// Longest wait for one answer; only a hung gdb or server gets near it.
const ANSWER: Duration = Duration::from_secs(60);

impl Mi {
    fn start() -> Mi {
        let mut child = Command::new(support::gdb_path())
            .args(["--interpreter=mi2", "-nx", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gdb");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Mi {
            child,
            stdin,
            lines,
            log: String::new(),
        }
    }

    /// Read lines until one satisfies `done`; returns the lines read.
    fn until(&mut self, what: &str, done: impl Fn(&str) -> bool) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(ANSWER)
                .unwrap_or_else(|_| panic!("no {what} from gdb; MI so far:\n{}", self.log));
            self.log.push_str(&line);
            self.log.push('\n');
            let stop = done(&line);
            got.push(line);
            if stop {
                return got;
            }
        }
    }

    /// Send `cmd` with a token; return gdb's result record for it and what came before.
    fn run(&mut self, token: u32, cmd: &str) -> (String, Vec<String>) {
        self.log.push_str(&format!("{token}{cmd}\n"));
        writeln!(self.stdin, "{token}{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let prefix = format!("{token}^");
        let mut lines = self.until(&format!("answer to {cmd}"), |l| l.starts_with(&prefix));
        let result = lines.pop().unwrap();
        (result, lines)
    }
}

impl Drop for Mi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_ide_session_over_mi_sees_stops_threads_registers_and_memory() {
    let (dir, s, server) = support::serve_scenario(
        GuestKind::Pv,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let f = &s.facts;
    let v = s.image.expected_states();
    let vmlinux = support::mini_vmlinux(dir.path(), f.text_va, f.jiffies_va);
    let mut mi = Mi::start();
    mi.until("prompt", |l| l.starts_with("(gdb)"));

    let (r, _) = mi.run(1, "-gdb-set mi-async on");
    assert_eq!(r, "1^done", "{}", mi.log);
    let (r, _) = mi.run(2, &format!("-file-exec-and-symbols {}", vmlinux.display()));
    assert_eq!(r, "2^done", "{}", mi.log);
    let (r, before) = mi.run(3, &format!("-target-select remote {}", server.addr));
    assert_eq!(r, "3^connected", "{}", mi.log);
    assert!(
        before
            .iter()
            .any(|l| l.starts_with("*stopped") && l.contains("thread-id=\"1\"")),
        "{}",
        mi.log
    );

    // MIEngine continues after connecting: the stop comes at once and names a thread.
    let (r, _) = mi.run(4, "-exec-continue");
    assert_eq!(r, "4^running", "{}", mi.log);
    let stop = mi
        .until("*stopped", |l| l.starts_with("*stopped"))
        .pop()
        .unwrap();
    assert!(stop.contains("reason=\"signal-received\""), "{stop}");
    assert!(stop.contains("thread-id=\"1\""), "{stop}");
    assert!(stop.contains("func=\"_start\""), "{stop}");
    assert!(
        mi.log.contains("dump is read-only: vCPUs cannot run"),
        "{}",
        mi.log
    );

    let (r, _) = mi.run(5, "-thread-info");
    assert!(r.starts_with("5^done,threads=["), "{}", mi.log);
    for (i, label) in ["vCPU 0, online", "vCPU 1, online", "vCPU 2, offline"]
        .iter()
        .enumerate()
    {
        assert!(r.contains(&format!("id=\"{}\"", i + 1)), "{r}");
        assert!(r.contains(label), "{r}");
    }
    assert!(r.contains("current-thread-id=\"1\""), "{r}");

    let (r, _) = mi.run(6, "-stack-list-frames");
    assert!(
        r.starts_with("6^done,stack=[frame={level=\"0\""),
        "{}",
        mi.log
    );
    assert!(r.contains(&format!("addr=\"{:#018x}\"", v[0].rip)), "{r}");

    // Register 16 is rip, 7 rsp in the amd64 layout.
    let (r, _) = mi.run(7, "-data-list-register-values x 7 16");
    assert!(r.starts_with("7^done,register-values=["), "{}", mi.log);
    assert!(
        r.contains(&format!("{{number=\"7\",value=\"{:#x}\"}}", v[0].gprs.rsp)),
        "{r}"
    );
    assert!(
        r.contains(&format!("{{number=\"16\",value=\"{:#x}\"}}", v[0].rip)),
        "{r}"
    );

    let jiffies_hex: String = f
        .jiffies
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let read = format!("-data-read-memory-bytes {:#x} 8", f.jiffies_va);
    let (r, _) = mi.run(8, &read);
    assert!(r.starts_with("8^done,memory="), "{}", mi.log);
    assert!(r.contains(&format!("contents=\"{jiffies_hex}\"")), "{r}");

    // Eclipse CDT's launch: halt and reset are accepted, load is refused cleanly.
    let (r, before) = mi.run(9, "-interpreter-exec console \"monitor halt\"");
    assert_eq!(r, "9^done", "{}", mi.log);
    assert!(
        before.iter().any(|l| l.contains("halted already")),
        "{}",
        mi.log
    );
    let (r, before) = mi.run(10, "-interpreter-exec console \"monitor reset halt\"");
    assert_eq!(r, "10^done", "{}", mi.log);
    assert!(
        before.iter().any(|l| l.contains("cannot be reset")),
        "{}",
        mi.log
    );
    let (r, _) = mi.run(11, "-target-download");
    assert!(r.starts_with("11^error"), "{}", mi.log);
    // The session is still there and nothing changed.
    let (r, _) = mi.run(12, &read);
    assert!(
        r.contains(&format!("contents=\"{jiffies_hex}\"")),
        "{}",
        mi.log
    );
    let (r, _) = mi.run(13, "-thread-select 2");
    assert!(r.starts_with("13^done"), "{}", mi.log);
    let (r, _) = mi.run(14, "-data-list-register-values x 16");
    assert!(
        r.contains(&format!("value=\"{:#x}\"", v[1].rip)),
        "{}",
        mi.log
    );

    let (r, _) = mi.run(15, "-gdb-exit");
    assert_eq!(r, "15^exit", "{}", mi.log);
    assert!(server.log().contains("gdb connected"), "{}", server.log());
}
