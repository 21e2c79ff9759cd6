//! Saved domains: a [`GuestImage`] as `xl save` writes it, inside xl's "Xen saved
//! domain, xl format" container and libxl's stream, or bare; plain, live (several
//! memory passes) or checkpointed (Remus).
//!
//! Laid out as Xen's writers lay it out (docs/xl-save-format.md, from
//! `tools/xl/xl_saverestore.c`, `tools/libs/light/libxl_stream_write.c` and
//! `tools/libs/guest/xg_sr_save*.c`), never from the reader:
//!
//! * xl: the 32-byte magic, byte order, flags, then the optional data (a u32 length and
//!   the JSON configuration with its NUL);
//! * libxl: "LibxlFmt", version 2, a LIBXC_CONTEXT record, then libxc's stream
//!   inline; after it (HVM) the emulator's context and END; in a checkpointed stream
//!   the emulator record and CHECKPOINT_END after each libxc CHECKPOINT;
//! * libxc: image and domain headers, the static records (PV: X86_PV_INFO; v3: the
//!   CPU policy and STATIC_DATA_END), X86_PV_P2M_FRAMES, memory as PAGE_DATA records
//!   of up to 1024 pfns in ascending order (every pfn up to the highest: holes typed
//!   XTAB without data), then X86_TSC_INFO and (PV) SHARED_INFO and each online
//!   vCPU's BASIC, EXTENDED and MSRS records, or (HVM) HVM_CONTEXT and HVM_PARAMS.
//!
//! What the PV save path changes, the writer changes too (`write_one_vcpu_basic`,
//! `normalise_pagetable`): page tables reachable from the vCPUs (and from
//! [`StreamOptions::pv_roots`]) become canonical, every entry's machine frame replaced by
//! its pfn and Xen's own slots cleared; CR3, the 64-bit user table in `ctrlreg[1]`
//! (with bit 0 set, as Xen writes it), the GDT frames and vCPU 0's `edx` (the
//! suspended guest's start-info frame) become pfns. Where real Xen would refuse to
//! save (an entry naming a frame outside the guest; a PV superpage) the writer zeroes
//! the entry, or translates a superpage whose frames are pfn-contiguous, so that every
//! scenario can be written: [`GuestImage::stream_states`] says what a reader must find.

use std::collections::BTreeMap;
use std::io::{Cursor, Seek, Write};
use std::path::Path;

use crate::addr::{GuestFrame, PAGE_SIZE};
use crate::dump::{ContextLayout, GuestKind, Width};
use crate::vcpu::{
    FxSave, Segment, SystemRegisters, TableRegister, VcpuState, VGCF_I387_VALID, VGCF_ONLINE,
};

use super::image::{GuestImage, Page};
use super::sparse::SparseWriter;
use super::x86;
use super::{BuildError, VcpuImage};

/// `savefileheader_magic` (`tools/xl/xl.h`).
const XL_MAGIC: &[u8; 32] = b"Xen saved domain, xl format\n \0 \r";
/// Pfns per PAGE_DATA record (`MAX_BATCH_SIZE`).
pub const MAX_BATCH: usize = 1024;
/// The byte every byte of a page is XORed with in the copies a later pass replaces.
pub const STALE: u8 = 0xA5;
/// The same for the copies of a checkpoint the stream does not complete.
pub const UNFINISHED: u8 = 0x3C;

/// The container a stream is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// `xl save`: xl's header and the domain's JSON configuration, then libxl's stream.
    Xl,
    /// libxl's stream alone.
    Libxl,
    /// libxc's stream alone.
    Libxc,
}

/// How memory is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passes {
    /// `xl save` (`-c` too): the domain suspended, every page once.
    Plain,
    /// Live migration: `rounds` passes, the first with every page, the others with the
    /// dirty pages; every copy but the last holds stale bytes.
    Live { rounds: u32 },
    /// Remus: `checkpoints` checkpoints, the first with every page, the others with the
    /// dirty pages, each ending with the registers and a CHECKPOINT; every copy (pages
    /// and registers) but the last checkpoint's holds stale values. With `unfinished`,
    /// one more checkpoint's pages and registers follow that the stream does not
    /// complete (no CHECKPOINT: Xen's restore drops them).
    Checkpointed { checkpoints: u32, unfinished: bool },
}

/// How to write a saved image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    pub container: Container,
    pub passes: Passes,
    /// libxc stream version: 2 (Xen 4.6–4.13) or 3 (Xen ≥ 4.14, with STATIC_DATA_END).
    pub version: u32,
    /// Xen version in the domain header.
    pub xen: (u32, u32),
    /// Pfns per PAGE_DATA record (at most [`MAX_BATCH`] in Xen).
    pub batch: usize,
    /// Write the JSON configuration into xl's header.
    pub config: bool,
    /// The domain's name in the configuration.
    pub name: String,
    /// HVM: the 1016-byte CPU record of Xen < 4.7 (no `msr_tsc_aux`, no `flags`).
    pub compat_cpu: bool,
    /// PV: roots of page tables no vCPU runs on (the kernel's own, pinned), in the
    /// image's machine frames.
    pub pv_roots: Vec<u64>,
    /// Pages a live or checkpointed stream sends again; `None`: every page with
    /// contents.
    pub dirty: Option<Vec<GuestFrame>>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            container: Container::Xl,
            passes: Passes::Plain,
            version: 3,
            xen: (4, 17),
            batch: MAX_BATCH,
            config: true,
            name: "xendump-demo".into(),
            compat_cpu: false,
            pv_roots: Vec::new(),
            dirty: None,
        }
    }
}

