//! The kernel's view when a vCPU's own is missing: its top-level page table from
//! VMCOREINFO, and a check of a legacy HVM dump's layout against the kernel's own data.
//!
//! Xen 3.0.x stored its own 1:1 table (not in the dump) as the CR3 of an HVM vCPU with
//! paging off; a damaged or crafted dump can name a root that is absent or no table. A
//! debugger on such a vCPU still wants the kernel's addresses, which every vCPU maps
//! alike: this module finds the guest's VMCOREINFO (scanning memory if the kernel image
//! cannot be located), takes `SYMBOL(swapper_pg_dir)` (`init_top_pgt` on x86_64),
//! places it with `NUMBER(phys_base)` (x86_64) or the 32-bit `PAGE_OFFSET` choices,
//! checks that the table maps `init_uts_ns` to a page holding the release the note
//! names, and gives the vCPUs with useless roots that table
//! ([`Guest::use_kernel_root`]).
//!
//! A legacy HVM dump's slot → pfn rule was chosen by the memory layer from page tables
//! alone; the same `init_uts_ns` check tells whether the kernel image is where those
//! tables say under that rule, and picks another candidate rule if it is not.

use crate::addr::{GuestFrame, PAGE_SHIFT, PAGE_SIZE};
use crate::dump::{FrameSpace, LegacyHvmRule};
use crate::memory::plausible::{looks_like_table, root_table};
use crate::memory::{Guest, PagingMode, Root, TranslationCache, Via};

use super::kernel_map::{KernelMap, START_KERNEL_MAP};
use super::vmcoreinfo::{find_vmcoreinfo, ScanDepth, VmcoreInfo};

/// `PAGE_OFFSET` of every 32-bit memory split Linux offers (`CONFIG_VMSPLIT_*`).
const PAGE_OFFSETS_32: [u64; 5] = [
    0xC000_0000,
    0xB000_0000,
    0x8000_0000,
    0x7800_0000,
    0x4000_0000,
];
/// Bytes of `init_uts_ns` searched for the release string (`struct new_utsname` puts
/// `release` 130 bytes in; older kernels have a `kref` before it).
const UTS_SPAN: usize = 256;

/// The kernel's own top-level page table, found and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRoot {
    /// The kernel's paging mode.
    pub mode: PagingMode,
    /// The table, in the guest's table-frame space.
    pub root: Root,
    /// Its guest-physical address.
    pub pa: u64,
    /// Which symbol, where, and what was checked, for people.
    pub how: String,
}

/// What [`apply_kernel_view`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelView {
    /// The kernel table given to vCPUs whose own root is useless.
    pub root: Option<KernelRoot>,
    /// The vCPUs that now read through it.
    pub vcpus: Vec<usize>,
    /// What the kernel's data said of a legacy HVM dump's slot → pfn rule.
    pub layout_check: Option<String>,
}

/// Does `space` (a mode and a root) map `init_uts_ns` to bytes holding `release`?
fn uts_holds_release(
    guest: &Guest,
    mode: PagingMode,
    root: Root,
    info: &VmcoreInfo,
) -> Option<bool> {
    let uts = info.symbol("init_uts_ns")?;
    let release = info.osrelease()?;
    let space = crate::memory::AddressSpace {
        mode,
        root: Some(root),
        user_root: None,
        kpti_kernel_root: None,
        mode_source: "check",
    };
    let mut buf = vec![0u8; UTS_SPAN];
    let mut cache = TranslationCache::new(4);
    let n = guest.read(&mut cache, Via::Virtual(&space), uts, &mut buf);
    let bytes = &buf[..n];
    // `struct new_utsname` starts with `sysname`, "Linux" on every Linux (after a
    // 4-byte `kref` in kernels before 5.11).
    let sysname =
        bytes.starts_with(b"Linux\0") || bytes.get(4..).is_some_and(|b| b.starts_with(b"Linux\0"));
    Some(sysname && memchr::memmem::find(bytes, release.as_bytes()).is_some())
}

