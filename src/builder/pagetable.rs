//! Page-table builder: the oracle for the walker in [`crate::memory`].
//!
//! A [`PageTableBuilder`] collects mappings (virtual range → target frames, with a
//! page size and entry flags), then [`build`](PageTableBuilder::build)s real x86
//! tables for one paging mode, taking table frames from a caller-supplied allocator
//! (PV callers hand out machine frames, HVM callers guest frames). Independently of
//! those bytes, [`lookup`](PageTableBuilder::lookup) answers from the mapping list
//! itself, so tests can compare the walker against it.
//!
//! The tables are encoded with the builder's own statement of the architecture
//! ([`super::x86`]), never with the walker's code: index bits, entry sizes and entry
//! formats written twice, once for each side, so that a mistake in one shows.
//!
//! Frames here are raw `u64` frame numbers in the guest's table-frame space, as in
//! [`mod@crate::memory::walk`].

use std::collections::{BTreeMap, HashMap, HashSet};

use thiserror::Error;

use super::x86;
use crate::addr::{VirtAddr, PAGE_SIZE};
use crate::memory::{Cr3Decode, PageSize, PagingMode, Root};

/// One 4 KiB table page.
pub type TablePage = Box<[u8; PAGE_SIZE as usize]>;

/// Optional bits of an entry. Present (and PS for large pages) are set by the builder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EntryFlags {
    /// R/W.
    pub writable: bool,
    /// U/S.
    pub user: bool,
    /// G (leaf entries only).
    pub global: bool,
    /// NX, bit 63 (PAE and long mode only).
    pub no_execute: bool,
    /// PAT: bit 7 of a 4 KiB PTE, bit 12 of a large-page entry (leaf entries only).
    pub pat: bool,
    /// Extra bits OR-ed in; must be bits the processor ignores in every entry of the
    /// mode (11:9, and 62:52 in long mode).
    pub software: u64,
}

impl EntryFlags {
    /// Writable, user-accessible: the most permissive non-leaf flags.
    pub const USER_RW: EntryFlags = EntryFlags {
        writable: true,
        user: true,
        global: false,
        no_execute: false,
        pat: false,
        software: 0,
    };

    fn access_bits(&self) -> u64 {
        let mut bits = self.software;
        if self.writable {
            bits |= x86::WRITABLE;
        }
        if self.user {
            bits |= x86::USER;
        }
        if self.no_execute {
            bits |= x86::EXECUTE_DISABLE;
        }
        bits
    }
}

/// A run of `count` pages of `page_size` mapped to consecutive target frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First virtual address (aligned to `page_size`).
    pub va: VirtAddr,
    /// First target 4 KiB frame (aligned to `page_size`).
    pub target_frame: u64,
    /// Page size of every leaf entry of the run.
    pub page_size: PageSize,
    /// Number of pages (≥ 1).
    pub count: u64,
    /// Flags of the leaf entries.
    pub flags: EntryFlags,
}

impl Mapping {
    /// Last virtual address covered (inclusive, so a run may end at 2^64 − 1).
    pub fn last(&self) -> u64 {
        // Wrapping: the fields are public, and a hand-made run must not panic here.
        let len = self.count.wrapping_mul(x86::page_bytes(self.page_size));
        self.va.0.wrapping_add(len.wrapping_sub(1))
    }

    /// Whether `va` falls inside the run.
    pub fn contains(&self, va: VirtAddr) -> bool {
        self.va.0 <= va.0 && va.0 <= self.last()
    }
}

