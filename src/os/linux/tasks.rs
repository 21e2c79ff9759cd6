//! Every Linux task in guest memory: the task walker, and the registers a sleeping
//! task's last context switch saved.
//!
//! Speaks kernel virtual addresses, through [`KernelMemory`], with the struct layout
//! of [`KernelLayout`] and the runtime (KASLR-relocated) symbol addresses of
//! [`KernelAddresses`].
//!
//! **Which tasks, in which order.** `init_task` first, then the other threads of its
//! thread group; then each thread-group leader on `init_task.tasks` in list order,
//! each followed by the other threads of its group in thread-list order
//! (`signal->thread_head`, or `thread_group` on kernels without it); last, tasks that
//! are some CPU's current task but on no list (the idle tasks of CPUs other than 0,
//! which Linux never links: `copy_process` lists only tasks with a pid), by CPU. This
//! is the kernel's own order (`for_each_process_thread`, then the idle tasks), so it is
//! stable for a given dump.
//!
//! **Which CPU runs which task.** x86's per-CPU `current_task` (up to 6.1) or
//! `pcpu_hot.current_task` (6.2+), read at `__per_cpu_offset[cpu]` + the variable's
//! address. A task that is current on a CPU runs there; its own saved context is
//! stale, the vCPU's registers are the task's. A CPU other than 0 whose current task
//! is `init_task` never came up (that is the variable's static initial value): it
//! runs nothing.
//!
//! **Saved registers.** A sleeping task's `thread.sp` points at the `struct
//! inactive_task_frame` that `__switch_to_asm` pushed (Linux 4.9+): x86_64 r15 r14 r13
//! r12 rbx rbp and the return address into `__schedule`; i386 (e)flags esi edi ebx ebp
//! and the return address. The task resumes at `ret_addr` with its stack pointer just
//! above the frame, which is how drgn and crash seed their unwinders too. Registers the
//! frame does not hold are unavailable (`None`), never zero.
//!
//! **Untrusted memory.** Every pointer is checked (kernel half, alignment) before it is
//! followed; a visited set ends cycles; [`WalkLimits`] caps the tasks listed and the
//! reads made, so a damaged or crafted dump ends the walk with warnings, never with a
//! hang, a panic or an allocation sized by guest data.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::debuginfo::{sym, DebugInfo, DebugInfoError};
use super::layout::{CpuField, Field, KernelLayout, ThreadList};
use crate::os::KernelMemory;

/// `PF_KTHREAD`: the task is a kernel thread (the same bit since Linux 2.6.27).
pub const PF_KTHREAD: u64 = 0x0020_0000;

/// Task state bits of Linux ≥ 4.14 (`include/linux/sched.h`) used to pick the letter.
mod state {
    pub const TASK_UNINTERRUPTIBLE: u64 = 0x0002;
    /// `TASK_RUNNING | … | EXIT_ZOMBIE | TASK_PARKED`.
    pub const TASK_REPORT: u64 = 0x007f;
    pub const TASK_NOLOAD: u64 = 0x0400;
    pub const TASK_IDLE: u64 = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;
    pub const TASK_RTLOCK_WAIT: u64 = 0x1000;
    pub const TASK_FROZEN: u64 = 0x8000;
    /// `TASK_REPORT + 1`: reported as `I`.
    pub const TASK_REPORT_IDLE: u64 = 0x0080;
    /// Letters by `fls()` of the reported state, as `ps` and `/proc/PID/stat` show them.
    pub const LETTERS: &[u8; 9] = b"RSDTtXZPI";
}

