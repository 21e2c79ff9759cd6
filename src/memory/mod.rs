//! Guest memory translation: paging modes, CR3 decoding, the page-table walker and a
//! translation cache.
//!
//! Address spaces spoken here: guest *virtual* addresses ([`VirtAddr`](crate::addr::VirtAddr))
//! go in; *table frames* come out, i.e. frame numbers in whatever space the guest's
//! own page tables use: machine frames (mfn) for PV guests, guest frames (pfn/gfn) for
//! HVM/PVH guests. Nothing in this module reads the dump: table pages are supplied by a
//! [`TableSource`], so the dump-backed memory view (which maps those frames to dump
//! pages) and the synthetic tables of the test builder (`builder::pagetable`) plug in alike.
//!
//! Pipeline: [`Cr3Decode`] turns a vCPU's stored CR3 into a [`Root`];
//! [`PagingMode`] (from the control registers, or forced) describes the tables;
//! [`walk()`] translates one address and reports each entry it read;
//! [`TranslationCache`] remembers results for bulk reads; [`Guest`] joins all of it
//! with the dump reader into the three address views gdb reads through.

pub mod cache;
pub mod cr3;
mod guest;
mod legacy_layout;
pub mod paging;
pub mod plausible;
pub mod walk;

#[cfg(test)]
mod oracle_tests;

pub use cache::{CacheStats, CachedTranslation, TranslationCache};
pub use cr3::{Cr3Decode, Root};
pub use guest::{
    AddressSpace, Guest, GuestOptions, MemoryError, PagingOverride, RootInfo, RootProblem,
    RootSource, Via, View, CACHE_SLOTS,
};
pub use legacy_layout::{LegacyLayout, RuleCheck};
pub use paging::{infer_long_mode, level_name, LevelSpec, LongModeHints, PageSize, PagingMode};
pub use walk::{
    mapped_ranges, walk, MappedRange, MappedRanges, PageRights, TableSource, Translation,
    WalkError, WalkStep,
};
