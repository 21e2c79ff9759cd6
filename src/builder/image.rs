//! The guest description a dump is written from.

use std::collections::BTreeMap;
use std::io::{Cursor, Seek, Write};
use std::path::Path;

use super::error::BuildError;
use super::options::{DumpOptions, Layout};
use super::sparse::SparseWriter;
use super::vcpu::VcpuImage;
use super::{elf, legacy};
use crate::addr::{GuestFrame, MachineFrame, PhysAddr, PAGE_SIZE};
use crate::dump::{ContextLayout, GuestKind, Width};
use crate::vcpu::VcpuState;

/// One 4 KiB page of guest memory.
pub type Page = [u8; PAGE_SIZE as usize];

/// A run of populated guest frames: `pfn + i` is backed by machine frame `mfn + i`
/// for `i < count`. Runs keep huge guests cheap to describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRun {
    /// First guest frame.
    pub pfn: GuestFrame,
    /// Machine frame backing `pfn`.
    pub mfn: MachineFrame,
    /// Number of frames.
    pub count: u64,
}

impl FrameRun {
    /// One past the last guest frame of the run.
    pub fn pfn_end(&self) -> u64 {
        self.pfn.0 + self.count
    }

    /// Machine frame backing `pfn`, if the run covers it.
    pub fn mfn_of(&self, pfn: GuestFrame) -> Option<MachineFrame> {
        (self.pfn.0..self.pfn_end())
            .contains(&pfn.0)
            .then(|| MachineFrame(self.mfn.0 + (pfn.0 - self.pfn.0)))
    }
}

/// Contents of the XEN_VERSION note (§3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XenVersionImage {
    /// `XENVER_version >> 16`.
    pub major: u64,
    /// `XENVER_version & 0xffff`.
    pub minor: u64,
    /// `extra_version` (16-byte field).
    pub extra: String,
    /// `compile_info.compiler` (64-byte field).
    pub compiler: String,
    /// `compile_info.compile_by` (16-byte field).
    pub compile_by: String,
    /// `compile_info.compile_domain` (32-byte field).
    pub compile_domain: String,
    /// `compile_info.compile_date` (32-byte field).
    pub compile_date: String,
    /// `capabilities` (1024-byte field); tells the hypervisor width.
    pub capabilities: String,
    /// `changeset` (64-byte field).
    pub changeset: String,
    /// `platform_parameters.virt_start` as the dumping toolstack sees it.
    /// `None`: 0xFFFF_8000_0000_0000 for 64-bit tools, 0xF580_0000 for 32-bit tools.
    /// 32-bit tools store it in 4 bytes; a wider value is an error.
    pub virt_start: Option<u64>,
    /// `pagesize`.
    pub pagesize: u64,
}

/// Capabilities string of a 64-bit Xen with PV and HVM support.
pub const CAPABILITIES_64: &str = "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64";
/// Capabilities string of a 32-bit PAE Xen with HVM support.
pub const CAPABILITIES_32: &str = "xen-3.0-x86_32p hvm-3.0-x86_32 hvm-3.0-x86_32p";

impl Default for XenVersionImage {
    /// Xen 4.17.0 on a 64-bit hypervisor.
    fn default() -> Self {
        XenVersionImage {
            major: 4,
            minor: 17,
            extra: ".0".into(),
            compiler: "gcc (Debian 12.2.0-14) 12.2.0".into(),
            compile_by: "builder".into(),
            compile_domain: "example.org".into(),
            compile_date: "Mon Jan  1 00:00:00 UTC 2024".into(),
            capabilities: CAPABILITIES_64.into(),
            changeset: "Mon Dec 11 12:00:00 2023 +0000 git:0123456789".into(),
            virt_start: None,
            pagesize: PAGE_SIZE,
        }
    }
}

impl XenVersionImage {
    /// Defaults for a hypervisor of the given width (capabilities string differs).
    pub fn for_hypervisor(width: Width) -> Self {
        let capabilities = match width {
            Width::Bits64 => CAPABILITIES_64,
            Width::Bits32 => CAPABILITIES_32,
        };
        XenVersionImage {
            capabilities: capabilities.into(),
            ..XenVersionImage::default()
        }
    }
}

/// Xen's encoding of an x86_64 PV CR3: `mfn << 12` (§5); see [`super::x86::xen_cr3_64`].
pub fn pv64_cr3(mfn: MachineFrame) -> u64 {
    super::x86::xen_cr3_64(mfn.0)
}