impl StreamOptions {
    /// `xl save`.
    pub fn xl_save() -> Self {
        StreamOptions::default()
    }
    /// A Remus stream of `checkpoints` checkpoints, optionally cut in one more.
    pub fn checkpointed(checkpoints: u32, unfinished: bool) -> Self {
        StreamOptions {
            passes: Passes::Checkpointed {
                checkpoints,
                unfinished,
            },
            ..StreamOptions::default()
        }
    }
    /// A live migration of `rounds` memory passes.
    pub fn live(rounds: u32) -> Self {
        StreamOptions {
            passes: Passes::Live { rounds },
            ..StreamOptions::default()
        }
    }
}

/// One record written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordPlace {
    /// "xl", "libxl" or "libxc".
    pub layer: &'static str,
    pub record_type: u32,
    /// File offset of the record header.
    pub offset: u64,
    /// Body length.
    pub len: u64,
}

/// Where everything went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamLayout {
    pub file_size: u64,
    pub records: Vec<RecordPlace>,
    /// File offset of the libxc image header.
    pub libxc_offset: u64,
}

impl StreamLayout {
    /// The `n`-th libxc record of `record_type`.
    pub fn libxc(&self, record_type: u32, n: usize) -> Option<&RecordPlace> {
        self.records
            .iter()
            .filter(|r| r.layer == "libxc" && r.record_type == record_type)
            .nth(n)
    }
}

/// The machine frames of an image, sorted, for mfn → pfn.
struct Machine {
    /// (first mfn, first pfn, count), by mfn.
    runs: Vec<(u64, u64, u64)>,
}

impl Machine {
    fn of(image: &GuestImage) -> Machine {
        let mut runs: Vec<(u64, u64, u64)> = image
            .frames
            .iter()
            .map(|r| (r.mfn.0, r.pfn.0, r.count))
            .collect();
        runs.sort_unstable();
        Machine { runs }
    }

    fn pfn(&self, mfn: u64) -> Option<u64> {
        let i = self.runs.partition_point(|r| r.0 <= mfn).checked_sub(1)?;
        let (m, p, n) = self.runs[i];
        (mfn < m + n).then(|| p + (mfn - m))
    }
}

/// Address bits of a PAE / long-mode entry.
const FRAME_BITS: u64 = 0x000f_ffff_ffff_f000;
/// PS in a table entry above level 1.
const PS: u64 = 0x80;

/// PV page tables as the save path writes them: canonical, by pfn, with their types.
struct PvTables {
    /// pfn → (XEN_DOMCTL_PFINFO type nibble, canonical page).
    pages: BTreeMap<u64, (u8, Box<Page>)>,
}

impl PvTables {
    fn of(image: &GuestImage, machine: &Machine, extra: &[u64]) -> Result<PvTables, BuildError> {
        let levels: u8 = match image.width {
            Width::Bits64 => 4,
            Width::Bits32 => 3,
        };
        let mut roots: Vec<u64> = Vec::new();
        for v in image.vcpus.iter().filter(|v| v.flags & VGCF_ONLINE != 0) {
            roots.push(cr3_mfn(image.width, v.ctrlreg[3]));
            if image.width == Width::Bits64 && v.ctrlreg[1] != 0 {
                roots.push(v.ctrlreg[1] >> 12);
            }
        }
        roots.extend_from_slice(extra);
        let mut out = PvTables {
            pages: BTreeMap::new(),
        };
        // (mfn, level, pinned) still to visit.
        let mut todo: Vec<(u64, u8, bool)> = roots.iter().map(|&m| (m, levels, true)).collect();
        while let Some((mfn, level, pinned)) = todo.pop() {
            let Some(pfn) = machine.pfn(mfn) else {
                continue;
            };
            if out.pages.contains_key(&pfn) {
                continue;
            }
            let zero = [0u8; PAGE_SIZE as usize];
            let src: &Page = image.page(GuestFrame(pfn)).unwrap_or(&zero);
            let mut dst: Box<Page> = Box::new([0; PAGE_SIZE as usize]);
            for i in 0..512usize {
                let pte = u64::from_le_bytes(src[i * 8..i * 8 + 8].try_into().expect("8"));
                let xen_slot = match (levels, level) {
                    // HYPERVISOR_VIRT_START..END of x86_64: L4 slots 256..=271.
                    (4, 4) => (256..=271).contains(&i),
                    // A 32-bit guest may use only the first 4 L3 entries.
                    (3, 3) => i >= 4,
                    _ => false,
                };
                let out_pte = if xen_slot || pte & x86::PRESENT == 0 {
                    if xen_slot {
                        0
                    } else {
                        pte
                    }
                } else if level > 1 && pte & PS != 0 {
                    // A superpage: Xen refuses to save one; translate it when its frames
                    // are pfn-contiguous (see the module note). Its address bits start
                    // at its size (bit 12 is PAT).
                    let frames: u64 = if level == 2 { 512 } else { 512 * 512 };
                    let mask = FRAME_BITS & !((frames << 12) - 1);
                    let first = (pte & mask) >> 12;
                    match (machine.pfn(first), machine.pfn(first + frames - 1)) {
                        (Some(p), Some(q)) if q == p + frames - 1 && p % frames == 0 => {
                            (pte & !mask) | (p << 12)
                        }
                        _ => 0,
                    }
                } else {
                    let frame = (pte & FRAME_BITS) >> 12;
                    match machine.pfn(frame) {
                        Some(p) => {
                            if level > 1 {
                                todo.push((frame, level - 1, false));
                            }
                            (pte & !FRAME_BITS) | (p << 12)
                        }
                        // A frame outside the guest: Xen refuses ("Bad mfn").
                        None => 0,
                    }
                };
                dst[i * 8..i * 8 + 8].copy_from_slice(&out_pte.to_le_bytes());
            }
            let t = level | if pinned { 0x8 } else { 0 };
            out.pages.insert(pfn, (t, dst));
        }
        Ok(out)
    }
}

