//! The gdbstub `Target`: a thin adapter from gdb requests to the guest model.
//!
//! vCPU slot *k* is gdb thread *k + 1*. The target is read-only and cannot run: resume
//! requests are accepted and answered at once by the session driver with a stop that
//! names a thread (see `no_run.rs`, and gdbstub-notes.md A.2 for why that matters).

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

use crate::addr::VirtAddr;
use crate::memory::{Guest, TranslationCache, View};

use super::monitor::ReadSettings;

use super::arch::XenArch;
use super::bulk_read::{encode_memory_reply, PendingRead, EFAULT, MAX_READ_REPLY};
/// EROFS: writes to a dump are refused.
const EROFS: u8 = 30;

/// Errors that end a gdb session (there are none in normal operation: every problem
/// with the dump is reported to gdb as a non-fatal error or console text).
#[derive(Debug, thiserror::Error)]
pub enum TargetFault {
    /// gdb named a thread that does not exist.
    #[error("no such vCPU thread {0}")]
    NoSuchThread(usize),
}

/// One gdb session's view of the guest.
pub struct DumpTarget<A: XenArch> {
    pub(crate) guest: Arc<Guest>,
    pub(crate) cache: TranslationCache,
    /// Address space used for memory reads (`monitor view`, `monitor cr3`).
    pub(crate) settings: ReadSettings,
    /// The thread a step was requested for, if any (reported in the stop).
    pub(crate) step_tid: Option<Tid>,
    /// The thread a continue named explicitly, if any.
    pub(crate) continue_tid: Option<Tid>,
    /// The thread gdb last looked at (reported in a stop after `continue`).
    pub(crate) last_tid: Tid,
    /// vCPU slots in the order they are listed to gdb (the first is where gdb starts).
    pub(crate) thread_order: Vec<usize>,
    /// Record memory reads for the session driver instead of answering them
    /// (see `bulk_read.rs`).
    defer_reads: bool,
    pending_read: Option<PendingRead>,
    /// Reused buffer for deferred reads.
    read_buf: Vec<u8>,
    _arch: std::marker::PhantomData<A>,
}

impl<A: XenArch> DumpTarget<A> {
    /// A session over `guest`.
    pub fn new(guest: Arc<Guest>) -> Self {
        Self::with_cache(guest, TranslationCache::new(crate::memory::CACHE_SLOTS))
    }

    /// A session over `guest` that translates through `cache`.
    pub fn with_cache(guest: Arc<Guest>, cache: TranslationCache) -> Self {
        let thread_order = guest.thread_order();
        let first = thread_order.first().copied().unwrap_or(0);
        DumpTarget {
            cache,
            settings: ReadSettings::default(),
            step_tid: None,
            continue_tid: None,
            last_tid: slot_tid(first),
            thread_order,
            guest,
            defer_reads: false,
            pending_read: None,
            read_buf: Vec::new(),
            _arch: std::marker::PhantomData,
        }
    }

    /// Let the session driver answer memory reads in bulk: `read_addrs` then only
    /// records the request, and reports it as an empty read to gdbstub, whose reply the
    /// driver must replace with [`Self::answer_pending_read`]'s.
    pub fn defer_memory_reads(&mut self, on: bool) {
        self.defer_reads = on;
    }

    /// The read recorded since the last call, if any.
    pub fn take_pending_read(&mut self) -> Option<PendingRead> {
        self.pending_read.take()
    }

    /// Append the complete reply packet to `read`: the readable prefix in hex, or an
    /// error packet when nothing is readable (what `read_addrs` would have returned).
    pub fn answer_pending_read(&mut self, read: PendingRead, out: &mut Vec<u8>) {
        let mut buf = std::mem::take(&mut self.read_buf);
        buf.resize(read.len, 0);
        let n = self.read_memory(read.slot, read.addr, &mut buf);
        encode_memory_reply(out, &buf[..n], EFAULT);
        self.read_buf = buf;
    }

    /// Read through the session's settings (`monitor view`, `monitor cr3`): the
    /// readable prefix length.
    fn read_memory(&mut self, slot: usize, addr: u64, data: &mut [u8]) -> usize {
        match (self.settings.view, self.settings.cr3) {
            (View::Virtual, Some(cr3)) => match self.guest.space_from_cr3(slot, cr3) {
                Ok(space) => {
                    self.guest
                        .read_in_space(&mut self.cache, &space, VirtAddr(addr), data)
                }
                Err(_) => 0,
            },
            (view, _) => self
                .guest
                .read(&mut self.cache, view, slot, VirtAddr(addr), data),
        }
    }

    /// The thread a stop should name: the stepped thread, else one a continue named,
    /// else the one gdb last looked at (see `no_run.rs`).
    pub fn stop_tid(&self) -> Tid {
        self.step_tid.or(self.continue_tid).unwrap_or(self.last_tid)
    }

    pub(crate) fn slot_of(&self, tid: Tid) -> Result<usize, TargetFault> {
        let slot = tid.get() - 1;
        if slot < self.guest.vcpus().len() {
            Ok(slot)
        } else {
            Err(TargetFault::NoSuchThread(tid.get()))
        }
    }
}

