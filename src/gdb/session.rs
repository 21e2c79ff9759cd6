//! One gdb session, driven by the bytes the client sends: transport-free, so the TCP
//! server, the fuzz harness and the tests drive the same code.
//!
//! Input goes through the codec's [`Framer`] (noise skipped, bad checksums nacked); each
//! whole packet is offered to the packet layer ([`super::packets`]) and, if it does not
//! answer it, fed to gdbstub's state machine. Resume requests settle at once with a stop
//! (a dump cannot run).

use std::convert::Infallible;
use std::sync::Arc;

use gdbstub::conn::Connection;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::GdbStub;
use tracing::debug;

use crate::kinds::Width;
use crate::memory::{TranslationCache, CACHE_SLOTS};
use crate::threads::Debuggee;

use super::arch::{I386Xen, X86_64Xen, XenArch};
use super::no_run::{immediate_stop, NO_RUN_MESSAGE};
use super::packets::{amend, dispatch, forwarded_body, Dispatch};
use super::rsp::{body_of, packet, put_console_output, rewrite_reply, Framed, Framer};
use super::target::DumpTarget;

/// gdb sizes each memory read at half the packet size (hex doubles it): 64 KiB packets
/// give 32 KiB reads, a good balance of round trips and latency.
pub const DEFAULT_PACKET_SIZE: usize = 64 * 1024;

/// Once this much reply is pending, [`Session::feed`] stops consuming input so the
/// caller can send it: a burst of pipelined reads cannot make a session buffer
/// (input size × reply size) bytes.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// Settings of one session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Largest packet accepted (advertised to gdb as `PacketSize`).
    pub packet_size: usize,
    /// Slots of the session's translation cache; 0 disables it.
    pub cache_slots: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            packet_size: DEFAULT_PACKET_SIZE,
            cache_slots: CACHE_SLOTS,
        }
    }
}

/// Why a session ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The transport failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The client broke the protocol beyond repair.
    #[error("gdb protocol error: {0}")]
    Protocol(String),
    /// The client left replies unread too long.
    #[error("client stopped reading replies for {0:?}")]
    WriteTimeout(std::time::Duration),
}

/// Is the session still open after some input?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    /// Keep reading from the client.
    Open,
    /// gdb detached or killed the target: send the output, then close.
    Closed,
}

/// A gdbstub connection that only collects output; the session's caller sends it.
#[derive(Default)]
struct Outbox(Vec<u8>);

