//! A Linux kernel with tasks, laid out in a test guest's memory: the oracle for the
//! task walker in [`crate::os::linux::tasks`].
//!
//! Given a struct layout ([`KernelLayout`], from the DWARF of a test vmlinux or made
//! up), the runtime addresses of the kernel's symbols ([`KernelPlacement`]) and a list
//! of tasks ([`TaskDesc`]), [`LinuxGuest::build`] writes what a running kernel would
//! hold: `init_task` at its symbol, the `tasks` list of thread-group leaders, each
//! group's `signal_struct` and thread list, `mm_struct`s whose `pgd` points at the
//! process's own page tables (kernel mappings plus a user page), kernel stacks with the
//! switch frame (`inactive_task_frame`) of every task, the per-CPU `current_task` of
//! each CPU at `__per_cpu_offset[cpu]`, the idle tasks of CPUs nothing else runs on
//! (linked nowhere, as in Linux), and `linux_banner`. vCPU *n* is CPU *n*.
//!
//! Speaks kernel virtual addresses; memory comes from three runs of guest frames (low
//! memory from pfn 0, the image, and RAM after it, all in the direct map); the
//! kernel's top-level page table can be put where its symbol is
//! ([`LinuxSpec::kernel_pgd`]). [`LinuxFacts`] lists where every
//! task went and the order a correct walker returns them in; they are computed here
//! from the description, never read back. [`Damage`] breaks the structures the way
//! a hostile or corrupted guest could.

use std::collections::{BTreeSet, HashMap};

use crate::addr::{GuestFrame, MachineFrame, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::dump::{GuestKind, Width};
use crate::memory::{PageSize, PagingMode, Root};
use crate::os::linux::layout::{CpuField, Field, FrameLayout, KernelLayout, ThreadList};
use crate::os::KernelMemory;
use crate::vcpu::VGCF_IN_KERNEL;

use super::pagetable::{EntryFlags, PageTableBuilder, PageTableError};
use super::{x86, BuildError, GuestImage, VcpuImage};

/// `PF_KTHREAD`.
const PF_KTHREAD: u64 = 0x0020_0000;
/// `PF_IDLE`.
const PF_IDLE: u64 = 0x0000_0002;
/// Bytes left above a task's switch frame on its stack (where pt_regs and the
/// scheduler's own frames would be).
const FRAME_GAP: u64 = 0x200;
/// First guest frame of the kernel image.
const IMAGE_PFN: u64 = 0x1000;
/// Largest image span the builder lays out (the symbols it writes must be this close).
const MAX_IMAGE_PAGES: u64 = 16 * 1024;
/// Machine frame of the first image frame (PV): not the pfn, so a reader that mixes
/// them fails.
const IMAGE_MFN: u64 = 0x9_1000;
/// Machine frame of the first RAM frame (PV).
const RAM_MFN: u64 = 0x20_0000;
/// Pages of low memory (from pfn 0) the guest has besides its image and RAM, as every
/// PC does: the direct map then maps guest-physical 0, where readers look for it.
const LOW_PAGES: u64 = 16;
/// Machine frame of pfn 0 (PV).
const LOW_MFN: u64 = 0x5_0000;

/// Why a Linux guest could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LinuxBuildError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Tables(#[from] PageTableError),
    /// The task list or placement does not describe a kernel this builder can lay out.
    #[error("cannot lay out this kernel: {0}")]
    Description(String),
    /// No such guest kind and paging mode here.
    #[error("{kind:?} guests with {mode} paging are not supported by the Linux builder")]
    Unsupported { kind: GuestKind, mode: PagingMode },
}

/// Runtime addresses of the kernel's symbols (link addresses moved by KASLR; x86_64's
/// zero-based per-CPU symbols as they are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelPlacement {
    /// `&init_task`.
    pub init_task: u64,
    /// `&__per_cpu_offset[0]`.
    pub per_cpu_offset: u64,
    /// `__per_cpu_start`.
    pub per_cpu_start: u64,
    /// The per-CPU current-task pointer (`&current_task` or `&pcpu_hot.current_task`).
    pub current_task: u64,
    /// `&linux_banner`.
    pub linux_banner: u64,
}

/// Registers a sleeping task's switch frame holds (written by member name; those the
/// layout's frame has no member for are not written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameRegs {
    /// `ret_addr`: where the task resumes.
    pub ret_addr: u64,
    pub bp: u64,
    pub bx: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub si: u64,
    pub di: u64,
    pub flags: u64,
}

impl FrameRegs {
    /// Distinct values for task `pid`, truncated to `width`.
    pub fn pattern(pid: i32, width: Width) -> FrameRegs {
        let p = pid as u32 as u64;
        let m = |v: u64| match width {
            Width::Bits64 => v,
            Width::Bits32 => v & 0xffff_ffff,
        };
        let text = match width {
            Width::Bits64 => 0xffff_ffff_8100_0000,
            Width::Bits32 => 0xc100_0000,
        };
        FrameRegs {
            ret_addr: m(text + 0x4000 + p * 0x10),
            bp: m(0x0b9b_0000_b9b0_0000 + p),
            bx: m(0x0b8b_0000_b8b0_0000 + p),
            r12: m(0x0120_0000_1200_0000 + p),
            r13: m(0x0130_0000_1300_0000 + p),
            r14: m(0x0140_0000_1400_0000 + p),
            r15: m(0x0150_0000_1500_0000 + p),
            si: m(0x5151_0000 + p),
            di: m(0xd1d1_0000 + p),
            flags: 0x246,
        }
    }

    /// The value for frame member `name`, if it names one of these registers.
    fn member(&self, name: &str) -> Option<u64> {
        Some(match name {
            "ret_addr" => self.ret_addr,
            "bp" => self.bp,
            "bx" => self.bx,
            "r12" => self.r12,
            "r13" => self.r13,
            "r14" => self.r14,
            "r15" => self.r15,
            "si" => self.si,
            "di" => self.di,
            "flags" => self.flags,
            _ => return None,
        })
    }
}

/// One task to lay out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDesc {
    /// Thread id (> 0; pid 0 is the idle tasks, which the builder makes).
    pub pid: i32,
    /// Process id: the pid of its group's leader, which must be described too.
    pub tgid: i32,
    /// The parent process's tgid (0: `init_task`).
    pub ppid: i32,
    /// `comm` (at most 15 bytes are kept).
    pub comm: String,
    /// Raw `__state`.
    pub state: u32,
    /// `exit_state`.
    pub exit_state: u32,
    /// The CPU it last ran on.
    pub cpu: u32,
    /// Is it the current task of `cpu`?
    pub running: bool,
    /// Has a user address space (the process's `mm`); otherwise a kernel thread.
    pub user: bool,
    /// Its switch frame.
    pub frame: FrameRegs,
    /// Return addresses of the calls that led to the context switch, innermost first
    /// (into `schedule()`, the task's function, its entry point). When given, the
    /// builder lays out a frame-pointer chain above the switch frame, one (saved frame
    /// pointer, return address) pair per call, the last with a null frame pointer, and
    /// the frame's `bp` points at the first pair (it is `__schedule`'s frame pointer,
    /// which is where its stack pointer is once the switch returns).
    pub calls: Vec<u64>,
}

