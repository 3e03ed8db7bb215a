//! Connections the server can drop on purpose.
//!
//! Fault injection must be able to close a client's connection without an answer, either
//! before the request is processed or after its write committed. axum hides the socket from
//! handlers, so the listener wraps every accepted stream in a [`DroppableStream`] that shares a
//! [`Dropper`] with the request's extensions (through axum's `ConnectInfo`). Once a handler
//! trips it, every read and write on the stream fails, hyper abandons the connection without
//! writing the response, and the socket is closed: the client sees the connection end before
//! any byte of a response.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Trips the drop of one connection; cloned into each request's extensions.
#[derive(Debug, Clone, Default)]
pub struct Dropper(Arc<AtomicBool>);

impl Dropper {
    /// Makes every further read and write on the connection fail, so it closes unanswered.
    pub fn drop_connection(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn tripped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Connected<IncomingStream<'_, DroppableListener>> for Dropper {
    fn connect_info(stream: IncomingStream<'_, DroppableListener>) -> Dropper {
        stream.io().dropper.clone()
    }
}

/// A TCP listener whose connections can be dropped by fault injection.
#[derive(Debug)]
pub struct DroppableListener {
    inner: TcpListener,
    idle: Option<Duration>,
    /// Connections open at once; further ones wait in the kernel's backlog.
    limit: Option<Arc<tokio::sync::Semaphore>>,
}

impl DroppableListener {
    /// Wraps a bound listener.
    pub fn new(inner: TcpListener) -> DroppableListener {
        DroppableListener {
            inner,
            idle: None,
            limit: None,
        }
    }

    /// Serves at most `n` connections at once: file descriptors cannot run out, and the
    /// connections over the limit are accepted as earlier ones close.
    pub fn with_connection_limit(mut self, n: usize) -> DroppableListener {
        self.limit = Some(Arc::new(tokio::sync::Semaphore::new(n.max(1))));
        self
    }

    /// Closes a connection once it makes no progress for `idle`: a request whose headers
    /// never finish, a client that never reads its answer, or an idle keep-alive connection.
    pub fn with_idle_timeout(mut self, idle: Duration) -> DroppableListener {
        self.idle = Some(idle);
        self
    }
}

impl Listener for DroppableListener {
    type Io = DroppableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (DroppableStream, SocketAddr) {
        let permit = match &self.limit {
            Some(limit) => Arc::clone(limit).acquire_owned().await.ok(),
            None => None,
        };
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // Small JSON answers must not wait for Nagle's algorithm.
                    let _ = stream.set_nodelay(true);
                    let stream = DroppableStream {
                        inner: stream,
                        dropper: Dropper::default(),
                        idle: self.idle,
                        deadline: None,
                        _permit: permit,
                    };
                    return (stream, addr);
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection that fails all I/O once its [`Dropper`] is tripped.
#[derive(Debug)]
pub struct DroppableStream {
    inner: TcpStream,
    dropper: Dropper,
    /// The idle timeout, and the timer running while I/O waits.
    idle: Option<Duration>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The connection's place under the listener's limit, given back when it closes.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl DroppableStream {
    /// Called when I/O is pending: true once the connection has waited longer than the idle
    /// timeout since its last progress.
    fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(idle) = self.idle else {
            return false;
        };
        let sleep = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        sleep.as_mut().poll(cx).is_ready()
    }

    /// Maps a poll result: progress resets the timer, waiting too long fails the I/O.
    fn track<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Pending if self.stalled(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
            ready => {
                self.deadline = None;
                ready
            }
        }
    }
}

/// The error every I/O call returns once the connection was dropped.
fn dropped() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by fault injection",
    )
}

impl AsyncRead for DroppableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.dropper.tripped() {
            return Poll::Ready(Err(dropped()));
        }
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.track(cx, poll)
    }
}

impl AsyncWrite for DroppableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.dropper.tripped() {
            return Poll::Ready(Err(dropped()));
        }
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.track(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.dropper.tripped() {
            return Poll::Ready(Err(dropped()));
        }
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.track(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.dropper.tripped() {
            return Poll::Ready(Err(dropped()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
