//! Runs of dumped pages that are contiguous in guest pseudo-physical memory, in the
//! dump's own page order (ascending pfn), and runs of the p2m for the Xen note.
//!
//! Reads only the frame table (16 or 8 bytes per page), never page contents.

use crate::addr::PageIndex;
use crate::dump::XenDump;

use super::error::ConvertError;

/// One past the largest pfn of a 52-bit physical address space.
const PFN_LIMIT: u64 = 1 << 40;

/// `count` dumped pages holding guest frames `pfn ..`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRun {
    /// First guest frame.
    pub pfn: u64,
    /// Dump page holding it.
    pub first: PageIndex,
    /// Number of pages.
    pub count: u64,
    /// The run's pages follow `first` in the dump. Always so in dumps that record pfns
    /// (they list pages by pfn); pfns recovered for a legacy PV dump follow the
    /// hypervisor's allocation order, and each page is then found by its pfn.
    pub in_order: bool,
}

/// What the run scan skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Pages in the runs.
    pub pages: u64,
    /// Frame-table entries marked invalid (`~0`) before the end of the table.
    pub invalid_entries: u64,
    /// Listed pages whose bytes are missing from a truncated file (left out).
    pub missing_pages: u64,
}

/// The dump's pages as pfn-contiguous runs.
///
/// Pages of a truncated file are an error unless `allow_truncated`, in which case they
/// are left out like absent frames. A frame table out of pfn order is an error: every
/// Xen writer sorts it, and PT_LOADs of an unsorted one would overlap.
pub fn page_runs(
    dump: &XenDump,
    allow_truncated: bool,
) -> Result<(Vec<PageRun>, RunStats), ConvertError> {
    if !dump.in_pfn_order() {
        return recovered_runs(dump, allow_truncated);
    }
    let mut runs: Vec<PageRun> = Vec::new();
    let mut stats = RunStats::default();
    let mut previous: Option<u64> = None;
    let mut extend = false;
    let present = dump.pages_present();
    let total = dump.valid_page_count();
    for i in 0..total {
        let index = PageIndex(i);
        let Some(pfn) = dump.pfn_of(index) else {
            stats.invalid_entries += 1;
            extend = false;
            continue;
        };
        if pfn.0 >= PFN_LIMIT {
            return Err(ConvertError::FrameTooLarge { index, pfn: pfn.0 });
        }
        if let Some(prev) = previous {
            if pfn.0 <= prev {
                return Err(ConvertError::UnsortedFrames {
                    index,
                    pfn: pfn.0,
                    previous: prev,
                });
            }
        }
        if i >= present {
            if !allow_truncated {
                return Err(ConvertError::PagesMissing {
                    first: index,
                    missing: total - i,
                    file_len: dump.file_len(),
                });
            }
            stats.missing_pages += 1;
            previous = Some(pfn.0);
            extend = false;
            continue;
        }
        match runs.last_mut() {
            Some(run) if extend && previous == Some(pfn.0 - 1) => run.count += 1,
            _ => runs.push(PageRun {
                pfn: pfn.0,
                first: index,
                count: 1,
                in_order: true,
            }),
        }
        stats.pages += 1;
        previous = Some(pfn.0);
        extend = true;
    }
    Ok((runs, stats))
}

/// The pages of a dump whose pfns do not follow page order (pfns recovered for a
/// legacy PV dump), as runs of consecutive pfns in ascending pfn order.
fn recovered_runs(
    dump: &XenDump,
    allow_truncated: bool,
) -> Result<(Vec<PageRun>, RunStats), ConvertError> {
    let mut runs: Vec<PageRun> = Vec::new();
    let mut stats = RunStats::default();
    let present = dump.pages_present();
    let mut last: Option<(u64, u64)> = None; // (pfn, page) of the previous page in a run
    for (pfn, index) in dump.pages_by_pfn() {
        if pfn.0 >= PFN_LIMIT {
            return Err(ConvertError::FrameTooLarge { index, pfn: pfn.0 });
        }
        if index.0 >= present {
            if !allow_truncated {
                return Err(ConvertError::PagesMissing {
                    first: index,
                    missing: dump.valid_page_count() - present,
                    file_len: dump.file_len(),
                });
            }
            stats.missing_pages += 1;
            last = None;
            continue;
        }
        match (runs.last_mut(), last) {
            (Some(run), Some((p, i))) if p + 1 == pfn.0 => {
                run.count += 1;
                run.in_order &= i + 1 == index.0;
            }
            _ => runs.push(PageRun {
                pfn: pfn.0,
                first: index,
                count: 1,
                in_order: true,
            }),
        }
        stats.pages += 1;
        last = Some((pfn.0, index.0));
    }
    Ok((runs, stats))
}

