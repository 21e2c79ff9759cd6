//! Ready-made guests with page tables and known memory, for tests, benchmarks and the
//! bundled demo dump.
//!
//! A [`Scenario`] is a small guest that looks like a halted Linux kernel: kernel text
//! mapped with a large page, data and per-vCPU stacks with 4 KiB pages, a direct map,
//! a mapping to a frame that is not in the dump, and three vCPUs (one in user mode with
//! its own page tables, one offline). [`Facts`] lists the addresses and values a test
//! can check; they are computed here from the description, never read back.

use std::borrow::Cow;

use crate::addr::{GuestFrame, MachineFrame, PhysAddr, VirtAddr, PAGE_SIZE};
use crate::dump::{GuestKind, Width};
use crate::memory::{PageSize, PagingMode, Root};
use crate::vcpu::{VGCF_IN_KERNEL, VGCF_ONLINE};

use super::pagetable::{EntryFlags, PageTableBuilder, PageTableError};
use super::{x86, BuildError, DumpOptions, GuestImage, Layout, StreamOptions, VcpuImage};

/// Guest frames of RAM in a scenario (8 MiB).
pub const RAM_PAGES: u64 = 0x800;
/// First guest frame handed out for page tables.
const TABLE_POOL: u64 = 0x700;
/// pfn of the kernel-text large page (4 MiB aligned, so 2 MiB and 4 MiB pages fit).
const TEXT_PFN: u64 = 0x400;
/// pfn of the kernel data pages.
const DATA_PFN: u64 = 0x300;
/// Number of 4 KiB data pages mapped.
pub const DATA_PAGES: u64 = 16;
/// pfn of the first vCPU stack page (one page per vCPU).
const STACK_PFN: u64 = 0x320;
/// pfn of vCPU 1's user page.
const USER_PFN: u64 = 0x330;
/// A frame that is mapped but not in the dump.
const ABSENT_PFN: u64 = 0x7_0000;
/// Pages of the direct map (from pfn 0).
pub const DIRECT_MAP_PAGES: u64 = 0x100;
/// pfn of the page [`Scenario::add_vmcoreinfo`] puts the note in: page-aligned, as Linux
/// ≥ 4.13 allocates it, and inside the direct map.
pub const VMCOREINFO_PFN: u64 = 0x80;
/// Offset in the kernel-text large page of the `vmcoreinfo_note` pointer.
const VMCOREINFO_POINTER_OFFSET: u64 = 0x18_0000;
/// `__START_KERNEL_map` of x86_64 Linux.
const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// pfn of the page [`ScenarioOptions::vmalloc_page`] maps.
pub const VMALLOC_PFN: u64 = 0x340;
/// The text the vmalloc page starts with.
pub const VMALLOC_TEXT: &str = "only reachable through the page tables";
/// pfn of the kernel's own top-level table ([`ScenarioOptions::kernel_pgd`]), inside the
/// kernel-text large page, as Linux's `swapper_pg_dir` is in its image.
const KERNEL_PGD_PFN: u64 = TEXT_PFN + 0x1F0;
/// First pfn of the guest's own p2m list ([`ScenarioOptions::p2m_list`]), in the
/// direct map as XenLinux's boot-time `phys_to_machine_mapping` is.
const P2M_LIST_PFN: u64 = 0x90;
/// A machine frame outside the guest, for Xen's own L4 slots.
const XEN_FRAME: u64 = 0xdead0;
/// pfn of Xen's `start_info` page ([`ScenarioOptions::start_info`]), in the direct map.
const START_INFO_PFN: u64 = 0x98;
/// Offset in the kernel-text large page of the kernel's `xen_start_info` pointer.
const START_INFO_POINTER_OFFSET: u64 = 0x1C_0000;

