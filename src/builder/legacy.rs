//! The legacy writer (Xen 3.0.0 – 3.0.4), imitating the pre-ELF `xc_core.c` (§2).
//!
//! Header (24 B) | contexts | mfn index | zero pad to 4096 | pages in index order.

use std::io::{Seek, Write};

use super::error::BuildError;
use super::image::{DumpLayout, GuestImage, Region};
use super::options::{LegacyHvmCr3, LegacyOptions, PHYS_TABLE_MFN};
use super::sparse::SparseWriter;
use super::vcpu::VcpuImage;
use crate::addr::{GuestFrame, MachineFrame, PAGE_SIZE};
use crate::dump::{ContextLayout, GuestKind, Width, XC_CORE_MAGIC, XC_CORE_MAGIC_HVM};
use crate::vcpu::VGCF_HVM_GUEST;

/// Pages `xc_core.c` copied per batch through one buffer (`DUMP_INCREMENT`).
const DUMP_INCREMENT: u64 = 4096;
/// CR0.PG.
const CR0_PG: u64 = 1 << 31;
/// Bits of an architectural CR3 that hold the top table's address (any paging mode).
const CR3_ADDRESS: u64 = 0x000F_FFFF_FFFF_F000;

/// The magic a legacy dump of `image` gets with `opts`.
fn legacy_magic(image: &GuestImage, opts: &LegacyOptions) -> u32 {
    opts.magic.unwrap_or(match image.kind {
        GuestKind::Pv => XC_CORE_MAGIC,
        GuestKind::Hvm => XC_CORE_MAGIC_HVM,
    })
}

/// A vCPU's context as Xen 3.0.x stored it: for HVM guests, `ctrlreg[3]` replaced by
/// the top table's machine address (see [`LegacyHvmCr3`]) and, before 3.0.4,
/// `VGCF_HVM_GUEST` set.
pub(super) fn stored_context(
    image: &GuestImage,
    opts: &LegacyOptions,
    vcpu: &VcpuImage,
) -> VcpuImage {
    let mut v = vcpu.clone();
    if image.kind != GuestKind::Hvm {
        return v;
    }
    if opts
        .hvm_flag
        .unwrap_or(legacy_magic(image, opts) == XC_CORE_MAGIC)
    {
        v.flags |= VGCF_HVM_GUEST;
    }
    if opts.hvm_cr3 == LegacyHvmCr3::MachineOfTopTable {
        let mfn = if v.ctrlreg[0] & CR0_PG == 0 {
            Some(PHYS_TABLE_MFN)
        } else {
            image
                .pfn_to_mfn(GuestFrame((v.ctrlreg[3] & CR3_ADDRESS) >> 12))
                .map(|m| m.0)
        };
        if let Some(mfn) = mfn {
            v.ctrlreg[3] = super::x86::legacy_hvm_cr3(image.hypervisor, mfn);
        }
    }
    v
}

/// `sizeof(struct xc_core_header)`: six `unsigned int`s.
const HEADER_SIZE: u64 = 24;

pub(super) struct LegacyPlan {
    pub(super) layout: DumpLayout,
    magic: u32,
    nr_vcpus: u32,
    nr_pages: u32,
    index_offset: u32,
    pages_offset: u32,
    index_width: u8,
    context_layout: ContextLayout,
}

fn fit_u32(field: &'static str, value: u64) -> Result<u32, BuildError> {
    u32::try_from(value).map_err(|_| BuildError::FieldOverflow {
        field,
        value,
        bits: 32,
    })
}

/// The pages in index order: `(pfn, mfn)` pairs.
fn for_each_indexed_page(
    image: &GuestImage,
    opts: &LegacyOptions,
    mut f: impl FnMut(GuestFrame, MachineFrame) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    match &opts.page_order {
        None => {
            for run in &image.frames {
                for i in 0..run.count {
                    f(GuestFrame(run.pfn.0 + i), MachineFrame(run.mfn.0 + i))?;
                }
            }
        }
        Some(order) => {
            for (position, &pfn) in order.iter().enumerate() {
                let mfn = image
                    .pfn_to_mfn(pfn)
                    .ok_or(BuildError::PageOrderUnpopulated { position, pfn })?;
                f(pfn, mfn)?;
            }
        }
    }
    Ok(())
}

