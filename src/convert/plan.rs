//! The vmcore layout, decided before a byte is written.
//!
//! ```text
//! ELF header | PT_NOTE | kernel-image PT_LOADs | physical PT_LOADs | [xnum shdr]
//! | notes (PRSTATUS…, VMCOREINFO, XENDUMP…, XENDUMP p2m) | pad to 4 KiB | page data
//! ```
//!
//! As in a Linux kdump vmcore the PT_NOTE comes first, then the PT_LOAD of the kernel
//! image mapping (crash and makedumpfile derive `phys_base` from the first PT_LOAD at
//! or above `__START_KERNEL_map`), then one PT_LOAD per run of pseudo-physically
//! contiguous dumped pages with `p_paddr` = guest-physical and `p_vaddr` = its
//! direct-map address (0 where the direct map does not cover it). Frames absent from the
//! dump are in no PT_LOAD. The kernel-image segments share the file bytes of the
//! physical segments they overlap, so nothing is stored twice. `p_align` is 0, which is
//! how crash tells a kdump vmcore from a netdump one.

use crate::addr::{PageIndex, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::dump::{FrameSpace, GuestKind};
use crate::kinds::Width;
use crate::memory::{Cr3Decode, Guest, PagingMode, RootInfo, RootSource};

use super::elf::{headers_size, ProgramHeader, EM_386, EM_X86_64, PF_RWX, PT_LOAD, PT_NOTE};
use super::error::ConvertError;
use super::notes::{build_notes, p2m_note_size};
use super::runs::{p2m_runs, page_runs, RunStats};
use super::tables::{discover, Canonical, TableRoot};
use crate::os::linux::KernelMap;
use crate::os::linux::{find_vmcoreinfo, ScanDepth, VmcoreInfo};
use crate::os::linux::{find_xen_start_info, StartInfoPointer, StartInfoSearch};

/// How hard to look for the guest's VMCOREINFO note.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VmcoreinfoScan {
    /// Don't look.
    Off,
    /// The kernel image only.
    Quick,
    /// The kernel image, then all memory if the note is not there.
    #[default]
    Full,
}

/// Conversion options.
#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    /// Leave pages missing from a truncated dump out, instead of failing.
    pub allow_truncated: bool,
    /// How to look for VMCOREINFO.
    pub vmcoreinfo: VmcoreinfoScan,
    /// Replace an existing output file.
    pub force: bool,
    /// PV guests: write page-table pages as they are, with machine frames (the raw
    /// guest view), instead of canonical tables with pseudo-physical frames.
    pub keep_machine_frames: bool,
    /// PV guests: further top-level tables to canonicalise, as (what names it, kernel
    /// virtual address), e.g. every task's `mm->pgd`. Each is translated through the
    /// kernel's page tables and checked to look like a table before it is trusted.
    pub extra_pgds: Vec<(String, u64)>,
    /// PV guests with canonical tables: keep the kernel's `xen_start_info` pointer.
    /// By default it is cleared, since crash takes a non-NULL one for a kernel whose
    /// page tables hold machine frames and would misread the canonical ones.
    pub keep_xen_start_info: bool,
    /// PV guests: the kernel virtual address of `xen_start_info` (from the kernel's
    /// symbols). Without it the pointer is searched for in the kernel image.
    pub xen_start_info_va: Option<u64>,
}

/// What a PT_LOAD maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// A run of guest pseudo-physical memory.
    Physical,
    /// Part of the x86_64 kernel image mapping (shares the bytes of a physical one).
    KernelImage,
}

/// One PT_LOAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub kind: SegmentKind,
    /// Guest-physical address of the first byte.
    pub paddr: u64,
    /// Guest-virtual address of the first byte (0: not mapped at a known place).
    pub vaddr: u64,
    /// Bytes (a multiple of 4096).
    pub size: u64,
    /// File offset of the first byte.
    pub offset: u64,
    /// Dump page holding the first byte.
    pub first_page: PageIndex,
    /// The segment's pages follow `first_page` in the dump; otherwise each is found by
    /// its pfn (pfns recovered for a legacy PV dump).
    pub in_order: bool,
}