impl TaskDesc {
    /// A sleeping (`S`) single-threaded user process on CPU 0.
    pub fn process(pid: i32, ppid: i32, comm: &str, width: Width) -> TaskDesc {
        TaskDesc {
            pid,
            tgid: pid,
            ppid,
            comm: comm.into(),
            state: 1,
            exit_state: 0,
            cpu: 0,
            running: false,
            user: true,
            frame: FrameRegs::pattern(pid, width),
            calls: Vec::new(),
        }
    }

    /// Another thread of process `tgid` (whose parent is `ppid`).
    pub fn thread(pid: i32, tgid: i32, ppid: i32, comm: &str, width: Width) -> TaskDesc {
        TaskDesc {
            tgid,
            ..TaskDesc::process(pid, ppid, comm, width)
        }
    }

    /// A kernel thread (child of kthreadd, pid 2, or of `init_task` for pid 2 itself).
    pub fn kthread(pid: i32, comm: &str, width: Width) -> TaskDesc {
        TaskDesc {
            user: false,
            ppid: if pid == 2 { 0 } else { 2 },
            state: 0x402, // TASK_IDLE, as most kernel threads wait
            ..TaskDesc::process(pid, 0, comm, width)
        }
    }

    /// The same, current on `cpu` (state R).
    pub fn running_on(mut self, cpu: u32) -> TaskDesc {
        self.running = true;
        self.cpu = cpu;
        self.state = 0;
        self
    }

    /// The same, last run on `cpu`.
    pub fn on(mut self, cpu: u32) -> TaskDesc {
        self.cpu = cpu;
        self
    }

    /// The same, with raw `__state` and `exit_state`.
    pub fn with_state(mut self, state: u32, exit_state: u32) -> TaskDesc {
        self.state = state;
        self.exit_state = exit_state;
        self
    }

    /// The same, switched out at `ret_addr` after the calls `calls` (see
    /// [`TaskDesc::calls`]).
    pub fn with_calls(mut self, ret_addr: u64, calls: Vec<u64>) -> TaskDesc {
        self.frame.ret_addr = ret_addr;
        self.calls = calls;
        self
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct LinuxSpec {
    /// PV or HVM.
    pub kind: GuestKind,
    /// Paging: 4-level (x86_64) or PAE / 2-level (i386, layout pointer size 4).
    pub mode: PagingMode,
    /// Struct layout.
    pub layout: KernelLayout,
    /// Symbol addresses.
    pub placement: KernelPlacement,
    /// The `linux_banner` text.
    pub banner: String,
    /// CPUs (= vCPUs).
    pub cpus: usize,
    /// Tasks other than the idle tasks, in the order they are linked.
    pub tasks: Vec<TaskDesc>,
    /// Pages of each kernel stack (`THREAD_SIZE`).
    pub stack_pages: u64,
    /// Give each process its own page tables (kernel mappings + one user page). Off,
    /// every `mm->pgd` is the kernel's table (cheaper for thousands of processes).
    pub process_tables: bool,
    /// The text of a VMCOREINFO note (`OSRELEASE=…\nKERNELOFFSET=…\n`), written in the
    /// kernel image after the symbols the builder writes (where Linux before 4.13 kept
    /// the note), so a dump reader finds the release and the KASLR offset; `None`: no
    /// note.
    pub vmcoreinfo: Option<String>,
    /// Bytes written at kernel-image virtual addresses (runtime, i.e. moved by KASLR):
    /// code or data a test wants where the vmlinux says they are. Each must lie within
    /// [`MAX_IMAGE_PAGES`] pages of the other symbols.
    pub image_data: Vec<(u64, Vec<u8>)>,
    /// Where the kernel's top-level page table is (the runtime address of
    /// `init_top_pgt` / `swapper_pg_dir`, page-aligned), as in Linux, where the vCPUs
    /// and `init_mm.pgd` use it and dump readers (drgn, crash) find it through
    /// VMCOREINFO; `None`: a page of RAM.
    pub kernel_pgd: Option<u64>,
}

impl LinuxSpec {
    /// A spec with defaults: 16 KiB stacks on x86_64 (8 KiB on i386), per-process tables.
    pub fn new(
        kind: GuestKind,
        mode: PagingMode,
        layout: KernelLayout,
        placement: KernelPlacement,
        cpus: usize,
        tasks: Vec<TaskDesc>,
    ) -> LinuxSpec {
        let stack_pages = if layout.pointer_size == 8 { 4 } else { 2 };
        LinuxSpec {
            kind,
            mode,
            layout,
            placement,
            banner: "Linux version 6.1.0-fixture (builder@xendump-gdbserver) #1 SMP".into(),
            cpus,
            tasks,
            stack_pages,
            process_tables: true,
            vmcoreinfo: None,
            image_data: Vec::new(),
            kernel_pgd: None,
        }
    }
}

/// Where one task went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltTask {
    /// Its description (made up for `init_task` and the idle tasks).
    pub desc: TaskDesc,
    /// `&task_struct`.
    pub address: u64,
    /// `task->stack`.
    pub stack: u64,
    /// `task->thread.sp`: its switch frame.
    pub thread_sp: u64,
    /// `task->mm` (0 for kernel threads).
    pub mm: u64,
    /// `mm->pgd` for user tasks.
    pub pgd: Option<u64>,
    /// The root of its page tables, in the tables' frame space (user tasks).
    pub root: Option<Root>,
    /// `task->signal`.
    pub signal: u64,
    /// Is it linked on a list (false for the idle tasks of CPUs other than 0)?
    pub listed: bool,
    /// The CPU whose current task it is.
    pub current_on: Option<usize>,
}

/// What a built guest holds, computed from its description.
#[derive(Clone, Debug)]
pub struct LinuxFacts {
    /// Every task: `init_task` first, then the descriptions in order, then the idle
    /// tasks of CPUs other than 0 that no described task runs on.
    pub tasks: Vec<BuiltTask>,
    /// Indices into `tasks` in the order a correct walker lists them.
    pub walk_order: Vec<usize>,
    /// Each CPU's per-CPU area.
    pub per_cpu_area: Vec<u64>,
    /// The kernel's top page table, in the tables' frame space.
    pub kernel_root: Root,
    /// Virtual address of the direct map (of pfn 0).
    pub direct_map: u64,
    /// The user page each process maps (with `process_tables`).
    pub user_va: u64,
    /// A kernel address nothing maps.
    pub unmapped_va: u64,
    /// The vCPUs' stack pointers (inside their current task's stack).
    pub vcpu_sp: Vec<u64>,
    /// The vCPUs' instruction pointers.
    pub vcpu_ip: Vec<u64>,
    /// Where the VMCOREINFO note's header is (kernel virtual), if one was written.
    pub vmcoreinfo_va: Option<u64>,
}

impl LinuxFacts {
    /// The task at `address`.
    pub fn task_at(&self, address: u64) -> Option<&BuiltTask> {
        self.tasks.iter().find(|t| t.address == address)
    }
    /// The task with `pid` (the first, for pid 0).
    pub fn task(&self, pid: i32) -> Option<&BuiltTask> {
        self.tasks.iter().find(|t| t.desc.pid == pid)
    }
    /// The u64 at [`LinuxFacts::user_va`] in process `tgid`'s address space.
    pub fn user_value(tgid: i32) -> u64 {
        0x7573_6572_0000_0000 | u64::from(tgid as u32)
    }
}

/// Ways to break a built guest's kernel structures (indices are into
/// [`LinuxFacts::tasks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// Task `from`'s `tasks.next` links to task `to`'s node instead: a cycle that never
    /// returns to `init_task`.
    TasksCycle { from: usize, to: usize },
    /// Task `at`'s `tasks.next` holds `value` (unmapped, user-space, misaligned, …).
    TasksNext { at: usize, value: u64 },
    /// The last thread of task `leader`'s group links back to its second thread.
    ThreadsCycle { leader: usize },
    /// Task `at`'s `signal` holds `value`.
    Signal { at: usize, value: u64 },
    /// Task `at`'s `thread.sp` holds `value`.
    ThreadSp { at: usize, value: u64 },
    /// Task `at`'s `mm` holds `value`.
    Mm { at: usize, value: u64 },
    /// `__per_cpu_offset[cpu]` holds `value`.
    PerCpuOffset { cpu: usize, value: u64 },
    /// CPU `cpu`'s current-task pointer holds `value`.
    Current { cpu: usize, value: u64 },
}

