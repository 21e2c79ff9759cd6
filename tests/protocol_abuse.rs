//! Protocol abuse against the real server binary, over loopback only, every loop
//! bounded: oversized packets, bad checksums, garbage, endless `qXfer` paging, 64
//! simultaneous connections, a client that stops reading. After each, the server must
//! still answer other clients, hold bounded memory and no leftover sessions.
//!
//! No test here measures time: each waits for what must happen (a reply, a closed
//! connection, a log line, a socket state), and [`support::HANG`] only catches a hang.
//! How fast the server answers is the benchmarks' business.
//!
//! `soak_10k_sessions` (ignored; `scripts/soak.sh` runs it in release) prints the
//! server's RSS and open descriptors before and after 10,000 sessions.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::{Server, HANG};
use xendump_gdbserver::builder::tiny::TinyGuest;
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::harness::packet;
use xendump_gdbserver::memory::PagingMode;
use xendump_gdbserver::vcpu::VcpuState;

/// A tiny 64-bit PV dump in a temporary directory, and facts about it.
struct Dump {
    _dir: tempfile::TempDir,
    path: PathBuf,
    guest: TinyGuest,
}

fn dump() -> Dump {
    let guest = TinyGuest::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abuse.core");
    guest
        .image
        .write_file(&path, &DumpOptions::elf(Width::Bits64))
        .unwrap();
    Dump {
        _dir: dir,
        path,
        guest,
    }
}

/// A raw gdb-protocol client.
struct Client {
    s: TcpStream,
    pending: Vec<u8>,
}