/// Optional parts of a scenario, all off in [`Scenario::new`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScenarioOptions {
    /// Map page [`VMALLOC_PFN`] at a kernel address outside the direct map and the kernel
    /// image (the vmalloc area on x86_64), so that only a page-table walk reaches it.
    pub vmalloc_page: bool,
    /// Give the kernel its own top-level table, as Linux's `swapper_pg_dir`: a third
    /// copy of the kernel tables, no vCPU runs on, whose root lies in the kernel image.
    /// [`Scenario::vmcoreinfo_text`] then names it.
    pub kernel_pgd: bool,
    /// PV 4-level: fill L4 slots 256–271 of every L4 as Xen does (slot 256, the M2P, and
    /// 261 with frames outside the guest; slot 258, Xen's linear page table, with the L4
    /// itself).
    pub xen_slots: bool,
    /// PV: the guest's own p2m (one guest-width word per pfn, its mfn) in memory, as
    /// XenLinux's `phys_to_machine_mapping` list.
    pub p2m_list: bool,
    /// PV: Xen's `start_info` page (its magic, `nr_pages`) and the kernel's
    /// `xen_start_info` pointer to it through the direct map, in the kernel image.
    pub start_info: bool,
}

/// Addresses and values a scenario guarantees.
#[derive(Clone, Debug)]
pub struct Facts {
    /// Start of kernel text (a large page).
    pub text_va: u64,
    /// Virtual address of the banner string.
    pub banner_va: u64,
    /// The banner's bytes.
    pub banner: &'static str,
    /// Guest-physical address of the banner.
    pub banner_pa: u64,
    /// Machine address of the banner (PV and legacy only meaningful where mfns are known).
    pub banner_ma: u64,
    /// Virtual address of a u64 counter ("jiffies").
    pub jiffies_va: u64,
    /// Its value.
    pub jiffies: u64,
    /// Start of the 4 KiB-mapped data area; the page after it is unmapped.
    pub data_va: u64,
    /// A kernel address with no mapping.
    pub unmapped_va: u64,
    /// An address mapped to a frame the dump does not hold.
    pub absent_va: u64,
    /// Direct map base (virtual address of pfn 0).
    pub direct_map_va: u64,
    /// User page mapped only in vCPU 1's address space.
    pub user_va: u64,
    /// First u64 of that page.
    pub user_value: u64,
    /// Table frame space numbers of the root of each vCPU (mfn for PV, pfn for HVM).
    pub roots: Vec<Root>,
    /// Guest-physical address of the kernel-text large page.
    pub text_pa: u64,
    /// Size of the kernel-text large page.
    pub text_size: u64,
    /// Where [`Scenario::add_vmcoreinfo`] put a VMCOREINFO note, if it was called.
    pub vmcoreinfo: Option<VmcoreinfoFacts>,
    /// pfns of every page-table page, root first per address space.
    pub table_pfns: Vec<u64>,
    /// [`ScenarioOptions::vmalloc_page`]: its virtual address.
    pub vmalloc_va: Option<u64>,
    /// [`ScenarioOptions::kernel_pgd`]: the kernel's own top-level table's virtual
    /// address (in the kernel image) and root.
    pub kernel_pgd: Option<(u64, Root)>,
    /// [`ScenarioOptions::p2m_list`]: the list's virtual address and its entries.
    pub p2m_list: Option<(u64, u64)>,
    /// [`ScenarioOptions::start_info`]: guest-physical addresses of the kernel's
    /// `xen_start_info` pointer and of the `start_info` page.
    pub start_info: Option<(u64, u64)>,
}

/// A VMCOREINFO note placed in a scenario's memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmcoreinfoFacts {
    /// Guest-physical address of the note header.
    pub note_pa: u64,
    /// The descriptor text.
    pub text: String,
    /// Guest-physical address of the kernel's pointer to the note, if one was written.
    pub pointer_pa: Option<u64>,
}

/// A built guest and what it is known to contain.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub image: GuestImage,
    pub mode: PagingMode,
    pub facts: Facts,
    /// The kernel address space's mappings (vCPUs 0 and 2): the translation oracle.
    pub kernel_tables: PageTableBuilder,
    /// vCPU 1's address space: the kernel mappings plus a user page.
    pub user_tables: PageTableBuilder,
    /// What was asked for beyond the basic scenario.
    pub options: ScenarioOptions,
}

/// Why a scenario could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Tables(#[from] PageTableError),
    #[error("{kind:?} guests cannot use {mode} paging in a scenario")]
    Unsupported { kind: GuestKind, mode: PagingMode },
}

