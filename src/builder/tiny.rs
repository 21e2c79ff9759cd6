//! A tiny guest: 32 pages with page tables and known memory.
//!
//! Small enough (a few dozen KiB as a dump) to seed fuzzers and to keep damaged copies
//! of in the repository as a test corpus, yet with everything a reader must get right:
//! page tables in the guest's own frame space, a string, a counter, an unmapped address,
//! an address mapped to a frame the dump does not hold, and two vCPUs.
//! [`TinyFacts`] are computed from this description, never read back from a dump.

use std::borrow::Cow;

use crate::addr::{GuestFrame, MachineFrame, VirtAddr, PAGE_SIZE};
use crate::dump::{GuestKind, Width};
use crate::memory::{PageSize, PagingMode, Root};
use crate::vcpu::{VGCF_IN_KERNEL, VGCF_ONLINE};

use super::pagetable::{EntryFlags, PageTableBuilder};
use super::scenario::{dumped_cr3, legacy_hvm_image, ScenarioError};
use super::{x86, BuildError, DumpOptions, GuestImage, VcpuImage};

/// Guest frames of RAM in a tiny guest.
pub const TINY_PAGES: u64 = 32;
/// First guest frame handed out for page tables.
const TABLE_POOL: u64 = 0x10;
/// pfn of the text page (code at 0, the banner at offset 0x100).
pub const TEXT_PFN: u64 = 1;
/// pfn of the first of the two data pages.
pub const DATA_PFN: u64 = 2;
/// pfn of the tail page: the last page of the dump, mapped at [`TinyFacts::tail_va`].
pub const TAIL_PFN: u64 = TINY_PAGES - 1;
/// Offset of the banner in the text page.
const BANNER_OFFSET: u64 = 0x100;
/// A frame that is mapped but not in the dump.
const ABSENT_FRAME: u64 = 0x7_0000;

/// Machine frame of a tiny PV guest's pfn: not the identity and not monotonic, so a
/// reader that confuses pfn and mfn fails.
pub fn tiny_mfn(pfn: u64) -> u64 {
    0x5_1000 + (pfn ^ 0x5)
}

/// Addresses and values a tiny guest guarantees.
#[derive(Clone, Debug)]
pub struct TinyFacts {
    /// Virtual address of the text page (starts `nop; nop; hlt; jmp .-3`).
    pub text_va: u64,
    /// Virtual address of the banner string.
    pub banner_va: u64,
    /// The banner's bytes.
    pub banner: &'static str,
    /// Virtual address of a u64 counter in the first data page.
    pub counter_va: u64,
    /// Its value.
    pub counter: u64,
    /// Start of the two 4 KiB data pages; each holds `0xda7a_0000 + n` at offset 8.
    pub data_va: u64,
    /// Virtual address of the tail page (the dump's last page), which holds
    /// [`TinyFacts::tail_value`] at offset 0.
    pub tail_va: u64,
    /// The u64 at `tail_va`.
    pub tail_value: u64,
    /// A kernel address with no mapping.
    pub unmapped_va: u64,
    /// An address mapped to a frame the dump does not hold.
    pub absent_va: u64,
    /// Root table, in the tables' frame space.
    pub root: Root,
    /// Guest frames of the page tables, root first.
    pub table_pfns: Vec<GuestFrame>,
}

/// A tiny guest and what it is known to contain.
#[derive(Clone, Debug)]
pub struct TinyGuest {
    pub image: GuestImage,
    pub mode: PagingMode,
    pub facts: TinyFacts,
    /// The mappings: the translation oracle.
    pub tables: PageTableBuilder,
}