impl Client {
    fn connect(addr: &str) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(HANG)).unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            s,
            pending: Vec::new(),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes)
    }

    /// Send a packet (with an ack for the previous reply) and return the reply body.
    fn ask(&mut self, body: &str) -> String {
        self.send_raw(b"+").unwrap();
        self.send_raw(&packet(body.as_bytes())).unwrap();
        self.reply()
            .unwrap_or_else(|e| panic!("no reply to {body:?}: {e}"))
    }

    /// The next `$body#xx` from the server (acks skipped), body unescaped enough to read.
    fn reply(&mut self) -> std::io::Result<String> {
        Ok(expand(&self.reply_raw()?))
    }

    /// Send a packet; the reply body exactly as sent (escapes and all), checksum checked.
    fn ask_raw(&mut self, body: &str) -> Vec<u8> {
        self.send_raw(b"+").unwrap();
        self.send_raw(&packet(body.as_bytes())).unwrap();
        self.reply_raw()
            .unwrap_or_else(|e| panic!("no reply to {body:?}: {e}"))
    }

    /// The next `$body#xx` from the server (acks skipped): the body as sent.
    fn reply_raw(&mut self) -> std::io::Result<Vec<u8>> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            if let Some(start) = self.pending.iter().position(|&b| b == b'$') {
                if let Some(hash) = self.pending[start..].iter().position(|&b| b == b'#') {
                    let end = start + hash + 3;
                    if self.pending.len() >= end {
                        let body = self.pending[start + 1..start + hash].to_vec();
                        let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
                        let given = &self.pending[start + hash + 1..end];
                        assert_eq!(format!("{sum:02x}").as_bytes(), given, "checksum");
                        self.pending.drain(..end);
                        return Ok(body);
                    }
                }
            }
            let n = self.s.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// Read until the server closes this connection: true when it does, false if the
    /// connection is still open after [`HANG`].
    fn closed(&mut self) -> bool {
        self.s.set_read_timeout(Some(HANG)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match self.s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// The start of the `g` reply for a vCPU of the 64-bit tiny guest, in gdb's amd64
/// layout (xen-dump-format.md §7.1): rax rbx rcx rdx rsi rdi rbp rsp r8–r15 rip (8 bytes
/// each), eflags cs ss ds es fs gs (4 bytes each), little-endian hex.
fn g_prefix(v: &VcpuState) -> String {
    let g = &v.gprs;
    let mut bytes = Vec::new();
    for r in [
        g.rax, g.rbx, g.rcx, g.rdx, g.rsi, g.rdi, g.rbp, g.rsp, g.r8, g.r9, g.r10, g.r11, g.r12,
        g.r13, g.r14, g.r15, v.rip,
    ] {
        bytes.extend_from_slice(&r.to_le_bytes());
    }
    let sel = &v.selectors;
    for r in [
        v.rflags as u32,
        u32::from(sel.cs),
        u32::from(sel.ss),
        u32::from(sel.ds),
        u32::from(sel.es),
        u32::from(sel.fs),
        u32::from(sel.gs),
    ] {
        bytes.extend_from_slice(&r.to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ask for the registers and check them against vCPU `slot` of the builder's guest.
fn check_g(c: &mut Client, d: &Dump, slot: usize) {
    let want = g_prefix(&d.guest.image.expected_states()[slot]);
    let g = c.ask("g");
    assert!(
        g.starts_with(&want),
        "g reply for vCPU {slot}:\n{g}\nexpected it to start with\n{want}"
    );
}

/// Undo the reply encodings: `}` escapes and `X*n` run lengths.
fn expand(raw: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'}' if i + 1 < raw.len() => {
                out.push(raw[i + 1] ^ 0x20);
                i += 2;
            }
            b'*' if i + 1 < raw.len() && !out.is_empty() => {
                let last = *out.last().unwrap();
                out.extend(std::iter::repeat_n(last, usize::from(raw[i + 1]) - 29));
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A full, short session on a fresh connection: features, vCPU 0's registers, banner
/// bytes, detach.
fn healthy_session(addr: &str, d: &Dump) {
    let mut c = Client::connect(addr);
    let sup = c.ask("qSupported:multiprocess+;swbreak+;xmlRegisters=i386");
    assert!(sup.contains("PacketSize="), "qSupported: {sup}");
    check_g(&mut c, d, 0);
    let want: String = d
        .guest
        .facts
        .banner
        .bytes()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let m = c.ask(&format!("m{:x},10", d.guest.facts.banner_va));
    assert_eq!(m, want, "banner bytes");
    assert_eq!(c.ask("D"), "OK");
}

/// Poll `cond` until it holds (false if it still does not after [`HANG`]).
fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + HANG;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Send and receive queue lengths of the loopback TCP socket from port `local` to port
/// `remote`, from /proc/net/tcp.
fn tcp_queues(local: u16, remote: u16) -> Option<(u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = |a: &str| u16::from_str_radix(a.rsplit(':').next()?, 16).ok();
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || port(f[1]) != Some(local) || port(f[2]) != Some(remote) {
            return None;
        }
        let (tx, rx) = f[4].split_once(':')?;
        Some((
            u64::from_str_radix(tx, 16).ok()?,
            u64::from_str_radix(rx, 16).ok()?,
        ))
    })
}

/// Whether the server's end of `c`'s connection is stuck: replies queued that the
/// client has not taken, and requests arrived that the server has not read.
fn server_stuck_on(c: &Client) -> bool {
    let client = c.s.local_addr().unwrap().port();
    let server = c.s.peer_addr().unwrap().port();
    matches!(tcp_queues(server, client), Some((tx, rx)) if tx > 0 && rx > 0)
}

/// Send `req` over and over, never reading a byte of the replies, until the server is
/// stuck writing to this client (true) or has dropped it (false).
fn flood_until_stuck(c: &mut Client, req: &[u8]) -> bool {
    c.s.set_nonblocking(true).unwrap();
    let mut at = 0;
    let mut dropped = false;
    let done = wait_until(|| {
        // Write what the socket takes now; a packet cut short is finished next time.
        loop {
            match c.s.write(&req[at..]) {
                Ok(n) => at = (at + n) % req.len(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    dropped = true;
                    return true;
                }
            }
        }
        server_stuck_on(c)
    });
    c.s.set_nonblocking(false).unwrap();
    assert!(
        done,
        "the server neither got stuck on this client nor dropped it"
    );
    !dropped
}

/// Resident set and open descriptors of a process, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

/// Wait until the server holds at most `fds` descriptors (sessions end asynchronously).
fn settles_to(pid: u32, fds: usize) -> bool {
    wait_until(|| open_fds(pid) <= fds)
}

#[test]
fn an_oversized_packet_ends_only_its_own_session() {
    let d = dump();
    let mut server = Server::start(&d.path, &["--packet-size", "4096"]);
    let mut bad = Client::connect(&server.addr);
    let mut huge = vec![b'$'];
    huge.extend(std::iter::repeat_n(b'm', 1 << 20));
    huge.extend_from_slice(b"#00");
    // The server may close while we are still writing: that is the point.
    let _ = bad.send_raw(&huge);
    assert!(bad.closed(), "session kept");
    assert!(server.alive());
    healthy_session(&server.addr, &d);
    assert!(
        server.wait_for_log("oversized packet", 1),
        "{}",
        server.log()
    );
}

#[test]
fn a_bad_checksum_is_nacked_and_the_session_goes_on() {
    let d = dump();
    let mut server = Server::start(&d.path, &[]);
    let mut c = Client::connect(&server.addr);
    assert!(c.ask("qSupported:multiprocess+").contains("PacketSize"));
    // Wrong checksum, then checksum digits that are not hex: each is nacked.
    for bad in [&b"+$g#00"[..], b"$g#+7", b"$g#zz"] {
        c.send_raw(bad).unwrap();
        let mut nak = [0u8; 1];
        c.s.read_exact(&mut nak).unwrap();
        assert_eq!(&nak, b"-", "after {:?}", String::from_utf8_lossy(bad));
    }
    // gdb would resend; the session is still there.
    check_g(&mut c, &d, 0);
    assert!(server.alive());
    healthy_session(&server.addr, &d);
}

#[test]
fn noise_between_packets_is_skipped_without_buffering_it() {
    let d = dump();
    let mut server = Server::start(&d.path, &[]);
    let pid = server.pid();
    let before = rss_kib(pid);
    let mut c = Client::connect(&server.addr);
    assert!(c.ask("qSupported:multiprocess+").contains("PacketSize"));
    // 16 MiB of bytes that never start a packet (naks among them), then a real packet.
    let mut junk = vec![b'x'; 1 << 20];
    junk[100] = b'-';
    junk[200] = b'#';
    for _ in 0..16 {
        c.send_raw(&junk).unwrap();
    }
    check_g(&mut c, &d, 0);
    let after = rss_kib(pid);
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB on noise"
    );
    assert!(server.alive());
}

#[test]
fn endless_qxfer_paging_gets_bounded_answers() {
    let d = dump();
    let mut server = Server::start(&d.path, &[]);
    let pid = server.pid();
    let mut c = Client::connect(&server.addr);
    c.ask("qSupported:xmlRegisters=i386");
    // Read the whole description the way gdb pages it.
    let mut xml = String::new();
    loop {
        let r = c.ask(&format!(
            "qXfer:features:read:target.xml:{:x},200",
            xml.len()
        ));
        let (kind, data) = r.split_at(1);
        xml.push_str(data);
        if kind == "l" {
            break;
        }
        assert_eq!(kind, "m", "reply {r:?}");
        assert!(xml.len() < 1 << 20, "target.xml never ends");
    }
    assert!(xml.contains("<target"), "{xml}");
    let rss_before = rss_kib(pid);
    // Now keep paging past the end, at absurd offsets and lengths, 20,000 times: each
    // request answered (a hang would stop at a read), none with data.
    let offsets = [
        xml.len() as u64,
        xml.len() as u64 + 1,
        1 << 32,
        u64::MAX - 1,
        u64::MAX,
    ];
    let lengths = [0u64, 1, 0x200, 0xffff_ffff, u64::MAX];
    for i in 0..20_000usize {
        let off = offsets[i % offsets.len()];
        let len = lengths[(i / offsets.len()) % lengths.len()];
        let r = c.ask(&format!("qXfer:features:read:target.xml:{off:x},{len:x}"));
        assert!(
            r == "l" || r.starts_with('E') || r.is_empty(),
            "offset {off:#x} len {len:#x}: {r:?}"
        );
    }
    let rss_after = rss_kib(pid);
    assert!(
        rss_after < rss_before + 8 * 1024,
        "RSS {rss_before} -> {rss_after} KiB"
    );
    assert!(server.alive());
    healthy_session(&server.addr, &d);
}

#[test]
fn sixty_four_simultaneous_sessions_open_and_close_cleanly() {
    let d = dump();
    let mut server = Server::start(&d.path, &[]);
    let pid = server.pid();
    let baseline = open_fds(pid);
    let addr = server.addr.clone();
    for _round in 0..3 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(64));
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let addr = addr.clone();
                let barrier = barrier.clone();
                let banner_va = d.guest.facts.banner_va;
                let want_g = g_prefix(&d.guest.image.expected_states()[i % 2]);
                std::thread::spawn(move || {
                    let mut c = Client::connect(&addr);
                    // All 64 connected at once before anyone talks.
                    barrier.wait();
                    assert!(c.ask("qSupported:multiprocess+").contains("PacketSize"));
                    c.ask(&format!("Hgp1.{}", i % 2 + 1));
                    let g = c.ask("g");
                    assert!(g.starts_with(&want_g), "vCPU {}: {g}", i % 2);
                    assert_eq!(c.ask(&format!("m{banner_va:x},5")), "4c696e7578");
                    if i % 2 == 0 {
                        assert_eq!(c.ask("D"), "OK");
                    }
                    // Odd ones just hang up.
                })
            })
            .collect();
        for h in handles {
            h.join().expect("client thread");
        }
        assert!(server.alive());
        assert!(
            settles_to(pid, baseline),
            "{} descriptors open after the round, {baseline} before",
            open_fds(pid)
        );
    }
    healthy_session(&server.addr, &d);
}