pub(super) fn plan(
    image: &GuestImage,
    tools: Width,
    opts: &LegacyOptions,
) -> Result<LegacyPlan, BuildError> {
    let context_layout = image.context_layout();
    let context_size = opts.context_size.unwrap_or(match tools {
        Width::Bits64 => ContextLayout::X86_64.size(),
        Width::Bits32 => ContextLayout::X86_32.size(),
    });
    if context_size < context_layout.size() {
        return Err(BuildError::ContextSlotTooSmall {
            layout: context_layout,
            needed: context_layout.size(),
            slot: context_size,
        });
    }
    let index_width = opts.index_width.unwrap_or(tools.bytes() as u8);
    if index_width != 4 && index_width != 8 {
        return Err(BuildError::BadIndexWidth(index_width));
    }
    let mut listed = 0u64;
    let mut max_mfn = 0u64;
    for_each_indexed_page(image, opts, |_, mfn| {
        listed += 1;
        max_mfn = max_mfn.max(mfn.0);
        Ok(())
    })?;
    if index_width == 4 {
        fit_u32("legacy 4-byte index entry (mfn)", max_mfn)?;
    }
    let nr_pages = listed + opts.invalid_tail;
    let nr_vcpus = image.vcpus.len() as u64;
    let index_offset = HEADER_SIZE + nr_vcpus * context_size;
    let index_size = nr_pages * u64::from(index_width);
    let pages_offset = (index_offset + index_size).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let magic = legacy_magic(image, opts);
    let region = |name, offset, size| Region { name, offset, size };
    Ok(LegacyPlan {
        layout: DumpLayout {
            file_size: pages_offset + nr_pages * PAGE_SIZE,
            regions: vec![
                region("header", 0, HEADER_SIZE),
                region("contexts", HEADER_SIZE, nr_vcpus * context_size),
                region("index", index_offset, index_size),
                region("pages", pages_offset, nr_pages * PAGE_SIZE),
            ],
            nr_pages,
            context_slot: context_size,
        },
        magic,
        nr_vcpus: fit_u32("legacy xch_nr_vcpus", nr_vcpus)?,
        nr_pages: fit_u32("legacy xch_nr_pages", nr_pages)?,
        index_offset: fit_u32("legacy xch_index_offset", index_offset)?,
        pages_offset: fit_u32("legacy xch_pages_offset", pages_offset)?,
        index_width,
        context_layout,
    })
}

pub(super) fn write<W: Write + Seek>(
    image: &GuestImage,
    tools: Width,
    opts: &LegacyOptions,
    w: &mut W,
) -> Result<DumpLayout, BuildError> {
    let plan = plan(image, tools, opts)?;
    let mut out = SparseWriter::new(w);
    let mut header = Vec::with_capacity(HEADER_SIZE as usize);
    for v in [
        plan.magic,
        plan.nr_vcpus,
        plan.nr_pages,
        HEADER_SIZE as u32,
        plan.index_offset,
        plan.pages_offset,
    ] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    out.put(&header)?;
    for vcpu in &image.vcpus {
        let ctx = stored_context(image, opts, vcpu).encode(plan.context_layout);
        out.put(&ctx)?;
        out.zeros(plan.layout.context_slot - ctx.len() as u64);
    }
    let width = usize::from(plan.index_width);
    // The plan checked that every mfn fits a 4-byte entry.
    let entry = |out: &mut SparseWriter<'_, W>, value: u64| out.put(&value.to_le_bytes()[..width]);
    for_each_indexed_page(image, opts, |_, mfn| entry(&mut out, mfn.0))?;
    for _ in 0..opts.invalid_tail {
        entry(&mut out, u64::MAX)?;
    }
    out.zeros(u64::from(plan.pages_offset) - out.position());
    match &opts.page_order {
        _ if opts.contents_by_index => {
            let mfns = indexed_mfns(image, opts)?;
            for slot in 0..mfns.len() {
                let pfn = slot_contents_by_index(image, &mfns, slot as u64);
                out.page(pfn.and_then(|p| image.page(p)).map(|p| &p[..]), PAGE_SIZE)?;
            }
        }
        None => image.write_pages_ascending(&mut out)?,
        Some(_) => for_each_indexed_page(image, opts, |pfn, _| {
            out.page(image.page(pfn).map(|p| &p[..]), PAGE_SIZE)
        })?,
    }
    out.zeros(opts.invalid_tail * PAGE_SIZE);
    debug_assert_eq!(out.position(), plan.layout.file_size);
    out.finish()?;
    Ok(plan.layout)
}

/// The index entries (mfns) in list order.
fn indexed_mfns(image: &GuestImage, opts: &LegacyOptions) -> Result<Vec<u64>, BuildError> {
    let mut mfns = Vec::new();
    for_each_indexed_page(image, opts, |_, mfn| {
        mfns.push(mfn.0);
        Ok(())
    })?;
    Ok(mfns)
}

/// Xen 3.0.4's writer: the guest page slot `slot` holds (the one whose pfn equals its
/// index entry), or the one the copy buffer held from an earlier batch; `None`: zeros.
fn slot_contents_by_index(image: &GuestImage, mfns: &[u64], slot: u64) -> Option<GuestFrame> {
    let as_pfn = GuestFrame(*mfns.get(slot as usize)?);
    if image.pfn_to_mfn(as_pfn).is_some() {
        return Some(as_pfn);
    }
    // The mapping failed and its return value was ignored: the buffer still held the
    // page copied into the same place one batch earlier (freshly allocated: zeros).
    slot.checked_sub(DUMP_INCREMENT)
        .and_then(|earlier| slot_contents_by_index(image, mfns, earlier))
}

/// The guest page whose bytes slot `slot` of a legacy dump of `image` holds (`None`:
/// zeros or padding), as the writer selected by `opts` filled it.
pub(super) fn slot_page(
    image: &GuestImage,
    opts: &LegacyOptions,
    slot: u64,
) -> Result<Option<GuestFrame>, BuildError> {
    let mut order = Vec::new();
    for_each_indexed_page(image, opts, |pfn, _| {
        order.push(pfn);
        Ok(())
    })?;
    if opts.contents_by_index {
        let mfns = indexed_mfns(image, opts)?;
        return Ok(slot_contents_by_index(image, &mfns, slot));
    }
    Ok(order.get(slot as usize).copied())
}