/// The machine frame a stored PV CR3 names.
fn cr3_mfn(width: Width, cr3: u64) -> u64 {
    match width {
        Width::Bits64 => cr3 >> 12,
        Width::Bits32 => u64::from((cr3 as u32).rotate_right(12)),
    }
}

impl GuestImage {
    /// The vCPU context the PV save path stores for `v` (slot `id`): frames as pfns.
    fn pv_stream_vcpu(&self, machine: &Machine, id: usize, v: &VcpuImage) -> VcpuImage {
        let mut out = v.clone();
        let to_pfn = |mfn: u64| machine.pfn(mfn);
        match self.width {
            Width::Bits64 => {
                if let Some(p) = to_pfn(v.ctrlreg[3] >> 12) {
                    out.ctrlreg[3] = x86::xen_cr3_64(p);
                }
                if v.ctrlreg[1] != 0 {
                    if let Some(p) = to_pfn(v.ctrlreg[1] >> 12) {
                        out.ctrlreg[1] = 1 | (p << 12);
                    }
                }
            }
            Width::Bits32 => {
                if let Some(p) = to_pfn(cr3_mfn(Width::Bits32, v.ctrlreg[3])) {
                    out.ctrlreg[3] = x86::xen_cr3_32(p);
                }
            }
        }
        let word = match self.width {
            Width::Bits64 => u64::MAX,
            Width::Bits32 => 0xffff_ffff,
        };
        let gdt_pages = (v.gdt_ents & word).div_ceil(512);
        for f in out.gdt_frames.iter_mut().take(gdt_pages.min(16) as usize) {
            if let Some(p) = to_pfn(*f & word) {
                *f = p;
            }
        }
        if id == 0 {
            if let Some(p) = to_pfn(v.gprs.rdx & word) {
                out.gprs.rdx = p;
            }
        }
        out
    }

    /// The vCPU states a correct reader decodes from a saved image of this guest
    /// written with `opts`: one slot per vCPU, those offline without registers (the
    /// save path skips them), PV frames as pfns, HVM state from the CPU record.
    pub fn stream_states(&self, opts: &StreamOptions) -> Vec<VcpuState> {
        let machine = Machine::of(self);
        let layout = self.stream_layout();
        self.vcpus
            .iter()
            .enumerate()
            .map(|(slot, v)| {
                if v.flags & VGCF_ONLINE == 0 {
                    return VcpuState::unrecorded(slot, layout, self.kind);
                }
                match self.kind {
                    GuestKind::Pv => {
                        self.pv_stream_vcpu(&machine, slot, v)
                            .to_state(slot, layout, GuestKind::Pv)
                    }
                    GuestKind::Hvm => HvmCpu::of(v, opts.compat_cpu).to_state(slot),
                }
            })
            .collect()
    }

    /// The context layout of this guest's vCPU records in a stream.
    fn stream_layout(&self) -> ContextLayout {
        match (self.kind, self.width) {
            (GuestKind::Pv, Width::Bits32) => ContextLayout::X86_32,
            _ => ContextLayout::X86_64,
        }
    }

    /// The pages a saved image of this guest holds that are not all zeros, by pfn: PV
    /// page tables canonical, everything else as the image has it. For small guests.
    pub fn stream_contents(&self, opts: &StreamOptions) -> BTreeMap<GuestFrame, Box<Page>> {
        let mut out: BTreeMap<GuestFrame, Box<Page>> = self.contents.clone();
        if self.kind == GuestKind::Pv {
            let machine = Machine::of(self);
            if let Ok(tables) = PvTables::of(self, &machine, &opts.pv_roots) {
                for (pfn, (_, page)) in tables.pages {
                    out.insert(GuestFrame(pfn), page);
                }
            }
        }
        out.retain(|_, p| p.iter().any(|&b| b != 0));
        out
    }

    /// Write a saved image of this guest into memory. For small guests.
    pub fn write_stream(&self, opts: &StreamOptions) -> Result<Vec<u8>, BuildError> {
        let mut cursor = Cursor::new(Vec::new());
        self.write_stream_to(opts, &mut cursor)?;
        Ok(cursor.into_inner())
    }