/// Why a mapping or a build was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PageTableError {
    /// The mode has no page tables ([`PagingMode::None`]).
    #[error("{mode} has no page tables to build")]
    NoPageTables {
        /// The builder's mode.
        mode: PagingMode,
    },
    /// The mode cannot map pages of this size.
    #[error("{mode} paging has no {size} pages")]
    PageSizeNotSupported {
        /// The builder's mode.
        mode: PagingMode,
        /// Requested size.
        size: PageSize,
    },
    /// Virtual address or target frame not aligned to the page size.
    #[error("mapping {va} -> frame {target_frame:#x} is not aligned to {size}")]
    Misaligned {
        /// Requested start address.
        va: VirtAddr,
        /// Requested first target frame.
        target_frame: u64,
        /// Requested size.
        size: PageSize,
    },
    /// Zero pages requested.
    #[error("mapping at {va} has no pages")]
    EmptyMapping {
        /// Requested start address.
        va: VirtAddr,
    },
    /// The range leaves the mode's linear address space (or crosses the canonical hole).
    #[error("{count} {size} pages at {va} do not fit in the {mode} address space")]
    OutOfAddressSpace {
        /// Requested start address.
        va: VirtAddr,
        /// Requested page count.
        count: u64,
        /// Requested size.
        size: PageSize,
        /// The builder's mode.
        mode: PagingMode,
    },
    /// A target or table frame does not fit the entry's frame field.
    #[error("frame {frame:#x} does not fit a {mode} {what} entry")]
    FrameTooLarge {
        /// The frame.
        frame: u64,
        /// "table", or the page size of a leaf.
        what: String,
        /// The builder's mode.
        mode: PagingMode,
    },
    /// A flag the mode (or entry kind) does not have.
    #[error("{what} cannot be set in {mode} {kind} entries")]
    FlagNotAllowed {
        /// The flag.
        what: &'static str,
        /// "leaf" or "table".
        kind: &'static str,
        /// The builder's mode.
        mode: PagingMode,
    },
    /// The new mapping overlaps an earlier one.
    #[error("mapping at {va} overlaps the mapping at {existing}")]
    Overlap {
        /// Requested start address.
        va: VirtAddr,
        /// Start of the mapping already there.
        existing: VirtAddr,
    },
    /// PDPT offset not 32-byte aligned inside the page, or set for a non-PAE mode.
    #[error(
        "PDPT offset {offset:#x} is invalid for {mode} (PAE only, 32-byte aligned, below 0x1000)"
    )]
    BadPdptOffset {
        /// Requested offset.
        offset: u16,
        /// The builder's mode.
        mode: PagingMode,
    },
    /// The allocator handed out the same table frame twice.
    #[error("allocator returned table frame {frame:#x} twice")]
    DuplicateTableFrame {
        /// The frame.
        frame: u64,
    },
}

/// Collects mappings for one paging mode and builds their tables.
#[derive(Clone, Debug)]
pub struct PageTableBuilder {
    mode: PagingMode,
    pdpt_offset: u16,
    table_flags: EntryFlags,
    mappings: BTreeMap<u64, Mapping>,
}

/// Tables produced by [`PageTableBuilder::build`].
#[derive(Clone, Debug)]
pub struct BuiltTables {
    /// Mode the tables are for.
    pub mode: PagingMode,
    /// The top-level table (frame + PDPT offset for PAE).
    pub root: Root,
    /// Every table page, root first, in allocation order.
    pub pages: Vec<(u64, TablePage)>,
}

/// How a CR3 value names the root table, for [`BuiltTables::cr3`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cr3Encoding {
    /// Xen's x86_64 `xen_pfn_to_cr3` of the root frame: a 64-bit PV vCPU.
    XenPv64,
    /// Xen's x86_32 `xen_pfn_to_cr3` (frame folded into 32 bits): a 32-bit PV vCPU.
    XenPv32,
    /// The architectural CR3 of the tables' mode (the root frame being guest-physical):
    /// an HVM/PVH vCPU.
    Architectural,
}

