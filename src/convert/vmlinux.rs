//! What the guest kernel's `vmlinux` adds to the conversion of a PV guest: every task's
//! page tables (`mm->pgd`, from the task walker), the exact `xen_start_info` pointer,
//! the kernel's own top-level table, and for a legacy PV dump the guest's p2m list
//! (`xen_p2m_addr`/`xen_p2m_size`, or XenLinux's `phys_to_machine_mapping`/`max_pfn`).

use std::collections::HashSet;

use crate::dump::{GuestKind, Width};
use crate::memory::Guest;
use crate::os::linux::debuginfo::{sym, DebugInfo};
use crate::os::linux::kernel::GuestKernelMemory;
use crate::os::linux::tasks::{walk_tasks, KernelAddresses, WalkOptions};
use crate::os::linux::{find_vmcoreinfo, KernelMap, P2mList, ScanDepth};
use crate::os::KernelMemory;

use super::error::ConvertError;
use super::legacy::{recover_pfns, PfnRecovery};
use super::plan::ConvertOptions;

/// What was taken from the vmlinux.
#[derive(Clone, Debug, Default)]
pub struct VmlinuxReport {
    /// The KASLR offset the symbols were moved by (VMCOREINFO `KERNELOFFSET`).
    pub kaslr_offset: u64,
    /// Tasks listed by the walker.
    pub tasks: usize,
    /// Distinct `mm->pgd` tables added as roots.
    pub pgds: usize,
    /// The legacy PV dump's pfns, if they were recovered through its symbols.
    pub recovery: Option<PfnRecovery>,
    /// What could not be used, and why.
    pub warnings: Vec<String>,
}

/// Kernel virtual memory through the tables of an online kernel-mode vCPU, if any has
/// some.
fn kernel_reader(guest: &Guest) -> Option<GuestKernelMemory<'_>> {
    let mut slots: Vec<usize> = (0..guest.vcpus().len()).collect();
    slots.sort_by_key(|&s| {
        let v = &guest.vcpus()[s];
        (!v.online(), !v.kernel_mode(), s)
    });
    let space = slots
        .into_iter()
        .filter_map(|s| guest.vcpu_space(s))
        .find(|sp| sp.root.is_some())?;
    Some(GuestKernelMemory::new(guest, *space, 256))
}

/// The guest-width word at `va`.
fn word(mem: &dyn KernelMemory, va: u64, width: Width) -> Option<u64> {
    let mut b = [0u8; 8];
    let n = match width {
        Width::Bits64 => 8,
        Width::Bits32 => 4,
    };
    (mem.read(va, &mut b[..n]) == n).then(|| u64::from_le_bytes(b))
}

/// Use `info` (the dumped kernel's vmlinux) for a PV guest: recover a legacy dump's pfns
/// from the kernel's p2m list unless `opts` names one, check the file against the
/// dump's VMCOREINFO, and add every task's page tables and the `xen_start_info` pointer
/// to `opts`. HVM guests need none of it.
pub fn apply_vmlinux(
    guest: &mut Guest,
    info: &DebugInfo,
    p2m_list: Option<P2mList>,
    opts: &mut ConvertOptions,
) -> Result<VmlinuxReport, ConvertError> {
    let mut report = VmlinuxReport::default();
    if guest.dump().guest_kind() != GuestKind::Pv {
        return Ok(report);
    }
    let width = guest.guest_width();
    if !guest.dump().knows_pfns() && p2m_list.is_none() {
        // Legacy PV: XenLinux and Linux of that era had no KASLR.
        let list = kernel_reader(guest).and_then(|k| {
            let at = |name| info.symbol(name).map(|s| info.runtime_address(s, 0));
            let pair = |list, count| Some((at(list)?, at(count)?));
            let (list, count) = pair("xen_p2m_addr", "xen_p2m_size")
                .or_else(|| pair("phys_to_machine_mapping", "max_pfn"))
                .or_else(|| pair("phys_to_machine_mapping", "end_pfn"))?;
            Some(P2mList {
                va: word(&k, list, width)?,
                entries: word(&k, count, width)?,
            })
        });
        match list {
            Some(list) => report.recovery = Some(recover_pfns(guest, list)?),
            None => report.warnings.push(
                "the vmlinux names no readable p2m list (xen_p2m_addr and xen_p2m_size, or phys_to_machine_mapping and max_pfn)".into(),
            ),
        }
    }
    if !guest.dump().knows_pfns() {
        return Ok(report);
    }
    let map = KernelMap::detect(guest);
    let vmcoreinfo = find_vmcoreinfo(guest, &map, ScanDepth::Quick);
    if let Some(v) = &vmcoreinfo {
        info.check_matches(v.osrelease(), v.get("BUILD-ID"))
            .map_err(ConvertError::Vmlinux)?;
        report.kaslr_offset = v.kernel_offset().unwrap_or(0);
    } else {
        report.warnings.push(
            "no VMCOREINFO in the kernel image: the vmlinux's symbols are taken as linked (no KASLR offset), unchecked against the dump".into(),
        );
    }
    let kaslr = report.kaslr_offset;
    let at = |name: &str| info.symbol(name).map(|s| info.runtime_address(s, kaslr));
    opts.xen_start_info_va = at("xen_start_info");
    // The kernel's own table, where VMCOREINFO does not name it.
    if vmcoreinfo
        .as_ref()
        .and_then(|v| v.symbol(sym::SWAPPER_PG_DIR))
        .is_none()
    {
        if let Some(va) = at(sym::INIT_TOP_PGT).or_else(|| at(sym::SWAPPER_PG_DIR)) {
            opts.extra_pgds.push(("vmlinux swapper_pg_dir".into(), va));
        }
    }
    let Some(reader) = kernel_reader(guest) else {
        report
            .warnings
            .push("no vCPU has page tables to read the kernel's tasks through".into());
        return Ok(report);
    };
    let layout = match info.kernel_layout() {
        Ok(l) => l,
        Err(e) => {
            report
                .warnings
                .push(format!("tasks' page tables not added: {e}"));
            return Ok(report);
        }
    };
    let addrs = match KernelAddresses::from_debuginfo(info, kaslr) {
        Ok(a) => a,
        Err(e) => {
            report
                .warnings
                .push(format!("tasks' page tables not added: {e}"));
            return Ok(report);
        }
    };
    let walk = walk_tasks(
        &reader,
        &layout,
        &addrs,
        &WalkOptions::new(&layout, guest.vcpus().len()),
    );
    report.tasks = walk.tasks.len();
    report
        .warnings
        .extend(walk.warnings.iter().map(|w| format!("task walk: {w}")));
    let mut seen = HashSet::new();
    for t in &walk.tasks {
        if let Some(pgd) = t.pgd.filter(|&p| p != 0 && seen.insert(p)) {
            opts.extra_pgds
                .push((format!("task {} ({}) mm->pgd", t.pid, t.comm), pgd));
        }
    }
    report.pgds = seen.len();
    Ok(report)
}
