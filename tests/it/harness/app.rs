//! `TestApp`: one running FarmLokal service and the way to talk to it. It runs in process (requests go
//! straight to `AppState::endpoint`), on a real port (`Application::from_builder` on 127.0.0.1:0), or as the
//! binary in a fresh process (`Binary`), and every request, whichever way it goes, gives back a `Reply`.
//! Dropping the last handle stops the service (a process is killed).

use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use farmlokal::startup::{AppBuilder, AppState, Application};
use poem::endpoint::BoxEndpoint;
use poem::http::{Method, StatusCode};
use poem::test::TestClient;
use poem::{Body, EndpointExt};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::partners::Delivery;
use super::reply::Reply;
use super::servers;
use super::wait::poll_until;

/// How a service built in this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// No socket: requests are handed to the endpoint (fast; no client address, no connection handling).
    InProcess,
    /// Bound to a free port on 127.0.0.1 and served by a task, as in production.
    OnPort,
}

/// A running service. Clones are handles on the same service.
#[derive(Clone)]
pub struct TestApp {
    state: Option<Arc<AppState>>,
    transport: Transport,
    running: Arc<Mutex<Option<Running>>>,
}

#[derive(Clone)]
enum Transport {
    InProcess(Arc<BoxEndpoint<'static>>),
    Socket { addr: SocketAddr, agent: ureq::Agent },
}

enum Running {
    Server { stop: oneshot::Sender<()>, task: JoinHandle<anyhow::Result<()>> },
    Process(Process),
}

/// A child process that is killed if the test lets go of it without terminating it. Its captured output is read
/// as it comes (a full pipe would block the service's logging).
struct Process {
    child: Option<Child>,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Process {
    fn new(mut child: Child) -> Self {
        fn drain(mut from: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let _ = from.read_to_end(&mut out);
                out
            })
        }
        let (stdout, stderr) = (child.stdout.take().map(drain), child.stderr.take().map(drain));
        Self { child: Some(child), stdout, stderr }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn socket(addr: SocketAddr) -> Transport {
    // Every status is an answer, not an error.
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    Transport::Socket { addr, agent }
}

impl TestApp {
    /// Builds the service `builder` describes and runs it as `run` says.
    pub async fn start(builder: AppBuilder, run: Run) -> Self {
        match run {
            Run::InProcess => {
                let state = builder.build();
                let endpoint = Arc::new(state.endpoint().map_to_response().boxed());
                Self { state: Some(state), transport: Transport::InProcess(endpoint), running: Arc::default() }
            }
            Run::OnPort => {
                let bind = "127.0.0.1:0".parse().expect("a valid address");
                let app = Application::from_builder(builder, bind).await.expect("binding port 0");
                let (addr, state) = (app.local_addr(), app.state().clone());
                let (stop, stopped) = oneshot::channel::<()>();
                let task = tokio::spawn(app.run_until(async move {
                    let _ = stopped.await;
                }));
                let running = Arc::new(Mutex::new(Some(Running::Server { stop, task })));
                Self { state: Some(state), transport: socket(addr), running }
            }
        }
    }

    /// Starts the `farmlokal` binary as `binary` configures it and waits until it answers `/health/live`.
    pub async fn binary(binary: Binary) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut command = Command::new(env!("CARGO_BIN_EXE_farmlokal"));
        command.arg("serve");
        // Only what the test sets configures the process, not the environment the tests run in.
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("FARMLOKAL_")) {
            command.env_remove(name);
        }
        command.env("FARMLOKAL_BIND", addr.to_string()).envs(binary.env);
        let output = || if binary.capture_output { Stdio::piped() } else { Stdio::null() };
        let child = command.stdout(output()).stderr(output()).spawn().expect("the binary starts");
        let running = Arc::new(Mutex::new(Some(Running::Process(Process::new(child)))));
        let app = Self { state: None, transport: socket(addr), running };

        let deadline = Instant::now() + Duration::from_secs(10);
        let ready = poll_until(deadline, Duration::from_millis(100), || async {
            if let Some(status) = app.exit_status() {
                panic!("the service exited before it answered: {status}");
            }
            app.request(Method::GET, "/health/live").try_send().await.ok()
        })
        .await;
        assert!(ready.is_some(), "the service did not answer /health/live within 10 s");
        app
    }