/// The `ps` letter for a task's `__state` (or `state`) and `exit_state`, computed as
/// Linux ≥ 4.14 does (`__task_state_index`): R running, S sleeping, D uninterruptible,
/// T stopped, t traced, X dead, Z zombie, P parked, I idle.
pub fn state_letter(raw_state: u64, exit_state: u64) -> char {
    use state::*;
    let mut s = (raw_state | exit_state) & TASK_REPORT;
    if raw_state & TASK_IDLE == TASK_IDLE {
        s = TASK_REPORT_IDLE;
    }
    if raw_state & (TASK_RTLOCK_WAIT | TASK_FROZEN) != 0 {
        s = TASK_UNINTERRUPTIBLE;
    }
    // fls(): 1-based index of the highest set bit, 0 for none.
    let index = (u64::BITS - s.leading_zeros()) as usize;
    char::from(LETTERS[index.min(LETTERS.len() - 1)])
}

/// Runtime addresses the walker starts from (already relocated by KASLR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelAddresses {
    /// `&init_task`.
    pub init_task: u64,
    /// `&__per_cpu_offset[0]` (SMP kernels).
    pub per_cpu_offset: Option<u64>,
    /// The per-CPU pointer to the running task, as an address to which CPU *n*'s
    /// `__per_cpu_offset[n]` is added: `&current_task`, or `&pcpu_hot.current_task`.
    /// Without `per_cpu_offset` (a uniprocessor kernel) it is read as is, for CPU 0.
    pub current_task: Option<u64>,
}

impl KernelAddresses {
    /// The addresses in `info`'s kernel, moved by `kaslr_offset` (VMCOREINFO
    /// `KERNELOFFSET`; 0 without KASLR).
    pub fn from_debuginfo(
        info: &DebugInfo,
        kaslr_offset: u64,
    ) -> Result<KernelAddresses, DebugInfoError> {
        let at = |name: &str| {
            info.symbol(name)
                .map(|s| info.runtime_address(s, kaslr_offset))
        };
        let init_task = info.runtime_address(info.require_symbol(sym::INIT_TASK)?, kaslr_offset);
        let current_task = at(sym::CURRENT_TASK).or_else(|| {
            let base = at(sym::PCPU_HOT)?;
            let member = info.struct_layout("pcpu_hot")?.member("current_task")?;
            Some(base.wrapping_add(member.offset))
        });
        Ok(KernelAddresses {
            init_task,
            per_cpu_offset: at(sym::PER_CPU_OFFSET),
            current_task,
        })
    }
}

/// Bounds on one walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WalkLimits {
    /// Tasks listed at most (Linux's own `PID_MAX_LIMIT` is 4 Mi; 1 Mi tasks is far
    /// beyond any real guest and still bounds the memory a walk takes).
    pub max_tasks: usize,
    /// Guest-memory reads made at most (a task costs about twenty).
    pub max_reads: u64,
    /// Warnings kept (later ones are counted in a last line).
    pub max_warnings: usize,
    /// CPUs whose current task is looked up at most.
    pub max_cpus: usize,
    /// Wall time a walk may take at most (a dump on a slow or failing disk).
    pub max_time: Duration,
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits {
            max_tasks: 1 << 20,
            max_reads: 32 << 20,
            max_warnings: 64,
            max_cpus: 8192,
            max_time: Duration::from_secs(20),
        }
    }
}

/// How to walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WalkOptions {
    /// CPUs to look up the current task of (the dump's vCPU count).
    pub cpus: usize,
    /// Lowest address a kernel pointer may hold: the start of the kernel half.
    pub kernel_start: u64,
    /// Bounds.
    pub limits: WalkLimits,
}

impl WalkOptions {
    /// Defaults for a kernel of `layout`'s width with `cpus` CPUs: pointers must be at
    /// or above 0xff00_0000_0000_0000 on x86_64 (the kernel half with 5-level paging
    /// too), 0x4000_0000 on i386 (the lowest `PAGE_OFFSET`, `VMSPLIT_1G`).
    pub fn new(layout: &KernelLayout, cpus: usize) -> WalkOptions {
        WalkOptions {
            cpus,
            kernel_start: if layout.pointer_size == 8 {
                0xff00_0000_0000_0000
            } else {
                0x4000_0000
            },
            limits: WalkLimits::default(),
        }
    }
}

