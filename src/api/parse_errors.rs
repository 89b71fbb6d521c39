//! Problem+json for the requests the HTTP server refuses before the application sees them.
//!
//! hyper answers a request it cannot parse (a malformed head: 400; a URI too long: 414; a header block too
//! large or with too many fields: 431; ...) itself, with an empty body and no request id, then closes the
//! connection. Clients and operators get nothing to go on. This stream wrapper recognises such an answer as it
//! is written (a response head with an error status, `content-length: 0` and no `x-request-id`, which every
//! answer of the application carries) and writes a problem+json answer with the same status in its place, with
//! an `X-Request-Id` (logged with the reason) and `Connection: close`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use poem::http::uri::Scheme;
use poem::http::StatusCode;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::problem::{Problem, ProblemCode};

/// Wraps an acceptor so the server's own error answers become problems.
pub struct ProblemAnswers<A> {
    inner: A,
}

impl<A> ProblemAnswers<A> {
    pub fn new(inner: A) -> Self {
        Self { inner }
    }
}

impl<A: Acceptor> Acceptor for ProblemAnswers<A> {
    type Io = ProblemStream<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((ProblemStream { inner: io, pending: Vec::new(), written: 0 }, local, remote, scheme))
    }
}

/// A stream that replaces the server's own bodiless error answers.
pub struct ProblemStream<T> {
    inner: T,
    /// A replacement answer still to write, and how much of it is written.
    pending: Vec<u8>,
    written: usize,
}

impl<T: AsyncWrite + Unpin> ProblemStream<T> {
    /// Before a write of `len` bytes starting with `head`: finishes a replacement still going out, and puts a
    /// problem in place of the server's own error answer. `None`: write the bytes as they are.
    fn replace(&mut self, cx: &mut Context<'_>, head: &[u8], len: usize) -> Option<Poll<io::Result<usize>>> {
        match self.drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Some(Poll::Ready(Err(e))),
            Poll::Pending => return Some(Poll::Pending),
        }
        let status = own_error_status(head)?;
        self.pending = problem_answer(status);
        // The server's bytes count as written: the replacement goes out in their place (the rest of it on the
        // next write, flush or shutdown).
        Some(match self.drain(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(len)),
        })
    }

    /// Writes what is left of a replacement; ready when nothing is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

/// The status of a bodiless error answer written by the server itself, when `bytes` start with one.
fn own_error_status(bytes: &[u8]) -> Option<StatusCode> {
    // Every other answer is told apart by its first bytes, before anything is searched or copied.
    if !(bytes.starts_with(b"HTTP/1.1 4") || bytes.starts_with(b"HTTP/1.1 5")) {
        return None;
    }
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?.to_ascii_lowercase();
    let status = head.strip_prefix("http/1.1 ")?.get(..3)?.parse::<u16>().ok()?;
    let status = StatusCode::from_u16(status).ok().filter(|s| s.is_client_error() || s.is_server_error())?;
    let bodiless = head.lines().any(|line| line.trim() == "content-length: 0");
    (bodiless && !head.contains("\r\nx-request-id:")).then_some(status)
}

/// The problem+json answer written in place of the server's own one.
fn problem_answer(status: StatusCode) -> Vec<u8> {
    let (code, detail) = match status {
        StatusCode::URI_TOO_LONG => (ProblemCode::UriTooLong, "the request target is too long"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            (ProblemCode::HeadersTooLarge, "the request's header block is too large or has too many fields")
        }
        _ => (ProblemCode::MalformedRequest, "the request is not valid HTTP/1.1"),
    };
    let request_id = uuid::Uuid::new_v4();
    tracing::info!(id = %request_id, status = status.as_u16(), reason = detail, "request refused by the HTTP parser");
    let mut problem = Problem::new(code, detail);
    problem.status = status.as_u16();
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\n\
         cache-control: no-store\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let mut answer = head.into_bytes();
    answer.extend_from_slice(&body);
    answer
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemStream<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemStream<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(ready) = this.replace(cx, buf, buf.len()) {
            return ready;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        if let Some(ready) = this.replace(cx, first, bufs.iter().map(|b| b.len()).sum()) {
            return ready;
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}