/// gdb thread id of vCPU slot `slot`.
pub fn slot_tid(slot: usize) -> Tid {
    Tid::new(slot + 1).expect("slot + 1 is never zero")
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

impl<A: XenArch> MultiThreadBase for DumpTarget<A> {
    fn read_registers(&mut self, regs: &mut A::Registers, tid: Tid) -> TargetResult<(), Self> {
        let slot = self.slot_of(tid).map_err(TargetError::Fatal)?;
        self.last_tid = tid;
        *regs = A::registers_from_state(&self.guest.vcpus()[slot], self.guest.hypervisor_width());
        Ok(())
    }

    fn write_registers(&mut self, _regs: &A::Registers, _tid: Tid) -> TargetResult<(), Self> {
        // A dump is evidence: registers are never changed. gdb says
        // "Could not write registers; remote failure reply 'E79'".
        Err(TargetError::NonFatal)
    }

    fn read_addrs(
        &mut self,
        start_addr: <A as gdbstub::arch::Arch>::Usize,
        data: &mut [u8],
        tid: Tid,
    ) -> TargetResult<usize, Self> {
        let slot = self.slot_of(tid).map_err(TargetError::Fatal)?;
        self.last_tid = tid;
        let addr: u64 = A::addr_to_u64(start_addr);
        if self.defer_reads {
            // gdbstub splits requests larger than its buffer into consecutive chunks,
            // one call each; the driver takes the pending read after every byte, so
            // one already pending is this packet's. Replies are capped: gdb takes a
            // short one as a partial read and asks again from where it ended.
            match &mut self.pending_read {
                Some(p) => p.len = p.len.saturating_add(data.len()).min(MAX_READ_REPLY),
                None => {
                    self.pending_read = Some(PendingRead {
                        slot,
                        addr,
                        len: data.len().min(MAX_READ_REPLY),
                    })
                }
            }
            return Ok(0);
        }
        // Return the readable prefix so gdb names the first byte that failed
        // (gdbstub-notes.md A.3); nothing readable at all is an error.
        let n = self.read_memory(slot, addr, data);
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
        for &slot in &self.thread_order {
            thread_is_active(slot_tid(slot));
        }
        Ok(())
    }

    fn is_thread_alive(&mut self, tid: Tid) -> Result<bool, Self::Error> {
        Ok(self.slot_of(tid).is_ok())
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

// LLDB reads registers one by one with `p` packets; gdb uses `g`.
impl<A: XenArch> SingleRegisterAccess<Tid> for DumpTarget<A> {
    fn read_register(
        &mut self,
        tid: Tid,
        reg_id: <A as gdbstub::arch::Arch>::RegId,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let slot = self.slot_of(tid).map_err(TargetError::Fatal)?;
        let regs =
            A::registers_from_state(&self.guest.vcpus()[slot], self.guest.hypervisor_width());
        // 0 bytes tells gdbstub the register is unavailable (`xx…`).
        Ok(A::read_register(&regs, reg_id, buf))
    }

    fn write_register(
        &mut self,
        _tid: Tid,
        _reg_id: <A as gdbstub::arch::Arch>::RegId,
        _val: &[u8],
    ) -> TargetResult<(), Self> {
        Err(TargetError::NonFatal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::scenario::Scenario;
    use crate::builder::DumpOptions;
    use crate::dump::{GuestKind, XenDump};
    use crate::gdb::arch::X86_64Xen;
    use crate::memory::{GuestOptions, PagingMode};

    fn target() -> (DumpTarget<X86_64Xen>, Scenario) {
        let s = Scenario::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
        let bytes = s.image.write(&DumpOptions::default()).unwrap();
        let guest = Guest::new(XenDump::from_bytes(bytes).unwrap(), GuestOptions::default());
        (DumpTarget::new(Arc::new(guest.unwrap())), s)
    }

    #[test]
    fn deferred_reads_join_chunks_cap_the_reply_and_answer_per_thread() {
        let (mut t, s) = target();
        t.defer_memory_reads(true);
        let mut chunk = vec![0u8; 64 * 1024];
        // gdbstub's chunks of one big request: one pending read, capped.
        let base = s.facts.direct_map_va;
        for i in 0..20u64 {
            let addr = base + i * chunk.len() as u64;
            assert!(matches!(t.read_addrs(addr, &mut chunk, slot_tid(0)), Ok(0)));
        }
        let p = t.take_pending_read().unwrap();
        assert_eq!((p.slot, p.addr, p.len), (0, base, MAX_READ_REPLY));
        assert_eq!(t.take_pending_read(), None);
        // The user page is only in vCPU 1's tables: the thread decides.
        for (slot, readable) in [(0, false), (1, true)] {
            let r = t.read_addrs(s.facts.user_va, &mut chunk[..8], slot_tid(slot));
            assert!(matches!(r, Ok(0)));
            let p = t.take_pending_read().unwrap();
            let mut out = Vec::new();
            t.answer_pending_read(p, &mut out);
            let want = if readable {
                let hex: String = s
                    .facts
                    .user_value
                    .to_le_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("${hex}#")
            } else {
                "$E0e#".to_string()
            };
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with(&want), "vCPU {slot}: {text}");
        }
    }
}
