//! Large guests for benchmarks: gigabytes of RAM described by frame runs, scrambled
//! machine frames, and a range of kernel memory mapped with 4 KiB pages and filled with
//! a known pattern.
//!
//! Only the mapped range and the page tables have contents; every other page is zero,
//! so [`GuestImage::write_file`] turns a 64 GiB guest into a sparse file whose disk
//! use is its frame table. The pattern is a function of the guest frame and word
//! ([`pattern_word`]), so a benchmark can check what it read without a second copy.

use crate::addr::{GuestFrame, MachineFrame, VirtAddr, PAGE_SIZE};
use crate::dump::{GuestKind, Width};
use crate::memory::{PageSize, PagingMode, Root};
use crate::vcpu::VGCF_IN_KERNEL;

use super::image::FrameRun;
use super::pagetable::{EntryFlags, PageTableBuilder, PageTableError};
use super::{x86, BuildError, GuestImage, VcpuImage};

/// Virtual address of the first mapped page (a vmalloc-style kernel address).
pub const MAPPED_VA: u64 = 0xffff_c900_0000_0000;
/// Guest frame of the first mapped page (32 MiB into RAM).
pub const MAPPED_PFN: u64 = 0x2000;
/// Guest frames handed out for page tables start here (below the mapped range).
const TABLE_POOL: u64 = 0x200;
/// Table frames available: enough for 8 address spaces mapping 1 GiB each.
const TABLE_POOL_PAGES: u64 = 0x1000;
/// Machine frame of the lowest PV chunk (as if the guest sat above 4 GiB of host RAM).
const MFN_BASE: u64 = 0x10_0000;
/// HVM RAM stops below the MMIO hole here and resumes at 4 GiB (hvmloader's layout).
const HVM_LOW_END: u64 = 0xF_0000;
const HVM_HIGH_START: u64 = 0x10_0000;
/// The VGA hole every HVM guest has.
const VGA_HOLE: std::ops::Range<u64> = 0xA0..0xC0;

/// Why a large guest could not be laid out.
#[derive(Debug, thiserror::Error)]
pub enum LargeGuestError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Tables(#[from] PageTableError),
    #[error(
        "{ram_pages:#x} pages of RAM do not hold the mapped range (pfns {MAPPED_PFN:#x}..{end:#x})"
    )]
    MappedRangeOutsideRam { ram_pages: u64, end: u64 },
    #[error("a guest needs at least one vCPU")]
    NoVcpus,
    #[error("the page tables need more than the {TABLE_POOL_PAGES} frames of the table pool")]
    TablePoolExhausted,
}

/// What to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LargeGuest {
    /// PV (64-bit, machine frames in the tables) or HVM (64-bit, guest frames).
    pub kind: GuestKind,
    /// Guest RAM in 4 KiB pages (HVM: the VGA hole is taken out of it).
    pub ram_pages: u64,
    /// PV: machine frames are contiguous within chunks of this many pages, and the
    /// chunks are scattered over machine memory in a scrambled order (512 = Xen's 2 MiB
    /// superpage allocations; 1 = every page on its own). Ignored for HVM.
    pub mfn_chunk: u64,
    /// Pages mapped from [`MAPPED_VA`] with 4 KiB pages, to guest frames from
    /// [`MAPPED_PFN`] on, filled with [`pattern_word`].
    pub mapped_pages: u64,
    /// vCPUs, each with its own copy of the page tables (its own CR3).
    pub vcpus: usize,
}

/// A built large guest.
#[derive(Clone, Debug)]
pub struct LargeImage {
    /// The guest, ready to be written in any format.
    pub image: GuestImage,
    /// Paging mode of every vCPU (4-level).
    pub mode: PagingMode,
    /// Root of each vCPU's tables, in the tables' frame space.
    pub roots: Vec<Root>,
    /// First mapped virtual address.
    pub mapped_va: u64,
    /// Mapped bytes from `mapped_va` on.
    pub mapped_len: u64,
}

impl LargeImage {
    /// The guest frame behind mapped virtual address `va`, if it is in the range.
    pub fn pfn_of(&self, va: u64) -> Option<GuestFrame> {
        let off = va.checked_sub(self.mapped_va)?;
        (off < self.mapped_len).then_some(GuestFrame(MAPPED_PFN + off / PAGE_SIZE))
    }

    /// The bytes a correct reader returns for `buf.len()` bytes at mapped `va`
    /// (`None` if the range leaves the mapping).
    pub fn expected(&self, va: u64, buf: &mut [u8]) -> Option<()> {
        let end = va.checked_add(buf.len() as u64)?;
        if va < self.mapped_va || end > self.mapped_va + self.mapped_len {
            return None;
        }
        for (i, b) in buf.iter_mut().enumerate() {
            let a = va + i as u64;
            let pfn = MAPPED_PFN + (a - self.mapped_va) / PAGE_SIZE;
            let in_page = a % PAGE_SIZE;
            let word = pattern_word(pfn, in_page / 8).to_le_bytes();
            *b = word[(in_page % 8) as usize];
        }
        Some(())
    }
}

