//! Every kernel task a thread, in process: a stand-in vmlinux (tests/fixtures/linux)
//! and a builder guest with its tasks, opened as the server opens them
//! (`LinuxKernel::open`, `Debuggee::with_linux`). The thread table, the labels, the
//! registers and the address spaces are checked against the builder's description.
//! tests/linux_e2e.rs does the same through the real gdb.

#[path = "support/kernel_fixture.rs"]
mod kernel_fixture;
#[path = "support/linux_guest.rs"]
mod linux_guest;

use kernel_fixture::{Bits, Shapes, Variant};
use linux_guest::{linux_case, LinuxCase};
use xendump_gdbserver::builder::linux::LinuxFacts;
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::{PagingMode, TranslationCache, Via};
use xendump_gdbserver::os::linux::kernel::{KernelOptions, LinuxKernel, TaskSpace};
use xendump_gdbserver::threads::{Debuggee, ThreadId, ThreadRegisters, ThreadSource};

const KASLR: u64 = 0x1e00_0000;

fn open(c: &LinuxCase) -> Debuggee {
    let guest = c.open();
    let kernel = LinuxKernel::open(&guest, &c.info, &KernelOptions::default()).unwrap();
    Debuggee::with_linux(guest, kernel)
}

fn check_threads(c: &LinuxCase, name: &str) {
    let d = open(c);
    let facts = &c.guest.facts;
    let linux = d.linux().unwrap();
    assert_eq!(linux.kaslr_offset, c.kaslr, "{name}");
    assert!(linux.warnings.is_empty(), "{name}: {:?}", linux.warnings);
    let vcpus = d.guest().vcpus().len();
    assert_eq!(vcpus, 3);
    // vCPUs first, numbered as without a vmlinux; then the tasks in walk order.
    let ids: Vec<usize> = d.threads().ids().map(ThreadId::get).collect();
    assert_eq!(
        ids,
        (1..=vcpus + facts.walk_order.len()).collect::<Vec<_>>()
    );
    for slot in 0..vcpus {
        let id = ThreadId::new(slot + 1).unwrap();
        assert_eq!(d.threads().source(id), Some(ThreadSource::Vcpu(slot)));
        assert!(d.label(id).starts_with(&format!("vCPU {slot}, ")), "{name}");
    }
    let mask = match c.width {
        Width::Bits64 => u64::MAX,
        Width::Bits32 => 0xffff_ffff,
    };
    for (i, &k) in facts.walk_order.iter().enumerate() {
        let b = &facts.tasks[k];
        let id = ThreadId::new(vcpus + i + 1).unwrap();
        assert_eq!(d.threads().task_thread(i), Some(id));
        let what = format!("{name}: {id} pid {}", b.desc.pid);
        let t = d.task(id).unwrap();
        assert_eq!(t.address, b.address, "{what}");
        let comm: String = b.desc.comm.chars().take(15).collect();
        assert_eq!(d.name(id), Some(comm.as_str()), "{what}");
        let label = d.label(id);
        match b.current_on {
            Some(cpu) => {
                assert_eq!(
                    label,
                    format!("pid {} {comm} {} on vCPU {cpu}", b.desc.pid, t.state),
                    "{what}"
                );
                // A running task is its vCPU: same registers, same tables.
                match d.registers(id) {
                    Some(ThreadRegisters::Vcpu(v)) => assert_eq!(v.state.slot, cpu, "{what}"),
                    other => panic!("{what}: {other:?}"),
                }
                assert_eq!(d.space(id), d.guest().vcpu_space(cpu), "{what}");
                assert_eq!(d.running_on(id), Some(cpu));
            }
            None => {
                assert_eq!(
                    label,
                    format!("pid {} {comm} {}", b.desc.pid, t.state),
                    "{what}"
                );
                let Some(ThreadRegisters::Saved(r)) = d.registers(id) else {
                    panic!("{what}: not saved registers");
                };
                let f = b.desc.frame;
                let Some(frame) = c.guest.spec.layout.frame.as_ref() else {
                    // i386 before 4.9: eip from thread.ip, ebp and eflags popped.
                    assert_eq!(r.ip, Some(f.ret_addr), "{what}");
                    assert_eq!(r.sp, Some(b.thread_sp + 8), "{what}");
                    assert_eq!((r.bp, r.flags), (Some(f.bp), Some(f.flags)), "{what}");
                    assert_eq!((r.bx, r.si, r.di), (None, None, None), "{what}");
                    continue;
                };
                assert_eq!(r.ip, Some(f.ret_addr), "{what}");
                assert_eq!(r.sp, Some((b.thread_sp + frame.size) & mask), "{what}");
                assert_eq!(r.bp, Some(f.bp), "{what}");
                assert_eq!(r.bx, Some(f.bx), "{what}");
                if c.width == Width::Bits64 {
                    assert_eq!(
                        (r.r12, r.r13, r.r14, r.r15),
                        (Some(f.r12), Some(f.r13), Some(f.r14), Some(f.r15)),
                        "{what}"
                    );
                } else {
                    assert_eq!((r.si, r.di), (Some(f.si), Some(f.di)), "{what}");
                }
                // Its own tables: the process's user page reads as that process's.
                let space = d.space(id).unwrap();
                let mut cache = TranslationCache::new(16);
                let mut buf = [0u8; 8];
                let n = d
                    .guest()
                    .read(&mut cache, Via::Virtual(space), facts.user_va, &mut buf);
                let kind = linux.views[i].space_kind;
                if b.desc.user {
                    assert_eq!(kind, TaskSpace::Own, "{what}");
                    assert_eq!(n, 8, "{what}");
                    assert_eq!(
                        u64::from_le_bytes(buf),
                        LinuxFacts::user_value(b.desc.tgid),
                        "{what}"
                    );
                } else {
                    assert_eq!(kind, TaskSpace::Kernel, "{what}");
                    assert_eq!(n, 0, "{what}: a kernel thread has no user memory");
                }
                // Kernel memory reads through every task's tables.
                let n =
                    d.guest()
                        .read(&mut cache, Via::Virtual(space), c.addrs.init_task, &mut buf);
                assert_eq!(n, 8, "{what}");
            }
        }
    }
}

#[test]
fn every_task_is_a_thread_after_the_vcpus() {
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
            GuestKind::Hvm,
            PagingMode::Pae,
            0x40_0000,
        ),
        (
            Variant::new(Bits::I386, Shapes::Linux61),
            GuestKind::Pv,
            PagingMode::Pae,
            0,
        ),
        (
            Variant::new(Bits::I386, Shapes::Old),
            GuestKind::Hvm,
            PagingMode::TwoLevel { pse: true },
            0,
        ),
    ] {
        let c = linux_case(v, kind, mode, kaslr);
        check_threads(&c, &format!("{v:?} {kind:?} {mode} kaslr {kaslr:#x}"));
    }
}
