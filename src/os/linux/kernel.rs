//! A Linux guest as a debugger shows it: its `vmlinux` checked against the dump, the
//! KASLR offset, and every task with the registers and the address space a debugger
//! thread of it has.
//!
//! [`LinuxKernel::open`] does everything once, at start-up: it finds the guest's
//! VMCOREINFO, refuses a vmlinux of another build (release, build-id, banner), takes
//! the KASLR offset from `KERNELOFFSET`, relocates the symbols the walker starts from,
//! walks the tasks ([`super::tasks`], bounded) and prepares for each task:
//!
//! * **registers**: a task that is some CPU's current task runs on that vCPU and has
//!   its registers; any other task has those its last context switch saved
//!   ([`saved_registers`]), the rest unavailable;
//! * **address space**: user tasks translate through their own `mm->pgd`, a kernel
//!   virtual address turned into a table root by translating it through the kernel's
//!   tables (for a PV guest that gives the machine frame its page tables use, for HVM
//!   the guest frame); kernel threads, and tasks whose `pgd` cannot be followed, use
//!   the kernel's tables.
//!
//! What could not be followed is listed in [`LinuxKernel::warnings`]; the kernel view
//! is still built (the vCPUs are served whatever the tasks look like).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::addr::VirtAddr;
use crate::kinds::Width;
use crate::memory::{AddressSpace, Guest, PagingMode, Root, TranslationCache, Via};
use crate::os::KernelMemory;

use super::debuginfo::{sym, DebugInfo, DebugInfoError, KernelArch};
use super::kernel_map::KernelMap;
use super::layout::KernelLayout;
use super::tasks::{
    saved_registers, walk_tasks, KernelAddresses, SavedRegisters, TaskWalk, WalkLimits, WalkOptions,
};
use super::vmcoreinfo::{find_vmcoreinfo, ScanDepth, VmcoreInfo};

/// Warnings about single tasks kept at most (later ones are counted).
const MAX_TASK_WARNINGS: usize = 32;
/// Slots of the translation cache used while walking.
const WALK_CACHE_SLOTS: usize = 1024;

/// Kernel virtual memory through one of the guest's address spaces: how the OS layer
/// reads a dump.
pub struct GuestKernelMemory<'g> {
    guest: &'g Guest,
    space: AddressSpace,
    cache: RefCell<TranslationCache>,
}

impl<'g> GuestKernelMemory<'g> {
    /// Read through `space` with a cache of `slots` translations.
    pub fn new(guest: &'g Guest, space: AddressSpace, slots: usize) -> Self {
        GuestKernelMemory {
            guest,
            space,
            cache: RefCell::new(TranslationCache::new(slots)),
        }
    }
}

impl KernelMemory for GuestKernelMemory<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
        self.guest.read(
            &mut self.cache.borrow_mut(),
            Via::Virtual(&self.space),
            addr,
            buf,
        )
    }
}

/// Why a vmlinux cannot be used with a dump.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The file is unreadable, not a kernel with debug information, or another build.
    #[error(transparent)]
    DebugInfo(#[from] DebugInfoError),
    /// The vmlinux is for the other x86 width.
    #[error("{path} is a {file} kernel, but the dumped guest is {guest}")]
    WidthMismatch {
        path: String,
        file: &'static str,
        guest: &'static str,
    },
    /// No vCPU's page tables map the kernel.
    #[error("no vCPU's page tables map the kernel (init_task at {init_task:#x} is unreadable through every vCPU)")]
    NoKernelSpace { init_task: u64 },
}

/// Where the KASLR offset came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum OffsetSource {
    /// VMCOREINFO's `KERNELOFFSET`.
    Vmcoreinfo,
    /// No VMCOREINFO (or none with `KERNELOFFSET`): the banner was found at its link
    /// address, so the kernel was not moved.
    BannerAtLinkAddress,
}

impl OffsetSource {
    /// Short description for people.
    pub fn describe(self) -> &'static str {
        match self {
            OffsetSource::Vmcoreinfo => "VMCOREINFO KERNELOFFSET",
            OffsetSource::BannerAtLinkAddress => {
                "no KERNELOFFSET in the guest; linux_banner is at its link address"
            }
        }
    }
}

