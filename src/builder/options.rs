//! Which writer to imitate: format, era and every knob a reader must cope with.

use crate::addr::GuestFrame;
use crate::dump::{GuestKind, Width};

/// How to write a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpOptions {
    /// Container format and its variant knobs.
    pub format: Layout,
    /// Width of the dom0 toolstack that wrote the dump. Decides native struct sizes
    /// (legacy context size and index width, XEN_VERSION note size, some alignments).
    pub tools: Width,
}

impl Default for DumpOptions {
    /// The current ELF writer on a 64-bit dom0.
    fn default() -> Self {
        DumpOptions::elf(Width::Bits64)
    }
}

impl DumpOptions {
    /// The current (≥ 4.13) ELF writer run by `tools`-bit dom0 tools.
    pub fn elf(tools: Width) -> Self {
        DumpOptions {
            format: Layout::Elf(ElfOptions::default()),
            tools,
        }
    }

    /// The Xen 3.1 ELF writer (p2m table before the pages).
    pub fn elf_3_1(tools: Width) -> Self {
        DumpOptions {
            format: Layout::Elf(ElfOptions::xen_3_1()),
            tools,
        }
    }

    /// The legacy 3.0.x writer with `tools`-native context size and index width.
    pub fn legacy(tools: Width) -> Self {
        DumpOptions {
            format: Layout::Legacy(LegacyOptions::default()),
            tools,
        }
    }
}

/// Container format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// ELF xendump (Xen ≥ 3.1).
    Elf(ElfOptions),
    /// Legacy xendump (Xen 3.0.0 – 3.0.4).
    Legacy(LegacyOptions),
}

/// Variants of the ELF format. `Default` is the current writer.
///
/// `p2m_before_pages` selects the Xen 3.1 writer; the `None` defaults of the other
/// knobs follow the era it selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfOptions {
    /// Xen 3.1 order: `.xen_p2m`/`.xen_pfn` (header and data) before `.xen_pages`.
    pub p2m_before_pages: bool,
    /// Write ELFCLASS32 headers (xen-unstable 2007-02-24 … 2007-03-07, 32-bit tools).
    /// Use with `p2m_before_pages`, as that writer did.
    pub class32: bool,
    /// `e_machine`. `None`: current writers use the guest width for PV and the tools
    /// width for HVM; the 3.1 writer always used the tools width.
    pub e_machine: Option<u16>,
    /// `.xen_prstatus` slot size (`sh_entsize`). `None`: 5168 (`vcpu_guest_context_any_t`)
    /// for current writers, tools-native (5168 / 2800) for the 3.1 writer.
    /// The context is written at the start of its slot, the rest zero.
    pub context_slot: Option<u64>,
    /// Number of invalid (`~0`) entries appended to `.xen_p2m`/`.xen_pfn`, each with a
    /// zero page, as the ≥ 3.2 writer pads when fewer pages were found than `tot_pages`.
    pub invalid_tail: u64,
    /// Write `.xen_shared_info`: PV always (zero page if the image has none), HVM only
    /// if the image has a shared-info page.
    pub shared_info: bool,
    /// Move XEN_VERSION `pagesize` from 1272 to 1268 (64-bit tools only; 32-bit tools
    /// always have it at 1268). `None`: moved iff the PV guest is narrower than the
    /// tools and the writer is not 3.1 (the move came with 3.4).
    pub pagesize_moved: Option<bool>,
    /// FORMAT_VERSION note value; only 1 (0.1) was ever written.
    pub format_version: u64,
}

impl Default for ElfOptions {
    fn default() -> Self {
        ElfOptions {
            p2m_before_pages: false,
            class32: false,
            e_machine: None,
            context_slot: None,
            invalid_tail: 0,
            shared_info: true,
            pagesize_moved: None,
            format_version: 1,
        }
    }
}

impl ElfOptions {
    /// The Xen 3.1 writer.
    pub fn xen_3_1() -> Self {
        ElfOptions {
            p2m_before_pages: true,
            ..ElfOptions::default()
        }
    }

    /// The ELFCLASS32 files of xen-unstable in early 2007 (3.1 section order).
    pub fn class32_2007() -> Self {
        ElfOptions {
            class32: true,
            ..ElfOptions::xen_3_1()
        }
    }
}

/// Variants of the legacy format. `Default` is the 3.0.4 writer with tools-native sizes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegacyOptions {
    /// Index entry width, 4 or 8. `None`: tools width (8-byte entries on 32-bit tools
    /// existed only in xen-unstable 2007-01/02).
    pub index_width: Option<u8>,
    /// Pfns in the order their mfns appear in the index (the hypervisor's page-list
    /// order). Every entry must be populated; need not be a permutation. `None`: ascending.
    pub page_order: Option<Vec<GuestFrame>>,
    /// Context size. `None`: tools-native 5168 / 2800. The context is written at the
    /// start, the rest zero.
    pub context_size: Option<u64>,
    /// `xch_magic`. `None`: 0xF00FEBED for PV, 0xF00FEBEE for HVM (3.0.4); HVM dumps of
    /// 3.0.0–3.0.3 used 0xF00FEBED plus `VGCF_HVM_GUEST` in the contexts.
    pub magic: Option<u32>,
    /// Number of `~0` index entries appended, each with a zero page (crash treats `~0`
    /// as an invalid mfn; no known writer emits them).
    pub invalid_tail: u64,
    /// HVM guests: what the contexts' `ctrlreg[3]` holds. Xen 3.0.x overwrote it with
    /// the machine frame of the vCPU's top-level table (its `guest_table`), and with its
    /// own 1:1 table (not in the dump) while the guest had paging off.
    pub hvm_cr3: LegacyHvmCr3,
    /// HVM guests: set `VGCF_HVM_GUEST` in the contexts' flags. `None`: as Xen did, iff
    /// the magic is 0xF00FEBED (3.0.0–3.0.3; the flag went away with 0xF00FEBEE).
    pub hvm_flag: Option<bool>,
    /// HVM guests, Xen 3.0.4's writer: slot *k* holds the guest page whose pfn equals
    /// index entry *k* (it passed mfns to a mapping call that by then took pfns), or,
    /// when no guest page has that number, whatever the copy buffer held: the page
    /// written 4096 slots earlier, zeros in the first batch.
    pub contents_by_index: bool,
}

