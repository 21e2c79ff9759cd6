//! Guests for the fidelity tests of legacy HVM dumps and of the kernel's own view.
//!
//! A [`Scenario`] gets what a reader checks a dump against, as Linux lays it out: an
//! `init_uts_ns` holding the release in the kernel image, and a VMCOREINFO note naming
//! that release, `init_uts_ns` and the kernel's top-level table (`swapper_pg_dir`; for
//! x86_64 also `phys_base`). And the changes real Xen 3.0.x guests made to their page
//! list: pages taken out (ballooned, given to `add_to_physmap`), machine frames that
//! happen to be guest frame numbers (what the 3.0.4 writer's by-index defect needs to
//! serve anything). Everything is computed from the scenario's description, never read
//! back from a dump.

use crate::addr::{GuestFrame, MachineFrame, PhysAddr, PAGE_SIZE};
use crate::dump::GuestKind;
use crate::memory::PagingMode;

use super::image::{FrameRun, GuestImage};
use super::scenario::{Scenario, ScenarioError};
use super::BuildError;

/// The release the kernel identity names.
pub const RELEASE: &str = "6.1.0-xendump-fidelity";
/// Offset of `init_uts_ns` in the kernel-text large page.
const UTS_OFFSET: u64 = 0x2_0000;
/// `__START_KERNEL_map` of x86_64 Linux.
const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// `PAGE_OFFSET` of 32-bit Linux with the usual 3G/1G split.
const PAGE_OFFSET_32: u64 = 0xc000_0000;

/// Where [`add_kernel_identity`] put things.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelIdentity {
    /// Virtual address of `init_uts_ns`.
    pub uts_va: u64,
    /// Its guest-physical address.
    pub uts_pa: u64,
    /// `SYMBOL(swapper_pg_dir)` as the note gives it.
    pub swapper_va: u64,
    /// Guest-physical address of the kernel's top-level table (vCPU 0's root).
    pub swapper_pa: u64,
    /// The VMCOREINFO text.
    pub vmcoreinfo: String,
}

/// Give `s` a kernel identity: `init_uts_ns` in its image ("Linux", node name, release)
/// and a VMCOREINFO note, where Linux ≥ 4.13 keeps it, whose `SYMBOL(swapper_pg_dir)`
/// names the kernel's top-level table (the scenario's vCPU 0 root).
pub fn add_kernel_identity(s: &mut Scenario) -> Result<KernelIdentity, ScenarioError> {
    add_kernel_identity_at(s, None)
}

