//! The thread table: what a debugger calls threads, and where each one's registers and
//! address space come from.
//!
//! gdb knows a target only as numbered threads. Here a thread is a [`ThreadSource`]: a
//! vCPU of the dump, or a task of the guest's Linux kernel when it was opened with its
//! vmlinux ([`LinuxKernel`]). Everything above this layer (the gdb session, `monitor`,
//! the server) names threads by [`ThreadId`] and asks the table for registers and an
//! address space; only this module knows that vCPU slot *k* is thread *k + 1* and that
//! task *i* of the walk is thread *vCPUs + i + 1*.
//!
//! [`Debuggee`] joins the table with the guest model: it is what a debugger session
//! reads, shared read-only by every session. The task walk happens once, before it is
//! built ([`LinuxKernel::open`]).

mod guest_view;

use std::num::NonZeroUsize;

pub use guest_view::{descriptor_base, BaseSource, GuestView};

use crate::memory::{AddressSpace, Guest};
use crate::os::linux::kernel::{LinuxKernel, TaskRegisters};
use crate::os::linux::tasks::{KernelTask, SavedRegisters};
use crate::vcpu::VcpuState;

/// A debugger's thread id: gdb's `tid`, never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(NonZeroUsize);

impl ThreadId {
    /// The id `n`, if it is not zero.
    pub fn new(n: usize) -> Option<ThreadId> {
        NonZeroUsize::new(n).map(ThreadId)
    }

    /// The number gdb uses.
    pub fn get(self) -> usize {
        self.0.get()
    }
}

impl std::fmt::Display for ThreadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "thread {}", self.0)
    }
}

/// Where a thread's state comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreadSource {
    /// The vCPU whose context is in dump slot `slot`.
    Vcpu(usize),
    /// Task `index` of the kernel's task walk ([`LinuxKernel::walk`]).
    Task(usize),
}

/// A thread's registers, as the source holds them.
#[derive(Clone, Copy, Debug)]
pub enum ThreadRegisters<'a> {
    /// A dumped vCPU context: every register Xen saved, as the guest saw them.
    Vcpu(VcpuRegisters<'a>),
    /// What a sleeping task's last context switch saved; the others are unavailable.
    Saved(SavedRegisters),
}

/// A dumped vCPU's registers as the guest saw them: the stored context, and the values
/// Xen stored differently or not at all, worked out from the dump ([`GuestView`]).
#[derive(Clone, Copy, Debug)]
pub struct VcpuRegisters<'a> {
    /// The context as the dump stores it.
    pub state: &'a VcpuState,
    /// CR3 as the guest had it; `None` when the dump cannot tell.
    pub cr3: Option<u64>,
    /// FS base; `None` when the dump cannot tell.
    pub fs_base: Option<u64>,
    /// The GS base that was live; `None` when the dump cannot tell.
    pub gs_base: Option<u64>,
}

/// Thread ids and their sources, in the order they are listed to debuggers.
#[derive(Clone, Debug, Default)]
pub struct ThreadTable {
    /// Source of thread `i + 1`.
    sources: Vec<ThreadSource>,
    /// Listing order; the first is where a debugger starts.
    order: Vec<ThreadId>,
}

impl ThreadTable {
    /// One thread per vCPU: vCPU slot *k* is thread *k + 1*, listed in slot order. The
    /// kernel's gdb scripts (`lx-*`) and pwndbg assume exactly this numbering.
    pub fn of_vcpus(count: usize) -> ThreadTable {
        let sources: Vec<ThreadSource> = (0..count).map(ThreadSource::Vcpu).collect();
        let order = (1..=count).filter_map(ThreadId::new).collect();
        ThreadTable { sources, order }
    }

    /// The vCPUs' threads, then one thread per task: task *i* is thread
    /// `vcpus + i + 1`, listed after every vCPU in task order.
    pub fn of_vcpus_and_tasks(vcpus: usize, tasks: usize) -> ThreadTable {
        let sources: Vec<ThreadSource> = (0..vcpus)
            .map(ThreadSource::Vcpu)
            .chain((0..tasks).map(ThreadSource::Task))
            .collect();
        let order = (1..=sources.len()).filter_map(ThreadId::new).collect();
        ThreadTable { sources, order }
    }

