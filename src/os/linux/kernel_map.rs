//! Where a Linux guest maps its memory, found through its own page tables: the direct
//! map (guest-physical 0 at `PAGE_OFFSET`) and, on x86_64, the kernel image mapping at
//! `__START_KERNEL_map`.
//!
//! Speaks guest virtual addresses and guest *pseudo-physical* addresses (pfn space): PV
//! page tables hold machine frames, which are turned into pfns through the dump's p2m.
//! The search reads only page-table pages and skips every unmapped span at the level
//! where the walk stopped, so it costs a few thousand walks, not a scan of the address
//! space. Nothing here is guessed from constants alone: a candidate is accepted only
//! when the tables map it.

use serde::Serialize;

use crate::addr::{MachineFrame, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::dump::{FrameSpace, GuestKind};
use crate::memory::{Guest, MemoryError, PagingMode, Root, WalkError};

/// `__START_KERNEL_map`: where x86_64 Linux maps its image (`_text` = this + phys_base
/// offset + KASLR offset).
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// Largest `KERNEL_IMAGE_SIZE` (with KASLR): the image mapping ends below this.
const KERNEL_IMAGE_SPAN: u64 = 1 << 30;
/// Start of the kernel half of a 4-level address space.
const KERNEL_HALF_4LEVEL: u64 = 0xffff_8000_0000_0000;
/// Start of the kernel half of a 5-level address space.
const KERNEL_HALF_5LEVEL: u64 = 0xff00_0000_0000_0000;
/// Lowest 32-bit `PAGE_OFFSET` Linux offers (`CONFIG_VMSPLIT_1G`).
const LOWEST_PAGE_OFFSET_32: u64 = 0x4000_0000;
/// KASLR places the 64-bit direct map on a PUD (1 GiB) boundary.
const DIRECT_MAP_ALIGN_64: u64 = 1 << 30;
/// Every 32-bit `PAGE_OFFSET` choice is 2 MiB aligned (in fact 128 MiB or more).
const DIRECT_MAP_ALIGN_32: u64 = 2 << 20;
/// Candidates to score at most (a real guest has one or two).
const MAX_CANDIDATES: usize = 64;
/// Pages sampled to score a direct-map candidate.
const SAMPLES: u64 = 16;

/// The direct map: guest-physical address `pa` is mapped at virtual `base + pa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DirectMap {
    /// Virtual address of guest-physical 0 (`PAGE_OFFSET` / `page_offset_base`).
    pub base: u64,
}

/// The x86_64 kernel image mapping, one linear stretch above `__START_KERNEL_map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TextMapping {
    /// First mapped virtual address of the image.
    pub va: u64,
    /// Its guest-physical address.
    pub pa: u64,
    /// Bytes from `va` to the end of the last page mapped with the same offset.
    pub size: u64,
}

impl TextMapping {
    /// Linux's `phys_base` as crash and makedumpfile derive it from such a segment:
    /// `pa - (va - __START_KERNEL_map)`. Negative when the image sits lower than linked.
    pub fn phys_base(&self) -> i64 {
        self.pa.wrapping_sub(self.va.wrapping_sub(START_KERNEL_MAP)) as i64
    }

    /// `va - pa`: add to a guest-physical address inside the image to get its address.
    pub fn offset(&self) -> u64 {
        self.va.wrapping_sub(self.pa)
    }
}

/// What the guest's page tables say about its kernel's mappings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelMap {
    /// The direct map, if one maps guest-physical 0.
    pub direct_map: Option<DirectMap>,
    /// The x86_64 kernel image mapping, if one exists.
    pub text: Option<TextMapping>,
    /// The vCPU whose tables showed the direct map (or else the image mapping).
    pub vcpu: Option<usize>,
    /// Paging mode and root of those tables, for later coverage checks.
    #[serde(skip)]
    tables: Option<(PagingMode, Root)>,
}

/// One address space to search: a paging mode and a root.
struct Space<'g> {
    guest: &'g Guest,
    mode: PagingMode,
    root: Root,
}

/// A mapped virtual address: its guest-physical address and the linear stretch around it.
struct Hit {
    pa: u64,
    /// Virtual address where the linear stretch containing `va` ends.
    stretch_end: u64,
}

