//! The dumped guest's memory, in three views: guest-virtual (through a vCPU's page
//! tables), pseudo-physical (pfn, through the dump's p2m) and machine (mfn).
//!
//! This is the model the gdb layer talks to. It joins the dump reader (which page holds
//! which frame) with the page-table walker (which frame holds which virtual address).

use serde::Serialize;

use crate::addr::{GuestFrame, MachineFrame, PageIndex, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::dump::{
    ContextLayout, DumpError, DumpFormat, FrameSpace, GuestKind, LegacyHvmRule, Width, XenDump,
};
use crate::vcpu::VcpuState;

use super::cache::TranslationCache;
use super::cr3::{Cr3Decode, Root};
use super::legacy_layout::{self, LegacyLayout, RootHint};
use super::paging::{infer_long_mode, LongModeHints, PagingMode};
use super::plausible::{looks_like_table, root_table, table_quality};
use super::walk::{mapped_ranges, walk, MappedRanges, TableSource, Translation, WalkError};

/// Linux's KPTI user PGD is the kernel PGD + 4 KiB: CR3 bit 12 tells them apart.
const KPTI_USER_PGD_BIT: u64 = 1 << 12;

/// Slots of a per-session translation cache: 4096 × 4 KiB covers 16 MiB of hot pages.
pub const CACHE_SLOTS: usize = 4096;

/// Which addresses a memory read speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum View {
    /// Guest virtual addresses, through the selected vCPU's CR3.
    Virtual,
    /// Guest pseudo-physical addresses (pfn space).
    Physical,
    /// Machine addresses (mfn space).
    Machine,
}

impl View {
    /// Lower-case name, as `monitor view` spells it.
    pub fn name(self) -> &'static str {
        match self {
            View::Virtual => "virtual",
            View::Physical => "physical",
            View::Machine => "machine",
        }
    }
}

/// A paging mode forced by the user instead of the one read from the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagingOverride {
    /// No paging: virtual addresses are guest-physical.
    NoPaging,
    /// 2-level 32-bit paging (4 MiB pages where the guest enabled CR4.PSE).
    TwoLevel,
    /// 3-level PAE paging.
    Pae,
    /// 4-level long-mode paging.
    FourLevel,
    /// 5-level long-mode paging (LA57).
    FiveLevel,
}

/// How to model the guest when the dump cannot say for sure.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestOptions {
    /// Paging mode for every vCPU; `None` reads it from each vCPU (PV: from the
    /// guest's width; HVM: from CR0/CR4, with long mode inferred).
    pub paging: Option<PagingOverride>,
    /// Word size of the guest; `None` takes it from the contexts (PV) or from the paging
    /// mode (HVM). Decides the registers gdb is served and the vmcore `convert` writes.
    pub width: Option<Width>,
}

/// Where a read goes: through page tables, or straight to a frame space.
#[derive(Clone, Copy, Debug)]
pub enum Via<'a> {
    /// Guest virtual addresses, translated through this address space.
    Virtual(&'a AddressSpace),
    /// Guest pseudo-physical addresses (pfn space, through the dump's p2m).
    Physical,
    /// Machine addresses (mfn space).
    Machine,
}

impl Via<'_> {
    /// Which of the three views this is.
    pub fn view(&self) -> View {
        match self {
            Via::Virtual(_) => View::Virtual,
            Via::Physical => View::Physical,
            Via::Machine => View::Machine,
        }
    }
}

/// How one vCPU translates virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AddressSpace {
    pub mode: PagingMode,
    /// The root table, in the tables' frame space; `None` without paging.
    pub root: Option<Root>,
    /// A 64-bit PV vCPU caught in user mode runs on its user page table
    /// (`ctrlreg[1]`), which maps only the lower half; it is used for lower-half
    /// addresses, the kernel table (`ctrlreg[3]`) for the rest.
    pub user_root: Option<Root>,
    /// Linux KPTI: an HVM vCPU caught in user mode has the user PGD loaded, which
    /// maps almost none of the kernel; the kernel PGD is the page just below it
    /// (CR3 bit 12 clear). Tried for upper-half addresses the user PGD cannot map.
    pub kpti_kernel_root: Option<Root>,
    /// Where the mode came from ("PV guest width", "CR0/CR4", "user", …).
    pub mode_source: &'static str,
}

impl AddressSpace {
    /// The table that translates `va`: the user table for lower-half addresses of a
    /// PV vCPU in user mode, the CR3 table otherwise. `None` when paging is on but no
    /// table could be found (a walk from frame 0 would read some unrelated page).
    pub fn root_for(&self, va: VirtAddr) -> Option<Root> {
        match (self.user_root, self.root) {
            (Some(u), _) if va.0 >> 63 == 0 => Some(u),
            (_, Some(r)) => Some(r),
            // Without paging the walker ignores the root.
            (_, None) if self.mode == PagingMode::None => Some(Root::new(0)),
            (_, None) => None,
        }
    }
}

