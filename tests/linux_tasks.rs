//! The task walker on builder guests, through the real dump reader: a stand-in vmlinux
//! (tests/fixtures/linux) gives the struct layout and symbols, the builder lays out
//! the described tasks at those offsets and addresses (moved by a KASLR offset), the
//! dump is written and opened like any other, and the walker reads it through
//! `Guest::read`. Expected values come from the description, never from the walker.

#[path = "support/kernel_fixture.rs"]
mod kernel_fixture;

use kernel_fixture::{build, Bits, Shapes, Variant};
use proptest::prelude::*;
use xendump_gdbserver::builder::linux::{
    sample_tasks, synthetic_spec, Damage, KernelPlacement, LinuxFacts, LinuxGuest, LinuxSpec,
    TaskDesc,
};
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width, XenDump};
use xendump_gdbserver::memory::{Guest, GuestOptions, PagingMode, TranslationCache, Via};
use xendump_gdbserver::os::linux::debuginfo::{sym, DebugInfo};
use xendump_gdbserver::os::linux::kernel::GuestKernelMemory;
use xendump_gdbserver::os::linux::tasks::{
    saved_registers, walk_tasks, FrameError, KernelAddresses, SavedRegisters, TaskWalk, WalkOptions,
};
use xendump_gdbserver::os::KernelMemory;

/// Kernel memory through the guest model, as the server reads it: vCPU 0's page
/// tables (the kernel half is the same in all of them).
fn guest_kernel(guest: &Guest) -> GuestKernelMemory<'_> {
    GuestKernelMemory::new(guest, *guest.vcpu_space(0).unwrap(), 256)
}

/// One guest built on a fixture vmlinux.
struct Case {
    info: DebugInfo,
    guest: LinuxGuest,
    addrs: KernelAddresses,
    width: Width,
}

const KASLR: u64 = 0x1e00_0000;

fn width(v: Variant) -> Width {
    match v.bits {
        Bits::X86_64 => Width::Bits64,
        Bits::I386 => Width::Bits32,
    }
}

/// The described tasks: `sample_tasks` plus a few more states and a third CPU.
fn tasks(w: Width) -> Vec<TaskDesc> {
    let mut t = sample_tasks(w);
    t.push(
        TaskDesc::process(200, 1, "parked_user", w)
            .with_state(0x40, 0)
            .on(2),
    );
    t.push(TaskDesc::process(201, 1, "traced", w).with_state(8, 0));
    t.push(TaskDesc::process(202, 1, "dying", w).with_state(0x80, 0x10));
    t.push(TaskDesc::process(203, 1, "a-very-long-command-name", w));
    t
}

fn case(v: Variant, kind: GuestKind, mode: PagingMode, kaslr: u64) -> Case {
    let f = build(v);
    let info = DebugInfo::open(&f.vmlinux).unwrap();
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
    let w = width(v);
    let mut spec = LinuxSpec::new(kind, mode, layout, placement, 3, tasks(w));
    spec.banner = info.banner().unwrap().to_string();
    let guest = LinuxGuest::build(spec).unwrap();
    Case {
        info,
        guest,
        addrs,
        width: w,
    }
}

fn open(g: &LinuxGuest, w: Width) -> Guest {
    let bytes = g.image.write(&DumpOptions::elf(w)).unwrap();
    Guest::new(XenDump::from_bytes(bytes).unwrap(), GuestOptions::default()).unwrap()
}

fn walk(c: &Case, guest: &Guest, opts: &WalkOptions) -> TaskWalk {
    let layout = c.info.kernel_layout().unwrap();
    walk_tasks(&guest_kernel(guest), &layout, &c.addrs, opts)
}

/// The `ps` letter of the states the tests describe (from Linux's task_state_array).
fn letter(state: u32, exit_state: u32) -> char {
    match (state, exit_state) {
        (_, 0x20) => 'Z',
        (_, 0x10) => 'X',
        (0, 0) => 'R',
        (1, 0) => 'S',
        (2, 0) => 'D',
        (4, 0) => 'T',
        (8, 0) => 't',
        (0x40, 0) => 'P',
        (0x402, 0) => 'I',
        other => panic!("no letter for {other:?} in this test"),
    }
}

