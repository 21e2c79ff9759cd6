//! Property tests: the walker against the page-table builder's own mapping list, and
//! against hostile tables made of arbitrary bytes. Expected values come from the
//! builder's own statement of the architecture (`builder::x86`), never from the
//! walker's: every step a walk reports is re-read and re-decoded that way.

use std::collections::HashMap;

use proptest::collection::vec;
use proptest::prelude::*;

use super::paging::{PageSize, PagingMode};
use super::{walk, Root, TableSource, Translation, TranslationCache, WalkError};
use crate::addr::VirtAddr;
use crate::builder::pagetable::{EntryFlags, PageTableBuilder};
use crate::builder::x86;

const ALL_MODES: [PagingMode; 5] = [
    PagingMode::TwoLevel { pse: false },
    PagingMode::TwoLevel { pse: true },
    PagingMode::Pae,
    PagingMode::FourLevel,
    PagingMode::FiveLevel,
];

/// A requested mapping, made concrete for a mode by [`place`].
#[derive(Clone, Debug)]
struct Request {
    region: u64,
    slot: u64,
    size_pick: usize,
    count: u64,
    target: u64,
    flags: EntryFlags,
}

fn flags_strategy() -> impl Strategy<Value = EntryFlags> {
    (any::<[bool; 5]>(), any::<u64>()).prop_map(|(b, software)| EntryFlags {
        writable: b[0],
        user: b[1],
        global: b[2],
        no_execute: b[3],
        pat: b[4],
        software,
    })
}

/// Restricts arbitrary flags to what `mode` has (NX, software bits).
fn fit_flags(mode: PagingMode, flags: EntryFlags) -> EntryFlags {
    EntryFlags {
        no_execute: flags.no_execute && x86::has_execute_disable(mode),
        software: flags.software & x86::ignored_bits(mode),
        ..flags
    }
}

fn request_strategy() -> impl Strategy<Value = Request> {
    (
        any::<u64>(),
        0u64..24,
        0usize..8,
        1u64..5,
        any::<u64>(),
        flags_strategy(),
    )
        .prop_map(|(region, slot, size_pick, count, target, flags)| Request {
            region,
            slot,
            size_pick,
            count,
            target,
            flags,
        })
}

/// Region starts per mode: the edges of the address space (where index arithmetic
/// is most likely to go wrong) and one arbitrary place.
fn region_base(mode: PagingMode, pick: u64) -> u64 {
    let fixed: &[u64] = match mode {
        PagingMode::FourLevel => &[
            0,
            0x7FFF_C000_0000,
            0xFFFF_8000_0000_0000,
            0xFFFF_FFFF_C000_0000,
        ],
        PagingMode::FiveLevel => &[
            0,
            0x00FF_FFFF_C000_0000,
            0xFF00_0000_0000_0000,
            0xFFFF_FFFF_C000_0000,
        ],
        _ => &[0, 0x4000_0000, 0xC000_0000, 0xFF80_0000],
    };
    let random = match mode {
        PagingMode::FourLevel => sign_extend(pick >> 8, 47),
        PagingMode::FiveLevel => sign_extend(pick >> 8, 56),
        _ => pick & 0xFFFF_FFFF,
    };
    // Align to the largest page size so that every size can start there.
    let align = if x86::is_32bit(mode) {
        0x40_0000
    } else {
        0x4000_0000
    };
    fixed.get((pick % 5) as usize).copied().unwrap_or(random) & !(align - 1)
}

fn sign_extend(value: u64, top_bit: u32) -> u64 {
    let shift = 63 - top_bit;
    (((value << shift) as i64) >> shift) as u64
}

/// Tries to add the request to the builder; refusals (overlaps, out of space) are fine.
fn place(builder: &mut PageTableBuilder, req: &Request) {
    let mode = builder.mode();
    let sizes: Vec<PageSize> = x86::levels(mode).iter().filter_map(|l| l.leaf).collect();
    let size = sizes[req.size_pick % sizes.len()];
    let va = region_base(mode, req.region).wrapping_add(req.slot * size.bytes());
    let frame_limit: u64 = match (mode, size) {
        (PagingMode::TwoLevel { .. }, PageSize::Size4K) => 1 << 20,
        (PagingMode::TwoLevel { .. }, _) => 1 << 28,
        _ => 1 << 40,
    };
    let target = (req.target % frame_limit) & !(x86::page_frames(size) - 1);
    let _ = builder.map(
        VirtAddr(va),
        target,
        size,
        req.count,
        fit_flags(mode, req.flags),
    );
}