/// As [`add_kernel_identity`], with the note at guest-physical `note_pa` and no pointer
/// to it in the kernel image (only a search of all memory finds it); `None`: where
/// [`add_kernel_identity`] puts it.
pub fn add_kernel_identity_at(
    s: &mut Scenario,
    note_pa: Option<u64>,
) -> Result<KernelIdentity, ScenarioError> {
    let f = s.facts.clone();
    let uts_va = f.text_va + UTS_OFFSET;
    let uts_pa = f.text_pa + UTS_OFFSET;
    // struct new_utsname: sysname, nodename, release, version, machine, domainname,
    // 65 bytes each.
    let mut uts = vec![0u8; 6 * 65];
    for (i, field) in ["Linux", "fidelity", RELEASE, "#1 SMP", "x86_64", "(none)"]
        .iter()
        .enumerate()
    {
        uts[i * 65..i * 65 + field.len()].copy_from_slice(field.as_bytes());
    }
    s.image.write_phys(PhysAddr(uts_pa), &uts)?;
    let root = f.roots[0];
    let root_pfn = match s.image.kind {
        GuestKind::Hvm => GuestFrame(root.frame),
        GuestKind::Pv => {
            s.image
                .mfn_to_pfn(MachineFrame(root.frame))
                .ok_or(BuildError::NotPopulated {
                    pfn: GuestFrame(root.frame),
                    addr: PhysAddr(root.frame * PAGE_SIZE),
                    len: 0,
                })?
        }
    };
    let swapper_pa = root_pfn.0 * PAGE_SIZE + u64::from(root.offset);
    let (text, swapper_va) = if s.mode.is_32bit() {
        let va = PAGE_OFFSET_32 + swapper_pa;
        let mut t = format!(
            "OSRELEASE={RELEASE}\nPAGESIZE=4096\nSYMBOL(init_uts_ns)={uts_va:x}\nSYMBOL(swapper_pg_dir)={va:x}\n"
        );
        if s.mode == PagingMode::Pae {
            t.push_str("CONFIG_X86_PAE=y\n");
        }
        (t, va)
    } else {
        let phys_base = f.text_pa.wrapping_sub(f.text_va - START_KERNEL_MAP) as i64;
        let va = START_KERNEL_MAP
            .wrapping_add(swapper_pa)
            .wrapping_sub(phys_base as u64);
        let t = format!(
            "OSRELEASE={RELEASE}\nPAGESIZE=4096\nSYMBOL(init_uts_ns)={uts_va:x}\n\
             SYMBOL(_stext)={:x}\nSYMBOL(swapper_pg_dir)={va:x}\nNUMBER(phys_base)={phys_base}\n\
             SYMBOL(init_top_pgt)={va:x}\nNUMBER(pgtable_l5_enabled)={}\nKERNELOFFSET=0\n",
            f.text_va,
            u8::from(s.mode == PagingMode::FiveLevel),
        );
        (t, va)
    };
    match note_pa {
        None => s.add_vmcoreinfo(&text)?,
        Some(pa) => s.add_vmcoreinfo_at(pa, &text, false)?,
    };
    Ok(KernelIdentity {
        uts_va,
        uts_pa,
        swapper_va,
        swapper_pa,
        vmcoreinfo: text,
    })
}

/// Take guest frames `pfn .. pfn + count` out of `img`, as a balloon driver or
/// `add_to_physmap` did: their machine frames leave the page list, so a legacy dump's
/// later slots shift down by `count`. The frames must be populated and hold nothing.
pub fn remove_pages(img: &mut GuestImage, pfn: u64, count: u64) -> Result<(), BuildError> {
    let end = pfn + count;
    let mut runs = Vec::new();
    for r in &img.frames {
        if r.pfn_end() <= pfn || r.pfn.0 >= end {
            runs.push(*r);
            continue;
        }
        if r.pfn.0 < pfn {
            runs.push(FrameRun {
                count: pfn - r.pfn.0,
                ..*r
            });
        }
        if r.pfn_end() > end {
            let skip = end - r.pfn.0;
            runs.push(FrameRun {
                pfn: GuestFrame(end),
                mfn: MachineFrame(r.mfn.0 + skip),
                count: r.count - skip,
            });
        }
    }
    for p in pfn..end {
        if img.pfn_to_mfn(GuestFrame(p)).is_none() || img.contents.contains_key(&GuestFrame(p)) {
            return Err(BuildError::NotPopulated {
                pfn: GuestFrame(p),
                addr: PhysAddr(p * PAGE_SIZE),
                len: 0,
            });
        }
    }
    img.frames = runs;
    Ok(())
}

/// Give `img`'s frames the machine frames `pfn + delta`, wrapping within `[0, limit)`:
/// numbers that are mostly guest frames too, so that a 3.0.4 by-index dump (slot *k*
/// holds the page whose pfn equals index entry *k*) has something to serve. Runs are
/// split where the numbers wrap.
pub fn rotate_mfns(img: &mut GuestImage, delta: u64, limit: u64) {
    let mut runs = Vec::new();
    for r in &img.frames {
        let mut p = r.pfn.0;
        while p < r.pfn_end() {
            let m = (p + delta) % limit;
            let count = (r.pfn_end() - p).min(limit - m);
            runs.push(FrameRun {
                pfn: GuestFrame(p),
                mfn: MachineFrame(m),
                count,
            });
            p += count;
        }
    }
    img.frames = runs;
}