/// The registers the description put in a sleeping task's frame.
fn expected_registers(
    c: &Case,
    t: &xendump_gdbserver::builder::linux::BuiltTask,
) -> SavedRegisters {
    let l = c.info.kernel_layout().unwrap();
    let r = t.desc.frame;
    match (&l.frame, c.width) {
        (Some(frame), Width::Bits64) => SavedRegisters {
            ip: Some(r.ret_addr),
            sp: Some(t.thread_sp + frame.size),
            bp: Some(r.bp),
            bx: Some(r.bx),
            r12: Some(r.r12),
            r13: Some(r.r13),
            r14: Some(r.r14),
            r15: Some(r.r15),
            ..SavedRegisters::default()
        },
        (Some(frame), Width::Bits32) => SavedRegisters {
            ip: Some(r.ret_addr),
            sp: Some(t.thread_sp + frame.size),
            bp: Some(r.bp),
            bx: Some(r.bx),
            si: Some(r.si),
            di: Some(r.di),
            flags: Some(r.flags),
            ..SavedRegisters::default()
        },
        // i386 before 4.9: eip from thread.ip, ebp and eflags popped from thread.sp.
        (None, _) => SavedRegisters {
            ip: Some(r.ret_addr),
            sp: Some(t.thread_sp + 8),
            bp: Some(r.bp),
            flags: Some(r.flags),
            ..SavedRegisters::default()
        },
    }
}

fn check_walk(c: &Case, guest: &Guest, name: &str) {
    let layout = c.info.kernel_layout().unwrap();
    let opts = WalkOptions::new(&layout, 3);
    let w = walk(c, guest, &opts);
    let facts = &c.guest.facts;
    assert!(w.complete, "{name}: {:?}", w.warnings);
    assert!(w.warnings.is_empty(), "{name}: {:?}", w.warnings);
    let want: Vec<u64> = facts
        .walk_order
        .iter()
        .map(|&i| facts.tasks[i].address)
        .collect();
    let got: Vec<u64> = w.tasks.iter().map(|t| t.address).collect();
    assert_eq!(got, want, "{name}: order");
    // The described tasks, init_task (CPU 0's idle task) and swapper/2: nothing
    // described runs on CPU 2.
    assert_eq!(w.tasks.len(), tasks(c.width).len() + 2, "{name}");
    let mem = guest_kernel(guest);
    for t in &w.tasks {
        let b = facts.task_at(t.address).unwrap();
        let d = &b.desc;
        let what = format!("{name}: pid {}", d.pid);
        assert_eq!((t.pid, t.tgid), (d.pid, d.tgid), "{what}");
        assert_eq!(t.ppid, Some(d.ppid), "{what}");
        let comm: String = d.comm.chars().take(15).collect();
        assert_eq!(t.comm, comm, "{what}");
        assert_eq!(t.state, letter(d.state, d.exit_state), "{what}");
        assert_eq!(t.raw_state, u64::from(d.state), "{what}");
        assert_eq!(t.cpu, Some(d.cpu), "{what}");
        assert_eq!(t.on_cpu, Some(b.current_on.is_some()), "{what}");
        assert_eq!(t.running_on, b.current_on, "{what}");
        assert_eq!(t.kernel_thread, !d.user, "{what}");
        assert_eq!(t.pgd, b.pgd, "{what}");
        assert_eq!(t.pgd.is_some(), d.user, "{what}");
        assert_eq!(t.thread_sp, Some(b.thread_sp), "{what}");
        assert_eq!(t.stack, Some(b.stack), "{what}");
        let regs = saved_registers(&mem, &layout, &opts, t);
        if layout.frame.is_none() && layout.thread_ip.is_none() {
            assert_eq!(regs, Err(FrameError::NoFrameLayout), "{what}");
        } else if b.current_on.is_none() {
            assert_eq!(regs.unwrap(), expected_registers(c, b), "{what}");
        }
    }
    // Running tasks matched to vCPUs: the vCPU's stack pointer is in the task's stack.
    for cpu in 0..3 {
        let t = w
            .running_on(cpu)
            .unwrap_or_else(|| panic!("{name}: CPU {cpu}"));
        assert_eq!(Some(cpu), facts.task_at(t.address).unwrap().current_on);
        let rsp = guest.vcpus()[cpu].gprs.rsp;
        let size = c.guest.spec.stack_pages * 4096;
        assert!(
            (t.stack.unwrap()..t.stack.unwrap() + size).contains(&rsp),
            "{name}: vCPU {cpu} rsp {rsp:#x} outside pid {}'s stack",
            t.pid
        );
    }
    assert_eq!(w.running_on(1).unwrap().pid, 1, "{name}");
    assert_eq!(w.running_on(0).unwrap().comm, "swapper/0", "{name}");
    assert_eq!(w.running_on(2).unwrap().comm, "swapper/2", "{name}");
    // vCPU 1 runs pid 1 on its own tables: its user page reads as that process's.
    let mut cache = TranslationCache::new(16);
    let mut b = [0u8; 8];
    let space = Via::Virtual(guest.vcpu_space(1).unwrap());
    assert_eq!(
        guest.read(&mut cache, space, facts.user_va, &mut b),
        8,
        "{name}"
    );
    assert_eq!(u64::from_le_bytes(b), LinuxFacts::user_value(1), "{name}");
    // The banner is the file's, at the relocated symbol.
    let banner = c.info.banner().unwrap();
    let mut text = vec![0u8; banner.len()];
    let at = c
        .info
        .runtime_address(c.info.symbol(sym::LINUX_BANNER).unwrap(), c.kaslr());
    assert_eq!(mem.read(at, &mut text), text.len());
    assert_eq!(text, banner.as_bytes(), "{name}");
}

