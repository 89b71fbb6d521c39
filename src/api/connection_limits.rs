//! Bounds on how many connections the listener holds open at once: per client address
//! (`FARMLOKAL_MAX_CONNECTIONS_PER_CLIENT`) and in total (`FARMLOKAL_MAX_CONNECTIONS`). Without them one
//! client opening connections (each cheap, each within the stage deadlines of `slow_clients`) could take every
//! file descriptor of the process and lock every other client out.
//!
//! A connection past a limit is answered at once, without reading its request, with a problem+json response and
//! `Connection: close`: 429 `rate_limited` when its client address holds too many, 503 `service_unavailable`
//! when the instance holds too many in all, each with `Retry-After: 1`. The answer is written by a task of its
//! own, so the listener keeps accepting; at most [`MAX_REFUSING`] such tasks run at once, each for at most
//! [`REFUSAL_TIME`], and a connection beyond them is closed with no answer.
//!
//! The client address is the peer's: the listener sees no header. A trusted proxy
//! (`FARMLOKAL_TRUSTED_PROXIES`) carries many clients, so its connections count towards the total only. An IPv6
//! peer counts by its /64 prefix, the block one subscriber is usually given; an IPv4-mapped IPv6 address counts
//! as the IPv4 address.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use ipnet::IpNet;
use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::Addr;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};

use super::problem::{Problem, ProblemCode, PROBLEM_JSON};

/// Refused connections being answered at once, at most; past this a refused connection is closed unanswered.
pub const MAX_REFUSING: usize = 256;
/// The longest a refused connection is kept: to write its answer, then to read what the client already sent
/// (closing a socket with unread data resets it, and the client may then lose the answer).
pub const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// How many connections are held open at most; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From one client address (an IPv6 /64), trusted proxies excepted.
    pub per_client: usize,
    /// In all.
    pub total: usize,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Client,
    Total,
}

/// The open connections, by client key and in all.
#[derive(Debug, Default)]
struct Counts {
    by_client: HashMap<IpAddr, usize>,
    total: usize,
}

/// The shared tally; a [`Ticket`] gives its place back when dropped.
#[derive(Debug)]
struct Tally {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
}

impl Tally {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits one more connection from `client` (`None`: not limited per client), or says which limit refuses it.
    fn admit(self: &Arc<Self>, client: Option<IpAddr>) -> Result<Ticket, Refusal> {
        let mut counts = self.counts();
        if self.limits.total != 0 && counts.total >= self.limits.total {
            return Err(Refusal::Total);
        }
        if let Some(client) = client {
            let held = counts.by_client.entry(client).or_default();
            if self.limits.per_client != 0 && *held >= self.limits.per_client {
                return Err(Refusal::Client);
            }
            *held += 1;
        }
        counts.total += 1;
        Ok(Ticket { tally: self.clone(), client })
    }
}

/// One admitted connection's place in the tally.
#[derive(Debug)]
struct Ticket {
    tally: Arc<Tally>,
    client: Option<IpAddr>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.tally.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(client) = self.client {
            if let Some(held) = counts.by_client.get_mut(&client) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    counts.by_client.remove(&client);
                }
            }
        }
    }
}

/// The key a peer address is counted under: IPv4 as is (IPv4-mapped IPv6 included), IPv6 by its /64.
pub fn client_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// Wraps an acceptor so it holds no more connections than the limits allow.
pub struct LimitConnections<A> {
    inner: A,
    tally: Arc<Tally>,
    trusted_proxies: Vec<IpNet>,
    refusing: Arc<AtomicUsize>,
}

impl<A> LimitConnections<A> {
    pub fn new(inner: A, limits: ConnectionLimits, trusted_proxies: Vec<IpNet>) -> Self {
        let tally = Arc::new(Tally { limits, counts: Mutex::default() });
        Self { inner, tally, trusted_proxies, refusing: Arc::default() }
    }

    /// The key `remote` is limited under, or `None` for a trusted proxy or a peer with no IP address.
    fn client_of(&self, remote: &RemoteAddr) -> Option<IpAddr> {
        let Addr::SocketAddr(address) = &remote.0 else { return None };
        let peer = address.ip().to_canonical();
        if self.trusted_proxies.iter().any(|net| net.contains(&peer)) {
            return None;
        }
        Some(client_key(peer))
    }
}

impl<A: Acceptor> Acceptor for LimitConnections<A>
where
    A::Io: 'static,
{
    type Io = Counted<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (io, local, remote, scheme) = self.inner.accept().await?;
            match self.tally.admit(self.client_of(&remote)) {
                Ok(ticket) => return Ok((Counted { inner: io, _ticket: ticket }, local, remote, scheme)),
                Err(refusal) => refuse(io, refusal, &self.refusing),
            }
        }
    }
}

