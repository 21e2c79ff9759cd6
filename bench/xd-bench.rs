//! End-to-end benchmarks of the server binary, printed as one table (run by
//! `bench/run.sh`; `--help` lists the sections and options).
//!
//! * start-up: process start → "serving … on ADDR" on stderr, then the first memory
//!   read answered, and the process's memory, for 1/16/64 GiB guests in ELF HVM,
//!   ELF PV and legacy PV dumps (sparse files from the dump builder);
//! * bulk: gdb `dump binary memory` of 64 and 256 MiB of mapped kernel memory through
//!   the server, next to gdb reading the same bytes from a local ELF core file and to a
//!   plain copy out of the mapped dump;
//! * session: wall time of `gdb` connect → `info registers` → `x/1024xg` → quit, and
//!   the same on the local core;
//! * random: 100k random 8-byte reads through gdb across vCPUs, with and without the
//!   server's translation cache, and on the local core;
//! * binary: 64 MiB read by a bare protocol client with hex `m` and binary `x` packets
//!   (what gdb ≥ 16 uses; Debian 12's gdb 13 has only `m`), MiB/s and the server's CPU
//!   per MiB for each;
//! * profile: the server under callgrind during a bulk read, top functions.
//!
//! Every byte read is checked against the builder's pattern, so a fast wrong answer
//! cannot pass for a result.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use xendump_gdbserver::addr::{GuestFrame, PAGE_SIZE};
use xendump_gdbserver::builder::large::{
    pattern_page, pattern_word, LargeGuest, MAPPED_PFN, MAPPED_VA,
};
use xendump_gdbserver::builder::{DumpOptions, StreamOptions};
use xendump_gdbserver::dump::{GuestKind, Width, XenDump};
use xendump_gdbserver::gdb::rsp;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
/// Bumped whenever the generated dumps change, so cached files are rebuilt.
const SPEC_VERSION: u32 = 1;

#[derive(Parser, Debug)]
#[command(about = "End-to-end benchmarks of xendump-gdbserver (see bench/run.sh)")]
struct Opts {
    /// Sections to run (default: all).
    #[arg(value_enum)]
    sections: Vec<Section>,
    /// Guest sizes for the start-up section, in GiB.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    sizes: Vec<u64>,
    /// Where dumps and scratch files go (kept between runs: dumps are reused).
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
    /// The server binary.
    #[arg(long, default_value = "target/release/xendump-gdbserver")]
    server: PathBuf,
    /// Repetitions of each timing (the median is shown).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Another server binary (e.g. an older build) measured next to `--server`: its
    /// rows are marked "[baseline]".
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Extra start-up row: a 64 GiB PV guest whose machine frames are scattered page by
    /// page (the worst case for the machine-frame index).
    #[arg(long)]
    worst_case: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Section {
    Startup,
    Bulk,
    Session,
    Random,
    Binary,
    Profile,
    /// Start-up on saved images (`xl save`) next to the ELF dump of the same guest.
    Saved,
}

fn main() -> std::process::ExitCode {
    let mut opts = Opts::parse();
    if opts.sections.is_empty() {
        opts.sections = Section::value_variants().to_vec();
    }
    match run(&opts) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xd-bench: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(opts: &Opts) -> Res<()> {
    std::fs::create_dir_all(&opts.work)?;
    if !opts.server.exists() {
        return Err(format!(
            "no server binary at {} (cargo build --release)",
            opts.server.display()
        )
        .into());
    }
    println!("{}", machine_line());
    for section in &opts.sections {
        match section {
            Section::Startup => startup(opts)?,
            Section::Bulk => bulk(opts)?,
            Section::Session => session(opts)?,
            Section::Random => random(opts)?,
            Section::Binary => binary(opts)?,
            Section::Profile => profile(opts)?,
            Section::Saved => saved(opts)?,
        }
    }
    Ok(())
}

/// The servers to measure: `--server`, then `--baseline` if given, with row suffixes.
fn servers(opts: &Opts) -> Vec<(&'static str, &Path)> {
    let mut v = vec![("", opts.server.as_path())];
    if let Some(b) = &opts.baseline {
        v.push((" [baseline]", b.as_path()));
    }
    v
}

fn machine_line() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| kib_field(&m, "MemTotal:"))
        .map_or(0, |k| k / (1024 * 1024));
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    format!("machine: {cpus} CPUs ({model}), {mem} GiB RAM, load average {load} at start")
}

// ---------------------------------------------------------------------------------
// Dumps

/// A dump format the benchmark writes.
#[derive(Clone, Copy, Debug)]
enum Format {
    ElfHvm,
    ElfPv,
    LegacyPv,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::ElfHvm => "ELF HVM",
            Format::ElfPv => "ELF PV",
            Format::LegacyPv => "legacy PV",
        }
    }
    fn slug(self) -> &'static str {
        match self {
            Format::ElfHvm => "elf-hvm",
            Format::ElfPv => "elf-pv",
            Format::LegacyPv => "legacy-pv",
        }
    }
    fn kind(self) -> GuestKind {
        match self {
            Format::ElfHvm => GuestKind::Hvm,
            Format::ElfPv | Format::LegacyPv => GuestKind::Pv,
        }
    }
    fn options(self) -> DumpOptions {
        match self {
            Format::ElfHvm | Format::ElfPv => DumpOptions::elf(Width::Bits64),
            Format::LegacyPv => DumpOptions::legacy(Width::Bits64),
        }
    }
}