impl Case {
    fn kaslr(&self) -> u64 {
        self.addrs.init_task - self.info.symbol(sym::INIT_TASK).unwrap().address
    }
}

#[test]
fn the_walker_returns_exactly_the_described_tasks_in_every_shape() {
    let cases = [
        (
            Variant::new(Bits::X86_64, Shapes::Linux61),
            GuestKind::Pv,
            PagingMode::FourLevel,
            KASLR,
        ),
        (
            Variant::new(Bits::X86_64, Shapes::Linux61),
            GuestKind::Hvm,
            PagingMode::FourLevel,
            0,
        ),
        (
            Variant::new(Bits::X86_64, Shapes::Linux62),
            GuestKind::Hvm,
            PagingMode::FourLevel,
            KASLR,
        ),
        (
            Variant::new(Bits::X86_64, Shapes::Old),
            GuestKind::Hvm,
            PagingMode::FourLevel,
            KASLR,
        ),
        (
            Variant::new(Bits::I386, Shapes::Linux61),
            GuestKind::Hvm,
            PagingMode::Pae,
            0,
        ),
        (
            Variant::new(Bits::I386, Shapes::Linux61),
            GuestKind::Pv,
            PagingMode::Pae,
            0x40_0000,
        ),
        (
            Variant::new(Bits::I386, Shapes::Linux62),
            GuestKind::Hvm,
            PagingMode::Pae,
            0,
        ),
        (
            Variant::new(Bits::I386, Shapes::Old),
            GuestKind::Hvm,
            PagingMode::TwoLevel { pse: true },
            0,
        ),
    ];
    for (v, kind, mode, kaslr) in cases {
        let c = case(v, kind, mode, kaslr);
        let guest = open(&c.guest, c.width);
        check_walk(
            &c,
            &guest,
            &format!("{v:?} {kind:?} {mode} kaslr {kaslr:#x}"),
        );
    }
}

/// A saved image of the same guest walks to the same tasks: a PV image's page tables
/// (the kernel's, every process's) are pfns, each task's `mm->pgd` translates to one.
#[test]
fn the_walker_reads_saved_images_as_dumps() {
    use xendump_gdbserver::builder::StreamOptions;
    for (v, kind, mode, kaslr) in [
        (
            Variant::new(Bits::X86_64, Shapes::Linux61),
            GuestKind::Pv,
            PagingMode::FourLevel,
            KASLR,
        ),
        (
            Variant::new(Bits::X86_64, Shapes::Linux62),
            GuestKind::Hvm,
            PagingMode::FourLevel,
            KASLR,
        ),
        (
            Variant::new(Bits::I386, Shapes::Linux61),
            GuestKind::Pv,
            PagingMode::Pae,
            0x40_0000,
        ),
    ] {
        let c = case(v, kind, mode, kaslr);
        for opts in [
            StreamOptions::xl_save(),
            StreamOptions::checkpointed(2, true),
        ] {
            let bytes = c
                .guest
                .image
                .write_stream(&c.guest.stream_options(&opts))
                .unwrap();
            let guest =
                Guest::new(XenDump::from_bytes(bytes).unwrap(), GuestOptions::default()).unwrap();
            check_walk(
                &c,
                &guest,
                &format!("saved {v:?} {kind:?} {mode} {:?}", opts.passes),
            );
        }
    }
}

