//! Finding a Linux guest's VMCOREINFO note in its memory, and reading what it says.
//!
//! Linux builds the note at boot (`crash_save_vmcoreinfo_init`): an ELF note named
//! `VMCOREINFO` (`namesz` 11, type 0) whose descriptor is text such as
//! `OSRELEASE=6.1.0\nPAGESIZE=4096\n…KERNELOFFSET=1e000000\n`. Before Linux 4.13 the note
//! buffer was an array in the kernel's `.bss`; since then it is a page-aligned
//! allocation whose direct-map address the kernel keeps in the `vmcoreinfo_note`
//! pointer, again in the image.
//!
//! Speaks guest pseudo-physical addresses. Two depths:
//!
//! * [`ScanDepth::Quick`] reads only the kernel image (the physical range of the x86_64
//!   image mapping, or the first [`QUICK_SCAN_BYTES`] of memory when there is none, as
//!   on 32-bit guests): the note itself, or a pointer-sized word pointing through the
//!   direct map at a page that starts with the note. Bounded by the image size, which is
//!   why `info` and `monitor info` can afford it.
//! * [`ScanDepth::Full`] then searches every dumped page for the note name, at any
//!   4-byte alignment. Reads the whole dump.

use std::collections::HashSet;

use memchr::memmem;
use serde::Serialize;

use crate::addr::{GuestFrame, PageIndex, PAGE_SHIFT, PAGE_SIZE};
use crate::dump::{Width, XenDump};
use crate::memory::{Guest, TranslationCache, Via};

use super::kernel_map::KernelMap;

/// The note name, with its NUL, as it appears in memory.
pub const NOTE_NAME: &[u8] = b"VMCOREINFO\0";
/// Note header (namesz, descsz, type) plus the name padded to 4 bytes.
const NOTE_HEADER: usize = 12 + 12;
/// Largest descriptor accepted; Linux reserves one page (`VMCOREINFO_BYTES`).
const MAX_DESC: u32 = 64 * 1024;
/// Quick scan range when the kernel image cannot be located through the page tables
/// (32-bit guests, whose image lives in the direct map): the lowest 512 MiB, where
/// i386 Linux loads and randomises its image (`KERNEL_IMAGE_SIZE`).
pub const QUICK_SCAN_BYTES: u64 = 512 << 20;
/// Distinct pointer targets to test at most during a quick scan.
const MAX_POINTER_PROBES: usize = 1 << 16;

/// How much of the guest's memory to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ScanDepth {
    /// The kernel image only (bounded, cheap).
    Quick,
    /// The kernel image, then every dumped page.
    Full,
}

/// How the note was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FoundBy {
    /// The note text itself, inside the scanned kernel image range.
    KernelImage,
    /// A pointer in the kernel image to the page holding the note (Linux ≥ 4.13).
    Pointer,
    /// The search of every dumped page.
    FullScan,
}

impl FoundBy {
    /// Short description for summaries.
    pub fn describe(self) -> &'static str {
        match self {
            FoundBy::KernelImage => "in the kernel image",
            FoundBy::Pointer => "through the vmcoreinfo_note pointer in the kernel image",
            FoundBy::FullScan => "by searching all memory",
        }
    }
}

/// A VMCOREINFO note found in guest memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VmcoreInfo {
    /// Guest-physical address of the note header.
    pub note_pa: u64,
    /// The descriptor text, exactly as the guest wrote it.
    pub text: String,
    /// How it was found.
    pub found_by: FoundBy,
}

impl VmcoreInfo {
    /// Parse a note at guest-physical `pa` (header, name, text) if it is a VMCOREINFO
    /// note whose text starts with `OSRELEASE=`, as every Linux writes it.
    pub fn read_at(guest: &Guest, pa: u64, found_by: FoundBy) -> Option<VmcoreInfo> {
        let mut cache = TranslationCache::new(1);
        let mut header = [0u8; NOTE_HEADER];
        guest
            .read_exact(&mut cache, Via::Physical, pa, &mut header)
            .ok()?;
        if !is_note_header(&header) {
            return None;
        }
        let descsz = u32::from_le_bytes(header[4..8].try_into().ok()?);
        if descsz == 0 || descsz > MAX_DESC {
            return None;
        }
        let mut desc = vec![0u8; descsz as usize];
        guest
            .read_exact(
                &mut cache,
                Via::Physical,
                pa.checked_add(NOTE_HEADER as u64)?,
                &mut desc,
            )
            .ok()?;
        // The kernel's size counts the text only, but be lenient about a trailing NUL.
        while desc.last() == Some(&0) {
            desc.pop();
        }
        let text = String::from_utf8(desc).ok()?;
        if !text.starts_with("OSRELEASE=") || text.chars().any(|c| c.is_control() && c != '\n') {
            return None;
        }
        Some(VmcoreInfo {
            note_pa: pa,
            text,
            found_by,
        })
    }