/// A task's registers, as a debugger thread shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TaskRegisters {
    /// It is the current task of this vCPU: the vCPU's registers are its.
    OnVcpu(usize),
    /// What its switch frame saved (possibly nothing: then every register is
    /// unavailable, and [`TaskView::registers_error`] says why).
    Saved(SavedRegisters),
}

/// Which page tables a task's virtual addresses go through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TaskSpace {
    /// The vCPU it runs on (its tables are loaded there).
    Vcpu(usize),
    /// Its own `mm->pgd`.
    Own,
    /// The kernel's tables: a kernel thread, or a user task whose `pgd` could not be
    /// followed (then [`TaskView::space_error`] says why).
    Kernel,
}

/// What a debugger thread of one task shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskView {
    /// Registers.
    pub registers: TaskRegisters,
    /// Why no saved registers could be read, if so.
    pub registers_error: Option<String>,
    /// Which tables its addresses go through.
    pub space_kind: TaskSpace,
    /// Those tables.
    #[serde(skip)]
    pub space: AddressSpace,
    /// Why its own tables could not be used, if so.
    pub space_error: Option<String>,
}

/// How to open a kernel.
#[derive(Clone, Copy, Debug)]
pub struct KernelOptions {
    /// How far to look for VMCOREINFO.
    pub vmcoreinfo: ScanDepth,
    /// Bounds of the task walk.
    pub limits: WalkLimits,
}

impl Default for KernelOptions {
    fn default() -> Self {
        KernelOptions {
            vmcoreinfo: ScanDepth::Full,
            limits: WalkLimits::default(),
        }
    }
}

/// A Linux guest's kernel, its vmlinux and its tasks (see the module doc).
#[derive(Clone, Debug, Serialize)]
pub struct LinuxKernel {
    /// The vmlinux.
    pub vmlinux: String,
    /// Its release (`uname -r`).
    pub release: Option<String>,
    /// Its build-id, in hex.
    pub build_id: Option<String>,
    /// The guest's VMCOREINFO, if found.
    #[serde(skip)]
    pub vmcoreinfo: Option<VmcoreInfo>,
    /// The KASLR offset every symbol is moved by.
    pub kaslr_offset: u64,
    /// Where it came from.
    pub offset_source: OffsetSource,
    /// Is `.data..percpu` linked at 0 (x86_64 before Linux 6.15: gdb must keep it there
    /// when relocating the symbol file)?
    pub percpu_zero_based: bool,
    /// The struct layout the walker used.
    #[serde(skip)]
    pub layout: KernelLayout,
    /// The relocated addresses it started from.
    pub addresses: KernelAddresses,
    /// The kernel's page tables (a vCPU's, without user-only parts).
    #[serde(skip)]
    pub kernel_space: AddressSpace,
    /// The tasks, in the walker's order.
    pub walk: TaskWalk,
    /// Registers and address space of each task of `walk.tasks`, in the same order.
    pub views: Vec<TaskView>,
    /// What could not be followed, walk warnings first.
    pub warnings: Vec<String>,
    /// Wall time of [`LinuxKernel::open`] after the vmlinux was read.
    pub elapsed: Duration,
}