    /// Number of threads.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Is the table empty (a dump without vCPUs, which the reader refuses)?
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Thread ids in listing order.
    pub fn ids(&self) -> impl Iterator<Item = ThreadId> + '_ {
        self.order.iter().copied()
    }

    /// The thread a debugger starts on.
    pub fn first(&self) -> Option<ThreadId> {
        self.order.first().copied()
    }

    /// Where thread `id` comes from, if it exists.
    pub fn source(&self, id: ThreadId) -> Option<ThreadSource> {
        self.sources.get(id.get() - 1).copied()
    }

    /// The thread of vCPU slot `slot`.
    pub fn vcpu_thread(&self, slot: usize) -> Option<ThreadId> {
        self.sources
            .iter()
            .position(|s| *s == ThreadSource::Vcpu(slot))
            .and_then(|i| ThreadId::new(i + 1))
    }

    /// The thread of task `index`.
    pub fn task_thread(&self, index: usize) -> Option<ThreadId> {
        // Tasks follow the vCPUs in order: look where it should be first.
        let vcpus = self
            .sources
            .iter()
            .take_while(|s| matches!(s, ThreadSource::Vcpu(_)))
            .count();
        match self.sources.get(vcpus + index) {
            Some(&ThreadSource::Task(i)) if i == index => ThreadId::new(vcpus + index + 1),
            _ => self
                .sources
                .iter()
                .position(|s| *s == ThreadSource::Task(index))
                .and_then(|i| ThreadId::new(i + 1)),
        }
    }
}

/// What a debugger session reads: the guest model and its threads.
#[derive(Debug)]
pub struct Debuggee {
    guest: Guest,
    threads: ThreadTable,
    /// Each vCPU's registers as the guest saw them, by slot.
    views: Vec<GuestView>,
    linux: Option<LinuxKernel>,
}

impl Debuggee {
    /// The guest with one thread per vCPU.
    pub fn new(guest: Guest) -> Debuggee {
        let threads = ThreadTable::of_vcpus(guest.vcpus().len());
        let views = Self::vcpu_views(&guest);
        Debuggee {
            guest,
            threads,
            views,
            linux: None,
        }
    }

    /// The guest with one thread per vCPU, then one per task of its kernel.
    pub fn with_linux(guest: Guest, linux: LinuxKernel) -> Debuggee {
        let threads = ThreadTable::of_vcpus_and_tasks(guest.vcpus().len(), linux.walk.tasks.len());
        let views = Self::vcpu_views(&guest);
        Debuggee {
            guest,
            threads,
            views,
            linux: Some(linux),
        }
    }

    fn vcpu_views(guest: &Guest) -> Vec<GuestView> {
        guest
            .vcpus()
            .iter()
            .map(|v| GuestView::of(guest, v))
            .collect()
    }

    /// vCPU `slot`'s registers as the guest saw them, where they differ from the
    /// stored context.
    pub fn guest_view(&self, slot: usize) -> Option<&GuestView> {
        self.views.get(slot)
    }

    /// The guest's Linux kernel, when it was opened with its vmlinux.
    pub fn linux(&self) -> Option<&LinuxKernel> {
        self.linux.as_ref()
    }

    /// The kernel task behind thread `id`, when it is one.
    pub fn task(&self, id: ThreadId) -> Option<&KernelTask> {
        match self.threads.source(id)? {
            ThreadSource::Task(i) => self.linux.as_ref()?.walk.tasks.get(i),
            ThreadSource::Vcpu(_) => None,
        }
    }

    /// The guest model.
    pub fn guest(&self) -> &Guest {
        &self.guest
    }

    /// The thread table.
    pub fn threads(&self) -> &ThreadTable {
        &self.threads
    }