    /// The address of a service on a port or in a process.
    pub fn addr(&self) -> SocketAddr {
        match &self.transport {
            Transport::Socket { addr, .. } => *addr,
            Transport::InProcess(_) => panic!("a service run in process has no address"),
        }
    }

    /// The state of a service built in this process, to look at its use cases.
    pub fn state(&self) -> &Arc<AppState> {
        self.state.as_ref().expect("the state of a service built in this process")
    }

    /// Stops a service on a port: it finishes the requests in flight and stops accepting. Await the handle for
    /// the server's own result.
    pub fn shut_down(&self) -> JoinHandle<anyhow::Result<()>> {
        match self.running.lock().expect("not poisoned").take() {
            Some(Running::Server { stop, task }) => {
                let _ = stop.send(());
                task
            }
            _ => panic!("only a running service on a port is shut down"),
        }
    }

    /// Sends SIGTERM to the binary and waits for it to exit. Its stdout and stderr are there if `Binary` asked
    /// to capture them.
    pub async fn terminate(&self) -> Output {
        self.signal("TERM");
        self.wait_for_exit().await
    }

    /// Sends `signal` (`TERM`, `INT`, ...) to the binary and returns at once; the binary keeps running until it
    /// exits on its own (`wait_for_exit`).
    pub fn signal(&self, signal: &str) {
        let guard = self.running.lock().expect("not poisoned");
        let Some(Running::Process(Process { child: Some(child), .. })) = &*guard else {
            panic!("only a running binary is signalled");
        };
        let id = child.id().to_string();
        let sent = Command::new("kill").args([&format!("-{signal}"), &id]).status().expect("kill runs");
        assert!(sent.success(), "kill -{signal} {id}");
    }

    /// Waits for the binary to exit (after a signal) and gives its status and captured output.
    pub async fn wait_for_exit(&self) -> Output {
        let Some(Running::Process(mut process)) = self.running.lock().expect("not poisoned").take() else {
            panic!("only a running binary is waited for");
        };
        let mut child = process.child.take().expect("a running process");
        let (stdout, stderr) = (process.stdout.take(), process.stderr.take());
        tokio::task::spawn_blocking(move || {
            let status = child.wait().expect("the service exits");
            let read = |reader: Option<std::thread::JoinHandle<Vec<u8>>>| {
                reader.map(|r| r.join().expect("the output reader ends")).unwrap_or_default()
            };
            Output { status, stdout: read(stdout), stderr: read(stderr) }
        })
        .await
        .expect("the waiting thread ends")
    }

    fn exit_status(&self) -> Option<ExitStatus> {
        match &mut *self.running.lock().expect("not poisoned") {
            Some(Running::Process(Process { child: Some(child), .. })) => child.try_wait().ok().flatten(),
            _ => None,
        }
    }

    /// A request to build: add headers and a body, then `send`.
    pub fn request(&self, method: Method, path: &str) -> Call<'_> {
        Call { app: self, method, path: path.to_owned(), headers: Vec::new(), body: None }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path).send().await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request(Method::GET, path).headers(headers).send().await
    }

    /// `GET /products?{query}`.
    pub async fn list_products(&self, query: &str) -> Reply {
        self.get(&format!("/products?{query}")).await
    }

    /// The product as `GET /products/{id}` shows it; asserts that it is there.
    pub async fn product(&self, id: u64) -> Value {
        let reply = self.get(&format!("/products/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "GET /products/{id}: {}", reply.describe());
        reply.json()
    }

    pub async fn stock(&self, id: u64) -> u64 {
        self.product(id).await["stock"].as_u64().expect("a product has a stock")
    }

    /// `GET /delivery/estimate?pincode={pincode}`.
    pub async fn estimate(&self, pincode: &str) -> Reply {
        self.get(&format!("/delivery/estimate?pincode={pincode}")).await
    }

    /// `GET /metrics`.
    pub async fn metrics(&self) -> Reply {
        self.get("/metrics").await
    }

    /// `POST /webhooks/partner-b` with these headers and body, as they are (a test may break them).
    pub async fn post_webhook(&self, headers: &[(&str, String)], body: Body) -> Reply {
        let mut call = self.request(Method::POST, "/webhooks/partner-b").body(body);
        for (name, value) in headers {
            call = call.header(name, value);
        }
        call.send().await
    }

    /// Sends partner B's `delivery`, signed as it is.
    pub async fn deliver(&self, delivery: &Delivery) -> Reply {
        self.post_webhook(&delivery.headers(), Body::from_vec(delivery.body.clone())).await
    }
}

/// One request under construction.
pub struct Call<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Body>,
}

