//! A Linux guest laid out for a given vmlinux (the tests' stand-in, built from
//! `tests/fixtures/linux`): its struct layout and symbols from the file's DWARF and
//! symbol table, moved by a KASLR offset, a VMCOREINFO note naming the release, the
//! build-id and the offset, the file's code where it runs, and every task switched
//! out on the file's own scheduler path so that debuggers unwind through it.
//!
//! The scheduler path is the fixture's: `__schedule` calls the context switch
//! (`__switch_to_asm`, `__switch_to` before 4.9) and is called by `schedule()`, which
//! `kthread` (entered from `ret_from_fork`) and `do_syscall_64` (entered from
//! `entry_SYSCALL_64`) call. Return addresses are found in the file's code (the byte
//! after each `call rel32`), never assumed.

use object::{Object, ObjectSection, ObjectSymbol};

use crate::dump::GuestKind;
use crate::memory::PagingMode;
use crate::os::linux::debuginfo::{sym, DebugInfo};
use crate::os::linux::tasks::KernelAddresses;

use super::linux::{KernelPlacement, LinuxBuildError, LinuxSpec, TaskDesc};

/// A vmlinux's code: where each function is, and what it calls.
#[derive(Clone, Debug)]
pub struct KernelCode {
    /// Link address of `.text`.
    pub text: u64,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Functions: (name, link address, size).
    pub functions: Vec<(String, u64, u64)>,
}

/// Why a vmlinux's code cannot be used.
fn bad(what: String) -> LinuxBuildError {
    LinuxBuildError::Description(what)
}

impl KernelCode {
    /// Read the ELF file `data`'s `.text` and function symbols.
    pub fn parse(data: &[u8]) -> Result<KernelCode, LinuxBuildError> {
        let obj = object::File::parse(data).map_err(|e| bad(format!("not ELF: {e}")))?;
        let text = obj
            .section_by_name(".text")
            .ok_or_else(|| bad("no .text".into()))?;
        let functions = obj
            .symbols()
            .filter(|s| s.kind() == object::SymbolKind::Text)
            .filter_map(|s| Some((s.name().ok()?.to_string(), s.address(), s.size())))
            .collect();
        Ok(KernelCode {
            text: text.address(),
            bytes: text
                .data()
                .map_err(|e| bad(format!(".text: {e}")))?
                .to_vec(),
            functions,
        })
    }

    /// Link address of function `name`.
    pub fn address(&self, name: &str) -> Result<u64, LinuxBuildError> {
        self.functions
            .iter()
            .find(|f| f.0 == name)
            .map(|f| f.1)
            .ok_or_else(|| bad(format!("no function {name}")))
    }

    /// The return address (link address) of `caller`'s call of `callee`: the byte after
    /// its `call rel32`.
    pub fn return_site(&self, caller: &str, callee: &str) -> Result<u64, LinuxBuildError> {
        let &(_, start, size) = self
            .functions
            .iter()
            .find(|f| f.0 == caller)
            .ok_or_else(|| bad(format!("no function {caller}")))?;
        let target = self.address(callee)?;
        let from = start
            .checked_sub(self.text)
            .ok_or_else(|| bad(format!("{caller} is not in .text")))? as usize;
        // Assembly functions may have no size: look through 64 bytes.
        let end = (from + if size == 0 { 64 } else { size as usize }).min(self.bytes.len());
        (from..end.saturating_sub(4))
            .filter(|&at| self.bytes[at] == 0xe8)
            .map(|at| {
                let operand = [
                    self.bytes[at + 1],
                    self.bytes[at + 2],
                    self.bytes[at + 3],
                    self.bytes[at + 4],
                ];
                let next = self.text + at as u64 + 5;
                (
                    next,
                    next.wrapping_add(i32::from_le_bytes(operand) as i64 as u64),
                )
            })
            .find(|&(_, to)| to == target)
            .map(|(next, _)| next)
            .ok_or_else(|| bad(format!("{caller} does not call {callee}")))
    }

