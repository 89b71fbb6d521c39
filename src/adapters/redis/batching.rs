//! Group commit for the shared cache's commands on a single server. A command issued while the cache is quiet
//! goes at once, as a pipeline of one. Once one has gone, the commands issued within the next window
//! (`FARMLOKAL_REDIS_BATCH_WINDOW_MS`, [`DEFAULT_WINDOW`]) wait for the rest of it and go together as one
//! pipeline, and so on while they keep coming: Redis then reads, runs and answers several with one wakeup, one
//! read and one write, and the service reads their replies with one wakeup too. Under (b)'s load on two cores
//! about seven commands went per read instead of 1.1, a miss cost the service 28% less CPU and Redis 66% less,
//! and the misses per second rose by a fifth; below capacity (about 1,900 misses a second) a miss waited about
//! 3 ms longer (`docs/DECISIONS.md` § Caching tiers). A window of zero turns batching off: every command goes on its own, as before.
//!
//! One batch is in flight at a time, and the commands keep the order in which they were issued. A batch fails
//! as a whole only when Redis does not answer it (no connection, no reply within the command timeout); an error
//! reply fails its own command only. A command whose caller stopped waiting before its batch left is not sent.
//! On a cluster, whose commands go to the node of their key's slot, every command goes on its own.

use std::sync::OnceLock;
use std::time::Duration;

use redis::aio::ConnectionLike as _;
use redis::{Cmd, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{checkout, timed, RedisPool, COMMAND_TIMEOUT, CONNECTION_TIMEOUT};

/// How long after a batch left the next one gathers commands, unless configured. tokio's timer counts whole
/// milliseconds and a wait ends on the tick after it is due, so a command waits up to about a millisecond more
/// than the window. Measured against one batch in flight with no wait: 1.3 commands per read under (b)'s load,
/// against about 7 with this window.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(1);

/// The longest window that can be configured: it bounds what the setting can add to every cache command.
pub const LONGEST_WINDOW: Duration = Duration::from_millis(10);

/// The most commands one pipeline carries.
const MOST_PER_BATCH: usize = 128;

/// Sends the commands given to it in batches (see the module). Clones of the cache share one.
pub(crate) struct Batcher {
    pool: RedisPool,
    /// Zero (as set, or on a cluster): every command goes on its own.
    window: Duration,
    /// The longest a caller waits for its reply: a window for its batch to leave, another for the batch before,
    /// then its batch's checkout and command.
    answer_within: Duration,
    /// The queue of the task that sends the batches, started on first use (inside the runtime).
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
}

/// A command and where its reply goes.
struct Job {
    command: Cmd,
    reply: oneshot::Sender<anyhow::Result<Value>>,
}

impl Batcher {
    /// Batches gathering for `window` (at most [`LONGEST_WINDOW`]) on a single server; none on a cluster.
    pub(crate) fn new(pool: RedisPool, window: Duration) -> Self {
        let window = if pool.is_single_node() { window.min(LONGEST_WINDOW) } else { Duration::ZERO };
        let answer_within = window.saturating_mul(2).saturating_add(CONNECTION_TIMEOUT).saturating_add(COMMAND_TIMEOUT);
        Self { pool, window, answer_within, queue: OnceLock::new() }
    }

    /// `command`'s reply, or why there is none: within `answer_within`.
    pub(crate) async fn run(&self, command: Cmd) -> anyhow::Result<Value> {
        if self.window.is_zero() {
            return run_alone(&self.pool, command).await;
        }
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(send_batches(self.pool.clone(), self.window, receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = queue.send(Job { command, reply }) {
            // The task ended with the runtime it was started on (a test's): this command goes alone.
            return run_alone(&self.pool, job.command).await;
        }
        match tokio::time::timeout(self.answer_within, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(anyhow::anyhow!("the Redis batch ended without answering")),
            Err(_) => Err(anyhow::anyhow!("Redis did not answer within {:?}", self.answer_within)),
        }
    }
}

/// When the batch gathering now should leave: at once when the last one left `window` ago or more (the cache
/// was quiet), otherwise `window` after it.
fn leaves_at(last_left: Option<Instant>, window: Duration, now: Instant) -> Option<Instant> {
    last_left.map(|left| left + window).filter(|due| *due > now)
}

/// One command on a checkout of its own.
async fn run_alone(pool: &RedisPool, command: Cmd) -> anyhow::Result<Value> {
    let mut conn = checkout(pool).await?;
    let value = timed(pool, conn.req_packed_command(&command)).await?;
    server_error(value)
}

/// The task behind a [`Batcher`]: gathers the commands queued (waiting out the window when a batch left less
/// than one ago), sends them as one pipeline, answers each, and again; ends when the batcher is dropped.
async fn send_batches(pool: RedisPool, window: Duration, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut jobs = Vec::with_capacity(MOST_PER_BATCH);
    let mut last_left = None;
    while queue.recv_many(&mut jobs, MOST_PER_BATCH).await > 0 {
        if let Some(due) = leaves_at(last_left, window, Instant::now()) {
            tokio::time::sleep_until(due).await;
            while jobs.len() < MOST_PER_BATCH {
                let Ok(job) = queue.try_recv() else { break };
                jobs.push(job);
            }
        }
        let mut pipeline = redis::pipe();
        let mut replies = Vec::with_capacity(jobs.len());
        for Job { command, reply } in jobs.drain(..) {
            if !reply.is_closed() {
                pipeline.add_command(command);
                replies.push(reply);
            }
        }
        if replies.is_empty() {
            continue;
        }
        last_left = Some(Instant::now());
        let answered = match checkout(&pool).await {
            Ok(mut conn) => timed(&pool, conn.req_packed_commands(&pipeline, 0, replies.len())).await,
            Err(error) => Err(error),
        };
        // A caller that stopped waiting has dropped its end of a reply: sending to it does nothing.
        let failure = match answered {
            Ok(values) if values.len() == replies.len() => {
                for (reply, value) in replies.into_iter().zip(values) {
                    let _ = reply.send(server_error(value));
                }
                continue;
            }
            Ok(values) => format!("Redis answered {} commands with {} replies", replies.len(), values.len()),
            Err(error) => format!("{error:#}"),
        };
        for reply in replies {
            let _ = reply.send(Err(anyhow::anyhow!(failure.clone())));
        }
    }
}

/// An error reply as an error.
fn server_error(value: Value) -> anyhow::Result<Value> {
    match value {
        Value::ServerError(error) => {
            Err(anyhow::Error::new(redis::RedisError::from(error)).context("Redis command failed"))
        }
        value => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_leaves_at_once_after_a_quiet_window_and_otherwise_a_window_after_the_last() {
        let (now, window) = (Instant::now(), DEFAULT_WINDOW);
        assert_eq!(leaves_at(None, window, now), None, "the first batch waits for nothing");
        assert_eq!(leaves_at(Some(now - window), window, now), None, "a window after the last batch: at once");
        assert_eq!(leaves_at(Some(now - window * 3), window, now), None);
        let last = now - window / 4;
        assert_eq!(leaves_at(Some(last), window, now), Some(last + window), "within the window: waits out the rest");
    }
}