/// A guest with a Linux kernel's tasks in its memory.
#[derive(Clone, Debug)]
pub struct LinuxGuest {
    /// The guest, ready to be written as a dump.
    pub image: GuestImage,
    /// The kernel's mappings: the translation oracle.
    pub kernel_tables: PageTableBuilder,
    /// What was built.
    pub spec: LinuxSpec,
    /// Where everything went.
    pub facts: LinuxFacts,
}

/// A bump allocator over the RAM run, handing out guest-physical addresses.
struct Ram {
    start: u64,
    next: u64,
    end: u64,
}

impl Ram {
    fn alloc(&mut self, size: u64, align: u64) -> Result<u64, LinuxBuildError> {
        let at = self.next.div_ceil(align) * align;
        let end = at
            .checked_add(size.max(1))
            .filter(|&e| e <= self.end)
            .ok_or_else(|| LinuxBuildError::Description("out of guest RAM".into()))?;
        self.next = end;
        Ok(at)
    }
}

/// The address-space constants of one width.
struct Space {
    direct_map: u64,
    stacks: u64,
    unmapped: u64,
    user: u64,
    mask: u64,
}

impl Space {
    fn of(width: Width) -> Space {
        match width {
            Width::Bits64 => Space {
                direct_map: 0xffff_8880_0000_0000,
                stacks: 0xffff_c900_0000_0000,
                unmapped: 0xffff_ea00_0000_0000,
                user: 0x40_0000,
                mask: u64::MAX,
            },
            Width::Bits32 => Space {
                direct_map: 0xc000_0000,
                stacks: 0, // i386 stacks live in the direct map
                unmapped: 0xf800_0000,
                user: 0x40_0000,
                mask: 0xffff_ffff,
            },
        }
    }
}

impl LinuxGuest {
    /// Lay out `spec` (see the module doc).
    pub fn build(spec: LinuxSpec) -> Result<LinuxGuest, LinuxBuildError> {
        Builder::new(spec)?.run()
    }

    /// `opts` for a saved image of this guest: every process's page tables and the
    /// kernel's own are pinned tables a PV save path rewrites, not only the vCPUs'.
    pub fn stream_options(&self, opts: &super::StreamOptions) -> super::StreamOptions {
        let mut o = opts.clone();
        if self.image.kind == GuestKind::Pv {
            o.pv_roots.push(self.facts.kernel_root.frame);
            o.pv_roots.extend(
                self.facts
                    .tasks
                    .iter()
                    .filter_map(|t| t.root)
                    .map(|r| r.frame),
            );
        }
        o
    }

    /// Write `bytes` at kernel virtual address `va` (through the kernel's mappings).
    pub fn write_virt(&mut self, va: u64, bytes: &[u8]) -> Result<(), LinuxBuildError> {
        write_virt(&mut self.image, &self.kernel_tables, va, bytes)
    }

    /// Write a pointer-sized value.
    pub fn write_ptr(&mut self, va: u64, value: u64) -> Result<(), LinuxBuildError> {
        let n = self.spec.layout.pointer_size as usize;
        self.write_virt(va, &value.to_le_bytes()[..n])
    }

    /// Break the kernel's structures (see [`Damage`]).
    pub fn damage(&mut self, d: Damage) -> Result<(), LinuxBuildError> {
        let l = self.spec.layout.clone();
        let task = |i: usize| {
            self.facts
                .tasks
                .get(i)
                .cloned()
                .ok_or_else(|| LinuxBuildError::Description(format!("no task {i}")))
        };
        let ps = l.pointer_size;
        match d {
            Damage::TasksCycle { from, to } => {
                let (f, t) = (task(from)?, task(to)?);
                self.write_ptr(f.address + l.tasks + l.list_next, t.address + l.tasks)
            }
            Damage::TasksNext { at, value } => {
                let t = task(at)?;
                self.write_ptr(t.address + l.tasks + l.list_next, value)
            }
            Damage::ThreadsCycle { leader } => {
                let lead = task(leader)?;
                let group: Vec<BuiltTask> = self
                    .facts
                    .tasks
                    .iter()
                    .filter(|t| t.desc.tgid == lead.desc.tgid && t.listed)
                    .cloned()
                    .collect();
                let node = match l.threads {
                    ThreadList::SignalThreadHead { thread_node, .. } => thread_node,
                    ThreadList::ThreadGroup { thread_group } => thread_group,
                    ThreadList::None => {
                        return Err(LinuxBuildError::Description("no thread lists".into()))
                    }
                };
                if group.len() < 3 {
                    return Err(LinuxBuildError::Description(
                        "a thread cycle needs a group of three".into(),
                    ));
                }
                let last = &group[group.len() - 1];
                self.write_ptr(last.address + node + l.list_next, group[1].address + node)
            }
            Damage::Signal { at, value } => match l.threads {
                ThreadList::SignalThreadHead { signal, .. } => {
                    let t = task(at)?;
                    self.write_ptr(t.address + signal.offset, value)
                }
                _ => Err(LinuxBuildError::Description("no signal pointers".into())),
            },
            Damage::ThreadSp { at, value } => {
                let t = task(at)?;
                self.write_ptr(t.address + l.thread_sp.offset, value)
            }
            Damage::Mm { at, value } => {
                let t = task(at)?;
                self.write_ptr(t.address + l.mm.offset, value)
            }
            Damage::PerCpuOffset { cpu, value } => {
                let at = self.spec.placement.per_cpu_offset + cpu as u64 * ps;
                self.write_ptr(at, value)
            }
            Damage::Current { cpu, value } => {
                let area = *self
                    .facts
                    .per_cpu_area
                    .get(cpu)
                    .ok_or_else(|| LinuxBuildError::Description(format!("no CPU {cpu}")))?;
                let p = &self.spec.placement;
                self.write_ptr(area + (p.current_task.wrapping_sub(p.per_cpu_start)), value)
            }
        }
    }
}

/// Kernel memory as this guest's description holds it (the translation oracle and the
/// image's pages, not a dump): for tests and fuzzing that need no dump file.
impl KernelMemory for LinuxGuest {
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let Some(va) = addr.checked_add(done as u64) else {
                break;
            };
            let Some((frame, off)) = self.kernel_tables.lookup(VirtAddr(va)) else {
                break;
            };
            let Some(pfn) = pfn_of_frame(&self.image, frame) else {
                break;
            };
            let take = ((PAGE_SIZE - off) as usize).min(buf.len() - done);
            match self.image.page(pfn) {
                Some(p) => buf[done..done + take].copy_from_slice(&p[off as usize..][..take]),
                None => buf[done..done + take].fill(0),
            }
            done += take;
        }
        done
    }
}

