//! Writes a big, sparse builder dump for the `convert` benchmark (bench/convert.sh):
//! a 64-bit HVM guest of SIZE_MIB MiB with memory holes, page tables (a direct map over
//! all RAM with 2 MiB pages, a 16 MiB kernel image at `__START_KERNEL_map` + 16 MiB),
//! a VMCOREINFO note found through the kernel's pointer, and one page in every EVERY
//! filled with pseudo-random bytes (the others are zero, hence holes in the file).
//!
//! With `pv`, a 64-bit PV guest instead, with the page tables a PV Linux has: machine
//! frames in 2 MiB chunks scattered over the host (Xen's superpage allocations), the
//! direct map over all RAM and the kernel image mapped with 4 KiB pages (PV guests have
//! no large pages), so its tables are one L1 page per 2 MiB of RAM (32 768 table pages
//! for 64 GiB), Xen's own L4 slots, and `swapper_pg_dir` in VMCOREINFO.
//!
//! `pv:N` makes the machine-frame chunks N pages instead of 512 (`pv:1`: every page on
//! its own, the worst case for machine-frame lookups).
//!
//!   cargo run --release --example make-big-dump -- OUT SIZE_MIB EVERY [pv|pv:N]

use xendump_gdbserver::addr::{GuestFrame, MachineFrame, PhysAddr, VirtAddr, PAGE_SIZE};
use xendump_gdbserver::builder::large::LargeGuest;
use xendump_gdbserver::builder::pagetable::{EntryFlags, PageTableBuilder};
use xendump_gdbserver::builder::scenario::vmcoreinfo_note;
use xendump_gdbserver::builder::{pv64_cr3, DumpOptions, FrameRun, GuestImage, Page, VcpuImage};
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::{Cr3Decode, PageSize, PagingMode};
use xendump_gdbserver::vcpu::VGCF_IN_KERNEL;

const DIRECT_MAP: u64 = 0xffff_8880_0000_0000;
const TEXT_VA: u64 = 0xffff_ffff_8100_0000;
const TEXT_PFN: u64 = 0x1000;
const TEXT_PAGES_2M: u64 = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, size_mib, every, pv) = match args.as_slice() {
        [o, s, e] => (o, s, e, None),
        [o, s, e, k] if k == "pv" => (o, s, e, Some(512)),
        [o, s, e, k] if k.starts_with("pv:") => (o, s, e, Some(k[3..].parse::<u64>()?.max(1))),
        _ => return Err("usage: make-big-dump OUT SIZE_MIB EVERY [pv|pv:N]".into()),
    };
    let pages = size_mib.parse::<u64>()? * 256;
    let every: u64 = every.parse()?;
    if pages < 0x4000 || every == 0 {
        return Err("SIZE_MIB must be at least 64 and EVERY at least 1".into());
    }
    if let Some(chunk) = pv {
        return pv_guest(out, pages, every, chunk);
    }
    let mut img = GuestImage::new(GuestKind::Hvm, Width::Bits64);
    // RAM with the holes an HVM guest has: VGA below 1 MiB, and a 1 MiB gap halfway.
    let half = pages / 2;
    img.add_run(GuestFrame(0), MachineFrame(0x100_0000), 0xa0)?;
    img.add_run(GuestFrame(0xc0), MachineFrame(0x100_00c0), half - 0xc0)?;
    img.add_run(
        GuestFrame(half + 256),
        MachineFrame(0x200_0000),
        pages - half,
    )?;
    let max_pfn = pages + 256;

    // Spread non-zero pages: one in `every`, pseudo-random bytes.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let pfns: Vec<GuestFrame> = img.populated_pfns().collect();
    for pfn in pfns.into_iter().filter(|p| p.0 % every == every / 2) {
        let mut page: Page = [0; PAGE_SIZE as usize];
        for chunk in page.chunks_exact_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            chunk.copy_from_slice(&seed.to_le_bytes());
        }
        img.set_page(pfn, &page)?;
    }

    // Page tables from frames just below the top of RAM.
    let rw = EntryFlags {
        writable: true,
        ..EntryFlags::default()
    };
    let mut tables = PageTableBuilder::new(PagingMode::FourLevel);
    tables.map(
        VirtAddr(DIRECT_MAP),
        0,
        PageSize::Size2M,
        max_pfn.div_ceil(512),
        rw,
    )?;
    tables.map(
        VirtAddr(TEXT_VA),
        TEXT_PFN,
        PageSize::Size2M,
        TEXT_PAGES_2M,
        EntryFlags::default(),
    )?;
    let mut next = max_pfn - 64;
    let built = tables.build(|| {
        next += 1;
        next
    })?;
    for (frame, page) in &built.pages {
        img.set_page(GuestFrame(*frame), page)?;
    }

    // VMCOREINFO where Linux >= 4.13 keeps it, and the kernel's pointer to it.
    let text = "OSRELEASE=6.1.0-bench\nPAGESIZE=4096\nSYMBOL(_stext)=ffffffff81000000\n\
                NUMBER(phys_base)=0\nKERNELOFFSET=0\n";
    let note_pa = (half / 2) * PAGE_SIZE;
    let note = vmcoreinfo_note(text);
    img.write_phys(PhysAddr(note_pa), &note)?;
    let pointer_pa = TEXT_PFN * PAGE_SIZE + 0x80_0238;
    img.write_phys(PhysAddr(pointer_pa), &(DIRECT_MAP + note_pa).to_le_bytes())?;

    let mut v = VcpuImage::online();
    v.rip = TEXT_VA + 0x2;
    v.gprs.rsp = DIRECT_MAP + 0x10_0000;
    v.selectors.cs = 0x10;
    v.selectors.ss = 0x18;
    let cr3 = Cr3Decode::HvmLong
        .encode(built.root)
        .ok_or("root not representable")?;
    v.ctrlreg = [0x8005_0033, 0, 0, cr3, 0x0035_06f0, 0, 0, 0];
    img.push_vcpu(v.clone());
    img.push_vcpu(v);

    img.write_file(out, &DumpOptions::default())?;
    println!(
        "wrote {out}: {} MiB guest, {} non-zero pages",
        (pages * PAGE_SIZE) >> 20,
        img.contents.len()
    );
    Ok(())
}

