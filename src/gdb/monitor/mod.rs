//! `monitor` commands (gdb's `qRcmd`): a table of commands, each with its name, aliases,
//! usage and handler. The table is the only list: `monitor help` and the command line's
//! `--help` are generated from it. Answers are plain text, never fatal to the session.

mod frames;
mod info;
mod linux;
pub mod qemu;
mod settings;
mod vcpu;

use std::fmt::Write as _;

use gdbstub::target::ext::monitor_cmd::{outputln, ConsoleOutput, MonitorCmd};

use crate::addr::{GuestFrame, MachineFrame};
use crate::kinds::FrameSpace;
use crate::memory::{AddressSpace, Guest};
use crate::threads::{Debuggee, ThreadId};

use super::arch::XenArch;
use super::target::{DumpTarget, ReadSettings};

/// What a command sees: the model, this session's settings, and gdb's current thread.
pub struct Context<'a> {
    /// The guest and its threads.
    pub debuggee: &'a Debuggee,
    /// This session's read settings (`view`, `cr3` change them).
    pub settings: &'a mut ReadSettings,
    /// gdb's general thread.
    pub current: ThreadId,
}

impl Context<'_> {
    fn guest(&self) -> &Guest {
        self.debuggee.guest()
    }

    /// The address space virtual reads go through: the current thread's, or the one
    /// `monitor cr3` chose.
    fn read_space(&self) -> Option<AddressSpace> {
        let own = self.debuggee.space(self.current)?;
        Some(match self.settings.cr3 {
            Some(cr3) => self.guest().space_from_cr3(own.mode, cr3),
            None => *own,
        })
    }
}

/// One monitor command.
pub struct Command {
    /// What the user types.
    pub name: &'static str,
    /// Other spellings accepted.
    pub aliases: &'static [&'static str],
    /// Arguments, as shown in help (`ADDR [VCPU]`).
    pub args: &'static str,
    /// What it does, in one short line (the command line's `--help`).
    pub summary: &'static str,
    /// What it does, in full (`monitor help`).
    pub help: &'static str,
    /// The handler: the words after the command name in, text out.
    pub run: fn(&mut Context<'_>, &[&str]) -> String,
}

/// Every monitor command, in help order.
pub const COMMANDS: &[Command] = &[
    Command {
        name: "help",
        summary: "list the commands",
        aliases: &["?"],
        args: "",
        help: "this text",
        run: |_, _| help_text(),
    },
    info::INFO,
    info::VMCOREINFO,
    vcpu::VCPU,
    frames::TRANSLATE,
    frames::P2M,
    frames::M2P,
    settings::VIEW,
    settings::CR3,
    settings::SHARED,
    qemu::XP,
    qemu::GVA2GPA,
    qemu::HALT,
    qemu::RESET,
    linux::PS,
    linux::KASLR,
];

/// Find a command by name or alias.
pub fn find(word: &str) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.name == word || c.aliases.contains(&word))
}

/// The help text, generated from [`COMMANDS`]: one entry per command, aliases named.
pub fn help_text() -> String {
    let mut out = String::from("xendump-gdbserver monitor commands:\n");
    let usage = |c: &Command| {
        if c.args.is_empty() {
            format!("monitor {}", c.name)
        } else {
            format!("monitor {} {}", c.name, c.args)
        }
    };
    let width = COMMANDS.iter().map(|c| usage(c).len()).max().unwrap_or(0) + 2;
    for c in COMMANDS {
        let mut lines = c.help.lines();
        let _ = writeln!(
            out,
            "  {:<width$}{}",
            usage(c),
            lines.next().unwrap_or_default()
        );
        for l in lines {
            let _ = writeln!(out, "  {:<width$}{}", "", l.trim_start());
        }
        if !c.aliases.is_empty() {
            let _ = writeln!(out, "  {:<width$}(also: {})", "", c.aliases.join(", "));
        }
    }
    out.push_str("Numbers: 0x-prefixed hex, or decimal.");
    out
}

/// Run one monitor command line and return its text.
pub fn run_command(ctx: &mut Context<'_>, line: &str) -> String {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    // QEMU also takes a format glued to the command: `xp/8xg ADDR`.
    if let Some((w, i)) = words.first().and_then(|w| Some((*w, w.find('/')?))) {
        if i > 0 {
            words.splice(0..1, [&w[..i], &w[i..]]);
        }
    }
    let name = words.first().copied().unwrap_or("help");
    // A bare `monitor` has no words at all: help, with no arguments.
    let args = words.get(1..).unwrap_or_default();
    match find(name) {
        Some(c) => (c.run)(ctx, args),
        None => format!("unknown command {name:?}\n{}", help_text()),
    }
}

/// Parse a number the way gdb users write them.
pub(crate) fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(&h.replace('_', ""), 16).ok()
    } else {
        s.replace('_', "").parse().ok()
    }
}

/// Describe a table-space frame in both pfn and mfn terms.
fn frame_both(guest: &Guest, frame: u64) -> String {
    let d = guest.dump();
    match d.table_frame_space() {
        FrameSpace::Machine => match d.mfn_to_pfn(MachineFrame(frame)) {
            Some(p) => format!("mfn {frame:#x} = pfn {:#x}", p.0),
            None => format!("mfn {frame:#x} (pfn unknown)"),
        },
        FrameSpace::Guest => match d.pfn_to_mfn(GuestFrame(frame)) {
            Some(m) => format!("pfn {frame:#x} = mfn {:#x}", m.0),
            None => format!("pfn {frame:#x}"),
        },
    }
}

impl<A: XenArch> MonitorCmd for DumpTarget<A> {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), Self::Error> {
        let line = String::from_utf8_lossy(cmd);
        let mut ctx = Context {
            debuggee: &self.debuggee,
            settings: &mut self.settings,
            current: self.selected,
        };
        let text = run_command(&mut ctx, &line);
        outputln!(out, "{}", text.trim_end());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_command_and_alias() {
        let help = help_text();
        for c in COMMANDS {
            assert!(help.contains(&format!("monitor {}", c.name)), "{}", c.name);
            for a in c.aliases {
                assert!(help.contains(a), "alias {a} of {}", c.name);
            }
        }
    }

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            for w in std::iter::once(&c.name).chain(c.aliases) {
                assert!(seen.insert(*w), "{w} twice");
            }
        }
    }

    #[test]
    fn an_empty_command_line_is_help() {
        let guest = crate::harness::session_guests()[0].clone();
        let mut settings = ReadSettings::default();
        for line in ["", "   ", "\t"] {
            let mut ctx = Context {
                debuggee: &guest,
                settings: &mut settings,
                current: ThreadId::new(1).unwrap(),
            };
            assert_eq!(run_command(&mut ctx, line), help_text(), "{line:?}");
        }
    }

    #[test]
    fn numbers_in_hex_and_decimal() {
        assert_eq!(parse_num("0x1_000"), Some(0x1000));
        assert_eq!(parse_num("4096"), Some(4096));
        assert_eq!(parse_num("zebra"), None);
    }
}