/// Write (or reuse) the dump of `guest` in `format` at `path`.
fn ensure_dump(path: &Path, guest: &LargeGuest, format: Format) -> Res<()> {
    let spec = format!("v{SPEC_VERSION} {guest:?} {format:?}\n");
    let spec_path = path.with_extension("spec");
    if path.exists() && std::fs::read_to_string(&spec_path).ok().as_deref() == Some(&spec) {
        return Ok(());
    }
    let t = Instant::now();
    let built = guest.build()?;
    built.image.write_file(path, &format.options())?;
    std::fs::write(&spec_path, spec)?;
    let on_disk = disk_usage(path).unwrap_or(0);
    eprintln!(
        "  wrote {} ({} MiB guest, {} MiB on disk) in {:.1} s",
        path.display(),
        guest.ram_pages * PAGE_SIZE / MIB,
        on_disk / MIB,
        t.elapsed().as_secs_f64()
    );
    Ok(())
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

/// The guest behind the bulk, session and random sections: 256 MiB mapped.
fn bulk_guest() -> LargeGuest {
    LargeGuest {
        kind: GuestKind::Pv,
        ram_pages: MAPPED_PFN + 256 * MIB / PAGE_SIZE + 0x100,
        mfn_chunk: 512,
        mapped_pages: 256 * MIB / PAGE_SIZE,
        vcpus: 3,
    }
}

fn bulk_dump(opts: &Opts) -> Res<(PathBuf, PathBuf)> {
    let dump = opts.work.join("bulk-elf-pv.core");
    let guest = bulk_guest();
    ensure_dump(&dump, &guest, Format::ElfPv)?;
    let local = opts.work.join("bulk-local.elfcore");
    ensure_local_core(&local, &dump, &guest)?;
    Ok((dump, local))
}

/// A minimal ELF core of the mapped range: one PT_LOAD at its virtual address and an
/// NT_PRSTATUS note with vCPU 0's registers, so gdb reads it as a process core.
fn ensure_local_core(path: &Path, dump: &Path, guest: &LargeGuest) -> Res<()> {
    let spec = format!("v{SPEC_VERSION} local core of {guest:?}\n");
    let spec_path = path.with_extension("spec");
    if path.exists() && std::fs::read_to_string(&spec_path).ok().as_deref() == Some(&spec) {
        return Ok(());
    }
    let d = XenDump::open(dump)?;
    let v = d.vcpus().first().ok_or("dump without vCPUs")?;
    let len = guest.mapped_pages * PAGE_SIZE;

    let note = {
        // The same NT_PRSTATUS layout `convert` writes.
        let desc = xendump_gdbserver::convert::prstatus64(v, 1, false);
        let mut n = Vec::new();
        n.extend_from_slice(&5u32.to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&1u32.to_le_bytes()); // NT_PRSTATUS
        n.extend_from_slice(b"CORE\0\0\0\0");
        n.extend_from_slice(&desc);
        n
    };
    let phoff = 64u64;
    let note_off = phoff + 2 * 56;
    let data_off = (note_off + note.len() as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let mut h = Vec::new();
    h.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&4u16.to_le_bytes()); // ET_CORE
    h.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes()); // entry
    h.extend_from_slice(&phoff.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes()); // shoff
    h.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 2, 64, 0, 0] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    let phdr = |h: &mut Vec<u8>, p_type: u32, flags: u32, off: u64, va: u64, size: u64| {
        h.extend_from_slice(&p_type.to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        for v in [
            off,
            va,
            0,
            size,
            size,
            if p_type == 1 { PAGE_SIZE } else { 4 },
        ] {
            h.extend_from_slice(&v.to_le_bytes());
        }
    };
    phdr(&mut h, 4, 4, note_off, 0, note.len() as u64); // PT_NOTE
    phdr(&mut h, 1, 6, data_off, MAPPED_VA, len); // PT_LOAD, RW
    h.extend_from_slice(&note);
    h.resize(data_off as usize, 0);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(&h)?;
    for p in 0..guest.mapped_pages {
        f.write_all(&pattern_page(MAPPED_PFN + p)[..])?;
    }
    f.flush()?;
    std::fs::write(&spec_path, spec)?;
    Ok(())
}