/// The whole target description (several KiB of text that run-length encoding cannot
/// shrink), asked for over and over by a client that never reads a reply.
fn stuck_request() -> Vec<u8> {
    let mut req = b"+".to_vec();
    req.extend(packet(b"qXfer:features:read:target.xml:0,fff0"));
    req
}

#[test]
fn others_are_served_while_a_client_stops_reading() {
    let d = dump();
    // A write timeout no test run reaches: the stuck session stays stuck throughout.
    let mut server = Server::start(&d.path, &["--write-timeout", "3600"]);
    let pid = server.pid();
    let mut stuck = Client::connect(&server.addr);
    assert!(stuck.ask("qSupported:multiprocess+").contains("PacketSize"));
    assert!(flood_until_stuck(&mut stuck, &stuck_request()));
    // The server is now blocked writing to `stuck`: others are served meanwhile.
    for _ in 0..5 {
        healthy_session(&server.addr, &d);
    }
    let rss = rss_kib(pid);
    assert!(rss < 256 * 1024, "server RSS {rss} KiB with a stuck client");
    // And `stuck` was stuck all along: still, and not dropped.
    assert!(server_stuck_on(&stuck), "the stuck session got unstuck");
    assert!(!server.log().contains("client stopped reading"));
    assert!(server.alive());
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let d = dump();
    let mut server = Server::start(&d.path, &["--write-timeout", "1", "--packet-size", "65536"]);
    let pid = server.pid();
    let baseline = open_fds(pid);
    let mut stuck = Client::connect(&server.addr);
    assert!(stuck.ask("qSupported:multiprocess+").contains("PacketSize"));
    // Stuck, or already dropped if the timeout came first.
    flood_until_stuck(&mut stuck, &stuck_request());
    assert!(
        server.wait_for_log("client stopped reading", 1),
        "{}",
        server.log()
    );
    drop(stuck);
    assert!(settles_to(pid, baseline), "descriptors leaked");
    assert!(server.alive());
    healthy_session(&server.addr, &d);
}