fn pfn_of_frame(image: &GuestImage, frame: u64) -> Option<GuestFrame> {
    match image.kind {
        GuestKind::Pv => image.mfn_to_pfn(MachineFrame(frame)),
        GuestKind::Hvm => Some(GuestFrame(frame)).filter(|p| image.pfn_to_mfn(*p).is_some()),
    }
}

fn write_virt(
    image: &mut GuestImage,
    tables: &PageTableBuilder,
    va: u64,
    bytes: &[u8],
) -> Result<(), LinuxBuildError> {
    let mut done = 0usize;
    while done < bytes.len() {
        let cur = va + done as u64;
        let (frame, off) = tables
            .lookup(VirtAddr(cur))
            .ok_or_else(|| LinuxBuildError::Description(format!("{cur:#x} is not mapped")))?;
        let pfn = pfn_of_frame(image, frame)
            .ok_or_else(|| LinuxBuildError::Description(format!("{cur:#x}: frame not in RAM")))?;
        let take = ((PAGE_SIZE - off) as usize).min(bytes.len() - done);
        image.write_bytes(pfn, off, &bytes[done..done + take])?;
        done += take;
    }
    Ok(())
}

struct Builder {
    spec: LinuxSpec,
    width: Width,
    space: Space,
    image: GuestImage,
    kt: PageTableBuilder,
    ram: Ram,
    /// Bytes of each CPU's per-CPU area.
    area_size: u64,
    /// Contents to write once the mappings are complete: (va, bytes).
    writes: Vec<(u64, Vec<u8>)>,
    /// Every page mapped at the stacks base (64-bit).
    next_stack_va: u64,
    /// Where the VMCOREINFO note goes.
    note_va: Option<u64>,
}

impl Builder {
    fn new(spec: LinuxSpec) -> Result<Builder, LinuxBuildError> {
        let width = match spec.layout.pointer_size {
            8 => Width::Bits64,
            4 => Width::Bits32,
            n => {
                return Err(LinuxBuildError::Description(format!(
                    "pointer size {n} is not x86's"
                )))
            }
        };
        let ok = matches!(
            (spec.kind, spec.mode, width),
            (_, PagingMode::FourLevel, Width::Bits64)
                | (
                    GuestKind::Hvm,
                    PagingMode::Pae | PagingMode::TwoLevel { .. },
                    Width::Bits32
                )
                | (GuestKind::Pv, PagingMode::Pae, Width::Bits32)
        );
        if !ok {
            return Err(LinuxBuildError::Unsupported {
                kind: spec.kind,
                mode: spec.mode,
            });
        }
        if spec.cpus == 0 || spec.cpus > 64 {
            return Err(LinuxBuildError::Description(format!(
                "{} CPUs (1 to 64)",
                spec.cpus
            )));
        }
        let space = Space::of(width);
        let p = spec.placement;
        let l = &spec.layout;
        let ps = l.pointer_size;
        // The image pages the builder writes: init_task, __per_cpu_offset, the banner,
        // the test's own data; then the VMCOREINFO note in pages of its own.
        let mut objects = vec![
            (p.init_task, l.task_struct_size),
            (p.per_cpu_offset, spec.cpus as u64 * ps),
            (p.linux_banner, spec.banner.len() as u64 + 1),
        ];
        objects.extend(spec.image_data.iter().map(|(va, b)| (*va, b.len() as u64)));
        if let Some(pgd) = spec.kernel_pgd {
            if pgd % PAGE_SIZE != 0 {
                return Err(LinuxBuildError::Description(format!(
                    "kernel page table at {pgd:#x}: not page-aligned"
                )));
            }
            objects.push((pgd, PAGE_SIZE));
        }
        let image_lo = objects.iter().map(|o| o.0).min().unwrap_or(0) & !(PAGE_SIZE - 1);
        let mut image_hi = objects
            .iter()
            .map(|o| o.0.saturating_add(o.1))
            .max()
            .unwrap_or(0)
            .div_ceil(PAGE_SIZE)
            * PAGE_SIZE;
        let note_va = spec.vmcoreinfo.as_ref().map(|text| {
            let at = image_hi;
            image_hi += (text.len() as u64 + 64).div_ceil(PAGE_SIZE) * PAGE_SIZE;
            at
        });
        let image_pages = (image_hi - image_lo) / PAGE_SIZE;
        if image_pages > MAX_IMAGE_PAGES {
            return Err(LinuxBuildError::Description(format!(
                "the symbols span {image_pages} pages (at most {MAX_IMAGE_PAGES})"
            )));
        }
        let image_pfn = match width {
            Width::Bits64 => IMAGE_PFN,
            // i386: the image is in the direct map, at its physical address.
            Width::Bits32 => {
                if image_lo < space.direct_map {
                    return Err(LinuxBuildError::Description(format!(
                        "i386 image at {image_lo:#x}, below PAGE_OFFSET"
                    )));
                }
                (image_lo - space.direct_map) >> PAGE_SHIFT
            }
        };
        // RAM after the image; sized from the description, plus page tables.
        let task_bytes = l.task_struct_size.div_ceil(64) * 64;
        let n = (spec.tasks.len() + spec.cpus + 1) as u64;
        let groups = spec.tasks.len() as u64 + 1;
        // Per-CPU areas hold the current-task pointer at its offset in the section.
        let var_off = p.current_task.wrapping_sub(p.per_cpu_start) & space.mask;
        let area_size = (var_off + ps).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        if area_size > 64 * PAGE_SIZE {
            return Err(LinuxBuildError::Description(format!(
                "current_task at {var_off:#x} into the per-CPU area"
            )));
        }
        // Task, stack (twice: i386 stacks are aligned to their size), a signal_struct,
        // an mm and a user page per group, the per-CPU areas.
        let data = n * (task_bytes + 2 * PAGE_SIZE * spec.stack_pages)
            + groups * 3 * PAGE_SIZE
            + spec.cpus as u64 * area_size
            + 16 * PAGE_SIZE;
        let data_pages = data.div_ceil(PAGE_SIZE);
        let tables_each = 2 * (data_pages + image_pages) / 512 + 16;
        let table_sets = if spec.process_tables { groups + 1 } else { 1 };
        let ram_pages = data_pages + table_sets * tables_each + 16;
        let ram_pfn = (image_pfn + image_pages + 16).div_ceil(16) * 16;
        let mut image = GuestImage::new(spec.kind, width);
        image.add_run(GuestFrame(0), MachineFrame(LOW_MFN), LOW_PAGES)?;
        image.add_run(GuestFrame(image_pfn), MachineFrame(IMAGE_MFN), image_pages)?;
        image.add_run(GuestFrame(ram_pfn), MachineFrame(RAM_MFN), ram_pages)?;
        let ram = Ram {
            start: ram_pfn * PAGE_SIZE,
            next: ram_pfn * PAGE_SIZE,
            end: (ram_pfn + ram_pages) * PAGE_SIZE,
        };
        let mut b = Builder {
            kt: PageTableBuilder::new(spec.mode),
            next_stack_va: space.stacks,
            spec,
            width,
            space,
            image,
            ram,
            area_size,
            writes: Vec::new(),
            note_va,
        };
        // Mappings: the image (x86_64: at its link address + KASLR), the direct map.
        let rw = EntryFlags {
            writable: true,
            ..EntryFlags::default()
        };
        if width == Width::Bits64 {
            let f = b.tf(image_pfn);
            b.kt.map(VirtAddr(image_lo), f, PageSize::Size4K, image_pages, rw)?;
        }
        let runs = b.image.frames.clone();
        for run in runs {
            let va = b.space.direct_map + run.pfn.0 * PAGE_SIZE;
            let f = b.tf(run.pfn.0);
            b.kt.map(VirtAddr(va), f, PageSize::Size4K, run.count, rw)?;
        }
        Ok(b)
    }