impl Space<'_> {
    /// Translate `va` to a guest-physical address. `Ok(None)`: mapped, but to a frame
    /// that is not in the dump (PV: its pfn is unknown).
    fn phys(&self, va: u64) -> Result<Option<Hit>, WalkError> {
        let tr = match self.guest.translate_in(self.mode, self.root, VirtAddr(va)) {
            Ok(tr) => tr,
            Err(MemoryError::Walk(e)) => return Err(e),
            // translate_in only fails in the walk; anything else means "not mapped".
            Err(_) => return Ok(None),
        };
        let dump = self.guest.dump();
        let (pfn, leaf) = match dump.table_frame_space() {
            FrameSpace::Guest => (tr.frame, tr.page_size.bytes()),
            // A machine-contiguous large page need not be pfn-contiguous: step by 4 KiB.
            FrameSpace::Machine => match dump.mfn_to_pfn(MachineFrame(tr.frame)) {
                Some(p) => (p.0, PAGE_SIZE),
                None => return Ok(None),
            },
        };
        let pa = (pfn << PAGE_SHIFT) | tr.offset;
        let stretch_end = (va & !(leaf - 1)).wrapping_add(leaf);
        Ok(Some(Hit { pa, stretch_end }))
    }

    /// Does virtual `va` map guest-physical `pa`?
    fn maps(&self, va: u64, pa: u64) -> bool {
        matches!(self.phys(va), Ok(Some(h)) if h.pa == pa)
    }

    /// First address past the span a failed walk proved unmapped (`None`: past the top).
    fn skip(&self, va: u64, err: &WalkError) -> Option<u64> {
        let shift = err
            .level()
            .and_then(|l| self.mode.levels().iter().find(|s| s.level == l))
            .map_or(PAGE_SHIFT, |s| s.shift);
        let span = 1u64 << shift;
        (va | (span - 1)).checked_add(1)
    }

    fn is_64bit(&self) -> bool {
        !self.mode.is_32bit()
    }
}

impl KernelMap {
    /// Search the guest's page tables for its direct map and kernel image mapping.
    ///
    /// Tries the vCPUs' address spaces in turn (online kernel-mode vCPUs first); a Linux
    /// HVM guest caught on its KPTI user tables also gets its kernel tables tried.
    pub fn detect(guest: &Guest) -> KernelMap {
        let mut found = KernelMap::default();
        for (slot, mode, root) in candidate_spaces(guest) {
            let space = Space { guest, mode, root };
            if found.direct_map.is_none() {
                if let Some(dm) = find_direct_map(&space) {
                    found.direct_map = Some(dm);
                    found.vcpu = Some(slot);
                    found.tables = Some((mode, root));
                }
            }
            if found.text.is_none() && space.is_64bit() {
                found.text = find_text_mapping(&space);
                if found.text.is_some() && found.vcpu.is_none() {
                    found.vcpu = Some(slot);
                }
            }
            if found.direct_map.is_some() && (found.text.is_some() || !space.is_64bit()) {
                break;
            }
        }
        found
    }

    /// Does the direct map map guest-physical `pa` where it should (checked in the
    /// tables that showed the map)?
    pub fn direct_map_covers(&self, guest: &Guest, pa: u64) -> bool {
        let (Some(dm), Some((mode, root))) = (self.direct_map, self.tables) else {
            return false;
        };
        if mode == PagingMode::None {
            return dm.base == 0;
        }
        let Some(va) = dm.base.checked_add(pa) else {
            return false;
        };
        if mode.is_32bit() && va > u64::from(u32::MAX) {
            return false;
        }
        Space { guest, mode, root }.maps(va, pa)
    }
}

/// Distinct (vCPU, mode, root) triples to search, best first.
fn candidate_spaces(guest: &Guest) -> Vec<(usize, PagingMode, Root)> {
    let mut order: Vec<usize> = (0..guest.vcpus().len()).collect();
    order.sort_by_key(|&s| {
        let v = &guest.vcpus()[s];
        (!v.online(), !v.kernel_mode(), s)
    });
    let mut out: Vec<(usize, PagingMode, Root)> = Vec::new();
    for slot in order {
        let Some(space) = guest.vcpu_space(slot) else {
            continue;
        };
        let Some(root) = space.root else {
            if space.mode == PagingMode::None {
                out.push((slot, space.mode, Root::new(0)));
            }
            continue;
        };
        let mut roots = vec![root];
        // Linux KPTI: the user PGD is the odd page of an 8 KiB-aligned pair (HVM only;
        // PV guests never run on hardware page tables of their own).
        if guest.dump().guest_kind() == GuestKind::Hvm
            && !space.mode.is_32bit()
            && root.frame & 1 == 1
        {
            roots.push(Root::new(root.frame & !1));
        }
        for r in roots {
            if !out.iter().any(|&(_, m, o)| m == space.mode && o == r) {
                out.push((slot, space.mode, r));
            }
        }
    }
    out
}

