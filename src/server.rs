//! The TCP server: a tokio accept loop, one gdb session per connection, each on a thread
//! of its own with blocking reads and writes.
//!
//! Only transport lives here: accept, read, write, timeouts, the session bound. Each
//! connection drives its own transport-free [`AnySession`] (current thread, address
//! view, translation cache) over the one shared, read-only [`Debuggee`]. A session that
//! ends for any reason (detach, kill, disconnect, garbage) is logged and the server
//! keeps serving.
//!
//! Interactive gdb work is one round trip after another, and on a virtual machine the
//! cost of a round trip is mostly wake-ups: a request wakes the server, the reply wakes
//! gdb. A session thread blocked in `read` is woken by the kernel directly (no event loop
//! in between), and a session with a client on the same machine runs on the CPU the
//! client last sent from ([`follow_client_cpu`]), so both wake-ups are switches on one
//! CPU rather than interrupts to another: measured on a 2-vCPU VM, 130–150 µs a round
//! trip when gdb and the server sit on different CPUs, 20–30 µs on the same one.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::io::{Read, Write};
use std::net::TcpStream;

use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::gdb::session::{AnySession, SessionConfig, SessionError, SessionStatus};
use crate::threads::Debuggee;

/// A client that does not take its replies within this time is dropped, so a stuck
/// peer cannot pin a session forever.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default for [`ServerConfig::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: usize = 256;

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Settings of every session (packet size, translation cache).
    pub session: SessionConfig,
    /// How long a client may leave replies unread before its session is dropped.
    pub write_timeout: Duration,
    /// Sessions served at once; further connections are closed at once. Each session
    /// holds a few hundred KiB (buffers, translation cache, a thread), so this bounds
    /// memory.
    pub max_sessions: usize,
    /// Run a session with a loopback client on the CPU the client sends from (see the
    /// module docs).
    pub follow_client_cpu: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            session: SessionConfig::default(),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            follow_client_cpu: true,
        }
    }
}

/// Accept connections on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    debuggee: Arc<Debuggee>,
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
                let debuggee = debuggee.clone();
                let config = config.clone();
                let stream = match stream.into_std().and_then(|s| {
                    s.set_nonblocking(false)?;
                    Ok(s)
                }) {
                    Ok(s) => s,
                    Err(e) => {
                        warn!(session = id, %peer, "cannot serve: {e}");
                        continue;
                    }
                };
                let spawned = std::thread::Builder::new()
                    .name(format!("session-{id}"))
                    .spawn(move || {
                        let _permit = permit;
                        info!(session = id, %peer, "gdb connected");
                        let result = run_session(stream, debuggee, &config);
                        match result {
                            Ok(()) => info!(session = id, %peer, "gdb disconnected"),
                            Err(e) => warn!(session = id, %peer, "session ended: {e}"),
                        }
                    });
                if let Err(e) = spawned {
                    warn!(session = id, %peer, "cannot start a session thread: {e}");
                }
            }
            _ = &mut shutdown => {
                info!("shutting down");
                return Ok(());
            }
        }
    }
}

fn run_session(
    stream: TcpStream,
    debuggee: Arc<Debuggee>,
    config: &ServerConfig,
) -> Result<(), SessionError> {
    stream.set_nodelay(true)?;
    // A write that makes no progress for this long fails: the client stopped reading.
    stream.set_write_timeout(Some(config.write_timeout))?;
    let local_client = stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
    let mut cpu = CpuFollower::new(config.follow_client_cpu && local_client);
    let mut session = AnySession::new(debuggee, &config.session)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let (mut rx, mut tx) = (&stream, &stream);
    loop {
        let n = match rx.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        cpu.follow(&stream);
        let mut input = &buf[..n];
        loop {
            let (used, status) = session.feed(input, &mut out)?;
            send(&mut tx, &out, config.write_timeout)?;
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

fn send(tx: &mut &TcpStream, bytes: &[u8], timeout: Duration) -> Result<(), SessionError> {
    match tx.write_all(bytes) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(SessionError::WriteTimeout(timeout))
        }
        r => Ok(r?),
    }
}

/// Keeps a session's thread on the CPU its client last sent from.
struct CpuFollower {
    enabled: bool,
    /// The CPU the thread is bound to, if any.
    on: Option<usize>,
}

impl CpuFollower {
    fn new(enabled: bool) -> Self {
        CpuFollower { enabled, on: None }
    }

    /// After a read: move to the CPU the client's last bytes came from, if that changed.
    fn follow(&mut self, stream: &TcpStream) {
        if !self.enabled {
            return;
        }
        let Some(cpu) = follow_client_cpu::incoming_cpu(stream) else {
            self.enabled = false;
            return;
        };
        if self.on != Some(cpu) {
            if follow_client_cpu::bind_thread_to(cpu) {
                debug!("session thread follows its client to CPU {cpu}");
                self.on = Some(cpu);
            } else {
                // Not a CPU we may use (a restricted cpuset): leave it to the scheduler.
                self.enabled = false;
            }
        }
    }
}

/// Which CPU a loopback client sends from, and binding the calling thread to it. On a
/// loopback connection the kernel processes a packet on the sender's CPU, and records it
/// as the socket's `SO_INCOMING_CPU`.
mod follow_client_cpu {
    use std::net::TcpStream;

    /// The CPU that processed the last bytes received on `stream`, if the kernel says.
    #[cfg(target_os = "linux")]
    pub fn incoming_cpu(stream: &TcpStream) -> Option<usize> {
        use std::os::fd::AsRawFd;
        let mut cpu: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `cpu`, a c_int that lives
        // across the call, on a descriptor `stream` owns.
        let r = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_INCOMING_CPU,
                (&mut cpu as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        (r == 0)
            .then_some(cpu)
            .and_then(|c| usize::try_from(c).ok())
    }

    /// Bind the calling thread to `cpu`; false if the kernel refuses.
    #[cfg(target_os = "linux")]
    pub fn bind_thread_to(cpu: usize) -> bool {
        if cpu >= libc::CPU_SETSIZE as usize {
            return false;
        }
        // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it (cpu
        // is below CPU_SETSIZE); sched_setaffinity(0, …) reads it for the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn incoming_cpu(_stream: &TcpStream) -> Option<usize> {
        None
    }

    #[cfg(not(target_os = "linux"))]
    pub fn bind_thread_to(_cpu: usize) -> bool {
        false
    }
}