fn counter(start: u64) -> impl FnMut() -> u64 {
    let mut next = start;
    move || {
        next += 1;
        next - 1
    }
}

/// Addresses around every mapping plus arbitrary ones.
fn queries(builder: &PageTableBuilder, picks: &[u64]) -> Vec<VirtAddr> {
    let mut out: Vec<u64> = Vec::new();
    for (m, pick) in builder.mappings().zip(picks.iter().cycle()) {
        let last = m.last();
        let len = last - m.va.0;
        let inside = m.va.0 + pick % (len + 1);
        out.extend([
            m.va.0,
            last,
            inside,
            m.va.0.wrapping_sub(1),
            last.wrapping_add(1),
        ]);
        out.extend([
            inside ^ 0xFFF,
            inside.wrapping_add(x86::page_bytes(m.page_size)),
        ]);
    }
    out.extend(picks.iter().copied());
    out.extend(picks.iter().map(|p| p & 0xFFFF_FFFF));
    out.into_iter().map(VirtAddr).collect()
}

fn check_against_oracle(
    mode: PagingMode,
    requests: &[Request],
    table_flags: EntryFlags,
    first_table: u64,
    pdpt_offset: u16,
    picks: &[u64],
) -> Result<(), TestCaseError> {
    let mut builder = PageTableBuilder::new(mode);
    if mode == PagingMode::Pae {
        builder = builder
            .pdpt_offset(pdpt_offset & 0xFE0)
            .expect("aligned PDPT offset");
    }
    let table_flags = EntryFlags {
        global: false,
        pat: false,
        ..fit_flags(mode, table_flags)
    };
    let mut builder = builder
        .table_flags(table_flags)
        .expect("table flags fit the mode");
    for req in requests {
        place(&mut builder, req);
    }
    let built = builder.build(counter(first_table)).expect("build");
    let root = built.root;
    let tables = built.into_map();
    let mut cache = TranslationCache::new(64);

    for va in queries(&builder, picks) {
        let walked = walk(&tables, mode, root, va);
        match (builder.mapping_at(va), &walked) {
            (Some(m), Ok(tr)) => {
                let expected = builder.lookup(va).expect("mapping_at and lookup agree");
                prop_assert_eq!((tr.frame, tr.offset), expected, "{} at {}", mode, va);
                prop_assert_eq!(tr.page_size, m.page_size);
                // Access rights: the leaf's, restricted by the table entries above it
                // (a PAE PDPTE carries no rights).
                let uppers = tr.steps().len() - 1 - usize::from(mode == PagingMode::Pae);
                let with_tables =
                    |leaf: bool, table: bool| if uppers > 0 { leaf && table } else { leaf };
                prop_assert_eq!(
                    tr.rights.writable,
                    with_tables(m.flags.writable, table_flags.writable)
                );
                prop_assert_eq!(tr.rights.user, with_tables(m.flags.user, table_flags.user));
                let nx = m.flags.no_execute || (uppers > 0 && table_flags.no_execute);
                prop_assert_eq!(tr.rights.no_execute, nx);
                check_steps(&tables, mode, root, tr)?;
                let cached = cache
                    .translate(&tables, mode, root, va)
                    .expect("cached walk");
                prop_assert_eq!(
                    (cached.frame, cached.offset, cached.page_size),
                    (tr.frame, tr.offset, tr.page_size)
                );
            }
            (None, Err(err)) => {
                let expected_kind = if !x86::is_linear_address(mode, va.0) {
                    matches!(
                        err,
                        WalkError::NonCanonical { .. } | WalkError::AddressTooWide { .. }
                    )
                } else {
                    matches!(err, WalkError::NotPresent { .. })
                };
                prop_assert!(expected_kind, "{} at {}: unexpected {:?}", mode, va, err);
                prop_assert!(cache.translate(&tables, mode, root, va).is_err());
            }
            (oracle, walked) => {
                return Err(TestCaseError::fail(format!(
                    "{mode} at {va}: oracle {oracle:?}, walker {walked:?}"
                )));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn walker_matches_builder_in_every_mode(
        mode_pick in 0usize..ALL_MODES.len(),
        requests in vec(request_strategy(), 1..12),
        table_flags in flags_strategy(),
        first_table in 1u64..0x8_0000,
        pdpt_offset in any::<u16>(),
        picks in vec(any::<u64>(), 1..8),
    ) {
        check_against_oracle(ALL_MODES[mode_pick], &requests, table_flags, first_table, pdpt_offset, &picks)?;
    }
}

/// Re-walks a translation the walker reported, with the builder's statement of the
/// architecture: each step must be the entry at the index `va` selects in the table the
/// previous step pointed to (the root first), present; the walk must end at the page
/// level or at a large page where the mode has them; the frame must be the leaf's.
fn check_steps<S: TableSource>(
    src: &S,
    mode: PagingMode,
    root: Root,
    tr: &Translation,
) -> Result<(), TestCaseError> {
    let va = tr.va.0;
    let levels = x86::levels(mode);
    let steps = tr.steps();
    prop_assert!(steps.len() <= levels.len());
    let Some(leaf) = steps.last() else {
        prop_assert!(levels.is_empty(), "{} walked nothing", mode);
        prop_assert_eq!((tr.frame, tr.offset), (va >> 12, va & 0xFFF));
        return Ok(());
    };
    let bytes = x86::entry_bytes(mode);
    let (mut table, mut base) = (root.frame, u64::from(root.offset));
    for (step, level) in steps.iter().zip(levels) {
        let index = level.index(va);
        let at = (base + index * bytes) as usize;
        let page = src.table_page(table).expect("the walker read this table");
        let mut raw = [0u8; 8];
        raw[..bytes as usize].copy_from_slice(&page[at..at + bytes as usize]);
        prop_assert_eq!(
            (step.table_frame, step.index, step.entry),
            (table, index, u64::from_le_bytes(raw)),
            "{} {} at {:#x}",
            mode,
            level.name,
            va
        );
        prop_assert!(step.entry & x86::PRESENT != 0);
        table = x86::pointer_frame(mode, step.entry);
        base = 0;
    }
    let size = if steps.len() == levels.len() {
        PageSize::Size4K
    } else {
        let level = &levels[steps.len() - 1];
        prop_assert!(leaf.entry & x86::PAGE_SIZE_BIT != 0, "{} ended early", mode);
        level
            .leaf
            .expect("a large page only where the mode has them")
    };
    prop_assert_eq!(tr.page_size, size);
    let within = (va % x86::page_bytes(size)) >> 12;
    prop_assert_eq!(
        (tr.frame, tr.offset),
        (x86::page_frame(mode, size, leaf.entry) + within, va & 0xFFF)
    );
    Ok(())
}

/// Table pages of arbitrary length and content.
struct RawPages(HashMap<u64, Vec<u8>>);

impl TableSource for RawPages {
    fn table_page(&self, frame: u64) -> Option<&[u8]> {
        self.0.get(&frame).map(Vec::as_slice)
    }
}

/// Entries biased towards the interesting: pointers to the few frames in the source
/// (self references and loops), all ones, zero, and anything at all.
fn hostile_entry() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0u64..6, any::<u16>(), any::<bool>())
            .prop_map(|(frame, flags, nx)| (frame << 12) | u64::from(flags & 0xFFF) | (u64::from(nx) << 63)),
        1 => Just(u64::MAX),
        1 => Just(0u64),
        2 => any::<u64>(),
    ]
}