/// The reader's names for the encodings, for callers that speak them. Only the name
/// is taken: the builder encodes on its own.
impl From<Cr3Decode> for Cr3Encoding {
    fn from(d: Cr3Decode) -> Self {
        match d {
            Cr3Decode::Pv64 => Cr3Encoding::XenPv64,
            Cr3Decode::Pv32 => Cr3Encoding::XenPv32,
            Cr3Decode::HvmLong | Cr3Decode::HvmPae | Cr3Decode::HvmTwoLevel => {
                Cr3Encoding::Architectural
            }
        }
    }
}

impl BuiltTables {
    /// CR3 value for the root in the given encoding (`None` if not representable:
    /// an architectural CR3 of a PDPT above 4 GiB, a PV root that is not page aligned,
    /// a 32-bit PV root above 2^32 frames).
    pub fn cr3(&self, encoding: impl Into<Cr3Encoding>) -> Option<u64> {
        let aligned = self.root.offset == 0;
        match encoding.into() {
            Cr3Encoding::XenPv64 => aligned.then(|| x86::xen_cr3_64(self.root.frame)),
            Cr3Encoding::XenPv32 => {
                (aligned && self.root.frame >> 32 == 0).then(|| x86::xen_cr3_32(self.root.frame))
            }
            Cr3Encoding::Architectural => {
                let address = self.root.frame.checked_mul(PAGE_SIZE)? + u64::from(self.root.offset);
                x86::architectural_cr3(self.mode, address)
            }
        }
    }

    /// The table pages keyed by frame, usable as a [`crate::memory::TableSource`].
    pub fn into_map(self) -> HashMap<u64, TablePage> {
        self.pages.into_iter().collect()
    }
}

impl PageTableBuilder {
    /// An empty builder. Non-leaf entries get R/W and U/S ([`EntryFlags::USER_RW`]) so
    /// that the leaf flags decide the access rights unless changed.
    pub fn new(mode: PagingMode) -> Self {
        PageTableBuilder {
            mode,
            pdpt_offset: 0,
            table_flags: EntryFlags::USER_RW,
            mappings: BTreeMap::new(),
        }
    }

    /// The builder's mode.
    pub fn mode(&self) -> PagingMode {
        self.mode
    }

    /// Places the PAE PDPT at `offset` in its page (HVM PAE CR3 may point mid-page).
    pub fn pdpt_offset(mut self, offset: u16) -> Result<Self, PageTableError> {
        let fits = u64::from(offset) + 32 <= PAGE_SIZE;
        if self.mode != PagingMode::Pae || offset % 32 != 0 || !fits {
            return Err(PageTableError::BadPdptOffset {
                offset,
                mode: self.mode,
            });
        }
        self.pdpt_offset = offset;
        Ok(self)
    }

    /// Flags for every non-leaf entry (R/W, U/S, NX, software bits). PAE PDPTEs take
    /// only the software bits: the others are reserved there.
    pub fn table_flags(mut self, flags: EntryFlags) -> Result<Self, PageTableError> {
        let not_allowed = |what| PageTableError::FlagNotAllowed {
            what,
            kind: "table",
            mode: self.mode,
        };
        if flags.pat {
            return Err(not_allowed("PAT"));
        }
        if flags.global {
            return Err(not_allowed("G"));
        }
        self.check_common_flags(&flags, "table")?;
        self.table_flags = flags;
        Ok(self)
    }

