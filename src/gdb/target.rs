//! One gdb session's state, and the gdbstub `Target` over it: a thin adapter from gdb
//! requests to the [`Debuggee`].
//!
//! Threads are the [`crate::threads`] table's; a gdbstub [`Tid`] *is* a
//! [`ThreadId`] (both are gdb's non-zero thread number). The target is read-only and
//! cannot run: resume requests are accepted and answered at once by the session with a
//! stop that names a thread (see `no_run.rs`, and docs/gdbstub-notes.md A.2 for why that
//! matters). Registers and memory are answered by the packet layer ([`super::packets`])
//! through the same methods the gdbstub callbacks below use.

use std::sync::Arc;

use gdbstub::common::Tid;
use gdbstub::target::ext::base::multithread::{MultiThreadBase, MultiThreadResumeOps};
use gdbstub::target::ext::base::single_register_access::{
    SingleRegisterAccess, SingleRegisterAccessOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::monitor_cmd::MonitorCmdOps;
use gdbstub::target::ext::thread_extra_info::ThreadExtraInfoOps;
use gdbstub::target::{Target, TargetError, TargetResult};

use crate::memory::{TranslationCache, Via, View, CACHE_SLOTS};
use crate::threads::{Debuggee, ThreadId};

use super::arch::XenArch;

/// EROFS: writes to a dump are refused.
pub const EROFS: u8 = 30;
/// EFAULT: no byte at the address is readable.
pub const EFAULT: u8 = 14;
/// The error gdbstub sends for a refused register write (its generic non-fatal code);
/// gdb says "Could not write registers; remote failure reply 'E79'".
pub const E_REFUSED: u8 = 0x79;

/// Most bytes one memory reply carries (gdb asks for half its packet size at a time; a
/// client asking for more gets a partial read, as the protocol allows).
pub const MAX_READ_REPLY: usize = 1 << 20;

/// Errors that end a gdb session (there are none in normal operation: every problem
/// with the dump is reported to gdb as a non-fatal error or console text).
#[derive(Debug, thiserror::Error)]
pub enum TargetFault {
    /// gdb named a thread that does not exist.
    #[error("no such thread {0}")]
    NoSuchThread(usize),
}

/// Which `x` reply dialect a session speaks (see `packets/memory.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BinaryDialect {
    /// `b` + data: gdb ≥ 16, LLDB ≥ 20.
    #[default]
    Gdb,
    /// Bare data, after the client's `x0,0` probe: LLDB < 20.
    Lldb,
}

/// QEMU's default single-step flags (`SSTEP_ENABLE | SSTEP_NOIRQ | SSTEP_NOTIMER`), as a
/// QEMU-aware front end reads them back before setting any (`packets/qemu.rs`).
pub const SSTEP_DEFAULT: u64 = 0x7;

/// Per-session settings that monitor commands and front ends change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadSettings {
    /// Address space of memory reads.
    pub view: View,
    /// A CR3 to read virtual addresses through instead of the thread's own.
    pub cr3: Option<u64>,
}

impl Default for ReadSettings {
    fn default() -> Self {
        ReadSettings {
            view: View::Virtual,
            cr3: None,
        }
    }
}

/// gdbstub's thread id for a table thread.
pub fn tid_of(id: ThreadId) -> Tid {
    Tid::new(id.get()).expect("thread ids are never zero")
}

/// The table thread gdbstub's `tid` names.
pub fn thread_of(tid: Tid) -> ThreadId {
    ThreadId::new(tid.get()).expect("tids are never zero")
}