/// The `word`-th u64 of guest frame `pfn` in a mapped page (splitmix64 of both).
pub fn pattern_word(pfn: u64, word: u64) -> u64 {
    let mut z = (pfn << 9 | word).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A page of [`pattern_word`]s for `pfn`.
pub fn pattern_page(pfn: u64) -> Box<[u8; PAGE_SIZE as usize]> {
    let mut page = Box::new([0u8; PAGE_SIZE as usize]);
    for (w, chunk) in page.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&pattern_word(pfn, w as u64).to_le_bytes());
    }
    page
}

impl LargeGuest {
    /// The machine frame of `pfn` for a PV guest: chunk `c` of `mfn_chunk` pages lands
    /// at chunk slot `c × K mod chunks` (K a prime larger than any chunk count, so the
    /// map is a bijection that scatters neighbours).
    pub fn pv_mfn(&self, pfn: u64) -> u64 {
        const K: u64 = 2_654_435_761;
        let chunk = self.mfn_chunk.max(1);
        let chunks = self.ram_pages.div_ceil(chunk).max(1);
        let slot = ((u128::from(pfn / chunk) * u128::from(K)) % u128::from(chunks)) as u64;
        MFN_BASE + slot * chunk + pfn % chunk
    }

    /// The frame `pfn` has in the page tables (mfn for PV, pfn for HVM).
    fn table_frame(&self, pfn: u64) -> u64 {
        match self.kind {
            GuestKind::Pv => self.pv_mfn(pfn),
            GuestKind::Hvm => pfn,
        }
    }

    /// Lay out the guest. Frame runs are appended directly (they are sorted and
    /// disjoint by construction), which keeps millions of 1-page chunks affordable.
    pub fn build(&self) -> Result<LargeImage, LargeGuestError> {
        let mode = PagingMode::FourLevel;
        let mut image = GuestImage::new(self.kind, Width::Bits64);
        let end = MAPPED_PFN + self.mapped_pages;
        // HVM RAM has the MMIO hole below 4 GiB: keep the range under it.
        let ram_end = match self.kind {
            GuestKind::Pv => self.ram_pages,
            GuestKind::Hvm => self.ram_pages.min(HVM_LOW_END),
        };
        if end > ram_end {
            return Err(LargeGuestError::MappedRangeOutsideRam {
                ram_pages: self.ram_pages,
                end,
            });
        }
        if self.vcpus == 0 {
            return Err(LargeGuestError::NoVcpus);
        }
        match self.kind {
            GuestKind::Pv => {
                let chunk = self.mfn_chunk.max(1);
                let mut pfn = 0;
                while pfn < self.ram_pages {
                    let count = (chunk - pfn % chunk).min(self.ram_pages - pfn);
                    image.frames.push(FrameRun {
                        pfn: GuestFrame(pfn),
                        mfn: MachineFrame(self.pv_mfn(pfn)),
                        count,
                    });
                    pfn += count;
                }
            }
            GuestKind::Hvm => {
                let low_end = self.ram_pages.min(HVM_LOW_END);
                image.add_run(GuestFrame(0), MachineFrame(MFN_BASE), VGA_HOLE.start)?;
                image.add_run(
                    GuestFrame(VGA_HOLE.end),
                    MachineFrame(MFN_BASE + VGA_HOLE.end),
                    low_end - VGA_HOLE.end,
                )?;
                if self.ram_pages > low_end {
                    image.add_run(
                        GuestFrame(HVM_HIGH_START),
                        MachineFrame(MFN_BASE + HVM_HIGH_START),
                        self.ram_pages - low_end,
                    )?;
                }
            }
        }

        // The mapping, split where machine frames stop being consecutive.
        let mut tables = PageTableBuilder::new(mode);
        let rw = EntryFlags {
            writable: true,
            no_execute: true,
            ..EntryFlags::default()
        };
        let mut page = 0;
        while page < self.mapped_pages {
            let pfn = MAPPED_PFN + page;
            let run = match self.kind {
                GuestKind::Pv => {
                    let chunk = self.mfn_chunk.max(1);
                    (chunk - pfn % chunk).min(self.mapped_pages - page)
                }
                GuestKind::Hvm => self.mapped_pages - page,
            };
            tables.map(
                VirtAddr(MAPPED_VA + page * PAGE_SIZE),
                self.table_frame(pfn),
                PageSize::Size4K,
                run,
                rw,
            )?;
            page += run;
        }
        for p in 0..self.mapped_pages {
            let pfn = MAPPED_PFN + p;
            image.contents.insert(GuestFrame(pfn), pattern_page(pfn));
        }

        // One copy of the tables per vCPU, from the table pool.
        let mut next = TABLE_POOL;
        let mut roots = Vec::with_capacity(self.vcpus);
        for _ in 0..self.vcpus {
            let built = tables.build(|| {
                let f = self.table_frame(next);
                next += 1;
                f
            })?;
            if next > TABLE_POOL + TABLE_POOL_PAGES {
                return Err(LargeGuestError::TablePoolExhausted);
            }
            roots.push(built.root);
            for (frame, page) in built.pages {
                let pfn = match self.kind {
                    GuestKind::Pv => frame_to_pool_pfn(self, frame),
                    GuestKind::Hvm => Some(frame),
                };
                let pfn = pfn.ok_or(LargeGuestError::TablePoolExhausted)?;
                image.set_page(GuestFrame(pfn), &page)?;
            }
        }

        for (slot, root) in roots.iter().enumerate() {
            let mut v = VcpuImage::online();
            let (cr3, cs, ss) = match self.kind {
                GuestKind::Pv => {
                    v.flags |= VGCF_IN_KERNEL;
                    (x86::xen_cr3_64(root.frame), 0xe033, 0xe02b)
                }
                GuestKind::Hvm => {
                    let cr3 = x86::architectural_cr3(mode, root.frame * PAGE_SIZE)
                        .expect("table pool frames fit CR3");
                    (cr3, 0x10, 0x18)
                }
            };
            v.ctrlreg = [0x8005_0033, 0, 0, cr3, 0x0035_06f0, 0, 0, 0];
            if self.kind == GuestKind::Hvm {
                v.efer = x86::efer_for(mode);
            }
            v.rip = 0xffff_ffff_8100_0000 + 0x10 * slot as u64;
            v.gprs.rsp = MAPPED_VA + 0x800;
            v.gprs.rax = 0x1000 + slot as u64;
            v.rflags = 0x246;
            v.selectors.cs = cs;
            v.selectors.ss = ss;
            v.gs_base_kernel = 0xffff_8880_7fc0_0000 + slot as u64 * 0x10_0000;
            image.push_vcpu(v);
        }
        Ok(LargeImage {
            image,
            mode,
            roots,
            mapped_va: MAPPED_VA,
            mapped_len: self.mapped_pages * PAGE_SIZE,
        })
    }
}