    /// Create (or truncate) `path` and write a saved image into it (zero pages become
    /// holes: Xen writes them, the bytes are the same).
    pub fn write_stream_file(
        &self,
        path: impl AsRef<Path>,
        opts: &StreamOptions,
    ) -> Result<StreamLayout, BuildError> {
        let path = path.as_ref();
        let mut file = std::fs::File::create(path).map_err(|source| BuildError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        self.write_stream_to(opts, &mut file)
    }

    /// Stream a saved image into `w` (fresh: skipped zero pages must read as zeros).
    pub fn write_stream_to<W: Write + Seek>(
        &self,
        opts: &StreamOptions,
        w: &mut W,
    ) -> Result<StreamLayout, BuildError> {
        if self.kind == GuestKind::Pv && self.hypervisor == Width::Bits32 {
            return Err(BuildError::Unsupported {
                what: "a saved image of a guest on a 32-bit hypervisor (the migration stream is Xen ≥ 4.6, 64-bit only)",
            });
        }
        let machine = Machine::of(self);
        let tables = match self.kind {
            GuestKind::Pv => Some(PvTables::of(self, &machine, &opts.pv_roots)?),
            GuestKind::Hvm => None,
        };
        let mut out = Out {
            w: SparseWriter::new(w),
            layout: StreamLayout::default(),
        };
        if opts.container == Container::Xl {
            out.xl_header(self, opts)?;
        }
        let libxl = opts.container != Container::Libxc;
        if libxl {
            let mut h = Vec::new();
            h.extend_from_slice(b"LibxlFmt");
            h.extend_from_slice(&2u32.to_be_bytes());
            h.extend_from_slice(&0u32.to_be_bytes());
            out.w.put(&h)?;
            out.record("libxl", 1, &[])?;
        }
        out.layout.libxc_offset = out.w.position();
        let mut h = Vec::new();
        h.extend_from_slice(&u64::MAX.to_le_bytes());
        h.extend_from_slice(b"XENF");
        h.extend_from_slice(&opts.version.to_be_bytes());
        h.extend_from_slice(&0u16.to_be_bytes());
        h.extend_from_slice(&[0; 6]);
        let dtype: u32 = match self.kind {
            GuestKind::Pv => 1,
            GuestKind::Hvm => 2,
        };
        h.extend_from_slice(&dtype.to_le_bytes());
        h.extend_from_slice(&12u16.to_le_bytes());
        h.extend_from_slice(&[0; 2]);
        h.extend_from_slice(&opts.xen.0.to_le_bytes());
        h.extend_from_slice(&opts.xen.1.to_le_bytes());
        out.w.put(&h)?;

        // Static data.
        if self.kind == GuestKind::Pv {
            let (w, l) = match self.width {
                Width::Bits64 => (8u8, 4u8),
                Width::Bits32 => (4, 3),
            };
            out.record("libxc", 2, &[w, l, 0, 0, 0, 0, 0, 0])?;
        }
        if opts.version >= 3 {
            let mut cpuid = Vec::new();
            for (leaf, a) in [(0u32, 0xdu32), (1, 0x000a_0671)] {
                for v in [leaf, u32::MAX, a, 0x756e_6547, 0x6c65_746e, 0x4965_6e69] {
                    cpuid.extend_from_slice(&v.to_le_bytes());
                }
            }
            out.record("libxc", 0x11, &cpuid)?;
            let mut msr = Vec::new();
            msr.extend_from_slice(&0xceu32.to_le_bytes());
            msr.extend_from_slice(&0u32.to_le_bytes());
            msr.extend_from_slice(&0u64.to_le_bytes());
            out.record("libxc", 0x12, &msr)?;
            out.record("libxc", 0x10, &[])?;
        }
        let max_pfn = self.frames.last().map_or(0, |r| r.pfn_end() - 1);
        if self.kind == GuestKind::Pv {
            let per_frame = PAGE_SIZE / self.width.bytes();
            let frames = max_pfn / per_frame + 1;
            let mut body = Vec::new();
            body.extend_from_slice(&0u32.to_le_bytes());
            body.extend_from_slice(&(max_pfn as u32).to_le_bytes());
            for i in 0..frames {
                body.extend_from_slice(&(P2M_FIRST_PFN + i).to_le_bytes());
            }
            out.record("libxc", 3, &body)?;
        }

        let dirty: Vec<u64> = match &opts.dirty {
            Some(d) => d.iter().map(|p| p.0).collect(),
            None => {
                let mut d: Vec<u64> = self.contents.keys().map(|p| p.0).collect();
                if let Some(t) = &tables {
                    d.extend(t.pages.keys());
                }
                d.sort_unstable();
                d.dedup();
                d
            }
        };
        let page_src = PageSource {
            image: self,
            tables: tables.as_ref(),
        };
        let all = || (0..=max_pfn).collect::<Vec<u64>>();
        match opts.passes {
            Passes::Plain => {
                out.pages(&page_src, &all(), opts.batch, None)?;
                out.end_of_checkpoint(self, opts, &machine, None)?;
                out.record("libxc", 0, &[])?;
                if libxl {
                    out.emulator(self)?;
                    out.record("libxl", 0, &[])?;
                }
            }
            Passes::Live { rounds } => {
                let rounds = rounds.max(1);
                for k in 1..=rounds {
                    let last = k == rounds;
                    let stale = (!last).then_some((STALE, &dirty[..]));
                    let pfns = if k == 1 { all() } else { dirty.clone() };
                    out.pages(&page_src, &pfns, opts.batch, stale)?;
                }
                out.end_of_checkpoint(self, opts, &machine, None)?;
                out.record("libxc", 0, &[])?;
                if libxl {
                    out.emulator(self)?;
                    out.record("libxl", 0, &[])?;
                }
            }
            Passes::Checkpointed {
                checkpoints,
                unfinished,
            } => {
                let checkpoints = checkpoints.max(1);
                for k in 1..=checkpoints {
                    let last = k == checkpoints;
                    let stale = (!last).then_some((STALE, &dirty[..]));
                    let pfns = if k == 1 { all() } else { dirty.clone() };
                    out.pages(&page_src, &pfns, opts.batch, stale)?;
                    out.end_of_checkpoint(self, opts, &machine, (!last).then_some(STALE))?;
                    out.record("libxc", 0xe, &[])?;
                    if libxl {
                        out.emulator(self)?;
                        out.record("libxl", 4, &[])?;
                    }
                }
                if unfinished {
                    out.pages(
                        &page_src,
                        &dirty,
                        opts.batch,
                        Some((UNFINISHED, &dirty[..])),
                    )?;
                    out.end_of_checkpoint(self, opts, &machine, Some(UNFINISHED))?;
                }
            }
        }
        let size = out.w.finish()?;
        out.layout.file_size = size;
        Ok(out.layout)
    }
}

/// First pfn of the p2m frame list the writer records (any pfns would do: the reader
/// only reports them).
pub const P2M_FIRST_PFN: u64 = 0x90;

/// Page contents for the writer.
struct PageSource<'a> {
    image: &'a GuestImage,
    tables: Option<&'a PvTables>,
}

