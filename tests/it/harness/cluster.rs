//! A Redis Cluster of one test's own: three masters with one replica each, on free loopback ports with their
//! data in a temporary directory, for tests that fail over, kill, restart or reshard nodes, which would disturb
//! every other test on the shared cluster. The nodes are stopped and the directory removed when it is dropped.
//! [`PrivateRedis`] is the same for one plain server, for tests that kill, stop or restart it.
//! Needs `redis-server` and `redis-cli` (the test command installs them); without them the test skips, or fails
//! when `FARMLOKAL_TEST_REQUIRE_SERVERS=1`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::servers::{skip_or_fail, unique_name};
use super::wait::poll_until;

/// Cluster node timeout: a master that stops answering is failed over after about this long.
pub const NODE_TIMEOUT: Duration = Duration::from_millis(1000);
/// The longest any change of the cluster (start, failover, restart, slot move) is waited for.
const SETTLE: Duration = Duration::from_secs(30);

struct Node {
    port: u16,
    bus: u16,
    child: Option<Child>,
}

pub struct PrivateCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

/// `n` different loopback ports nothing listens on now (all held at once, so none is handed out twice).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> =
        (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port")).collect();
    listeners.iter().map(|l| l.local_addr().expect("its address").port()).collect()
}

/// One command to the node on `port`.
pub async fn node_cmd<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> anyhow::Result<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    Ok(cmd.query_async(&mut conn).await?)
}

/// One line of `CLUSTER NODES`: id, address port, flags, the master's id (for a replica), and slot ranges.
#[derive(Debug, Clone)]
pub struct NodeLine {
    pub id: String,
    pub port: u16,
    pub flags: String,
    pub master_id: Option<String>,
    pub slots: Vec<(u16, u16)>,
}

impl NodeLine {
    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = fields.get(1)?.split('@').next()?.rsplit(':').next()?.parse().ok()?;
        let slots = fields
            .iter()
            .skip(8)
            .filter(|f| !f.starts_with('['))
            .filter_map(|f| match f.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => f.parse().ok().map(|s| (s, s)),
            })
            .collect();
        Some(Self {
            id: (*fields.first()?).to_owned(),
            port,
            flags: (*fields.get(2)?).to_owned(),
            master_id: fields.get(3).filter(|m| **m != "-").map(|m| (*m).to_owned()),
            slots,
        })
    }

    pub fn is_master(&self) -> bool {
        self.flags.contains("master")
    }

    fn is_healthy(&self) -> bool {
        !self.flags.contains("fail") && !self.flags.contains("handshake") && !self.flags.contains("noaddr")
    }
}