/// Memory-layer errors: why bytes at an address cannot be read.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MemoryError {
    /// The address space has no page-table root to walk.
    #[error("{addr:#x} cannot be translated: no page-table root is known for this address space (its CR3 names no table in the dump)")]
    NoRoot { addr: u64 },
    /// The page-table walk failed.
    #[error(transparent)]
    Walk(#[from] WalkError),
    /// The address translated, but its frame is not in the dump.
    #[error("{addr:#x} ({space}) is in frame {frame:#x}, which is not in the dump")]
    FrameAbsent {
        addr: u64,
        space: &'static str,
        frame: u64,
    },
    /// The dump lists the page but its bytes are gone (truncated file).
    #[error("{addr:#x} is in {index}, which is missing from the (truncated) file")]
    PageMissing { addr: u64, index: PageIndex },
    /// The dump file shrank while being served; these bytes are no longer in it.
    #[error("{addr:#x} is in {index}, which is gone: the dump file shrank while in use")]
    FileShrank { addr: u64, index: PageIndex },
    /// This view cannot be served by this dump.
    #[error("{view} addresses cannot be read in this dump: {why}")]
    ViewUnavailable {
        view: &'static str,
        why: &'static str,
    },
    /// Only part of the range could be read.
    #[error("read {completed} of {expected} bytes at {addr:#x}: {cause}")]
    Partial {
        addr: u64,
        expected: usize,
        completed: usize,
        cause: Box<MemoryError>,
    },
}

/// Table pages looked up in the dump by frame number.
struct DumpTables<'a> {
    dump: &'a XenDump,
    space: FrameSpace,
}

impl TableSource for DumpTables<'_> {
    fn table_page(&self, frame: u64) -> Option<&[u8]> {
        let idx = match self.space {
            FrameSpace::Guest => self.dump.page_of_pfn(GuestFrame(frame))?,
            FrameSpace::Machine => self.dump.page_of_mfn(MachineFrame(frame))?,
        };
        self.dump.page(idx).ok()
    }
}

/// Why a vCPU's stored CR3 cannot serve as the root of its page tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RootProblem {
    /// Paging was off and CR3 names a table that is not the guest's (Xen 3.0.x stored
    /// its own 1:1 table, `d->arch.phys_table`, which no dump holds).
    XenTable,
    /// CR3 names a frame that is not in the dump.
    Absent,
    /// CR3 names a page that does not look like a top-level page table.
    NotATable,
}

impl RootProblem {
    /// In words.
    pub fn describe(self) -> &'static str {
        match self {
            RootProblem::XenTable => {
                "paging was off and its CR3 names Xen's own table, which is not in the dump"
            }
            RootProblem::Absent => "its page-table root is not in the dump",
            RootProblem::NotATable => "its CR3 names a page that is not a page table",
        }
    }
}

/// Where a vCPU's page-table root comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum RootSource {
    /// Its own CR3.
    Cr3,
    /// The kernel's own top-level table, because the vCPU's CR3 could not be used.
    Kernel {
        /// Which table, and how it was found and checked.
        how: String,
    },
}

/// How a vCPU's root was decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RootInfo {
    /// What is wrong with its stored CR3, if anything.
    pub problem: Option<RootProblem>,
    /// Where the root in use comes from.
    pub source: RootSource,
    /// A PAE PDPT whose offset in its page the dump lost (legacy HVM): the offset used.
    pub guessed_offset: Option<u16>,
}

/// The guest: dump + per-vCPU address spaces.
#[derive(Debug)]
pub struct Guest {
    dump: XenDump,
    options: GuestOptions,
    spaces: Vec<AddressSpace>,
    roots: Vec<RootInfo>,
    width: Width,
    long_mode_inferred: bool,
    legacy_layout: Option<LegacyLayout>,
    warnings: Vec<String>,
}

impl Guest {
    /// Work out each vCPU's paging from the dump (and the user's overrides). A legacy
    /// HVM dump's slot → pfn rule is chosen here, by checking the guest's page tables.
    pub fn new(mut dump: XenDump, options: GuestOptions) -> Result<Self, MemoryError> {
        // PV guests translate through machine frames: build that index now, not on
        // the first gdb request.
        dump.prepare();
        let legacy_layout = if dump.legacy_hvm_rule().is_some() {
            let hints = Self::legacy_root_hints(&dump, options.paging);
            legacy_layout::choose(&mut dump, &hints)
        } else {
            None
        };
        let mut guest = Guest {
            dump,
            options,
            spaces: Vec::new(),
            roots: Vec::new(),
            width: Width::Bits64,
            long_mode_inferred: false,
            legacy_layout,
            warnings: Vec::new(),
        };
        guest.rebuild();
        Ok(guest)
    }

    /// Read a legacy HVM dump's slots by `rule` from now on (the OS layer may know
    /// better than the page tables), and work the address spaces out again.
    pub fn set_legacy_hvm_rule(&mut self, rule: LegacyHvmRule) {
        if self.dump.legacy_hvm_rule().is_none() {
            return;
        }
        if let Some(l) = &mut self.legacy_layout {
            l.rule = rule.name.clone();
            l.contents = rule.contents;
            l.fits = l.checks.iter().any(|c| {
                c.rule == rule.name
                    && c.tables_checked > 0
                    && c.tables_ok * 10 >= c.tables_checked * 9
            });
        }
        self.dump.set_legacy_hvm_rule(rule);
        if let Some(l) = &mut self.legacy_layout {
            l.named_by_index = legacy_layout::named_by_index(&self.dump);
        }
        self.rebuild();
    }