impl TinyGuest {
    /// A guest of `kind` whose two vCPUs use paging `mode`: PV with 4-level or PAE,
    /// HVM with any mode that has tables.
    pub fn new(kind: GuestKind, mode: PagingMode) -> Result<TinyGuest, ScenarioError> {
        let unsupported = ScenarioError::Unsupported { kind, mode };
        match (kind, mode) {
            (_, PagingMode::None) => return Err(unsupported),
            (GuestKind::Pv, PagingMode::FourLevel | PagingMode::Pae) => {}
            (GuestKind::Pv, _) => return Err(unsupported),
            (GuestKind::Hvm, _) => {}
        }
        let width = if x86::is_32bit(mode) {
            Width::Bits32
        } else {
            Width::Bits64
        };
        let mut image = GuestImage::new(kind, width);
        // Runs of consecutive mfns: for PV, one per pfn (the mfns are scrambled).
        match kind {
            GuestKind::Pv => {
                for pfn in 0..TINY_PAGES {
                    image.add_run(GuestFrame(pfn), MachineFrame(tiny_mfn(pfn)), 1)?;
                }
            }
            GuestKind::Hvm => {
                image.add_run(GuestFrame(0), MachineFrame(0x20_0000), TINY_PAGES)?;
            }
        }
        let tf = |pfn: u64| match kind {
            GuestKind::Pv => tiny_mfn(pfn),
            GuestKind::Hvm => pfn,
        };
        let (text_va, data_va, absent_va, unmapped_va) = if width == Width::Bits64 {
            (
                0xffff_ffff_8100_0000u64,
                0xffff_ffff_8200_0000u64,
                0xffff_ffff_8300_0000u64,
                0xffff_ffff_9000_0000u64,
            )
        } else {
            (0xc100_0000, 0xc200_0000, 0xc380_0000, 0xd000_0000)
        };
        let rw = EntryFlags {
            writable: true,
            ..EntryFlags::default()
        };
        let mut tables = PageTableBuilder::new(mode);
        tables.map(
            VirtAddr(text_va),
            tf(TEXT_PFN),
            PageSize::Size4K,
            1,
            EntryFlags::default(),
        )?;
        tables.map(VirtAddr(data_va), tf(DATA_PFN), PageSize::Size4K, 2, rw)?;
        tables.map(VirtAddr(absent_va), ABSENT_FRAME, PageSize::Size4K, 1, rw)?;
        // In the next 2 MiB (its own PDE and page table), so damage to them spares the rest.
        let tail_va = data_va + 0x20_0000;
        tables.map(VirtAddr(tail_va), tf(TAIL_PFN), PageSize::Size4K, 1, rw)?;

        let mut next = TABLE_POOL;
        let mut table_pfns = Vec::new();
        let built = tables.build(|| {
            let f = tf(next);
            table_pfns.push(GuestFrame(next));
            next += 1;
            f
        })?;
        for (frame, page) in built.pages {
            let pfn = match kind {
                GuestKind::Pv => image
                    .mfn_to_pfn(MachineFrame(frame))
                    .expect("pool frame is RAM"),
                GuestKind::Hvm => GuestFrame(frame),
            };
            image.set_page(pfn, &page)?;
        }
        let root = built.root;

        let banner = "Linux version 6.1.0-tiny (xendump-gdbserver damaged-dump corpus)";
        image.write_bytes(GuestFrame(TEXT_PFN), 0, &[0x90, 0x90, 0xf4, 0xeb, 0xfd])?;
        image.write_bytes(GuestFrame(TEXT_PFN), BANNER_OFFSET, banner.as_bytes())?;
        let counter = 0x1_0000_2a3bu64;
        image.write_u64(GuestFrame(DATA_PFN), 0x40, counter)?;
        let tail_value = 0x7a11_0000_0000_0000 | TAIL_PFN;
        image.write_u64(GuestFrame(TAIL_PFN), 0, tail_value)?;
        for p in 0..2 {
            image.write_u64(GuestFrame(DATA_PFN + p), 8, 0xda7a_0000 + p)?;
        }

        let cr3 = dumped_cr3(kind, width, mode, root);
        let (cr0, cr4) = match mode {
            PagingMode::TwoLevel { .. } => (0x8005_0033u64, 0x0000_0690u64),
            PagingMode::Pae => (0x8005_0033, 0x0000_06b0),
            PagingMode::FourLevel => (0x8005_0033, 0x0035_06f0),
            PagingMode::FiveLevel => (0x8005_0033, 0x0035_16f0),
            PagingMode::None => unreachable!("rejected above"),
        };
        let (cs, ss) = match (kind, width) {
            (GuestKind::Pv, Width::Bits64) => (0xe033u16, 0xe02bu16),
            (GuestKind::Pv, Width::Bits32) => (0x0061, 0x0069),
            (GuestKind::Hvm, Width::Bits64) => (0x0010, 0x0018),
            (GuestKind::Hvm, Width::Bits32) => (0x0060, 0x0068),
        };
        for slot in 0..2u64 {
            let mut v = VcpuImage::online();
            if slot == 1 {
                v.flags &= !VGCF_ONLINE;
            }
            if kind == GuestKind::Pv {
                v.flags |= VGCF_IN_KERNEL;
            }
            v.gprs.rax = 0x1000 + slot;
            v.gprs.rbx = 0x2000 + slot;
            v.gprs.rsp = data_va + PAGE_SIZE + 0x800 - slot * 0x100;
            v.rip = text_va + 2;
            v.rflags = 0x246;
            v.selectors.cs = cs;
            v.selectors.ss = ss;
            v.ctrlreg = [cr0, 0, 0xdead_0000 + slot, cr3, cr4, 0, 0, 0];
            if kind == GuestKind::Hvm {
                v.efer = x86::efer_for(mode);
            }
            if width == Width::Bits64 {
                v.gs_base_kernel = 0xffff_8880_7fc0_0000 + slot * 0x10_0000;
            }
            image.push_vcpu(v);
        }

        let facts = TinyFacts {
            text_va,
            banner_va: text_va + BANNER_OFFSET,
            banner,
            counter_va: data_va + 0x40,
            counter,
            data_va,
            tail_va,
            tail_value,
            unmapped_va,
            absent_va,
            root,
            table_pfns,
        };
        Ok(TinyGuest {
            image,
            mode,
            facts,
            tables,
        })
    }