/// Xen's folded encoding of a 32-bit (PAE / compat) PV CR3: `(u32)(mfn << 12) | (u32)(mfn >> 20)`,
/// i.e. the frame rotated left by 12 within 32 bits (§5). Frames ≥ 2^32 lose their top bits.
/// See [`super::x86::xen_cr3_32`].
pub fn pv32_cr3(mfn: MachineFrame) -> u64 {
    super::x86::xen_cr3_32(mfn.0)
}

/// A region of a written dump file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// ELF section name, or for legacy dumps `"header"`, `"contexts"`, `"index"`, `"pages"`;
    /// also `"section headers"` for ELF.
    pub name: &'static str,
    /// File offset.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Where everything went in a written dump; handy for damaging specific bytes in tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpLayout {
    /// Total file size.
    pub file_size: u64,
    /// Regions in file order.
    pub regions: Vec<Region>,
    /// Number of pages (= index / p2m entries), including invalid tail entries.
    pub nr_pages: u64,
    /// Context slot size (ELF `sh_entsize` of `.xen_prstatus`, legacy context size).
    pub context_slot: u64,
}

impl DumpLayout {
    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }
}

/// A guest to be written as a dump: memory, vCPUs and hypervisor identity.
#[derive(Clone, Debug)]
pub struct GuestImage {
    /// PV or HVM/PVH.
    pub kind: GuestKind,
    /// Guest width (for PV, decides the context layout).
    pub width: Width,
    /// Hypervisor width (for HVM, decides the context layout). Default 64-bit.
    pub hypervisor: Width,
    /// Populated frames, sorted by pfn, non-overlapping (use [`GuestImage::add_run`]).
    pub frames: Vec<FrameRun>,
    /// Non-zero page contents by guest frame; absent pages are zero.
    pub contents: BTreeMap<GuestFrame, Box<Page>>,
    /// vCPU contexts; position = slot in the dump.
    pub vcpus: Vec<VcpuImage>,
    /// XEN_VERSION note contents.
    pub xen: XenVersionImage,
    /// The shared-info page (guest layout). PV dumps get a zero page if `None`.
    pub shared_info: Option<Box<Page>>,
}

impl GuestImage {
    /// An empty guest on a 64-bit hypervisor running Xen 4.17.
    pub fn new(kind: GuestKind, width: Width) -> Self {
        GuestImage {
            kind,
            width,
            hypervisor: Width::Bits64,
            frames: Vec::new(),
            contents: BTreeMap::new(),
            vcpus: Vec::new(),
            xen: XenVersionImage::default(),
            shared_info: None,
        }
    }

    /// Switch to a hypervisor of `width`, updating the capabilities string to match.
    pub fn set_hypervisor(&mut self, width: Width) -> &mut Self {
        self.hypervisor = width;
        self.xen.capabilities = XenVersionImage::for_hypervisor(width).capabilities;
        self
    }

    /// Layout the hypervisor stores this guest's contexts in: guest width for PV,
    /// hypervisor width for HVM (§3.6).
    pub fn context_layout(&self) -> ContextLayout {
        let width = match self.kind {
            GuestKind::Pv => self.width,
            GuestKind::Hvm => self.hypervisor,
        };
        match width {
            Width::Bits64 => ContextLayout::X86_64,
            Width::Bits32 => ContextLayout::X86_32,
        }
    }

    /// Populate `count` frames from `pfn`, backed by machine frames from `mfn`.
    ///
    /// Runs may be added in any order but must not overlap in pfn or mfn space.
    pub fn add_run(
        &mut self,
        pfn: GuestFrame,
        mfn: MachineFrame,
        count: u64,
    ) -> Result<&mut Self, BuildError> {
        // Frame numbers beyond 2^52 would overflow byte addresses and sizes.
        const FRAME_LIMIT: u64 = 1 << 52;
        let fits = |start: u64| {
            start
                .checked_add(count)
                .is_some_and(|end| end <= FRAME_LIMIT)
        };
        if count == 0 || !fits(pfn.0) || !fits(mfn.0) {
            return Err(BuildError::BadRun { pfn, count });
        }
        for run in &self.frames {
            if pfn.0 < run.pfn_end() && run.pfn.0 < pfn.0 + count {
                return Err(BuildError::OverlappingPfns {
                    pfn,
                    count,
                    existing: run.pfn,
                });
            }
            if mfn.0 < run.mfn.0 + run.count && run.mfn.0 < mfn.0 + count {
                return Err(BuildError::OverlappingMfns {
                    mfn,
                    count,
                    existing: run.pfn,
                });
            }
        }
        let at = self.frames.partition_point(|r| r.pfn < pfn);
        self.frames.insert(at, FrameRun { pfn, mfn, count });
        Ok(self)
    }

