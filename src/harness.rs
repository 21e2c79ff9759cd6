//! Entry points for the fuzz targets (`fuzz/`) and their regression tests.
//!
//! Each function takes arbitrary bytes and must return without panicking, hanging or
//! allocating without bound, whatever the bytes are. The fuzz targets call them; so does
//! `tests/fuzz_regressions.rs`, on every input that once crashed one of them, so a fixed
//! finding stays fixed. Each returns what it got to ([`OpenReport`], [`ReadReport`], the
//! replies), so that a test can tell a harness that ran from one that gave up at once.
//! The input encodings are documented on each function and produced for seeds by
//! `examples/make-fuzz-seeds.rs`; [`micro_seeds`] are the small ones kept as regression
//! inputs.

use std::sync::{Arc, OnceLock};

use crate::addr::VirtAddr;
use crate::builder::tiny::{MicroGuest, TinyGuest};
use crate::builder::DumpOptions;
use crate::dump::{GuestKind, Width, XenDump};
use crate::gdb::monitor::{run_command, Context};
use crate::gdb::session::{AnySession, SessionConfig, SessionStatus, OUTPUT_HIGH_WATER};
use crate::gdb::target::ReadSettings;
use crate::memory::{
    Guest, GuestOptions, PagingMode, PagingOverride, TranslationCache, Via, CACHE_SLOTS,
};
use crate::summary::Summary;
use crate::threads::{Debuggee, ThreadId};

/// A packet with a correct checksum around `body` (the codec's, re-exported for tests).
pub use crate::gdb::rsp::packet;

/// Longest read one [`read_memory`] operation asks for.
pub const MAX_READ: usize = 16 * 1024;
/// Bytes of one [`read_memory`] operation.
pub const OP_SIZE: usize = 12;
/// Most operations one [`read_memory`] input holds.
pub const MAX_OPS: usize = 8;

/// What [`open_dump`] got to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Pages in the dump, if the bytes opened as one.
    pub pages: Option<u64>,
    /// vCPU contexts decoded.
    pub vcpus: usize,
    /// The `info` summary, if the guest model could be built.
    pub summary: Option<String>,
}

/// Open a dump from arbitrary bytes and use everything the server uses at start-up:
/// the guest model, the summary (`info`), the first pages and frame lookups.
pub fn open_dump(data: &[u8]) -> OpenReport {
    let mut report = OpenReport::default();
    let Ok(dump) = XenDump::from_bytes(data.to_vec()) else {
        return report;
    };
    report.pages = Some(dump.page_count());
    report.vcpus = dump.vcpus().len();
    for i in [0, 1, dump.page_count().saturating_sub(1)] {
        let _ = dump.page(crate::addr::PageIndex(i));
        if let Some(pfn) = dump.pfn_of(crate::addr::PageIndex(i)) {
            let _ = dump.pfn_to_mfn(pfn);
        }
        if let Some(mfn) = dump.mfn_of(crate::addr::PageIndex(i)) {
            let _ = dump.mfn_to_pfn(mfn);
        }
    }
    let _ = dump.shared_info();
    if let Ok(guest) = Guest::new(dump, GuestOptions::default()) {
        report.summary = Some(Summary::of(&guest).to_string());
    }
    report
}

/// What [`open_stream`] got to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// Pages served, if the bytes opened as a saved image.
    pub pages: Option<u64>,
    /// vCPU ids whose registers the image holds.
    pub registers: Vec<u32>,
    /// CHECKPOINT records read.
    pub checkpoints: u64,
    /// The first 64 bytes of every page served, in pfn order (at most 64 pages).
    pub first_bytes: Vec<(u64, Vec<u8>)>,
    /// The `info` summary, if the guest model could be built.
    pub summary: Option<String>,
    /// Bytes of the vmcore `convert` wrote, if it could.
    pub vmcore: Option<u64>,
}

/// Fixed libxc image and domain headers for [`open_stream`]'s record modes: stream
/// version 3, x86 PV (1) or HVM (2), 4 KiB pages, Xen 4.17.
pub fn libxc_headers(domain_type: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(40);
    h.extend_from_slice(&u64::MAX.to_le_bytes());
    h.extend_from_slice(b"XENF");
    h.extend_from_slice(&3u32.to_be_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&domain_type.to_le_bytes());
    h.extend_from_slice(&12u16.to_le_bytes());
    h.extend_from_slice(&[0; 2]);
    h.extend_from_slice(&4u32.to_le_bytes());
    h.extend_from_slice(&17u32.to_le_bytes());
    h
}

