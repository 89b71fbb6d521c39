//! The listener's bounds on open connections, seen from outside over real sockets: a client address holding
//! its limit has its next connection refused with a 429 problem while other clients are still served, and an
//! instance holding its total refuses the next with a 503. Clients come from distinct loopback addresses
//! (127.0.0.0/8 is all local on Linux).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use farmlokal::api::connection_limits::ConnectionLimits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::wait::poll_until;
use crate::harness::{Run, TestApp, World};

const GET_LIVE: &[u8] = b"GET /health/live HTTP/1.1\r\nHost: farmlokal\r\n\r\n";

async fn start(limits: ConnectionLimits) -> (World, TestApp) {
    let world = World::memory(10).configure(|settings| {
        settings.http.connection_limits = limits;
        settings.policy.rate_limit_per_minute = 0;
    });
    let app = world.app(Run::OnPort).await;
    (world, app)
}

async fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.bind(format!("{source}:0").parse().expect("a source address")).expect("binds a loopback address");
    socket.connect(addr).await.expect("connects")
}

/// Sends `GET /health/live` and reads one complete response (its head and `content-length` bytes of body),
/// or everything until the server closes. Returns the text and whether the server closed the connection.
async fn exchange(stream: &mut TcpStream) -> (String, bool) {
    stream.write_all(GET_LIVE).await.expect("sends");
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
            if complete(&received) {
                return false;
            }
        }
    };
    let closed = tokio::time::timeout(Duration::from_secs(10), read_all).await.expect("an answer within 10 s");
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

/// Whether `bytes` holds a whole response: its head and as many body bytes as `content-length` says.
fn complete(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    let length = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
        .and_then(|v| v.parse::<usize>().ok());
    length.is_some_and(|length| body.len() >= length)
}

/// Whether the server closes `stream` (after what it already sent) within 5 seconds.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let until_closed = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), until_closed).await.is_ok()
}

/// A connection from `source` that has been served once and is kept alive: the server has surely accepted it.
async fn held_from(source: &str, addr: SocketAddr) -> TcpStream {
    let mut stream = connect_from(source, addr).await;
    let (text, closed) = exchange(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(!closed, "a served connection is kept alive");
    stream
}

fn problem_code(text: &str) -> serde_json::Value {
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(body).map(|p| p["code"].clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holding_its_connection_limit_is_refused_a_429_while_other_clients_are_served() {
    let (_world, app) = start(ConnectionLimits { per_client: 3, total: 0 }).await;
    let addr = app.addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(held_from("127.0.0.1", addr).await);
    }

    let mut extra = connect_from("127.0.0.1", addr).await;
    let (refused, _) = exchange(&mut extra).await;
    let (other, _) = exchange(&mut connect_from("127.0.0.2", addr).await).await;

    assert!(refused.starts_with("HTTP/1.1 429 "), "{refused}");
    assert!(refused.to_ascii_lowercase().contains("content-type: application/problem+json"), "{refused}");
    assert!(refused.to_ascii_lowercase().contains("retry-after: 1"), "{refused}");
    assert_eq!(problem_code(&refused), "rate_limited", "{refused}");
    assert!(closed_by_server(&mut extra).await, "a refused connection is closed");
    assert!(other.starts_with("HTTP/1.1 200 OK"), "another client is served: {other}");

    // A connection that closes gives its place back.
    drop(held.pop());
    let served = poll_until(Instant::now() + Duration::from_secs(5), Duration::from_millis(50), || async {
        let (text, _) = exchange(&mut connect_from("127.0.0.1", addr).await).await;
        text.starts_with("HTTP/1.1 200 OK").then_some(text)
    })
    .await;
    assert!(served.is_some(), "the client is still refused after closing one of its connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_holding_its_total_connection_limit_refuses_the_next_with_a_503() {
    let (_world, app) = start(ConnectionLimits { per_client: 0, total: 3 }).await;
    let addr = app.addr();
    let mut held = Vec::new();
    for source in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        held.push(held_from(source, addr).await);
    }

    let mut extra = connect_from("127.0.0.4", addr).await;
    let (refused, _) = exchange(&mut extra).await;

    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
    assert_eq!(problem_code(&refused), "service_unavailable", "{refused}");
    assert!(closed_by_server(&mut extra).await, "a refused connection is closed");
}
