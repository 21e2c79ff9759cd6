//! A Linux guest for the thread tests: the stand-in vmlinux (`kernel_fixture`) gives
//! the struct layout and the symbols, the builder lays the described tasks out at
//! those offsets and at the symbols moved by a KASLR offset, with a VMCOREINFO note
//! naming the release, the build-id and the offset, as a real guest has.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSymbol};

use xendump_gdbserver::builder::linux::{
    sample_tasks, KernelPlacement, LinuxGuest, LinuxSpec, TaskDesc,
};
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width, XenDump};
use xendump_gdbserver::memory::{Guest, GuestOptions, PagingMode};
use xendump_gdbserver::os::linux::debuginfo::{sym, DebugInfo};
use xendump_gdbserver::os::linux::tasks::KernelAddresses;

use super::kernel_fixture::{build, build_with, Bits, Fixture, Variant};

/// A guest built on a fixture vmlinux.
pub struct LinuxCase {
    pub fixture: Fixture,
    pub info: DebugInfo,
    pub guest: LinuxGuest,
    pub addrs: KernelAddresses,
    pub width: Width,
    pub kaslr: u64,
}

/// The guest width of a fixture.
pub fn width_of(v: Variant) -> Width {
    match v.bits {
        Bits::X86_64 => Width::Bits64,
        Bits::I386 => Width::Bits32,
    }
}

/// The tasks the thread tests describe: `sample_tasks` plus a task on CPU 2.
pub fn thread_tasks(w: Width) -> Vec<TaskDesc> {
    let mut t = sample_tasks(w);
    t.push(
        TaskDesc::process(200, 1, "parked_user", w)
            .with_state(0x40, 0)
            .on(2),
    );
    t
}

/// VMCOREINFO as Linux writes it for `info`'s kernel moved by `kaslr`.
pub fn vmcoreinfo_text(info: &DebugInfo, kaslr: u64) -> String {
    let mut text = format!(
        "OSRELEASE={}\nPAGESIZE=4096\n",
        info.release().expect("the fixture has a banner")
    );
    if let Some(id) = info.build_id_hex() {
        text.push_str(&format!("BUILD-ID={id}\n"));
    }
    text.push_str(&format!("KERNELOFFSET={kaslr:x}\n"));
    text
}

/// The fixture's code: where each function is, and the return address of each call.
pub struct Code {
    /// Link address of `.text`.
    pub text: u64,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Functions: name → (link address, size).
    pub functions: Vec<(String, u64, u64)>,
}

impl Code {
    /// Read `vmlinux`'s `.text` and function symbols.
    pub fn read(vmlinux: &Path) -> Code {
        let data = std::fs::read(vmlinux).unwrap();
        let obj = object::File::parse(&*data).unwrap();
        let text = obj.section_by_name(".text").unwrap();
        let functions = obj
            .symbols()
            .filter(|s| s.kind() == object::SymbolKind::Text)
            .map(|s| (s.name().unwrap().to_string(), s.address(), s.size()))
            .collect();
        Code {
            text: text.address(),
            bytes: text.data().unwrap().to_vec(),
            functions,
        }
    }

    /// Link address of function `name`.
    pub fn address(&self, name: &str) -> u64 {
        self.functions
            .iter()
            .find(|f| f.0 == name)
            .unwrap_or_else(|| panic!("no function {name} in the fixture"))
            .1
    }

    /// The return address (link address) of `caller`'s call of `callee`: the byte after
    /// its `call rel32` (gcc -O0 calls directly).
    pub fn return_site(&self, caller: &str, callee: &str) -> u64 {
        let (_, start, size) = self
            .functions
            .iter()
            .find(|f| f.0 == caller)
            .unwrap_or_else(|| panic!("no function {caller}"))
            .clone();
        let target = self.address(callee);
        let from = (start - self.text) as usize;
        // Assembly functions have no size: look through 32 bytes.
        let end = from + if size == 0 { 32 } else { size as usize };
        for at in from..end.min(self.bytes.len()).saturating_sub(4) {
            if self.bytes[at] != 0xe8 {
                continue;
            }
            let rel = i32::from_le_bytes(self.bytes[at + 1..at + 5].try_into().unwrap());
            let next = self.text + at as u64 + 5;
            if next.wrapping_add(rel as i64 as u64) == target {
                return next;
            }
        }
        panic!("{caller} does not call {callee}");
    }
}