    /// Give a dump that records machine frames only (a legacy PV dump) the pfns of its
    /// pages, learnt through the guest (its kernel's own p2m list), and work the
    /// address spaces out again. `false`, and nothing changes, for a dump with pfns of
    /// its own.
    pub fn set_recovered_pfns(&mut self, pfns: crate::dump::RecoveredPfns) -> bool {
        if !self.dump.set_recovered_pfns(pfns) {
            return false;
        }
        self.rebuild();
        true
    }

    /// Long mode of the guest: EFER.LMA where the file records EFER (one vCPU in long
    /// mode means the kernel is 64-bit), otherwise the guess from every vCPU; `cr3`
    /// gives each one's guest-physical CR3 (never a machine address: those say nothing
    /// of the guest's mode).
    fn infer_long_mode(dump: &XenDump, cr3: impl Fn(&VcpuState) -> u64) -> bool {
        if Self::efer_known(dump) {
            return dump.vcpus().iter().any(|v| v.long_mode() == Some(true));
        }
        dump.vcpus().iter().any(|v| {
            infer_long_mode(&LongModeHints {
                rip: v.rip,
                rsp: v.gprs.rsp,
                fs_base: v.fs_base.unwrap_or(0),
                gs_base_kernel: v.gs_base_kernel.unwrap_or(0),
                gs_base_user: v.gs_base_user.unwrap_or(0),
                cr3: cr3(v),
                cr4: v.cr4(),
            })
        })
    }

    /// Does the file record EFER for every vCPU it holds registers of?
    fn efer_known(dump: &XenDump) -> bool {
        let mut recorded = dump.vcpus().iter().filter(|v| v.recorded).peekable();
        recorded.peek().is_some() && recorded.all(|v| v.efer.is_some())
    }

    /// The roots a legacy HVM dump's layout is checked from: every vCPU with paging on.
    fn legacy_root_hints(dump: &XenDump, choice: Option<PagingOverride>) -> Vec<RootHint> {
        let long_mode = Self::infer_long_mode(dump, |_| 0);
        dump.vcpus()
            .iter()
            .filter_map(|v| {
                let mode = Self::mode_for(dump, v, choice, long_mode).0;
                (mode != PagingMode::None).then(|| RootHint {
                    mode,
                    mfn: MachineFrame(Self::legacy_cr3_mfn(dump, v.cr3())),
                })
            })
            .collect()
    }

    /// The machine frame a legacy HVM context's CR3 names (`xen_pfn_to_cr3`).
    fn legacy_cr3_mfn(dump: &XenDump, cr3: u64) -> u64 {
        match dump.context_layout() {
            ContextLayout::X86_64 => cr3 >> PAGE_SHIFT,
            ContextLayout::X86_32 => crate::dump::unfold_pv32_cr3(cr3),
        }
    }

    /// Spaces, width, roots and warnings, from the dump as it is now read.
    fn rebuild(&mut self) {
        let dump = &self.dump;
        let kind = dump.guest_kind();
        // EFER is not dumped: one vCPU that is visibly in long mode means the guest
        // kernel is 64-bit, so all its paging vCPUs with PAE are in long mode too.
        let legacy_hvm = dump.legacy_hvm_rule().is_some();
        let long_mode = Self::infer_long_mode(dump, |v| {
            if legacy_hvm {
                dump.mfn_to_pfn(MachineFrame(Self::legacy_cr3_mfn(dump, v.cr3())))
                    .map_or(0, |p| p.0 << PAGE_SHIFT)
            } else {
                v.cr3()
            }
        });
        let mut spaces = Vec::with_capacity(dump.vcpus().len());
        let mut roots = Vec::with_capacity(dump.vcpus().len());
        for v in dump.vcpus() {
            let (space, info) = Self::space_for(dump, v, self.options.paging, long_mode);
            spaces.push(space);
            roots.push(info);
        }
        let width = self
            .options
            .width
            .unwrap_or(match (kind, dump.context_layout()) {
                (GuestKind::Pv, ContextLayout::X86_64) => Width::Bits64,
                (GuestKind::Pv, ContextLayout::X86_32) => Width::Bits32,
                (GuestKind::Hvm, ContextLayout::X86_32) => Width::Bits32,
                (GuestKind::Hvm, ContextLayout::X86_64) => {
                    let any_long = spaces
                        .iter()
                        .any(|s| matches!(s.mode, PagingMode::FourLevel | PagingMode::FiveLevel));
                    if any_long || long_mode {
                        Width::Bits64
                    } else {
                        Width::Bits32
                    }
                }
            });
        self.spaces = spaces;
        self.roots = roots;
        self.width = width;
        self.long_mode_inferred = long_mode && !Self::efer_known(&self.dump);
        self.refresh_warnings();
    }

    fn refresh_warnings(&mut self) {
        let mut w = self
            .legacy_layout
            .as_ref()
            .map(LegacyLayout::warnings)
            .unwrap_or_default();
        w.extend(self.check_roots());
        self.warnings = w;
    }

