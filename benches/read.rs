//! Guest memory reads in-process, on a mapped (mmap) dump of a PV guest whose 64 MiB of
//! kernel memory is mapped with 4 KiB pages to machine frames scattered in 2 MiB chunks:
//!
//! * `bulk_read`: the whole 64 MiB read in gdb-sized 32 KiB chunks through
//!   `Guest::read` (with the per-session translation cache, and with it disabled), next
//!   to a plain copy of the same bytes out of the same mapping. Issue 3 goal: ≥ 50%.
//! * `random_read`: 100k random 8-byte reads of mapped addresses, round-robin over
//!   three vCPUs with their own page tables, with and without the cache, next to the
//!   same reads straight from the file (the memory-latency floor).
//!
//! After criterion's own report, a summary prints the ratios from its estimates.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use xendump_gdbserver::addr::{GuestFrame, PageIndex, PAGE_SIZE};
use xendump_gdbserver::builder::large::{LargeGuest, LargeImage, MAPPED_PFN};
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, XenDump};
use xendump_gdbserver::memory::{Guest, GuestOptions, TranslationCache, Via, CACHE_SLOTS};

const MAPPED_PAGES: u64 = 16_384; // 64 MiB
const CHUNK: usize = 32 * 1024; // what gdb asks for with a 64 KiB packet size
const RANDOM_READS: usize = 100_000;
const VCPUS: usize = 3;

struct Fixture {
    guest: Guest,
    built: LargeImage,
    /// File offset of the first mapped page's bytes (pages are stored by ascending pfn).
    plain_first: PageIndex,
    random: Vec<(usize, u64)>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let built = LargeGuest {
        kind: GuestKind::Pv,
        ram_pages: MAPPED_PFN + MAPPED_PAGES + 0x100,
        mfn_chunk: 512,
        mapped_pages: MAPPED_PAGES,
        vcpus: VCPUS,
    }
    .build()
    .expect("benchmark guest");
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bench.core");
    built
        .image
        .write_file(&path, &DumpOptions::default())
        .expect("write dump");
    let dump = XenDump::open(&path).expect("open dump");
    let first = dump
        .page_of_pfn(GuestFrame(MAPPED_PFN))
        .expect("mapped pfn in the dump");
    let plain_first = first;
    let guest = Guest::new(dump, GuestOptions::default()).expect("guest");
    // xorshift: reproducible addresses spread over the whole mapping, 8-byte aligned.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let random = (0..RANDOM_READS)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (i % VCPUS, built.mapped_va + (x % built.mapped_len) / 8 * 8)
        })
        .collect();
    Fixture {
        guest,
        built,
        plain_first,
        random,
        _dir: dir,
    }
}

fn check_reads(f: &Fixture) {
    // The benchmark only means something if the reads return the right bytes.
    let mut cache = TranslationCache::default();
    let mut got = vec![0u8; CHUNK];
    let mut want = vec![0u8; CHUNK];
    for va in [
        f.built.mapped_va,
        f.built.mapped_va + f.built.mapped_len - CHUNK as u64,
    ] {
        let n = f.guest.read(
            &mut cache,
            Via::Virtual(f.guest.vcpu_space(1).unwrap()),
            va,
            &mut got,
        );
        f.built.expected(va, &mut want).expect("inside the mapping");
        assert!(n == CHUNK && got == want, "wrong bytes at {va:#x}");
    }
    let plain = f
        .guest
        .dump()
        .page_span(f.plain_first, f.built.mapped_len / PAGE_SIZE)
        .expect("mapped pages in the file");
    f.built
        .expected(f.built.mapped_va, &mut want)
        .expect("inside the mapping");
    assert_eq!(&plain[..CHUNK], &want[..]);
}

fn bulk(f: &Fixture, cache: &mut TranslationCache, buf: &mut [u8]) -> usize {
    let mut total = 0;
    let mut va = f.built.mapped_va;
    while va < f.built.mapped_va + f.built.mapped_len {
        total += f
            .guest
            .read(cache, Via::Virtual(f.guest.vcpu_space(0).unwrap()), va, buf);
        black_box(&buf);
        va += CHUNK as u64;
    }
    total
}

fn random(f: &Fixture, cache: &mut TranslationCache) -> u64 {
    let mut sum = 0u64;
    let mut word = [0u8; 8];
    for &(slot, va) in &f.random {
        f.guest.read(
            cache,
            Via::Virtual(f.guest.vcpu_space(slot).unwrap()),
            va,
            &mut word,
        );
        sum = sum.wrapping_add(u64::from_le_bytes(word));
    }
    sum
}

