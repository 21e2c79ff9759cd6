//! The TCP server: a tokio accept loop, one gdbstub session per connection.
//!
//! Every session owns its own [`DumpTarget`] (current thread, address view, translation
//! cache) over the one shared, read-only [`Guest`]. A session that ends for any reason
//! (detach, kill, disconnect, garbage) is logged and the server keeps serving.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gdbstub::conn::Connection;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::GdbStub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use crate::gdb::arch::{I386Xen, X86_64Xen, XenArch};
use crate::gdb::bulk_read::EMPTY_REPLY;
use crate::gdb::no_run::{immediate_stop, NO_RUN_MESSAGE};
use crate::gdb::target::DumpTarget;
use crate::memory::{Guest, RegisterWidth, TranslationCache, CACHE_SLOTS};

/// gdb sizes each memory read at half the packet size (hex doubles it): 64 KiB packets
/// give 32 KiB reads, a good balance of round trips and latency.
pub const DEFAULT_PACKET_SIZE: usize = 64 * 1024;

/// A client that does not take its replies within this time is dropped, so a stuck
/// peer cannot pin a session forever.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default for [`ServerConfig::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: usize = 256;

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// gdbstub packet buffer size (advertised as `PacketSize`).
    pub packet_size: usize,
    /// How long a client may leave replies unread before its session is dropped.
    pub write_timeout: Duration,
    /// Sessions served at once; further connections are closed at once. Each session
    /// holds a few hundred KiB (buffers, translation cache), so this bounds memory.
    pub max_sessions: usize,
    /// Slots of each session's translation cache; 0 disables it.
    pub cache_slots: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            packet_size: DEFAULT_PACKET_SIZE,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            cache_slots: CACHE_SLOTS,
        }
    }
}

/// Why a session ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("gdb protocol error: {0}")]
    Protocol(String),
    #[error("client stopped reading replies for {0:?}")]
    WriteTimeout(Duration),
}

/// Accept connections on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    guest: Arc<Guest>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    static SESSIONS: AtomicU64 = AtomicU64::new(0);
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_sessions.max(1)));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let id = SESSIONS.fetch_add(1, Ordering::Relaxed) + 1;
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    warn!(session = id, %peer, "refused: {} sessions already open (--max-sessions)", config.max_sessions);
                    drop(stream);
                    continue;
                };
                let guest = guest.clone();
                let config = config.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    info!(session = id, %peer, "gdb connected");
                    let result = run_session(stream, guest, &config).await;
                    match result {
                        Ok(()) => info!(session = id, %peer, "gdb disconnected"),
                        Err(e) => warn!(session = id, %peer, "session ended: {e}"),
                    }
                });
            }
            _ = &mut shutdown => {
                info!("shutting down");
                return Ok(());
            }
        }
    }
}