    /// The paging mode of vCPU `v`, and where it came from.
    fn mode_for(
        dump: &XenDump,
        v: &VcpuState,
        choice: Option<PagingOverride>,
        long_mode: bool,
    ) -> (PagingMode, &'static str) {
        let kind = dump.guest_kind();
        match choice {
            None => match dump.pv_guest_width() {
                Some(Width::Bits32) => Self::pv32_mode(dump, v),
                Some(w) => (PagingMode::for_pv(w), "PV guest width"),
                None => match v.long_mode() {
                    Some(lma) => (
                        PagingMode::from_control_regs(v.cr0(), v.cr4(), lma),
                        "CR0/CR4/EFER",
                    ),
                    None => (
                        PagingMode::from_control_regs(v.cr0(), v.cr4(), long_mode),
                        if long_mode {
                            "CR0/CR4, long mode inferred"
                        } else {
                            "CR0/CR4"
                        },
                    ),
                },
            },
            Some(PagingOverride::NoPaging) => (PagingMode::None, "--paging"),
            Some(PagingOverride::TwoLevel) => (
                PagingMode::TwoLevel {
                    pse: kind == GuestKind::Pv || v.cr4() & super::paging::CR4_PSE != 0,
                },
                "--paging",
            ),
            Some(PagingOverride::Pae) => (PagingMode::Pae, "--paging"),
            Some(PagingOverride::FourLevel) => (PagingMode::FourLevel, "--paging"),
            Some(PagingOverride::FiveLevel) => (PagingMode::FiveLevel, "--paging"),
        }
    }

    fn space_for(
        dump: &XenDump,
        v: &VcpuState,
        choice: Option<PagingOverride>,
        long_mode: bool,
    ) -> (AddressSpace, RootInfo) {
        let kind = dump.guest_kind();
        let (mode, mode_source) = Self::mode_for(dump, v, choice, long_mode);
        let mut root = Self::root_for(dump, v.cr3(), mode);
        let mut guessed_offset = None;
        let legacy_hvm = dump.legacy_hvm_rule().is_some();
        if legacy_hvm && mode == PagingMode::Pae {
            // The PDPT's offset in its page is lost: take the first 32-byte slot that
            // holds one (Linux keeps several processes' PDPTs in one page; they share
            // the kernel's entries).
            if let Some(r) = &mut root {
                let offset = Self::table_page(dump, r.frame).and_then(|page| {
                    (0..PAGE_SIZE as u16).step_by(32).find(|&o| {
                        root_table(mode, page, o)
                            .is_some_and(|t| looks_like_table(mode, 0, t, u64::MAX))
                    })
                });
                r.offset = offset.unwrap_or(0);
                guessed_offset = Some(r.offset);
            }
        }
        let problem = Self::root_problem(dump, v, mode, root);
        let user_root = (kind == GuestKind::Pv
            && mode == PagingMode::FourLevel
            && !v.kernel_mode()
            && v.ctrlreg[1] != 0)
            .then(|| Cr3Decode::Pv64.decode(v.ctrlreg[1]));
        let kpti_kernel_root = (kind == GuestKind::Hvm
            && !legacy_hvm
            && matches!(mode, PagingMode::FourLevel | PagingMode::FiveLevel)
            && !v.kernel_mode()
            && v.cr3() & KPTI_USER_PGD_BIT != 0)
            .then(|| Cr3Decode::HvmLong.decode(v.cr3() & !KPTI_USER_PGD_BIT));
        (
            AddressSpace {
                mode,
                root,
                user_root,
                kpti_kernel_root,
                mode_source,
            },
            RootInfo {
                problem,
                source: RootSource::Cr3,
                guessed_offset,
            },
        )
    }

    /// The page holding table-space frame `frame`, from `dump`.
    fn table_page(dump: &XenDump, frame: u64) -> Option<&[u8]> {
        let idx = match dump.table_frame_space() {
            FrameSpace::Guest => dump.page_of_pfn(GuestFrame(frame))?,
            FrameSpace::Machine => dump.page_of_mfn(MachineFrame(frame))?,
        };
        dump.page(idx).ok()
    }

    /// What is wrong with vCPU `v`'s root, if anything.
    fn root_problem(
        dump: &XenDump,
        v: &VcpuState,
        mode: PagingMode,
        root: Option<Root>,
    ) -> Option<RootProblem> {
        if mode == PagingMode::None {
            // Xen 3.0.x stored its own 1:1 table as the CR3 of an HVM vCPU without paging.
            let legacy_mfn = MachineFrame(Self::legacy_cr3_mfn(dump, v.cr3()));
            return (dump.legacy_hvm_rule().is_some() && dump.page_of_mfn(legacy_mfn).is_none())
                .then_some(RootProblem::XenTable);
        }
        let Some(root) = root else {
            return Some(RootProblem::Absent);
        };
        let Some(page) = Self::table_page(dump, root.frame) else {
            return Some(RootProblem::Absent);
        };
        // Lenient: a damaged entry or two do not make a table useless, no entry or a
        // page of mostly malformed ones does.
        let table = root_table(mode, page, root.offset)?;
        // HVM tables point into the guest's memory only; PV ones also to Xen's frames.
        let limit = match dump.table_frame_space() {
            FrameSpace::Guest => dump.pfn_range().map_or(u64::MAX, |(_, hi)| hi.0 + 1),
            FrameSpace::Machine => u64::MAX,
        };
        let (present, bad) = table_quality(mode, table, limit);
        (present == 0 || bad * 4 > present).then_some(RootProblem::NotATable)
    }

