//! A Linux guest for the thread tests: the stand-in vmlinux (`kernel_fixture`) gives
//! the struct layout, the symbols and the code; the builder lays the described tasks
//! out at those offsets, at the symbols moved by a KASLR offset, each switched out on
//! the fixture's scheduler path, with a VMCOREINFO note naming the release, the
//! build-id and the offset, as a real guest has (`builder::vmlinux`).
#![allow(dead_code)]

use std::path::PathBuf;

use xendump_gdbserver::builder::linux::{sample_tasks, LinuxGuest, LinuxSpec, TaskDesc};
use xendump_gdbserver::builder::vmlinux::{spec_for, KernelCode};
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width, XenDump};
use xendump_gdbserver::memory::{Guest, GuestOptions, PagingMode};
use xendump_gdbserver::os::linux::debuginfo::DebugInfo;
use xendump_gdbserver::os::linux::tasks::KernelAddresses;

use super::kernel_fixture::{build, Bits, Fixture, Variant};

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

/// The code of `fixture`'s vmlinux.
pub fn code_of(fixture: &Fixture) -> KernelCode {
    KernelCode::parse(&std::fs::read(&fixture.vmlinux).unwrap()).unwrap()
}

/// Build `fixture`'s kernel with `tasks` on `cpus` CPUs, moved by `kaslr`, on the
/// fixture's scheduler path; `edit` changes the spec before it is laid out.
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
    let addrs = KernelAddresses::from_debuginfo(&info, kaslr).unwrap();
    let code = code_of(&fixture);
    let mut spec = spec_for(&info, kind, mode, kaslr, cpus, tasks, Some(&code)).unwrap();
    edit(&info, &mut spec);
    let guest = LinuxGuest::build(spec).unwrap();
    LinuxCase {
        width: width_of(fixture.variant),
        fixture,
        info,
        guest,
        addrs,
        kaslr,
    }
}

/// [`linux_case_on`] with a freshly built fixture, [`thread_tasks`] and 3 CPUs.
pub fn linux_case(v: Variant, kind: GuestKind, mode: PagingMode, kaslr: u64) -> LinuxCase {
    let w = width_of(v);
    linux_case_on(build(v), kind, mode, kaslr, 3, thread_tasks(w), |_, _| {})
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