/// How the walker came to a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TaskOrigin {
    /// `init_task` itself, or the `tasks` list of thread-group leaders.
    TaskList,
    /// A thread of a group.
    ThreadList,
    /// Only as a CPU's current task (an idle task of a CPU other than 0).
    CurrentOnCpu,
}

/// One kernel task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelTask {
    /// Address of its `task_struct`.
    pub address: u64,
    /// `pid` (the thread id).
    pub pid: i32,
    /// `tgid` (the process id).
    pub tgid: i32,
    /// `real_parent->tgid`.
    pub ppid: Option<i32>,
    /// `comm`, up to its NUL (invalid UTF-8 replaced).
    pub comm: String,
    /// The `ps` letter ([`state_letter`]).
    pub state: char,
    /// `__state` (or `state`) as read.
    pub raw_state: u64,
    /// `exit_state` as read (0 where the kernel has none).
    pub exit_state: u64,
    /// The CPU it last ran on (`task_cpu()`).
    pub cpu: Option<u32>,
    /// `on_cpu`.
    pub on_cpu: Option<bool>,
    /// `PF_KTHREAD` set (or, without `flags`, no `mm`).
    pub kernel_thread: bool,
    /// The CPU whose current task it is, if any.
    pub running_on: Option<usize>,
    /// `thread.sp`: where its switch frame is (stale while it runs).
    pub thread_sp: Option<u64>,
    /// `mm` (0: none).
    pub mm: Option<u64>,
    /// `active_mm`.
    pub active_mm: Option<u64>,
    /// `mm->pgd`, the virtual address of its top page table; `None` for kernel threads
    /// (they run on the kernel's table).
    pub pgd: Option<u64>,
    /// `stack`: the bottom of its kernel stack.
    pub stack: Option<u64>,
    /// How it was found.
    pub origin: TaskOrigin,
}

/// The result of a walk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TaskWalk {
    /// Tasks in the order of the module doc.
    pub tasks: Vec<KernelTask>,
    /// What could not be followed, and why.
    pub warnings: Vec<String>,
    /// Did every list end where it began, within the limits?
    pub complete: bool,
    /// Guest-memory reads made.
    pub reads: u64,
}

impl TaskWalk {
    /// The task current on `cpu`, if known.
    pub fn running_on(&self, cpu: usize) -> Option<&KernelTask> {
        self.tasks.iter().find(|t| t.running_on == Some(cpu))
    }
    /// The task whose `task_struct` is at `address`.
    pub fn by_address(&self, address: u64) -> Option<&KernelTask> {
        self.tasks.iter().find(|t| t.address == address)
    }
}

/// List every task (see the module doc for the order and the bounds).
pub fn walk_tasks(
    mem: &dyn KernelMemory,
    layout: &KernelLayout,
    addrs: &KernelAddresses,
    opts: &WalkOptions,
) -> TaskWalk {
    let mut w = Walker {
        mem,
        l: layout,
        opts,
        reads: 0,
        deadline: Instant::now().checked_add(opts.limits.max_time),
        out_of_time: false,
        out_of_reads: false,
        warnings: Vec::new(),
        suppressed: 0,
        tasks: Vec::new(),
        index: HashMap::new(),
        visited: HashSet::new(),
        complete: true,
    };
    w.walk_lists(addrs.init_task);
    w.walk_cpus(addrs);
    if w.out_of_time {
        w.complete = false;
        w.warn(format!(
            "stopped after {:?} and {} reads of guest memory (the time limit)",
            opts.limits.max_time, w.reads
        ));
    } else if w.out_of_reads {
        w.complete = false;
        w.warn(format!(
            "stopped after {} reads of guest memory (the limit)",
            opts.limits.max_reads
        ));
    }
    if w.suppressed > 0 {
        let n = w.suppressed;
        w.warnings.push(format!("… and {n} more warnings"));
    }
    TaskWalk {
        tasks: w.tasks,
        warnings: w.warnings,
        complete: w.complete,
        reads: w.reads,
    }
}

