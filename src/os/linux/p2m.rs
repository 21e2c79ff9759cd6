//! A Xen PV Linux guest's own p2m (pfn → mfn), read through its page tables.
//!
//! Both kernel families keep a *linear* list, one guest-width word per pfn holding its
//! machine frame: classic XenLinux (2.6.18) at `phys_to_machine_mapping` (`max_pfn`
//! entries; x86_64 before 2.6.27: `end_pfn`), and pvops Linux since 3.19 at
//! `xen_p2m_addr` (`xen_p2m_size` entries; `arch/x86/xen/p2m.c`), a virtually mapped
//! list whose unpopulated stretches map shared pages full of "missing" or "identity"
//! entries. Between those, pvops kernels kept a 3-level tree (`p2m_top`), not read here.
//! Linux exports none of these in VMCOREINFO: the address comes from the kernel's
//! symbols (the value of the pointer variable, e.g. `p/x xen_p2m_addr` in gdb on the
//! served dump) or from whoever knows it.
//!
//! Entry markers (`arch/x86/include/asm/xen/page.h`): `INVALID_P2M_ENTRY` = all ones,
//! `FOREIGN_FRAME_BIT` = the top bit, `IDENTITY_FRAME_BIT` = the one below it.

use crate::dump::Width;
use crate::memory::{Guest, MemoryError, TranslationCache, Via};

/// Where a linear p2m list is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct P2mList {
    /// Kernel virtual address of entry 0.
    pub va: u64,
    /// Number of entries (pfns).
    pub entries: u64,
}

/// Most entries read (2^32 pfns: 16 TiB of guest memory).
pub const MAX_P2M_ENTRIES: u64 = 1 << 32;

/// What one read of the list found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct P2mStats {
    /// Entries naming a machine frame.
    pub mfns: u64,
    /// `INVALID_P2M_ENTRY` (no frame: ballooned out, never populated).
    pub invalid: u64,
    /// Frames of another domain (grant mappings) or identity-mapped I/O frames.
    pub foreign_or_identity: u64,
    /// Entries whose bytes could not be read (the list's page is not mapped or not in
    /// the dump).
    pub unreadable: u64,
}

/// Read `list` through the page tables of a kernel-mode vCPU (online ones first),
/// calling `f(pfn, mfn)` for each entry that names a machine frame. Fails only when no
/// byte of the list can be read.
pub fn read_p2m_list(
    guest: &Guest,
    list: P2mList,
    mut f: impl FnMut(u64, u64),
) -> Result<P2mStats, MemoryError> {
    let word: u64 = match guest.guest_width() {
        Width::Bits64 => 8,
        Width::Bits32 => 4,
    };
    let (invalid, foreign, identity) = match word {
        8 => (u64::MAX, 1u64 << 63, 1u64 << 62),
        _ => (u64::from(u32::MAX), 1u64 << 31, 1u64 << 30),
    };
    let mut slots: Vec<usize> = (0..guest.vcpus().len()).collect();
    slots.sort_by_key(|&s| {
        let v = &guest.vcpus()[s];
        (!v.online(), !v.kernel_mode(), s)
    });
    let space = slots
        .iter()
        .filter_map(|&s| guest.vcpu_space(s))
        .find(|sp| sp.root.is_some())
        .ok_or(MemoryError::ViewUnavailable {
            view: "virtual",
            why: "no vCPU has page tables",
        })?;
    let entries = list.entries.min(MAX_P2M_ENTRIES);
    let mut cache = TranslationCache::new(64);
    let mut stats = P2mStats::default();
    let mut first_error = None;
    // A page of the list at a time, so an unmapped stretch costs only its own entries.
    let mut buf = vec![0u8; 4096];
    let mut pfn = 0u64;
    while pfn < entries {
        let va = list.va.wrapping_add(pfn * word);
        let in_page = ((4096 - (va & 4095)) / word).max(1);
        let n = in_page.min(entries - pfn);
        let bytes = &mut buf[..(n * word) as usize];
        if let Err(e) = guest.read_exact(&mut cache, Via::Virtual(space), va, bytes) {
            first_error.get_or_insert(e);
            stats.unreadable += n;
            pfn += n;
            continue;
        }
        for (i, w) in bytes.chunks_exact(word as usize).enumerate() {
            let v = match word {
                8 => u64::from_le_bytes(w.try_into().unwrap_or([0xff; 8])),
                _ => u64::from(u32::from_le_bytes(w.try_into().unwrap_or([0xff; 4]))),
            };
            if v == invalid {
                stats.invalid += 1;
            } else if v & (foreign | identity) != 0 {
                stats.foreign_or_identity += 1;
            } else {
                stats.mfns += 1;
                f(pfn + i as u64, v);
            }
        }
        pfn += n;
    }
    match first_error {
        Some(e) if stats.unreadable == entries => Err(e),
        _ => Ok(stats),
    }
}