/// Machine frame of a pfn in a scenario's PV guest. Deliberately not the identity, not
/// monotonic across runs, so a walker that confuses pfn and mfn fails.
pub fn scenario_mfn(pfn: u64) -> u64 {
    if pfn < 0x400 {
        0x8_1000 + pfn
    } else {
        0x3_0000 + (pfn - 0x400)
    }
}

impl Scenario {
    /// A guest of `kind` whose vCPUs use paging `mode`.
    ///
    /// PV guests: 4-level (64-bit) or PAE (32-bit). HVM: every mode with tables.
    pub fn new(kind: GuestKind, mode: PagingMode) -> Result<Scenario, ScenarioError> {
        Self::with_options(kind, mode, ScenarioOptions::default())
    }

    /// A guest of `kind` in paging `mode` with the optional parts of `options`.
    pub fn with_options(
        kind: GuestKind,
        mode: PagingMode,
        options: ScenarioOptions,
    ) -> Result<Scenario, ScenarioError> {
        let width = if x86::is_32bit(mode) {
            Width::Bits32
        } else {
            Width::Bits64
        };
        let unsupported = ScenarioError::Unsupported { kind, mode };
        match (kind, mode) {
            (_, PagingMode::None) => return Err(unsupported),
            (GuestKind::Pv, PagingMode::FourLevel | PagingMode::Pae) => {}
            // 32-bit PV on an old non-PAE 32-bit Xen.
            (GuestKind::Pv, PagingMode::TwoLevel { pse: true }) => {}
            (GuestKind::Pv, _) => return Err(unsupported),
            (GuestKind::Hvm, _) => {}
        }
        let mut image = GuestImage::new(kind, width);
        if kind == GuestKind::Pv && matches!(mode, PagingMode::TwoLevel { .. }) {
            // Only a non-PAE 32-bit hypervisor runs 2-level PV guests.
            image.set_hypervisor(Width::Bits32);
            image.xen = super::XenVersionImage::for_hypervisor(Width::Bits32);
            image.xen.capabilities = "xen-3.0-x86_32".into();
        }
        match kind {
            GuestKind::Pv => {
                image.add_run(GuestFrame(0), MachineFrame(scenario_mfn(0)), 0x400)?;
                image.add_run(GuestFrame(0x400), MachineFrame(scenario_mfn(0x400)), 0x400)?;
            }
            GuestKind::Hvm => {
                // The VGA hole is never RAM in an HVM guest; machine frames are
                // recorded by nobody, so any run will do.
                image.add_run(GuestFrame(0), MachineFrame(0x10_0000), 0xA0)?;
                image.add_run(GuestFrame(0xC0), MachineFrame(0x10_00C0), RAM_PAGES - 0xC0)?;
            }
        }
        // Frame numbers in the tables' space.
        let tf = |pfn: u64| match kind {
            GuestKind::Pv => scenario_mfn(pfn),
            GuestKind::Hvm => pfn,
        };

        let (text_va, data_va, stack_va, direct_va, unmapped_va, absent_va, user_va) =
            if width == Width::Bits64 {
                (
                    0xffff_ffff_8100_0000u64,
                    0xffff_ffff_8200_0000u64,
                    0xffff_c900_0000_0000u64,
                    0xffff_8880_0000_0000u64,
                    0xffff_ffff_9000_0000u64,
                    0xffff_ffff_8300_0000u64,
                    0x40_0000u64,
                )
            } else {
                (
                    0xc100_0000u64,
                    0xc200_0000u64,
                    0xc300_0000u64,
                    0xc000_0000u64,
                    0xd000_0000u64,
                    0xc380_0000u64,
                    0x40_0000u64,
                )
            };
        let large = match mode {
            PagingMode::TwoLevel { .. } => PageSize::Size4M,
            _ => PageSize::Size2M,
        };
        let rw = EntryFlags {
            writable: true,
            ..EntryFlags::default()
        };
        let ro = EntryFlags::default();
        let mut kt = PageTableBuilder::new(mode);
        kt.map(VirtAddr(text_va), tf(TEXT_PFN), large, 1, ro)?;
        kt.map(
            VirtAddr(data_va),
            tf(DATA_PFN),
            PageSize::Size4K,
            DATA_PAGES,
            rw,
        )?;
        kt.map(VirtAddr(stack_va), tf(STACK_PFN), PageSize::Size4K, 4, rw)?;
        kt.map(
            VirtAddr(direct_va),
            tf(0),
            PageSize::Size4K,
            DIRECT_MAP_PAGES,
            rw,
        )?;
        kt.map(VirtAddr(absent_va), tf(ABSENT_PFN), PageSize::Size4K, 1, rw)?;
        let vmalloc_va = options.vmalloc_page.then_some(if width == Width::Bits64 {
            stack_va + 0x10_0000
        } else {
            0xd080_0000
        });
        if let Some(va) = vmalloc_va {
            kt.map(VirtAddr(va), tf(VMALLOC_PFN), PageSize::Size4K, 1, rw)?;
        }
        let mut ut = kt.clone();
        ut.map(
            VirtAddr(user_va),
            tf(USER_PFN),
            PageSize::Size4K,
            1,
            EntryFlags { user: true, ..rw },
        )?;

        // Table pages come from a pool of guest frames near the top of RAM; the
        // kernel's own top-level table (a third copy) has its root in the image.
        let mut next = TABLE_POOL;
        let mut roots = Vec::new();
        let mut table_pfns = Vec::new();
        let pgd = options.kernel_pgd.then_some(&kt);
        for (i, tables) in [Some(&kt), Some(&ut), pgd]
            .into_iter()
            .flatten()
            .enumerate()
        {
            let mut root_frame = (i == 2).then(|| tf(KERNEL_PGD_PFN));
            let mut built = tables.build(|| {
                root_frame.take().unwrap_or_else(|| {
                    let f = tf(next);
                    next += 1;
                    f
                })
            })?;
            let xen_slots =
                options.xen_slots && kind == GuestKind::Pv && mode == PagingMode::FourLevel;
            if xen_slots {
                // As Xen's init_xen_l4_slots: the M2P and Xen's own areas point at
                // hypervisor frames, slot 258 maps the L4 onto itself.
                let root = built.root.frame;
                let l4 = &mut built.pages[0].1;
                for (slot, entry) in [
                    (256, (XEN_FRAME << 12) | 0x25),
                    (258, (root << 12) | 0x63),
                    (261, ((XEN_FRAME + 1) << 12) | 0x63),
                ] {
                    l4[slot * 8..slot * 8 + 8].copy_from_slice(&u64::to_le_bytes(entry));
                }
            }
            roots.push(built.root);
            for (frame, page) in built.pages {
                let pfn = match kind {
                    GuestKind::Pv => image
                        .mfn_to_pfn(MachineFrame(frame))
                        .expect("pool frame is RAM"),
                    GuestKind::Hvm => GuestFrame(frame),
                };
                table_pfns.push(pfn.0);
                image.set_page(pfn, &page)?;
            }
        }
        let kernel_pgd = options
            .kernel_pgd
            .then(|| (text_va + (KERNEL_PGD_PFN - TEXT_PFN) * PAGE_SIZE, roots[2]));
        if vmalloc_va.is_some() {
            image.write_bytes(GuestFrame(VMALLOC_PFN), 0, VMALLOC_TEXT.as_bytes())?;
        }
        let p2m_list = (options.p2m_list && kind == GuestKind::Pv)
            .then_some((direct_va + P2M_LIST_PFN * PAGE_SIZE, RAM_PAGES));
        let start_info = (options.start_info && kind == GuestKind::Pv).then_some((
            TEXT_PFN * PAGE_SIZE + START_INFO_POINTER_OFFSET,
            START_INFO_PFN * PAGE_SIZE,
        ));
        if let Some((pointer, page)) = start_info {
            let (magic, word): (&[u8], usize) = match (mode, width) {
                (_, Width::Bits64) => (b"xen-3.0-x86_64\0", 8),
                (PagingMode::Pae, _) => (b"xen-3.0-x86_32p\0", 4),
                _ => (b"xen-3.0-x86_32\0", 4),
            };
            image.write_phys(PhysAddr(page), magic)?;
            // nr_pages follows the 32-byte magic.
            image.write_phys(PhysAddr(page + 32), &RAM_PAGES.to_le_bytes()[..word])?;
            let value = direct_va + page;
            image.write_phys(PhysAddr(pointer), &value.to_le_bytes()[..word])?;
        }
        if p2m_list.is_some() {
            let word = if width == Width::Bits64 { 8 } else { 4 };
            let mut list = Vec::with_capacity((RAM_PAGES * word) as usize);
            for pfn in 0..RAM_PAGES {
                let mfn = scenario_mfn(pfn);
                list.extend_from_slice(&mfn.to_le_bytes()[..word as usize]);
            }
            image.write_phys(PhysAddr(P2M_LIST_PFN * PAGE_SIZE), &list)?;
        }

        // Memory contents.
        let banner = "Linux version 6.1.0-xendump-demo (builder@xendump-gdbserver) #1 SMP";
        let banner_off = 0x10_0000u64.min(x86::page_bytes(large) - 0x1000);
        let banner_pa = TEXT_PFN * PAGE_SIZE + banner_off;
        image.write_bytes(
            GuestFrame(banner_pa / PAGE_SIZE),
            banner_pa % PAGE_SIZE,
            banner.as_bytes(),
        )?;
        // Kernel text: something that disassembles (nop; nop; hlt; jmp .-3).
        image.write_bytes(GuestFrame(TEXT_PFN), 0, &[0x90, 0x90, 0xf4, 0xeb, 0xfd])?;
        let jiffies = 0x1_0000_2a3bu64;
        image.write_u64(GuestFrame(DATA_PFN), 0x40, jiffies)?;
        for p in 0..DATA_PAGES {
            // Every data page says which page it is, at offset 8.
            image.write_u64(GuestFrame(DATA_PFN + p), 8, 0xda7a_0000 + p)?;
        }
        let user_value = 0x7573_6572_5f76_6331u64; // "1cv_resu" little-endian: "user_vc1"
        image.write_u64(GuestFrame(USER_PFN), 0, user_value)?;

        // vCPUs.
        let encode = |root: Root| -> u64 { dumped_cr3(kind, width, mode, root) };
        let (cr0, cr4) = match mode {
            PagingMode::TwoLevel { .. } => (0x8005_0033u64, 0x0000_0690u64),
            PagingMode::Pae => (0x8005_0033, 0x0000_06b0),
            PagingMode::FourLevel => (0x8005_0033, 0x0035_06f0),
            PagingMode::FiveLevel => (0x8005_0033, 0x0035_16f0),
            PagingMode::None => unreachable!("rejected above"),
        };
        let (kcs, kss, ucs, uss) = match (kind, width) {
            (GuestKind::Pv, Width::Bits64) => (0xe033u16, 0xe02bu16, 0x33u16, 0x2bu16),
            (GuestKind::Pv, Width::Bits32) => (0x0061, 0x0069, 0x0073, 0x007b),
            (GuestKind::Hvm, Width::Bits64) => (0x0010, 0x0018, 0x0033, 0x002b),
            (GuestKind::Hvm, Width::Bits32) => (0x0060, 0x0068, 0x0073, 0x007b),
        };
        let mask = if width == Width::Bits64 {
            u64::MAX
        } else {
            0xffff_ffff
        };
        for slot in 0..3u64 {
            let mut v = VcpuImage::online();
            let user = slot == 1;
            if slot == 2 {
                v.flags &= !VGCF_ONLINE;
            }
            if kind == GuestKind::Pv && !user {
                v.flags |= VGCF_IN_KERNEL;
            }
            let g = &mut v.gprs;
            g.rax = 0x1000 + slot;
            g.rbx = 0x2000 + slot;
            g.rcx = 0x3000 + slot;
            g.rdx = 0x4000 + slot;
            g.rsi = 0x5000 + slot;
            g.rdi = 0x6000 + slot;
            if width == Width::Bits64 {
                g.r8 = 0x8888_0000 + slot;
                g.r15 = 0xf15f_0000 + slot;
            }
            let stack_top = stack_va + (slot + 1) * PAGE_SIZE - 0x100;
            g.rsp = if user { 0x7ffc_0000 & mask } else { stack_top };
            g.rbp = if user { 0 } else { stack_top + 0x80 };
            v.rip = if user { user_va + 0x10 } else { text_va + 2 } & mask;
            v.rflags = 0x246;
            v.selectors.cs = if user { ucs } else { kcs };
            v.selectors.ss = if user { uss } else { kss };
            v.selectors.ds = uss;
            v.selectors.es = uss;
            let root = roots[usize::from(user)];
            v.ctrlreg = [cr0, 0, 0xdead_0000 + slot, encode(root), cr4, 0, 0, 0];
            if kind == GuestKind::Hvm {
                // Only a saved image's CPU record holds it.
                v.efer = x86::efer_for(mode);
            }
            if user && kind == GuestKind::Pv && width == Width::Bits64 {
                // 64-bit PV: CR3 keeps the kernel table, ctrlreg[1] holds the user table
                // the vCPU was running on.
                v.ctrlreg[3] = encode(roots[0]);
                v.ctrlreg[1] = encode(root);
            }
            if kind == GuestKind::Hvm && !x86::is_32bit(mode) {
                v.fs_base = 0x7f00_0000_0000 + slot * 0x1000;
                v.gs_base_kernel = 0xffff_8880_7fc0_0000 + slot * 0x10_0000;
                v.gs_base_user = 0x7f00_1000_0000;
                if user {
                    // HVM: Xen stores the active GS base as "kernel" while in user mode
                    // too (swapped on cs & 3); keep the pair distinct.
                    std::mem::swap(&mut v.gs_base_kernel, &mut v.gs_base_user);
                }
            } else if width == Width::Bits64 {
                v.fs_base = 0x7f00_0000_0000 + slot * 0x1000;
                v.gs_base_kernel = 0xffff_8880_7fc0_0000 + slot * 0x10_0000;
                v.gs_base_user = 0x7f00_1000_0000;
            }
            // Some x87/SSE state: st0 = 1.0, xmm0 pattern.
            v.fpu[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
            v.fpu[2..4].copy_from_slice(&(7u16 << 11).to_le_bytes()); // TOP = 7
            v.fpu[4] = 0x80; // physical register 7 (= ST0) in use
            v.fpu[32..42].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
            v.fpu[160..176].copy_from_slice(
                &(0x1122_3344_5566_7788_99aa_bbcc_ddee_ff00u128 + u128::from(slot)).to_le_bytes(),
            );
            image.push_vcpu(v);
        }

        let facts = Facts {
            text_va,
            banner_va: text_va + banner_off,
            banner,
            banner_pa,
            banner_ma: match kind {
                GuestKind::Pv => {
                    scenario_mfn(banner_pa / PAGE_SIZE) * PAGE_SIZE + banner_pa % PAGE_SIZE
                }
                GuestKind::Hvm => image
                    .pfn_to_mfn(GuestFrame(banner_pa / PAGE_SIZE))
                    .map_or(0, |m| m.0 * PAGE_SIZE + banner_pa % PAGE_SIZE),
            },
            jiffies_va: data_va + 0x40,
            jiffies,
            data_va,
            unmapped_va,
            absent_va,
            direct_map_va: direct_va,
            user_va,
            user_value,
            roots: vec![roots[0], roots[1], roots[0]],
            text_pa: TEXT_PFN * PAGE_SIZE,
            text_size: x86::page_bytes(large),
            vmcoreinfo: None,
            table_pfns,
            vmalloc_va,
            kernel_pgd,
            p2m_list,
            start_info,
        };
        Ok(Scenario {
            image,
            mode,
            facts,
            kernel_tables: kt,
            user_tables: ut,
            options,
        })
    }

    /// A VMCOREINFO text such as Linux writes for this guest, with KASLR offset
    /// `kernel_offset` (64-bit guests; 32-bit Linux records none).
    pub fn vmcoreinfo_text(&self, kernel_offset: u64) -> String {
        let f = &self.facts;
        let release = "6.1.0-xendump-demo";
        // Without a kernel table of its own the symbol names a data page, which a
        // converter must not take for a page table.
        let pgd = f.kernel_pgd.map_or(f.data_va + 0x1000, |(va, _)| va);
        if x86::is_32bit(self.mode) {
            let mut t = format!(
                "OSRELEASE={release}\nPAGESIZE=4096\nSYMBOL(init_uts_ns)={:x}\nSYMBOL(swapper_pg_dir)={pgd:x}\n",
                f.data_va + 0x100,
            );
            if self.mode == PagingMode::Pae {
                t.push_str("CONFIG_X86_PAE=y\n");
            }
            return t;
        }
        let phys_base = f.text_pa.wrapping_sub(f.text_va - START_KERNEL_MAP) as i64;
        format!(
            "OSRELEASE={release}\nBUILD-ID=5eed0f5eed0f5eed0f5eed0f5eed0f5eed0f5eed\nPAGESIZE=4096\n\
             SYMBOL(init_uts_ns)={:x}\nSYMBOL(_stext)={:x}\nSYMBOL(swapper_pg_dir)={pgd:x}\n\
             NUMBER(phys_base)={phys_base}\nSYMBOL(init_top_pgt)={pgd:x}\n\
             NUMBER(pgtable_l5_enabled)={}\nKERNELOFFSET={kernel_offset:x}\n\
             NUMBER(KERNEL_IMAGE_SIZE)=1073741824\n",
            f.data_va + 0x100,
            f.text_va,
            u8::from(self.mode == PagingMode::FiveLevel),
        )
    }

    /// Put a VMCOREINFO note with `text` where Linux ≥ 4.13 keeps it: at the start of
    /// page [`VMCOREINFO_PFN`], with the kernel's direct-map pointer to it stored in the
    /// kernel image (the text large page).
    pub fn add_vmcoreinfo(&mut self, text: &str) -> Result<&mut Self, ScenarioError> {
        self.add_vmcoreinfo_at(VMCOREINFO_PFN * PAGE_SIZE, text, true)
    }

    /// Put a VMCOREINFO note (header, name, `text`) at guest-physical `pa` (4-byte
    /// aligned), and with `pointer` the kernel's pointer to it (through the direct map,
    /// which must cover `pa`) in the kernel image.
    pub fn add_vmcoreinfo_at(
        &mut self,
        pa: u64,
        text: &str,
        pointer: bool,
    ) -> Result<&mut Self, ScenarioError> {
        let mut note = vmcoreinfo_note(text);
        // Padding plus the empty terminating note Linux's final_note() writes.
        note.resize(note.len().div_ceil(4) * 4 + 12, 0);
        self.image.write_phys(PhysAddr(pa), &note)?;
        let pointer_pa = if pointer {
            let at = self.facts.text_pa + VMCOREINFO_POINTER_OFFSET;
            let target = self.facts.direct_map_va + pa;
            if x86::is_32bit(self.mode) {
                self.image
                    .write_phys(PhysAddr(at), &(target as u32).to_le_bytes())?;
            } else {
                self.image.write_phys(PhysAddr(at), &target.to_le_bytes())?;
            }
            Some(at)
        } else {
            None
        };
        self.facts.vmcoreinfo = Some(VmcoreinfoFacts {
            note_pa: pa,
            text: text.to_string(),
            pointer_pa,
        });
        Ok(self)
    }

    /// The guest as a dump written with `opts` records it: the image itself, except in
    /// the legacy format for HVM guests, where every vCPU's context is what Xen 3.0.x
    /// stored ([`legacy_hvm_image`]: CR3 the top table's machine address). Take the
    /// stored registers from it; write dumps from the image itself ([`Scenario::write`]),
    /// whose legacy writer makes the same change.
    pub fn image_for(&self, opts: &DumpOptions) -> Cow<'_, GuestImage> {
        legacy_hvm_image(&self.image, opts)
    }