    /// Read vCPU `slot`'s virtual addresses through the kernel's own top-level table
    /// (its stored CR3 being useless, see [`Guest::root_info`]); `how` says which
    /// table and how it was checked.
    pub fn use_kernel_root(&mut self, slot: usize, mode: PagingMode, root: Root, how: String) {
        let (Some(space), Some(info)) = (self.spaces.get_mut(slot), self.roots.get_mut(slot))
        else {
            return;
        };
        *space = AddressSpace {
            mode,
            root: Some(root),
            user_root: None,
            kpti_kernel_root: None,
            mode_source: "the kernel's own table",
        };
        info.source = RootSource::Kernel { how };
        info.guessed_offset = None;
        if self.options.width.is_none() && !mode.is_32bit() {
            self.width = Width::Bits64;
        }
        self.refresh_warnings();
    }

    /// How vCPU `slot`'s root was decided.
    pub fn root_info(&self, slot: usize) -> Option<&RootInfo> {
        self.roots.get(slot)
    }

    /// Legacy HVM dumps: the slot → pfn rule in use and how it was chosen.
    pub fn legacy_layout(&self) -> Option<&LegacyLayout> {
        self.legacy_layout.as_ref()
    }

    /// Record what the guest kernel's own data said of the legacy HVM layout.
    pub fn note_layout_check(&mut self, what: String) {
        if let Some(l) = &mut self.legacy_layout {
            l.kernel_check = Some(what);
        }
    }

    /// vCPU `slot`'s CR3 as the guest had it: the stored value, except that a legacy
    /// HVM dump stored the top table's machine address, so its guest-physical address
    /// is given instead (the PDPT offset of PAE is lost: the one used is added). `None`
    /// when the dump cannot tell (the stored table is Xen's own, or its machine frame is
    /// not in the page list).
    pub fn guest_cr3(&self, slot: usize) -> Option<u64> {
        let v = self.vcpus().get(slot)?;
        if self.dump.legacy_hvm_rule().is_none() {
            return Some(v.cr3());
        }
        let info = self.roots.get(slot)?;
        if info.problem == Some(RootProblem::XenTable) {
            return None;
        }
        let pfn = self
            .dump
            .mfn_to_pfn(MachineFrame(Self::legacy_cr3_mfn(&self.dump, v.cr3())))?;
        Some((pfn.0 << PAGE_SHIFT) | u64::from(info.guessed_offset.unwrap_or(0)))
    }

    /// 32-bit PV guests use PAE, except on the old non-PAE 32-bit Xen (3.0.x), whose
    /// capabilities say `xen-3.0-x86_32` without the `p`. Legacy dumps carry no
    /// capabilities: there the top table tells, since a PAE PDPT uses only its first
    /// 32 bytes while a 2-level page directory maps the kernel from entry 768 on.
    fn pv32_mode(dump: &XenDump, v: &VcpuState) -> (PagingMode, &'static str) {
        const PAE: PagingMode = PagingMode::Pae;
        const TWO: PagingMode = PagingMode::TwoLevel { pse: true };
        if let Some(levels) = dump.pv_paging_levels() {
            return match levels {
                2 => (TWO, "the saved image's X86_PV_INFO"),
                _ => (PAE, "the saved image's X86_PV_INFO"),
            };
        }
        if let Some(ver) = dump.xen_version() {
            let caps: Vec<&str> = ver.capabilities.split_whitespace().collect();
            let non_pae = caps.contains(&"xen-3.0-x86_32")
                && !caps
                    .iter()
                    .any(|c| c.ends_with("x86_32p") || c.ends_with("x86_64"));
            return if non_pae {
                (TWO, "non-PAE Xen capabilities")
            } else {
                (PAE, "PV guest width")
            };
        }
        let frame = crate::dump::unfold_pv32_cr3(v.cr3());
        let page = dump
            .page_of_frame(dump.cr3_frame_space(), frame)
            .and_then(|i| dump.page(i).ok());
        match page {
            Some(p) if p[32..].iter().any(|&b| b != 0) => {
                (TWO, "top table is a 2-level page directory")
            }
            _ => (PAE, "PV guest width"),
        }
    }

    /// Decode a vCPU's CR3 into a root in the tables' frame space.
    fn root_for(dump: &XenDump, cr3: u64, mode: PagingMode) -> Option<Root> {
        let kind = dump.guest_kind();
        match (dump.format(), kind) {
            // 3.0.x Xen replaced an HVM vCPU's CR3 with the machine frame of its top
            // table (the in-page offset of a PAE PDPT is lost); the tables themselves
            // hold guest frames, so convert the root to a pfn through the index.
            (DumpFormat::Legacy, GuestKind::Hvm) => {
                if mode == PagingMode::None {
                    return None;
                }
                let mfn = Self::legacy_cr3_mfn(dump, cr3);
                let pfn = dump.mfn_to_pfn(MachineFrame(mfn))?;
                Some(Root::new(pfn.0))
            }
            _ => {
                // A 64-bit PV guest in user mode runs on its user table (ctrlreg[1]);
                // gdb debugging a kernel wants the kernel's view, which is CR3.
                Cr3Decode::for_guest(kind, mode).map(|d| d.decode(cr3))
            }
        }
    }