/// Open arbitrary bytes as a saved domain and use all of it: every page (by pfn, then
/// read), every vCPU record, the guest model and summary, and `convert`.
///
/// Input: one mode byte, then the rest. Mode 1 or 2: the rest is libxc records, put
/// after [`libxc_headers`] of a PV (1) or HVM (2) stream, so the fuzzer works on the
/// records; any other mode: the rest is the whole file (an xl image, a libxl or libxc
/// stream, or anything else).
pub fn open_stream(data: &[u8]) -> StreamReport {
    let mut report = StreamReport::default();
    let Some((&mode, rest)) = data.split_first() else {
        return report;
    };
    let bytes = match mode {
        1 | 2 => {
            let mut b = libxc_headers(u32::from(mode));
            b.extend_from_slice(rest);
            b
        }
        _ => rest.to_vec(),
    };
    let Ok(dump) = XenDump::from_bytes(bytes) else {
        return report;
    };
    let Some(saved) = dump.saved_image() else {
        return report;
    };
    report.pages = Some(dump.valid_page_count());
    report.registers = saved.vcpus_saved.clone();
    report.checkpoints = saved.checkpoints;
    for i in 0..dump.valid_page_count().min(64) {
        let index = crate::addr::PageIndex(i);
        let Some(pfn) = dump.pfn_of(index) else {
            continue;
        };
        assert_eq!(dump.page_of_pfn(pfn), Some(index), "pfn lookups disagree");
        if let Ok(page) = dump.page(index) {
            report.first_bytes.push((pfn.0, page[..64].to_vec()));
        }
        let mut b = [0u8; 8];
        let _ = dump.read_page(index, 4088, &mut b);
        let _ = dump.page_span(index, 8);
    }
    for slot in 0..dump.vcpus().len() {
        let _ = dump.raw_context(slot);
        let _ = dump.descriptor_tables(slot);
    }
    let _ = dump.shared_info();
    if let Ok(guest) = Guest::new(dump, GuestOptions::default()) {
        report.summary = Some(Summary::of(&guest).to_string());
        use crate::convert::{write_vmcore, ConvertOptions, NoProgress, Plan};
        if let Ok(plan) = Plan::new(&guest, &ConvertOptions::default()) {
            let mut out = std::io::Cursor::new(Vec::new());
            if write_vmcore(&guest, &plan, &mut out, &mut NoProgress).is_ok() {
                report.vmcore = Some(out.into_inner().len() as u64);
            }
        }
    }
    report
}

/// What [`read_memory`] got to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// The dump opened and the guest model was built.
    pub guest: bool,
    /// For each operation, the bytes its first read returned (the readable prefix).
    pub reads: Vec<Vec<u8>>,
}

/// One memory operation of a [`read_memory`] input, as encoded there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOp {
    /// 0 virtual, 1 physical, 2 machine (taken modulo 3).
    pub view: u8,
    /// vCPU slot (may be out of range on purpose).
    pub slot: u8,
    /// Bytes to read (capped at [`MAX_READ`]).
    pub len: u16,
    /// Start address.
    pub addr: u64,
}