    /// The guest as a dump in `opts` format.
    pub fn write(&self, opts: &DumpOptions) -> Result<Vec<u8>, BuildError> {
        self.image.write(opts)
    }

    /// `opts` for a saved image of this guest: the kernel's own top-level table, which
    /// no vCPU runs on, is a (pinned) page table to the save path too.
    pub fn stream_options(&self, opts: &StreamOptions) -> StreamOptions {
        let mut o = opts.clone();
        if self.image.kind == GuestKind::Pv {
            if let Some((_, root)) = self.facts.kernel_pgd {
                o.pv_roots.push(root.frame);
            }
        }
        o
    }

    /// The guest as a saved image written with `opts`.
    pub fn write_stream(&self, opts: &StreamOptions) -> Result<Vec<u8>, BuildError> {
        self.image.write_stream(&self.stream_options(opts))
    }

    /// The non-zero pages of a saved image of this guest written with `opts`.
    pub fn stream_contents(
        &self,
        opts: &StreamOptions,
    ) -> std::collections::BTreeMap<GuestFrame, Box<super::Page>> {
        self.image.stream_contents(&self.stream_options(opts))
    }

    /// The vCPU states a reader finds in a saved image of this guest written with `opts`.
    pub fn stream_states(&self, opts: &StreamOptions) -> Vec<crate::vcpu::VcpuState> {
        self.image.stream_states(&self.stream_options(opts))
    }