/// Is the guest 64-bit by its VMCOREINFO (x86_64 records `phys_base`; its symbols lie
/// above 4 GiB)?
fn is_64bit(info: &VmcoreInfo) -> bool {
    info.phys_base().is_some()
        || ["swapper_pg_dir", "init_top_pgt", "init_uts_ns"]
            .iter()
            .any(|s| info.symbol(s).is_some_and(|v| v > u64::from(u32::MAX)))
}

/// The kernel's paging mode by its VMCOREINFO.
fn kernel_mode(info: &VmcoreInfo) -> PagingMode {
    if is_64bit(info) {
        match info.get("NUMBER(pgtable_l5_enabled)") {
            Some("1") => PagingMode::FiveLevel,
            _ => PagingMode::FourLevel,
        }
    } else if info.get("CONFIG_X86_PAE") == Some("y") {
        PagingMode::Pae
    } else {
        PagingMode::TwoLevel { pse: true }
    }
}

/// Find the kernel's top-level table from `info` and check it maps the kernel image.
pub fn find_kernel_root(guest: &Guest, info: &VmcoreInfo, map: &KernelMap) -> Option<KernelRoot> {
    let (name, va) = ["swapper_pg_dir", "init_top_pgt"]
        .iter()
        .find_map(|n| Some((*n, info.symbol(n)?)))?;
    let mode = kernel_mode(info);
    // Guest-physical address candidates of the symbol.
    let mut candidates: Vec<(u64, String)> = Vec::new();
    if is_64bit(info) {
        if let (Some(pb), true) = (info.phys_base(), va >= START_KERNEL_MAP) {
            let pa = (va - START_KERNEL_MAP).wrapping_add(pb as u64);
            candidates.push((pa, format!("phys_base {pb:#x}")));
        }
        if let Some(dm) = map
            .direct_map
            .filter(|d| va >= d.base && va < START_KERNEL_MAP)
        {
            candidates.push((va - dm.base, format!("the direct map at {:#x}", dm.base)));
        }
    } else {
        let mut offsets: Vec<u64> = map.direct_map.map(|d| d.base).into_iter().collect();
        offsets.extend(PAGE_OFFSETS_32);
        offsets.dedup();
        for po in offsets {
            if va >= po {
                candidates.push((va - po, format!("PAGE_OFFSET {po:#x}")));
            }
        }
    }
    let dump = guest.dump();
    for (pa, placed) in candidates {
        let pfn = GuestFrame(pa >> PAGE_SHIFT);
        let frame = match dump.table_frame_space() {
            FrameSpace::Guest => pfn.0,
            FrameSpace::Machine => dump.pfn_to_mfn(pfn)?.0,
        };
        let offset = match mode {
            PagingMode::Pae => (pa & (PAGE_SIZE - 1) & !31) as u16,
            _ => 0,
        };
        let root = Root { frame, offset };
        let Some(page) = dump.page_of_pfn(pfn).and_then(|i| dump.page(i).ok()) else {
            continue;
        };
        if !root_table(mode, page, offset).is_some_and(|t| looks_like_table(mode, 0, t, u64::MAX)) {
            continue;
        }
        if uts_holds_release(guest, mode, root, info) != Some(true) {
            continue;
        }
        return Some(KernelRoot {
            mode,
            root,
            pa,
            how: format!(
                "the kernel's {name} (VMCOREINFO {va:#x}, phys {pa:#x} by {placed}; it maps init_uts_ns, which holds release {})",
                info.osrelease().unwrap_or("?")
            ),
        });
    }
    None
}