impl ReadOp {
    /// The 12-byte encoding: view, slot, len (LE u16), addr (LE u64).
    pub fn encode(&self) -> [u8; OP_SIZE] {
        let mut b = [0u8; OP_SIZE];
        b[0] = self.view;
        b[1] = self.slot;
        b[2..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..12].copy_from_slice(&self.addr.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> ReadOp {
        let mut op = [0u8; OP_SIZE];
        op[..b.len().min(OP_SIZE)].copy_from_slice(&b[..b.len().min(OP_SIZE)]);
        ReadOp {
            view: op[0],
            slot: op[1],
            len: u16::from_le_bytes([op[2], op[3]]),
            addr: u64::from_le_bytes(op[4..12].try_into().unwrap_or([0; 8])),
        }
    }
}

/// Encode a [`read_memory`] input: the operations, then the dump.
pub fn encode_read_input(ops: &[ReadOp], dump: &[u8]) -> Vec<u8> {
    let ops = &ops[..ops.len().min(MAX_OPS)];
    let mut v = vec![ops.len() as u8];
    for op in ops {
        v.extend_from_slice(&op.encode());
    }
    v.extend_from_slice(dump);
    v
}

/// Translate and read arbitrary addresses in an arbitrary dump.
///
/// Input: one byte `n` (operations, modulo [`MAX_OPS`] + 1), `n` [`ReadOp`]s of
/// [`OP_SIZE`] bytes, then the dump. The paging mode is forced from the count byte's high
/// bits so every walker runs on fuzzed tables. Each operation reads through the
/// cache, reads again (a cache hit must give the same answer), walks the page tables
/// without the cache and runs `monitor translate` and `monitor p2m/m2p` on it.
pub fn read_memory(data: &[u8]) -> ReadReport {
    let mut report = ReadReport::default();
    let Some((&head, rest)) = data.split_first() else {
        return report;
    };
    let n = usize::from(head & 0x0f) % (MAX_OPS + 1);
    let ops_len = (n * OP_SIZE).min(rest.len());
    let (ops, dump) = rest.split_at(ops_len);
    let Ok(dump) = XenDump::from_bytes(dump.to_vec()) else {
        return report;
    };
    let paging = match head >> 4 {
        1 => Some(PagingOverride::NoPaging),
        2 => Some(PagingOverride::TwoLevel),
        3 => Some(PagingOverride::Pae),
        4 => Some(PagingOverride::FourLevel),
        5 => Some(PagingOverride::FiveLevel),
        _ => None,
    };
    let Ok(guest) = Guest::new(
        dump,
        GuestOptions {
            paging,
            ..GuestOptions::default()
        },
    ) else {
        return report;
    };
    report.guest = true;
    let debuggee = Debuggee::new(guest);
    let guest = debuggee.guest();
    let mut cache = TranslationCache::new(8);
    let mut buf = vec![0u8; MAX_READ];
    let mut again = vec![0u8; MAX_READ];
    let mut settings = ReadSettings::default();
    let current = debuggee
        .threads()
        .first()
        .unwrap_or(ThreadId::new(1).expect("1"));
    let mut monitor = |line: String| {
        let mut ctx = Context {
            debuggee: &debuggee,
            settings: &mut settings,
            current,
        };
        run_command(&mut ctx, &line)
    };
    for chunk in ops.chunks(OP_SIZE) {
        let op = ReadOp::decode(chunk);
        let slot = usize::from(op.slot);
        let via = match op.view % 3 {
            0 => match guest.vcpu_space(slot) {
                Some(space) => Via::Virtual(space),
                None => {
                    // No such vCPU: nothing is readable through it.
                    report.reads.push(Vec::new());
                    continue;
                }
            },
            1 => Via::Physical,
            _ => Via::Machine,
        };
        let len = usize::from(op.len).min(MAX_READ);
        let first = guest.read(&mut cache, via, op.addr, &mut buf[..len]);
        let second = guest.read(&mut cache, via, op.addr, &mut again[..len]);
        // The cache may not change what a read returns.
        assert_eq!(first, second, "read length changed on a cache hit");
        assert_eq!(
            buf[..first],
            again[..second],
            "bytes changed on a cache hit"
        );
        report.reads.push(buf[..first].to_vec());
        let _ = guest.read_exact(&mut cache, via, op.addr, &mut buf[..len]);
        if let Some(space) = guest.vcpu_space(slot) {
            let _ = guest.translate(space, VirtAddr(op.addr));
        }
        let _ = monitor(format!("translate {:#x} {slot}", op.addr));
        let _ = monitor(format!("p2m {:#x}", op.addr >> 12));
        let _ = monitor(format!("m2p {:#x}", op.addr >> 12));
    }
    let _ = monitor("vcpu".into());
    let _ = monitor("vcpu 0".into());
    report
}

/// The two guests a [`gdb_session`] input can talk to: a 64-bit PV guest and a 32-bit
/// HVM guest (so both register layouts are served), each a tiny builder dump.
pub fn session_guests() -> &'static [Arc<Debuggee>; 2] {
    static GUESTS: OnceLock<[Arc<Debuggee>; 2]> = OnceLock::new();
    GUESTS.get_or_init(|| {
        let make = |kind, mode, tools| {
            let t = TinyGuest::new(kind, mode).expect("tiny guest");
            let bytes = t.image.write(&DumpOptions::elf(tools)).expect("tiny dump");
            let dump = XenDump::from_bytes(bytes).expect("tiny dump opens");
            let guest = Guest::new(dump, GuestOptions::default()).expect("tiny guest model");
            Arc::new(Debuggee::new(guest))
        };
        [
            make(GuestKind::Pv, PagingMode::FourLevel, Width::Bits64),
            make(GuestKind::Hvm, PagingMode::Pae, Width::Bits32),
        ]
    })
}

/// Feed arbitrary bytes to a gdb session over a builder dump, as the TCP server would.
///
/// Input: one mode byte, then the stream. Mode bit 0 set: the stream is split at `\n`
/// and each piece is sent as a packet with a correct checksum (so the fuzzer reaches
/// the command handlers); clear: the stream is sent as it is. Bit 1 picks the guest
/// ([`session_guests`]). Returns the first MiB the server sent back.
pub fn gdb_session(data: &[u8]) -> Vec<u8> {
    let Some((&mode, stream)) = data.split_first() else {
        return Vec::new();
    };
    let guest = session_guests()[usize::from(mode >> 1 & 1)].clone();
    let input: Vec<u8> = if mode & 1 == 1 {
        stream.split(|&b| b == b'\n').flat_map(packet).collect()
    } else {
        stream.to_vec()
    };
    let config = SessionConfig {
        // Small, so oversized packets are cheap to reach.
        packet_size: 4096,
        cache_slots: CACHE_SLOTS,
    };
    let Ok(mut session) = AnySession::new(guest, &config) else {
        return Vec::new();
    };
    let mut sent = Vec::new();
    let mut out = Vec::new();
    let mut rest = &input[..];
    while !rest.is_empty() {
        let Ok((used, status)) = session.feed(rest, &mut out) else {
            break;
        };
        // The high-water mark bounds what one feed buffers: at most one reply past it.
        assert!(
            out.len() <= OUTPUT_HIGH_WATER + 4 * config.packet_size + 4096,
            "session buffered {} bytes of replies",
            out.len()
        );
        // Keep the start of the conversation only: callers look at the first replies.
        let keep = out.len().min((1 << 20) - sent.len().min(1 << 20));
        sent.extend_from_slice(&out[..keep]);
        out.clear();
        if status == SessionStatus::Closed {
            break;
        }
        rest = &rest[used..];
    }
    sent
}

/// Most patches one [`task_walker`] input applies.
pub const MAX_PATCHES: usize = 64;
/// Tasks and reads one [`task_walker`] walk may make at most.
pub const TASK_WALK_LIMITS: (usize, u64) = (256, 1 << 16);

/// The two kernels a [`task_walker`] input corrupts: the builder's made-up 6.1-like
/// kernel with processes, threads and kernel threads, 64-bit and 32-bit.
pub fn task_walker_guests() -> &'static [crate::builder::linux::LinuxGuest; 2] {
    use crate::builder::linux::{synthetic_spec, LinuxGuest};
    static GUESTS: OnceLock<[LinuxGuest; 2]> = OnceLock::new();
    GUESTS.get_or_init(|| {
        let make = |w| LinuxGuest::build(synthetic_spec(GuestKind::Hvm, w)).expect("kernel");
        [make(Width::Bits64), make(Width::Bits32)]
    })
}