    /// Switch every task of `spec` out on this code's scheduler path, moved by `kaslr`
    /// (see the module doc): kernel threads under `kthread`, user tasks under
    /// `do_syscall_64`. Also puts the code where it ran, so `x/i $pc` reads it.
    pub fn scheduler_path(&self, kaslr: u64, spec: &mut LinuxSpec) -> Result<(), LinuxBuildError> {
        let mask = if spec.layout.pointer_size == 8 {
            u64::MAX
        } else {
            0xffff_ffff
        };
        let at = |link: u64| link.wrapping_add(kaslr) & mask;
        let switch = if self.address(sym::SWITCH_TO_ASM).is_ok() {
            sym::SWITCH_TO_ASM
        } else {
            "__switch_to"
        };
        let ret_addr = at(self.return_site("__schedule", switch)?);
        let schedule = at(self.return_site("schedule", "__schedule")?);
        let kthread = vec![
            schedule,
            at(self.return_site("kthread", "schedule")?),
            at(self.return_site("ret_from_fork", "kthread")?),
        ];
        let syscall = vec![
            schedule,
            at(self.return_site("do_syscall_64", "schedule")?),
            at(self.return_site("entry_SYSCALL_64", "do_syscall_64")?),
        ];
        for t in &mut spec.tasks {
            let calls = if t.user {
                syscall.clone()
            } else {
                kthread.clone()
            };
            *t = t.clone().with_calls(ret_addr, calls);
        }
        spec.image_data.push((at(self.text), self.bytes.clone()));
        Ok(())
    }
}

/// VMCOREINFO as Linux writes it for `info`'s kernel moved by `kaslr`: the release,
/// the build-id, the page size, the offset, and for x86_64 what drgn and crash look
/// for (`SYMBOL(swapper_pg_dir)`, `SYMBOL(_stext)`, `NUMBER(phys_base)`).
pub fn vmcoreinfo_text(info: &DebugInfo, kaslr: u64) -> String {
    let mut text = format!(
        "OSRELEASE={}\nPAGESIZE=4096\n",
        info.release().unwrap_or("unknown")
    );
    if let Some(id) = info.build_id_hex() {
        text.push_str(&format!("BUILD-ID={id}\n"));
    }
    for (key, name) in [
        ("swapper_pg_dir", sym::INIT_TOP_PGT),
        ("swapper_pg_dir", sym::SWAPPER_PG_DIR),
        ("_stext", sym::STEXT),
    ] {
        if text.contains(&format!("SYMBOL({key})")) {
            continue;
        }
        if let Some(s) = info.symbol(name) {
            text.push_str(&format!(
                "SYMBOL({key})={:x}\n",
                info.runtime_address(s, kaslr)
            ));
        }
    }
    text.push_str(&format!("KERNELOFFSET={kaslr:x}\n"));
    text
}

/// A spec for `info`'s kernel moved by `kaslr`, with `tasks` on `cpus` CPUs, its
/// banner and VMCOREINFO (see [`vmcoreinfo_text`]); `None` code: the tasks keep their
/// made-up frames.
pub fn spec_for(
    info: &DebugInfo,
    kind: GuestKind,
    mode: PagingMode,
    kaslr: u64,
    cpus: usize,
    tasks: Vec<TaskDesc>,
    code: Option<&KernelCode>,
) -> Result<LinuxSpec, LinuxBuildError> {
    let layout = info
        .kernel_layout()
        .map_err(|e| bad(format!("layout: {e}")))?;
    let addrs =
        KernelAddresses::from_debuginfo(info, kaslr).map_err(|e| bad(format!("addresses: {e}")))?;
    let at = |n: &str| {
        info.symbol(n)
            .map(|s| info.runtime_address(s, kaslr))
            .ok_or_else(|| bad(format!("no symbol {n}")))
    };
    let placement = KernelPlacement {
        init_task: addrs.init_task,
        per_cpu_offset: addrs
            .per_cpu_offset
            .ok_or_else(|| bad("no __per_cpu_offset".into()))?,
        per_cpu_start: at(sym::PER_CPU_START)?,
        current_task: addrs
            .current_task
            .ok_or_else(|| bad("no current task pointer".into()))?,
        linux_banner: at(sym::LINUX_BANNER)?,
    };
    let mut spec = LinuxSpec::new(kind, mode, layout, placement, cpus, tasks);
    spec.banner = info
        .banner()
        .ok_or_else(|| bad("no linux_banner".into()))?
        .to_string();
    spec.vmcoreinfo = Some(vmcoreinfo_text(info, kaslr));
    spec.kernel_pgd = [sym::INIT_TOP_PGT, sym::SWAPPER_PG_DIR]
        .iter()
        .find_map(|n| info.symbol(n))
        .map(|s| info.runtime_address(s, kaslr));
    if let Some(code) = code {
        code.scheduler_path(kaslr, &mut spec)?;
    }
    Ok(spec)
}
