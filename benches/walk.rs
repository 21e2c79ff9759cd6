//! Translations per second through a 4-level table built by the page-table builder:
//! uncached walks (4 KiB and 2 MiB leaves) and cache hits/misses.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xendump_gdbserver::addr::VirtAddr;
use xendump_gdbserver::builder::pagetable::{EntryFlags, PageTableBuilder};
use xendump_gdbserver::memory::{walk, PageSize, PagingMode, TranslationCache};

const BASE_4K: u64 = 0xFFFF_8880_0000_0000;
const BASE_2M: u64 = 0xFFFF_C900_0000_0000;
const PAGES_4K: u64 = 16_384; // 64 MiB
const PAGES_2M: u64 = 64; // 128 MiB
const QUERIES: u64 = 4096;

/// `n` addresses spread over `pages` pages of `size` from `base`, in a scrambled order
/// so that consecutive queries rarely share a page.
fn addresses(base: u64, size: PageSize, pages: u64, n: u64) -> Vec<VirtAddr> {
    (0..n)
        .map(|i| {
            let page = i.wrapping_mul(0x9E37_79B9) % pages;
            VirtAddr(base + page * size.bytes() + (i * 8) % size.bytes())
        })
        .collect()
}

fn bench_walk(c: &mut Criterion) {
    let mut builder = PageTableBuilder::new(PagingMode::FourLevel);
    let rw = EntryFlags {
        writable: true,
        no_execute: true,
        ..EntryFlags::default()
    };
    builder
        .map(VirtAddr(BASE_4K), 0x10_0000, PageSize::Size4K, PAGES_4K, rw)
        .and_then(|b| b.map(VirtAddr(BASE_2M), 0x20_0000, PageSize::Size2M, PAGES_2M, rw))
        .expect("valid benchmark mappings");
    let mut next_table = 0x1000;
    let built = builder
        .build(|| {
            next_table += 1;
            next_table
        })
        .expect("benchmark tables");
    let root = built.root;
    let tables = built.into_map();
    let mode = PagingMode::FourLevel;

    let small = addresses(BASE_4K, PageSize::Size4K, PAGES_4K, QUERIES);
    let large = addresses(BASE_2M, PageSize::Size2M, PAGES_2M, QUERIES);
    // A working set of 1024 pages fits a 4096-slot cache; 16384 pages do not.
    let hot = addresses(BASE_4K, PageSize::Size4K, 1024, QUERIES);

    let mut group = c.benchmark_group("translate");
    group.throughput(Throughput::Elements(QUERIES));
    group.bench_function("uncached_4k", |b| {
        b.iter(|| {
            for &va in &small {
                black_box(walk(&tables, mode, root, va).map(|t| t.frame).ok());
            }
        })
    });
    group.bench_function("uncached_2m", |b| {
        b.iter(|| {
            for &va in &large {
                black_box(walk(&tables, mode, root, va).map(|t| t.frame).ok());
            }
        })
    });
    let mut cache = TranslationCache::new(4096);
    group.bench_function("cached_hits", |b| {
        b.iter(|| {
            for &va in &hot {
                black_box(
                    cache
                        .translate(&tables, mode, root, va)
                        .map(|t| t.frame)
                        .ok(),
                );
            }
        })
    });
    // 64 slots: query i and i + 64 share a slot but not a page, so every lookup misses
    // the first level; the 8 last-level-table slots remember some of the 32 PT regions,
    // so this measures walks and one-table reads plus the cache's bookkeeping.
    let mut cache = TranslationCache::new(64);
    group.bench_function("cached_all_misses", |b| {
        b.iter(|| {
            for &va in &small {
                black_box(
                    cache
                        .translate(&tables, mode, root, va)
                        .map(|t| t.frame)
                        .ok(),
                );
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_walk
}
criterion_main!(benches);
