//! A header-read deadline for every connection (slowloris protection), which poem's server does not offer:
//! its idle timeout resets on every byte, so a client sending one header byte a second would hold a
//! connection forever.
//!
//! Each accepted stream is wrapped: from the moment the connection opens, and again after every response, the
//! client has the header-read timeout (`FARMLOKAL_HEADER_READ_TIMEOUT_MS`) to deliver a complete header block
//! (up to the first blank line). If it does not, reads fail and the connection closes. Bodies are not affected: after the blank line the clock
//! stops until the response is written. An idle keep-alive connection is closed after the same time.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::future::Future as _;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Wraps an acceptor so every connection gets the header deadline.
pub struct HeaderDeadline<A> {
    inner: A,
    timeout: Duration,
}

impl<A> HeaderDeadline<A> {
    pub fn new(inner: A, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<A: Acceptor> Acceptor for HeaderDeadline<A> {
    type Io = DeadlineStream<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((DeadlineStream::new(io, self.timeout), local, remote, scheme))
    }
}

/// A stream whose reads fail once a header block takes longer than its deadline.
pub struct DeadlineStream<T> {
    inner: T,
    timeout: Duration,
    /// Armed while waiting for headers; `None` while a request is being handled.
    deadline: Option<Pin<Box<Sleep>>>,
    /// How many bytes of `\r\n\r\n` the header block has ended with so far.
    matched: usize,
}

impl<T> DeadlineStream<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        Self { inner, timeout, deadline: Some(Box::pin(tokio::time::sleep(timeout))), matched: 0 }
    }

    /// Watches the bytes read for the blank line that ends a header block.
    fn scan(&mut self, bytes: &[u8]) {
        if self.deadline.is_none() {
            return;
        }
        const END: &[u8] = b"\r\n\r\n";
        for &b in bytes {
            self.matched = if b == END[self.matched] {
                self.matched + 1
            } else if b == END[0] {
                1
            } else {
                0
            };
            if self.matched == END.len() {
                self.deadline = None;
                self.matched = 0;
                return;
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineStream<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let filled = buf.filled()[before..].to_vec();
                this.scan(&filled);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => {
                    metrics::counter!("farmlokal_slow_clients_closed_total").increment(1);
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request headers not received in time")))
                }
                _ => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineStream<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) && this.deadline.is_none() {
            // A response is going out: the next request's headers get a fresh deadline.
            this.deadline = Some(Box::pin(tokio::time::sleep_until(Instant::now() + this.timeout)));
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) && this.deadline.is_none() {
            this.deadline = Some(Box::pin(tokio::time::sleep_until(Instant::now() + this.timeout)));
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
