//! Thread extra info: how gdb's `info threads` names each thread (the thread table's
//! label).

use gdbstub::common::Tid;
use gdbstub::target::ext::thread_extra_info::ThreadExtraInfo;

use super::arch::XenArch;
use super::target::{thread_of, DumpTarget};

impl<A: XenArch> ThreadExtraInfo for DumpTarget<A> {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, Self::Error> {
        // An error here would end the session, so an unknown thread gets a label too.
        let text = self.debuggee.label(thread_of(tid));
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        Ok(n)
    }
}
