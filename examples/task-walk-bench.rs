//! Time the Linux task walker on a guest with many tasks, through the real dump reader.
//!
//!   cargo run --release --example task-walk-bench [-- TASKS [RUNS]]    # default 10000 5
//!
//! Builds the builder's made-up x86_64 kernel with TASKS tasks (processes of four
//! threads, sharing the kernel's page tables), writes it as an ELF PV dump in memory,
//! opens it as the server does, then walks the tasks RUNS times through `Guest::read`
//! (a translation cache of the server's size) and reads every sleeping task's saved
//! registers. Prints the median of each.

use std::cell::RefCell;
use std::time::Instant;

use xendump_gdbserver::builder::linux::{synthetic_spec, LinuxGuest, TaskDesc};
use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width, XenDump};
use xendump_gdbserver::memory::{
    AddressSpace, Guest, GuestOptions, TranslationCache, Via, CACHE_SLOTS,
};
use xendump_gdbserver::os::linux::tasks::{
    saved_registers, walk_tasks, KernelAddresses, WalkOptions,
};
use xendump_gdbserver::os::KernelMemory;

struct GuestKernel<'g> {
    guest: &'g Guest,
    space: AddressSpace,
    cache: RefCell<TranslationCache>,
}

impl KernelMemory for GuestKernel<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
        let mut c = self.cache.borrow_mut();
        self.guest
            .read(&mut c, Via::Virtual(&self.space), addr, buf)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let w = Width::Bits64;
    let mut spec = synthetic_spec(GuestKind::Pv, w);
    spec.process_tables = false;
    spec.stack_pages = 1;
    spec.tasks = (0..n as i32)
        .map(|i| {
            let pid = 1000 + i;
            let leader = pid - i % 4;
            if i % 4 == 0 {
                TaskDesc::process(pid, 1, "worker", w)
            } else {
                TaskDesc::thread(pid, leader, 1, "worker-thread", w)
            }
        })
        .collect();
    spec.tasks
        .insert(0, TaskDesc::process(1, 0, "init", w).running_on(1));
    let t0 = Instant::now();
    let g = LinuxGuest::build(spec)?;
    let bytes = g.image.write(&DumpOptions::elf(w))?;
    let guest = Guest::new(XenDump::from_bytes(bytes)?, GuestOptions::default())?;
    println!(
        "built and opened a guest with {} tasks in {:.2} s",
        g.facts.tasks.len(),
        t0.elapsed().as_secs_f64()
    );
    let layout = g.spec.layout.clone();
    let p = g.spec.placement;
    let addrs = KernelAddresses {
        init_task: p.init_task,
        per_cpu_offset: Some(p.per_cpu_offset),
        current_task: Some(p.current_task),
    };
    let opts = WalkOptions::new(&layout, g.spec.cpus);
    let (mut walk_s, mut regs_s) = (Vec::new(), Vec::new());
    let mut listed = 0;
    let mut reads = 0;
    for _ in 0..runs {
        let mem = GuestKernel {
            guest: &guest,
            space: *guest.vcpu_space(0).ok_or("no vCPU 0")?,
            cache: RefCell::new(TranslationCache::new(CACHE_SLOTS)),
        };
        let t = Instant::now();
        let walk = walk_tasks(&mem, &layout, &addrs, &opts);
        walk_s.push(t.elapsed().as_secs_f64());
        assert!(walk.complete, "{:?}", walk.warnings);
        listed = walk.tasks.len();
        reads = walk.reads;
        let t = Instant::now();
        for task in walk.tasks.iter().filter(|t| t.running_on.is_none()) {
            saved_registers(&mem, &layout, &opts, task)?;
        }
        regs_s.push(t.elapsed().as_secs_f64());
    }
    let walk = median(walk_s);
    println!(
        "walk: {listed} tasks, {reads} reads, {:.1} ms ({:.2} µs per task); saved registers of all: {:.1} ms (median of {runs})",
        walk * 1e3,
        walk * 1e6 / listed as f64,
        median(regs_s) * 1e3,
    );
    Ok(())
}