/// Corrupt a Linux guest's task memory, then walk its tasks and read every task's
/// saved registers.
///
/// Input: one byte (bit 0: the 32-bit guest of [`task_walker_guests`]), then up to
/// [`MAX_PATCHES`] patches `target, offset (LE u16), len, bytes[len % 33]`: `target`'s
/// low two bits pick a task's `task_struct`, its switch frame, its `signal_struct` or a
/// CPU's per-CPU area, the rest which one; the bytes are written at `offset` in it.
/// The walk must stay within [`TASK_WALK_LIMITS`] and list no task twice.
pub fn task_walker(data: &[u8]) -> TaskWalkReport {
    use crate::os::linux::tasks::{saved_registers, walk_tasks, KernelAddresses, WalkOptions};
    let mut report = TaskWalkReport::default();
    let Some((&head, mut rest)) = data.split_first() else {
        return report;
    };
    let mut g = task_walker_guests()[usize::from(head & 1)].clone();
    for _ in 0..MAX_PATCHES {
        let [target, lo, hi, len, tail @ ..] = rest else {
            break;
        };
        let n = (usize::from(*len) % 33).min(tail.len());
        let (bytes, after) = tail.split_at(n);
        rest = after;
        let f = &g.facts;
        let i = usize::from(target >> 2);
        let base = match target & 3 {
            0 => f.tasks[i % f.tasks.len()].address,
            1 => f.tasks[i % f.tasks.len()].thread_sp,
            2 => f.tasks[i % f.tasks.len()].signal,
            _ => f.per_cpu_area[i % f.per_cpu_area.len()],
        };
        let offset = u64::from(u16::from_le_bytes([*lo, *hi]));
        let _ = g.write_virt(base + offset, bytes);
    }
    let layout = g.spec.layout.clone();
    let p = g.spec.placement;
    let addrs = KernelAddresses {
        init_task: p.init_task,
        per_cpu_offset: Some(p.per_cpu_offset),
        current_task: Some(p.current_task),
    };
    let mut opts = WalkOptions::new(&layout, g.spec.cpus);
    (opts.limits.max_tasks, opts.limits.max_reads) = TASK_WALK_LIMITS;
    let walk = walk_tasks(&g, &layout, &addrs, &opts);
    assert!(walk.tasks.len() <= TASK_WALK_LIMITS.0, "too many tasks");
    assert!(walk.reads <= TASK_WALK_LIMITS.1, "too many reads");
    let mut seen = std::collections::HashSet::new();
    assert!(
        walk.tasks.iter().all(|t| seen.insert(t.address)),
        "a task listed twice"
    );
    report.tasks = walk.tasks.iter().map(|t| t.pid).collect();
    for t in &walk.tasks {
        if saved_registers(&g, &layout, &opts, t).is_ok() {
            report.registers += 1;
        }
    }
    report
}