impl Segment {
    fn header(&self) -> ProgramHeader {
        ProgramHeader {
            p_type: PT_LOAD,
            p_flags: PF_RWX,
            p_offset: self.offset,
            p_vaddr: self.vaddr,
            p_paddr: self.paddr,
            p_filesz: self.size,
            p_memsz: self.size,
            p_align: 0,
        }
    }
}

/// The whole layout of a vmcore.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `e_machine`: `EM_X86_64` for 64-bit guests, `EM_386` for 32-bit ones.
    pub machine: u16,
    /// Kernel-image PT_LOADs, in address order.
    pub image_segments: Vec<Segment>,
    /// Physical PT_LOADs, in address (= file) order.
    pub segments: Vec<Segment>,
    /// Notes written before the streamed p2m note.
    pub notes: Vec<u8>,
    /// Runs in the p2m note (0: no note).
    pub p2m_runs: u64,
    /// File offset of the notes.
    pub notes_offset: u64,
    /// Bytes of notes, p2m note included.
    pub notes_size: u64,
    /// File offset of the first page (4 KiB aligned).
    pub data_offset: u64,
    /// Total file size.
    pub file_size: u64,
    /// The guest's mappings.
    pub kernel: KernelMap,
    /// The guest's VMCOREINFO, if found.
    pub vmcoreinfo: Option<VmcoreInfo>,
    /// PV guests with canonical page tables: the table pages to rewrite and what the
    /// rewrite does. `None`: pages are written as they are.
    pub tables: Option<Canonical>,
    /// The kernel's `xen_start_info` pointer, cleared in the vmcore (see
    /// [`ConvertOptions::keep_xen_start_info`]).
    pub start_info: Option<StartInfoPointer>,
    /// Dump page holding [`Plan::start_info`].
    pub start_info_page: Option<PageIndex>,
    /// What the page scan skipped.
    pub stats: RunStats,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Lay out the vmcore for `guest`. Reads the frame table and page tables, and the
    /// memory the VMCOREINFO search covers; fails on input that cannot be converted.
    pub fn new(guest: &Guest, opts: &ConvertOptions) -> Result<Plan, ConvertError> {
        let dump = guest.dump();
        if !dump.knows_pfns() {
            return Err(ConvertError::NoPseudoPhysical);
        }
        let (runs, stats) = page_runs(dump, opts.allow_truncated)?;
        if runs.is_empty() {
            return Err(ConvertError::NoPages);
        }
        let mut warnings = Vec::new();
        if stats.missing_pages > 0 {
            warnings.push(format!(
                "{} pages missing from the truncated dump are left out of the vmcore",
                stats.missing_pages
            ));
        }
        if stats.invalid_entries > 0 {
            warnings.push(format!(
                "{} frame-table entries marked invalid were skipped",
                stats.invalid_entries
            ));
        }
        let kernel = KernelMap::detect(guest);
        if kernel.direct_map.is_none() {
            warnings.push(
                "no direct map found in the guest's page tables: PT_LOADs get p_vaddr 0"
                    .to_string(),
            );
        }
        let vmcoreinfo = match opts.vmcoreinfo {
            VmcoreinfoScan::Off => None,
            VmcoreinfoScan::Quick => find_vmcoreinfo(guest, &kernel, ScanDepth::Quick),
            VmcoreinfoScan::Full => find_vmcoreinfo(guest, &kernel, ScanDepth::Full),
        };
        if vmcoreinfo.is_none() && opts.vmcoreinfo != VmcoreinfoScan::Off {
            warnings.push(
                "no VMCOREINFO note found in guest memory: drgn needs one, crash and makedumpfile want one".to_string(),
            );
        }

        // Physical segments, relative to the data start for now.
        let mut segments = Vec::with_capacity(runs.len());
        let mut rel = 0u64;
        for run in &runs {
            for (skip, count, mapped) in split_by_direct_map(guest, &kernel, run.pfn, run.count) {
                let paddr = (run.pfn + skip) << PAGE_SHIFT;
                let vaddr = match (mapped, kernel.direct_map) {
                    (true, Some(dm)) => dm.base.wrapping_add(paddr),
                    _ => 0,
                };
                segments.push(Segment {
                    kind: SegmentKind::Physical,
                    paddr,
                    vaddr,
                    size: count * PAGE_SIZE,
                    offset: rel,
                    first_page: if run.in_order {
                        PageIndex(run.first.0 + skip)
                    } else {
                        dump.page_of_pfn(crate::addr::GuestFrame(run.pfn + skip))
                            .unwrap_or(run.first)
                    },
                    in_order: run.in_order,
                });
                rel += count * PAGE_SIZE;
            }
        }
        let data_bytes = rel;

        let mut image_segments = Vec::new();
        if let Some(text) = kernel.text {
            let (lo, hi) = (text.pa, text.pa.saturating_add(text.size));
            for s in &segments {
                let start = s.paddr.max(lo);
                let end = (s.paddr + s.size).min(hi);
                if start < end {
                    let skip = start - s.paddr;
                    image_segments.push(Segment {
                        kind: SegmentKind::KernelImage,
                        paddr: start,
                        vaddr: start.wrapping_add(text.offset()),
                        size: end - start,
                        offset: s.offset + skip,
                        first_page: if s.in_order {
                            PageIndex(s.first_page.0 + skip / PAGE_SIZE)
                        } else {
                            dump.page_of_pfn(crate::addr::GuestFrame(start >> PAGE_SHIFT))
                                .unwrap_or(s.first_page)
                        },
                        in_order: s.in_order,
                    });
                }
            }
        }

        // A saved image's PV page tables are canonical already: its save path rewrote
        // them (docs/xl-save-format.md), and the image knows no machine frames.
        let canonical_already =
            dump.guest_kind() == GuestKind::Pv && dump.table_frame_space() == FrameSpace::Guest;
        if canonical_already && opts.keep_machine_frames {
            warnings.push(
                "--keep-machine-frames: this saved image's page tables hold pfns (its save path rewrote them) and it knows no machine frames: they are written as they are".to_string(),
            );
        }
        let tables = (dump.table_frame_space() == FrameSpace::Machine
            && dump.guest_kind() == GuestKind::Pv
            && !opts.keep_machine_frames)
            .then(|| {
                let roots = table_roots(guest, &kernel, vmcoreinfo.as_ref(), &opts.extra_pgds);
                discover(dump, &roots)
            });
        if let Some(t) = &tables {
            for r in &t.roots {
                if let Some(why) = r.rejected {
                    warnings.push(format!(
                        "page tables: {} is not canonicalised: {why}",
                        r.root.source
                    ));
                }
            }
            if t.stats.conflicts > 0 {
                warnings.push(format!(
                    "page tables: {} table pages are reached at two different levels; each is rewritten as the level it was first reached at",
                    t.stats.conflicts
                ));
            }
            if t.stats.unreadable > 0 {
                warnings.push(format!(
                    "page tables: {} table pages are missing from the (truncated) dump file",
                    t.stats.unreadable
                ));
            }
        }

        let mut start_info = None;
        if (tables.is_some() || canonical_already) && !opts.keep_xen_start_info {
            let search = match opts.xen_start_info_va {
                Some(va) => match pointer_at(guest, &kernel, va) {
                    Some(p) if p.value != 0 => StartInfoSearch::Found(p),
                    Some(_) => StartInfoSearch::NotFound,
                    None => {
                        warnings.push(format!(
                            "xen_start_info ({va:#x}) cannot be read: left as it is"
                        ));
                        StartInfoSearch::NotFound
                    }
                },
                None => find_xen_start_info(guest, &kernel),
            };
            match search {
                StartInfoSearch::Found(p) => start_info = Some(p),
                StartInfoSearch::NotFound => {}
                StartInfoSearch::Ambiguous(at) => warnings.push(format!(
                    "{} words of the kernel image point at Xen's start_info page (at {}): none is taken for xen_start_info, which is left as it is, so crash will take the guest for a Xen PV one and misread its canonical page tables",
                    at.len(),
                    at.iter().map(|a| format!("{a:#x}")).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        let start_info_page =
            start_info.and_then(|p| dump.page_of_pfn(crate::addr::GuestFrame(p.pa >> PAGE_SHIFT)));

        let notes = build_notes(
            guest,
            &kernel,
            vmcoreinfo.as_ref(),
            tables.as_ref(),
            start_info.as_ref(),
        );
        let p2m_runs = p2m_runs(dump).count() as u64;
        let p2m_runs = if super::notes::p2m_note_header(p2m_runs).is_some() {
            p2m_runs
        } else {
            warnings.push("the p2m is too fragmented for one note and is left out".into());
            0
        };
        let notes_size = notes.len() as u64
            + if p2m_runs > 0 {
                p2m_note_size(p2m_runs)
            } else {
                0
            };
        let phnum = 1 + image_segments.len() as u64 + segments.len() as u64;
        let notes_offset = headers_size(phnum);
        let data_offset = (notes_offset + notes_size).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        for s in segments.iter_mut().chain(image_segments.iter_mut()) {
            s.offset += data_offset;
        }
        Ok(Plan {
            machine: match guest.guest_width() {
                Width::Bits64 => EM_X86_64,
                Width::Bits32 => EM_386,
            },
            image_segments,
            segments,
            notes,
            p2m_runs,
            notes_offset,
            notes_size,
            data_offset,
            file_size: data_offset + data_bytes,
            kernel,
            vmcoreinfo,
            tables,
            start_info,
            start_info_page,
            stats,
            warnings,
        })
    }

    /// Number of program headers.
    pub fn phnum(&self) -> u64 {
        1 + self.image_segments.len() as u64 + self.segments.len() as u64
    }

    /// The program headers in file order.
    pub fn program_headers(&self) -> impl Iterator<Item = ProgramHeader> + '_ {
        let note = ProgramHeader {
            p_type: PT_NOTE,
            p_flags: 0,
            p_offset: self.notes_offset,
            p_vaddr: 0,
            p_paddr: 0,
            p_filesz: self.notes_size,
            p_memsz: self.notes_size,
            p_align: 4,
        };
        std::iter::once(note).chain(
            self.image_segments
                .iter()
                .chain(&self.segments)
                .map(Segment::header),
        )
    }

    /// Bytes of guest memory the vmcore holds.
    pub fn data_bytes(&self) -> u64 {
        self.file_size - self.data_offset
    }
}

/// The roots of a PV guest's table trees: every vCPU's kernel table (`ctrlreg[3]`) and
/// 64-bit user table (`ctrlreg[1]`), which Xen validated and holds references to; the
/// kernel's own top-level table named by VMCOREINFO (`swapper_pg_dir`, on x86_64 also
/// `init_top_pgt`), and `extra` tables, both translated through the kernel's page tables
/// and checked before use.
pub fn table_roots(
    guest: &Guest,
    kernel: &KernelMap,
    vmcoreinfo: Option<&VmcoreInfo>,
    extra: &[(String, u64)],
) -> Vec<TableRoot> {
    let mut roots = Vec::new();
    let mut mode_of_guest = None;
    for v in guest.vcpus() {
        let Some(space) = guest.vcpu_space(v.slot) else {
            continue;
        };
        let Some(root) = space.root else {
            continue;
        };
        mode_of_guest.get_or_insert(space.mode);
        // A root taken from the vCPU's own CR3 is one Xen validated; one the kernel's
        // view put there instead is checked like any other claim.
        let own = matches!(
            guest.root_info(v.slot),
            None | Some(RootInfo {
                problem: None,
                source: RootSource::Cr3,
                ..
            })
        );
        roots.push(TableRoot {
            source: if own {
                format!("vCPU {} cr3", v.slot)
            } else {
                format!(
                    "vCPU {} (the kernel's table, its cr3 being unusable)",
                    v.slot
                )
            },
            mode: space.mode,
            mfn: Some(root.frame),
            check: !own,
        });
        if space.mode == PagingMode::FourLevel && v.ctrlreg[1] != 0 {
            roots.push(TableRoot {
                source: format!("vCPU {} user table (ctrlreg[1])", v.slot),
                mode: space.mode,
                mfn: Some(Cr3Decode::Pv64.decode(v.ctrlreg[1]).frame),
                check: false,
            });
        }
    }
    let Some(mode) = mode_of_guest else {
        return roots;
    };
    let mut named: Vec<(String, u64)> = Vec::new();
    if let Some(info) = vmcoreinfo {
        for sym in ["swapper_pg_dir", "init_top_pgt"] {
            if let Some(va) = info.symbol(sym) {
                if !named.iter().any(|(_, v)| *v == va) {
                    named.push((format!("SYMBOL({sym})"), va));
                }
            }
        }
    }
    named.extend(extra.iter().cloned());
    for (source, va) in named {
        roots.push(TableRoot {
            source: format!("{source} {va:#x}"),
            mode,
            mfn: kernel_va_to_mfn(guest, kernel, va),
            check: true,
        });
    }
    roots
}

/// The table-space frame of page-aligned kernel address `va`, through the page tables
/// of the vCPU that showed the kernel's mappings, else of any vCPU.
fn kernel_va_to_mfn(guest: &Guest, kernel: &KernelMap, va: u64) -> Option<u64> {
    kernel_va_to_frame(guest, kernel, va)
        .filter(|&(_, offset)| offset == 0)
        .map(|(frame, _)| frame)
}

/// The table-space frame and offset of kernel address `va` (see [`kernel_va_to_mfn`]).
fn kernel_va_to_frame(guest: &Guest, kernel: &KernelMap, va: u64) -> Option<(u64, u64)> {
    let slots = kernel
        .vcpu
        .into_iter()
        .chain(0..guest.vcpus().len())
        .collect::<Vec<_>>();
    slots.into_iter().find_map(|slot| {
        let space = guest.vcpu_space(slot)?;
        space.root?;
        guest
            .translate(space, VirtAddr(va))
            .ok()
            .map(|t| (t.frame, t.offset))
    })
}

/// The `xen_start_info` pointer at kernel address `va`: where it is and what it holds.
fn pointer_at(guest: &Guest, kernel: &KernelMap, va: u64) -> Option<StartInfoPointer> {
    let (mfn, offset) = kernel_va_to_frame(guest, kernel, va)?;
    let pfn = guest.dump().mfn_to_pfn(crate::addr::MachineFrame(mfn))?.0;
    let pa = (pfn << PAGE_SHIFT) | offset;
    let size: u8 = match guest.guest_width() {
        Width::Bits64 => 8,
        Width::Bits32 => 4,
    };
    let mut b = [0u8; 8];
    let mut cache = crate::memory::TranslationCache::new(1);
    guest
        .read_exact(
            &mut cache,
            crate::memory::Via::Physical,
            pa,
            &mut b[..usize::from(size)],
        )
        .ok()?;
    let value = u64::from_le_bytes(b);
    Some(StartInfoPointer {
        pa,
        size,
        value,
        start_info_pa: kernel.direct_map.map_or(0, |d| value.wrapping_sub(d.base)),
    })
}

/// Split the run of `count` frames from `pfn` into (skip, count, in direct map) parts:
/// a covered prefix and the rest. The direct map of a 32-bit kernel ends at the top of
/// its low memory, so a run can straddle that end; the end is found by bisection, as
/// the map is a prefix of physical memory.
fn split_by_direct_map(
    guest: &Guest,
    kernel: &KernelMap,
    pfn: u64,
    count: u64,
) -> Vec<(u64, u64, bool)> {
    let covers = |k: u64| kernel.direct_map_covers(guest, (pfn + k) << PAGE_SHIFT);
    if kernel.direct_map.is_none() || !covers(0) {
        return vec![(0, count, false)];
    }
    if covers(count - 1) {
        return vec![(0, count, true)];
    }
    // Invariant: covers(lo), !covers(hi).
    let (mut lo, mut hi) = (0u64, count - 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if covers(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    vec![(0, lo + 1, true), (lo + 1, count - lo - 1, false)]
}