/// Walk a damaged copy of the 6.1 x86_64 guest; the walk must end, flagged incomplete.
fn damaged(damage: &[Damage], opts: impl Fn(&mut WalkOptions)) -> (Case, TaskWalk) {
    let mut c = case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Hvm,
        PagingMode::FourLevel,
        KASLR,
    );
    for d in damage {
        c.guest.damage(*d).unwrap();
    }
    let guest = open(&c.guest, c.width);
    let layout = c.info.kernel_layout().unwrap();
    let mut o = WalkOptions::new(&layout, 3);
    opts(&mut o);
    let w = walk(&c, &guest, &o);
    assert!(
        w.tasks.len() <= c.guest.facts.tasks.len(),
        "{:?}",
        w.tasks.len()
    );
    let mut seen = std::collections::HashSet::new();
    assert!(
        w.tasks.iter().all(|t| seen.insert(t.address)),
        "a task listed twice"
    );
    (c, w)
}

fn index(c: &Case, pid: i32) -> usize {
    c.guest
        .facts
        .tasks
        .iter()
        .position(|t| t.desc.pid == pid)
        .unwrap()
}

fn has_warning(w: &TaskWalk, text: &str) -> bool {
    w.warnings.iter().any(|x| x.contains(text))
}

#[test]
fn a_cycle_in_the_task_list_ends_the_walk_with_a_warning() {
    // Indices in facts.tasks: 0 init_task, then the descriptions in order.
    let probe = case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Hvm,
        PagingMode::FourLevel,
        KASLR,
    );
    let (from, to) = (index(&probe, 120), index(&probe, 2));
    let (c, w) = damaged(&[Damage::TasksCycle { from, to }], |_| {});
    assert!(!w.complete);
    assert!(has_warning(&w, "(a cycle)"), "{:?}", w.warnings);
    // Everything up to pid 120 was listed, the tasks after it were not.
    assert!(w.tasks.iter().any(|t| t.pid == 120));
    assert!(!w.tasks.iter().any(|t| t.pid == 121));
    // Still: the per-CPU current tasks.
    assert_eq!(w.running_on(2).unwrap().comm, "swapper/2");
    // A task linked to itself.
    let k = index(&c, 94);
    let (_, w) = damaged(&[Damage::TasksCycle { from: k, to: k }], |_| {});
    assert!(has_warning(&w, "(a cycle)"), "{:?}", w.warnings);
}

#[test]
fn pointers_outside_the_kernel_misaligned_or_unmapped_end_the_list() {
    let probe = case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Hvm,
        PagingMode::FourLevel,
        KASLR,
    );
    let at = index(&probe, 3);
    let unmapped = probe.guest.facts.unmapped_va;
    for (value, text) in [
        (0x0000_7fff_dead_b000u64, "not a kernel address"), // user space
        (0x4141_4141_4141_4141, "not a kernel address"),    // non-canonical
        (0xffff_8880_0000_1003, "not a kernel address"),    // misaligned
        (unmapped, "cannot read"),                          // kernel, not mapped
        (0, "not a kernel address"),
    ] {
        let (_, w) = damaged(&[Damage::TasksNext { at, value }], |_| {});
        assert!(!w.complete, "{value:#x}");
        assert!(has_warning(&w, text), "{value:#x}: {:?}", w.warnings);
        assert!(w.tasks.iter().any(|t| t.pid == 3), "{value:#x}");
        assert!(!w.tasks.iter().any(|t| t.pid == 94), "{value:#x}");
    }
}

