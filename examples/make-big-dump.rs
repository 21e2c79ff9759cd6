//! Writes a big, sparse builder dump for the `convert` benchmark (bench/convert.sh):
//! a 64-bit HVM guest of SIZE_MIB MiB with memory holes, page tables (a direct map over
//! all RAM with 2 MiB pages, a 16 MiB kernel image at `__START_KERNEL_map` + 16 MiB),
//! a VMCOREINFO note found through the kernel's pointer, and one page in every EVERY
//! filled with pseudo-random bytes (the others are zero, hence holes in the file).
//!
//!   cargo run --release --example make-big-dump -- OUT SIZE_MIB EVERY

use xendump_gdbserver::addr::{GuestFrame, MachineFrame, PhysAddr, VirtAddr, PAGE_SIZE};
use xendump_gdbserver::builder::pagetable::{EntryFlags, PageTableBuilder};
use xendump_gdbserver::builder::{DumpOptions, GuestImage, Page, VcpuImage};
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::{Cr3Decode, PageSize, PagingMode};

const DIRECT_MAP: u64 = 0xffff_8880_0000_0000;
const TEXT_VA: u64 = 0xffff_ffff_8100_0000;
const TEXT_PFN: u64 = 0x1000;
const TEXT_PAGES_2M: u64 = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, size_mib, every] = args.as_slice() else {
        return Err("usage: make-big-dump OUT SIZE_MIB EVERY".into());
    };
    let pages = size_mib.parse::<u64>()? * 256;
    let every: u64 = every.parse()?;
    if pages < 0x4000 || every == 0 {
        return Err("SIZE_MIB must be at least 64 and EVERY at least 1".into());
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
    let mut note = Vec::new();
    note.extend_from_slice(&11u32.to_le_bytes());
    note.extend_from_slice(&(text.len() as u32).to_le_bytes());
    note.extend_from_slice(&0u32.to_le_bytes());
    note.extend_from_slice(b"VMCOREINFO\0\0");
    note.extend_from_slice(text.as_bytes());
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