struct Walker<'a> {
    mem: &'a dyn KernelMemory,
    l: &'a KernelLayout,
    opts: &'a WalkOptions,
    reads: u64,
    /// When the walk must stop (`None`: the limit overflowed `Instant`, i.e. none).
    deadline: Option<Instant>,
    out_of_time: bool,
    /// Set once either limit (reads or time) is reached: every read fails from then on.
    out_of_reads: bool,
    warnings: Vec<String>,
    suppressed: usize,
    tasks: Vec<KernelTask>,
    index: HashMap<u64, usize>,
    visited: HashSet<u64>,
    complete: bool,
}

impl Walker<'_> {
    fn warn(&mut self, msg: String) {
        if self.warnings.len() < self.opts.limits.max_warnings {
            self.warnings.push(msg);
        } else {
            self.suppressed += 1;
        }
    }

    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        if self.out_of_reads || self.reads >= self.opts.limits.max_reads {
            self.out_of_reads = true;
            return false;
        }
        // The clock is read every 32 reads (a read costs far more than the clock).
        if self.reads % 32 == 0 && self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.out_of_time = true;
            self.out_of_reads = true;
            return false;
        }
        self.reads += 1;
        self.mem.read(addr, buf) == buf.len()
    }

    /// A little-endian unsigned field of 1, 2, 4 or 8 bytes.
    fn uint(&mut self, addr: u64, size: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        let n = match size {
            1 | 2 | 4 | 8 => size as usize,
            _ => return None,
        };
        self.read(addr, &mut b[..n]).then(|| u64::from_le_bytes(b))
    }

    fn field(&mut self, base: u64, f: Field) -> Option<u64> {
        self.uint(base.wrapping_add(f.offset), f.size)
    }

    fn pointer(&mut self, addr: u64) -> Option<u64> {
        self.uint(addr, self.l.pointer_size)
    }

    /// Could `p` point at kernel data of `size` bytes?
    fn plausible(&self, p: u64, size: u64) -> bool {
        let top = if self.l.pointer_size == 8 {
            u64::MAX
        } else {
            0xffff_ffff
        };
        p >= self.opts.kernel_start
            && p % self.l.pointer_size == 0
            && p.checked_add(size).is_some_and(|end| end - 1 <= top)
    }

    /// `p - offset`, in the kernel's width.
    fn container(&self, p: u64, offset: u64) -> u64 {
        let v = p.wrapping_sub(offset);
        if self.l.pointer_size == 8 {
            v
        } else {
            v & 0xffff_ffff
        }
    }

    fn full(&mut self) -> bool {
        if self.tasks.len() >= self.opts.limits.max_tasks {
            if self.complete {
                let n = self.opts.limits.max_tasks;
                self.warn(format!("stopped at {n} tasks (the limit)"));
            }
            self.complete = false;
            return true;
        }
        self.out_of_reads
    }

    fn walk_lists(&mut self, init_task: u64) {
        if !self.plausible(init_task, self.l.task_struct_size) {
            self.complete = false;
            self.warn(format!(
                "init_task at {init_task:#x} is not a kernel address: no task list"
            ));
            return;
        }
        if !self.add(init_task, TaskOrigin::TaskList) {
            self.complete = false;
            return;
        }
        self.walk_group(init_task);
        let head = init_task.wrapping_add(self.l.tasks);
        let mut node_at = head;
        let mut prev_task = init_task;
        loop {
            if self.full() {
                return;
            }
            let Some(next) = self.pointer(node_at.wrapping_add(self.l.list_next)) else {
                self.broken(format!(
                    "tasks list: cannot read the next pointer of task {prev_task:#x}"
                ));
                return;
            };
            if next == head {
                return;
            }
            if !self.plausible(next, 2 * self.l.pointer_size) {
                self.broken(format!(
                    "tasks list: task {prev_task:#x} links to {next:#x}, not a kernel address"
                ));
                return;
            }
            let task = self.container(next, self.l.tasks);
            if self.visited.contains(&task) {
                self.broken(format!(
                    "tasks list: task {prev_task:#x} links back to task {task:#x} (a cycle)"
                ));
                return;
            }
            if !self.add(task, TaskOrigin::TaskList) {
                self.complete = false;
                return;
            }
            self.walk_group(task);
            prev_task = task;
            node_at = next;
        }
    }

    fn broken(&mut self, msg: String) {
        if !self.out_of_reads {
            self.warn(msg);
        }
        self.complete = false;
    }

    /// The other threads of `leader`'s group.
    fn walk_group(&mut self, leader: u64) {
        let (head, node_offset) = match self.l.threads {
            ThreadList::None => return,
            ThreadList::ThreadGroup { thread_group } => {
                (leader.wrapping_add(thread_group), thread_group)
            }
            ThreadList::SignalThreadHead {
                signal,
                thread_head,
                thread_node,
            } => {
                let Some(sig) = self.field(leader, signal) else {
                    self.broken(format!("task {leader:#x}: cannot read its signal pointer"));
                    return;
                };
                // A task that has gone through exit_notify() may have none.
                if sig == 0 {
                    return;
                }
                if !self.plausible(sig, thread_head + 2 * self.l.pointer_size) {
                    self.broken(format!(
                        "task {leader:#x}: signal pointer {sig:#x} is not a kernel address"
                    ));
                    return;
                }
                (sig.wrapping_add(thread_head), thread_node)
            }
        };
        let mut node_at = head;
        let mut leader_seen = false;
        loop {
            if self.full() {
                return;
            }
            let Some(next) = self.pointer(node_at.wrapping_add(self.l.list_next)) else {
                self.broken(format!(
                    "threads of task {leader:#x}: cannot read the list at {node_at:#x}"
                ));
                return;
            };
            if next == head {
                return;
            }
            if !self.plausible(next, 2 * self.l.pointer_size) {
                self.broken(format!(
                    "threads of task {leader:#x}: link to {next:#x}, not a kernel address"
                ));
                return;
            }
            let task = self.container(next, node_offset);
            if task == leader && !leader_seen {
                leader_seen = true;
            } else if self.visited.contains(&task) {
                self.broken(format!(
                    "threads of task {leader:#x}: task {task:#x} is listed again (a cycle)"
                ));
                return;
            } else if !self.add(task, TaskOrigin::ThreadList) {
                self.complete = false;
                return;
            }
            node_at = next;
        }
    }

    /// Each CPU's current task: mark it, or add it when no list had it.
    fn walk_cpus(&mut self, addrs: &KernelAddresses) {
        let Some(current) = addrs.current_task else {
            return;
        };
        let cpus = match addrs.per_cpu_offset {
            Some(_) => self.opts.cpus.min(self.opts.limits.max_cpus),
            None => self.opts.cpus.min(1),
        };
        for cpu in 0..cpus {
            if self.out_of_reads {
                return;
            }
            let offset = match addrs.per_cpu_offset {
                Some(array) => {
                    let at = array.wrapping_add(cpu as u64 * self.l.pointer_size);
                    match self.pointer(at) {
                        Some(o) => o,
                        None => {
                            self.broken(format!("CPU {cpu}: cannot read __per_cpu_offset[{cpu}]"));
                            continue;
                        }
                    }
                }
                None => 0,
            };
            let var = self.container(current.wrapping_add(offset), 0);
            let Some(task) = self.pointer(var) else {
                self.broken(format!(
                    "CPU {cpu}: cannot read its current task at {var:#x}"
                ));
                continue;
            };
            // A CPU that never came up still holds the variable's initial value:
            // &init_task (x86's `current_task = &init_task`), or nothing.
            if task == 0 || (task == addrs.init_task && cpu != 0) {
                continue;
            }
            if !self.plausible(task, self.l.task_struct_size) {
                self.broken(format!(
                    "CPU {cpu}: current task {task:#x} is not a kernel address"
                ));
                continue;
            }
            if let Some(&i) = self.index.get(&task) {
                match self.tasks[i].running_on {
                    Some(other) => {
                        let pid = self.tasks[i].pid;
                        self.broken(format!(
                            "CPU {cpu}: its current task {task:#x} (pid {pid}) is already current on CPU {other}"
                        ));
                    }
                    None => self.tasks[i].running_on = Some(cpu),
                }
                continue;
            }
            if self.full() {
                return;
            }
            if self.add(task, TaskOrigin::CurrentOnCpu) {
                if let Some(t) = self.tasks.last_mut() {
                    t.running_on = Some(cpu);
                }
            }
        }
    }

    /// Read the task at `addr` and list it; false if it cannot be read.
    fn add(&mut self, addr: u64, origin: TaskOrigin) -> bool {
        if !self.plausible(addr, self.l.task_struct_size) {
            self.broken(format!("task {addr:#x} is not a kernel address"));
            return false;
        }
        match self.read_task(addr, origin) {
            Some(t) => {
                self.visited.insert(addr);
                self.index.insert(addr, self.tasks.len());
                self.tasks.push(t);
                true
            }
            None => {
                self.broken(format!("task {addr:#x}: cannot read its pid"));
                false
            }
        }
    }

    fn read_task(&mut self, a: u64, origin: TaskOrigin) -> Option<KernelTask> {
        let l = self.l;
        let pid = self.field(a, l.pid)? as u32 as i32;
        let tgid = self.field(a, l.tgid).map_or(pid, |v| v as u32 as i32);
        let comm = self.comm(a);
        let raw_state = self.field(a, l.state).unwrap_or(0);
        let exit_state = l.exit_state.and_then(|f| self.field(a, f)).unwrap_or(0);
        let flags = l.flags.and_then(|f| self.field(a, f));
        let on_cpu = l.on_cpu.and_then(|f| self.field(a, f)).map(|v| v != 0);
        let stack = l.stack.and_then(|f| self.field(a, f));
        let cpu = match l.cpu {
            Some(CpuField::Task(f) | CpuField::ThreadInfoInTask(f)) => self.field(a, f),
            Some(CpuField::ThreadInfoOnStack(f)) => match stack {
                Some(s) if self.plausible(s, f.offset + f.size) => self.field(s, f),
                _ => None,
            },
            None => None,
        }
        .map(|v| v as u32);
        let mm = self.field(a, l.mm);
        let active_mm = l.active_mm.and_then(|f| self.field(a, f));
        let kernel_thread = match flags {
            Some(f) => f & PF_KTHREAD != 0,
            None => mm == Some(0),
        };
        let pgd = match mm {
            Some(m) if m != 0 && !kernel_thread => self.pgd(a, m),
            _ => None,
        };
        let ppid = l.real_parent.and_then(|f| {
            let parent = self.field(a, f)?;
            if !self.plausible(parent, l.task_struct_size) {
                return None;
            }
            self.field(parent, l.tgid).map(|v| v as u32 as i32)
        });
        let thread_sp = self.field(a, l.thread_sp);
        Some(KernelTask {
            address: a,
            pid,
            tgid,
            ppid,
            comm,
            state: state_letter(raw_state, exit_state),
            raw_state,
            exit_state,
            cpu,
            on_cpu,
            kernel_thread,
            running_on: None,
            thread_sp,
            mm,
            active_mm,
            pgd,
            stack,
            origin,
        })
    }

    fn comm(&mut self, a: u64) -> String {
        // TASK_COMM_LEN is 16; a larger field is damage, not a longer name.
        let mut b = [0u8; 64];
        let n = (self.l.comm.size as usize).min(b.len());
        if !self.read(a.wrapping_add(self.l.comm.offset), &mut b[..n]) {
            return String::new();
        }
        let end = b[..n].iter().position(|&c| c == 0).unwrap_or(n);
        String::from_utf8_lossy(&b[..end]).into_owned()
    }

    fn pgd(&mut self, task: u64, mm: u64) -> Option<u64> {
        let f = self.l.mm_pgd;
        if !self.plausible(mm, f.offset + f.size) {
            self.warn(format!(
                "task {task:#x}: mm {mm:#x} is not a kernel address"
            ));
            return None;
        }
        let Some(pgd) = self.field(mm, f) else {
            self.warn(format!(
                "task {task:#x}: cannot read the pgd of its mm {mm:#x}"
            ));
            return None;
        };
        if !self.plausible(pgd, 8) || pgd % 32 != 0 {
            self.warn(format!(
                "task {task:#x}: mm->pgd {pgd:#x} is not a kernel address of a page table"
            ));
            return None;
        }
        Some(pgd)
    }
}

