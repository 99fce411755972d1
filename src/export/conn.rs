//! What one client may hold of the HTTP server: a listener for
//! [`axum::serve`] that caps the connections served at once and puts two
//! deadlines on each (`[http]` `max_connections`, `header_read_timeout`,
//! `idle_timeout`, see [`HttpLimits`]).
//!
//! - **Connection cap.** Past `max_connections`, a new connection is
//!   answered `503 Service Unavailable` (`Retry-After: 1`) and closed at
//!   once, so a flood of idle sockets cannot grow memory or file
//!   descriptors without bound; slots come back as the deadlines below
//!   close idle ones.
//! - **Header-read deadline.** A request head (request line and headers,
//!   up to the blank line) must be complete `header_read_timeout` after its
//!   first byte, or after the connection opened for the first request. A
//!   client dribbling its headers (slowloris) is disconnected.
//! - **Idle deadline.** A connection with nothing read or written for
//!   `idle_timeout` is closed: kept-alive connections between requests,
//!   and stream clients that stopped reading (their writes stall). Streams
//!   write at least once a second, so a live wallboard never idles.
//!
//! Both deadlines work on the bytes of the connection, below HTTP: the head
//! ends at the first `\r\n\r\n` after its first byte. (This server has no
//! request bodies; a body containing no blank line would count as the start
//! of a next head, which only makes its connection close sooner once idle.)

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tracing::{debug, warn};

use super::settings::HttpLimits;

/// Sent to a connection over the cap, which is then closed.
const OVER_CAP: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 47\r\n\r\nccpulse: too many connections, try again later\n";

/// How often at most a refused connection is logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A TCP listener with a connection cap and per-connection deadlines.
pub struct LimitedListener {
    inner: TcpListener,
    limits: HttpLimits,
    permits: Arc<Semaphore>,
    refused: Arc<AtomicU64>,
    last_warned: Option<Instant>,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, limits: HttpLimits) -> Self {
        LimitedListener {
            inner,
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            limits,
            refused: Arc::new(AtomicU64::new(0)),
            last_warned: None,
        }
    }

    fn refuse(&mut self, stream: TcpStream, peer: SocketAddr) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        if self.last_warned.is_none_or(|t| now - t >= WARN_EVERY) {
            self.last_warned = Some(now);
            warn!(
                max_connections = self.limits.max_connections,
                refused_total = n,
                %peer,
                "http: connection cap reached, answering 503 (raise http.max_connections if these are real clients)"
            );
        }
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), say_over_cap(stream)).await;
        });
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        loop {
            let (stream, peer) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            };
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    let _ = stream.set_nodelay(true);
                    return (Guarded::new(stream, permit, self.limits), peer);
                }
                Err(_) => self.refuse(stream, peer),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Answer 503 and close: write the answer, end our side, and read what the
/// client sent until it closes (closing with unread data would reset the
/// connection, and the client might never see the answer).
async fn say_over_cap(stream: TcpStream) -> io::Result<()> {
    let mut sent = 0;
    while sent < OVER_CAP.len() {
        stream.writable().await?;
        match stream.try_write(&OVER_CAP[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    // Our side done (tokio's shutdown needs a feature this build lacks).
    let std = stream.into_std()?;
    std.shutdown(std::net::Shutdown::Write)?;
    let stream = TcpStream::from_std(std)?;
    let mut sink = [0u8; 1024];
    loop {
        stream.readable().await?;
        match stream.try_read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// As axum does for its own listener: a connection that failed before it
/// was accepted is nobody's problem; anything else (out of file
/// descriptors) gets a pause, so the loop does not spin.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    warn!(error = %e, "http: accept failed, pausing for 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Where a connection is in its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A head is being read; it must be complete by the deadline.
    Head { deadline: Instant },
    /// Between heads: a request is served, or the connection is kept alive.
    Served,
}

/// A served connection: the stream, its slot under the cap, its deadlines.
pub struct Guarded {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    limits: HttpLimits,
    phase: Phase,
    /// The last three bytes read, to find a `\r\n\r\n` across reads.
    tail: [u8; 3],
    /// Last byte read or written.
    active_at: Instant,
    timer: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit, limits: HttpLimits) -> Self {
        let now = Instant::now();
        Guarded {
            stream,
            _slot: slot,
            limits,
            phase: Phase::Head {
                deadline: now + limits.header_read_timeout,
            },
            tail: [0; 3],
            active_at: now,
            timer: Box::pin(tokio::time::sleep_until(now + limits.header_read_timeout)),
        }
    }

    /// Follow the heads through bytes just read.
    fn saw(&mut self, bytes: &[u8], now: Instant) {
        self.active_at = now;
        for &b in bytes {
            if self.phase == Phase::Served {
                self.phase = Phase::Head {
                    deadline: now + self.limits.header_read_timeout,
                };
                self.tail = [0; 3];
            }
            if self.tail == *b"\r\n\r" && b == b'\n' {
                self.phase = Phase::Served;
            }
            self.tail = [self.tail[1], self.tail[2], b];
        }
    }

    /// The deadline now, and what passing it means.
    fn deadline(&self) -> (Instant, &'static str) {
        match self.phase {
            Phase::Head { deadline } => (deadline, "request head not complete in time"),
            Phase::Served => (
                self.active_at + self.limits.idle_timeout,
                "idle: nothing read or written",
            ),
        }
    }

    /// Pending I/O: fail once the deadline has passed, else wake up then.
    fn pending_or_expired<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let (deadline, why) = self.deadline();
        if Instant::now() >= deadline {
            debug!(why, "http: closing connection");
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)));
        }
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            // Passed while resetting: report it now.
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    this.saw(read, Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.pending_or_expired(cx),
        }
    }
}

impl Guarded {
    /// A write that made progress, or one that stalls: the client stopped
    /// reading; fail once that lasted the idle timeout.
    fn written(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let stalled = || io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading");
        match r {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.active_at = Instant::now();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let idle = self.active_at + self.limits.idle_timeout;
                if Instant::now() >= idle {
                    debug!("http: closing connection, the client stopped reading");
                    return Poll::Ready(Err(stalled()));
                }
                if self.timer.deadline() != idle {
                    self.timer.as_mut().reset(idle);
                }
                ready!(self.timer.as_mut().poll(cx));
                Poll::Ready(Err(stalled()))
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write(cx, data);
        this.written(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.written(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_followed_across_reads() {
        let limits = HttpLimits::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let _client = TcpStream::connect(addr).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            let slot = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
            let mut g = Guarded::new(s, slot, limits);
            let t0 = Instant::now();
            assert!(matches!(g.phase, Phase::Head { .. }));
            g.saw(b"GET / HTTP/1.1\r\nHost: x\r", t0);
            assert!(matches!(g.phase, Phase::Head { .. }));
            g.saw(b"\n\r", t0);
            g.saw(b"\n", t0);
            assert_eq!(g.phase, Phase::Served);
            // The next request starts a new head with a new deadline.
            let t1 = t0 + Duration::from_secs(30);
            g.saw(b"GET /metrics", t1);
            assert_eq!(
                g.phase,
                Phase::Head {
                    deadline: t1 + limits.header_read_timeout
                }
            );
            // Two pipelined requests in one read: served after both.
            g.saw(b" HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", t1);
            assert_eq!(g.phase, Phase::Served);
            assert_eq!(g.deadline().0, t1 + limits.idle_timeout);
        });
    }
}