    /// Adds `count` pages of `size` from `va`, mapped to frames from `target_frame` on.
    pub fn map(
        &mut self,
        va: VirtAddr,
        target_frame: u64,
        size: PageSize,
        count: u64,
        flags: EntryFlags,
    ) -> Result<&mut Self, PageTableError> {
        let mode = self.mode;
        let levels = x86::levels(mode);
        if levels.is_empty() {
            return Err(PageTableError::NoPageTables { mode });
        }
        if !levels.iter().any(|l| l.leaf == Some(size)) {
            return Err(PageTableError::PageSizeNotSupported { mode, size });
        }
        if va.0 % x86::page_bytes(size) != 0 || target_frame % x86::page_frames(size) != 0 {
            return Err(PageTableError::Misaligned {
                va,
                target_frame,
                size,
            });
        }
        if count == 0 {
            return Err(PageTableError::EmptyMapping { va });
        }
        let out_of_space = PageTableError::OutOfAddressSpace {
            va,
            count,
            size,
            mode,
        };
        let last = count
            .checked_mul(x86::page_bytes(size))
            .and_then(|len| va.0.checked_add(len - 1))
            .ok_or(out_of_space.clone())?;
        // Both ends valid and on the same side of bit 63 ⇒ no canonical hole inside.
        if !x86::is_linear_address(mode, va.0)
            || !x86::is_linear_address(mode, last)
            || (va.0 ^ last) >> 63 != 0
        {
            return Err(out_of_space);
        }
        let last_frame = target_frame + (count - 1) * x86::page_frames(size);
        if last_frame > x86::max_frame(mode, Some(size)) {
            return Err(PageTableError::FrameTooLarge {
                frame: last_frame,
                what: size.to_string(),
                mode,
            });
        }
        self.check_common_flags(&flags, "leaf")?;
        if let Some((_, existing)) = self.mappings.range(..=last).next_back() {
            if existing.last() >= va.0 {
                return Err(PageTableError::Overlap {
                    va,
                    existing: existing.va,
                });
            }
        }
        self.mappings.insert(
            va.0,
            Mapping {
                va,
                target_frame,
                page_size: size,
                count,
                flags,
            },
        );
        Ok(self)
    }

    /// The mappings added so far, by virtual address.
    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        self.mappings.values()
    }

    /// The mapping covering `va`, if any.
    pub fn mapping_at(&self, va: VirtAddr) -> Option<&Mapping> {
        self.mappings
            .range(..=va.0)
            .next_back()
            .map(|(_, m)| m)
            .filter(|m| m.contains(va))
    }

    /// Oracle translation: the 4 KiB target frame holding `va` and the offset in it,
    /// computed from the mapping list (not from the built tables).
    pub fn lookup(&self, va: VirtAddr) -> Option<(u64, u64)> {
        self.mapping_at(va).map(|m| {
            (
                m.target_frame + (va.0 - m.va.0) / PAGE_SIZE,
                va.0 % PAGE_SIZE,
            )
        })
    }

    /// Builds the tables, taking each new table frame from `alloc`.
    pub fn build(&self, alloc: impl FnMut() -> u64) -> Result<BuiltTables, PageTableError> {
        let mode = self.mode;
        if x86::levels(mode).is_empty() {
            return Err(PageTableError::NoPageTables { mode });
        }
        let mut tables = Tables {
            mode,
            alloc,
            pages: Vec::new(),
            slot_of: HashMap::new(),
            seen: HashSet::new(),
            children: HashMap::new(),
        };
        let root = Root {
            frame: tables.new_table()?,
            offset: self.pdpt_offset,
        };
        for m in self.mappings.values() {
            for i in 0..m.count {
                let va = m.va.0 + i * x86::page_bytes(m.page_size);
                let frame = m.target_frame + i * x86::page_frames(m.page_size);
                self.install(&mut tables, root, va, frame, m)?;
            }
        }
        Ok(BuiltTables {
            mode,
            root,
            pages: tables.pages,
        })
    }

    fn install<A: FnMut() -> u64>(
        &self,
        tables: &mut Tables<A>,
        root: Root,
        va: u64,
        frame: u64,
        m: &Mapping,
    ) -> Result<(), PageTableError> {
        let mode = self.mode;
        let mut table = root.frame;
        let mut base = u64::from(root.offset);
        for (depth, level) in x86::levels(mode).iter().enumerate() {
            let at = base + level.index(va) * x86::entry_bytes(mode);
            if level.leaf == Some(m.page_size) {
                let entry = leaf_entry(mode, m.page_size, frame, &m.flags).ok_or_else(|| {
                    PageTableError::FrameTooLarge {
                        frame,
                        what: m.page_size.to_string(),
                        mode,
                    }
                })?;
                tables.write(table, at, entry);
                return Ok(());
            }
            // The builder remembers the tables it linked rather than decoding entries.
            table = match tables.children.get(&(table, at)) {
                Some(&next) => next,
                None => {
                    let next = tables.new_table()?;
                    tables.write(table, at, self.table_entry(depth == 0, next)?);
                    tables.children.insert((table, at), next);
                    next
                }
            };
            base = 0;
        }
        Err(PageTableError::PageSizeNotSupported {
            mode,
            size: m.page_size,
        })
    }

    /// The entry pointing to table `frame`; `root_level` for the entries of the top
    /// table (a PAE PDPTE has only P and ignored bits: R/W, U/S, XD are reserved there).
    fn table_entry(&self, root_level: bool, frame: u64) -> Result<u64, PageTableError> {
        let pointer =
            x86::table_pointer(self.mode, frame).ok_or_else(|| PageTableError::FrameTooLarge {
                frame,
                what: "table".to_owned(),
                mode: self.mode,
            })?;
        Ok(if self.mode == PagingMode::Pae && root_level {
            pointer | self.table_flags.software
        } else {
            pointer | self.table_flags.access_bits()
        })
    }

    fn check_common_flags(
        &self,
        flags: &EntryFlags,
        kind: &'static str,
    ) -> Result<(), PageTableError> {
        let mode = self.mode;
        if flags.no_execute && !x86::has_execute_disable(mode) {
            return Err(PageTableError::FlagNotAllowed {
                what: "NX",
                kind,
                mode,
            });
        }
        if flags.software & !x86::ignored_bits(mode) != 0 {
            return Err(PageTableError::FlagNotAllowed {
                what: "those software bits",
                kind,
                mode,
            });
        }
        Ok(())
    }
}