    /// The value of `KEY=value` (first occurrence).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.text.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::trim)
        })
    }

    /// `OSRELEASE`: the kernel release (`uname -r`).
    pub fn osrelease(&self) -> Option<&str> {
        self.get("OSRELEASE")
    }

    /// `PAGESIZE`.
    pub fn page_size(&self) -> Option<u64> {
        self.get("PAGESIZE")?.parse().ok()
    }

    /// `KERNELOFFSET`: the KASLR offset of the kernel image (hex without `0x`).
    pub fn kernel_offset(&self) -> Option<u64> {
        let v = self.get("KERNELOFFSET")?;
        u64::from_str_radix(v.trim_start_matches("0x"), 16).ok()
    }

    /// `NUMBER(phys_base)` (x86_64; printed as a signed decimal).
    pub fn phys_base(&self) -> Option<i64> {
        self.get("NUMBER(phys_base)")?.parse().ok()
    }

    /// `SYMBOL(name)`, a hexadecimal address.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        let v = self.get(&format!("SYMBOL({name})"))?;
        u64::from_str_radix(v.trim_start_matches("0x"), 16).ok()
    }

    /// The gdb command that loads a matching vmlinux at the address the kernel ran at.
    /// x86_64's per-CPU section is linked at 0 and must stay there (`symbol-file -o`
    /// would move it too, and every per-CPU variable with it).
    pub fn gdb_command(&self) -> String {
        match self.kernel_offset() {
            Some(0) | None => "file vmlinux   (no KASLR offset)".to_string(),
            Some(off) => format!(
                "add-symbol-file vmlinux -o {off:#x} -s .data..percpu 0   \
                 (x86_64; i386: without -s; `gdb -x gdbinit vmlinux` does it itself)"
            ),
        }
    }

    /// Size of the note as it sits in memory (header, name, text).
    pub fn note_len(&self) -> u64 {
        (NOTE_HEADER + self.text.len()) as u64
    }
}

/// Is `h` (at least 24 bytes) the header and name of a VMCOREINFO note?
fn is_note_header(h: &[u8]) -> bool {
    h.len() >= NOTE_HEADER
        && h[0..4] == 11u32.to_le_bytes()
        && h[8..12] == 0u32.to_le_bytes()
        && &h[12..23] == NOTE_NAME
        && h[23] == 0
}

/// Search the guest's memory for its VMCOREINFO note (see the module doc for the
/// depths). `kernel` tells where the image and the direct map are.
pub fn find_vmcoreinfo(guest: &Guest, kernel: &KernelMap, depth: ScanDepth) -> Option<VmcoreInfo> {
    let dump = guest.dump();
    if !dump.knows_pfns() {
        return None;
    }
    let (lo, hi) = match kernel.text {
        Some(t) => (t.pa, t.pa.saturating_add(t.size)),
        None => (0, QUICK_SCAN_BYTES),
    };
    let pointer_size = match guest.guest_width() {
        Width::Bits64 => 8,
        Width::Bits32 => 4,
    };
    let mut probed = HashSet::new();
    let finder = memmem::Finder::new(NOTE_NAME);
    for pfn in (lo >> PAGE_SHIFT)..hi.div_ceil(PAGE_SIZE) {
        let Some(page) = page_of(dump, pfn) else {
            continue;
        };
        if let Some(found) = note_in_page(guest, &finder, pfn, page, FoundBy::KernelImage) {
            return Some(found);
        }
        if let Some(dm) = kernel.direct_map {
            for word in page.chunks_exact(pointer_size) {
                let v = match pointer_size {
                    8 => u64::from_le_bytes(word.try_into().unwrap_or([0; 8])),
                    _ => u64::from(u32::from_le_bytes(word.try_into().unwrap_or([0; 4]))),
                };
                if v == 0 || v & (PAGE_SIZE - 1) != 0 || v < dm.base {
                    continue;
                }
                let target = (v - dm.base) >> PAGE_SHIFT;
                if probed.len() >= MAX_POINTER_PROBES || !probed.insert(target) {
                    continue;
                }
                if page_of(dump, target).is_some_and(is_note_header) {
                    if let Some(found) =
                        VmcoreInfo::read_at(guest, target << PAGE_SHIFT, FoundBy::Pointer)
                    {
                        return Some(found);
                    }
                }
            }
        }
    }
    if depth == ScanDepth::Quick {
        return None;
    }
    for i in 0..dump.valid_page_count() {
        let Some(pfn) = dump.pfn_of(PageIndex(i)) else {
            continue;
        };
        let Ok(page) = dump.page(PageIndex(i)) else {
            continue;
        };
        if let Some(found) = note_in_page(guest, &finder, pfn.0, page, FoundBy::FullScan) {
            return Some(found);
        }
    }
    None
}