/// Bind `addr` and serve until Ctrl-C.
pub async fn serve_until_ctrl_c(
    addr: SocketAddr,
    guest: Arc<Guest>,
    config: ServerConfig,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    info!("listening on {}", listener.local_addr()?);
    serve(listener, guest, config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// A gdbstub connection that only collects output; the session loop sends it.
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

/// Append a console-output (`O`) packet: gdb prints its text.
fn push_console_packet(out: &mut Vec<u8>, text: &str) {
    let mut body = String::from("O");
    for b in text.bytes() {
        body.push_str(&format!("{b:02x}"));
    }
    let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    out.extend_from_slice(format!("${body}#{sum:02x}").as_bytes());
}

type Machine<A> = GdbStubStateMachine<'static, DumpTarget<A>, Outbox>;

/// The session's output buffer, whatever state the machine is in.
fn outbox<A: XenArch>(sm: &mut Machine<A>) -> &mut Vec<u8> {
    match sm {
        GdbStubStateMachine::Idle(g) => &mut g.borrow_conn().0,
        GdbStubStateMachine::Running(g) => &mut g.borrow_conn().0,
        GdbStubStateMachine::CtrlCInterrupt(g) => &mut g.borrow_conn().0,
        GdbStubStateMachine::Disconnected(g) => &mut g.borrow_conn().0,
    }
}

/// If the last packet was a memory read, replace gdbstub's placeholder reply with the
/// real one (see `gdb/bulk_read.rs`).
fn answer_deferred_read<A: XenArch>(
    sm: &mut Machine<A>,
    target: &mut DumpTarget<A>,
) -> Result<(), SessionError> {
    let Some(read) = target.take_pending_read() else {
        return Ok(());
    };
    let out = outbox(sm);
    if !out.ends_with(EMPTY_REPLY) {
        return Err(SessionError::Protocol(format!(
            "expected gdbstub's empty reply to the read of {} bytes at {:#x}",
            read.len, read.addr
        )));
    }
    out.truncate(out.len() - EMPTY_REPLY.len());
    target.answer_pending_read(read, out);
    Ok(())
}

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
                push_console_packet(&mut g.borrow_conn().0, NO_RUN_MESSAGE);
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

/// Once this much reply is pending, [`Session::feed`] stops consuming input so the
/// caller can send it: a burst of pipelined reads cannot make a session buffer
/// (input size × reply size) bytes.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// Packet framing in front of gdbstub, which ends a session on any byte outside a
/// packet and on any bad checksum. Like gdbserver, we skip noise between packets and
/// answer a bad checksum with a nak (`-`), so only real abuse ends a session.
struct Framer {
    state: FrameState,
    packet: Vec<u8>,
    /// Longest raw packet (`$`, body, `#`, checksum) accepted.
    limit: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FrameState {
    Between,
    Body,
    Sum1,
    Sum2,
}

/// What one byte completed.
enum Framed<'a> {
    /// Inside a packet, or noise that was dropped.
    Pending,
    /// A byte gdbstub takes on its own: an ack (`+`) or an interrupt (Ctrl-C).
    Byte,
    /// A whole packet with a correct checksum.
    Packet(&'a [u8]),
    BadChecksum,
    /// The packet grew past the limit (given).
    Oversized(usize),
}

impl Framer {
    fn new(packet_size: usize) -> Self {
        Framer {
            state: FrameState::Between,
            packet: Vec::new(),
            limit: packet_size.saturating_add(4),
        }
    }

    fn push(&mut self, byte: u8) -> Framed<'_> {
        match self.state {
            FrameState::Between => match byte {
                b'$' => {
                    self.packet.clear();
                    self.packet.push(byte);
                    self.state = FrameState::Body;
                    Framed::Pending
                }
                b'+' | 0x03 => Framed::Byte,
                // A nak of our reply (gdbstub cannot resend) or line noise: skip it.
                _ => Framed::Pending,
            },
            FrameState::Body | FrameState::Sum1 => {
                if self.packet.len() >= self.limit {
                    self.state = FrameState::Between;
                    self.packet = Vec::new();
                    return Framed::Oversized(self.limit);
                }
                self.packet.push(byte);
                if self.state == FrameState::Sum1 {
                    self.state = FrameState::Sum2;
                } else if byte == b'#' {
                    self.state = FrameState::Sum1;
                }
                Framed::Pending
            }
            FrameState::Sum2 => {
                self.packet.push(byte);
                self.state = FrameState::Between;
                let n = self.packet.len();
                let body = &self.packet[1..n - 3];
                let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
                let hex = &self.packet[n - 2..];
                let given = hex
                    .iter()
                    .all(u8::is_ascii_hexdigit)
                    .then(|| std::str::from_utf8(hex).ok())
                    .flatten()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if given == Some(sum) {
                    Framed::Packet(&self.packet)
                } else {
                    Framed::BadChecksum
                }
            }
        }
    }
}

/// Is the session still open after some input?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    /// Keep reading from the client.
    Open,
    /// gdb detached or killed the target: send the output, then close.
    Closed,
}

/// One gdb session over the dump, driven by the bytes the client sends.
///
/// Transport-free: the TCP loop in [`serve`] and the protocol fuzzer use the same code.
pub struct Session<A: XenArch> {
    target: DumpTarget<A>,
    framer: Framer,
    /// `None` once a protocol error has consumed the state machine.
    machine: Option<Machine<A>>,
}

impl<A: XenArch> Session<A> {
    /// A new session over `guest`.
    pub fn new(guest: Arc<Guest>, config: &ServerConfig) -> Result<Self, SessionError> {
        let cache = match config.cache_slots {
            0 => TranslationCache::disabled(),
            slots => TranslationCache::new(slots),
        };
        let mut target = DumpTarget::<A>::with_cache(guest, cache);
        // Memory reads are answered by the driver in one pass (gdb/bulk_read.rs).
        target.defer_memory_reads(true);
        let stub = GdbStub::<DumpTarget<A>, Outbox>::builder(Outbox::default())
            .packet_buffer_size(config.packet_size)
            .build()
            .map_err(protocol)?;
        let machine = stub.run_state_machine(&mut target).map_err(protocol)?;
        Ok(Session {
            target,
            framer: Framer::new(config.packet_size),
            machine: Some(machine),
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
            let bytes: &[u8] = match self.framer.push(byte) {
                Framed::Pending => continue,
                Framed::Byte => std::slice::from_ref(&byte),
                Framed::Packet(p) => p,
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
            for &b in bytes {
                sm = match sm {
                    GdbStubStateMachine::Idle(g) => g.incoming_data(target, b).map_err(protocol)?,
                    GdbStubStateMachine::Running(g) => {
                        g.incoming_data(target, b).map_err(protocol)?
                    }
                    other => other,
                };
            }
            answer_deferred_read(&mut sm, target)?;
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
    /// A session with the register layout `guest` is served with.
    pub fn new(guest: Arc<Guest>, config: &ServerConfig) -> Result<Self, SessionError> {
        Ok(match guest.register_width() {
            RegisterWidth::Bits64 => AnySession::Bits64(Session::new(guest, config)?),
            RegisterWidth::Bits32 => AnySession::Bits32(Session::new(guest, config)?),
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

async fn run_session(
    stream: TcpStream,
    guest: Arc<Guest>,
    config: &ServerConfig,
) -> Result<(), SessionError> {
    stream.set_nodelay(true)?;
    let (mut rx, mut tx) = stream.into_split();
    let mut session = AnySession::new(guest, config)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = rx.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let mut input = &buf[..n];
        loop {
            let (used, status) = session.feed(input, &mut out)?;
            send(&mut tx, &out, config.write_timeout).await?;
            out.clear();
            if status == SessionStatus::Closed {
                return Ok(());
            }
            input = &input[used..];
            if input.is_empty() {
                break;
            }
        }
    }
}

async fn send(
    tx: &mut tokio::net::tcp::OwnedWriteHalf,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), SessionError> {
    // Replies almost always fit the socket buffer: write them at once, and arm the
    // timeout (a timer per reply) only when the client is not keeping up.
    let mut done = 0;
    while done < bytes.len() {
        match tx.try_write(&bytes[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e.into()),
        }
    }
    if done == bytes.len() {
        return Ok(());
    }
    tokio::time::timeout(timeout, tx.write_all(&bytes[done..]))
        .await
        .map_err(|_| SessionError::WriteTimeout(timeout))??;
    Ok(())
}