/// The entry mapping a page of `size` at `frame` with `flags` (`None`: the frame does
/// not fit the entry).
fn leaf_entry(mode: PagingMode, size: PageSize, frame: u64, flags: &EntryFlags) -> Option<u64> {
    let mut entry = x86::page_pointer(mode, size, frame)? | flags.access_bits();
    if flags.pat {
        entry |= x86::pat_bit(size);
    }
    if flags.global {
        entry |= x86::GLOBAL;
    }
    Some(entry)
}

/// Table pages under construction.
struct Tables<A> {
    mode: PagingMode,
    alloc: A,
    pages: Vec<(u64, TablePage)>,
    slot_of: HashMap<u64, usize>,
    seen: HashSet<u64>,
    /// (table frame, entry offset) → the table that entry points to.
    children: HashMap<(u64, u64), u64>,
}

impl<A: FnMut() -> u64> Tables<A> {
    fn new_table(&mut self) -> Result<u64, PageTableError> {
        let frame = (self.alloc)();
        if frame > x86::max_frame(self.mode, None) {
            return Err(PageTableError::FrameTooLarge {
                frame,
                what: "table".to_owned(),
                mode: self.mode,
            });
        }
        if !self.seen.insert(frame) {
            return Err(PageTableError::DuplicateTableFrame { frame });
        }
        self.slot_of.insert(frame, self.pages.len());
        self.pages.push((frame, Box::new([0; PAGE_SIZE as usize])));
        Ok(frame)
    }

    fn page(&mut self, frame: u64) -> Option<&mut TablePage> {
        let slot = *self.slot_of.get(&frame)?;
        self.pages.get_mut(slot).map(|(_, page)| page)
    }