impl PageSource<'_> {
    /// (type nibble, bytes) of `pfn`; `None` for a pfn the guest does not have.
    fn page(&self, pfn: u64) -> Option<(u8, Option<&Page>)> {
        if let Some((t, p)) = self.tables.and_then(|t| t.pages.get(&pfn)) {
            return Some((*t, Some(&**p)));
        }
        self.image.pfn_to_mfn(GuestFrame(pfn))?;
        Some((0, self.image.page(GuestFrame(pfn))))
    }
}

struct Out<'w, W: Write + Seek> {
    w: SparseWriter<'w, W>,
    layout: StreamLayout,
}

impl<W: Write + Seek> Out<'_, W> {
    /// A record: header, body, zeros to 8 bytes.
    fn record(&mut self, layer: &'static str, t: u32, body: &[u8]) -> Result<(), BuildError> {
        self.layout.records.push(RecordPlace {
            layer,
            record_type: t,
            offset: self.w.position(),
            len: body.len() as u64,
        });
        self.w.put(&t.to_le_bytes())?;
        self.w.put(&(body.len() as u32).to_le_bytes())?;
        self.w.put(body)?;
        let pad = body.len().div_ceil(8) * 8 - body.len();
        self.w.put(&[0; 8][..pad])?;
        Ok(())
    }

    fn xl_header(&mut self, image: &GuestImage, opts: &StreamOptions) -> Result<(), BuildError> {
        let config = opts.config.then(|| {
            let online: Vec<String> = image
                .vcpus
                .iter()
                .enumerate()
                .filter(|(_, v)| v.flags & VGCF_ONLINE != 0)
                .map(|(i, _)| i.to_string())
                .collect();
            let kb = image.page_count() * 4;
            let mut text = format!(
                "{{\n    \"c_info\": {{\n        \"type\": \"{}\",\n        \"name\": \"{}\",\n        \"uuid\": \"5eed0f5e-ed0f-5eed-0f5e-ed0f5eed0f5e\"\n    }},\n    \"b_info\": {{\n        \"max_vcpus\": {},\n        \"avail_vcpus\": [\n            {}\n        ],\n        \"max_memkb\": {kb},\n        \"target_memkb\": {kb}\n    }}\n}}\n",
                match image.kind {
                    GuestKind::Pv => "pv",
                    GuestKind::Hvm => "hvm",
                },
                opts.name,
                image.vcpus.len(),
                online.join(",\n            ")
            )
            .into_bytes();
            text.push(0);
            text
        });
        let mut optional = Vec::new();
        let mut mandatory = 2u32; // STREAMv2
        if let Some(c) = &config {
            optional.extend_from_slice(&(c.len() as u32).to_le_bytes());
            optional.extend_from_slice(c);
            mandatory |= 1; // JSON
        } else {
            optional.extend_from_slice(&0u32.to_le_bytes());
        }
        self.layout.records.push(RecordPlace {
            layer: "xl",
            record_type: 0,
            offset: 0,
            len: 48 + optional.len() as u64,
        });
        self.w.put(XL_MAGIC)?;
        for v in [0x0102_0304u32, mandatory, 0, optional.len() as u32] {
            self.w.put(&v.to_le_bytes())?;
        }
        self.w.put(&optional)
    }

    /// PAGE_DATA records for `pfns` (ascending), `batch` at a time; pages in
    /// `stale.1` get their bytes XORed with `stale.0`.
    fn pages(
        &mut self,
        src: &PageSource<'_>,
        pfns: &[u64],
        batch: usize,
        stale: Option<(u8, &[u64])>,
    ) -> Result<(), BuildError> {
        for chunk in pfns.chunks(batch.clamp(1, MAX_BATCH)) {
            let entries: Vec<(u64, u8, Option<&Page>)> = chunk
                .iter()
                .map(|&pfn| match src.page(pfn) {
                    Some((t, p)) => (pfn, t, p),
                    None => (pfn, 0xf, None),
                })
                .collect();
            let with_data = entries.iter().filter(|e| e.1 != 0xf).count() as u64;
            let len = 8 + 8 * chunk.len() as u64 + with_data * PAGE_SIZE;
            self.layout.records.push(RecordPlace {
                layer: "libxc",
                record_type: 1,
                offset: self.w.position(),
                len,
            });
            self.w.put(&1u32.to_le_bytes())?;
            self.w.put(&(len as u32).to_le_bytes())?;
            self.w.put(&(chunk.len() as u32).to_le_bytes())?;
            self.w.put(&0u32.to_le_bytes())?;
            for &(pfn, t, _) in &entries {
                self.w.put(&((u64::from(t) << 60) | pfn).to_le_bytes())?;
            }
            for &(pfn, t, page) in &entries {
                if t == 0xf {
                    continue;
                }
                match stale {
                    Some((x, set)) if set.binary_search(&pfn).is_ok() => {
                        let mut p: Page = page.copied().unwrap_or([0; PAGE_SIZE as usize]);
                        for b in p.iter_mut() {
                            *b ^= x;
                        }
                        self.w.put(&p)?;
                    }
                    _ => self.w.page(page.map(|p| &p[..]), PAGE_SIZE)?,
                }
            }
        }
        Ok(())
    }

    /// What ends a checkpoint (or the memory of a plain stream): TSC, then PV shared
    /// info and vCPUs, or HVM context and parameters. `stale`: registers of a copy a
    /// later one replaces.
    fn end_of_checkpoint(
        &mut self,
        image: &GuestImage,
        opts: &StreamOptions,
        machine: &Machine,
        stale: Option<u8>,
    ) -> Result<(), BuildError> {
        let mut tsc = Vec::new();
        for v in [0u32, 2_400_000] {
            tsc.extend_from_slice(&v.to_le_bytes());
        }
        tsc.extend_from_slice(&123_456_789_000u64.to_le_bytes());
        tsc.extend_from_slice(&[0; 8]);
        self.record("libxc", 8, &tsc)?;
        let spoil = |v: &VcpuImage| -> VcpuImage {
            let mut v = v.clone();
            if let Some(x) = stale {
                let x = u64::from(x) * 0x0101_0101;
                v.rip ^= x;
                v.gprs.rax ^= x;
                v.gprs.rsp ^= x;
            }
            v
        };
        match image.kind {
            GuestKind::Pv => {
                let shared = image
                    .shared_info
                    .as_deref()
                    .copied()
                    .unwrap_or([0; PAGE_SIZE as usize]);
                self.record("libxc", 7, &shared)?;
                let layout = image.stream_layout();
                for (id, v) in image.vcpus.iter().enumerate() {
                    if v.flags & VGCF_ONLINE == 0 {
                        continue;
                    }
                    let ctx = image.pv_stream_vcpu(machine, id, &spoil(v));
                    let vhdr = |rest: &[u8]| {
                        let mut b = Vec::with_capacity(8 + rest.len());
                        b.extend_from_slice(&(id as u32).to_le_bytes());
                        b.extend_from_slice(&0u32.to_le_bytes());
                        b.extend_from_slice(rest);
                        b
                    };
                    self.record("libxc", 4, &vhdr(&ctx.encode(layout)))?;
                    // xen_domctl_ext_vcpucontext: vcpu, size, sysenter/syscall state.
                    let mut ext = vec![0u8; 40];
                    ext[4..8].copy_from_slice(&40u32.to_le_bytes());
                    self.record("libxc", 5, &vhdr(&ext))?;
                    // One xen_domctl_vcpu_msr_t: MSR_SPEC_CTRL = 0.
                    let mut msr = Vec::new();
                    msr.extend_from_slice(&0x48u32.to_le_bytes());
                    msr.extend_from_slice(&0u32.to_le_bytes());
                    msr.extend_from_slice(&0u64.to_le_bytes());
                    self.record("libxc", 0xc, &vhdr(&msr))?;
                }
            }
            GuestKind::Hvm => {
                let mut blob = Vec::new();
                let entry = |blob: &mut Vec<u8>, code: u16, inst: u16, body: &[u8]| {
                    blob.extend_from_slice(&code.to_le_bytes());
                    blob.extend_from_slice(&inst.to_le_bytes());
                    blob.extend_from_slice(&(body.len() as u32).to_le_bytes());
                    blob.extend_from_slice(body);
                };
                let mut header = Vec::new();
                header.extend_from_slice(&0x5438_1286u32.to_le_bytes());
                header.extend_from_slice(&1u32.to_le_bytes());
                header.extend_from_slice(&0x0123_4567_89abu64.to_le_bytes());
                header.extend_from_slice(&0x000a_0671u32.to_le_bytes());
                header.extend_from_slice(&2_400_000u32.to_le_bytes());
                entry(&mut blob, 1, 0, &header);
                for (id, v) in image.vcpus.iter().enumerate() {
                    if v.flags & VGCF_ONLINE == 0 {
                        continue;
                    }
                    let cpu = HvmCpu::of(&spoil(v), opts.compat_cpu);
                    entry(&mut blob, 2, id as u16, &cpu.encode());
                }
                // The per-domain and per-vCPU device state Xen saves next (zeros here,
                // struct sizes of Xen 4.17): PIC ×2, IOAPIC, LAPIC and LAPIC_REGS per vCPU,
                // MTRR per vCPU.
                entry(&mut blob, 3, 0, &[0; 8]);
                entry(&mut blob, 3, 1, &[0; 8]);
                entry(&mut blob, 4, 0, &[0; 496]);
                for id in 0..image.vcpus.len() as u16 {
                    entry(&mut blob, 5, id, &[0; 40]);
                    entry(&mut blob, 6, id, &[0; 1024]);
                    entry(&mut blob, 14, id, &[0; 240]);
                }
                entry(&mut blob, 0, 0, &[]);
                self.record("libxc", 9, &blob)?;
                let mut params = Vec::new();
                let list: [(u64, u64); 3] = [(1, 0xfeffc), (17, 0xfeffb), (12, 0xfeffd000)];
                params.extend_from_slice(&(list.len() as u32).to_le_bytes());
                params.extend_from_slice(&0u32.to_le_bytes());
                for (i, v) in list {
                    params.extend_from_slice(&i.to_le_bytes());
                    params.extend_from_slice(&v.to_le_bytes());
                }
                self.record("libxc", 0xa, &params)?;
            }
        }
        Ok(())
    }

    /// HVM guests: QEMU's device state, as libxl sends it (upstream QEMU, index 0).
    fn emulator(&mut self, image: &GuestImage) -> Result<(), BuildError> {
        if image.kind != GuestKind::Hvm {
            return Ok(());
        }
        let mut body = Vec::new();
        body.extend_from_slice(&2u32.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(b"QEVM\0\0\0\x03");
        body.extend_from_slice(&[0x5a; 56]);
        self.record("libxl", 3, &body)
    }
}