/// Find the virtual address mapping guest-physical 0 that maps the most sampled pages
/// linearly: Linux's `PAGE_OFFSET` (randomised on a 1 GiB boundary by KASLR).
fn find_direct_map(space: &Space<'_>) -> Option<DirectMap> {
    let (start, end, step) = match space.mode {
        PagingMode::None => return Some(DirectMap { base: 0 }),
        PagingMode::FourLevel => (KERNEL_HALF_4LEVEL, START_KERNEL_MAP, DIRECT_MAP_ALIGN_64),
        PagingMode::FiveLevel => (KERNEL_HALF_5LEVEL, START_KERNEL_MAP, DIRECT_MAP_ALIGN_64),
        PagingMode::TwoLevel { .. } | PagingMode::Pae => {
            (LOWEST_PAGE_OFFSET_32, 1 << 32, DIRECT_MAP_ALIGN_32)
        }
    };
    let mut candidates = Vec::new();
    let mut va = start;
    while va < end && candidates.len() < MAX_CANDIDATES {
        let next_step = va.checked_add(step);
        match space.phys(va) {
            Ok(Some(hit)) if hit.pa == 0 => candidates.push(va),
            Ok(_) => {}
            Err(e) => {
                // Jump over the unmapped span, landing on the next aligned candidate.
                let Some(after) = space.skip(va, &e) else {
                    break;
                };
                va = after.div_ceil(step).saturating_mul(step).max(va + 1);
                continue;
            }
        }
        match next_step {
            Some(n) => va = n,
            None => break,
        }
    }
    let samples = sample_pages(space.guest);
    candidates
        .into_iter()
        .map(|base| {
            let score = samples
                .iter()
                .filter(|&&pa| base.checked_add(pa).is_some_and(|va| space.maps(va, pa)))
                .count();
            (score, base)
        })
        // Highest score; among equals, the lowest address.
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, base)| DirectMap { base })
}

/// Guest-physical addresses of up to [`SAMPLES`] dumped pages spread over the dump.
fn sample_pages(guest: &Guest) -> Vec<u64> {
    let dump = guest.dump();
    let n = dump.valid_page_count();
    (0..SAMPLES.min(n))
        .filter_map(|i| dump.pfn_of(crate::addr::PageIndex(i * n / SAMPLES.min(n).max(1))))
        .map(|p| p.0 << PAGE_SHIFT)
        .collect()
}

/// The first linear stretch of mapped, dumped pages above `__START_KERNEL_map`, with
/// unmapped holes allowed (Linux unmaps freed init memory) and ending at the first page
/// mapped with another offset (modules, fixmaps) or at the end of the image area.
fn find_text_mapping(space: &Space<'_>) -> Option<TextMapping> {
    let end = START_KERNEL_MAP + KERNEL_IMAGE_SPAN;
    let mut va = START_KERNEL_MAP;
    let mut found: Option<(u64, u64, u64)> = None; // (first va, its pa, stretch end)
    while va < end {
        match space.phys(va) {
            Err(e) => match space.skip(va, &e) {
                Some(n) => va = n,
                None => break,
            },
            Ok(None) => va = (va | (PAGE_SIZE - 1)) + 1,
            Ok(Some(hit)) => {
                match &mut found {
                    None => found = Some((va, hit.pa, hit.stretch_end.min(end))),
                    Some((first_va, first_pa, stretch_end)) => {
                        if va.wrapping_sub(hit.pa) != first_va.wrapping_sub(*first_pa) {
                            break;
                        }
                        *stretch_end = hit.stretch_end.min(end);
                    }
                }
                va = hit.stretch_end;
            }
        }
    }
    found.map(|(va, pa, stretch_end)| TextMapping {
        va,
        pa,
        size: stretch_end - va,
    })
}