    fn write(&mut self, frame: u64, at: u64, entry: u64) {
        let size = x86::entry_bytes(self.mode) as usize;
        let at = at as usize;
        if let Some(bytes) = self.page(frame).and_then(|p| p.get_mut(at..at + size)) {
            bytes.copy_from_slice(&entry.to_le_bytes()[..size]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(start: u64) -> impl FnMut() -> u64 {
        let mut next = start;
        move || {
            next += 1;
            next - 1
        }
    }

    fn entry_at(page: &[u8], at: usize, size: usize) -> u64 {
        let mut buf = [0u8; 8];
        buf[..size].copy_from_slice(&page[at..at + size]);
        u64::from_le_bytes(buf)
    }

    #[test]
    fn four_level_4k_entry_bytes() {
        let mut b = PageTableBuilder::new(PagingMode::FourLevel);
        let flags = EntryFlags {
            writable: true,
            global: true,
            no_execute: true,
            pat: true,
            software: 1 << 52,
            ..Default::default()
        };
        b.map(
            VirtAddr(0xFFFF_8880_1234_5000),
            0xABCDE,
            PageSize::Size4K,
            1,
            flags,
        )
        .unwrap();
        let t = b.build(counter(0x100)).unwrap();
        let frames: Vec<u64> = t.pages.iter().map(|(f, _)| *f).collect();
        assert_eq!(frames, [0x100, 0x101, 0x102, 0x103]);
        assert_eq!(
            t.root,
            Root {
                frame: 0x100,
                offset: 0
            }
        );
        // PML4[0x111] → 0x101, PDPT[0] → 0x102, PD[0x91] → 0x103 (P | RW | US).
        assert_eq!(entry_at(&t.pages[0].1[..], 0x111 * 8, 8), 0x10_1007);
        assert_eq!(entry_at(&t.pages[1].1[..], 0, 8), 0x10_2007);
        assert_eq!(entry_at(&t.pages[2].1[..], 0x91 * 8, 8), 0x10_3007);
        // PT[0x145]: frame, P, RW, PAT (bit 7), G, bit 52, NX.
        assert_eq!(
            entry_at(&t.pages[3].1[..], 0x145 * 8, 8),
            0x8010_0000_ABCD_E183
        );
        assert_eq!(t.cr3(Cr3Encoding::XenPv64), Some(0x10_0000));
    }

    #[test]
    fn pae_pdpt_at_an_offset_gets_only_present_and_software_bits() {
        let flags = EntryFlags {
            software: 0x200,
            ..EntryFlags::USER_RW
        };
        let mut b = PageTableBuilder::new(PagingMode::Pae)
            .pdpt_offset(0x40)
            .unwrap()
            .table_flags(flags)
            .unwrap();
        b.map(
            VirtAddr(0xC000_0000),
            0x400,
            PageSize::Size2M,
            2,
            EntryFlags {
                pat: true,
                ..Default::default()
            },
        )
        .unwrap();
        let t = b.build(counter(0x20)).unwrap();
        assert_eq!(
            t.root,
            Root {
                frame: 0x20,
                offset: 0x40
            }
        );
        // PDPTE[3] at 0x40 + 3*8 → PD frame 0x21.
        assert_eq!(entry_at(&t.pages[0].1[..], 0x58, 8), 0x2_1201);
        // PD[0], PD[1]: 2 MiB pages at 0x40_0000 and 0x60_0000 with PS and PAT (bit 12).
        assert_eq!(entry_at(&t.pages[1].1[..], 0, 8), 0x40_1081);
        assert_eq!(entry_at(&t.pages[1].1[..], 8, 8), 0x60_1081);
        assert_eq!(t.cr3(Cr3Encoding::Architectural), Some(0x2_0040));
        assert_eq!(
            t.cr3(Cr3Encoding::XenPv32),
            None,
            "PV roots are page aligned"
        );
    }

    #[test]
    fn two_level_4m_page_above_4g_uses_pse36_bits() {
        let mut b = PageTableBuilder::new(PagingMode::TwoLevel { pse: true });
        // PA 0x12_00C0_0000: bits 31:22 = 0x00C0_0000, bits 39:32 = 0x12.
        b.map(
            VirtAddr(0x8000_0000),
            0x12_00C00,
            PageSize::Size4M,
            1,
            EntryFlags::default(),
        )
        .unwrap();
        b.map(
            VirtAddr(0x1000),
            0xFFFFF,
            PageSize::Size4K,
            1,
            EntryFlags::USER_RW,
        )
        .unwrap();
        let t = b.build(counter(5)).unwrap();
        let pd = &t.pages[0].1[..];
        assert_eq!(
            entry_at(pd, 0x200 * 4, 4),
            0x00C0_0000 | (0x12 << 13) | 0x81
        );
        assert_eq!(entry_at(pd, 0, 4), 0x6007);
        assert_eq!(entry_at(&t.pages[1].1[..], 4, 4), 0xFFFF_F007);
        assert_eq!(t.cr3(Cr3Encoding::Architectural), Some(0x5000));
    }

    #[test]
    fn lookup_answers_from_the_mapping_list() {
        let mut b = PageTableBuilder::new(PagingMode::FourLevel);
        b.map(
            VirtAddr(0x20_0000),
            0x800,
            PageSize::Size2M,
            2,
            EntryFlags::default(),
        )
        .unwrap();
        assert_eq!(b.lookup(VirtAddr(0x1F_FFFF)), None);
        assert_eq!(b.lookup(VirtAddr(0x20_0000)), Some((0x800, 0)));
        assert_eq!(b.lookup(VirtAddr(0x5F_FFFF)), Some((0x800 + 0x3FF, 0xFFF)));
        assert_eq!(b.lookup(VirtAddr(0x60_0000)), None);
        // A run that ends at the very top of the address space.
        b.map(
            VirtAddr(0xFFFF_FFFF_FFFF_F000),
            9,
            PageSize::Size4K,
            1,
            EntryFlags::default(),
        )
        .unwrap();
        assert_eq!(b.lookup(VirtAddr(u64::MAX)), Some((9, 0xFFF)));
    }

    #[test]
    fn invalid_mappings_are_refused() {
        let four = PagingMode::FourLevel;
        let mut b = PageTableBuilder::new(four);
        let none = EntryFlags::default();
        b.map(VirtAddr(0x40_0000), 0x400, PageSize::Size2M, 1, none)
            .unwrap();
        let err = |b: &mut PageTableBuilder, va, frame, size, count, flags| {
            b.map(VirtAddr(va), frame, size, count, flags)
                .map(|_| ())
                .unwrap_err()
        };
        assert!(matches!(
            err(&mut b, 0x40_1000, 1, PageSize::Size4K, 1, none),
            PageTableError::Overlap { .. }
        ));
        assert!(matches!(
            err(&mut b, 0x3F_F000, 1, PageSize::Size4K, 2, none),
            PageTableError::Overlap { .. }
        ));
        assert!(matches!(
            err(&mut b, 0x20_1000, 0x200, PageSize::Size2M, 1, none),
            PageTableError::Misaligned { .. }
        ));
        assert!(matches!(
            err(&mut b, 0x80_0000, 0x201, PageSize::Size2M, 1, none),
            PageTableError::Misaligned { .. }
        ));
        assert!(matches!(
            err(&mut b, 0x1000, 1, PageSize::Size4M, 1, none),
            PageTableError::PageSizeNotSupported { .. }
        ));
        assert!(matches!(
            err(&mut b, 0x1000, 1, PageSize::Size4K, 0, none),
            PageTableError::EmptyMapping { .. }
        ));
        // Crossing from the lower canonical half into the hole.
        assert!(matches!(
            err(&mut b, 0x7FFF_FFFF_F000, 1, PageSize::Size4K, 2, none),
            PageTableError::OutOfAddressSpace { .. }
        ));
        assert!(matches!(
            err(&mut b, 0x1000, 1 << 40, PageSize::Size4K, 1, none),
            PageTableError::FrameTooLarge { .. }
        ));
        let sw = EntryFlags {
            software: 1 << 63,
            ..none
        };
        assert!(matches!(
            err(&mut b, 0x1000, 1, PageSize::Size4K, 1, sw),
            PageTableError::FlagNotAllowed { .. }
        ));

        let mut pae = PageTableBuilder::new(PagingMode::Pae);
        assert!(matches!(
            err(&mut pae, 0x0, 0, PageSize::Size1G, 1, none),
            PageTableError::PageSizeNotSupported { .. }
        ));
        assert!(matches!(
            err(&mut pae, 0xFFFF_F000, 1, PageSize::Size4K, 2, none),
            PageTableError::OutOfAddressSpace { .. }
        ));
        let high_sw = EntryFlags {
            software: 1 << 52,
            ..none
        };
        assert!(matches!(
            err(&mut pae, 0, 1, PageSize::Size4K, 1, high_sw),
            PageTableError::FlagNotAllowed { .. }
        ));

        let mut two = PageTableBuilder::new(PagingMode::TwoLevel { pse: false });
        assert!(matches!(
            err(&mut two, 0, 0, PageSize::Size4M, 1, none),
            PageTableError::PageSizeNotSupported { .. }
        ));
        let nx = EntryFlags {
            no_execute: true,
            ..none
        };
        assert!(matches!(
            err(&mut two, 0, 1, PageSize::Size4K, 1, nx),
            PageTableError::FlagNotAllowed { .. }
        ));
        assert!(matches!(
            err(&mut two, 0, 1 << 20, PageSize::Size4K, 1, none),
            PageTableError::FrameTooLarge { .. }
        ));

        let mut flat = PageTableBuilder::new(PagingMode::None);
        assert!(matches!(
            err(&mut flat, 0, 0, PageSize::Size4K, 1, none),
            PageTableError::NoPageTables { .. }
        ));
        assert!(PageTableBuilder::new(four).pdpt_offset(0x20).is_err());
        assert!(PageTableBuilder::new(PagingMode::Pae)
            .pdpt_offset(0x30)
            .is_err());
        assert!(PageTableBuilder::new(PagingMode::Pae)
            .pdpt_offset(0xFE0)
            .is_ok());
        assert!(PageTableBuilder::new(four)
            .table_flags(EntryFlags { pat: true, ..none })
            .is_err());
    }

    #[test]
    fn allocator_mistakes_are_reported() {
        let mut b = PageTableBuilder::new(PagingMode::FourLevel);
        b.map(VirtAddr(0), 1, PageSize::Size4K, 1, EntryFlags::default())
            .unwrap();
        assert_eq!(
            b.build(|| 7).unwrap_err(),
            PageTableError::DuplicateTableFrame { frame: 7 }
        );
        let mut two = PageTableBuilder::new(PagingMode::TwoLevel { pse: false });
        two.map(VirtAddr(0), 1, PageSize::Size4K, 1, EntryFlags::default())
            .unwrap();
        assert!(matches!(
            two.build(|| 1 << 20),
            Err(PageTableError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn tables_are_shared_between_neighbouring_mappings() {
        let mut b = PageTableBuilder::new(PagingMode::FourLevel);
        b.map(
            VirtAddr(0x1000),
            1,
            PageSize::Size4K,
            3,
            EntryFlags::default(),
        )
        .unwrap();
        b.map(
            VirtAddr(0x20_0000),
            0x200,
            PageSize::Size2M,
            1,
            EntryFlags::default(),
        )
        .unwrap();
        b.map(
            VirtAddr(0x4000_0000),
            0x4_0000,
            PageSize::Size1G,
            1,
            EntryFlags::default(),
        )
        .unwrap();
        // PML4, PDPT, PD (shared by the 4K run and the 2M page), one PT.
        assert_eq!(b.build(counter(10)).unwrap().pages.len(), 4);
    }
}