#[test]
fn damaged_thread_lists_signals_and_cpus_are_warned_about() {
    let probe = case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Hvm,
        PagingMode::FourLevel,
        KASLR,
    );
    let leader = index(&probe, 94);
    let unmapped = probe.guest.facts.unmapped_va;

    let (_, w) = damaged(&[Damage::ThreadsCycle { leader }], |_| {});
    assert!(
        has_warning(&w, "is listed again (a cycle)"),
        "{:?}",
        w.warnings
    );
    assert!(w.tasks.iter().any(|t| t.pid == 96));
    assert!(
        w.tasks.iter().any(|t| t.pid == 120),
        "the walk goes on after the group"
    );

    let (_, w) = damaged(
        &[Damage::Signal {
            at: leader,
            value: unmapped,
        }],
        |_| {},
    );
    assert!(has_warning(&w, "threads of task"), "{:?}", w.warnings);
    assert!(!w.tasks.iter().any(|t| t.pid == 95));
    assert!(w.tasks.iter().any(|t| t.pid == 120));

    let (_, w) = damaged(
        &[
            Damage::Current {
                cpu: 1,
                value: 0x1234,
            },
            Damage::PerCpuOffset {
                cpu: 2,
                value: 0x7fff_0000_0000_0000,
            },
        ],
        |_| {},
    );
    assert!(
        has_warning(&w, "CPU 1: current task 0x1234"),
        "{:?}",
        w.warnings
    );
    assert!(has_warning(&w, "CPU 2: cannot read"), "{:?}", w.warnings);
    assert!(w.running_on(1).is_none() && w.running_on(2).is_none());
    assert_eq!(w.running_on(0).unwrap().pid, 0);

    // Two CPUs claiming the same task.
    let other = probe.guest.facts.tasks[index(&probe, 94)].address;
    let (_, w) = damaged(
        &[
            Damage::Current {
                cpu: 1,
                value: other,
            },
            Damage::Current {
                cpu: 2,
                value: other,
            },
        ],
        |_| {},
    );
    assert!(
        has_warning(&w, "already current on CPU 1"),
        "{:?}",
        w.warnings
    );
    assert_eq!(w.running_on(1).unwrap().pid, 94);

    // A CPU that never came up keeps the initial &init_task: it runs nothing, quietly.
    let init = probe.addrs.init_task;
    let (_, w) = damaged(
        &[Damage::Current {
            cpu: 2,
            value: init,
        }],
        |_| {},
    );
    assert!(w.complete && w.warnings.is_empty(), "{:?}", w.warnings);
    assert!(w.running_on(2).is_none());
    assert_eq!(w.running_on(0).unwrap().pid, 0);
    // (swapper/2 is then on no list and not current anywhere: not found.)
    assert!(!w.tasks.iter().any(|t| t.comm == "swapper/2"));

    // A process whose mm is unreadable: no pgd, a warning.
    let (_, w) = damaged(
        &[Damage::Mm {
            at: leader,
            value: unmapped,
        }],
        |_| {},
    );
    assert_eq!(w.tasks.iter().find(|t| t.pid == 94).unwrap().pgd, None);
    assert!(has_warning(&w, "cannot read the pgd"), "{:?}", w.warnings);
}

#[test]
fn a_bad_saved_stack_pointer_is_an_error_not_zeroes() {
    let probe = case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Hvm,
        PagingMode::FourLevel,
        KASLR,
    );
    let at = index(&probe, 121);
    let unmapped = probe.guest.facts.unmapped_va;
    for (value, unreadable) in [
        (unmapped, true),
        (0x1000, false),
        (0xffff_c900_0000_0003, false),
    ] {
        let (c, w) = damaged(&[Damage::ThreadSp { at, value }], |_| {});
        let layout = c.info.kernel_layout().unwrap();
        let t = w.tasks.iter().find(|t| t.pid == 121).unwrap();
        let guest = open(&c.guest, c.width);
        let e = saved_registers(
            &guest_kernel(&guest),
            &layout,
            &WalkOptions::new(&layout, 3),
            t,
        )
        .unwrap_err();
        match e {
            FrameError::Unreadable { .. } => assert!(unreadable, "{value:#x}: {e}"),
            FrameError::BadStackPointer { .. } => assert!(!unreadable, "{value:#x}: {e}"),
            other => panic!("{value:#x}: {other}"),
        }
    }
}

#[test]
fn limits_on_tasks_and_reads_stop_the_walk() {
    let (_, w) = damaged(&[], |o| o.limits.max_tasks = 3);
    assert_eq!(w.tasks.len(), 3);
    assert!(
        !w.complete && has_warning(&w, "stopped at 3 tasks"),
        "{:?}",
        w.warnings
    );
    let (_, w) = damaged(&[], |o| o.limits.max_reads = 50);
    assert!(w.reads <= 50);
    assert!(
        !w.complete && has_warning(&w, "stopped after 50 reads"),
        "{:?}",
        w.warnings
    );
    let (_, w) = damaged(&[], |o| o.limits.max_warnings = 0);
    assert!(w.complete && w.warnings.is_empty());
}

/// Kernel memory whose every read takes a while (a dump on a failing disk).
struct Slow<'a>(&'a dyn KernelMemory, std::time::Duration);

impl KernelMemory for Slow<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
        std::thread::sleep(self.1);
        self.0.read(addr, buf)
    }
}

