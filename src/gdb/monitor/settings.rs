//! `monitor view` and `monitor cr3`: which addresses this session's memory reads speak;
//! `monitor shared`: which of them read alike in every thread (for gdb's memory cache).

use crate::memory::View;

use super::{frame_both, parse_num, Command, Context};

pub const VIEW: Command = Command {
    name: "view",
    summary: "read virtual, physical or machine addresses",
    aliases: &[],
    args: "[KIND]",
    help: "address space of memory reads: virtual (default),\n\
           physical (guest pfn space) or machine (mfn space)",
    run: view,
};

pub const CR3: Command = Command {
    name: "cr3",
    summary: "read through another page table (another process's)",
    aliases: &[],
    args: "[VALUE|off]",
    help: "read virtual addresses through page tables at VALUE (as\n\
           gdb's $cr3 shows it), e.g. another process's; off:\n\
           back to each thread's own",
    run: cr3,
};

pub const SHARED: Command = Command {
    name: "shared",
    summary: "address ranges every thread reads alike (gdb may cache them)",
    aliases: &[],
    args: "",
    help: "virtual address ranges that read the same in every\n\
           thread (same top-level page-table entries), which\n\
           gdb may cache: the gdbinit marks them `mem ... ro\n\
           cache`, and flushes gdb's cache after every monitor\n\
           command (view and cr3 change what addresses mean)",
    run: shared,
};

fn shared(ctx: &mut Context<'_>, _args: &[&str]) -> String {
    let d = ctx.debuggee;
    let spaces = d.threads().ids().filter_map(|id| d.space(id));
    let ranges = ctx.guest().same_in_every_space(spaces);
    if ranges.is_empty() {
        return "no address range reads alike in every thread".to_string();
    }
    let mut out = String::from("address ranges every thread reads alike (start, end):");
    for (start, end) in ranges {
        out.push_str(&format!("\n  {start:#x} {end:#x}"));
    }
    out
}

/// The view a `monitor view` word names.
pub fn parse_view(word: &str) -> Option<View> {
    match word {
        "virtual" | "v" | "virt" => Some(View::Virtual),
        "physical" | "p" | "phys" | "pseudo-physical" => Some(View::Physical),
        "machine" | "m" | "mach" => Some(View::Machine),
        _ => None,
    }
}

fn view(ctx: &mut Context<'_>, args: &[&str]) -> String {
    match args.first() {
        None => format!("memory reads use {} addresses", ctx.settings.view.name()),
        Some(k) => match parse_view(k) {
            Some(v) => {
                ctx.settings.view = v;
                format!("memory reads now use {} addresses", v.name())
            }
            None => format!("unknown view {k:?}: use virtual, physical or machine"),
        },
    }
}

fn cr3(ctx: &mut Context<'_>, args: &[&str]) -> String {
    match args.first() {
        None => match ctx.settings.cr3 {
            Some(c) => format!("virtual reads use cr3 {c:#x} (monitor cr3 off to undo)"),
            None => "virtual reads use each thread's own page tables".to_string(),
        },
        Some(&("off" | "reset" | "none")) => {
            ctx.settings.cr3 = None;
            "virtual reads use each thread's own page tables again".to_string()
        }
        Some(v) => match parse_num(v) {
            Some(c) => {
                let Some(own) = ctx.debuggee.space(ctx.current) else {
                    return format!("{} has no address space", ctx.current);
                };
                let space = ctx.guest().space_from_cr3(own.mode, c);
                ctx.settings.cr3 = Some(c);
                format!(
                    "virtual reads now use cr3 {c:#x}: {} paging, root {}",
                    space.mode,
                    space
                        .root
                        .map_or("-".to_string(), |r| frame_both(ctx.guest(), r.frame))
                )
            }
            None => format!("not a number: {v}"),
        },
    }
}