impl Call<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn headers(self, headers: &[(&str, &str)]) -> Self {
        headers.iter().fold(self, |call, (name, value)| call.header(name, value))
    }

    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sends the request and reads the whole reply; panics if a service on a socket does not answer.
    pub async fn send(self) -> Reply {
        let what = format!("{} {}", self.method, self.path);
        self.try_send().await.unwrap_or_else(|e| panic!("{what}: the service does not answer: {e}"))
    }

    async fn try_send(self) -> Result<Reply, ureq::Error> {
        let Self { app, method, path, headers, body } = self;
        match &app.transport {
            Transport::InProcess(endpoint) => {
                let client = TestClient::new(endpoint.clone());
                let mut request = client.request(method, path);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                if let Some(body) = body {
                    request = request.body(body);
                }
                let response = request.send().await.0;
                let (status, headers) = (response.status(), response.headers().clone());
                let body = response.into_body().into_bytes().await.expect("the test client reads the whole body");
                Ok(Reply { status, headers, body })
            }
            Transport::Socket { addr, agent } => {
                let body = match body {
                    Some(body) => Some(body.into_vec().await.expect("a readable request body")),
                    None => None,
                };
                let (addr, agent) = (*addr, agent.clone());
                tokio::task::spawn_blocking(move || {
                    let mut request = ureq::http::Request::builder().method(method).uri(format!("http://{addr}{path}"));
                    for (name, value) in &headers {
                        request = request.header(name.as_str(), value.as_str());
                    }
                    let mut response = match body {
                        Some(body) => agent.run(request.body(body).expect("a valid request"))?,
                        None => agent.run(request.body(()).expect("a valid request"))?,
                    };
                    let (status, headers) = (response.status(), response.headers().clone());
                    let body = response.body_mut().read_to_vec()?;
                    Ok(Reply { status, headers, body: body.into() })
                })
                .await
                .expect("the client thread ends")
            }
        }
    }
}

/// How to start the binary: its environment (`FARMLOKAL_*` of the tests' own environment are not passed on)
/// and whether to keep its output. The catalogue is in memory; there is no MySQL and, unless asked, no Redis.
pub struct Binary {
    env: Vec<(String, String)>,
    capture_output: bool,
}

impl Binary {
    /// The binary over an in-memory sample catalogue of `products` products. It stops at once on SIGTERM
    /// (`FARMLOKAL_SHUTDOWN_DRAIN_SECS=0`) unless the test sets a drain.
    pub fn in_memory(products: u64) -> Self {
        let env = vec![
            ("FARMLOKAL_SAMPLE_PRODUCTS".into(), products.to_string()),
            ("FARMLOKAL_SHUTDOWN_DRAIN_SECS".into(), "0".into()),
        ];
        Self { env, capture_output: false }
    }

    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    /// Shared state on the test Redis, under `prefix` (the test's own).
    pub fn redis(self, prefix: &str) -> Self {
        self.env("FARMLOKAL_REDIS_URL", servers::redis_url()).env("FARMLOKAL_REDIS_PREFIX", prefix)
    }

    /// Shared state on a Redis Cluster reached through `seeds`, under `prefix` (the test's own).
    pub fn redis_cluster(self, seeds: &[String], prefix: &str) -> Self {
        self.env("FARMLOKAL_REDIS_CLUSTER_NODES", seeds.join(",")).env("FARMLOKAL_REDIS_PREFIX", prefix)
    }

    /// Keep stdout and stderr for `TestApp::terminate` (otherwise they are discarded: silent unless asked).
    pub fn capture_output(mut self) -> Self {
        self.capture_output = true;
        self
    }
}
