//! Thread extra info: how gdb's `info threads` names each vCPU.

use gdbstub::common::Tid;
use gdbstub::target::ext::thread_extra_info::ThreadExtraInfo;

use super::arch::XenArch;
use super::target::DumpTarget;

impl<A: XenArch> ThreadExtraInfo for DumpTarget<A> {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, Self::Error> {
        // An error here would end the session, so an unknown thread gets a label too.
        let text = match self.slot_of(tid) {
            Ok(slot) => {
                let v = &self.guest.vcpus()[slot];
                format!(
                    "vCPU {slot}, {}, {} mode",
                    if v.online() { "online" } else { "offline" },
                    if v.kernel_mode() { "kernel" } else { "user" }
                )
            }
            Err(_) => "no such vCPU".to_string(),
        };
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        Ok(n)
    }
}