    /// The oracle translation for vCPU `slot`: (table-space frame, offset).
    pub fn lookup(&self, slot: usize, va: VirtAddr) -> Option<(u64, u64)> {
        if slot == 1 {
            self.user_tables.lookup(va)
        } else {
            self.kernel_tables.lookup(va)
        }
    }

    /// The guest's pfn for a table-space frame.
    pub fn pfn_of_table_frame(&self, frame: u64) -> Option<GuestFrame> {
        match self.image.kind {
            GuestKind::Pv => self.image.mfn_to_pfn(MachineFrame(frame)),
            GuestKind::Hvm => {
                Some(GuestFrame(frame)).filter(|p| self.image.pfn_to_mfn(*p).is_some())
            }
        }
    }

    /// The byte the guest holds at virtual `va` as seen by vCPU `slot`, per the oracle;
    /// `None` when unmapped or not in the dump.
    pub fn byte_at(&self, slot: usize, va: VirtAddr) -> Option<u8> {
        let (frame, off) = self.lookup(slot, va)?;
        let pfn = self.pfn_of_table_frame(frame)?;
        Some(self.image.page(pfn).map_or(0, |p| p[off as usize]))
    }
}

/// The CR3 a current Xen stores for a vCPU of this guest whose top-level table is
/// `root` (in the tables' frame space): `xen_pfn_to_cr3` of the machine frame for PV
/// (x86_64 or the folded x86_32 form by guest width), the architectural CR3 for HVM.
pub(crate) fn dumped_cr3(kind: GuestKind, width: Width, mode: PagingMode, root: Root) -> u64 {
    match (kind, width) {
        (GuestKind::Pv, Width::Bits64) => x86::xen_cr3_64(root.frame),
        (GuestKind::Pv, Width::Bits32) => x86::xen_cr3_32(root.frame),
        (GuestKind::Hvm, _) => {
            let table = root.frame * PAGE_SIZE + u64::from(root.offset);
            x86::architectural_cr3(mode, table).expect("root fits the mode's CR3")
        }
    }
}