/// What a legacy dump stores in an HVM vCPU's `ctrlreg[3]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LegacyHvmCr3 {
    /// As Xen 3.0.x: `xen_pfn_to_cr3(mfn)` of the top-level table the guest's CR3 names
    /// (the in-page offset of a PAE PDPT is lost); with paging off, the machine frame
    /// [`PHYS_TABLE_MFN`] of Xen's own table, which no dump holds.
    #[default]
    MachineOfTopTable,
    /// The vCPU image's value, untouched.
    AsGiven,
}

/// Machine frame the builder gives Xen's 1:1 table (`d->arch.phys_table`), stored as the
/// CR3 of legacy HVM vCPUs with paging off. Above every frame the builders populate.
pub const PHYS_TABLE_MFN: u64 = 0xF_F0F0_0000;

impl LegacyOptions {
    /// Xen 3.0.0–3.0.3: magic 0xF00FEBED for every guest, `VGCF_HVM_GUEST` marking HVM
    /// vCPUs.
    pub fn xen_3_0_3() -> LegacyOptions {
        LegacyOptions {
            magic: Some(crate::dump::XC_CORE_MAGIC),
            ..LegacyOptions::default()
        }
    }

    /// Xen 3.0.4: magic 0xF00FEBEE for HVM guests and slots holding pages by their
    /// index entry (see [`LegacyOptions::contents_by_index`]).
    pub fn xen_3_0_4_by_index() -> LegacyOptions {
        LegacyOptions {
            contents_by_index: true,
            ..LegacyOptions::default()
        }
    }
}

/// Every format × tools-width combination a real writer could have produced for a
/// `kind`/`width` guest on a 64-bit hypervisor (32-bit PV also on a 32-bit one), each
/// with a short name.
///
/// Covered: current ELF (p2m for PV, pfn for HVM) from 64- and 32-bit tools, the 3.1
/// order, and legacy (0xF00FEBED PV / 0xF00FEBEE HVM, and for HVM also the 3.0.3 style
/// 0xF00FEBED + `VGCF_HVM_GUEST`) with the tools-native index width.
/// Not included (use the knobs): ELFCLASS32, 8-byte legacy index on 32-bit tools,
/// invalid tails, odd slot sizes.
pub fn all_variants(kind: GuestKind, width: Width) -> Vec<(String, DumpOptions)> {
    use Width::{Bits32, Bits64};
    let guest = match (kind, width) {
        (GuestKind::Pv, Bits64) => "pv64",
        (GuestKind::Pv, Bits32) => "pv32",
        (GuestKind::Hvm, Bits64) => "hvm64",
        (GuestKind::Hvm, Bits32) => "hvm32",
    };
    let tools_name = |t: Width| match t {
        Bits64 => "tools64",
        Bits32 => "tools32",
    };
    let mut out = Vec::new();
    // Current writer: any dom0 width can dump any guest (≥ 4.0 slot is 5168 everywhere).
    for tools in [Bits64, Bits32] {
        out.push((
            format!("elf-{guest}-{}", tools_name(tools)),
            DumpOptions::elf(tools),
        ));
    }
    // 3.1 writer: tools-native slot, so 32-bit tools only fit x86_32-layout contexts,
    // i.e. 32-bit PV guests (HVM contexts are x86_64 on a 64-bit hypervisor).
    out.push((
        format!("elf31-{guest}-tools64"),
        DumpOptions::elf_3_1(Bits64),
    ));
    if kind == GuestKind::Pv && width == Bits32 {
        out.push((
            format!("elf31-{guest}-tools32"),
            DumpOptions::elf_3_1(Bits32),
        ));
    }
    // Legacy: dom0 width = hypervisor width. 32-bit PV guests only ran on 32-bit Xen
    // then (32-on-64 came with 3.1); 64-bit and HVM guests need a 64-bit Xen.
    let legacy_tools = if kind == GuestKind::Pv && width == Bits32 {
        Bits32
    } else {
        Bits64
    };
    let magic = match kind {
        GuestKind::Pv => "ed",
        GuestKind::Hvm => "ee",
    };
    out.push((
        format!("legacy-{magic}-{guest}-{}", tools_name(legacy_tools)),
        DumpOptions::legacy(legacy_tools),
    ));
    if kind == GuestKind::Hvm {
        // Xen 3.0.3 and before: the PV magic, HVM vCPUs flagged in their contexts.
        out.push((
            format!("legacy-ed-{guest}-{}", tools_name(legacy_tools)),
            DumpOptions {
                format: Layout::Legacy(LegacyOptions::xen_3_0_3()),
                tools: legacy_tools,
            },
        ));
    }
    out
}