    /// Online vCPUs whose stored root cannot be used, and what is read instead.
    fn check_roots(&self) -> Vec<String> {
        let mut out = Vec::new();
        for ((v, space), info) in self.dump.vcpus().iter().zip(&self.spaces).zip(&self.roots) {
            let Some(problem) = info.problem else {
                continue;
            };
            if !v.online() {
                continue;
            }
            let stored = format!(
                "CR3 {:#x}{}",
                v.cr3(),
                match (problem, self.dump.legacy_hvm_rule().is_some()) {
                    (RootProblem::XenTable, _) => String::new(),
                    (_, true) => format!(
                        ", machine frame {:#x}",
                        Self::legacy_cr3_mfn(&self.dump, v.cr3())
                    ),
                    (_, false) => space
                        .root
                        .map_or(String::new(), |r| format!(", table frame {:#x}", r.frame)),
                }
            );
            out.push(match &info.source {
                RootSource::Kernel { how } => format!(
                    "vCPU {}: {} ({stored}): its virtual addresses are read through {how}",
                    v.slot,
                    problem.describe()
                ),
                RootSource::Cr3 if problem == RootProblem::XenTable => format!(
                    "vCPU {}: {} ({stored}): its addresses are read as physical ones, and no kernel table was found to read them through instead",
                    v.slot,
                    problem.describe()
                ),
                RootSource::Cr3 => format!(
                    "vCPU {}: {} ({stored}): its virtual addresses cannot be read, and no kernel table was found to read them through instead",
                    v.slot,
                    problem.describe()
                ),
            });
        }
        out
    }

    /// Problems found in the guest model (beyond the dump's own
    /// [`XenDump::warnings`]).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The dump underneath.
    pub fn dump(&self) -> &XenDump {
        &self.dump
    }
    /// Decoded vCPU states, in slot order.
    pub fn vcpus(&self) -> &[VcpuState] {
        self.dump.vcpus()
    }
    /// How vCPU `slot` translates addresses.
    pub fn vcpu_space(&self, slot: usize) -> Option<&AddressSpace> {
        self.spaces.get(slot)
    }
    /// Was long mode inferred for this (HVM) guest?
    pub fn long_mode_inferred(&self) -> bool {
        self.long_mode_inferred
    }
    /// Guest width: PV from the contexts, HVM from the paging mode (or as overridden
    /// by [`GuestOptions::width`]).
    pub fn guest_width(&self) -> Width {
        self.width
    }
    /// Width of the hypervisor (from its capabilities; legacy dumps: the contexts').
    /// FXSAVE images are in the 64-bit format on a 64-bit hypervisor.
    pub fn hypervisor_width(&self) -> Width {
        let is64 = self
            .dump
            .hypervisor_64bit()
            .unwrap_or(self.dump.context_layout() == ContextLayout::X86_64);
        if is64 {
            Width::Bits64
        } else {
            Width::Bits32
        }
    }

