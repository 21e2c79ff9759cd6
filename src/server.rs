//! The TCP server: a tokio accept loop, one gdb session per connection.
//!
//! Only transport lives here: accept, read, write, timeouts, the session bound. Each
//! connection drives its own transport-free [`AnySession`] (current thread, address
//! view, translation cache) over the one shared, read-only [`Debuggee`]. A session that
//! ends for any reason (detach, kill, disconnect, garbage) is logged and the server
//! keeps serving.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

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
    /// holds a few hundred KiB (buffers, translation cache), so this bounds memory.
    pub max_sessions: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            session: SessionConfig::default(),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
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
                tokio::spawn(async move {
                    let _permit = permit;
                    info!(session = id, %peer, "gdb connected");
                    let result = run_session(stream, debuggee, &config).await;
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

async fn run_session(
    stream: TcpStream,
    debuggee: Arc<Debuggee>,
    config: &ServerConfig,
) -> Result<(), SessionError> {
    stream.set_nodelay(true)?;
    let (mut rx, mut tx) = stream.into_split();
    let mut session = AnySession::new(debuggee, &config.session)?;
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