/// The bytes of guest frame `pfn`, if dumped.
fn page_of(dump: &XenDump, pfn: u64) -> Option<&[u8]> {
    dump.page(dump.page_of_pfn(GuestFrame(pfn))?).ok()
}

/// A valid note whose name lies in page `pfn` (or straddles into the next page).
fn note_in_page(
    guest: &Guest,
    finder: &memmem::Finder<'_>,
    pfn: u64,
    page: &[u8],
    found_by: FoundBy,
) -> Option<VmcoreInfo> {
    let base = pfn << PAGE_SHIFT;
    let try_name_at = |name_pa: u64| {
        // The name follows the 12-byte header, and notes are 4-byte aligned.
        if name_pa % 4 != 0 || name_pa < 12 {
            return None;
        }
        VmcoreInfo::read_at(guest, name_pa - 12, found_by)
    };
    for at in finder.find_iter(page) {
        if let Some(found) = try_name_at(base + at as u64) {
            return Some(found);
        }
    }
    // A name that starts in the last bytes of this page and ends in the next one.
    let next = page_of(guest.dump(), pfn + 1)?;
    let tail = NOTE_NAME.len() - 1;
    let mut seam = Vec::with_capacity(2 * tail);
    seam.extend_from_slice(&page[page.len().saturating_sub(tail)..]);
    seam.extend_from_slice(&next[..tail.min(next.len())]);
    let seam_start = base + (page.len() - tail.min(page.len())) as u64;
    finder
        .find_iter(&seam)
        .find_map(|at| try_name_at(seam_start + at as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(text: &str) -> VmcoreInfo {
        VmcoreInfo {
            note_pa: 0,
            text: text.into(),
            found_by: FoundBy::FullScan,
        }
    }

    #[test]
    fn values_parse_as_linux_prints_them() {
        let v = info(
            "OSRELEASE=6.1.0-18-amd64\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a15e40\n\
             NUMBER(phys_base)=-1073741824\nKERNELOFFSET=1e000000\n",
        );
        assert_eq!(v.osrelease(), Some("6.1.0-18-amd64"));
        assert_eq!(v.page_size(), Some(4096));
        assert_eq!(v.phys_base(), Some(-0x4000_0000));
        assert_eq!(v.kernel_offset(), Some(0x1e00_0000));
        assert_eq!(v.symbol("init_uts_ns"), Some(0xffff_ffff_82a1_5e40));
        assert!(v
            .gdb_command()
            .starts_with("add-symbol-file vmlinux -o 0x1e000000 -s .data..percpu 0"));
        assert!(info("OSRELEASE=5\nKERNELOFFSET=0\n")
            .gdb_command()
            .starts_with("file vmlinux"));
    }

    #[test]
    fn header_check_wants_name_type_and_padding() {
        let mut h = Vec::new();
        h.extend_from_slice(&11u32.to_le_bytes());
        h.extend_from_slice(&100u32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(b"VMCOREINFO\0\0");
        assert!(is_note_header(&h));
        let mut bad = h.clone();
        bad[8] = 1; // type
        assert!(!is_note_header(&bad));
        let mut bad = h.clone();
        bad[0] = 10; // namesz
        assert!(!is_note_header(&bad));
        assert!(!is_note_header(&h[..20]));
    }
}