    /// Add a vCPU context (it takes the next slot).
    pub fn push_vcpu(&mut self, vcpu: VcpuImage) -> &mut Self {
        self.vcpus.push(vcpu);
        self
    }

    /// Machine frame backing `pfn`, if populated.
    pub fn pfn_to_mfn(&self, pfn: GuestFrame) -> Option<MachineFrame> {
        let at = self.frames.partition_point(|r| r.pfn_end() <= pfn.0);
        self.frames.get(at).and_then(|run| run.mfn_of(pfn))
    }

    /// Guest frame backed by `mfn`, if any (linear in the number of runs).
    pub fn mfn_to_pfn(&self, mfn: MachineFrame) -> Option<GuestFrame> {
        self.frames.iter().find_map(|run| {
            (run.mfn.0..run.mfn.0 + run.count)
                .contains(&mfn.0)
                .then(|| GuestFrame(run.pfn.0 + (mfn.0 - run.mfn.0)))
        })
    }

    /// Number of populated frames.
    pub fn page_count(&self) -> u64 {
        self.frames.iter().map(|r| r.count).sum()
    }

    /// Populated frames in ascending order.
    pub fn populated_pfns(&self) -> impl Iterator<Item = GuestFrame> + '_ {
        self.frames
            .iter()
            .flat_map(|run| (run.pfn.0..run.pfn_end()).map(GuestFrame))
    }

    /// Stored contents of `pfn` (`None`: the page is zero or unpopulated).
    pub fn page(&self, pfn: GuestFrame) -> Option<&Page> {
        self.contents.get(&pfn).map(|b| &**b)
    }

    /// Replace the whole page `pfn`.
    pub fn set_page(&mut self, pfn: GuestFrame, bytes: &Page) -> Result<&mut Self, BuildError> {
        self.write_phys(pfn.addr(), bytes)
    }

    /// Write `bytes` at `offset` in page `pfn`; may run on into the following frames.
    pub fn write_bytes(
        &mut self,
        pfn: GuestFrame,
        offset: u64,
        bytes: &[u8],
    ) -> Result<&mut Self, BuildError> {
        self.write_phys(PhysAddr(pfn.addr().0 + offset), bytes)
    }

    /// Write a little-endian u64 at `offset` in page `pfn`.
    pub fn write_u64(
        &mut self,
        pfn: GuestFrame,
        offset: u64,
        value: u64,
    ) -> Result<&mut Self, BuildError> {
        self.write_bytes(pfn, offset, &value.to_le_bytes())
    }

    /// Write `bytes` at guest-physical address `addr`; every touched frame must be populated.
    pub fn write_phys(&mut self, addr: PhysAddr, bytes: &[u8]) -> Result<&mut Self, BuildError> {
        let end = addr.0 + bytes.len() as u64;
        let mut pos = addr.0;
        while pos < end {
            let pfn = PhysAddr(pos).frame();
            if self.pfn_to_mfn(pfn).is_none() {
                return Err(BuildError::NotPopulated {
                    pfn,
                    addr,
                    len: bytes.len(),
                });
            }
            let in_page = PhysAddr(pos).page_offset() as usize;
            let chunk = (PAGE_SIZE as usize - in_page).min((end - pos) as usize);
            let src = (pos - addr.0) as usize;
            let page = self
                .contents
                .entry(pfn)
                .or_insert_with(|| Box::new([0; PAGE_SIZE as usize]));
            page[in_page..in_page + chunk].copy_from_slice(&bytes[src..src + chunk]);
            pos += chunk as u64;
        }
        Ok(self)
    }

    /// Give every populated page recognisable contents: u64 pfn at offset 0, u64 mfn at
    /// offset 8, the rest of the page kept. For small guests: allocates every page.
    pub fn stamp_pages(&mut self) -> &mut Self {
        let runs = self.frames.clone();
        for run in runs {
            for i in 0..run.count {
                let page = self
                    .contents
                    .entry(GuestFrame(run.pfn.0 + i))
                    .or_insert_with(|| Box::new([0; PAGE_SIZE as usize]));
                page[0..8].copy_from_slice(&(run.pfn.0 + i).to_le_bytes());
                page[8..16].copy_from_slice(&(run.mfn.0 + i).to_le_bytes());
            }
        }
        self
    }

    /// Stream every populated page in ascending pfn order; zero pages become holes.
    pub(super) fn write_pages_ascending<W: Write + Seek>(
        &self,
        out: &mut SparseWriter<'_, W>,
    ) -> Result<(), BuildError> {
        for run in &self.frames {
            let mut next = run.pfn.0;
            for (pfn, page) in self.contents.range(run.pfn..GuestFrame(run.pfn_end())) {
                out.zeros((pfn.0 - next) * PAGE_SIZE);
                out.page(Some(&page[..]), PAGE_SIZE)?;
                next = pfn.0 + 1;
            }
            out.zeros((run.pfn_end() - next) * PAGE_SIZE);
        }
        Ok(())
    }

    /// The vCPU states a correct reader decodes from a dump of this image.
    pub fn expected_states(&self) -> Vec<VcpuState> {
        let layout = self.context_layout();
        self.vcpus
            .iter()
            .enumerate()
            .map(|(slot, v)| v.to_state(slot, layout, self.kind))
            .collect()
    }

    /// The vCPU states a correct reader decodes from a dump of this image written with
    /// `opts`: the contexts as that writer's Xen stored them (legacy HVM: CR3 as a
    /// machine address, see [`super::LegacyHvmCr3`]), legacy vCPUs online (the format
    /// predates `VGCF_online`), and no FS/GS bases where Xen did not fill them (HVM
    /// guests before Xen 4.2, and every legacy HVM guest).
    pub fn expected_states_for(&self, opts: &DumpOptions) -> Vec<VcpuState> {
        let layout = self.context_layout();
        let bases = match (&opts.format, self.kind) {
            (_, GuestKind::Pv) => true,
            (Layout::Legacy(_), GuestKind::Hvm) => false,
            (Layout::Elf(_), GuestKind::Hvm) => (self.xen.major, self.xen.minor) >= (4, 2),
        };
        self.vcpus
            .iter()
            .enumerate()
            .map(|(slot, v)| {
                let mut st = match &opts.format {
                    Layout::Legacy(l) => {
                        let mut st =
                            legacy::stored_context(self, l, v).to_state(slot, layout, self.kind);
                        st.flags |= crate::vcpu::VGCF_ONLINE;
                        st
                    }
                    Layout::Elf(_) => v.to_state(slot, layout, self.kind),
                };
                if !bases {
                    st.fs_base = None;
                    st.gs_base_kernel = None;
                    st.gs_base_user = None;
                }
                st
            })
            .collect()
    }

    /// The guest page whose bytes slot `slot` of a dump written with `opts` holds
    /// (`None`: a zero page). ELF dumps and legacy ones list pages in ascending pfn
    /// order unless [`super::LegacyOptions::page_order`] or
    /// [`super::LegacyOptions::contents_by_index`] say otherwise.
    pub fn slot_page(
        &self,
        opts: &DumpOptions,
        slot: u64,
    ) -> Result<Option<GuestFrame>, BuildError> {
        match &opts.format {
            Layout::Legacy(l) => legacy::slot_page(self, l, slot),
            Layout::Elf(_) => Ok(self.populated_pfns().nth(slot as usize)),
        }
    }

    /// Where each part of the dump will go, without writing it.
    pub fn layout(&self, opts: &DumpOptions) -> Result<DumpLayout, BuildError> {
        match &opts.format {
            Layout::Elf(elf) => elf::plan(self, opts.tools, elf).map(|p| p.layout),
            Layout::Legacy(legacy) => legacy::plan(self, opts.tools, legacy).map(|p| p.layout),
        }
    }

    /// Write the dump into memory. For small guests; see [`GuestImage::write_to`].
    pub fn write(&self, opts: &DumpOptions) -> Result<Vec<u8>, BuildError> {
        let mut cursor = Cursor::new(Vec::new());
        self.write_to(opts, &mut cursor)?;
        Ok(cursor.into_inner())
    }

    /// Stream the dump into `w` from its current position, seeking over zero pages.
    ///
    /// The skipped bytes must read as zero afterwards: write into a fresh file or an
    /// empty `Cursor<Vec<u8>>`. On a `File` the skipped pages become holes.
    pub fn write_to<W: Write + Seek>(
        &self,
        opts: &DumpOptions,
        w: &mut W,
    ) -> Result<DumpLayout, BuildError> {
        match &opts.format {
            Layout::Elf(elf) => elf::write(self, opts.tools, elf, w),
            Layout::Legacy(legacy) => legacy::write(self, opts.tools, legacy, w),
        }
    }

    /// Create (or truncate) `path` and write the dump into it, sparse.
    pub fn write_file(
        &self,
        path: impl AsRef<Path>,
        opts: &DumpOptions,
    ) -> Result<DumpLayout, BuildError> {
        let path = path.as_ref();
        let mut file = std::fs::File::create(path).map_err(|source| BuildError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        self.write_to(opts, &mut file)
    }
}