impl LinuxKernel {
    /// Check `info` against the dump, find the KASLR offset, walk the tasks and prepare
    /// their registers and address spaces (see the module doc).
    pub fn open(
        guest: &Guest,
        info: &DebugInfo,
        opts: &KernelOptions,
    ) -> Result<LinuxKernel, KernelError> {
        let started = Instant::now();
        let wide = guest.guest_width() == Width::Bits64;
        if wide != (info.arch() == KernelArch::X86_64) {
            let name = |w: bool| {
                if w {
                    "64-bit (x86_64)"
                } else {
                    "32-bit (i386)"
                }
            };
            return Err(KernelError::WidthMismatch {
                path: info.path().display().to_string(),
                file: name(!wide),
                guest: name(wide),
            });
        }
        let map = KernelMap::detect(guest);
        let vmcoreinfo = find_vmcoreinfo(guest, &map, opts.vmcoreinfo);
        if let Some(v) = &vmcoreinfo {
            info.check_matches(v.osrelease(), v.get("BUILD-ID"))?;
        }
        let layout = info.kernel_layout()?;
        let (kaslr_offset, offset_source) =
            match vmcoreinfo.as_ref().and_then(|v| v.kernel_offset()) {
                Some(off) => (off, OffsetSource::Vmcoreinfo),
                None => (0, OffsetSource::BannerAtLinkAddress),
            };
        let addresses = KernelAddresses::from_debuginfo(info, kaslr_offset)?;
        let kernel_space =
            kernel_space(guest, addresses.init_task).ok_or(KernelError::NoKernelSpace {
                init_task: addresses.init_task,
            })?;
        let mem = GuestKernelMemory::new(guest, kernel_space, WALK_CACHE_SLOTS);
        check_banner(&mem, info, kaslr_offset, vmcoreinfo.is_some())?;

        let mut wopts = WalkOptions::new(&layout, guest.vcpus().len());
        wopts.limits = opts.limits;
        let walk = walk_tasks(&mem, &layout, &addresses, &wopts);
        let mut warnings = walk.warnings.clone();
        let mut task_warnings = TaskWarnings::default();
        let mut views = Vec::with_capacity(walk.tasks.len());
        for t in &walk.tasks {
            let what = format!("pid {} ({})", t.pid, t.comm);
            let (registers, registers_error) = match t.running_on {
                Some(cpu) => (TaskRegisters::OnVcpu(cpu), None),
                None => match saved_registers(&mem, &layout, &wopts, t) {
                    Ok(r) => (TaskRegisters::Saved(r), None),
                    Err(e) => {
                        task_warnings.push(format!("{what}: no saved registers: {e}"));
                        (
                            TaskRegisters::Saved(SavedRegisters::default()),
                            Some(e.to_string()),
                        )
                    }
                },
            };
            let (space_kind, space, space_error) = match (t.running_on, t.pgd) {
                (Some(cpu), _) => match guest.vcpu_space(cpu) {
                    Some(s) => (TaskSpace::Vcpu(cpu), *s, None),
                    None => (TaskSpace::Kernel, kernel_space, None),
                },
                (None, Some(pgd)) => match own_space(guest, &mem, &kernel_space, pgd) {
                    Ok(s) => (TaskSpace::Own, s, None),
                    Err(e) => {
                        task_warnings.push(format!("{what}: user memory unreadable: {e}"));
                        (TaskSpace::Kernel, kernel_space, Some(e))
                    }
                },
                (None, None) => (TaskSpace::Kernel, kernel_space, None),
            };
            views.push(TaskView {
                registers,
                registers_error,
                space_kind,
                space,
                space_error,
            });
        }
        warnings.extend(task_warnings.finish());
        Ok(LinuxKernel {
            vmlinux: info.path().display().to_string(),
            release: info.release().map(str::to_string),
            build_id: info.build_id_hex(),
            vmcoreinfo,
            kaslr_offset,
            offset_source,
            percpu_zero_based: info
                .symbol(sym::PER_CPU_START)
                .is_some_and(|s| info.is_zero_based_percpu(s)),
            layout,
            addresses,
            kernel_space,
            walk,
            views,
            warnings,
            elapsed: started.elapsed(),
        })
    }

    /// The gdb command that loads the vmlinux at the address the kernel ran at.
    pub fn gdb_command(&self) -> String {
        gdb_load_command(&self.vmlinux, self.kaslr_offset, self.percpu_zero_based)
    }
}

/// The gdb command that loads `vmlinux` moved by `offset`; x86_64's zero-based per-CPU
/// section must stay at 0 (gdb would move it too).
pub fn gdb_load_command(vmlinux: &str, offset: u64, percpu_zero_based: bool) -> String {
    match (offset, percpu_zero_based) {
        (0, _) => format!("file {vmlinux}"),
        (off, true) => format!("add-symbol-file {vmlinux} -o {off:#x} -s .data..percpu 0"),
        (off, false) => format!("add-symbol-file {vmlinux} -o {off:#x}"),
    }
}