/// Check a legacy HVM dump's slot → pfn rule against the kernel image, trying the
/// other candidates when the kernel is not where the rule's page tables say; returns
/// what was found, for `info`.
fn check_legacy_layout(guest: &mut Guest, info: &VmcoreInfo) -> Option<String> {
    let release = info.osrelease()?.to_string();
    // Through which tables init_uts_ns holds the release: a vCPU's own, or (no vCPU
    // having a usable root) the kernel's top-level table.
    let holds = |g: &Guest| -> Option<String> {
        let own = (0..g.vcpus().len()).find(|&slot| {
            let (Some(space), Some(ri)) = (g.vcpu_space(slot), g.root_info(slot)) else {
                return false;
            };
            ri.problem.is_none()
                && space
                    .root
                    .is_some_and(|r| uts_holds_release(g, space.mode, r, info) == Some(true))
        });
        match own {
            Some(slot) => Some(format!("vCPU {slot}'s page tables")),
            None => find_kernel_root(g, info, &KernelMap::detect(g))
                .map(|k| format!("the kernel's own table at phys {:#x}", k.pa)),
        }
    };
    let current = guest.legacy_layout()?.rule.clone();
    if let Some(through) = holds(guest) {
        return Some(format!(
            "the kernel image is where {through} say: init_uts_ns holds release {release}"
        ));
    }
    let candidates: Vec<LegacyHvmRule> = guest.dump().legacy_hvm_candidates();
    let original = guest.dump().legacy_hvm_rule()?.clone();
    for rule in candidates.into_iter().filter(|r| r.name != current) {
        let name = rule.name.clone();
        guest.set_legacy_hvm_rule(rule);
        if let Some(through) = holds(guest) {
            let why = format!(
                "init_uts_ns (release {release}) is where {through} say only under this rule, not under \"{current}\""
            );
            return Some(format!("switched to \"{name}\": {why}"));
        }
    }
    guest.set_legacy_hvm_rule(original);
    Some(format!(
        "init_uts_ns (release {release}) is not where any vCPU's page tables say, under any rule"
    ))
}

/// After [`Guest::new`]: check a legacy HVM dump's layout against the kernel's own
/// data, and give vCPUs whose root is useless the kernel's top-level table. Looks for
/// VMCOREINFO in the kernel image first, in all memory when a vCPU needs a table.
pub fn apply_kernel_view(guest: &mut Guest) -> KernelView {
    let mut out = KernelView::default();
    let needy: Vec<usize> = (0..guest.vcpus().len())
        .filter(|&s| guest.root_info(s).is_some_and(|r| r.problem.is_some()))
        .collect();
    let legacy = guest.legacy_layout().is_some();
    if needy.is_empty() && !legacy {
        return out;
    }
    let map = KernelMap::detect(guest);
    let layout_doubtful = guest.legacy_layout().is_some_and(|l| !l.fits);
    let info = find_vmcoreinfo(guest, &map, ScanDepth::Quick).or_else(|| {
        (!needy.is_empty() || layout_doubtful)
            .then(|| find_vmcoreinfo(guest, &map, ScanDepth::Full))
            .flatten()
    });
    let Some(info) = info else {
        if legacy {
            guest
                .note_layout_check("not checked: no VMCOREINFO found in the guest's memory".into());
            out.layout_check = guest.legacy_layout().and_then(|l| l.kernel_check.clone());
        }
        return out;
    };
    if legacy {
        let said = check_legacy_layout(guest, &info);
        if let Some(s) = &said {
            guest.note_layout_check(s.clone());
        }
        out.layout_check = said;
    }
    // The layout may have changed: ask again which vCPUs need the kernel's table.
    let needy: Vec<usize> = (0..guest.vcpus().len())
        .filter(|&s| guest.root_info(s).is_some_and(|r| r.problem.is_some()))
        .collect();
    if needy.is_empty() {
        return out;
    }
    let map = KernelMap::detect(guest);
    let Some(kr) = find_kernel_root(guest, &info, &map) else {
        return out;
    };
    for &slot in &needy {
        guest.use_kernel_root(slot, kr.mode, kr.root, kr.how.clone());
    }
    out.vcpus = needy;
    out.root = Some(kr);
    out
}