/// Answers a refused connection from a task of its own, or closes it unanswered when enough are being answered.
fn refuse<T: AsyncRead + AsyncWrite + Send + Unpin + 'static>(
    mut io: T,
    refusal: Refusal,
    refusing: &Arc<AtomicUsize>,
) {
    let limit = match refusal {
        Refusal::Client => "per_client",
        Refusal::Total => "total",
    };
    metrics::counter!("farmlokal_connections_refused_total", "limit" => limit).increment(1);
    if refusing.fetch_add(1, Ordering::SeqCst) >= MAX_REFUSING {
        refusing.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let refusing = refusing.clone();
    tokio::spawn(async move {
        let answer = async {
            io.write_all(&refusal_response(refusal)).await?;
            io.shutdown().await?;
            // Read what the client sent until it closes, so closing our side does not reset the connection.
            let mut sink = [0u8; 4096];
            while io.read(&mut sink).await? != 0 {}
            Ok::<_, io::Error>(())
        };
        let _ = tokio::time::timeout(REFUSAL_TIME, answer).await;
        refusing.fetch_sub(1, Ordering::SeqCst);
    });
}

/// The complete HTTP/1.1 answer to a refused connection.
fn refusal_response(refusal: Refusal) -> Vec<u8> {
    let (code, detail) = match refusal {
        Refusal::Client => (ProblemCode::RateLimited, "too many open connections from this client address"),
        Refusal::Total => (ProblemCode::ServiceUnavailable, "this instance holds as many connections as it takes"),
    };
    let problem = Problem::new(code, detail);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let status = code.status();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\nretry-after: 1\r\n\
         cache-control: no-store\r\nx-content-type-options: nosniff\r\nx-request-id: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        uuid::Uuid::new_v4(),
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}

/// File descriptors kept for everything but client connections: pools, the sandbox, logs, refusals.
const OTHER_FILES: u64 = 256 + MAX_REFUSING as u64;

/// Logs a warning when the total limit (or none) lets client connections take every file descriptor the
/// process may open, which would leave nothing for the pools and lock every new client out with no answer.
pub fn warn_above_open_file_limit(limits: ConnectionLimits) {
    let Some(open_files) = open_file_limit() else { return };
    let total = u64::try_from(limits.total).unwrap_or(u64::MAX);
    if limits.total == 0 || total.saturating_add(OTHER_FILES) > open_files {
        tracing::warn!(
            max_connections = limits.total,
            open_file_limit = open_files,
            "FARMLOKAL_MAX_CONNECTIONS (0: none) is not below the open-file limit less {OTHER_FILES}: raise the \
             limit (ulimit -n) or lower FARMLOKAL_MAX_CONNECTIONS"
        );
    }
}

/// The soft limit on open files of this process, read from `/proc/self/limits` (Linux); `None` elsewhere or
/// when unlimited.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// An admitted connection: it holds its place in the tally until it is dropped.
pub struct Counted<T> {
    inner: T,
    _ticket: Ticket,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
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
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(per_client: usize, total: usize) -> Arc<Tally> {
        Arc::new(Tally { limits: ConnectionLimits { per_client, total }, counts: Mutex::default() })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn a_client_at_its_limit_is_refused_until_one_of_its_connections_closes() {
        let tally = tally(2, 0);
        let a = Some(ip("192.0.2.1"));
        let first = tally.admit(a);
        let _second = tally.admit(a);

        assert_eq!(tally.admit(a).err(), Some(Refusal::Client));
        assert!(tally.admit(Some(ip("192.0.2.2"))).is_ok(), "another client is still admitted");
        drop(first);
        assert!(tally.admit(a).is_ok());
    }

    #[test]
    fn the_total_limit_counts_every_connection_trusted_proxies_included() {
        let tally = tally(0, 2);
        let _proxy = tally.admit(None);
        let _client = tally.admit(Some(ip("192.0.2.1")));

        assert_eq!(tally.admit(Some(ip("192.0.2.9"))).err(), Some(Refusal::Total));
        assert_eq!(tally.admit(None).err(), Some(Refusal::Total));
    }

    #[test]
    fn zero_means_no_limit_and_closed_connections_leave_no_entry() {
        let tally = tally(0, 0);
        let tickets: Vec<_> = (0..1000).map(|_| tally.admit(Some(ip("192.0.2.1")))).collect();
        assert!(tickets.iter().all(Result::is_ok));
        drop(tickets);
        assert_eq!(tally.counts().total, 0);
        assert!(tally.counts().by_client.is_empty());
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), client_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(client_key(ip("2001:db8:1:2::1")), client_key(ip("2001:db8:1:3::1")));
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn a_refusal_is_a_complete_problem_response_that_closes_the_connection() {
        let text = String::from_utf8(refusal_response(Refusal::Client)).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();

        assert!(head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{head}");
        assert!(head.contains("\r\ncontent-type: application/problem+json\r\n"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(problem["code"], "rate_limited");
        assert_eq!(problem["status"], 429);
        assert!(String::from_utf8_lossy(&refusal_response(Refusal::Total)).starts_with("HTTP/1.1 503 "));
    }
}