impl Connection for Outbox {
    type Error = Infallible;
    fn write(&mut self, byte: u8) -> Result<(), Infallible> {
        self.0.push(byte);
        Ok(())
    }
    fn write_all(&mut self, buf: &[u8]) -> Result<(), Infallible> {
        self.0.extend_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

type Machine<A> = GdbStubStateMachine<'static, DumpTarget<A>, Outbox>;

fn protocol<E: std::fmt::Display>(e: E) -> SessionError {
    SessionError::Protocol(e.to_string())
}

/// Settle the transient states: a resume stops at once; a Ctrl-C is acknowledged.
fn settle<A: XenArch>(
    mut sm: Machine<A>,
    target: &mut DumpTarget<A>,
) -> Result<Machine<A>, SessionError> {
    loop {
        sm = match sm {
            GdbStubStateMachine::Running(mut g) => {
                put_console_output(&mut g.borrow_conn().0, NO_RUN_MESSAGE);
                let stop = immediate_stop(target);
                g.report_stop(target, stop).map_err(protocol)?
            }
            GdbStubStateMachine::CtrlCInterrupt(g) => {
                let stop = immediate_stop(target);
                g.interrupt_handled(target, Some(stop)).map_err(protocol)?
            }
            other => return Ok(other),
        }
    }
}

/// Bytes waiting in gdbstub's outbox (0 in the states that have none to look at).
fn outbox_len<A: XenArch>(sm: &mut Machine<A>) -> usize {
    match sm {
        GdbStubStateMachine::Idle(g) => g.borrow_conn().0.len(),
        GdbStubStateMachine::Running(g) => g.borrow_conn().0.len(),
        _ => 0,
    }
}

/// One gdb session over the dump, driven by the bytes the client sends.
pub struct Session<A: XenArch> {
    target: DumpTarget<A>,
    framer: Framer,
    /// `None` once a protocol error has consumed the state machine.
    machine: Option<Machine<A>>,
    /// Packets are acknowledged with `+` until gdb asks for no-ack mode.
    acks: bool,
}

impl<A: XenArch> Session<A> {
    /// A new session over `debuggee`.
    pub fn new(debuggee: Arc<Debuggee>, config: &SessionConfig) -> Result<Self, SessionError> {
        let cache = match config.cache_slots {
            0 => TranslationCache::disabled(),
            slots => TranslationCache::new(slots),
        };
        let mut target = DumpTarget::<A>::with_cache(debuggee, cache);
        let stub = GdbStub::<DumpTarget<A>, Outbox>::builder(Outbox::default())
            .packet_buffer_size(config.packet_size)
            .build()
            .map_err(protocol)?;
        let machine = stub.run_state_machine(&mut target).map_err(protocol)?;
        Ok(Session {
            target,
            framer: Framer::new(config.packet_size),
            machine: Some(machine),
            acks: true,
        })
    }

    /// Feed bytes from the client. Appends the replies to `out` and returns how many
    /// input bytes were consumed: fewer than `input.len()` when the session closed or
    /// [`OUTPUT_HIGH_WATER`] bytes of replies are waiting (send them, then feed the rest).
    /// An error ends the session; later calls fail too.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, SessionStatus), SessionError> {
        let mut sm = self
            .machine
            .take()
            .ok_or_else(|| SessionError::Protocol("session already ended".into()))?;
        let target = &mut self.target;
        let mut used = 0;
        let status = loop {
            sm = settle(sm, target)?;
            match &mut sm {
                GdbStubStateMachine::Idle(g) => out.append(&mut g.borrow_conn().0),
                GdbStubStateMachine::Disconnected(g) => {
                    out.append(&mut g.borrow_conn().0);
                    debug!("disconnect: {:?}", g.get_reason());
                    break SessionStatus::Closed;
                }
                _ => {}
            }
            if used == input.len() || out.len() >= OUTPUT_HIGH_WATER {
                break SessionStatus::Open;
            }
            let byte = input[used];
            used += 1;
            // Set when the packet layer edits the reply gdbstub gives to this packet.
            let mut amendment = None;
            // The packet gdbstub is given instead of the client's, if any.
            let mut replacement = None;
            let bytes: &[u8] = match self.framer.push(byte) {
                Framed::Pending => continue,
                Framed::Byte(_) => std::slice::from_ref(&byte),
                Framed::Packet(p) => {
                    let body = body_of(p);
                    if matches!(sm, GdbStubStateMachine::Idle(_)) {
                        // The reply goes after anything gdbstub already wrote (appended
                        // to `out` above), written in place: no copy of a bulk reply.
                        let mark = out.len();
                        if self.acks {
                            out.push(b'+');
                        }
                        match dispatch(target, body, out) {
                            Dispatch::Answered => continue,
                            Dispatch::Amend(a) => {
                                out.truncate(mark);
                                amendment = Some(a);
                                replacement = forwarded_body(a, body).map(|b| packet(&b));
                            }
                            Dispatch::Forward => out.truncate(mark),
                        }
                    }
                    if body == b"QStartNoAckMode" {
                        // gdbstub agrees (it always does) and stops acking; so do we.
                        self.acks = false;
                    }
                    match &replacement {
                        Some(r) => r.as_slice(),
                        None => p,
                    }
                }
                Framed::BadChecksum => {
                    // As gdbserver does: ask for it again, keep the session.
                    debug!("packet with a bad checksum: sent a nak");
                    out.push(b'-');
                    continue;
                }
                Framed::Oversized(len) => {
                    return Err(SessionError::Protocol(format!(
                        "received an oversized packet (more than {len} bytes)"
                    )))
                }
            };
            // gdbstub's reply to this packet starts after what its outbox holds now.
            let mark = outbox_len(&mut sm);
            for &b in bytes {
                sm = match sm {
                    GdbStubStateMachine::Idle(g) => g.incoming_data(target, b).map_err(protocol)?,
                    GdbStubStateMachine::Running(g) => {
                        g.incoming_data(target, b).map_err(protocol)?
                    }
                    other => other,
                };
            }
            if let (Some(a), GdbStubStateMachine::Idle(g)) = (amendment, &mut sm) {
                if !rewrite_reply(&mut g.borrow_conn().0, mark, |body| amend(a, body)) {
                    debug!("no reply of gdbstub's to amend ({a:?})");
                }
            }
        };
        self.machine = Some(sm);
        Ok((used, status))
    }
}

/// A [`Session`] of whichever register width the guest is served with.
pub enum AnySession {
    /// 64-bit registers (`i386:x86-64`).
    Bits64(Session<X86_64Xen>),
    /// 32-bit registers (`i386`).
    Bits32(Session<I386Xen>),
}

impl AnySession {
    /// A session with the register layout of the guest's width.
    pub fn new(debuggee: Arc<Debuggee>, config: &SessionConfig) -> Result<Self, SessionError> {
        Ok(match debuggee.guest().guest_width() {
            Width::Bits64 => AnySession::Bits64(Session::new(debuggee, config)?),
            Width::Bits32 => AnySession::Bits32(Session::new(debuggee, config)?),
        })
    }

    /// See [`Session::feed`].
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, SessionStatus), SessionError> {
        match self {
            AnySession::Bits64(s) => s.feed(input, out),
            AnySession::Bits32(s) => s.feed(input, out),
        }
    }
}