    /// Table-space frame of `pfn`.
    fn tf(&self, pfn: u64) -> u64 {
        match self.spec.kind {
            GuestKind::Pv => self
                .image
                .pfn_to_mfn(GuestFrame(pfn))
                .map_or(u64::MAX, |m| m.0),
            GuestKind::Hvm => pfn,
        }
    }

    /// Direct-map address of guest-physical `pa`.
    fn dm(&self, pa: u64) -> u64 {
        self.space.direct_map + pa
    }

    fn alloc(&mut self, size: u64, align: u64) -> Result<u64, LinuxBuildError> {
        let pa = self.ram.alloc(size, align)?;
        Ok(self.dm(pa))
    }

    fn put(&mut self, va: u64, bytes: &[u8]) {
        self.writes.push((va, bytes.to_vec()));
    }

    fn put_uint(&mut self, va: u64, f: Field, value: u64) {
        let n = (f.size as usize).min(8);
        self.put(va + f.offset, &value.to_le_bytes()[..n]);
    }

    fn put_ptr(&mut self, va: u64, value: u64) {
        let n = self.spec.layout.pointer_size as usize;
        self.put(va, &value.to_le_bytes()[..n]);
    }

    /// A kernel stack: (bottom, top).
    fn stack(&mut self) -> Result<(u64, u64), LinuxBuildError> {
        let pages = self.spec.stack_pages;
        let size = pages * PAGE_SIZE;
        match self.width {
            Width::Bits32 => {
                let bottom = self.alloc(size, size)?;
                Ok((bottom, bottom + size))
            }
            Width::Bits64 => {
                // vmap'ed, with an unmapped guard page below, as CONFIG_VMAP_STACK does.
                let pa = self.ram.alloc(size, PAGE_SIZE)?;
                let bottom = self.next_stack_va + PAGE_SIZE;
                self.next_stack_va = bottom + size;
                let f = self.tf(pa >> PAGE_SHIFT);
                let rw = EntryFlags {
                    writable: true,
                    ..EntryFlags::default()
                };
                self.kt
                    .map(VirtAddr(bottom), f, PageSize::Size4K, pages, rw)?;
                Ok((bottom, bottom + size))
            }
        }
    }