fn hostile_page() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // A short run of entries repeated over the page: every index is interesting,
        // and generation stays cheap.
        6 => vec(hostile_entry(), 1..48).prop_map(|entries| {
            entries.iter().cycle().take(512).flat_map(|e| e.to_le_bytes()).collect()
        }),
        1 => vec(any::<u8>(), 0..4200),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn hostile_tables_give_errors_not_panics(
        pages in vec(hostile_page(), 1..5),
        mode_pick in 0usize..6,
        root_frame in 0u64..6,
        root_offset in any::<u16>(),
        vas in vec(any::<u64>(), 1..16),
    ) {
        let mode = ALL_MODES.get(mode_pick).copied().unwrap_or(PagingMode::None);
        let src = RawPages(pages.into_iter().enumerate().map(|(i, p)| (i as u64, p)).collect());
        let root = Root { frame: root_frame, offset: root_offset };
        let mut cache = TranslationCache::new(4);
        for va in vas.into_iter().flat_map(|v| [v, v & 0xFFFF_FFFF, v & 0x7FFF_FFFF_FFFF]).map(VirtAddr) {
            match walk(&src, mode, root, va) {
                Ok(tr) => check_steps(&src, mode, root, &tr)?,
                Err(err) => prop_assert_eq!(err.va(), va),
            }
            // The cache must agree with the walker on hostile input too.
            let direct = walk(&src, mode, root, va).map(|tr| (tr.frame, tr.offset));
            let cached = cache.translate(&src, mode, root, va).map(|c| (c.frame, c.offset));
            prop_assert_eq!(direct, cached);
        }
    }
}