/// Check `data`, read from `va` on, against the pattern.
fn check_pattern(va: u64, data: &[u8]) -> Res<()> {
    if va < MAPPED_VA || va % PAGE_SIZE != 0 {
        return Err(format!("unaligned check at {va:#x}").into());
    }
    for (i, chunk) in data.chunks(PAGE_SIZE as usize).enumerate() {
        let pfn = MAPPED_PFN + (va - MAPPED_VA) / PAGE_SIZE + i as u64;
        if chunk != &pattern_page(pfn)[..chunk.len()] {
            return Err(format!(
                "wrong bytes at {:#x} (page of pfn {pfn:#x})",
                va + i as u64 * PAGE_SIZE
            )
            .into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Processes

/// A running server; killed on drop.
struct Server {
    child: Child,
    addr: String,
    /// spawn → the "serving … on ADDR" line.
    ready: Duration,
    started: Instant,
}

impl Server {
    fn start(bin: &Path, dump: &Path, extra: &[&str]) -> Res<Server> {
        Self::start_with(Command::new(bin), dump, extra, Duration::from_secs(120))
    }

    fn start_with(mut cmd: Command, dump: &Path, extra: &[&str], wait: Duration) -> Res<Server> {
        cmd.args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .arg(dump)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut log = String::new();
            let mut found = false;
            // Keep draining after the line, so the server never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if found {
                    continue;
                }
                if let Some(i) = line.find(") on ") {
                    let addr = line[i + 5..].split_whitespace().next().unwrap_or("");
                    let _ = tx.send(Ok((Instant::now(), addr.to_string())));
                    found = true;
                } else {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
            if !found {
                let _ = tx.send(Err(log));
            }
        });
        match rx.recv_timeout(wait) {
            Ok(Ok((at, addr))) => Ok(Server {
                child,
                addr,
                ready: at - started,
                started,
            }),
            Ok(Err(log)) => {
                let _ = child.kill();
                Err(format!("server exited before listening:\n{log}").into())
            }
            Err(_) => {
                let _ = child.kill();
                Err("server did not start in time".into())
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the server has used so far.
    fn cpu(&self) -> Duration {
        proc_cpu(self.pid()).unwrap_or_default()
    }

    fn status(&self) -> ProcMemory {
        ProcMemory::of(self.pid())
    }

    /// Stop with SIGINT (the server's clean shutdown) and wait.
    fn interrupt(mut self) -> Res<()> {
        Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("server did not stop on SIGINT".into())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Memory figures from /proc/PID/status, in bytes.
#[derive(Clone, Copy, Debug, Default)]
struct ProcMemory {
    peak: u64,
    anon: u64,
    file: u64,
}

impl ProcMemory {
    fn of(pid: u32) -> ProcMemory {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let f = |name| kib_field(&s, name).unwrap_or(0) * 1024;
        ProcMemory {
            peak: f("VmHWM:"),
            anon: f("RssAnon:"),
            file: f("RssFile:"),
        }
    }
}

fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn proc_cpu(pid: u32) -> Option<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // CLK_TCK is 100 on Linux
}

/// A minimal protocol client: enough to time the server without gdb in the way.
struct RspClient {
    stream: BufReader<TcpStream>,
    ack: bool,
}

impl RspClient {
    fn connect(addr: &str) -> Res<RspClient> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(RspClient {
            stream: BufReader::new(s),
            ack: true,
        })
    }

    /// Send one packet and return the reply's payload, run-length encoding undone.
    fn request(&mut self, body: &str) -> Res<Vec<u8>> {
        self.stream
            .get_mut()
            .write_all(&rsp::packet(body.as_bytes()))?;
        // Skip acknowledgements up to the packet start, then read to '#' and the sum.
        let mut raw = vec![b'$'];
        loop {
            let mut b = [0u8; 1];
            self.stream.read_exact(&mut b)?;
            if b[0] == b'$' {
                break;
            }
        }
        self.stream.read_until(b'#', &mut raw)?;
        let mut sum = [0u8; 2];
        self.stream.read_exact(&mut sum)?;
        raw.extend_from_slice(&sum);
        if self.ack {
            self.stream.get_mut().write_all(b"+")?;
        }
        Ok(rsp::decode_reply(&raw)?)
    }

    /// Stop acknowledging packets, as gdb does with a stub that offers it.
    fn no_ack(&mut self) -> Res<()> {
        let reply = self.request("QStartNoAckMode")?;
        if reply != b"OK" {
            return Err(format!("QStartNoAckMode: {}", String::from_utf8_lossy(&reply)).into());
        }
        self.ack = false;
        Ok(())
    }

    /// `len` bytes at `va` through the current thread, with one `m` packet.
    fn read(&mut self, va: u64, len: usize) -> Res<Vec<u8>> {
        let hex = self.request(&format!("m{va:x},{len:x}"))?;
        let text = std::str::from_utf8(&hex)?;
        if text.starts_with('E') || text.len() != 2 * len {
            return Err(format!("unexpected reply {text:.40}").into());
        }
        (0..len)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(Into::into))
            .collect()
    }
}

impl RspClient {
    /// `len` bytes at `va` with one `m` packet, into `out`; returns the bytes read.
    fn read_hex_into(&mut self, va: u64, len: usize, out: &mut Vec<u8>) -> Res<usize> {
        let hex = self.request(&format!("m{va:x},{len:x}"))?;
        if hex.first() == Some(&b'E') || hex.len() % 2 != 0 {
            return Err(format!("m{va:x}: {}", String::from_utf8_lossy(&hex)).into());
        }
        let nibble = |c: u8| -> Res<u8> {
            Ok(match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return Err(format!("not hex: {c:#x}").into()),
            })
        };
        for pair in hex.chunks_exact(2) {
            out.push(nibble(pair[0])? << 4 | nibble(pair[1])?);
        }
        Ok(hex.len() / 2)
    }

    /// `len` bytes at `va` with one `x` packet (gdb's dialect: `b` + escaped binary),
    /// into `out`; returns the bytes read.
    fn read_binary_into(&mut self, va: u64, len: usize, out: &mut Vec<u8>) -> Res<usize> {
        let body = self.request(&format!("x{va:x},{len:x}"))?;
        let Some(data) = body.strip_prefix(b"b") else {
            return Err(format!("x{va:x}: {}", String::from_utf8_lossy(&body)).into());
        };
        let before = out.len();
        let mut it = data.iter();
        while let Some(&b) = it.next() {
            out.push(if b == b'}' {
                it.next().ok_or("escape at the end")? ^ 0x20
            } else {
                b
            });
        }
        Ok(out.len() - before)
    }
}

/// Read `len` bytes at `va` with one `m` packet on a new connection.
fn rsp_read(addr: &str, va: u64, len: usize) -> Res<Vec<u8>> {
    RspClient::connect(addr)?.read(va, len)
}

/// Run gdb in batch mode with `args`; returns wall time and output.
fn gdb(args: &[String]) -> Res<(Duration, String)> {
    let t = Instant::now();
    let out = Command::new("gdb")
        .args([
            "-nx",
            "-batch",
            "-ex",
            "set pagination off",
            "-ex",
            "set confirm off",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    let wall = t.elapsed();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((wall, text))
}

fn ex(cmd: impl Into<String>) -> [String; 2] {
    ["-ex".to_string(), cmd.into()]
}

/// Where gdb gets its memory from.
#[derive(Clone, Debug)]
enum Source<'a> {
    Remote(&'a str),
    Core(&'a Path),
}

impl Source<'_> {
    fn connect(&self) -> [String; 2] {
        match self {
            Source::Remote(addr) => ex(format!("target remote {addr}")),
            Source::Core(p) => ex(format!("core-file {}", p.display())),
        }
    }
}

/// A gdb command timed inside gdb (wall and gdb's own CPU time), from a Python clock.
fn timed_gdb(source: &Source<'_>, setup: &[String], cmd: &str) -> Res<(f64, f64, String)> {
    let mut args: Vec<String> = Vec::new();
    args.extend(setup.iter().cloned());
    args.extend(source.connect());
    args.extend(ex(
        "python import time; xd_t0 = time.perf_counter(); xd_c0 = time.process_time()",
    ));
    args.extend(ex(cmd));
    args.extend(ex(
        "python print('XD-TIME %.6f %.6f' % (time.perf_counter() - xd_t0, time.process_time() - xd_c0))",
    ));
    let (_, out) = gdb(&args)?;
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("XD-TIME "))
        .ok_or_else(|| format!("gdb did not finish `{cmd}`:\n{out}"))?;
    let mut it = line.split_whitespace().map(str::parse::<f64>);
    match (it.next(), it.next()) {
        (Some(Ok(wall)), Some(Ok(cpu))) => Ok((wall, cpu, out)),
        _ => Err(format!("bad timing line {line:?}").into()),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn mib_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / MIB as f64 / secs
}

// ---------------------------------------------------------------------------------
// Sections

fn startup(opts: &Opts) -> Res<()> {
    println!("\n== start-up: spawn → listening → first 8-byte read; memory after that read");
    println!("   (warm page cache; median of {} runs; anon/page = RssAnon ÷ guest pages, over-tiny = (RssAnon − RssAnon of a 64 MiB guest) ÷ guest pages)", opts.reps);
    let mut cases: Vec<(Format, u64, u64)> = Vec::new();
    for format in [Format::ElfHvm, Format::ElfPv, Format::LegacyPv] {
        cases.push((format, 0, 512));
        for &gib in &opts.sizes {
            cases.push((format, gib, 512));
        }
    }
    if opts.worst_case {
        cases.push((Format::ElfPv, 64, 1));
    }
    let mut tiny_anon = std::collections::HashMap::new();
    writeln_table_header();
    for (format, gib, chunk) in cases {
        let ram_pages = if gib == 0 {
            64 * MIB / PAGE_SIZE
        } else {
            gib * GIB / PAGE_SIZE
        };
        let guest = LargeGuest {
            kind: format.kind(),
            ram_pages,
            mfn_chunk: chunk,
            mapped_pages: 16,
            vcpus: 4,
        };
        let label = if gib == 0 {
            "64MiB".to_string()
        } else {
            format!("{gib}GiB")
        };
        let scatter = if chunk == 1 { "-scatter1" } else { "" };
        let path = opts
            .work
            .join(format!("startup-{}-{label}{scatter}.core", format.slug()));
        ensure_dump(&path, &guest, format)?;
        let mut want = [0u8; 8];
        want.copy_from_slice(&pattern_word(MAPPED_PFN, 0).to_le_bytes());
        for (suffix, bin) in servers(opts) {
            let mut ready = Vec::new();
            let mut first = Vec::new();
            let mut mem = ProcMemory::default();
            for _ in 0..opts.reps.max(1) {
                let server = Server::start(bin, &path, &[])?;
                let got = rsp_read(&server.addr, MAPPED_VA, 8)?;
                let first_at = server.started.elapsed();
                if got != want {
                    return Err(
                        format!("{}: first read returned {got:02x?}", path.display()).into(),
                    );
                }
                ready.push(server.ready.as_secs_f64() * 1e3);
                first.push(first_at.as_secs_f64() * 1e3);
                mem = server.status();
            }
            let pages = ram_pages as f64;
            let key = (format.slug(), suffix);
            if gib == 0 {
                tiny_anon.insert(key, mem.anon);
                continue;
            }
            let over = mem.anon.saturating_sub(*tiny_anon.get(&key).unwrap_or(&0));
            let name = if chunk == 1 {
                format!("{} (mfns scattered per page){suffix}", format.name())
            } else {
                format!("{}{suffix}", format.name())
            };
            println!(
                "   {name:<34} {gib:>4} GiB {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8.2} {:>8.2}",
                median(ready),
                median(first),
                mem.peak as f64 / MIB as f64,
                mem.anon as f64 / MIB as f64,
                mem.file as f64 / MIB as f64,
                mem.anon as f64 / pages,
                over as f64 / pages,
            );
        }
    }
    Ok(())
}

/// Start-up on saved images (`xl save`, and a Remus stream of 3 checkpoints up to
/// 16 GiB) next to the ELF dump of the same guest: ready, the first read with this
/// file's pages dropped from the page cache first (`posix_fadvise`), warm first read,
/// memory, and the page index's size. The images are sparse files of Xen's layout.
fn saved(opts: &Opts) -> Res<()> {
    println!("\n== saved images: spawn → listening → first 8-byte read (cold: file evicted first; warm: median of {})", opts.reps);
    println!(
        "   {:<5} {:<24} {:>5} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "guest",
        "file",
        "GiB",
        "disk MiB",
        "cold ms",
        "ready ms",
        "1st rd ms",
        "peak MiB",
        "anon MiB",
        "index KiB"
    );
    let mut want = [0u8; 8];
    want.copy_from_slice(&pattern_word(MAPPED_PFN, 0).to_le_bytes());
    for &gib in &opts.sizes {
        for kind in [GuestKind::Hvm, GuestKind::Pv] {
            let guest = LargeGuest {
                kind,
                ram_pages: gib * GIB / PAGE_SIZE,
                mfn_chunk: 512,
                mapped_pages: 16,
                vcpus: 4,
            };
            let mut built = None;
            for (name, stream) in [
                ("ELF dump", None),
                ("xl save image", Some(StreamOptions::xl_save())),
                (
                    "Remus, 3 checkpoints",
                    Some(StreamOptions::checkpointed(3, false)),
                ),
            ] {
                if name.starts_with("Remus") && gib > 16 {
                    continue;
                }
                let slug = name.split(',').next().unwrap_or(name).replace(' ', "-");
                let path = opts.work.join(format!(
                    "saved-v{SPEC_VERSION}-{kind:?}-{gib}GiB-{slug}.img"
                ));
                if !path.exists() {
                    let t = Instant::now();
                    if built.is_none() {
                        built = Some(guest.build()?);
                    }
                    let image = &built.as_ref().ok_or("no guest")?.image;
                    match &stream {
                        None => drop(image.write_file(&path, &DumpOptions::elf(Width::Bits64))?),
                        Some(o) => drop(image.write_stream_file(&path, o)?),
                    }
                    eprintln!(
                        "  wrote {} in {:.1} s",
                        path.display(),
                        t.elapsed().as_secs_f64()
                    );
                }
                let index = XenDump::open(&path)?.index_bytes();
                evict(&path)?;
                let cold = {
                    let s = Server::start(&opts.server, &path, &[])?;
                    if rsp_read(&s.addr, MAPPED_VA, 8)? != want {
                        return Err(format!("{}: wrong first read", path.display()).into());
                    }
                    s.started.elapsed().as_secs_f64() * 1e3
                };
                let (mut ready, mut first, mut mem) =
                    (Vec::new(), Vec::new(), ProcMemory::default());
                for _ in 0..opts.reps.max(1) {
                    let s = Server::start(&opts.server, &path, &[])?;
                    if rsp_read(&s.addr, MAPPED_VA, 8)? != want {
                        return Err(format!("{}: wrong first read", path.display()).into());
                    }
                    first.push(s.started.elapsed().as_secs_f64() * 1e3);
                    ready.push(s.ready.as_secs_f64() * 1e3);
                    mem = ProcMemory::of(s.child.id());
                }
                println!(
                    "   {:<5} {:<24} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>9.1} {:>9.1} {:>9.1}",
                    format!("{kind:?}"),
                    name,
                    gib,
                    disk_usage(&path).unwrap_or(0) as f64 / MIB as f64,
                    cold,
                    median(ready),
                    median(first),
                    mem.peak as f64 / MIB as f64,
                    mem.anon as f64 / MIB as f64,
                    index as f64 / 1024.0
                );
            }
        }
    }
    Ok(())
}

/// Drop `path`'s pages from the page cache (`posix_fadvise(DONTNEED)`; this file only,
/// no root needed).
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

fn writeln_table_header() {
    println!(
        "   {:<34} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "format",
        "guest",
        "ready ms",
        "1st rd ms",
        "peak MiB",
        "anon MiB",
        "file MiB",
        "anon/pg",
        "over/pg"
    );
}

fn bulk(opts: &Opts) -> Res<()> {
    let (dump, local) = bulk_dump(opts)?;
    println!("\n== bulk reads: gdb `dump binary memory` of mapped kernel memory (4 KiB pages, PV, mfns in 2 MiB chunks)");
    println!(
        "   (median of {} runs; MiB/s; gdb cpu = gdb's own CPU time, server cpu from /proc)",
        opts.reps
    );
    println!(
        "   {:<44} {:>8} {:>9} {:>9} {:>10} {:>10}",
        "how", "size", "seconds", "MiB/s", "gdb cpu s", "srv cpu s"
    );
    let out_file = opts.work.join("bulk-out.bin");
    for size in [64 * MIB, 256 * MIB] {
        // Plain copies of the same bytes out of the mapped dump.
        let d = XenDump::open(&dump)?;
        let first = d
            .page_of_pfn(GuestFrame(MAPPED_PFN))
            .ok_or("mapped pfn missing")?;
        let src = d
            .page_span(first, size / PAGE_SIZE)
            .map_err(|_| "dump shorter than the mapped range")?;
        check_pattern(MAPPED_VA, src)?;
        let mut copy_t = Vec::new();
        let mut file_t = Vec::new();
        let mut buf = vec![0u8; size as usize];
        for _ in 0..opts.reps.max(1) {
            let t = Instant::now();
            for (dst, s) in buf.chunks_mut(32 * 1024).zip(src.chunks(32 * 1024)) {
                dst.copy_from_slice(s);
            }
            std::hint::black_box(&buf);
            copy_t.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let mut f = std::fs::File::create(&out_file)?;
            for s in src.chunks(32 * 1024) {
                f.write_all(s)?;
            }
            f.sync_data().ok();
            drop(f);
            file_t.push(t.elapsed().as_secs_f64());
        }
        drop(buf);
        let plain = median(copy_t);
        let plain_file = median(file_t);
        let print = |how: &str, secs: f64, gdb_cpu: Option<f64>, srv: Option<f64>| {
            let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
            println!(
                "   {how:<44} {:>5} MiB {secs:>9.3} {:>9.0} {:>10} {:>10}",
                size / MIB,
                mib_s(size, secs),
                f(gdb_cpu),
                f(srv),
            );
        };
        print("plain copy out of the mapping (memcpy)", plain, None, None);
        print(
            "plain copy out of the mapping into a file",
            plain_file,
            None,
            None,
        );
        let end = MAPPED_VA + size;
        let cmd = format!(
            "dump binary memory {} {MAPPED_VA:#x} {end:#x}",
            out_file.display()
        );
        let check = |what: &str| -> Res<()> {
            let mut f = std::fs::File::open(&out_file)?;
            let mut data = Vec::new();
            f.read_to_end(&mut data)?;
            if data.len() as u64 != size {
                return Err(format!("{what}: dumped {} bytes, not {size}", data.len()).into());
            }
            check_pattern(MAPPED_VA, &data)
        };
        // Every way of reading is measured once per round, rounds repeated: load from
        // other processes then hits them alike.
        let mut variants: Vec<(String, Option<Server>)> =
            vec![("gdb on a local ELF core file".to_string(), None)];
        let mut packets: Vec<(&str, &Path, usize)> = [65536usize, 131072, 262144]
            .into_iter()
            .map(|p| ("", opts.server.as_path(), p))
            .collect();
        if let Some(b) = &opts.baseline {
            packets.push((" [baseline]", b.as_path(), 65536));
        }
        for (suffix, bin, packet) in packets {
            let server = Server::start(bin, &dump, &["--packet-size", &packet.to_string()])?;
            let label = format!(
                "gdb via the server, packet size {} KiB{suffix}",
                packet / 1024
            );
            variants.push((label, Some(server)));
        }
        let mut results = vec![(Vec::new(), Vec::new(), Vec::new()); variants.len()];
        for _ in 0..opts.reps.max(1) {
            for ((label, server), r) in variants.iter().zip(&mut results) {
                let source = match server {
                    Some(s) => Source::Remote(&s.addr),
                    None => Source::Core(&local),
                };
                let c0 = server.as_ref().map(Server::cpu);
                let (w, c, _) = timed_gdb(&source, &[], &cmd)?;
                if let (Some(s), Some(c0)) = (server, c0) {
                    r.2.push((s.cpu() - c0).as_secs_f64());
                }
                check(label)?;
                r.0.push(w);
                r.1.push(c);
            }
        }
        let local_s = median(results[0].0.clone());
        for ((label, server), (secs, gcpu, scpu)) in variants.iter().zip(results) {
            let s = median(secs);
            let srv = server.as_ref().map(|_| median(scpu));
            let gcpu = median(gcpu);
            print(label, s, Some(gcpu), srv);
            if let Some(srv) = srv {
                let mib = (size / MIB) as f64;
                println!(
                    "   {:<44} {:>8} server/local {:.0}%, server/plain copy {:.1}%; CPU per MiB: server {:.2} ms, gdb {:.1} ms, server/gdb {:.1}%",
                    "",
                    "",
                    local_s / s * 100.0,
                    plain / s * 100.0,
                    srv * 1e3 / mib,
                    gcpu * 1e3 / mib,
                    srv / gcpu * 100.0
                );
            }
        }
    }
    let _ = std::fs::remove_file(&out_file);
    Ok(())
}

fn session(opts: &Opts) -> Res<()> {
    let (dump, local) = bulk_dump(opts)?;
    println!("\n== scripted session: gdb start → connect → info registers → x/1024xg → quit (whole gdb process)");
    let reps = opts.reps.max(5);
    let x = format!("x/1024xg {MAPPED_VA:#x}");
    let once = |source: &Source<'_>| -> Res<f64> {
        let mut args = Vec::new();
        args.extend(source.connect());
        args.extend(ex("info registers"));
        args.extend(ex(x.clone()));
        args.extend(ex("quit"));
        let (wall, out) = gdb(&args)?;
        // 1024 giant words, two per line; check the first one.
        let first = format!("{:#018x}", pattern_word(MAPPED_PFN, 0));
        if !out.contains(&first) || !out.contains("rip") {
            return Err(format!("unexpected gdb output:\n{out:.2000}").into());
        }
        Ok(wall.as_secs_f64() * 1e3)
    };
    let servers: Vec<(&str, Server)> = servers(opts)
        .into_iter()
        .map(|(suffix, bin)| Ok((suffix, Server::start(bin, &dump, &[])?)))
        .collect::<Res<_>>()?;
    let mut remote_t = vec![Vec::new(); servers.len()];
    let (mut core_t, mut bare_t) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        for ((_, server), t) in servers.iter().zip(&mut remote_t) {
            t.push(once(&Source::Remote(&server.addr))?);
        }
        core_t.push(once(&Source::Core(&local))?);
        bare_t.push(gdb(&[ex("quit")].concat())?.0.as_secs_f64() * 1e3);
    }
    let remote: Vec<(&str, f64)> = servers
        .iter()
        .zip(remote_t)
        .map(|((suffix, _), t)| (*suffix, median(t)))
        .collect();
    let core = median(core_t);
    let bare = median(bare_t);
    println!("   (median of {reps} runs)");
    for &(suffix, ms) in &remote {
        println!("   {:<44} {ms:>9.1} ms", format!("via the server{suffix}"));
    }
    println!("   {:<44} {:>9.1} ms", "on the local ELF core", core);
    println!("   {:<44} {:>9.1} ms", "gdb alone (start + quit)", bare);
    for &(suffix, ms) in &remote {
        println!(
            "   {:<44} {:>9.2}×  ({:.1} ms more)",
            format!("server / local{suffix}"),
            ms / core,
            ms - core
        );
    }
    Ok(())
}

fn random(opts: &Opts) -> Res<()> {
    let (dump, local) = bulk_dump(opts)?;
    const READS: usize = 100_000;
    const BLOCK: usize = 100;
    let guest = bulk_guest();
    let len = guest.mapped_pages * PAGE_SIZE;
    // Same xorshift as benches/read.rs; vCPU changes every BLOCK reads.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut text = String::new();
    let mut sum = 0u64;
    for i in 0..READS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let va = MAPPED_VA + (x % len) / 8 * 8;
        let off = va - MAPPED_VA;
        sum = sum.wrapping_add(pattern_word(
            MAPPED_PFN + off / PAGE_SIZE,
            off % PAGE_SIZE / 8,
        ));
        writeln!(text, "{} {va}", (i / BLOCK) % guest.vcpus)?;
    }
    let addrs = opts.work.join("random-addrs.txt");
    std::fs::write(&addrs, text)?;
    let script = opts.work.join("random.py");
    std::fs::write(
        &script,
        format!(
            r#"import gdb, time
items = [tuple(int(v) for v in l.split()) for l in open({addrs:?})]
inf = gdb.selected_inferior()
threads = sorted(inf.threads(), key=lambda t: t.num)
cur = None
total = 0
t0 = time.perf_counter(); c0 = time.process_time()
for slot, va in items:
    t = threads[slot % len(threads)]
    if t is not cur:
        t.switch(); cur = t
    total += int.from_bytes(inf.read_memory(va, 8).tobytes(), 'little')
print('XD-RANDOM %.6f %.6f %d' % (time.perf_counter() - t0, time.process_time() - c0, total % (1 << 64)))
"#,
            addrs = addrs.display().to_string()
        ),
    )?;
    println!("\n== random access: {READS} random 8-byte reads of mapped kernel memory through gdb (Python), vCPU switched every {BLOCK} reads");
    println!(
        "   (median of {} runs; srv cpu = the server's CPU time during the run)",
        opts.reps.max(1)
    );
    println!(
        "   {:<44} {:>9} {:>11} {:>10} {:>10}",
        "how", "seconds", "reads/s", "µs/read", "srv cpu s"
    );
    let run_once = |source: &Source<'_>, server: Option<&Server>| -> Res<(f64, f64)> {
        let mut args = Vec::new();
        args.extend(source.connect());
        args.extend(ex(format!("source {}", script.display())));
        let c0 = server.map(Server::cpu);
        let (_, out) = gdb(&args)?;
        let srv = match (server, c0) {
            (Some(s), Some(c0)) => (s.cpu() - c0).as_secs_f64(),
            _ => f64::NAN,
        };
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("XD-RANDOM "))
            .ok_or_else(|| format!("random script failed:\n{out:.2000}"))?;
        let f: Vec<&str> = line.split_whitespace().collect();
        let got: u64 = f.get(2).ok_or("no sum")?.parse()?;
        if got != sum {
            return Err(format!("random reads summed to {got:#x}, expected {sum:#x}").into());
        }
        Ok((f.first().ok_or("no time")?.parse()?, srv))
    };
    let print = |how: &str, (secs, srv): (f64, f64)| {
        println!(
            "   {how:<44} {secs:>9.2} {:>11.0} {:>10.1} {:>10}",
            READS as f64 / secs,
            secs * 1e6 / READS as f64,
            if srv.is_nan() {
                "-".to_string()
            } else {
                format!("{srv:.2}")
            }
        );
    };
    let mut rows: Vec<(&str, &Path, &[&str])> = vec![
        ("via the server, translation cache on", &opts.server, &[]),
        (
            "via the server, translation cache off",
            &opts.server,
            &["--translation-cache", "0"],
        ),
    ];
    if let Some(b) = &opts.baseline {
        rows.push(("via the server, cache on [baseline]", b, &[]));
    }
    let mut variants: Vec<(&str, Option<Server>)> = Vec::new();
    for (how, bin, extra) in rows {
        match Server::start(bin, &dump, extra) {
            Ok(server) => variants.push((how, Some(server))),
            // An older server (a before/after comparison) may not know the option.
            Err(e) => println!(
                "   {how:<44} n/a: {}",
                e.to_string().lines().last().unwrap_or("")
            ),
        }
    }
    variants.push(("on the local ELF core", None));
    // The same reads from a bare protocol client: the server's share of a round trip.
    let raw_items: Vec<(usize, u64)> = std::fs::read_to_string(&addrs)?
        .lines()
        .filter_map(|l| {
            let (slot, va) = l.split_once(' ')?;
            Some((slot.parse().ok()?, va.parse().ok()?))
        })
        .collect();
    let raw_run = |server: &Server| -> Res<(f64, f64)> {
        let mut c = RspClient::connect(&server.addr)?;
        c.no_ack()?;
        let c0 = server.cpu();
        let t = Instant::now();
        let mut total = 0u64;
        let mut cur = usize::MAX;
        for &(slot, va) in &raw_items {
            if slot != cur {
                if c.request(&format!("Hg{:x}", slot + 1))? != b"OK" {
                    return Err("Hg refused".into());
                }
                cur = slot;
            }
            let mut word = [0u8; 8];
            word.copy_from_slice(&c.read(va, 8)?);
            total = total.wrapping_add(u64::from_le_bytes(word));
        }
        let secs = t.elapsed().as_secs_f64();
        if total != sum {
            return Err(format!("raw reads summed to {total:#x}, expected {sum:#x}").into());
        }
        Ok((secs, (server.cpu() - c0).as_secs_f64()))
    };
    // One run of each per round, rounds repeated, so load from elsewhere hits all alike.
    let mut results = vec![(Vec::new(), Vec::new()); variants.len()];
    for _ in 0..opts.reps.max(1) {
        for ((_, server), r) in variants.iter().zip(&mut results) {
            let (secs, cpu) = match server {
                Some(s) => run_once(&Source::Remote(&s.addr), Some(s))?,
                None => run_once(&Source::Core(&local), None)?,
            };
            r.0.push(secs);
            r.1.push(cpu);
        }
    }
    for ((how, _), (secs, cpu)) in variants.iter().zip(results) {
        print(how, (median(secs), median(cpu)));
    }
    for (how, server) in &variants {
        if let Some(server) = server {
            let mut secs = Vec::new();
            let mut cpu = Vec::new();
            for _ in 0..opts.reps.max(1) {
                let (s, c) = raw_run(server)?;
                secs.push(s);
                cpu.push(c);
            }
            let how = how.replacen("via the server", "bare protocol client", 1);
            print(&how, (median(secs), median(cpu)));
        }
    }
    println!("   (in-process figures for the same pattern: cargo bench --bench read)");
    Ok(())
}