/// What [`task_walker`] got to: the pids walked, in order, and how many tasks' saved
/// registers were read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskWalkReport {
    /// Pid of every task the walk listed.
    pub tasks: Vec<i32>,
    /// Tasks whose switch frame could be read.
    pub registers: usize,
}

/// Reads of a [`MicroGuest`] dump for [`read_memory`]: the banner through the virtual,
/// physical and machine views, an unmapped address, and a vCPU that does not exist.
pub fn micro_reads(m: &MicroGuest) -> Vec<ReadOp> {
    let f = &m.facts;
    let op = |view, slot, len: usize, addr| ReadOp {
        view,
        slot,
        len: len as u16,
        addr,
    };
    vec![
        op(0, 0, f.banner.len(), f.banner_va),
        op(1, 0, f.banner.len(), f.banner_pa),
        op(2, 0, f.banner.len(), f.banner_ma),
        op(0, 0, 16, f.unmapped_va),
        op(0, 7, 16, f.banner_va),
    ]
}

/// The packets of a short gdb session with [`gdb_session`]'s first guest (a 64-bit PV
/// tiny guest): features, registers, memory at `banner_va` (its banner), a refused
/// write and a `monitor info`, one packet a line (mode byte 1).
pub fn micro_session(banner_va: u64) -> Vec<u8> {
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let lines = [
        "qSupported:multiprocess+;swbreak+;xmlRegisters=i386".to_string(),
        "QStartNoAckMode".into(),
        "qXfer:features:read:target.xml:0,ffb".into(),
        "?".into(),
        "qfThreadInfo".into(),
        "g".into(),
        format!("m{banner_va:x},40"),
        format!("M{banner_va:x},2:4142"),
        format!("qRcmd,{}", hex("info")),
        "D".into(),
    ];
    let mut v = vec![1u8];
    v.extend_from_slice(lines.join("\n").as_bytes());
    v
}

/// The [`open_stream`] seed: the [`MicroGuest`] as an `xl save` image of a Remus stream
/// of two checkpoints, cut in a third (mode byte 0: the whole file).
pub fn micro_stream() -> Vec<u8> {
    use crate::builder::StreamOptions;
    let m = MicroGuest::new().expect("micro guest");
    let mut v = vec![0u8];
    v.extend(
        m.image
            .write_stream(&StreamOptions::checkpointed(2, true))
            .expect("micro stream"),
    );
    v
}

/// Small inputs that reach deep into each harness, kept in `tests/fuzz_regressions/`
/// (`cargo run --example make-fuzz-seeds -- --regressions` writes them there):
/// `(target, name, bytes)`. A [`MicroGuest`] as a current ELF dump (`open_dump`), as
/// a legacy dump behind [`micro_reads`] (`read_memory`) and as a checkpointed saved
/// image ([`micro_stream`], `open_stream`), and [`micro_session`] (`gdb_session`).
pub fn micro_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let m = MicroGuest::new().expect("micro guest");
    let elf = m
        .write(&DumpOptions::elf(Width::Bits32))
        .expect("micro ELF dump");
    let legacy = m
        .write(&DumpOptions::legacy(Width::Bits32))
        .expect("micro legacy dump");
    let tiny = TinyGuest::new(GuestKind::Pv, PagingMode::FourLevel).expect("tiny guest");
    vec![
        ("open_dump", "seed-micro-elf-hvm32", elf),
        (
            "read_memory",
            "seed-micro-legacy-hvm32",
            encode_read_input(&micro_reads(&m), &legacy),
        ),
        (
            "gdb_session",
            "seed-session-pv64",
            micro_session(tiny.facts.banner_va),
        ),
        // The 64-bit made-up kernel, untouched.
        ("task_walker", "seed-kernel64-untouched", vec![0]),
        ("open_stream", "seed-micro-remus-hvm32", micro_stream()),
    ]
}