/// The pool pfn whose PV machine frame is `mfn` (the pool is small: search it).
fn frame_to_pool_pfn(g: &LargeGuest, mfn: u64) -> Option<u64> {
    (TABLE_POOL..TABLE_POOL + TABLE_POOL_PAGES).find(|&p| g.pv_mfn(p) == mfn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::XenDump;
    use crate::memory::{Guest, GuestOptions, TranslationCache, Via};

    #[test]
    fn pv_mfns_are_a_scrambled_bijection() {
        let g = LargeGuest {
            kind: GuestKind::Pv,
            ram_pages: 0x2_0000,
            mfn_chunk: 512,
            mapped_pages: 16,
            vcpus: 1,
        };
        let mut seen: Vec<u64> = (0..g.ram_pages).map(|p| g.pv_mfn(p)).collect();
        // Neighbouring chunks are not neighbours in machine memory.
        assert_ne!(g.pv_mfn(512), g.pv_mfn(511) + 1);
        assert_eq!(g.pv_mfn(1), g.pv_mfn(0) + 1);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len() as u64, g.ram_pages);
    }

    #[test]
    fn mapped_range_reads_back_the_pattern_in_both_kinds() {
        for kind in [GuestKind::Pv, GuestKind::Hvm] {
            let g = LargeGuest {
                kind,
                ram_pages: MAPPED_PFN + 0x400,
                mfn_chunk: 8,
                mapped_pages: 0x40,
                vcpus: 2,
            };
            let built = g.build().unwrap();
            let bytes = built
                .image
                .write(&crate::builder::DumpOptions::default())
                .unwrap();
            let guest =
                Guest::new(XenDump::from_bytes(bytes).unwrap(), GuestOptions::default()).unwrap();
            let mut cache = TranslationCache::default();
            let va = built.mapped_va + 0x1ff8; // crosses a page and a chunk boundary
            let mut got = vec![0u8; 0x3010];
            for slot in 0..2 {
                let n = guest.read(
                    &mut cache,
                    Via::Virtual(guest.vcpu_space(slot).unwrap()),
                    va,
                    &mut got,
                );
                assert_eq!(n, got.len(), "{kind:?} vCPU {slot}");
                // Independent of the reader: the pattern function itself.
                let first = pattern_word(MAPPED_PFN + 1, 0x1ff);
                assert_eq!(got[..8], first.to_le_bytes(), "{kind:?}");
                let mut want = vec![0u8; got.len()];
                built.expected(va, &mut want).unwrap();
                assert_eq!(got, want, "{kind:?} vCPU {slot}");
            }
            // Just past the mapping: nothing.
            let end = VirtAddr(built.mapped_va + built.mapped_len);
            assert_eq!(
                guest.read(
                    &mut cache,
                    Via::Virtual(guest.vcpu_space(0).unwrap()),
                    end.0,
                    &mut got
                ),
                0
            );
        }
    }
}