/// Runs of `(pfn, mfn, count)` where both frame numbers ascend together, ascending by
/// pfn, for dumps that record both (PV ELF dumps, legacy HVM dumps, legacy PV dumps
/// given their pfns).
pub fn p2m_runs(dump: &XenDump) -> impl Iterator<Item = [u64; 3]> + '_ {
    let known = dump.knows_pfns() && dump.knows_mfns();
    let mut pages = known
        .then(|| dump.pages_by_pfn())
        .into_iter()
        .flatten()
        .peekable();
    std::iter::from_fn(move || {
        let mut run: Option<[u64; 3]> = None;
        while let Some(&(pfn, index)) = pages.peek() {
            let Some(mfn) = dump.mfn_of(index) else {
                pages.next();
                if run.is_some() {
                    break;
                }
                continue;
            };
            match &mut run {
                None => run = Some([pfn.0, mfn.0, 1]),
                Some([p, m, n]) if *p + *n == pfn.0 && m.checked_add(*n) == Some(mfn.0) => *n += 1,
                Some(_) => break,
            }
            pages.next();
        }
        run
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{GuestFrame, MachineFrame};
    use crate::builder::{DumpOptions, GuestImage, VcpuImage};
    use crate::dump::{GuestKind, Width};

    fn dump(runs: &[(u64, u64, u64)]) -> XenDump {
        let mut img = GuestImage::new(GuestKind::Pv, Width::Bits64);
        for &(p, m, n) in runs {
            img.add_run(GuestFrame(p), MachineFrame(m), n).unwrap();
        }
        img.push_vcpu(VcpuImage::online());
        XenDump::from_bytes(img.write(&DumpOptions::default()).unwrap()).unwrap()
    }

    #[test]
    fn runs_follow_pfn_holes_and_p2m_follows_mfn_breaks() {
        // pfn 0..4 then 6..8; the machine frames of the first run break after 2 pages.
        let d = dump(&[(0, 0x100, 2), (2, 0x500, 2), (6, 0x900, 2)]);
        let (runs, stats) = page_runs(&d, false).unwrap();
        assert_eq!(
            runs,
            vec![
                PageRun {
                    pfn: 0,
                    first: PageIndex(0),
                    count: 4,
                    in_order: true,
                },
                PageRun {
                    pfn: 6,
                    first: PageIndex(4),
                    count: 2,
                    in_order: true,
                },
            ]
        );
        assert_eq!(stats.pages, 6);
        let p2m: Vec<_> = p2m_runs(&d).collect();
        assert_eq!(p2m, vec![[0, 0x100, 2], [2, 0x500, 2], [6, 0x900, 2]]);
    }

    #[test]
    fn pfns_beyond_52_bit_addresses_are_damage() {
        let mut img = GuestImage::new(GuestKind::Pv, Width::Bits64);
        img.add_run(GuestFrame(0), MachineFrame(0x100), 4).unwrap();
        img.push_vcpu(VcpuImage::online());
        let opts = DumpOptions::default();
        let p2m = img
            .layout(&opts)
            .unwrap()
            .region(".xen_p2m")
            .unwrap()
            .offset as usize;
        let mut bytes = img.write(&opts).unwrap();
        // The last entry's pfn, still ascending but past any physical address.
        bytes[p2m + 3 * 16..p2m + 3 * 16 + 8].copy_from_slice(&(1u64 << 45).to_le_bytes());
        let d = XenDump::from_bytes(bytes).unwrap();
        assert!(matches!(
            page_runs(&d, false),
            Err(ConvertError::FrameTooLarge {
                index: PageIndex(3),
                ..
            })
        ));
    }

    #[test]
    fn truncated_dump_is_an_error_unless_allowed() {
        // Legacy dumps end with their pages, so cutting the file cuts pages only (ELF
        // dumps end with .shstrtab and do not open at all when cut).
        let mut img = GuestImage::new(GuestKind::Hvm, Width::Bits64);
        img.add_run(GuestFrame(0), MachineFrame(0x100), 8).unwrap();
        img.push_vcpu(VcpuImage::online());
        let full = img.write(&DumpOptions::legacy(Width::Bits64)).unwrap();
        let cut = XenDump::from_bytes(full[..full.len() - 3 * 4096].to_vec()).unwrap();
        assert!(matches!(
            page_runs(&cut, false),
            Err(ConvertError::PagesMissing {
                first: PageIndex(5),
                missing: 3,
                ..
            })
        ));
        let (runs, stats) = page_runs(&cut, true).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].count, 5);
        assert_eq!(stats.missing_pages, 3);
    }
}