/// An HVM vCPU's save record (`struct hvm_hw_cpu`), as the builder states it: the
/// VcpuImage's registers, the segments' hidden parts made up to match the selectors
/// and the mode (flat segments; CS long-mode when EFER.LMA), GS as the live base and the
/// other one as the shadow base, as Xen keeps them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HvmCpu {
    pub vcpu: VcpuImage,
    pub system: SystemRegisters,
    pub compat: bool,
}

/// `hvm_hw_cpu` field offsets (gcc -m64 on Xen's `arch-x86/hvm/save.h`), for the
/// builder alone.
mod hw {
    pub const SIZE: usize = 1032;
    pub const COMPAT_SIZE: usize = 1016;
    pub const RAX: usize = 512;
    pub const RIP: usize = 640;
    pub const RFLAGS: usize = 648;
    pub const CR0: usize = 656;
    pub const CR2: usize = 664;
    pub const CR3: usize = 672;
    pub const CR4: usize = 680;
    pub const DR0: usize = 688;
    pub const DR6: usize = 720;
    pub const DR7: usize = 728;
    pub const CS_SEL: usize = 736;
    pub const CS_LIMIT: usize = 768;
    pub const IDTR_LIMIT: usize = 800;
    pub const GDTR_LIMIT: usize = 804;
    pub const CS_BASE: usize = 808;
    pub const IDTR_BASE: usize = 872;
    pub const GDTR_BASE: usize = 880;
    pub const CS_ARBYTES: usize = 888;
    pub const SYSENTER_CS: usize = 920;
    pub const SYSENTER_ESP: usize = 928;
    pub const SYSENTER_EIP: usize = 936;
    pub const SHADOW_GS: usize = 944;
    pub const LSTAR: usize = 960;
    pub const STAR: usize = 968;
    pub const CSTAR: usize = 976;
    pub const SYSCALL_MASK: usize = 984;
    pub const EFER: usize = 992;
    pub const TSC_AUX: usize = 1000;
    pub const TSC: usize = 1008;
    pub const COMPAT_TSC: usize = 1000;
    pub const FLAGS: usize = 1024;
}