    fn tables(&self) -> DumpTables<'_> {
        DumpTables {
            dump: &self.dump,
            space: self.dump.table_frame_space(),
        }
    }

    /// Walk `space`'s page tables for `va`, reporting every step.
    pub fn translate(
        &self,
        space: &AddressSpace,
        va: VirtAddr,
    ) -> Result<Translation, MemoryError> {
        let own = match space.root_for(va) {
            Some(root) => self.translate_in(space.mode, root, va),
            None => Err(MemoryError::NoRoot { addr: va.0 }),
        };
        match (own, space.kpti_kernel_root) {
            (Err(_), Some(k)) if va.0 >> 63 == 1 => self.translate_in(space.mode, k, va),
            (r, _) => r,
        }
    }

    /// Walk from an explicit root (e.g. a CR3 given by the user).
    pub fn translate_in(
        &self,
        mode: PagingMode,
        root: Root,
        va: VirtAddr,
    ) -> Result<Translation, MemoryError> {
        Ok(walk(&self.tables(), mode, root, va)?)
    }

    /// Everything `space` maps, as runs of addresses with their rights (reading at most
    /// `max_tables` tables). Lower-half addresses come from the table that translates
    /// them ([`AddressSpace::root_for`]); with KPTI, the upper half from the kernel PGD.
    /// Empty without paging or without a root.
    pub fn mapped_ranges(&self, space: &AddressSpace, max_tables: usize) -> MappedRanges {
        let Some(root) = space.root else {
            return MappedRanges::default();
        };
        let tables = self.tables();
        let long = matches!(space.mode, PagingMode::FourLevel | PagingMode::FiveLevel);
        if !long || (space.user_root.is_none() && space.kpti_kernel_root.is_none()) {
            return mapped_ranges(&tables, space.mode, root, 0..u64::MAX, max_tables);
        }
        let mut lower = mapped_ranges(
            &tables,
            space.mode,
            space.user_root.unwrap_or(root),
            0..256,
            max_tables,
        );
        let upper = mapped_ranges(
            &tables,
            space.mode,
            space.kpti_kernel_root.unwrap_or(root),
            256..512,
            max_tables.saturating_sub(lower.tables),
        );
        lower.ranges.extend(upper.ranges);
        lower.tables += upper.tables;
        lower.truncated |= upper.truncated;
        lower
    }

    /// The page holding table-space frame `frame` (mfn for PV, pfn for HVM).
    fn page_of_table_frame(&self, frame: u64) -> Option<PageIndex> {
        match self.dump.table_frame_space() {
            FrameSpace::Guest => self.dump.page_of_pfn(GuestFrame(frame)),
            FrameSpace::Machine => self.dump.page_of_mfn(MachineFrame(frame)),
        }
    }

    /// Locate the page and in-page offset for `addr` in `view`.
    fn locate(
        &self,
        cache: &mut TranslationCache,
        via: Via<'_>,
        addr: u64,
    ) -> Result<(PageIndex, u64), MemoryError> {
        let (index, offset, space, frame) = match via {
            Via::Virtual(space) => {
                let va = VirtAddr(addr);
                let tables = self.tables();
                let own = match space.root_for(va) {
                    Some(root) => cache
                        .translate(&tables, space.mode, root, va)
                        .map_err(MemoryError::from),
                    None => Err(MemoryError::NoRoot { addr }),
                };
                let tr = match (own, space.kpti_kernel_root) {
                    (Err(_), Some(k)) if addr >> 63 == 1 => {
                        cache.translate(&tables, space.mode, k, va)?
                    }
                    (r, _) => r?,
                };
                let space_name = match self.dump.table_frame_space() {
                    FrameSpace::Guest => "guest frame",
                    FrameSpace::Machine => "machine frame",
                };
                (
                    self.page_of_table_frame(tr.frame),
                    tr.offset,
                    space_name,
                    tr.frame,
                )
            }
            Via::Physical => {
                if !self.dump.knows_pfns() {
                    return Err(MemoryError::ViewUnavailable {
                        view: "physical",
                        why: "a legacy PV dump has no p2m table (read virtual or machine addresses instead)",
                    });
                }
                let pfn = addr >> PAGE_SHIFT;
                (
                    self.dump.page_of_pfn(GuestFrame(pfn)),
                    addr & (PAGE_SIZE - 1),
                    "pfn",
                    pfn,
                )
            }
            Via::Machine => {
                if !self.dump.knows_mfns() {
                    return Err(MemoryError::ViewUnavailable {
                        view: "machine",
                        why: if self.dump.format() == DumpFormat::SavedImage {
                            "a saved image names its pages by pfn only (its save path made even PV page tables pfns)"
                        } else {
                            "an HVM dump records guest frames only, not machine frames"
                        },
                    });
                }
                let mfn = addr >> PAGE_SHIFT;
                (
                    self.dump.page_of_mfn(MachineFrame(mfn)),
                    addr & (PAGE_SIZE - 1),
                    "mfn",
                    mfn,
                )
            }
        };
        match index {
            Some(i) => Ok((i, offset)),
            None => Err(MemoryError::FrameAbsent { addr, space, frame }),
        }
    }

    /// Read as much of `buf` as is readable from `addr` on; stops at the first page
    /// that cannot be read and returns the number of bytes read.
    pub fn read(
        &self,
        cache: &mut TranslationCache,
        via: Via<'_>,
        addr: u64,
        buf: &mut [u8],
    ) -> usize {
        self.read_inner(cache, via, addr, buf).0
    }

    /// Read all of `buf`, or say what stopped the read.
    pub fn read_exact(
        &self,
        cache: &mut TranslationCache,
        via: Via<'_>,
        addr: u64,
        buf: &mut [u8],
    ) -> Result<(), MemoryError> {
        match self.read_inner(cache, via, addr, buf) {
            (_, None) => Ok(()),
            (0, Some(e)) => Err(e),
            (n, Some(e)) => Err(MemoryError::Partial {
                addr,
                expected: buf.len(),
                completed: n,
                cause: Box::new(e),
            }),
        }
    }

    /// Upper-half address ranges that read the same in every one of `spaces`: those
    /// whose top-level entries (for a KPTI user table, the entries its walks end up
    /// using) are identical and present in all of them, so that any page-table walk
    /// there takes the same path whichever space it starts from. `[start, end)` pairs in ascending
    /// order, adjacent ones merged, `end` as a `u128` so the top of the address space
    /// fits. Empty unless every space is 4- or 5-level paging with a readable root (a
    /// 32-bit guest's kernel shares no top-level table).
    ///
    /// For a debugger's memory cache: bytes cached from such a range through one thread
    /// are the bytes any other thread would read. Linux maps its kernel half through the
    /// same top-level entries in every process; a PV guest's self-mapping slot differs
    /// per table and is left out by the comparison.
    pub fn same_in_every_space<'a>(
        &self,
        spaces: impl IntoIterator<Item = &'a AddressSpace>,
    ) -> Vec<(u64, u128)> {
        let via = match self.dump.table_frame_space() {
            FrameSpace::Machine => Via::Machine,
            FrameSpace::Guest => Via::Physical,
        };
        let mut cache = TranslationCache::disabled();
        let mut table = |root: Root| -> Option<Vec<u64>> {
            let mut page = vec![0u8; PAGE_SIZE as usize];
            let at = root.frame.checked_mul(PAGE_SIZE)?;
            if root.offset != 0 || self.read(&mut cache, via, at, &mut page) != page.len() {
                return None;
            }
            Some(
                page.chunks_exact(8)
                    .map(|e| u64::from_le_bytes(e.try_into().unwrap_or([0; 8])))
                    .collect(),
            )
        };
        const HALF: usize = 256;
        let mut mode = None;
        let mut first: Option<Vec<(u64, u64)>> = None;
        let mut agree = [true; HALF];
        let mut seen = std::collections::HashSet::new();
        for space in spaces {
            if !matches!(space.mode, PagingMode::FourLevel | PagingMode::FiveLevel)
                || mode.is_some_and(|m| m != space.mode)
            {
                return Vec::new();
            }
            mode = Some(space.mode);
            let Some(root) = space.root else {
                return Vec::new();
            };
            if !seen.insert((root, space.kpti_kernel_root)) {
                continue;
            }
            let Some(primary) = table(root) else {
                return Vec::new();
            };
            let kpti = match space.kpti_kernel_root {
                Some(k) => match table(k) {
                    Some(t) => Some(t),
                    None => return Vec::new(),
                },
                None => None,
            };
            // What a walk in each slot starts from. A KPTI user table falls back to the
            // kernel table where it cannot map: where it has no entry that is the kernel
            // table's, where both agree it is that entry, and where they differ the
            // slot is this table's own (the key can match no other space's).
            let these: Vec<(u64, u64)> = (HALF..2 * HALF)
                .map(|s| match &kpti {
                    None => (primary[s], 0),
                    Some(k) if primary[s] & 1 == 0 || primary[s] == k[s] => (k[s], 0),
                    Some(k) => (primary[s], k[s] | 1),
                })
                .collect();
            match &first {
                None => first = Some(these),
                Some(f) => {
                    for (a, (x, y)) in agree.iter_mut().zip(f.iter().zip(&these)) {
                        *a &= x == y;
                    }
                }
            }
        }
        let (Some(first), Some(mode)) = (first, mode) else {
            return Vec::new();
        };
        // Bits of address one top-level entry covers.
        let shift = if mode == PagingMode::FiveLevel {
            48
        } else {
            39
        };
        let upper = if mode == PagingMode::FiveLevel {
            0xff00_0000_0000_0000u64
        } else {
            0xffff_0000_0000_0000u64
        };
        let mut out: Vec<(u64, u128)> = Vec::new();
        for (i, (&same, &(entry, _))) in agree.iter().zip(&first).enumerate() {
            if !same || entry & 1 == 0 {
                continue;
            }
            let start = upper | ((HALF + i) as u64) << shift;
            let end = u128::from(start) + (1u128 << shift);
            match out.last_mut() {
                Some(last) if last.1 == u128::from(start) => last.1 = end,
                _ => out.push((start, end)),
            }
        }
        out
    }

    /// The address space a CR3 value would give a vCPU running in `mode`: to read
    /// another process's memory through its page tables. `cr3` is the value as the
    /// guest has it, which is what gdb's `$cr3` shows: Xen's encoding for PV guests,
    /// guest-physical for HVM guests (legacy ones included, whose contexts store a
    /// machine address instead; see [`Guest::guest_cr3`]).
    pub fn space_from_cr3(&self, mode: PagingMode, cr3: u64) -> AddressSpace {
        let root = match (self.dump.format(), self.dump.guest_kind()) {
            (DumpFormat::Legacy, GuestKind::Hvm) => {
                Cr3Decode::for_guest(GuestKind::Hvm, mode).map(|d| d.decode(cr3))
            }
            _ => Self::root_for(&self.dump, cr3, mode),
        };
        AddressSpace {
            mode,
            root,
            user_root: None,
            kpti_kernel_root: None,
            mode_source: "monitor cr3",
        }
    }

    /// The address space of page tables whose top-level table is `root` (in the tables'
    /// frame space), in `mode`: to read through tables found in guest memory rather
    /// than in a vCPU's CR3 (a Linux task's `mm->pgd`). `source` says where they came
    /// from.
    pub fn space_from_root(
        &self,
        mode: PagingMode,
        root: Root,
        source: &'static str,
    ) -> AddressSpace {
        AddressSpace {
            mode,
            root: (mode != PagingMode::None).then_some(root),
            user_root: None,
            kpti_kernel_root: None,
            mode_source: source,
        }
    }

    fn read_inner(
        &self,
        cache: &mut TranslationCache,
        via: Via<'_>,
        addr: u64,
        buf: &mut [u8],
    ) -> (usize, Option<MemoryError>) {
        let mut done = 0usize;
        while done < buf.len() {
            let Some(cur) = addr.checked_add(done as u64) else {
                break;
            };
            let (index, offset) = match self.locate(cache, via, cur) {
                Ok(x) => x,
                Err(e) => return (done, Some(e)),
            };
            let take = ((PAGE_SIZE - offset) as usize).min(buf.len() - done);
            match self
                .dump
                .read_page(index, offset, &mut buf[done..done + take])
            {
                Ok(()) => {}
                Err(DumpError::FileShrank { .. }) => {
                    return (done, Some(MemoryError::FileShrank { addr: cur, index }))
                }
                Err(_) => return (done, Some(MemoryError::PageMissing { addr: cur, index })),
            }
            done += take;
        }
        (done, None)
    }
}