impl PrivateCluster {
    /// Six nodes joined into three masters with a replica each, every node at cluster_state:ok and every
    /// replica in sync; `None` (after `skip_or_fail`) when redis-server or redis-cli is missing.
    pub async fn start(test: &str) -> Option<Self> {
        for tool in ["redis-server", "redis-cli"] {
            if Command::new(tool).arg("--version").stdout(Stdio::null()).status().is_err() {
                skip_or_fail(test, "a private Redis Cluster", &format!("{tool} is not installed"));
                return None;
            }
        }
        let dir = std::env::temp_dir().join(unique_name("cluster"));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut cluster = Self { nodes: Vec::new(), dir };
        for pair in free_ports(12).chunks(2) {
            let (port, bus) = (pair[0], pair[1]);
            cluster.nodes.push(Node { port, bus, child: None });
            cluster.spawn(port);
        }
        for node in &cluster.nodes {
            let port = node.port;
            let up = poll_until(Instant::now() + SETTLE, Duration::from_millis(50), || async move {
                node_cmd::<String>(port, &redis::cmd("PING")).await.ok()
            })
            .await;
            assert!(up.is_some(), "private cluster node {port} did not start");
        }
        let addresses: Vec<String> = cluster.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(created.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&created.stdout));
        cluster.settle(6).await;
        Some(cluster)
    }

    fn spawn(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|n| n.port == port).expect("a node of this cluster");
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).expect("a node directory");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--cluster-port", &node.bus.to_string()])
            .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", &NODE_TIMEOUT.as_millis().to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "redis.log"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        node.child = Some(child);
    }

    /// The seed nodes to give the service: every node of the cluster.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("redis://127.0.0.1:{}", n.port)).collect()
    }

    /// `CLUSTER NODES` as the node on `port` sees it.
    pub async fn nodes_seen_by(&self, port: u16) -> anyhow::Result<Vec<NodeLine>> {
        let raw: String = node_cmd(port, redis::cmd("CLUSTER").arg("NODES")).await?;
        Ok(raw.lines().filter_map(NodeLine::parse).collect())
    }

    /// Waits until every running node says cluster_state:ok, agrees on `healthy` healthy nodes with three
    /// masters owning every slot, and every replica's link to its master is up.
    pub async fn settle(&self, healthy: usize) {
        let running: Vec<u16> = self.nodes.iter().filter(|n| n.child.is_some()).map(|n| n.port).collect();
        let settled = poll_until(Instant::now() + SETTLE, Duration::from_millis(50), || {
            let running = running.clone();
            async move {
                for port in running {
                    let info: String = node_cmd(port, redis::cmd("CLUSTER").arg("INFO")).await.ok()?;
                    if !info.contains("cluster_state:ok") {
                        return None;
                    }
                    let seen = self.nodes_seen_by(port).await.ok()?;
                    let ok: Vec<_> = seen.iter().filter(|n| n.is_healthy()).collect();
                    let slots: u32 = ok.iter().flat_map(|n| &n.slots).map(|(a, b)| u32::from(b - a) + 1).sum();
                    if ok.len() != healthy || ok.iter().filter(|n| n.is_master()).count() != 3 || slots != 16384 {
                        return None;
                    }
                    let replication: String = node_cmd(port, redis::cmd("INFO").arg("replication")).await.ok()?;
                    if replication.contains("role:slave") && !replication.contains("master_link_status:up") {
                        return None;
                    }
                }
                Some(())
            }
        })
        .await;
        assert!(settled.is_some(), "the private cluster did not settle with {healthy} healthy nodes within {SETTLE:?}");
    }

    /// A node that runs (not killed), to ask about the cluster.
    fn running(&self) -> u16 {
        self.nodes.iter().find(|n| n.child.is_some()).expect("a running node").port
    }

    /// The master serving `key` as a running node sees it: its `CLUSTER NODES` line, and every line.
    async fn master_line(&self, key: &str) -> (NodeLine, Vec<NodeLine>) {
        let slot: u16 =
            node_cmd(self.running(), redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).await.expect("CLUSTER KEYSLOT");
        let seen = self.nodes_seen_by(self.running()).await.expect("CLUSTER NODES");
        let master = seen
            .iter()
            .find(|n| n.is_master() && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            .expect("a master serves every slot")
            .clone();
        (master, seen)
    }

    /// The port of the master serving `key`.
    pub async fn master_of(&self, key: &str) -> u16 {
        self.master_line(key).await.0.port
    }

    /// The port of the master serving `key`, and of its healthy replica.
    pub async fn master_and_replica_of(&self, key: &str) -> (u16, u16) {
        let (master, seen) = self.master_line(key).await;
        let replica = seen
            .iter()
            .find(|n| n.master_id.as_deref() == Some(&master.id) && n.is_healthy())
            .expect("the master has a healthy replica");
        (master.port, replica.port)
    }

    /// Has `replica` take over from its master with `CLUSTER FAILOVER` and waits until it serves `key`'s slot.
    /// The command only starts the handover, which a loaded machine can take seconds to finish or can let time
    /// out: it is sent again (at most three times in all) when `replica` has not taken over 10 s after it.
    pub async fn fail_over_to(&self, replica: u16, key: &str) -> bool {
        for _ in 0..3 {
            if node_cmd::<()>(replica, redis::cmd("CLUSTER").arg("FAILOVER")).await.is_err() {
                continue;
            }
            let took_over = poll_until(Instant::now() + Duration::from_secs(10), Duration::from_millis(50), || async {
                let slot: u16 = node_cmd(replica, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).await.ok()?;
                let seen = self.nodes_seen_by(replica).await.ok()?;
                seen.iter()
                    .any(|n| {
                        n.port == replica && n.is_master() && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
                    })
                    .then_some(())
            })
            .await;
            if took_over.is_some() {
                return true;
            }
        }
        false
    }

    /// A master that does not serve `key`'s slot (a target for moving it).
    pub async fn another_master(&self, key: &str) -> (u16, String) {
        let owner = self.master_of(key).await;
        let seen = self.nodes_seen_by(self.running()).await.expect("CLUSTER NODES");
        let other = seen.iter().find(|n| n.is_master() && n.port != owner && n.is_healthy()).expect("three masters");
        (other.port, other.id.clone())
    }

    /// Moves the slot of `key` from its master to another master as `redis-cli --cluster reshard` does: the
    /// target marked IMPORTING, the source MIGRATING, the keys moved `batch` at a time with `MIGRATE` (pausing
    /// `pause` after each batch, so load meets the `ASK` redirects and `TRYAGAIN` of a half-moved slot), then the
    /// new owner announced to every master (after which the old one answers `MOVED`). Returns the new owner.
    pub async fn move_slot_of(&self, key: &str, batch: usize, pause: Duration) -> u16 {
        let slot: u16 =
            node_cmd(self.running(), redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).await.expect("CLUSTER KEYSLOT");
        let source = self.master_of(key).await;
        let (target, target_id) = self.another_master(key).await;
        let seen = self.nodes_seen_by(source).await.expect("CLUSTER NODES");
        let source_id = seen.iter().find(|n| n.port == source).expect("the source is known").id.clone();
        let setslot = |state: &str, id: &str| redis::cmd("CLUSTER").arg("SETSLOT").arg(slot).arg(state).arg(id).clone();
        node_cmd::<()>(target, &setslot("IMPORTING", &source_id)).await.expect("IMPORTING on the target");
        node_cmd::<()>(source, &setslot("MIGRATING", &target_id)).await.expect("MIGRATING on the source");
        loop {
            let keys: Vec<String> =
                node_cmd(source, redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(batch)).await.expect("keys");
            if keys.is_empty() {
                break;
            }
            let mut migrate = redis::cmd("MIGRATE");
            migrate.arg("127.0.0.1").arg(target).arg("").arg(0).arg(5000).arg("KEYS").arg(&keys);
            node_cmd::<()>(source, &migrate).await.expect("MIGRATE");
            tokio::time::sleep(pause).await;
        }
        let masters: Vec<u16> = seen.iter().filter(|n| n.is_master() && n.is_healthy()).map(|n| n.port).collect();
        for port in std::iter::once(target).chain(std::iter::once(source)).chain(masters) {
            node_cmd::<()>(port, &setslot("NODE", &target_id)).await.expect("SETSLOT NODE");
        }
        target
    }

    /// Kills the node on `port` at once (SIGKILL), as a crash would.
    pub fn kill(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|n| n.port == port).expect("a node of this cluster");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node on `port` again with its cluster configuration: it rejoins.
    pub fn restart(&mut self, port: u16) {
        self.spawn(port);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One Redis server of one test's own (no cluster), on a free loopback port, for tests that kill and restart
/// it. Stopped when dropped.
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// A server answering `PING`; `None` (after `skip_or_fail`) when redis-server is missing.
    pub async fn start(test: &str) -> Option<Self> {
        if Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_err() {
            skip_or_fail(test, "a private Redis server", &"redis-server is not installed");
            return None;
        }
        let mut server = Self { port: free_ports(1)[0], child: None };
        server.restart().await;
        Some(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (SIGKILL), as a crash would: its clients' connections are reset.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (`SIGSTOP`) or continues (`SIGCONT`) the server: stopped, it keeps its connections open and answers
    /// nothing, as a stalled server or a connection gone half-open does.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let sent = Command::new("kill").args([signal, &child.id().to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill {signal} failed");
    }

    /// Starts the server (again) on its port, empty, and waits until it answers.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let port = self.port;
        let up = poll_until(Instant::now() + SETTLE, Duration::from_millis(20), || async move {
            node_cmd::<String>(port, &redis::cmd("PING")).await.ok()
        })
        .await;
        assert!(up.is_some(), "private Redis {port} did not start");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