fn bench_read(c: &mut Criterion) {
    let f = fixture();
    check_reads(&f);
    let len = f.built.mapped_len as usize;
    let mut buf = vec![0u8; CHUNK];

    let mut group = c.benchmark_group("bulk_read");
    group.throughput(Throughput::Bytes(len as u64));
    let src = f
        .guest
        .dump()
        .page_span(f.plain_first, len as u64 / PAGE_SIZE)
        .expect("mapped pages in the file");
    group.bench_function("plain_copy", |b| {
        b.iter(|| {
            for chunk in src.chunks(CHUNK) {
                buf[..chunk.len()].copy_from_slice(chunk);
                black_box(&buf);
            }
        })
    });
    let mut cache = TranslationCache::new(CACHE_SLOTS);
    group.bench_function("guest_read_cached", |b| {
        b.iter(|| assert_eq!(bulk(&f, &mut cache, &mut buf), len))
    });
    let mut cache = TranslationCache::disabled();
    group.bench_function("guest_read_uncached", |b| {
        b.iter(|| assert_eq!(bulk(&f, &mut cache, &mut buf), len))
    });
    group.finish();

    let mut group = c.benchmark_group("random_read");
    group.throughput(Throughput::Elements(RANDOM_READS as u64));
    // The floor: the same 8-byte reads straight from the file offsets of their pages.
    let offsets: Vec<usize> = f
        .random
        .iter()
        .map(|&(_, va)| (va - f.built.mapped_va) as usize)
        .collect();
    group.bench_function("plain", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for &off in &offsets {
                let mut word = [0u8; 8];
                word.copy_from_slice(&src[off..off + 8]);
                sum = sum.wrapping_add(u64::from_le_bytes(word));
            }
            black_box(sum)
        })
    });
    let mut cache = TranslationCache::new(CACHE_SLOTS);
    group.bench_function("cached", |b| b.iter(|| random(&f, &mut cache)));
    let hits = cache.stats();
    let mut cache = TranslationCache::disabled();
    group.bench_function("uncached", |b| b.iter(|| random(&f, &mut cache)));
    group.finish();
    let lookups = (hits.hits + hits.misses).max(1) as f64;
    println!(
        "random_read/cached: {:.1}% of lookups hit the first level ({} slots), {:.1}% more a remembered last-level table",
        hits.hits as f64 * 100.0 / lookups,
        CACHE_SLOTS,
        hits.table_hits as f64 * 100.0 / lookups,
    );
}

/// Mean time per iteration from criterion's saved estimates, in nanoseconds.
fn mean_ns(group: &str, name: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    let path = Path::new(&dir)
        .join("criterion")
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn summary() {
    let mib = (MAPPED_PAGES * 4096) as f64 / (1024.0 * 1024.0);
    let row = |name: &str| {
        let ns = mean_ns("bulk_read", name);
        (ns, ns.map(|ns| mib / (ns * 1e-9)))
    };
    let (plain, plain_bw) = row("plain_copy");
    println!("\nsummary (from criterion's mean estimates)");
    println!("  bulk read of {mib} MiB in {} KiB chunks:", CHUNK / 1024);
    for name in ["plain_copy", "guest_read_cached", "guest_read_uncached"] {
        let (ns, bw) = row(name);
        let ratio = match (ns, plain) {
            (Some(ns), Some(p)) => format!("{:5.1}% of plain copy", p / ns * 100.0),
            _ => "n/a".into(),
        };
        match bw {
            Some(bw) => println!("    {name:<22} {bw:9.0} MiB/s  {ratio}"),
            None => println!("    {name:<22} (no estimate)"),
        }
    }
    if plain_bw.is_none() {
        println!("    (run without a filter to measure every row)");
    }
    println!("  {RANDOM_READS} random 8-byte reads over {VCPUS} vCPUs:");
    for name in ["plain", "cached", "uncached"] {
        match mean_ns("random_read", name) {
            Some(ns) => println!(
                "    {name:<22} {:9.2} M reads/s  ({:.0} ns/read)",
                RANDOM_READS as f64 / (ns * 1e-9) / 1e6,
                ns / RANDOM_READS as f64
            ),
            None => println!("    {name:<22} (no estimate)"),
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_read
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes --bench; under `cargo test` each benchmark runs once
    // unmeasured, and the saved estimates would be stale.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
