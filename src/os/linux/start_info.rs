//! The `xen_start_info` pointer of a Xen PV Linux kernel: where it is in the kernel image.
//!
//! Xen hands a PV guest a `start_info` page, which begins with its magic string
//! (`xen-3.0-x86_64`, `xen-3.0-x86_32p` or `xen-3.0-x86_32`); pvops Linux keeps a pointer
//! to it in `xen_start_info` (revectored to its direct-map address early in boot,
//! `xen_setup_kernel_pagetable`). crash decides that a kernel is a Xen PV one, whose page
//! tables hold machine frames, from that pointer being non-NULL (`is_pvops_xen`), and then
//! translates every table entry through the kernel's own p2m. A vmcore whose tables were
//! made canonical must not be read that way; the converter clears this pointer.
//!
//! Without the kernel's symbols the pointer is found as [`super::find_vmcoreinfo`]
//! finds the `vmcoreinfo_note` pointer: a page-aligned, pointer-sized word of the kernel
//! image whose value is the direct-map address of a page starting with the magic. Only
//! a single such word is an answer.

use std::collections::HashMap;

use crate::addr::{GuestFrame, PAGE_SHIFT, PAGE_SIZE};
use crate::dump::{GuestKind, Width};
use crate::memory::Guest;

use super::kernel_map::KernelMap;
use super::vmcoreinfo::QUICK_SCAN_BYTES;

/// The magics of `start_info` (`xen-<version>-<platform>`; the version has been 3.0
/// since Xen 3.0).
const MAGICS: [&[u8]; 3] = [
    b"xen-3.0-x86_64\0",
    b"xen-3.0-x86_32p\0",
    b"xen-3.0-x86_32\0",
];
/// Distinct pointer targets to test at most.
const MAX_PROBES: usize = 1 << 16;

/// Where `xen_start_info` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartInfoPointer {
    /// Guest-physical address of the pointer.
    pub pa: u64,
    /// Its size (8 or 4).
    pub size: u8,
    /// Its value (the direct-map address of `start_info`).
    pub value: u64,
    /// Guest-physical address of the `start_info` page.
    pub start_info_pa: u64,
}

/// What the search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartInfoSearch {
    /// Not a PV guest, or no word of the image points at a `start_info` page.
    NotFound,
    /// Exactly one word does.
    Found(StartInfoPointer),
    /// Several words do (their addresses): none is taken.
    Ambiguous(Vec<u64>),
}

/// Search the kernel image (x86_64: its mapping; 32-bit: the lowest
/// [`QUICK_SCAN_BYTES`] of memory) for the pointer.
pub fn find_xen_start_info(guest: &Guest, kernel: &KernelMap) -> StartInfoSearch {
    let dump = guest.dump();
    let Some(dm) = kernel.direct_map else {
        return StartInfoSearch::NotFound;
    };
    if dump.guest_kind() != GuestKind::Pv || !dump.knows_pfns() {
        return StartInfoSearch::NotFound;
    }
    let (lo, hi) = match kernel.text {
        Some(t) => (t.pa, t.pa.saturating_add(t.size)),
        None => (0, QUICK_SCAN_BYTES),
    };
    let size: usize = match guest.guest_width() {
        Width::Bits64 => 8,
        Width::Bits32 => 4,
    };
    let page_of = |pfn: u64| dump.page(dump.page_of_pfn(GuestFrame(pfn))?).ok();
    let mut probed: HashMap<u64, bool> = HashMap::new();
    let mut hits = Vec::new();
    for pfn in (lo >> PAGE_SHIFT)..hi.div_ceil(PAGE_SIZE) {
        let Some(page) = page_of(pfn) else {
            continue;
        };
        for (i, word) in page.chunks_exact(size).enumerate() {
            let v = match size {
                8 => u64::from_le_bytes(word.try_into().unwrap_or([0; 8])),
                _ => u64::from(u32::from_le_bytes(word.try_into().unwrap_or([0; 4]))),
            };
            if v == 0 || v % PAGE_SIZE != 0 || v < dm.base {
                continue;
            }
            let target = (v - dm.base) >> PAGE_SHIFT;
            let is_start_info = match probed.get(&target) {
                Some(&known) => known,
                None if probed.len() >= MAX_PROBES => false,
                None => {
                    let yes =
                        page_of(target).is_some_and(|p| MAGICS.iter().any(|m| p.starts_with(m)));
                    probed.insert(target, yes);
                    yes
                }
            };
            if is_start_info {
                hits.push(StartInfoPointer {
                    pa: (pfn << PAGE_SHIFT) + (i * size) as u64,
                    size: size as u8,
                    value: v,
                    start_info_pa: target << PAGE_SHIFT,
                });
            }
        }
    }
    match hits.len() {
        0 => StartInfoSearch::NotFound,
        1 => StartInfoSearch::Found(hits[0]),
        _ => StartInfoSearch::Ambiguous(hits.iter().map(|h| h.pa).collect()),
    }
}
