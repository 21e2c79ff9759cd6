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
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// gdbstub packet buffer size (advertised as `PacketSize`).
    pub packet_size: usize,
    /// Slots of each session's translation cache; 0 disables it.
    pub cache_slots: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            packet_size: DEFAULT_PACKET_SIZE,
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
                let guest = guest.clone();
                let config = config.clone();
                tokio::spawn(async move {
                    info!(session = id, %peer, "gdb connected");
                    let result = match guest.register_width() {
                        RegisterWidth::Bits64 => run_session::<X86_64Xen>(stream, guest, &config).await,
                        RegisterWidth::Bits32 => run_session::<I386Xen>(stream, guest, &config).await,
                    };
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

type Machine<'a, A> = GdbStubStateMachine<'a, DumpTarget<A>, Outbox>;

/// The session's output buffer, whatever state the machine is in.
fn outbox<'s, A: XenArch>(sm: &'s mut Machine<'_, A>) -> &'s mut Vec<u8> {
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
    sm: &mut Machine<'_, A>,
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
fn settle<'a, A: XenArch>(
    mut sm: Machine<'a, A>,
    target: &mut DumpTarget<A>,
) -> Result<Machine<'a, A>, SessionError> {
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

async fn run_session<A: XenArch>(
    stream: TcpStream,
    guest: Arc<Guest>,
    config: &ServerConfig,
) -> Result<(), SessionError> {
    stream.set_nodelay(true)?;
    let (mut rx, mut tx) = stream.into_split();
    let cache = match config.cache_slots {
        0 => TranslationCache::disabled(),
        slots => TranslationCache::new(slots),
    };
    let mut target = DumpTarget::<A>::with_cache(guest, cache);
    target.defer_memory_reads(true);
    // After each packet gdbstub 0.7 looks for a second '#' beyond the checksum,
    // scanning stale buffer bytes up to the next one (to the end of a zeroed buffer:
    // 64 KiB per packet for a client whose packets never grow). A buffer filled with
    // '#' keeps that scan as short as the longest packet received so far.
    let mut packet_buffer = vec![b'#'; config.packet_size];
    let stub = GdbStub::<DumpTarget<A>, Outbox>::builder(Outbox::default())
        .with_packet_buffer(&mut packet_buffer)
        .build()
        .map_err(protocol)?;
    let mut sm = stub.run_state_machine(&mut target).map_err(protocol)?;
    let mut buf = vec![0u8; 64 * 1024];
    // Replies are swapped out of the outbox into this buffer and sent from it, so the
    // two buffers are reused instead of reallocated for every reply.
    let mut sending = Vec::new();
    loop {
        sm = settle(sm, &mut target)?;
        if let GdbStubStateMachine::Disconnected(g) = &mut sm {
            send(&mut tx, &g.borrow_conn().0).await?;
            debug!("disconnect: {:?}", g.get_reason());
            return Ok(());
        }
        std::mem::swap(outbox(&mut sm), &mut sending);
        send(&mut tx, &sending).await?;
        sending.clear();
        let n = rx.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        for &byte in &buf[..n] {
            sm = settle(sm, &mut target)?;
            sm = match sm {
                GdbStubStateMachine::Idle(g) => {
                    g.incoming_data(&mut target, byte).map_err(protocol)?
                }
                GdbStubStateMachine::Running(g) => {
                    g.incoming_data(&mut target, byte).map_err(protocol)?
                }
                GdbStubStateMachine::Disconnected(g) => GdbStubStateMachine::Disconnected(g),
                GdbStubStateMachine::CtrlCInterrupt(g) => GdbStubStateMachine::CtrlCInterrupt(g),
            };
            answer_deferred_read(&mut sm, &mut target)?;
        }
    }
}

async fn send(tx: &mut tokio::net::tcp::OwnedWriteHalf, bytes: &[u8]) -> Result<(), SessionError> {
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
    tokio::time::timeout(WRITE_TIMEOUT, tx.write_all(&bytes[done..]))
        .await
        .map_err(|_| SessionError::WriteTimeout(WRITE_TIMEOUT))??;
    Ok(())
}
