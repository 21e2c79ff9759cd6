//! Start-up of the server on saved images (`xl save`) next to the ELF dump of the same
//! guest: spawn → "serving … on ADDR" → the first 8-byte read answered, and the
//! process's memory after it; plus the page index's size.
//!
//!   cargo build --release --bin xendump-gdbserver --example xlsave-bench
//!   target/release/examples/xlsave-bench [--sizes 16,64] [--reps 3] [--work target/bench]
//!
//! "cold": the first start after this file's pages were dropped from the page cache;
//! the other columns: warm, median of `--reps`.
//!
//! The guests are the benchmark's large builder guests (bench/xd-bench.rs start-up
//! section: 4 vCPUs, 16 pages of kernel memory mapped, the rest zero); the files are
//! sparse (a saved image holds every page, zeros too; they become holes on disk, the
//! layout is Xen's). Every first read is checked against the builder's pattern.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use xendump_gdbserver::addr::PAGE_SIZE;
use xendump_gdbserver::builder::large::{pattern_word, LargeGuest, MAPPED_PFN, MAPPED_VA};
use xendump_gdbserver::builder::{DumpOptions, StreamOptions};
use xendump_gdbserver::dump::{GuestKind, Width, XenDump};
use xendump_gdbserver::gdb::rsp;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

#[derive(Clone, Copy, Debug)]
enum File {
    Elf,
    XlSave,
    Remus,
}

impl File {
    fn name(self) -> &'static str {
        match self {
            File::Elf => "ELF dump",
            File::XlSave => "xl save image",
            File::Remus => "Remus, 3 checkpoints",
        }
    }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let sizes: Vec<u64> = arg("--sizes")
        .unwrap_or_else(|| "16,64".into())
        .split(',')
        .map(|s| s.parse().expect("a size in GiB"))
        .collect();
    let reps: usize = arg("--reps").map_or(3, |r| r.parse().expect("a count"));
    let work = PathBuf::from(arg("--work").unwrap_or_else(|| "target/bench".into()));
    let server = PathBuf::from("target/release/xendump-gdbserver");
    std::fs::create_dir_all(&work)?;
    println!(
        "   {:<9} {:<22} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>8}",
        "guest",
        "file",
        "GiB",
        "file GiB",
        "disk MiB",
        "cold ms",
        "ready ms",
        "1st rd ms",
        "peak MiB",
        "anon MiB",
        "index B",
        "B/page"
    );
    for &gib in &sizes {
        for kind in [GuestKind::Hvm, GuestKind::Pv] {
            let guest = LargeGuest {
                kind,
                ram_pages: gib * GIB / PAGE_SIZE,
                mfn_chunk: 512,
                mapped_pages: 16,
                vcpus: 4,
            };
            let built = guest.build()?;
            for file in [File::Elf, File::XlSave, File::Remus] {
                if matches!(file, File::Remus) && gib > 16 {
                    continue;
                }
                let path = work.join(format!("xlsave-{kind:?}-{gib}GiB-{file:?}.img"));
                if !path.exists() {
                    let t = Instant::now();
                    match file {
                        File::Elf => {
                            built
                                .image
                                .write_file(&path, &DumpOptions::elf(Width::Bits64))?;
                        }
                        File::XlSave => {
                            built
                                .image
                                .write_stream_file(&path, &StreamOptions::xl_save())?;
                        }
                        File::Remus => {
                            built
                                .image
                                .write_stream_file(&path, &StreamOptions::checkpointed(3, false))?;
                        }
                    }
                    eprintln!(
                        "  wrote {} in {:.1} s",
                        path.display(),
                        t.elapsed().as_secs_f64()
                    );
                }
                let len = std::fs::metadata(&path)?.len();
                let disk = disk_usage(&path).unwrap_or(0);
                let d = XenDump::open(&path)?;
                let index = d.index_bytes();
                let pages = d.valid_page_count();
                drop(d);
                // Cold: this file's pages dropped from the page cache first (only its).
                evict(&path)?;
                let cold = {
                    let s = Server::start(&server, &path)?;
                    let _ = read8(&s.addr, MAPPED_VA)?;
                    s.started.elapsed().as_secs_f64() * 1e3
                };
                let mut ready = Vec::new();
                let mut first = Vec::new();
                let mut mem = (0, 0);
                for _ in 0..reps.max(1) {
                    let s = Server::start(&server, &path)?;
                    let got = read8(&s.addr, MAPPED_VA)?;
                    first.push(s.started.elapsed().as_secs_f64() * 1e3);
                    ready.push(s.ready.as_secs_f64() * 1e3);
                    if got != pattern_word(MAPPED_PFN, 0) {
                        return Err(format!("{}: first read {got:#x}", path.display()).into());
                    }
                    mem = s.memory();
                }
                println!(
                    "   {:<9} {:<22} {:>6} {:>9.2} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10} {:>8.3}",
                    format!("{kind:?}"),
                    file.name(),
                    gib,
                    len as f64 / GIB as f64,
                    disk as f64 / MIB as f64,
                    cold,
                    median(ready),
                    median(first),
                    mem.0 as f64 / MIB as f64,
                    mem.1 as f64 / MIB as f64,
                    index,
                    index as f64 / pages as f64
                );
            }
        }
    }
    Ok(())
}

/// Drop `path`'s pages from the page cache (`posix_fadvise(DONTNEED)`; this file only).
fn evict(path: &Path) -> Res<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: a valid descriptor; the call only drops clean cached pages of this file.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(format!("posix_fadvise: {rc}").into());
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn disk_usage(path: &Path) -> Option<u64> {
    let out = Command::new("du").arg("-B1").arg(path).output().ok()?;
    String::from_utf8(out.stdout)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A running server; killed on drop.
struct Server {
    child: Child,
    addr: String,
    ready: Duration,
    started: Instant,
}

impl Server {
    fn start(bin: &Path, dump: &Path) -> Res<Server> {
        let started = Instant::now();
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0"])
            .arg(dump)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(i) = line.find(") on ") {
                        let addr = line[i + 5..].split_whitespace().next().unwrap_or("");
                        let _ = tx.send((Instant::now(), addr.to_string()));
                        sent = true;
                    }
                }
            }
        });
        let (at, addr) = rx
            .recv_timeout(Duration::from_secs(300))
            .map_err(|_| "the server did not start")?;
        Ok(Server {
            child,
            addr,
            ready: at - started,
            started,
        })
    }

    /// Peak and anonymous resident memory, in bytes.
    fn memory(&self) -> (u64, u64) {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let f = |name: &str| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        (f("VmHWM:"), f("RssAnon:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The u64 at `va` through vCPU 0, with one `m` packet.
fn read8(addr: &str, va: u64) -> Res<u64> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.write_all(&rsp::packet(format!("m{va:x},8").as_bytes()))?;
    let mut r = BufReader::new(s);
    let mut raw = vec![b'$'];
    loop {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)?;
        if b[0] == b'$' {
            break;
        }
    }
    r.read_until(b'#', &mut raw)?;
    let mut sum = [0u8; 2];
    r.read_exact(&mut sum)?;
    raw.extend_from_slice(&sum);
    let body = rsp::decode_reply(&raw)?;
    let text = std::str::from_utf8(&body)?;
    let bytes: Vec<u8> = (0..8)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()?;
    Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| "short")?))
}