/// Give every task `Code`'s scheduler path, moved by `kaslr`: switched out in
/// `__schedule`, called from `schedule()`, from `kthread` (kernel threads, started by
/// `ret_from_fork`) or from `do_syscall_64` (user tasks, entered at
/// `entry_SYSCALL_64`). Also puts the code where it ran, so `x/i $pc` reads it.
pub fn scheduler_path(code: &Code, old: bool, kaslr: u64, spec: &mut LinuxSpec) {
    let mask = if spec.layout.pointer_size == 8 {
        u64::MAX
    } else {
        0xffff_ffff
    };
    let at = |link: u64| link.wrapping_add(kaslr) & mask;
    let switch = if old {
        "__switch_to"
    } else {
        "__switch_to_asm"
    };
    let ret_addr = at(code.return_site("__schedule", switch));
    let schedule = at(code.return_site("schedule", "__schedule"));
    let kthread = vec![
        schedule,
        at(code.return_site("kthread", "schedule")),
        at(code.return_site("ret_from_fork", "kthread")),
    ];
    let syscall = vec![
        schedule,
        at(code.return_site("do_syscall_64", "schedule")),
        at(code.return_site("entry_SYSCALL_64", "do_syscall_64")),
    ];
    for t in &mut spec.tasks {
        let calls = if t.user {
            syscall.clone()
        } else {
            kthread.clone()
        };
        *t = t.clone().with_calls(ret_addr, calls);
    }
    spec.image_data.push((at(code.text), code.bytes.clone()));
}

/// Build `fixture`'s kernel with `tasks` on `cpus` CPUs, moved by `kaslr`; `edit`
/// changes the spec before it is laid out.
pub fn linux_case_on(
    fixture: Fixture,
    kind: GuestKind,
    mode: PagingMode,
    kaslr: u64,
    cpus: usize,
    tasks: Vec<TaskDesc>,
    edit: impl FnOnce(&DebugInfo, &mut LinuxSpec),
) -> LinuxCase {
    let info = DebugInfo::open(&fixture.vmlinux).unwrap();
    let layout = info.kernel_layout().unwrap();
    let addrs = KernelAddresses::from_debuginfo(&info, kaslr).unwrap();
    let at = |n: &str| info.runtime_address(info.symbol(n).unwrap(), kaslr);
    let placement = KernelPlacement {
        init_task: addrs.init_task,
        per_cpu_offset: addrs.per_cpu_offset.unwrap(),
        per_cpu_start: at(sym::PER_CPU_START),
        current_task: addrs.current_task.unwrap(),
        linux_banner: at(sym::LINUX_BANNER),
    };
    let width = width_of(fixture.variant);
    let mut spec = LinuxSpec::new(kind, mode, layout, placement, cpus, tasks);
    spec.banner = info.banner().unwrap().to_string();
    spec.vmcoreinfo = Some(vmcoreinfo_text(&info, kaslr));
    edit(&info, &mut spec);
    let guest = LinuxGuest::build(spec).unwrap();
    LinuxCase {
        fixture,
        info,
        guest,
        addrs,
        width,
        kaslr,
    }
}

/// [`linux_case_on`] with a freshly built fixture, [`thread_tasks`] on the fixture's
/// [`scheduler_path`] and 3 CPUs.
pub fn linux_case(v: Variant, kind: GuestKind, mode: PagingMode, kaslr: u64) -> LinuxCase {
    let fixture = build(v);
    let code = Code::read(&fixture.vmlinux);
    let old = v.shapes == super::kernel_fixture::Shapes::Old;
    linux_case_on(
        fixture,
        kind,
        mode,
        kaslr,
        3,
        thread_tasks(width_of(v)),
        |_, spec| scheduler_path(&code, old, kaslr, spec),
    )
}

/// [`linux_case`] on a fixture linked with `extra` C sources.
pub fn linux_case_with(
    v: Variant,
    extra: &[&str],
    kind: GuestKind,
    mode: PagingMode,
    kaslr: u64,
) -> LinuxCase {
    linux_case_on(
        build_with(v, extra, false),
        kind,
        mode,
        kaslr,
        3,
        thread_tasks(width_of(v)),
        |_, _| {},
    )
}

impl LinuxCase {
    /// The dump bytes (ELF format).
    pub fn dump_bytes(&self) -> Vec<u8> {
        self.guest
            .image
            .write(&DumpOptions::elf(self.width))
            .unwrap()
    }

    /// The dump opened as the server opens it.
    pub fn open(&self) -> Guest {
        Guest::new(
            XenDump::from_bytes(self.dump_bytes()).unwrap(),
            GuestOptions::default(),
        )
        .unwrap()
    }

    /// Write the dump into `dir`.
    pub fn write(&self, dir: &tempfile::TempDir, name: &str) -> PathBuf {
        let p = dir.path().join(format!("{name}.core"));
        std::fs::write(&p, self.dump_bytes()).unwrap();
        p
    }
}
