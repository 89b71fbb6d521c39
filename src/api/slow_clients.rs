//! Bounds on every stage of a connection, so no client, slow or silent, holds one for longer than they add up
//! to. poem's server offers none that fit: its idle timeout resets on every byte (a client sending one header
//! byte a second would hold a connection forever), and hyper's own header timeout needs a timer poem does not
//! give it.
//!
//! Each accepted stream is wrapped and moves through three stages, each with its own deadline:
//!
//! - **headers**: from the moment the connection opens, or from the first byte of a kept-alive connection's
//!   next request, the client has `FARMLOKAL_HEADER_READ_TIMEOUT_MS` to deliver a complete header block (up to
//!   the first blank line);
//! - **request**: from the end of the headers until the response starts going out, the request timeout
//!   (`FARMLOKAL_REQUEST_TIMEOUT_MS`) plus [`RESPONSE_GRACE`]. This covers the body as well, on every route:
//!   the request middleware answers 504 at the request timeout (its clock includes reading the body), and a
//!   route that never reads a trickling body is cut here instead of waiting for it forever;
//! - **idle**: once the response is going out, `FARMLOKAL_IDLE_TIMEOUT_MS` of no progress: each response
//!   write restarts it (a slow reader is cut only when a write stalls that long), and so does nothing else
//!   until the first byte of the next request moves the connection back to the headers stage.
//!
//! When a deadline passes, the next read, write or flush fails and hyper closes the connection. The deadline's
//! timer is registered with the connection's task the moment it is armed: hyper does not read again after
//! writing a response until the socket wakes it, so a deadline only checked in `poll_read` would never fire on a
//! silent keep-alive connection (the cause of issue 13).
//!
//! The timer is lazy: a stage that moves the deadline later (most do: every request passes through three
//! stages) only records it, and the timer, still set for the earlier instant, re-arms itself for the recorded
//! deadline when it fires. Only a deadline earlier than the timer's resets it. A kept-alive connection thus
//! touches the timer wheel about once per header-read timeout instead of three times per request.

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

/// How long past the request timeout a request may hold its connection before the connection is cut: time
/// for the 504 to start going out.
pub const RESPONSE_GRACE: Duration = Duration::from_secs(1);

/// The deadline of each stage of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// To deliver one request's complete header block.
    pub header_read: Duration,
    /// From the end of the headers until the response starts; [`RESPONSE_GRACE`] is added to it.
    pub request: Duration,
    /// Without progress after a response has started, or before the next request's first byte.
    pub idle: Duration,
}

/// Wraps an acceptor so every connection gets the stage deadlines.
pub struct StageDeadlines<A> {
    inner: A,
    bounds: Bounds,
}

impl<A> StageDeadlines<A> {
    pub fn new(inner: A, bounds: Bounds) -> Self {
        Self { inner, bounds }
    }
}

impl<A: Acceptor> Acceptor for StageDeadlines<A> {
    type Io = DeadlineStream<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((DeadlineStream::new(io, self.bounds), local, remote, scheme))
    }
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Reading a header block.
    Headers,
    /// Headers read, no response yet: the body and the handler.
    Request,
    /// A response is going out or went out; no byte of the next request yet.
    Idle,
}

/// A stream whose reads, writes and flushes fail once its current stage outlives its deadline.
pub struct DeadlineStream<T> {
    inner: T,
    bounds: Bounds,
    stage: Stage,
    /// The current stage's deadline.
    deadline: Instant,
    /// The timer, set for `deadline` or for an earlier instant (then it re-arms when it fires).
    timer: Pin<Box<Sleep>>,
    /// Whether the timer is registered with the connection's task.
    registered: bool,
    /// How many bytes of `\r\n\r\n` the header block has ended with so far.
    matched: usize,
    /// Bytes of the current header block read so far (see [`HEAD_LIMIT`]).
    head_bytes: usize,
}

impl<T> DeadlineStream<T> {
    fn new(inner: T, bounds: Bounds) -> Self {
        let deadline = Instant::now() + bounds.header_read;
        let timer = Box::pin(tokio::time::sleep_until(deadline));
        Self { inner, bounds, stage: Stage::Headers, deadline, timer, registered: false, matched: 0, head_bytes: 0 }
    }

    /// Moves to `stage` with a fresh deadline.
    fn enter(&mut self, stage: Stage) {
        let after = match stage {
            Stage::Headers => self.bounds.header_read,
            Stage::Request => self.bounds.request + RESPONSE_GRACE,
            Stage::Idle => self.bounds.idle,
        };
        self.stage = stage;
        self.matched = 0;
        self.head_bytes = 0;
        self.deadline = Instant::now() + after;
        if self.deadline < self.timer.deadline() {
            self.timer.as_mut().reset(self.deadline);
            self.registered = false;
        }
    }