#[test]
fn a_time_limit_stops_a_slow_walk() {
    let c = case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Hvm,
        PagingMode::FourLevel,
        KASLR,
    );
    let guest = open(&c.guest, c.width);
    let layout = c.info.kernel_layout().unwrap();
    let mut opts = WalkOptions::new(&layout, 3);
    // A few hundred reads fit in the budget; the walk needs more.
    opts.limits.max_time = std::time::Duration::from_millis(200);
    let mem = guest_kernel(&guest);
    let slow = Slow(&mem, std::time::Duration::from_millis(1));
    let w = walk_tasks(&slow, &layout, &c.addrs, &opts);
    assert!(!w.complete, "{:?}", w.warnings);
    assert!(has_warning(&w, "(the time limit)"), "{:?}", w.warnings);
    // Unhurried, the same walk completes, with more reads than fit in the budget.
    let all = walk_tasks(&mem, &layout, &c.addrs, &opts);
    assert!(all.complete, "{:?}", all.warnings);
    assert!(
        w.reads <= 232 && all.reads > 232,
        "{} of {} reads",
        w.reads,
        all.reads
    );
}

/// Write `bytes` into the kernel structures of `g`: `target` picks a task (or a CPU's
/// per-CPU area), `offset` a byte in it.
fn corrupt(g: &mut LinuxGuest, target: usize, offset: u64, bytes: &[u8]) {
    let n = g.facts.tasks.len();
    let ts = g.spec.layout.task_struct_size;
    let base = if target % 4 == 3 {
        g.facts.per_cpu_area[target % g.facts.per_cpu_area.len()]
    } else {
        let t = &g.facts.tasks[target % n];
        // The task, its switch frame, or its signal_struct.
        match target % 4 {
            0 => t.address,
            1 => t.thread_sp,
            _ => t.signal,
        }
    };
    let _ = g.write_virt(base + offset % ts, bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random corruption of task memory (pointers, pids, lists, frames, per-CPU areas):
    /// the walk ends, within its limits, and listing registers never panics.
    #[test]
    fn random_corruption_never_panics_or_runs_away(
        wide in any::<bool>(),
        edits in prop::collection::vec(
            (any::<usize>(), any::<u64>(), prop::collection::vec(any::<u8>(), 1..16)),
            1..12,
        ),
    ) {
        let w = if wide { Width::Bits64 } else { Width::Bits32 };
        let mut g = LinuxGuest::build(synthetic_spec(GuestKind::Hvm, w)).unwrap();
        for (target, offset, bytes) in &edits {
            corrupt(&mut g, *target, *offset, bytes);
        }
        let l = g.spec.layout.clone();
        let p = g.spec.placement;
        let addrs = KernelAddresses {
            init_task: p.init_task,
            per_cpu_offset: Some(p.per_cpu_offset),
            current_task: Some(p.current_task),
        };
        let mut opts = WalkOptions::new(&l, g.spec.cpus);
        opts.limits.max_tasks = 64;
        opts.limits.max_reads = 4096;
        let walk = walk_tasks(&g, &l, &addrs, &opts);
        prop_assert!(walk.tasks.len() <= 64);
        prop_assert!(walk.reads <= 4096);
        let mut seen = std::collections::HashSet::new();
        prop_assert!(walk.tasks.iter().all(|t| seen.insert(t.address)));
        for t in &walk.tasks {
            let _ = saved_registers(&g, &l, &opts, t);
        }
    }
}

#[test]
fn random_corruption_through_the_real_dump_reader_never_panics() {
    // Fewer cases: each writes and opens a dump.
    let base = case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Pv,
        PagingMode::FourLevel,
        KASLR,
    );
    let layout = base.info.kernel_layout().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..24 {
        let mut g = base.guest.clone();
        for _ in 0..(next() % 8 + 1) {
            let bytes = next().to_le_bytes();
            let len = (next() % 8 + 1) as usize;
            corrupt(&mut g, next() as usize, next(), &bytes[..len]);
        }
        let guest = open(&g, base.width);
        let mut opts = WalkOptions::new(&layout, 3);
        opts.limits.max_tasks = 100;
        let w = walk_tasks(&guest_kernel(&guest), &layout, &base.addrs, &opts);
        assert!(w.tasks.len() <= 100);
        for t in &w.tasks {
            let _ = saved_registers(&guest_kernel(&guest), &layout, &opts, t);
        }
    }
}