/// One gdb session's view of the guest.
pub struct DumpTarget<A: XenArch> {
    pub(crate) debuggee: Arc<Debuggee>,
    pub(crate) cache: TranslationCache,
    /// Address space used for memory reads (`monitor view`, `monitor cr3`).
    pub(crate) settings: ReadSettings,
    /// The `qXfer:threads:read` document being transferred.
    pub(crate) threads_xml: Vec<u8>,
    /// gdb's general thread (`Hg`, or the thread of the last stop): registers and
    /// memory are read through it.
    pub(crate) selected: ThreadId,
    /// The thread a step was requested for, if any (reported in the stop).
    pub(crate) step_tid: Option<ThreadId>,
    /// The thread a continue named explicitly, if any.
    pub(crate) continue_tid: Option<ThreadId>,
    /// The `x` reply dialect this client speaks (gdb's, or LLDB's older one).
    pub(crate) binary_dialect: BinaryDialect,
    /// QEMU's single-step flags as a QEMU-aware front end last set them (`Qqemu.sstep`);
    /// kept only to be read back, since nothing runs.
    pub(crate) sstep_flags: u64,
    /// Reused buffer for memory replies.
    read_buf: Vec<u8>,
    _arch: std::marker::PhantomData<A>,
}

impl<A: XenArch> DumpTarget<A> {
    /// A session over `debuggee`.
    pub fn new(debuggee: Arc<Debuggee>) -> Self {
        Self::with_cache(debuggee, TranslationCache::new(CACHE_SLOTS))
    }

    /// A session over `debuggee` that translates through `cache`.
    pub fn with_cache(debuggee: Arc<Debuggee>, cache: TranslationCache) -> Self {
        let first = debuggee
            .threads()
            .first()
            .expect("a dump has at least one vCPU");
        DumpTarget {
            cache,
            settings: ReadSettings::default(),
            threads_xml: Vec::new(),
            selected: first,
            step_tid: None,
            continue_tid: None,
            binary_dialect: BinaryDialect::default(),
            sstep_flags: SSTEP_DEFAULT,
            debuggee,
            read_buf: Vec::new(),
            _arch: std::marker::PhantomData,
        }
    }

    /// The model this session reads.
    pub fn debuggee(&self) -> &Arc<Debuggee> {
        &self.debuggee
    }

    /// gdb's general thread.
    pub fn selected(&self) -> ThreadId {
        self.selected
    }

    /// Make `id` the general thread (gdb's `Hg`, or a stop naming it).
    pub fn select(&mut self, id: ThreadId) {
        self.selected = id;
    }

    /// Does thread `id` exist?
    pub fn has_thread(&self, id: ThreadId) -> bool {
        self.debuggee.threads().source(id).is_some()
    }

    /// Read through the session's settings (`monitor view`, `monitor cr3`) and
    /// `thread`'s address space: the readable prefix length.
    pub fn read_memory(&mut self, thread: ThreadId, addr: u64, data: &mut [u8]) -> usize {
        let guest = self.debuggee.guest();
        match self.settings.view {
            View::Physical => guest.read(&mut self.cache, Via::Physical, addr, data),
            View::Machine => guest.read(&mut self.cache, Via::Machine, addr, data),
            View::Virtual => {
                let Some(own) = self.debuggee.space(thread) else {
                    return 0;
                };
                match self.settings.cr3 {
                    Some(cr3) => {
                        let space = guest.space_from_cr3(own.mode, cr3);
                        guest.read(&mut self.cache, Via::Virtual(&space), addr, data)
                    }
                    None => guest.read(&mut self.cache, Via::Virtual(own), addr, data),
                }
            }
        }
    }

    /// Read up to `len` bytes (at most [`MAX_READ_REPLY`]) at `addr` through `thread`
    /// and hand the readable prefix to `reply` (empty when nothing is readable).
    pub fn with_memory<R>(
        &mut self,
        thread: ThreadId,
        addr: u64,
        len: usize,
        reply: impl FnOnce(&[u8]) -> R,
    ) -> R {
        let mut buf = std::mem::take(&mut self.read_buf);
        buf.resize(len.min(MAX_READ_REPLY), 0);
        let n = self.read_memory(thread, addr, &mut buf);
        let r = reply(&buf[..n]);
        self.read_buf = buf;
        r
    }

    /// The registers of `thread` in this arch's layout.
    pub fn registers(&self, thread: ThreadId) -> Option<A::Registers> {
        let regs = self.debuggee.registers(thread)?;
        Some(A::registers_of(
            regs,
            self.debuggee.guest().hypervisor_width(),
        ))
    }