    /// The guest as a dump written with `opts` records it: the image itself, except
    /// that a legacy HVM dump holds the CR3 values Xen 3.0.x stored (the machine frame
    /// of the top-level table; see [`super::scenario::Scenario::image_for`]).
    pub fn image_for(&self, opts: &DumpOptions) -> Cow<'_, GuestImage> {
        legacy_hvm_image(&self.image, opts)
    }

    /// The guest as a dump in `opts` format (the legacy writer stores CR3 as Xen 3.0.x
    /// did, see [`TinyGuest::image_for`]).
    pub fn write(&self, opts: &DumpOptions) -> Result<Vec<u8>, BuildError> {
        self.image.write(opts)
    }
}

/// Machine frame of a [`MicroGuest`]'s first page: above 2^20, so a 32-bit Xen's
/// folded CR3 encoding has bits in both halves.
pub const MICRO_MFN: u64 = 0x12_3456;

/// What a [`MicroGuest`] holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MicroFacts {
    /// Virtual address of the banner.
    pub banner_va: u64,
    /// The banner's bytes.
    pub banner: &'static str,
    /// Guest-physical address of the banner.
    pub banner_pa: u64,
    /// Machine address of the banner.
    pub banner_ma: u64,
    /// A kernel address with no mapping.
    pub unmapped_va: u64,
    /// Root table (guest frame).
    pub root: Root,
    /// The vCPU's rax.
    pub rax: u64,
}

/// A guest about as small as a reader can still do everything with: two pages, a page
/// of kernel memory holding a banner (pfn 0) and the page directory of 2-level (PSE)
/// paging (pfn 1), both mapped by one 4 MiB page at `0xC000_0000`. A 32-bit HVM guest
/// of a 32-bit Xen, one vCPU. Its dumps take 12 KiB (legacy) and 16 KiB (ELF): small
/// enough to keep as fuzz regression inputs. (The root is not frame 0, so a reader that
/// falls back to frame 0 for a root it cannot decode does not read the right bytes by
/// chance.)
#[derive(Clone, Debug)]
pub struct MicroGuest {
    pub image: GuestImage,
    pub mode: PagingMode,
    pub facts: MicroFacts,
    /// The mappings: the translation oracle.
    pub tables: PageTableBuilder,
}

impl MicroGuest {
    /// Build it.
    pub fn new() -> Result<MicroGuest, ScenarioError> {
        let mode = PagingMode::TwoLevel { pse: true };
        let mut image = GuestImage::new(GuestKind::Hvm, Width::Bits32);
        image.set_hypervisor(Width::Bits32);
        image.add_run(GuestFrame(0), MachineFrame(MICRO_MFN), 2)?;
        let kernel_va = 0xC000_0000u64;
        let mut tables = PageTableBuilder::new(mode);
        tables.map(
            VirtAddr(kernel_va),
            0,
            PageSize::Size4M,
            1,
            EntryFlags::default(),
        )?;
        // The page directory goes in frame 1, inside the 4 MiB page.
        let built = tables.build(|| 1)?;
        let root = built.root;
        for (frame, page) in built.pages {
            image.set_page(GuestFrame(frame), &page)?;
        }
        let banner = "Linux version 2.6.18-micro (xendump-gdbserver fuzz seed)";
        let banner_off = 0x100;
        image.write_bytes(GuestFrame(0), banner_off, banner.as_bytes())?;
        let mut v = VcpuImage::online();
        let rax = 0x1000;
        v.gprs.rax = rax;
        v.gprs.rsp = kernel_va + 0xF00;
        v.rip = kernel_va + 0x80;
        v.rflags = 0x246;
        v.selectors.cs = 0x60;
        v.selectors.ss = 0x68;
        // CR0.PG; CR4.PSE without PAE.
        v.ctrlreg = [
            0x8005_0033,
            0,
            0,
            dumped_cr3(GuestKind::Hvm, Width::Bits32, mode, root),
            0x690,
            0,
            0,
            0,
        ];
        image.push_vcpu(v);
        let facts = MicroFacts {
            banner_va: kernel_va + banner_off,
            banner,
            banner_pa: banner_off,
            banner_ma: MICRO_MFN * PAGE_SIZE + banner_off,
            unmapped_va: 0xD000_0000,
            root,
            rax,
        };
        Ok(MicroGuest {
            image,
            mode,
            facts,
            tables,
        })
    }