    /// Polls the deadline, which also registers its timer so the task wakes when it passes, even if hyper
    /// reads nothing until then. An error once it has passed.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        self.registered = true;
        let mut fired = self.timer.as_mut().poll(cx);
        if fired.is_ready() && self.timer.deadline() < self.deadline {
            // Set for an earlier stage's deadline: re-arm for the current one (and register it).
            self.timer.as_mut().reset(self.deadline);
            fired = self.timer.as_mut().poll(cx);
        }
        match fired {
            Poll::Ready(()) => {
                metrics::counter!("farmlokal_slow_clients_closed_total").increment(1);
                let what = match self.stage {
                    Stage::Headers => "request headers not received in time",
                    Stage::Request => "request not completed in time",
                    Stage::Idle => "connection idle too long",
                };
                Err(io::Error::new(io::ErrorKind::TimedOut, what))
            }
            Poll::Pending => Ok(()),
        }
    }

    /// Follows the request cycle through the bytes read.
    fn on_read(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.stage == Stage::Idle {
            self.enter(Stage::Headers);
        }
        if self.stage != Stage::Headers {
            return;
        }
        self.head_bytes += bytes.len();
        if header_block_ends(&mut self.matched, bytes) {
            self.enter(Stage::Request);
        }
    }

    /// How many more bytes the next read may deliver when that would carry a header block past [`HEAD_LIMIT`]:
    /// `None` when the read needs no bound (not reading a header block, or room for the whole buffer).
    fn head_room(&self, wanted: usize) -> Option<usize> {
        let reading_head = matches!(self.stage, Stage::Headers | Stage::Idle);
        let left = if self.stage == Stage::Idle { HEAD_LIMIT } else { HEAD_LIMIT.saturating_sub(self.head_bytes) };
        (reading_head && left > 0 && left < wanted).then_some(left)
    }

    /// A response byte went out: the idle clock (re)starts.
    fn on_written(&mut self) {
        if self.stage != Stage::Headers {
            self.enter(Stage::Idle);
        }
    }

    /// After any operation: the deadline's timer is registered, and a passed deadline is an error.
    fn guard<R>(&mut self, cx: &mut Context<'_>, result: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match result {
            Poll::Pending => match self.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            ready => {
                if !self.registered {
                    // Only registers: a read or write that made progress is not failed by it.
                    let _ = self.check(cx);
                }
                ready
            }
        }
    }
}

/// The most bytes of one header block (request line included) hyper is given: its read buffer's limit
/// (`max_buf_size`, which poem leaves at hyper's default). hyper refuses a head with 431 when its buffer holds
/// this much and no complete head, but it checks only after trying to parse: one read that brings the buffer
/// from below the limit to past it, the blank line included, parsed a larger head and answered it (a 480 KiB
/// head was answered 200 when the client had sent it all before the server read). Reads are bounded so that
/// a head never reaches hyper past this many bytes, and a larger one is refused every time.
const HEAD_LIMIT: usize = 8192 + 4096 * 100;

/// The blank line that ends a request's header block.
const HEADER_END: &[u8] = b"\r\n\r\n";

/// Whether the header block ends within `bytes`, given that the bytes read before them ended with `matched`
/// bytes of [`HEADER_END`]; otherwise `matched` becomes how many its last bytes hold. A terminator split across
/// reads is finished byte by byte (at most three); the rest is one vectorised search, not a loop per byte.
fn header_block_ends(matched: &mut usize, bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while *matched > 0 {
        let Some((&b, tail)) = rest.split_first() else { return false };
        rest = tail;
        *matched = if b == HEADER_END[*matched] { *matched + 1 } else { usize::from(b == HEADER_END[0]) };
        if *matched == HEADER_END.len() {
            return true;
        }
    }
    // A read usually ends with the blank line (a whole head, or a head and a body that ends the same way):
    // checked first, it spares the search's set-up.
    if rest.ends_with(HEADER_END) || memchr::memmem::find(rest, HEADER_END).is_some() {
        return true;
    }
    *matched = (1..HEADER_END.len()).rev().find(|&k| rest.ends_with(&HEADER_END[..k])).unwrap_or(0);
    false
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineStream<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = match this.head_room(buf.remaining()) {
            // Rare (a header block near the limit), so a copy through a buffer of the room left is fine.
            Some(room) => {
                let mut scratch = vec![0; room];
                let mut bounded = ReadBuf::new(&mut scratch);
                let read = Pin::new(&mut this.inner).poll_read(cx, &mut bounded);
                buf.put_slice(bounded.filled());
                read
            }
            None => Pin::new(&mut this.inner).poll_read(cx, buf),
        };
        if matches!(read, Poll::Ready(Ok(()))) {
            this.on_read(&buf.filled()[before..]);
        }
        this.guard(cx, read)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineStream<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.on_written();
        }
        this.guard(cx, written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        // hyper flushes on every wake of the connection, even when it has nothing to read or write: a passed
        // deadline is reported here too, so a connection whose handler and body are both stalled is cut.
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        flushed
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
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.on_written();
        }
        this.guard(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time state machine `header_block_ends` replaces: where the header block ends, if it does.
    fn naive_end(bytes: &[u8]) -> Option<usize> {
        let mut matched = 0;
        for (i, &b) in bytes.iter().enumerate() {
            matched = if b == HEADER_END[matched] { matched + 1 } else { usize::from(b == HEADER_END[0]) };
            if matched == HEADER_END.len() {
                return Some(i);
            }
        }
        None
    }

    #[test]
    fn the_header_block_end_is_found_however_the_reads_split_it() {
        let inputs: [&[u8]; 7] = [
            b"GET / HTTP/1.1\r\nhost: a\r\n\r\n",
            // The blank line inside a read, a body after it.
            b"POST / HTTP/1.1\r\ncontent-length: 2\r\n\r\nab",
            b"GET / HTTP/1.1\r\nhost: a\r\n\r\r\n\r\n",
            b"GET / HTTP/1.1\r\nx: \r\r\n\r\r\n\n\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: a\r\n",
            b"\r\n\r",
            b"\r\r\n\r\n",
        ];
        for input in inputs {
            let want = naive_end(input);
            // Every split into two reads, and one read per byte.
            for cut in 0..=input.len() {
                let mut matched = 0;
                let ended =
                    header_block_ends(&mut matched, &input[..cut]) || header_block_ends(&mut matched, &input[cut..]);
                assert_eq!(ended, want.is_some(), "{input:?} cut at {cut}");
            }
            let mut matched = 0;
            let at = input.iter().position(|b| header_block_ends(&mut matched, std::slice::from_ref(b)));
            assert_eq!(at, want, "{input:?} a byte at a time");
        }
    }
}