    fn run(mut self) -> Result<LinuxGuest, LinuxBuildError> {
        let spec = self.spec.clone();
        let l = spec.layout.clone();
        let ps = l.pointer_size;
        let mask = self.space.mask;
        // Check the description.
        let mut pids = BTreeSet::new();
        for t in &spec.tasks {
            if t.pid <= 0 || !pids.insert(t.pid) {
                return Err(LinuxBuildError::Description(format!(
                    "pid {} is zero, negative or repeated",
                    t.pid
                )));
            }
            if t.cpu as usize >= spec.cpus {
                return Err(LinuxBuildError::Description(format!(
                    "pid {} on CPU {} of {}",
                    t.pid, t.cpu, spec.cpus
                )));
            }
        }
        for t in &spec.tasks {
            if !spec
                .tasks
                .iter()
                .any(|x| x.pid == t.tgid && x.tgid == t.tgid)
            {
                return Err(LinuxBuildError::Description(format!(
                    "pid {}: no leader for thread group {}",
                    t.pid, t.tgid
                )));
            }
        }
        let mut current: Vec<Option<usize>> = vec![None; spec.cpus];

        // The tasks: init_task, the described ones, then idle tasks.
        let mut tasks: Vec<BuiltTask> = Vec::new();
        let width = self.width;
        let kdesc = |pid: i32, cpu: u32, comm: String| TaskDesc {
            pid,
            tgid: 0,
            ppid: 0,
            comm,
            state: 0,
            exit_state: 0,
            cpu,
            running: false,
            user: false,
            frame: FrameRegs::pattern(1000 + cpu as i32, width),
            calls: Vec::new(),
        };
        let init = BuiltTask {
            desc: kdesc(0, 0, "swapper/0".into()),
            address: spec.placement.init_task,
            stack: 0,
            thread_sp: 0,
            mm: 0,
            pgd: None,
            root: None,
            signal: 0,
            listed: true,
            current_on: None,
        };
        tasks.push(init);
        let task_bytes = l.task_struct_size;
        for (i, d) in spec.tasks.iter().enumerate() {
            let address = self.alloc(task_bytes, 64)?;
            if d.running {
                if current[d.cpu as usize].is_some() {
                    return Err(LinuxBuildError::Description(format!(
                        "two tasks run on CPU {}",
                        d.cpu
                    )));
                }
                current[d.cpu as usize] = Some(i + 1);
            }
            tasks.push(BuiltTask {
                desc: d.clone(),
                address,
                stack: 0,
                thread_sp: 0,
                mm: 0,
                pgd: None,
                root: None,
                signal: 0,
                listed: true,
                current_on: None,
            });
        }
        for cpu in 0..spec.cpus {
            if current[cpu].is_some() {
                continue;
            }
            if cpu == 0 {
                current[0] = Some(0);
                continue;
            }
            let address = self.alloc(task_bytes, 64)?;
            tasks.push(BuiltTask {
                desc: kdesc(0, cpu as u32, format!("swapper/{cpu}")),
                address,
                stack: 0,
                thread_sp: 0,
                mm: 0,
                pgd: None,
                root: None,
                signal: 0,
                listed: false,
                current_on: None,
            });
            current[cpu] = Some(tasks.len() - 1);
        }
        for (cpu, t) in current.iter().enumerate() {
            if let Some(i) = *t {
                tasks[i].current_on = Some(cpu);
                tasks[i].desc.running = true;
                tasks[i].desc.cpu = cpu as u32;
            }
        }

        // Stacks and frames.
        for t in tasks.iter_mut() {
            let (bottom, top) = self.stack()?;
            t.stack = bottom;
            let frame_size = l.frame.as_ref().map_or(2 * ps, |f| f.size);
            t.thread_sp = top - FRAME_GAP - frame_size;
            if !t.desc.calls.is_empty() {
                if t.desc.calls.len() as u64 * 2 * ps > FRAME_GAP {
                    return Err(LinuxBuildError::Description(format!(
                        "pid {}: {} calls do not fit above its switch frame",
                        t.desc.pid,
                        t.desc.calls.len()
                    )));
                }
                t.desc.frame.bp = t.thread_sp + frame_size;
            }
        }

        // Thread groups: a signal_struct each (init_task's too), an mm per process.
        let signal_size = 2048u64;
        let mut group_signal: HashMap<i32, u64> = HashMap::new();
        let mut group_mm: HashMap<i32, u64> = HashMap::new();
        let init_signal = self.alloc(signal_size, 64)?;
        group_signal.insert(0, init_signal);
        let init_mm = self.alloc(PAGE_SIZE, 64)?;
        for t in &spec.tasks {
            if t.pid == t.tgid {
                let s = self.alloc(signal_size, 64)?;
                group_signal.insert(t.tgid, s);
                if t.user {
                    let m = self.alloc(PAGE_SIZE, 64)?;
                    group_mm.insert(t.tgid, m);
                }
            }
        }
        for t in tasks.iter_mut() {
            t.signal = if t.listed {
                group_signal[&t.desc.tgid]
            } else {
                init_signal
            };
            if t.desc.user {
                t.mm = *group_mm.get(&t.desc.tgid).ok_or_else(|| {
                    LinuxBuildError::Description(format!(
                        "pid {}: a user thread of a kernel-thread group",
                        t.desc.pid
                    ))
                })?;
            }
        }

        // Per-CPU areas.
        let p = spec.placement;
        let var_off = p.current_task.wrapping_sub(p.per_cpu_start) & mask;
        let area_size = self.area_size;
        let mut per_cpu_area = Vec::new();
        for cpu in 0..spec.cpus {
            let area = self.alloc(area_size, PAGE_SIZE)?;
            per_cpu_area.push(area);
            self.put_ptr(
                p.per_cpu_offset + cpu as u64 * ps,
                area.wrapping_sub(p.per_cpu_start) & mask,
            );
            let cur = tasks[current[cpu].unwrap_or(0)].address;
            self.put_ptr(area + var_off, cur);
        }

        // User pages, one per process.
        let mut user_page: HashMap<i32, u64> = HashMap::new();
        if spec.process_tables {
            for t in &spec.tasks {
                if t.pid == t.tgid && t.user {
                    let pa = self.ram.alloc(PAGE_SIZE, PAGE_SIZE)?;
                    let va = self.dm(pa);
                    self.put(va, &LinuxFacts::user_value(t.tgid).to_le_bytes());
                    user_page.insert(t.tgid, pa);
                }
            }
        }

        // The lists.
        let leaders: Vec<usize> = (0..tasks.len())
            .filter(|&i| tasks[i].listed && tasks[i].desc.pid == tasks[i].desc.tgid)
            .collect();
        // tasks: init_task → leaders (described order) → back to init_task.
        let ring = |b: &mut Builder, nodes: &[u64]| {
            for (k, &node) in nodes.iter().enumerate() {
                let next = nodes[(k + 1) % nodes.len()];
                let prev = nodes[(k + nodes.len() - 1) % nodes.len()];
                b.put_ptr(node + l.list_next, next);
                b.put_ptr(node + l.list_prev, prev);
            }
        };
        let tasks_nodes: Vec<u64> = leaders
            .iter()
            .map(|&i| tasks[i].address + l.tasks)
            .collect();
        ring(&mut self, &tasks_nodes);
        let mut walk_order = Vec::new();
        for &lead in &leaders {
            let tgid = tasks[lead].desc.tgid;
            let group: Vec<usize> = std::iter::once(lead)
                .chain(
                    (0..tasks.len())
                        .filter(|&i| i != lead && tasks[i].listed && tasks[i].desc.tgid == tgid),
                )
                .collect();
            walk_order.extend(&group);
            match l.threads {
                ThreadList::SignalThreadHead {
                    thread_head,
                    thread_node,
                    ..
                } => {
                    let head = tasks[lead].signal + thread_head;
                    let nodes: Vec<u64> = std::iter::once(head)
                        .chain(group.iter().map(|&i| tasks[i].address + thread_node))
                        .collect();
                    ring(&mut self, &nodes);
                }
                ThreadList::ThreadGroup { thread_group } => {
                    let nodes: Vec<u64> = group
                        .iter()
                        .map(|&i| tasks[i].address + thread_group)
                        .collect();
                    ring(&mut self, &nodes);
                }
                ThreadList::None => {}
            }
        }
        // Idle tasks link to themselves, as a copied-but-unlisted task would.
        for t in tasks.iter().filter(|t| !t.listed) {
            let node = t.address + l.tasks;
            self.put_ptr(node + l.list_next, node);
            self.put_ptr(node + l.list_prev, node);
        }
        walk_order.extend((0..tasks.len()).filter(|&i| !tasks[i].listed));

        // Page tables: the kernel's, then each process's (kernel + its user page).
        let mut all_tables = Vec::new();
        let kernel_built = {
            let mut alloc_err = None;
            let built = self
                .kt
                .build(|| match self.ram.alloc(PAGE_SIZE, PAGE_SIZE) {
                    Ok(pa) => match spec.kind {
                        GuestKind::Pv => {
                            RAM_MFN + ((pa >> PAGE_SHIFT) - self.ram.start / PAGE_SIZE)
                        }
                        GuestKind::Hvm => pa >> PAGE_SHIFT,
                    },
                    Err(e) => {
                        alloc_err = Some(e);
                        0
                    }
                })?;
            if let Some(e) = alloc_err {
                return Err(e);
            }
            built
        };
        let mut kernel_built = kernel_built;
        let mut kernel_root = kernel_built.root;
        if let Some(pgd) = spec.kernel_pgd {
            // The same top-level table, in the image page the symbol names.
            let (frame, _) = self.kt.lookup(VirtAddr(pgd)).ok_or_else(|| {
                LinuxBuildError::Description(format!("kernel page table {pgd:#x} is not mapped"))
            })?;
            let root_page = kernel_built
                .pages
                .iter()
                .find(|(f, _)| *f == kernel_root.frame)
                .map(|(_, p)| p.clone())
                .ok_or_else(|| LinuxBuildError::Description("no root table page".into()))?;
            kernel_built.pages.push((frame, root_page));
            kernel_root = Root {
                frame,
                offset: kernel_root.offset,
            };
        }
        all_tables.push(kernel_built);
        let mut roots: HashMap<i32, Root> = HashMap::new();
        if spec.process_tables {
            let mut tgids: Vec<i32> = user_page.keys().copied().collect();
            tgids.sort_unstable();
            for tgid in tgids {
                let mut ut = self.kt.clone();
                let f = self.tf(user_page[&tgid] >> PAGE_SHIFT);
                ut.map(
                    VirtAddr(self.space.user),
                    f,
                    PageSize::Size4K,
                    1,
                    EntryFlags {
                        writable: true,
                        user: true,
                        ..EntryFlags::default()
                    },
                )?;
                let mut alloc_err = None;
                let start = self.ram.start;
                let kind = spec.kind;
                let built = ut.build(|| match self.ram.alloc(PAGE_SIZE, PAGE_SIZE) {
                    Ok(pa) => match kind {
                        GuestKind::Pv => RAM_MFN + ((pa - start) >> PAGE_SHIFT),
                        GuestKind::Hvm => pa >> PAGE_SHIFT,
                    },
                    Err(e) => {
                        alloc_err = Some(e);
                        0
                    }
                })?;
                if let Some(e) = alloc_err {
                    return Err(e);
                }
                roots.insert(tgid, built.root);
                all_tables.push(built);
            }
        }
        let root_va = |b: &Builder, r: Root| -> u64 {
            let pfn = match spec.kind {
                GuestKind::Pv => b.image.mfn_to_pfn(MachineFrame(r.frame)).map_or(0, |p| p.0),
                GuestKind::Hvm => r.frame,
            };
            b.dm(pfn * PAGE_SIZE + u64::from(r.offset))
        };
        let kernel_pgd = root_va(&self, kernel_root);

        // init_mm and the process mm_structs.
        self.put_ptr(init_mm + l.mm_pgd.offset, kernel_pgd);
        for (tgid, &mm) in &group_mm {
            let pgd = match roots.get(tgid) {
                Some(&r) => root_va(&self, r),
                None => kernel_pgd,
            };
            self.put_ptr(mm + l.mm_pgd.offset, pgd);
        }
        for t in tasks.iter_mut() {
            if t.desc.user {
                t.root = Some(roots.get(&t.desc.tgid).copied().unwrap_or(kernel_root));
                t.pgd = Some(match roots.get(&t.desc.tgid) {
                    Some(&r) => root_va(&self, r),
                    None => kernel_pgd,
                });
            }
        }

        // The task_structs and their frames.
        let leader_of: HashMap<i32, u64> = leaders
            .iter()
            .map(|&i| (tasks[i].desc.tgid, tasks[i].address))
            .collect();
        for t in &tasks {
            let a = t.address;
            let d = &t.desc;
            self.put_uint(a, l.pid, d.pid as u32 as u64);
            self.put_uint(a, l.tgid, d.tgid as u32 as u64);
            let mut comm = vec![0u8; l.comm.size as usize];
            let n = d.comm.len().min(comm.len().saturating_sub(1));
            comm[..n].copy_from_slice(&d.comm.as_bytes()[..n]);
            self.put(a + l.comm.offset, &comm);
            self.put_uint(a, l.state, u64::from(d.state));
            if let Some(f) = l.exit_state {
                self.put_uint(a, f, u64::from(d.exit_state));
            }
            if let Some(f) = l.flags {
                let mut flags = if d.user { 0x40_0040 } else { PF_KTHREAD | 0x40 };
                if d.pid == 0 {
                    flags |= PF_IDLE;
                }
                self.put_uint(a, f, flags);
            }
            if let Some(f) = l.on_cpu {
                self.put_uint(a, f, u64::from(t.current_on.is_some()));
            }
            if let Some(f) = l.stack {
                self.put_uint(a, f, t.stack);
            }
            match l.cpu {
                Some(CpuField::Task(f) | CpuField::ThreadInfoInTask(f)) => {
                    self.put_uint(a, f, u64::from(d.cpu))
                }
                Some(CpuField::ThreadInfoOnStack(f)) => self.put_uint(t.stack, f, u64::from(d.cpu)),
                None => {}
            }
            let mm = t.mm;
            self.put_uint(a, l.mm, mm);
            if let Some(f) = l.active_mm {
                self.put_uint(a, f, if mm != 0 { mm } else { init_mm });
            }
            if let Some(f) = l.real_parent {
                let parent = if d.pid == 0 {
                    spec.placement.init_task
                } else {
                    leader_of
                        .get(&d.ppid)
                        .copied()
                        .unwrap_or(spec.placement.init_task)
                };
                self.put_uint(a, f, parent);
            }
            if let ThreadList::SignalThreadHead { signal, .. } = l.threads {
                self.put_uint(a, signal, t.signal);
            }
            self.put_uint(a, l.thread_sp, t.thread_sp);
            // The callers' frames: (saved frame pointer, return address) pairs.
            for (k, &ret) in d.calls.iter().enumerate() {
                let at = d.frame.bp + k as u64 * 2 * ps;
                let next = if k + 1 < d.calls.len() {
                    at + 2 * ps
                } else {
                    0
                };
                self.put_ptr(at, next);
                self.put_ptr(at + ps, ret);
            }
            match &l.frame {
                Some(FrameLayout { members, .. }) => {
                    for (name, f) in members {
                        if let Some(v) = d.frame.member(name) {
                            self.put_uint(t.thread_sp, *f, v);
                        }
                    }
                }
                None => {
                    // Before 4.9 (i386): thread.ip, and ebp and eflags pushed at thread.sp.
                    if let Some(f) = l.thread_ip {
                        self.put_uint(a, f, d.frame.ret_addr);
                    }
                    self.put_ptr(t.thread_sp, d.frame.bp);
                    self.put_ptr(t.thread_sp + ps, d.frame.flags);
                }
            }
        }

        // The banner, the test's data, the VMCOREINFO note.
        let mut banner = spec.banner.clone().into_bytes();
        banner.push(0);
        self.put(p.linux_banner, &banner);
        for (va, bytes) in &spec.image_data {
            self.put(*va, bytes);
        }
        if let (Some(va), Some(text)) = (self.note_va, &spec.vmcoreinfo) {
            let note = super::scenario::vmcoreinfo_note(text);
            self.put(va, &note);
        }

        // Everything is mapped: write the contents, then the tables.
        for (va, bytes) in std::mem::take(&mut self.writes) {
            write_virt(&mut self.image, &self.kt, va, &bytes)?;
        }
        for built in &all_tables {
            for (frame, page) in &built.pages {
                let pfn = pfn_of_frame(&self.image, *frame).ok_or_else(|| {
                    LinuxBuildError::Description(format!("table frame {frame:#x} not in RAM"))
                })?;
                self.image.set_page(pfn, page)?;
            }
        }

        // vCPUs: each runs its current task, on that task's page tables.
        let (cs, ss) = match (spec.kind, self.width) {
            (GuestKind::Pv, Width::Bits64) => (0xe033u16, 0xe02bu16),
            (GuestKind::Pv, Width::Bits32) => (0x0061, 0x0069),
            (GuestKind::Hvm, Width::Bits64) => (0x0010, 0x0018),
            (GuestKind::Hvm, Width::Bits32) => (0x0060, 0x0068),
        };
        let (cr0, cr4) = match spec.mode {
            PagingMode::TwoLevel { .. } => (0x8005_0033u64, 0x0000_0690u64),
            PagingMode::Pae => (0x8005_0033, 0x0000_06b0),
            _ => (0x8005_0033, 0x0035_06f0),
        };
        let mut vcpu_sp = Vec::new();
        let mut vcpu_ip = Vec::new();
        for cpu in 0..spec.cpus {
            let t = &tasks[current[cpu].unwrap_or(0)];
            let mut v = VcpuImage::online();
            if spec.kind == GuestKind::Pv {
                v.flags |= VGCF_IN_KERNEL;
            }
            let sp = t.thread_sp - 0x100;
            let ip = (t.desc.frame.ret_addr + 0x40) & mask;
            v.gprs.rsp = sp;
            v.gprs.rbp = sp + 0x40;
            v.gprs.rax = 0xa000 + cpu as u64;
            v.rip = ip;
            v.rflags = 0x246;
            v.selectors.cs = cs;
            v.selectors.ss = ss;
            let root = t.root.unwrap_or(kernel_root);
            // The CR3 Xen stores, encoded by the builder's own statement of x86.
            let cr3 = match (spec.kind, self.width) {
                (GuestKind::Pv, Width::Bits64) => x86::xen_cr3_64(root.frame),
                (GuestKind::Pv, Width::Bits32) => x86::xen_cr3_32(root.frame),
                (GuestKind::Hvm, _) => {
                    let table = root.frame * PAGE_SIZE + u64::from(root.offset);
                    x86::architectural_cr3(spec.mode, table).ok_or_else(|| {
                        LinuxBuildError::Description(format!("root {root} has no CR3 encoding"))
                    })?
                }
            };
            v.ctrlreg = [cr0, 0, 0, cr3, cr4, 0, 0, 0];
            if spec.kind == GuestKind::Hvm {
                v.efer = x86::efer_for(spec.mode);
            }
            if self.width == Width::Bits64 {
                v.gs_base_kernel = per_cpu_area[cpu];
            }
            vcpu_sp.push(sp);
            vcpu_ip.push(ip);
            self.image.push_vcpu(v);
        }

        let facts = LinuxFacts {
            tasks,
            walk_order,
            per_cpu_area,
            kernel_root,
            direct_map: self.space.direct_map,
            user_va: self.space.user,
            unmapped_va: self.space.unmapped,
            vcpu_sp,
            vcpu_ip,
            vmcoreinfo_va: self.note_va,
        };
        Ok(LinuxGuest {
            image: self.image,
            kernel_tables: self.kt,
            spec,
            facts,
        })
    }
}