    /// The thread a stop should name: the stepped thread, else one a continue named,
    /// else gdb's general thread (see `no_run.rs`).
    pub fn stop_thread(&self) -> ThreadId {
        self.step_tid.or(self.continue_tid).unwrap_or(self.selected)
    }

    pub(crate) fn known(&self, tid: Tid) -> Result<ThreadId, TargetFault> {
        let id = thread_of(tid);
        if self.has_thread(id) {
            Ok(id)
        } else {
            Err(TargetFault::NoSuchThread(tid.get()))
        }
    }
}

impl<A: XenArch> Target for DumpTarget<A> {
    type Arch = A;
    type Error = TargetFault;

    #[inline(always)]
    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    // Breakpoints cannot be honoured on a dump; gdb's own insertion attempt fails on
    // the refused memory write, which is the message users should see.
    fn guard_rail_implicit_sw_breakpoints(&self) -> bool {
        true
    }

    #[inline(always)]
    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }
}

// The packet layer answers `g`, `p`, `m` and the writes before gdbstub sees them (so one
// thread selection serves every packet); these callbacks give the same answers for
// completeness.
impl<A: XenArch> MultiThreadBase for DumpTarget<A> {
    fn read_registers(&mut self, regs: &mut A::Registers, tid: Tid) -> TargetResult<(), Self> {
        let id = self.known(tid).map_err(TargetError::Fatal)?;
        *regs = self
            .registers(id)
            .ok_or(TargetError::Fatal(TargetFault::NoSuchThread(tid.get())))?;
        Ok(())
    }

    fn write_registers(&mut self, _regs: &A::Registers, _tid: Tid) -> TargetResult<(), Self> {
        // A dump is evidence: registers are never changed.
        Err(TargetError::Errno(E_REFUSED))
    }

    fn read_addrs(
        &mut self,
        start_addr: <A as gdbstub::arch::Arch>::Usize,
        data: &mut [u8],
        tid: Tid,
    ) -> TargetResult<usize, Self> {
        let id = self.known(tid).map_err(TargetError::Fatal)?;
        // The readable prefix, so gdb names the first byte that failed
        // (docs/gdbstub-notes.md A.3); nothing readable at all is an error.
        let n = self.read_memory(id, A::addr_to_u64(start_addr), data);
        if n == 0 && !data.is_empty() {
            Err(TargetError::Errno(EFAULT))
        } else {
            Ok(n)
        }
    }

    fn write_addrs(
        &mut self,
        _start_addr: <A as gdbstub::arch::Arch>::Usize,
        _data: &[u8],
        _tid: Tid,
    ) -> TargetResult<(), Self> {
        // gdb prints "Cannot access memory at address …" for this.
        Err(TargetError::Errno(EROFS))
    }

    fn list_active_threads(
        &mut self,
        thread_is_active: &mut dyn FnMut(Tid),
    ) -> Result<(), Self::Error> {
        for id in self.debuggee.threads().ids() {
            thread_is_active(tid_of(id));
        }
        Ok(())
    }

    fn is_thread_alive(&mut self, tid: Tid) -> Result<bool, Self::Error> {
        Ok(self.has_thread(thread_of(tid)))
    }

    #[inline(always)]
    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    #[inline(always)]
    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }

    #[inline(always)]
    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, Tid, Self>> {
        Some(self)
    }
}

impl<A: XenArch> SingleRegisterAccess<Tid> for DumpTarget<A> {
    fn read_register(
        &mut self,
        tid: Tid,
        reg_id: <A as gdbstub::arch::Arch>::RegId,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let id = self.known(tid).map_err(TargetError::Fatal)?;
        let regs = self
            .registers(id)
            .ok_or(TargetError::Fatal(TargetFault::NoSuchThread(tid.get())))?;
        // 0 bytes tells gdbstub the register is unavailable (`xx…`).
        Ok(A::read_register(&regs, reg_id, buf))
    }

    fn write_register(
        &mut self,
        _tid: Tid,
        _reg_id: <A as gdbstub::arch::Arch>::RegId,
        _val: &[u8],
    ) -> TargetResult<(), Self> {
        Err(TargetError::Errno(E_REFUSED))
    }
}
