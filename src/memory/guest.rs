//! The dumped guest's memory, in three views: guest-virtual (through a vCPU's page
//! tables), pseudo-physical (pfn, through the dump's p2m) and machine (mfn).
//!
//! This is the model the gdb layer talks to. It joins the dump reader (which page holds
//! which frame) with the page-table walker (which frame holds which virtual address).

use serde::Serialize;

use crate::addr::{GuestFrame, MachineFrame, PageIndex, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::dump::{ContextLayout, DumpError, DumpFormat, FrameSpace, GuestKind, Width, XenDump};
use crate::vcpu::VcpuState;

use super::cache::TranslationCache;
use super::cr3::{Cr3Decode, Root};
use super::paging::{infer_long_mode, LongModeHints, PagingMode};
use super::walk::{walk, TableSource, Translation, WalkError};

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
    /// PV vCPU in user mode, the CR3 table otherwise.
    pub fn root_for(&self, va: VirtAddr) -> Root {
        match self.user_root {
            Some(u) if va.0 >> 63 == 0 => u,
            _ => self.root.unwrap_or(Root::new(0)),
        }
    }
}

/// Memory-layer errors: why bytes at an address cannot be read.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MemoryError {
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

/// The guest: dump + per-vCPU address spaces.
#[derive(Debug)]
pub struct Guest {
    dump: XenDump,
    spaces: Vec<AddressSpace>,
    width: Width,
    long_mode_inferred: bool,
    warnings: Vec<String>,
}

impl Guest {
    /// Work out each vCPU's paging from the dump (and the user's overrides).
    pub fn new(dump: XenDump, options: GuestOptions) -> Result<Self, MemoryError> {
        // PV guests translate through machine frames: build that index now, not on
        // the first gdb request.
        dump.prepare();
        let kind = dump.guest_kind();
        // EFER is not dumped: one vCPU that is visibly in long mode means the guest
        // kernel is 64-bit, so all its paging vCPUs with PAE are in long mode too.
        let long_mode = dump.vcpus().iter().any(|v| {
            infer_long_mode(&LongModeHints {
                rip: v.rip,
                rsp: v.gprs.rsp,
                fs_base: v.fs_base.unwrap_or(0),
                gs_base_kernel: v.gs_base_kernel.unwrap_or(0),
                gs_base_user: v.gs_base_user.unwrap_or(0),
                cr3: v.cr3(),
                cr4: v.cr4(),
            })
        });
        let mut spaces = Vec::with_capacity(dump.vcpus().len());
        for v in dump.vcpus() {
            spaces.push(Self::space_for(&dump, v, options.paging, long_mode));
        }
        let width = options
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
        let mut guest = Guest {
            dump,
            spaces,
            width,
            long_mode_inferred: long_mode,
            warnings: Vec::new(),
        };
        guest.warnings = guest.check_roots();
        Ok(guest)
    }

    fn space_for(
        dump: &XenDump,
        v: &VcpuState,
        choice: Option<PagingOverride>,
        long_mode: bool,
    ) -> AddressSpace {
        let kind = dump.guest_kind();
        let (mode, mode_source) = match choice {
            None => match dump.pv_guest_width() {
                Some(Width::Bits32) => Self::pv32_mode(dump, v),
                Some(w) => (PagingMode::for_pv(w), "PV guest width"),
                None => (
                    PagingMode::from_control_regs(v.cr0(), v.cr4(), long_mode),
                    if long_mode {
                        "CR0/CR4, long mode inferred"
                    } else {
                        "CR0/CR4"
                    },
                ),
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
        };
        let root = Self::root_for(dump, v.cr3(), mode);
        let user_root = (kind == GuestKind::Pv
            && mode == PagingMode::FourLevel
            && !v.kernel_mode()
            && v.ctrlreg[1] != 0)
            .then(|| Cr3Decode::Pv64.decode(v.ctrlreg[1]));
        let kpti_kernel_root = (kind == GuestKind::Hvm
            && matches!(mode, PagingMode::FourLevel | PagingMode::FiveLevel)
            && !v.kernel_mode()
            && v.cr3() & KPTI_USER_PGD_BIT != 0)
            .then(|| Cr3Decode::HvmLong.decode(v.cr3() & !KPTI_USER_PGD_BIT));
        AddressSpace {
            mode,
            root,
            user_root,
            kpti_kernel_root,
            mode_source,
        }
    }

    /// 32-bit PV guests use PAE, except on the old non-PAE 32-bit Xen (3.0.x), whose
    /// capabilities say `xen-3.0-x86_32` without the `p`. Legacy dumps carry no
    /// capabilities: there the top table tells, since a PAE PDPT uses only its first
    /// 32 bytes while a 2-level page directory maps the kernel from entry 768 on.
    fn pv32_mode(dump: &XenDump, v: &VcpuState) -> (PagingMode, &'static str) {
        const PAE: PagingMode = PagingMode::Pae;
        const TWO: PagingMode = PagingMode::TwoLevel { pse: true };
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
        let mfn = MachineFrame(crate::dump::unfold_pv32_cr3(v.cr3()));
        let page = dump.page_of_mfn(mfn).and_then(|i| dump.page(i).ok());
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
                let mfn = match dump.context_layout() {
                    ContextLayout::X86_64 => cr3 >> PAGE_SHIFT,
                    ContextLayout::X86_32 => crate::dump::unfold_pv32_cr3(cr3),
                };
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

    /// Online vCPUs whose page-table root is not in the dump: their virtual addresses
    /// cannot be read (a damaged context, or a root the dump does not hold).
    fn check_roots(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (v, space) in self.dump.vcpus().iter().zip(&self.spaces) {
            if !v.online() || space.mode == PagingMode::None {
                continue;
            }
            let absent = match space.root {
                Some(r) => self.page_of_table_frame(r.frame).is_none(),
                None => true,
            };
            if absent {
                out.push(format!(
                    "vCPU {}: its page-table root (CR3 {:#x}{}) is not in the dump: its virtual addresses cannot be read",
                    v.slot,
                    v.cr3(),
                    space
                        .root
                        .map_or(String::new(), |r| format!(", table frame {:#x}", r.frame))
                ));
            }
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
        let is64 = match self.dump.xen_version() {
            Some(v) => v.hypervisor_is_64bit(),
            None => self.dump.context_layout() == ContextLayout::X86_64,
        };
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
        match (
            self.translate_in(space.mode, space.root_for(va), va),
            space.kpti_kernel_root,
        ) {
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
                let tr = match (
                    cache.translate(&tables, space.mode, space.root_for(va), va),
                    space.kpti_kernel_root,
                ) {
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
                if !self.dump.frames().knows_pfns() {
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
                if !self.dump.frames().knows_mfns() {
                    return Err(MemoryError::ViewUnavailable {
                        view: "machine",
                        why: "an HVM dump records guest frames only, not machine frames",
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

    /// The address space a CR3 value would give a vCPU running in `mode`: to read
    /// another process's memory through its page tables. `cr3` is encoded as the
    /// dump stores the vCPUs' own (Xen's PV encodings, machine addresses in legacy
    /// HVM dumps).
    pub fn space_from_cr3(&self, mode: PagingMode, cr3: u64) -> AddressSpace {
        AddressSpace {
            mode,
            root: Self::root_for(&self.dump, cr3, mode),
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