/// Registers a sleeping task's last context switch saved; `None`: not saved there.
/// Names are the x86_64 ones; on i386 they are the 32-bit registers (ebx, esi, …).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SavedRegisters {
    /// rip / eip: where the task resumes (the frame's `ret_addr`).
    pub ip: Option<u64>,
    /// rsp / esp once resumed.
    pub sp: Option<u64>,
    /// rbp / ebp.
    pub bp: Option<u64>,
    /// rbx / ebx.
    pub bx: Option<u64>,
    /// r12 (x86_64).
    pub r12: Option<u64>,
    /// r13 (x86_64).
    pub r13: Option<u64>,
    /// r14 (x86_64).
    pub r14: Option<u64>,
    /// r15 (x86_64).
    pub r15: Option<u64>,
    /// esi (i386).
    pub si: Option<u64>,
    /// edi (i386).
    pub di: Option<u64>,
    /// eflags (i386 frames since Linux 5.x).
    pub flags: Option<u64>,
}

/// Why a task's saved registers cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The task's `thread.sp` could not be read.
    #[error("task {task:#x}: its saved stack pointer (thread.sp) was not read")]
    NoStackPointer { task: u64 },
    /// `thread.sp` is not a kernel stack address.
    #[error("task {task:#x}: saved stack pointer {sp:#x} is not a kernel address")]
    BadStackPointer { task: u64, sp: u64 },
    /// The frame at `thread.sp` is not (wholly) in the dump.
    #[error("task {task:#x}: only {read} of the {size} bytes of its switch frame at {sp:#x} can be read")]
    Unreadable {
        task: u64,
        sp: u64,
        read: usize,
        size: u64,
    },
    /// The layout's frame is larger than any real one.
    #[error("struct inactive_task_frame of {size} bytes is not plausible")]
    FrameTooLarge { size: u64 },
    /// The kernel saves neither an `inactive_task_frame` nor `thread.ip` (x86_64
    /// before Linux 4.9).
    #[error("this kernel's context switch leaves no frame this reader knows (before Linux 4.9 on x86_64)")]
    NoFrameLayout,
}

