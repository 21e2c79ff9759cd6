//! `monitor translate`, `monitor p2m`, `monitor m2p`: where an address or a frame lives,
//! in every numbering the dump knows.

use std::fmt::Write as _;

use crate::addr::{GuestFrame, MachineFrame, VirtAddr};
use crate::threads::ThreadSource;

use super::{frame_both, parse_num, Command, Context};

pub const TRANSLATE: Command = Command {
    name: "translate",
    summary: "walk the page tables for a virtual address",
    aliases: &["t"],
    args: "ADDR [N]",
    help: "walk the page tables for virtual ADDR (current thread or\n\
           vCPU N), showing each level with frames in pfn and mfn terms",
    run: translate,
};

pub const P2M: Command = Command {
    name: "p2m",
    summary: "where guest frame PFN is (mfn, dump page)",
    aliases: &[],
    args: "PFN",
    help: "which machine frame and dump page hold guest frame PFN",
    run: p2m,
};

pub const M2P: Command = Command {
    name: "m2p",
    summary: "where machine frame MFN is (pfn, dump page)",
    aliases: &[],
    args: "MFN",
    help: "which guest frame and dump page hold machine frame MFN",
    run: m2p,
};

fn translate(ctx: &mut Context<'_>, args: &[&str]) -> String {
    let guest = ctx.guest();
    let Some(addr) = args.first().and_then(|a| parse_num(a)) else {
        return "usage: monitor translate ADDR [VCPU]".into();
    };
    // vCPU N, or the current thread's vCPU, or a task's own tables.
    let slot = match args.get(1) {
        Some(n) => match parse_num(n).and_then(|n| usize::try_from(n).ok()) {
            Some(slot) => slot,
            None => return format!("not a vCPU number: {n}"),
        },
        None => match ctx.debuggee.threads().source(ctx.current) {
            Some(ThreadSource::Vcpu(slot)) => slot,
            Some(ThreadSource::Task(_)) => {
                let Some(space) = ctx.debuggee.space(ctx.current) else {
                    return format!("{} has no address space", ctx.current);
                };
                let head = format!(
                    "{} ({}): {} paging, {}, root {}\n",
                    ctx.current,
                    ctx.debuggee.label(ctx.current),
                    space.mode,
                    space.mode_source,
                    space
                        .root
                        .map_or("-".to_string(), |r| frame_both(guest, r.frame))
                );
                return head + &walk_text(guest, space, addr);
            }
            None => return format!("no {}", ctx.current),
        },
    };
    let (Some(space), Some(v)) = (guest.vcpu_space(slot), guest.vcpus().get(slot)) else {
        return format!("no vCPU {slot}");
    };
    let mut out = String::new();
    let cr3 = match guest.guest_cr3(slot) {
        Some(c) if c == v.cr3() => format!("{c:#x}"),
        Some(c) => format!("{c:#x} (stored {:#x})", v.cr3()),
        None => format!("unknown (stored {:#x})", v.cr3()),
    };
    let _ = writeln!(
        out,
        "vCPU {slot}: {} paging, cr3 {cr3}, root {}",
        space.mode,
        space
            .root
            .map_or("-".to_string(), |r| frame_both(guest, r.frame))
    );
    out + &walk_text(guest, space, addr)
}

/// The page-table walk for `addr` through `space`, level by level.
fn walk_text(
    guest: &crate::memory::Guest,
    space: &crate::memory::AddressSpace,
    addr: u64,
) -> String {
    let mut out = String::new();
    match guest.translate(space, VirtAddr(addr)) {
        Ok(tr) => {
            for st in tr.steps() {
                let _ = writeln!(
                    out,
                    "  {:<5} [{:>3}] in {} -> entry {:#018x}",
                    st.level_name(),
                    st.index,
                    frame_both(guest, st.table_frame),
                    st.entry
                );
            }
            let _ = writeln!(
                out,
                "  {:#x} -> {} + {:#x} ({} page{})",
                addr,
                frame_both(guest, tr.frame),
                tr.offset,
                tr.page_size,
                if tr.rights.writable {
                    ", writable"
                } else {
                    ", read-only"
                }
            );
            let d = guest.dump();
            let idx = d.page_of_frame(d.table_frame_space(), tr.frame);
            match idx {
                Some(i) => {
                    let _ = write!(out, "  in the dump: {}", d.describe_page(i, tr.offset));
                }
                None => out.push_str("  not in the dump: reads of this address fail"),
            }
        }
        Err(e) => {
            let _ = write!(out, "  {e}");
        }
    }
    out
}

fn p2m(ctx: &mut Context<'_>, args: &[&str]) -> String {
    let Some(pfn) = args.first().and_then(|a| parse_num(a)) else {
        return "usage: monitor p2m PFN".into();
    };
    let d = ctx.guest().dump();
    if !d.knows_pfns() {
        return "this legacy PV dump has no p2m: pfns cannot be resolved".into();
    }
    match d.page_of_pfn(GuestFrame(pfn)) {
        Some(i) => {
            let m = d.mfn_of(i).map_or(
                if d.saved_image().is_some() {
                    "mfn unknown (a saved image names pages by pfn only)".to_string()
                } else {
                    "mfn unknown (HVM dump)".to_string()
                },
                |m| format!("mfn {:#x}", m.0),
            );
            format!("pfn {pfn:#x} -> {m}, {}", d.describe_page(i, 0))
        }
        None => format!("pfn {pfn:#x} is not in the dump"),
    }
}

fn m2p(ctx: &mut Context<'_>, args: &[&str]) -> String {
    let Some(mfn) = args.first().and_then(|a| parse_num(a)) else {
        return "usage: monitor m2p MFN".into();
    };
    let d = ctx.guest().dump();
    if !d.knows_mfns() {
        return if d.saved_image().is_some() {
            "this saved image records no machine frames (its pages and page tables are named by pfn)".into()
        } else {
            "this HVM dump records no machine frames".into()
        };
    }
    match d.page_of_mfn(MachineFrame(mfn)) {
        Some(i) => {
            let p = d
                .pfn_of(i)
                .map_or("pfn unknown (legacy PV dump)".to_string(), |p| {
                    format!("pfn {:#x}", p.0)
                });
            format!("mfn {mfn:#x} -> {p}, {}", d.describe_page(i, 0))
        }
        None => format!("mfn {mfn:#x} is not in the dump"),
    }
}