/// Random bytes in one page of every `every`, from pfn `every / 2` on.
fn stamp(img: &mut GuestImage, every: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let pfns: Vec<GuestFrame> = img.populated_pfns().collect();
    for pfn in pfns.into_iter().filter(|p| p.0 % every == every / 2) {
        let mut page: Page = [0; PAGE_SIZE as usize];
        for chunk in page.chunks_exact_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            chunk.copy_from_slice(&seed.to_le_bytes());
        }
        img.set_page(pfn, &page)?;
    }
    Ok(())
}

/// The PV guest of the module doc.
fn pv_guest(
    out: &str,
    pages: u64,
    every: u64,
    chunk: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    const TEXT_PAGES: u64 = 4096;
    let layout = LargeGuest {
        kind: GuestKind::Pv,
        ram_pages: pages,
        mfn_chunk: chunk,
        mapped_pages: 0,
        vcpus: 1,
    };
    let mut img = GuestImage::new(GuestKind::Pv, Width::Bits64);
    let mut pfn = 0;
    while pfn < pages {
        let count = (chunk - pfn % chunk).min(pages - pfn);
        img.frames.push(FrameRun {
            pfn: GuestFrame(pfn),
            mfn: MachineFrame(layout.pv_mfn(pfn)),
            count,
        });
        pfn += count;
    }
    stamp(&mut img, every)?;

    // 4 KiB mappings, split where machine frames stop being consecutive.
    let rw = EntryFlags {
        writable: true,
        ..EntryFlags::default()
    };
    let mut tables = PageTableBuilder::new(PagingMode::FourLevel);
    let mut map = |va: u64, first: u64, count: u64, flags: EntryFlags| {
        let mut p = first;
        while p < first + count {
            let n = (chunk - p % chunk).min(first + count - p);
            tables.map(
                VirtAddr(va + (p - first) * PAGE_SIZE),
                layout.pv_mfn(p),
                PageSize::Size4K,
                n,
                flags,
            )?;
            p += n;
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    };
    map(DIRECT_MAP, 0, pages, rw)?;
    map(TEXT_VA, TEXT_PFN, TEXT_PAGES, EntryFlags::default())?;
    // The kernel's top-level table lies in its image, as swapper_pg_dir does; the
    // others come from the top of RAM.
    let pgd_pfn = TEXT_PFN + 0x800;
    let mut next = pages - 0x1_0000;
    let mut allocated = Vec::new();
    let mut built = tables.build(|| {
        let pfn = if allocated.is_empty() {
            pgd_pfn
        } else {
            next += 1;
            next - 1
        };
        allocated.push(pfn);
        layout.pv_mfn(pfn)
    })?;
    let root = built.root.frame;
    // Xen's own L4 slots: the M2P (a hypervisor frame) and the linear self-map.
    let l4 = &mut built.pages[0].1;
    l4[256 * 8..257 * 8].copy_from_slice(&((0xdead0u64 << 12) | 0x25).to_le_bytes());
    l4[258 * 8..259 * 8].copy_from_slice(&((root << 12) | 0x63).to_le_bytes());
    let table_pages = built.pages.len();
    // Pages come in allocation order.
    for (pfn, (_, page)) in allocated.iter().zip(&built.pages) {
        img.set_page(GuestFrame(*pfn), page)?;
    }

    let text = format!(
        "OSRELEASE=6.1.0-bench\nPAGESIZE=4096\nSYMBOL(_stext)=ffffffff81000000\n\
         SYMBOL(swapper_pg_dir)={:x}\nNUMBER(phys_base)={}\nKERNELOFFSET=0\n",
        TEXT_VA + 0x80_0000,
        (TEXT_PFN * PAGE_SIZE) as i64 - 0x100_0000
    );
    let note_pa = (pages / 4) * PAGE_SIZE;
    let note = vmcoreinfo_note(&text);
    img.write_phys(PhysAddr(note_pa), &note)?;
    let pointer_pa = TEXT_PFN * PAGE_SIZE + 0x80_0238 + PAGE_SIZE;
    img.write_phys(PhysAddr(pointer_pa), &(DIRECT_MAP + note_pa).to_le_bytes())?;

    let mut v = VcpuImage::online();
    v.flags |= VGCF_IN_KERNEL;
    v.rip = TEXT_VA + 0x2;
    v.gprs.rsp = DIRECT_MAP + 0x10_0000;
    v.selectors.cs = 0xe033;
    v.selectors.ss = 0xe02b;
    v.ctrlreg = [
        0x8005_003b,
        0,
        0,
        pv64_cr3(MachineFrame(root)),
        0x0000_2660,
        0,
        0,
        0,
    ];
    img.push_vcpu(v.clone());
    img.push_vcpu(v);

    img.write_file(out, &DumpOptions::default())?;
    println!(
        "wrote {out}: {} MiB PV guest, {table_pages} page-table pages, {} non-zero pages",
        (pages * PAGE_SIZE) >> 20,
        img.contents.len()
    );
    Ok(())
}
