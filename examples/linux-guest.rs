//! Write a dump of a Linux guest with many tasks, laid out for a given vmlinux (the
//! stand-in of tests/fixtures/linux; `bench/linux-threads.sh` builds it):
//!
//!   cargo run --release --example linux-guest -- VMLINUX OUT.core [TASKS [KASLR [pv|hvm]]]
//!
//! TASKS (default 10000) tasks on 4 CPUs: a quarter kernel threads, the rest user
//! processes of four threads each, every one switched out on the vmlinux's scheduler
//! path (so gdb and drgn unwind `__schedule`, `schedule`, `kthread` /
//! `do_syscall_64` and the entry point); KASLR (default 0x1e000000) moves the kernel;
//! HVM by default (drgn reads an HVM guest's converted vmcore through its page tables).

use std::error::Error;

use xendump_gdbserver::builder::linux::{LinuxGuest, TaskDesc};
use xendump_gdbserver::builder::vmlinux::{spec_for, KernelCode};
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::PagingMode;
use xendump_gdbserver::os::linux::debuginfo::DebugInfo;

fn parse_num(s: &str) -> Result<u64, Box<dyn Error>> {
    Ok(match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16)?,
        None => s.parse()?,
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [vmlinux, out, rest @ ..] = args.as_slice() else {
        return Err("usage: linux-guest VMLINUX OUT.core [TASKS [KASLR [pv|hvm]]]".into());
    };
    let n = rest.first().map_or(Ok(10_000), |a| parse_num(a))? as i32;
    let kaslr = rest.get(1).map_or(Ok(0x1e00_0000), |a| parse_num(a))?;
    let kind = match rest.get(2).map(String::as_str) {
        Some("pv") => GuestKind::Pv,
        _ => GuestKind::Hvm,
    };
    let info = DebugInfo::open(vmlinux)?;
    let code = KernelCode::parse(&std::fs::read(vmlinux)?)?;
    let w = Width::Bits64;
    let mut tasks = vec![
        TaskDesc::process(1, 0, "init", w).running_on(1),
        TaskDesc::kthread(2, "kthreadd", w),
    ];
    let mut pid = 3;
    while tasks.len() < n as usize {
        if pid % 4 == 0 {
            tasks.push(TaskDesc::kthread(pid, &format!("kworker/{pid}"), w));
            pid += 1;
        } else {
            let leader = pid;
            for k in 0..4 {
                tasks.push(TaskDesc::thread(pid, leader, 1, &format!("worker{k}"), w));
                pid += 1;
            }
        }
    }
    // Leaders come first in their group, so a group cut short keeps its leader.
    tasks.truncate(n.max(2) as usize);
    let mut spec = spec_for(
        &info,
        kind,
        PagingMode::FourLevel,
        kaslr,
        4,
        tasks,
        Some(&code),
    )?;
    spec.process_tables = false;
    spec.stack_pages = 1;
    let g = LinuxGuest::build(spec)?;
    g.image.write_file(out, &DumpOptions::elf(w))?;
    eprintln!(
        "linux-guest: wrote {out}: {} tasks, 4 vCPUs, KASLR offset {kaslr:#x}",
        g.facts.tasks.len()
    );
    Ok(())
}
