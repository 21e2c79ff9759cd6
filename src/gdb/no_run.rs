//! Resume, step and scheduler locking as no-ops: a dumped guest cannot run.
//!
//! gdb still sends `vCont`/`c`/`s`. Accepting them and stopping at once, with a stop
//! reply that names a thread, keeps gdb's idea of the current thread in step with
//! ours. gdbstub's built-in fallback replies with a thread-less `S05`, after which gdb
//! shows one vCPU's registers as another's (docs/gdbstub-notes.md A.2).

use gdbstub::common::{Signal, Tid};
use gdbstub::target::ext::base::multithread::{
    MultiThreadResume, MultiThreadSchedulerLocking, MultiThreadSchedulerLockingOps,
    MultiThreadSingleStep, MultiThreadSingleStepOps,
};

use super::arch::XenArch;
use super::target::{tid_of, DumpTarget};

impl<A: XenArch> MultiThreadResume for DumpTarget<A> {
    fn resume(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), Self::Error> {
        self.step_tid = None;
        self.continue_tid = None;
        Ok(())
    }

    fn set_resume_action_continue(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        // Only called for a continue that names a thread (a wildcard continue is the
        // default action and never reaches the target).
        self.continue_tid = Some(self.known(tid)?);
        Ok(())
    }

    #[inline(always)]
    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    #[inline(always)]
    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

impl<A: XenArch> MultiThreadSingleStep for DumpTarget<A> {
    fn set_resume_action_step(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        // A step must be reported on the stepped thread, or gdb 13 trips an internal
        // assertion in its step-over logic.
        self.step_tid = Some(self.known(tid)?);
        Ok(())
    }
}

impl<A: XenArch> MultiThreadSchedulerLocking for DumpTarget<A> {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Self::Error> {
        // Required since gdbstub 0.7.9: without it, a `vCont;s:p1.1` without a wildcard
        // action is a fatal error.
        Ok(())
    }
}

/// Message printed by gdb when it asks a vCPU to run.
pub const NO_RUN_MESSAGE: &str = "dump is read-only: vCPUs cannot run\n";

/// The stop every resume ends in. gdb takes the thread it names as the remote's general
/// thread from then on, and so does the session.
pub fn immediate_stop<A: XenArch>(
    target: &mut DumpTarget<A>,
) -> gdbstub::stub::MultiThreadStopReason<<A as gdbstub::arch::Arch>::Usize> {
    let thread = target.stop_thread();
    target.select(thread);
    gdbstub::stub::MultiThreadStopReason::SignalWithThread {
        tid: tid_of(thread),
        signal: Signal::SIGTRAP,
    }
}