/// 64 MiB through a bare protocol client, `m` against `x`.
fn binary(opts: &Opts) -> Res<()> {
    let (dump, _) = bulk_dump(opts)?;
    let size = 64 * MIB;
    println!("\n== binary reads: {} MiB of mapped kernel memory by a bare protocol client, hex `m` against binary `x`", size / MIB);
    println!(
        "   (median of {} runs; the server's CPU from /proc; 64 KiB packets; every byte checked)",
        opts.reps.max(1)
    );
    println!(
        "   {:<44} {:>9} {:>9} {:>10} {:>12}",
        "how", "seconds", "MiB/s", "srv cpu s", "srv ms/MiB"
    );
    let server = Server::start(&opts.server, &dump, &[])?;
    // gdb asks `m` for PacketSize/2 bytes (hex doubles them); `x` can take PacketSize.
    let variants: [(&str, bool, usize); 3] = [
        ("m, 32 KiB per packet (gdb <= 15)", false, 32 * 1024),
        ("x, 32 KiB per packet", true, 32 * 1024),
        ("x, 64 KiB per packet", true, 64 * 1024),
    ];
    let mut results = vec![(Vec::new(), Vec::new()); variants.len()];
    let mut data = Vec::with_capacity(size as usize);
    for _ in 0..opts.reps.max(1) {
        for ((_, binary, chunk), r) in variants.iter().zip(&mut results) {
            let mut c = RspClient::connect(&server.addr)?;
            c.request("qSupported:multiprocess+")?;
            c.no_ack()?;
            data.clear();
            let c0 = server.cpu();
            let t = Instant::now();
            let mut va = MAPPED_VA;
            while (data.len() as u64) < size {
                let want = (*chunk).min((size - data.len() as u64) as usize);
                let n = if *binary {
                    c.read_binary_into(va, want, &mut data)?
                } else {
                    c.read_hex_into(va, want, &mut data)?
                };
                if n == 0 {
                    return Err(format!("empty read at {va:#x}").into());
                }
                va += n as u64;
            }
            r.0.push(t.elapsed().as_secs_f64());
            r.1.push((server.cpu() - c0).as_secs_f64());
            check_pattern(MAPPED_VA, &data)?;
        }
    }
    for ((label, _, _), (secs, cpu)) in variants.iter().zip(results) {
        let (secs, cpu) = (median(secs), median(cpu));
        println!(
            "   {label:<44} {secs:>9.3} {:>9.0} {cpu:>10.2} {:>12.2}",
            mib_s(size, secs),
            cpu * 1000.0 / (size / MIB) as f64
        );
    }
    Ok(())
}