    /// The guest as a dump written with `opts` records it (legacy HVM: the CR3 a
    /// 32-bit Xen 3.0.x stored, see [`TinyGuest::image_for`]).
    pub fn image_for(&self, opts: &DumpOptions) -> Cow<'_, GuestImage> {
        legacy_hvm_image(&self.image, opts)
    }

    /// The guest as a dump in `opts` format.
    pub fn write(&self, opts: &DumpOptions) -> Result<Vec<u8>, BuildError> {
        self.image.write(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::all_variants;
    use crate::dump::XenDump;
    use crate::memory::{Guest, GuestOptions, TranslationCache, Via};

    #[test]
    fn every_variant_of_every_tiny_guest_reads_back() {
        for (kind, mode) in [
            (GuestKind::Pv, PagingMode::FourLevel),
            (GuestKind::Pv, PagingMode::Pae),
            (GuestKind::Hvm, PagingMode::FourLevel),
            (GuestKind::Hvm, PagingMode::Pae),
            (GuestKind::Hvm, PagingMode::TwoLevel { pse: true }),
        ] {
            let t = TinyGuest::new(kind, mode).unwrap();
            let width = if x86::is_32bit(mode) {
                Width::Bits32
            } else {
                Width::Bits64
            };
            for (name, opts) in all_variants(kind, width) {
                // Legacy HVM: CR3 holds the root's machine frame (image_for).
                let bytes = t.write(&opts).unwrap();
                assert!(bytes.len() < 256 * 1024, "{name}: {} bytes", bytes.len());
                let g = Guest::new(XenDump::from_bytes(bytes).unwrap(), GuestOptions::default())
                    .unwrap();
                let mut c = TranslationCache::new(16);
                let mut b = vec![0u8; t.facts.banner.len()];
                g.read_exact(
                    &mut c,
                    Via::Virtual(g.vcpu_space(0).unwrap()),
                    t.facts.banner_va,
                    &mut b,
                )
                .unwrap_or_else(|e| panic!("{name} {mode}: {e}"));
                assert_eq!(b, t.facts.banner.as_bytes(), "{name} {mode}");
                let mut w = [0u8; 8];
                g.read_exact(
                    &mut c,
                    Via::Virtual(g.vcpu_space(1).unwrap()),
                    t.facts.counter_va,
                    &mut w,
                )
                .unwrap();
                assert_eq!(u64::from_le_bytes(w), t.facts.counter, "{name} {mode}");
                assert!(g
                    .read_exact(
                        &mut c,
                        Via::Virtual(g.vcpu_space(0).unwrap()),
                        t.facts.absent_va,
                        &mut w
                    )
                    .is_err());
            }
        }
    }

    #[test]
    fn the_micro_guest_reads_back_in_both_formats() {
        let m = MicroGuest::new().unwrap();
        for opts in [
            DumpOptions::elf(Width::Bits32),
            DumpOptions::legacy(Width::Bits32),
        ] {
            let bytes = m.write(&opts).unwrap();
            assert!(
                bytes.len() <= 4 * 4096 + 512,
                "{opts:?}: {} bytes",
                bytes.len()
            );
            let g =
                Guest::new(XenDump::from_bytes(bytes).unwrap(), GuestOptions::default()).unwrap();
            let mut c = TranslationCache::new(4);
            let mut b = vec![0u8; m.facts.banner.len()];
            for (via, addr) in [
                (Via::Virtual(g.vcpu_space(0).unwrap()), m.facts.banner_va),
                (Via::Physical, m.facts.banner_pa),
            ] {
                let view = via.view();
                g.read_exact(&mut c, via, addr, &mut b)
                    .unwrap_or_else(|e| panic!("{opts:?} {view:?}: {e}"));
                assert_eq!(b, m.facts.banner.as_bytes(), "{opts:?} {view:?}");
            }
            assert!(g
                .read_exact(
                    &mut c,
                    Via::Virtual(g.vcpu_space(0).unwrap()),
                    m.facts.unmapped_va,
                    &mut b
                )
                .is_err());
        }
    }
}