    /// Registers of thread `id`.
    pub fn registers(&self, id: ThreadId) -> Option<ThreadRegisters<'_>> {
        match self.threads.source(id)? {
            ThreadSource::Vcpu(slot) => self.vcpu_registers(slot),
            ThreadSource::Task(i) => match self.linux.as_ref()?.views.get(i)?.registers {
                TaskRegisters::OnVcpu(slot) => self.vcpu_registers(slot),
                TaskRegisters::Saved(saved) => Some(ThreadRegisters::Saved(saved)),
            },
        }
    }

    /// vCPU `slot`'s registers as the guest saw them.
    fn vcpu_registers(&self, slot: usize) -> Option<ThreadRegisters<'_>> {
        let state = self.guest.vcpus().get(slot)?;
        if !state.recorded {
            // A vCPU the file holds nothing for (a saved image skips vCPUs that were
            // down): every register unavailable, never zeros.
            return Some(ThreadRegisters::Saved(SavedRegisters::default()));
        }
        let view = self.views.get(slot)?;
        Some(ThreadRegisters::Vcpu(VcpuRegisters {
            state,
            cr3: view.cr3,
            fs_base: view.fs_base,
            gs_base: view.gs_base,
        }))
    }

    /// The address space virtual addresses of thread `id` are read through.
    pub fn space(&self, id: ThreadId) -> Option<&AddressSpace> {
        match self.threads.source(id)? {
            ThreadSource::Vcpu(slot) => self.guest.vcpu_space(slot),
            ThreadSource::Task(i) => self.linux.as_ref()?.views.get(i).map(|v| &v.space),
        }
    }

    /// The vCPU state behind thread `id`, when it is a vCPU (for commands that show
    /// raw context fields).
    pub fn vcpu(&self, id: ThreadId) -> Option<&VcpuState> {
        match self.threads.source(id)? {
            ThreadSource::Vcpu(slot) => self.guest.vcpus().get(slot),
            ThreadSource::Task(_) => None,
        }
    }

    /// The vCPU thread `id` runs on: its own for a vCPU, a running task's vCPU.
    pub fn running_on(&self, id: ThreadId) -> Option<usize> {
        match self.threads.source(id)? {
            ThreadSource::Vcpu(slot) => Some(slot),
            ThreadSource::Task(_) => self.task(id)?.running_on,
        }
    }

    /// A short name for thread `id`: a task's command (gdb shows it in quotes); vCPUs
    /// have none.
    pub fn name(&self, id: ThreadId) -> Option<&str> {
        self.task(id).map(|t| t.comm.as_str())
    }

    /// How debuggers name thread `id` (gdb's `info threads` extra info): a vCPU's
    /// state, or a task's `pid N COMM STATE`, with the vCPU it runs on.
    pub fn label(&self, id: ThreadId) -> String {
        match self.threads.source(id) {
            Some(ThreadSource::Task(i)) => {
                let Some(linux) = self.linux.as_ref() else {
                    return format!("task {i} (no kernel)");
                };
                let Some(t) = linux.walk.tasks.get(i) else {
                    return format!("task {i} (not walked)");
                };
                let mut text = format!("pid {} {} {}", t.pid, t.comm, t.state);
                if let Some(cpu) = t.running_on {
                    text.push_str(&format!(" on vCPU {cpu}"));
                } else if linux
                    .views
                    .get(i)
                    .is_some_and(|v| v.registers_error.is_some())
                {
                    text.push_str(" (no saved registers)");
                }
                text
            }
            Some(ThreadSource::Vcpu(slot)) => match self.guest.vcpus().get(slot) {
                Some(v) if !v.recorded => format!("vCPU {slot}, offline, no registers saved"),
                Some(v) => format!(
                    "vCPU {slot}, {}, {} mode",
                    if v.online() { "online" } else { "offline" },
                    if v.kernel_mode() { "kernel" } else { "user" }
                ),
                None => format!("vCPU {slot} (not in the dump)"),
            },
            // An unknown thread still gets a label: gdb treats an error here as fatal.
            None => "no such thread".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcpu_threads_are_numbered_from_one_in_slot_order() {
        let t = ThreadTable::of_vcpus(3);
        let ids: Vec<usize> = t.ids().map(ThreadId::get).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(t.first().map(ThreadId::get), Some(1));
        for slot in 0..3 {
            let id = t.vcpu_thread(slot).unwrap();
            assert_eq!(id.get(), slot + 1);
            assert_eq!(t.source(id), Some(ThreadSource::Vcpu(slot)));
        }
        assert_eq!(t.vcpu_thread(3), None);
        assert_eq!(t.source(ThreadId::new(4).unwrap()), None);
        assert_eq!(ThreadId::new(0), None);
    }

    #[test]
    fn tasks_follow_the_vcpus_without_renumbering_them() {
        let t = ThreadTable::of_vcpus_and_tasks(2, 3);
        let ids: Vec<usize> = t.ids().map(ThreadId::get).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert_eq!(t.first().map(ThreadId::get), Some(1));
        for slot in 0..2 {
            assert_eq!(t.vcpu_thread(slot).map(ThreadId::get), Some(slot + 1));
        }
        for i in 0..3 {
            let id = t.task_thread(i).unwrap();
            assert_eq!(id.get(), 3 + i);
            assert_eq!(t.source(id), Some(ThreadSource::Task(i)));
        }
        assert_eq!(t.task_thread(3), None);
        assert_eq!(ThreadTable::of_vcpus(2).task_thread(0), None);
    }
}
