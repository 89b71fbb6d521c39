//! Single flight: concurrent callers asking for the same key share one computation.
//!
//! The first caller runs the work; callers arriving while it runs wait for its result instead of starting
//! their own. If the running caller is cancelled (its client went away), a waiting caller takes the work over,
//! so nobody waits on a computation that will never finish.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// A group of in-flight computations keyed by `K`, each yielding a clonable `V`.
pub struct SingleFlight<K, V> {
    calls: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self { calls: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `work` for `key` unless a computation for it is already in flight, in which case this waits for and
    /// returns that computation's result. The key is forgotten as soon as its result is known, so the next call
    /// after that computes afresh.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = {
            let mut calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            calls.entry(key.clone()).or_default().clone()
        };
        let value = cell.get_or_init(work).await.clone();
        let mut calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if calls.get(&key).is_some_and(|current| Arc::ptr_eq(current, &cell)) {
            calls.remove(&key);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn concurrent_callers_of_one_key_share_one_computation() {
        let flights = Arc::new(SingleFlight::<String, u32>::new());
        let runs = Arc::new(AtomicU32::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(50));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (flights, runs, barrier) = (flights.clone(), runs.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                flights
                    .run("k".to_owned(), || async {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        runs.fetch_add(1, Ordering::SeqCst) + 7
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.expect("task finished"), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_next_call_after_a_result_computes_again() {
        let flights = SingleFlight::<u8, u8>::new();
        assert_eq!(flights.run(1, || async { 1 }).await, 1);
        assert_eq!(flights.run(1, || async { 2 }).await, 2);
    }

    #[tokio::test]
    async fn a_cancelled_leader_hands_the_work_to_a_waiter() {
        let flights = Arc::new(SingleFlight::<u8, u8>::new());
        let leader = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.run(1, std::future::pending::<u8>).await })
        };
        tokio::task::yield_now().await;
        let follower = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.run(1, || async { 9 }).await })
        };
        tokio::task::yield_now().await;
        leader.abort();
        assert_eq!(follower.await.expect("follower finished"), 9);
    }
}