/// A made-up kernel (6.1-like member set, offsets of no real build) for tests and
/// fuzzing that cannot compile the C fixture: a layout, where its symbols are, and
/// the spec of a small guest with processes, threads and kernel threads.
pub fn synthetic_kernel(width: Width) -> (KernelLayout, KernelPlacement) {
    let ps = match width {
        Width::Bits64 => 8,
        Width::Bits32 => 4,
    };
    let f = Field::new;
    let frame = match width {
        Width::Bits64 => ["r15", "r14", "r13", "r12", "bx", "bp", "ret_addr"].as_slice(),
        Width::Bits32 => ["flags", "si", "di", "bx", "bp", "ret_addr"].as_slice(),
    };
    let layout = KernelLayout {
        pointer_size: ps,
        task_struct_size: 0x900,
        list_next: 0,
        list_prev: ps,
        tasks: 0x380,
        pid: f(0x4d0, 4),
        tgid: f(0x4d4, 4),
        comm: f(0x6c0, 16),
        state: f(0x18, 4),
        exit_state: Some(f(0x470, 4)),
        flags: Some(f(0x2c, 4)),
        on_cpu: Some(f(0x34, 4)),
        cpu: Some(CpuField::ThreadInfoInTask(f(0x14, 4))),
        mm: f(0x460, ps),
        active_mm: Some(f(0x460 + ps, ps)),
        stack: Some(f(0x20, ps)),
        real_parent: Some(f(0x4e0, ps)),
        thread_sp: f(0x818, ps),
        thread_ip: None,
        threads: ThreadList::SignalThreadHead {
            signal: f(0x710, ps),
            thread_head: 0x10,
            thread_node: 0x598,
        },
        mm_pgd: f(0x70, ps),
        frame: Some(FrameLayout {
            size: frame.len() as u64 * ps,
            members: frame
                .iter()
                .enumerate()
                .map(|(i, n)| (n.to_string(), f(i as u64 * ps, ps)))
                .collect(),
        }),
    };
    let (base, percpu_start) = match width {
        Width::Bits64 => (0xffff_ffff_8300_0000u64, 0u64),
        Width::Bits32 => (0xc180_0000u64, 0xc180_8000u64),
    };
    let placement = KernelPlacement {
        init_task: base + 0x1000,
        per_cpu_offset: base + 0x4000,
        per_cpu_start: percpu_start,
        current_task: percpu_start + 0x40,
        linux_banner: base,
    };
    (layout, placement)
}