impl HvmCpu {
    /// The save record of vCPU `v`.
    pub fn of(v: &VcpuImage, compat: bool) -> HvmCpu {
        const LMA: u64 = 1 << 10;
        let long = v.efer & LMA != 0;
        let kernel = v.selectors.cs & 3 == 0;
        let flat = |selector: u16, attributes: u32| Segment {
            selector,
            base: 0,
            limit: 0xffff_ffff,
            attributes,
        };
        // Xen's packed attributes (`segment_register.attr`): type in bits 3:0, S 4,
        // DPL 6:5, P 7, AVL 8, L 9, D/B 10, G 11. Accessed code/data, S, P, G, plus L
        // (long-mode CS) or D/B; a null data selector is an unusable segment (0).
        let dpl = |sel: u16| u32::from(sel & 3) << 5;
        let code = 0x89b | dpl(v.selectors.cs) | if long { 0x200 } else { 0x400 };
        let data = |sel: u16| {
            if sel == 0 {
                0
            } else {
                0xc93 | dpl(sel)
            }
        };
        let (gs_live, shadow) = if kernel {
            (v.gs_base_kernel, v.gs_base_user)
        } else {
            (v.gs_base_user, v.gs_base_kernel)
        };
        let system = SystemRegisters {
            cs: flat(v.selectors.cs, code),
            ds: flat(v.selectors.ds, data(v.selectors.ds)),
            es: flat(v.selectors.es, data(v.selectors.es)),
            fs: Segment {
                base: v.fs_base,
                ..flat(v.selectors.fs, data(v.selectors.fs))
            },
            gs: Segment {
                base: gs_live,
                ..flat(v.selectors.gs, data(v.selectors.gs))
            },
            ss: flat(v.selectors.ss, data(v.selectors.ss)),
            tr: Segment {
                selector: 0x40,
                base: 0xffff_fe00_0000_3000 ^ v.rip.rotate_left(7),
                limit: 0x4087,
                attributes: 0x8b,
            },
            ldtr: Segment {
                selector: 0,
                base: 0,
                limit: 0xffff,
                attributes: 0x82,
            },
            gdtr: TableRegister {
                base: 0xffff_fe00_0000_1000 ^ v.rip.rotate_left(3),
                limit: 0x7f,
            },
            idtr: TableRegister {
                base: 0xffff_fe00_0000_0000,
                limit: 0xfff,
            },
            sysenter_cs: 0x10,
            sysenter_esp: 0xffff_fe00_0000_5000,
            sysenter_eip: 0xffff_ffff_8100_1a40,
            shadow_gs: shadow,
            lstar: 0xffff_ffff_8100_0040,
            star: 0x0023_0010_0000_0000,
            cstar: 0xffff_ffff_8100_1c00,
            syscall_mask: 0x47700,
            tsc_aux: (!compat).then_some(v.rip & 0xff),
            tsc: 0x0000_1234_5678_9abc,
            pending_event: 0,
            error_code: 0,
        };
        HvmCpu {
            vcpu: v.clone(),
            system,
            compat,
        }
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let v = &self.vcpu;
        let s = &self.system;
        let mut b = vec![
            0u8;
            if self.compat {
                hw::COMPAT_SIZE
            } else {
                hw::SIZE
            }
        ];
        let mut q = |off: usize, val: u64| b[off..off + 8].copy_from_slice(&val.to_le_bytes());
        let g = &v.gprs;
        for (i, r) in [
            g.rax, g.rbx, g.rcx, g.rdx, g.rbp, g.rsi, g.rdi, g.rsp, g.r8, g.r9, g.r10, g.r11,
            g.r12, g.r13, g.r14, g.r15,
        ]
        .into_iter()
        .enumerate()
        {
            q(hw::RAX + 8 * i, r);
        }
        q(hw::RIP, v.rip);
        q(hw::RFLAGS, v.rflags);
        q(hw::CR0, v.ctrlreg[0]);
        q(hw::CR2, v.ctrlreg[2]);
        q(hw::CR3, v.ctrlreg[3]);
        q(hw::CR4, v.ctrlreg[4]);
        for i in 0..4 {
            q(hw::DR0 + 8 * i, v.debugreg[i]);
        }
        q(hw::DR6, v.debugreg[6]);
        q(hw::DR7, v.debugreg[7]);
        let segs = [s.cs, s.ds, s.es, s.fs, s.gs, s.ss, s.tr, s.ldtr];
        for (i, sg) in segs.iter().enumerate() {
            q(hw::CS_BASE + 8 * i, sg.base);
        }
        q(hw::IDTR_BASE, s.idtr.base);
        q(hw::GDTR_BASE, s.gdtr.base);
        q(hw::SYSENTER_CS, s.sysenter_cs);
        q(hw::SYSENTER_ESP, s.sysenter_esp);
        q(hw::SYSENTER_EIP, s.sysenter_eip);
        q(hw::SHADOW_GS, s.shadow_gs);
        q(hw::LSTAR, s.lstar);
        q(hw::STAR, s.star);
        q(hw::CSTAR, s.cstar);
        q(hw::SYSCALL_MASK, s.syscall_mask);
        q(hw::EFER, v.efer);
        if self.compat {
            q(hw::COMPAT_TSC, s.tsc);
        } else {
            q(hw::TSC_AUX, s.tsc_aux.unwrap_or(0));
            q(hw::TSC, s.tsc);
        }
        let mut d = |off: usize, val: u32| b[off..off + 4].copy_from_slice(&val.to_le_bytes());
        for (i, sg) in segs.iter().enumerate() {
            d(hw::CS_SEL + 4 * i, u32::from(sg.selector));
            d(hw::CS_LIMIT + 4 * i, sg.limit);
            d(hw::CS_ARBYTES + 4 * i, sg.attributes);
        }
        d(hw::IDTR_LIMIT, s.idtr.limit);
        d(hw::GDTR_LIMIT, s.gdtr.limit);
        let (pending, error) = if self.compat {
            (hw::COMPAT_TSC + 8, hw::COMPAT_TSC + 12)
        } else {
            (hw::TSC + 8, hw::TSC + 12)
        };
        d(pending, s.pending_event);
        d(error, s.error_code);
        if !self.compat {
            let fpu = u32::from(v.flags & VGCF_I387_VALID != 0);
            d(hw::FLAGS, fpu);
        }
        b[..512].copy_from_slice(&v.fpu);
        b
    }