fn profile(opts: &Opts) -> Res<()> {
    let (dump, _) = bulk_dump(opts)?;
    if Command::new("valgrind").arg("--version").output().is_err() {
        return Err("valgrind not found: bash scripts/install-deps.sh --bench".into());
    }
    const SIZE: u64 = 16 * MIB;
    println!(
        "\n== profile: the server under callgrind while gdb dumps {} MiB (instructions, inclusive)",
        SIZE / MIB
    );
    let out = opts.work.join("callgrind.out");
    let _ = std::fs::remove_file(&out);
    let mut cmd = Command::new("valgrind");
    cmd.args(["--tool=callgrind", "--quiet"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&opts.server);
    let server = Server::start_with(cmd, &dump, &[], Duration::from_secs(300))?;
    let bin = opts.work.join("profile-out.bin");
    let cmd = format!(
        "dump binary memory {} {MAPPED_VA:#x} {:#x}",
        bin.display(),
        MAPPED_VA + SIZE
    );
    timed_gdb(&Source::Remote(&server.addr), &[], &cmd)?;
    let _ = std::fs::remove_file(&bin);
    server.interrupt()?;
    let annotate = |inclusive: bool| -> Res<Vec<(String, u64)>> {
        let out = Command::new("callgrind_annotate")
            .arg(format!(
                "--inclusive={}",
                if inclusive { "yes" } else { "no" }
            ))
            .args(["--threshold=100", "--auto=no"])
            .arg(&out)
            .output()?;
        Ok(functions(&String::from_utf8_lossy(&out.stdout), inclusive))
    };
    let own = annotate(false)?;
    let total: u64 = own.iter().map(|(_, ir)| ir).sum();
    println!(
        "   {} M instructions in the server, {:.1} per byte dumped",
        total / 1_000_000,
        total as f64 / SIZE as f64
    );
    println!("   -- self cost (top 12):");
    for (name, ir) in own.iter().take(12) {
        println!("   {:>6.2}%  {name}", *ir as f64 * 100.0 / total as f64);
    }
    // Inclusive costs of our own and gdbstub's functions (runtime frames left out).
    println!("   -- inclusive, project and gdbstub functions (top 10):");
    let incl = annotate(true)?;
    for (name, ir) in incl
        .iter()
        .filter(|(n, _)| n.starts_with("xendump_gdbserver") || n.starts_with("gdbstub"))
        .take(10)
    {
        println!("   {:>6.2}%  {name}", *ir as f64 * 100.0 / total as f64);
    }
    Ok(())
}

/// Costs per function from a callgrind_annotate report (lines "1,234 (5.6%)
/// file:function [binary]"), sorted. A function inlined from several files has a line
/// per file: self costs add up; inclusive ones overlap, so the largest is kept.
fn functions(report: &str, inclusive: bool) -> Vec<(String, u64)> {
    let mut by_name: std::collections::HashMap<String, u64> = Default::default();
    for line in report.lines() {
        let t = line.trim();
        let Some((cost, rest)) = t.split_once(" (") else {
            continue;
        };
        let Ok(ir) = cost.replace(',', "").parse::<u64>() else {
            continue;
        };
        let Some((_, name)) = rest.split_once(") ") else {
            continue;
        };
        if name.contains("PROGRAM TOTALS") {
            continue;
        }
        let name = name.rsplit_once(" [").map_or(name, |(f, _)| f);
        // "file:function": function names contain "::" but files do not end in ':'.
        let name = match name.find(':') {
            Some(i) if !name[i..].starts_with("::") => &name[i + 1..],
            _ => name,
        };
        let mut short = name.trim().to_string();
        if short.len() > 100 {
            short.truncate(100);
            short.push('…');
        }
        let entry = by_name.entry(short).or_default();
        *entry = if inclusive {
            (*entry).max(ir)
        } else {
            *entry + ir
        };
    }
    let mut v: Vec<(String, u64)> = by_name.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v
}
