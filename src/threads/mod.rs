//! The thread table: what a debugger calls threads, and where each one's registers and
//! address space come from.
//!
//! gdb knows a target only as numbered threads. Here a thread is a [`ThreadSource`]: a
//! vCPU of the dump today; the Linux-awareness work adds kernel tasks that were not on
//! a vCPU. Everything above this layer (the gdb session, `monitor`, the server) names
//! threads by [`ThreadId`] and asks the table for registers and an address space; only
//! this module knows that vCPU slot *k* is thread *k + 1*.
//!
//! [`Debuggee`] joins the table with the guest model: it is what a debugger session
//! reads, shared read-only by every session.

mod guest_view;

use std::num::NonZeroUsize;

pub use guest_view::{descriptor_base, BaseSource, GuestView};

use crate::memory::{AddressSpace, Guest};
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
}

/// A thread's registers, as the source holds them.
#[derive(Clone, Copy, Debug)]
pub enum ThreadRegisters<'a> {
    /// A dumped vCPU context: every register Xen saved, as the guest saw them.
    Vcpu(VcpuRegisters<'a>),
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
}

/// What a debugger session reads: the guest model and its threads.
#[derive(Debug)]
pub struct Debuggee {
    guest: Guest,
    threads: ThreadTable,
    /// Each vCPU's registers as the guest saw them, by slot.
    views: Vec<GuestView>,
}

impl Debuggee {
    /// The guest with one thread per vCPU.
    pub fn new(guest: Guest) -> Debuggee {
        let threads = ThreadTable::of_vcpus(guest.vcpus().len());
        let views = guest
            .vcpus()
            .iter()
            .map(|v| GuestView::of(&guest, v))
            .collect();
        Debuggee {
            guest,
            threads,
            views,
        }
    }

    /// vCPU `slot`'s registers as the guest saw them, where they differ from the
    /// stored context.
    pub fn guest_view(&self, slot: usize) -> Option<&GuestView> {
        self.views.get(slot)
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
            ThreadSource::Vcpu(slot) => {
                let state = self.guest.vcpus().get(slot)?;
                let view = self.views.get(slot)?;
                Some(ThreadRegisters::Vcpu(VcpuRegisters {
                    state,
                    cr3: view.cr3,
                    fs_base: view.fs_base,
                    gs_base: view.gs_base,
                }))
            }
        }
    }

    /// The address space virtual addresses of thread `id` are read through.
    pub fn space(&self, id: ThreadId) -> Option<&AddressSpace> {
        match self.threads.source(id)? {
            ThreadSource::Vcpu(slot) => self.guest.vcpu_space(slot),
        }
    }

    /// The vCPU state behind thread `id`, when it is a vCPU (for commands that show
    /// raw context fields).
    pub fn vcpu(&self, id: ThreadId) -> Option<&VcpuState> {
        match self.threads.source(id)? {
            ThreadSource::Vcpu(slot) => self.guest.vcpus().get(slot),
        }
    }

    /// How debuggers name thread `id` (gdb's `info threads` extra info).
    pub fn label(&self, id: ThreadId) -> String {
        match self.threads.source(id) {
            Some(ThreadSource::Vcpu(slot)) => match self.guest.vcpus().get(slot) {
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
}