/// `image` as a dump in `opts` format records it. Xen 3.0.x replaced an HVM vCPU's
/// CR3 with its own `xen_pfn_to_cr3` of the *machine* frame of the top-level table
/// (xen-dump-format.md §4.7), and before 3.0.4 flagged the vCPU `VGCF_HVM_GUEST`: in
/// the legacy format each HVM vCPU gets what the legacy writer stores for it
/// ([`super::LegacyHvmCr3`]); anything else is the image unchanged.
pub(crate) fn legacy_hvm_image<'a>(
    image: &'a GuestImage,
    opts: &DumpOptions,
) -> Cow<'a, GuestImage> {
    let Layout::Legacy(legacy_opts) = &opts.format else {
        return Cow::Borrowed(image);
    };
    if image.kind != GuestKind::Hvm {
        return Cow::Borrowed(image);
    }
    let mut stored = image.clone();
    for v in &mut stored.vcpus {
        *v = super::legacy::stored_context(image, legacy_opts, v);
    }
    Cow::Owned(stored)
}

/// A VMCOREINFO ELF note as Linux lays it out in memory: namesz 11, descsz, type 0,
/// "VMCOREINFO" padded to 4 bytes, then `text` (no padding or terminating note after it).
pub fn vmcoreinfo_note(text: &str) -> Vec<u8> {
    let mut note = Vec::with_capacity(24 + text.len());
    note.extend_from_slice(&11u32.to_le_bytes());
    note.extend_from_slice(&(text.len() as u32).to_le_bytes());
    note.extend_from_slice(&0u32.to_le_bytes());
    note.extend_from_slice(b"VMCOREINFO\0\0");
    note.extend_from_slice(text.as_bytes());
    note
}