#[test]
#[ignore = "soak: scripts/soak.sh runs it in release and reports the figures"]
fn soak_10k_sessions() {
    let d = dump();
    let server = Server::start(&d.path, &[]);
    let pid = server.pid();
    let addr = server.addr.clone();
    // Warm up (allocator, runtime threads, mfn index) before the first figure.
    for _ in 0..100 {
        healthy_session(&addr, &d);
    }
    let (rss0, fds0, thr0) = (rss_kib(pid), open_fds(pid), threads(pid));
    println!("soak: after 100 warm-up sessions: RSS {rss0} KiB, {fds0} fds, {thr0} threads");
    let t = Instant::now();
    let per_thread = 1250;
    let mut checkpoints = Vec::new();
    for round in 0..2 {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let addr = addr.clone();
                let d2 = (d.guest.facts.banner_va, d.guest.facts.banner);
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        let mut c = Client::connect(&addr);
                        assert!(c.ask("qSupported:multiprocess+").contains("PacketSize"));
                        c.ask("g");
                        let m = c.ask(&format!("m{:x},10", d2.0));
                        assert!(m.starts_with("4c696e7578"), "{m}");
                        if i % 2 == 0 {
                            c.ask("D");
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let done = (round + 1) * 4 * per_thread;
        settles_to(pid, fds0);
        let figures = (done, rss_kib(pid), open_fds(pid), threads(pid));
        println!(
            "soak: after {} sessions: RSS {} KiB, {} fds, {} threads ({:?})",
            figures.0,
            figures.1,
            figures.2,
            figures.3,
            t.elapsed()
        );
        checkpoints.push(figures);
    }
    let (_, rss_end, fds_end, _) = checkpoints[1];
    let (_, rss_mid, _, _) = checkpoints[0];
    println!(
        "soak: 10000 sessions in {:?}; RSS {rss0} -> {rss_mid} -> {rss_end} KiB; fds {fds0} -> {fds_end}",
        t.elapsed()
    );
    assert!(fds_end <= fds0, "descriptors leaked: {fds0} -> {fds_end}");
    assert!(
        rss_end < rss_mid + 4 * 1024,
        "RSS still growing between 5k and 10k sessions: {rss_mid} -> {rss_end} KiB"
    );
}

#[test]
fn connections_past_max_sessions_are_closed_and_slots_come_back() {
    let d = dump();
    let mut server = Server::start(&d.path, &["--max-sessions", "2"]);
    let mut a = Client::connect(&server.addr);
    let mut b = Client::connect(&server.addr);
    assert!(a.ask("qSupported:multiprocess+").contains("PacketSize"));
    assert!(b.ask("qSupported:multiprocess+").contains("PacketSize"));
    let mut c = Client::connect(&server.addr);
    assert!(c.closed(), "third session served");
    assert!(server.wait_for_log("--max-sessions", 1), "{}", server.log());
    // A and B are unaffected; when one leaves, a new client gets its slot.
    check_g(&mut a, &d, 0);
    assert_eq!(b.ask("D"), "OK");
    drop(b);
    assert!(
        server.wait_for_log("gdb disconnected", 1),
        "{}",
        server.log()
    );
    // The slot is released as the session's task ends, just after that line: a
    // connection in between is refused, so try until one is served.
    let deadline = Instant::now() + HANG;
    loop {
        let mut n = Client::connect(&server.addr);
        n.send_raw(&packet(b"qSupported:multiprocess+")).unwrap();
        if n.reply().is_ok_and(|r| r.contains("PacketSize")) {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot never came back");
    }
    assert!(server.alive());
}

/// Undo binary escapes, refusing the bytes that may never appear unescaped in a reply.
fn unescape_binary(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut it = body.iter();
    while let Some(&b) = it.next() {
        assert!(!matches!(b, b'#' | b'$' | b'*'), "unescaped {b:#04x}");
        out.push(if b == b'}' {
            it.next().unwrap() ^ 0x20
        } else {
            b
        });
    }
    out
}

#[test]
fn front_end_packets_over_tcp_and_malformed_ones_keep_the_session() {
    use xendump_gdbserver::addr::VirtAddr;
    use xendump_gdbserver::builder::scenario::Scenario;

    // Every byte value, then runs a run-length encoder would shorten, in a data page.
    let mut data: Vec<u8> = (0..=255).collect();
    data.extend([b'*'; 40]);
    data.extend([0u8; 100]);
    data.extend([b'#'; 10]);
    let mut s = Scenario::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
    let va = s.facts.data_va + 4096 + 16;
    let (frame, off) = s.lookup(0, VirtAddr(va)).unwrap();
    let pfn = s.pfn_of_table_frame(frame).unwrap();
    s.image.write_bytes(pfn, off, &data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guest.core");
    s.image
        .write_file(&path, &DumpOptions::elf(Width::Bits64))
        .unwrap();
    let mut server = Server::start(&path, &[]);
    let mut c = Client::connect(&server.addr);

    let sup = c.ask("qSupported:multiprocess+;swbreak+;xmlRegisters=i386");
    assert!(sup.split(';').any(|f| f == "binary-upload+"), "{sup}");
    // gdb >= 16's binary read: 'b', escaped bytes, no run-length encoding.
    let body = c.ask_raw(&format!("x{va:x},{:x}", data.len()));
    assert_eq!(body[0], b'b');
    assert_eq!(unescape_binary(&body[1..]), data);
    assert_eq!(body.len(), 1 + data.len() + 4 + 40 + 10);
    assert_eq!(c.ask(&format!("x{:x},8", s.facts.unmapped_va)), "E0e");

    assert_eq!(c.ask("Qqemu.sstepbits"), "ENABLE=1,NOIRQ=2,NOTIMER=4");
    assert_eq!(c.ask("qOffsets"), "");
    assert_eq!(c.ask("Qqemu.sstep=7"), "OK");
    assert_eq!(c.ask("Qqemu.PhyMemMode:1"), "OK");
    assert_eq!(c.ask("qqemu.PhyMemMode"), "1");
    let phys = c.ask(&format!("m{:x},5", s.facts.banner_pa));
    assert_eq!(phys, "4c696e7578", "Linux, read physically");
    assert_eq!(c.ask("Qqemu.PhyMemMode:0"), "OK");
    assert!(c.ask("qHostInfo").starts_with("triple:"));
    assert!(c.ask("qProcessInfo").starts_with("pid:1;triple:"));
    assert!(c
        .ask("qGDBServerVersion")
        .starts_with("name:xendump-gdbserver;"));
    assert_eq!(c.ask("QThreadSuffixSupported"), "OK");
    assert!(c.ask("g;thread:0002;").len() >= 16 * 16);

    // Malformed arguments: an error reply each, the session stays.
    for bad in [
        "x",
        "xzz,1",
        "x1,",
        "x,",
        "x99999999999999999,1",
        "Qqemu.sstep=",
        "Qqemu.sstep=zz",
        "Qqemu.PhyMemMode:",
        "Qqemu.PhyMemMode:x",
        "g;thread:",
        "p10;thread:zz;",
        "g;thread:0;",
    ] {
        assert_eq!(c.ask(bad), "E16", "{bad}");
    }
    // Monitor commands with nonsense arguments answer text, never a closed session.
    for cmd in [
        "info mem",
        "info registers",
        "info nonsense",
        "xp /zz 0",
        "xp",
        "xp /99999999xg 0",
        "gva2gpa",
        "gva2gpa zz",
        "halt",
        "reset",
    ] {
        let hex: String = cmd.bytes().map(|b| format!("{b:02x}")).collect();
        c.send_raw(b"+").unwrap();
        c.send_raw(&packet(format!("qRcmd,{hex}").as_bytes()))
            .unwrap();
        // O packets, then OK.
        loop {
            let r = c.reply().unwrap_or_else(|e| panic!("monitor {cmd}: {e}"));
            if r == "OK" {
                break;
            }
            assert!(r.starts_with('O'), "monitor {cmd}: {r}");
        }
    }
    assert!(c.ask("g").len() >= 16 * 16);
    assert!(server.alive());
}