/// Per-task warnings, at most [`MAX_TASK_WARNINGS`] of them.
#[derive(Default)]
struct TaskWarnings {
    kept: Vec<String>,
    more: usize,
}

impl TaskWarnings {
    fn push(&mut self, w: String) {
        if self.kept.len() < MAX_TASK_WARNINGS {
            self.kept.push(w);
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.kept
                .push(format!("… and {} more task warnings", self.more));
        }
        self.kept
    }
}

/// The kernel's page tables: the first vCPU's (online, kernel-mode ones first) through
/// which `init_task` reads, without the parts that map only user space (a PV vCPU's
/// user table; an HVM vCPU caught on its KPTI user tables gets its kernel tables).
fn kernel_space(guest: &Guest, init_task: u64) -> Option<AddressSpace> {
    let mut order: Vec<usize> = (0..guest.vcpus().len()).collect();
    order.sort_by_key(|&s| {
        let v = &guest.vcpus()[s];
        (!v.online(), !v.kernel_mode(), s)
    });
    order.into_iter().find_map(|slot| {
        let own = guest.vcpu_space(slot)?;
        let root = own.kpti_kernel_root.or(own.root)?;
        let space = guest.space_from_root(own.mode, root, "the kernel's page tables");
        let mut probe = [0u8; 8];
        let mut cache = TranslationCache::new(4);
        (guest.read(&mut cache, Via::Virtual(&space), init_task, &mut probe) == probe.len())
            .then_some(space)
    })
}

/// Without VMCOREINFO nothing says the file is the dumped kernel, or where it was
/// moved: its `linux_banner` must then be in memory at its link address. With it, a
/// banner that is readable and different is a mismatch too (same release, another
/// build).
fn check_banner(
    mem: &dyn KernelMemory,
    info: &DebugInfo,
    offset: u64,
    have_vmcoreinfo: bool,
) -> Result<(), DebugInfoError> {
    let (Some(symbol), Some(banner)) = (info.symbol(sym::LINUX_BANNER), info.banner()) else {
        return Ok(());
    };
    let at = info.runtime_address(symbol, offset);
    let mut buf = vec![0u8; banner.len()];
    let n = mem.read(at, &mut buf);
    let found = String::from_utf8_lossy(&buf[..n]).into_owned();
    if n == buf.len() && found == banner {
        return Ok(());
    }
    if n == buf.len() || !have_vmcoreinfo {
        let what = if have_vmcoreinfo {
            "linux_banner"
        } else {
            "linux_banner (no VMCOREINFO in the guest, so no KASLR offset: read at the link address)"
        };
        return Err(DebugInfoError::Mismatch {
            path: info.path().to_path_buf(),
            what,
            dump: if n == 0 {
                format!("unreadable at {at:#x}")
            } else {
                format!("{found:?}")
            },
            file: format!("{banner:?}"),
        });
    }
    Ok(())
}

/// The address space of a user task whose `mm->pgd` is `pgd`.
fn own_space(
    guest: &Guest,
    mem: &dyn KernelMemory,
    kernel: &AddressSpace,
    pgd: u64,
) -> Result<AddressSpace, String> {
    let tr = guest
        .translate(kernel, VirtAddr(pgd))
        .map_err(|e| format!("mm->pgd {pgd:#x}: {e}"))?;
    let mut probe = [0u8; 8];
    if mem.read(pgd, &mut probe) != probe.len() {
        return Err(format!(
            "mm->pgd {pgd:#x}: its page (frame {:#x}) is not in the dump",
            tr.frame
        ));
    }
    // Only a PAE PDPT may start inside its page.
    let offset = u16::try_from(tr.offset)
        .ok()
        .filter(|&o| o == 0 || kernel.mode == PagingMode::Pae)
        .ok_or_else(|| format!("mm->pgd {pgd:#x} is not page-aligned"))?;
    Ok(guest.space_from_root(
        kernel.mode,
        Root {
            frame: tr.frame,
            offset,
        },
        "the task's mm->pgd",
    ))
}