    /// The state a correct reader decodes from this record as slot `slot`.
    pub fn to_state(&self, slot: usize) -> VcpuState {
        let v = &self.vcpu;
        let s = &self.system;
        let fpu_valid = self.compat || v.flags & VGCF_I387_VALID != 0;
        let kernel = v.selectors.cs & 3 == 0;
        let (gs_kernel, gs_user) = if kernel {
            (s.gs.base, s.shadow_gs)
        } else {
            (s.shadow_gs, s.gs.base)
        };
        let c = &v.ctrlreg;
        let r = &v.debugreg;
        VcpuState {
            slot,
            layout: ContextLayout::X86_64,
            guest_kind: GuestKind::Hvm,
            flags: VGCF_ONLINE | if fpu_valid { VGCF_I387_VALID } else { 0 },
            gprs: v.gprs,
            rip: v.rip,
            rflags: v.rflags,
            selectors: v.selectors,
            ctrlreg: [c[0], 0, c[2], c[3], c[4], 0, 0, 0],
            debugreg: [r[0], r[1], r[2], r[3], 0, 0, r[6], r[7]],
            fs_base: Some(s.fs.base),
            gs_base_kernel: Some(gs_kernel),
            gs_base_user: Some(gs_user),
            fpu: fpu_valid.then_some(FxSave(v.fpu)),
            efer: Some(v.efer),
            system: Some(Box::new(s.clone())),
            recorded: true,
        }
    }
}