/// Largest `inactive_task_frame` accepted (the real ones are 24–56 bytes).
const MAX_FRAME: u64 = 256;

/// The registers `task` saved when it was last switched out (see the module doc).
///
/// For a task that is running ([`KernelTask::running_on`]) they are stale: use the
/// vCPU's. On i386 kernels before 4.9 (no `inactive_task_frame`): eip = `thread.ip`,
/// and ebp and eflags as the switch's epilogue pops them from `thread.sp`, which
/// leaves esp 8 bytes higher.
pub fn saved_registers(
    mem: &dyn KernelMemory,
    layout: &KernelLayout,
    opts: &WalkOptions,
    task: &KernelTask,
) -> Result<SavedRegisters, FrameError> {
    let ps = layout.pointer_size;
    let mask = if ps == 8 { u64::MAX } else { 0xffff_ffff };
    let sp = task
        .thread_sp
        .ok_or(FrameError::NoStackPointer { task: task.address })?;
    let bad = FrameError::BadStackPointer {
        task: task.address,
        sp,
    };
    if sp < opts.kernel_start || sp % ps != 0 || sp > mask {
        return Err(bad);
    }
    let le = |b: &[u8]| {
        let mut w = [0u8; 8];
        let n = b.len().min(8);
        w[..n].copy_from_slice(&b[..n]);
        u64::from_le_bytes(w)
    };
    if let Some(frame) = &layout.frame {
        if frame.size > MAX_FRAME {
            return Err(FrameError::FrameTooLarge { size: frame.size });
        }
        let mut buf = vec![0u8; frame.size as usize];
        let read = mem.read(sp, &mut buf);
        if read < buf.len() {
            return Err(FrameError::Unreadable {
                task: task.address,
                sp,
                read,
                size: frame.size,
            });
        }
        let mut r = SavedRegisters {
            sp: Some(sp.wrapping_add(frame.size) & mask),
            ..SavedRegisters::default()
        };
        for (name, f) in &frame.members {
            let (start, end) = (f.offset as usize, f.offset.saturating_add(f.size) as usize);
            if f.size == 0 || f.size > 8 || end > buf.len() {
                continue;
            }
            let v = Some(le(&buf[start..end]));
            match name.as_str() {
                "ret_addr" => r.ip = v,
                "bp" => r.bp = v,
                "bx" => r.bx = v,
                "r12" => r.r12 = v,
                "r13" => r.r13 = v,
                "r14" => r.r14 = v,
                "r15" => r.r15 = v,
                "si" => r.si = v,
                "di" => r.di = v,
                "flags" => r.flags = v,
                _ => {}
            }
        }
        return Ok(r);
    }
    let Some(ip_field) = layout.thread_ip else {
        return Err(FrameError::NoFrameLayout);
    };
    let mut ip = [0u8; 8];
    let ipn = ip_field.size.min(8) as usize;
    let ip = (mem.read(task.address.wrapping_add(ip_field.offset), &mut ip[..ipn]) == ipn)
        .then(|| le(&ip[..ipn]));
    let mut saved = [0u8; 16];
    let n = 2 * ps as usize;
    if mem.read(sp, &mut saved[..n]) < n {
        return Err(FrameError::Unreadable {
            task: task.address,
            sp,
            read: 0,
            size: n as u64,
        });
    }
    Ok(SavedRegisters {
        ip,
        sp: Some(sp.wrapping_add(n as u64) & mask),
        bp: Some(le(&saved[..ps as usize])),
        flags: Some(le(&saved[ps as usize..n])),
        ..SavedRegisters::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_letters_match_linux() {
        // (raw __state, exit_state, letter) per include/linux/sched.h (4.14+).
        for (s, x, c) in [
            (0x0000, 0, 'R'),
            (0x0001, 0, 'S'),
            (0x0002, 0, 'D'),
            (0x0004, 0, 'T'),
            (0x0008, 0, 't'),
            (0x0000, 0x10, 'X'),
            (0x0000, 0x20, 'Z'),
            (0x0040, 0, 'P'),
            (0x0402, 0, 'I'),    // TASK_IDLE
            (0x0102, 0, 'D'),    // TASK_KILLABLE: wakekill | uninterruptible
            (0x0104, 0, 'T'),    // TASK_STOPPED
            (0x1000, 0, 'D'),    // TASK_RTLOCK_WAIT
            (0x8001, 0, 'D'),    // frozen
            (0x0080, 0, 'R'),    // TASK_DEAD alone is not reported
            (0x0001, 0x20, 'Z'), // the highest reported bit wins
            (u64::MAX, 0, 'D'),  // garbage: frozen bit wins, no panic
        ] {
            assert_eq!(state_letter(s, x), c, "state {s:#x} exit {x:#x}");
        }
    }
}