/// A small spec on the synthetic kernel: two CPUs, init (pid 1) running on CPU 1, a
/// three-thread process, a zombie, a stopped process and kernel threads.
pub fn synthetic_spec(kind: GuestKind, width: Width) -> LinuxSpec {
    let (layout, placement) = synthetic_kernel(width);
    let mode = match width {
        Width::Bits64 => PagingMode::FourLevel,
        Width::Bits32 => PagingMode::Pae,
    };
    LinuxSpec::new(kind, mode, layout, placement, 2, sample_tasks(width))
}

/// The tasks of [`synthetic_spec`], usable with any layout.
pub fn sample_tasks(width: Width) -> Vec<TaskDesc> {
    vec![
        TaskDesc::process(1, 0, "systemd", width).running_on(1),
        TaskDesc::kthread(2, "kthreadd", width),
        TaskDesc::kthread(3, "rcu_gp", width).on(1),
        TaskDesc::process(94, 1, "acc_spinner", width).with_state(2, 0),
        TaskDesc::thread(95, 94, 1, "acc_worker", width).on(1),
        TaskDesc::thread(96, 94, 1, "acc_worker", width).with_state(0x402, 0),
        TaskDesc::process(120, 1, "defunct", width).with_state(0, 0x20),
        TaskDesc::process(121, 94, "stopped", width).with_state(4, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::linux::tasks::{saved_registers, walk_tasks, KernelAddresses, WalkOptions};

    fn addrs(p: &KernelPlacement) -> KernelAddresses {
        KernelAddresses {
            init_task: p.init_task,
            per_cpu_offset: Some(p.per_cpu_offset),
            current_task: Some(p.current_task),
        }
    }

    #[test]
    fn the_walker_reads_back_the_synthetic_kernel_from_the_description() {
        for width in [Width::Bits64, Width::Bits32] {
            let g = LinuxGuest::build(synthetic_spec(GuestKind::Hvm, width)).unwrap();
            let l = &g.spec.layout;
            let opts = WalkOptions::new(l, g.spec.cpus);
            let w = walk_tasks(&g, l, &addrs(&g.spec.placement), &opts);
            assert!(w.complete, "{:?}", w.warnings);
            assert!(w.warnings.is_empty(), "{:?}", w.warnings);
            let want: Vec<u64> = g
                .facts
                .walk_order
                .iter()
                .map(|&i| g.facts.tasks[i].address)
                .collect();
            let got: Vec<u64> = w.tasks.iter().map(|t| t.address).collect();
            assert_eq!(got, want);
            for t in &w.tasks {
                let b = g.facts.task_at(t.address).unwrap();
                assert_eq!(
                    (t.pid, t.tgid, &t.comm),
                    (b.desc.pid, b.desc.tgid, &b.desc.comm)
                );
                assert_eq!(t.running_on, b.current_on);
                assert_eq!(t.pgd, b.pgd);
                assert_eq!(t.kernel_thread, !b.desc.user);
                if b.current_on.is_none() {
                    let r = saved_registers(&g, l, &opts, t).unwrap();
                    assert_eq!(r.ip, Some(b.desc.frame.ret_addr));
                    assert_eq!(r.bx, Some(b.desc.frame.bx));
                }
            }
        }
    }

    #[test]
    fn descriptions_that_are_not_a_kernel_are_refused() {
        let mut spec = synthetic_spec(GuestKind::Hvm, Width::Bits64);
        spec.tasks
            .push(TaskDesc::thread(300, 299, 1, "orphan", Width::Bits64));
        let e = LinuxGuest::build(spec).unwrap_err().to_string();
        assert!(e.contains("no leader for thread group 299"), "{e}");
        let mut spec = synthetic_spec(GuestKind::Hvm, Width::Bits64);
        spec.tasks
            .push(TaskDesc::process(5, 1, "x", Width::Bits64).running_on(1));
        let e = LinuxGuest::build(spec).unwrap_err().to_string();
        assert!(e.contains("two tasks run on CPU 1"), "{e}");
        let mut spec = synthetic_spec(GuestKind::Hvm, Width::Bits64);
        spec.mode = PagingMode::Pae;
        assert!(matches!(
            LinuxGuest::build(spec),
            Err(LinuxBuildError::Unsupported { .. })
        ));
    }
}
