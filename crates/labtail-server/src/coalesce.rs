//! Concurrent identical reads share one query.
//!
//! When a whole class reconnects at once (a labtail restart), thousands of
//! handshakes ask the database for the same hundred sessions and users
//! within a second. Each asker of a key that is already being read waits
//! for that read instead of starting its own, so the database sees one
//! query per key, not one per socket, and the pool is not exhausted.
//!
//! Freshness: a read is joined only while it is in flight and younger than
//! [`MAX_JOIN_AGE`]; once it has answered, the next asker reads again. A
//! writer calls [`Coalesce::forget`] (or [`Coalesce::forget_all`]) after its
//! write, so nobody who starts reading after a write gets a read begun
//! before it. Nothing is cached beyond the life of one query.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

/// The oldest read a new asker may still join.
pub const MAX_JOIN_AGE: Duration = Duration::from_secs(1);

/// Entries beyond which finished-but-unclaimed reads are swept.
const SWEEP_ABOVE: usize = 1024;

struct InFlight<V: Clone> {
    id: u64,
    started: Instant,
    read: Shared<BoxFuture<'static, V>>,
}

pub struct Coalesce<K, V: Clone> {
    inflight: Mutex<HashMap<K, InFlight<V>>>,
    next_id: AtomicU64,
}

impl<K, V: Clone> std::fmt::Debug for Coalesce<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalesce").finish_non_exhaustive()
    }
}

impl<K, V: Clone> Default for Coalesce<K, V> {
    fn default() -> Self {
        Coalesce {
            inflight: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }
}

impl<K, V> Coalesce<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone + Send + Sync + 'static,
{
    /// The answer of `read` for `key`, or of a read of `key` already in
    /// flight (then `read` is not run).
    pub async fn get<F>(&self, key: K, read: F) -> V
    where
        F: Future<Output = V> + Send + 'static,
    {
        let (id, shared) = {
            let mut map = self.lock();
            match map.get(&key) {
                Some(f) if f.started.elapsed() < MAX_JOIN_AGE => (f.id, f.read.clone()),
                _ => {
                    if map.len() >= SWEEP_ABOVE {
                        map.retain(|_, f| f.started.elapsed() < MAX_JOIN_AGE);
                    }
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let shared = read.boxed().shared();
                    map.insert(
                        key.clone(),
                        InFlight {
                            id,
                            started: Instant::now(),
                            read: shared.clone(),
                        },
                    );
                    (id, shared)
                }
            }
        };
        let v = shared.await;
        let mut map = self.lock();
        if map.get(&key).is_some_and(|f| f.id == id) {
            map.remove(&key);
        }
        v
    }

    /// After a write of `key`: later askers read again.
    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    /// After a write that may touch any key.
    pub fn forget_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, InFlight<V>>> {
        // A panic while holding this lock leaves a map that is still valid.
        self.inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    //! Pure logic, on a current-thread runtime: whether reads are shared is
    //! decided by what is in flight, which these tests control exactly.
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    fn counting(
        reads: &Arc<AtomicUsize>,
        gate: &Arc<tokio::sync::Notify>,
        v: u32,
    ) -> BoxFuture<'static, u32> {
        let reads = reads.clone();
        let gate = gate.clone();
        async move {
            reads.fetch_add(1, Ordering::SeqCst);
            gate.notified().await;
            v
        }
        .boxed()
    }

    #[tokio::test]
    async fn askers_of_a_key_in_flight_share_its_one_read() {
        let c = Arc::new(Coalesce::<u32, u32>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for i in 0..50 {
            let c = c.clone();
            let read = counting(&reads, &gate, i);
            tasks.push(tokio::spawn(async move { c.get(7, read).await }));
        }
        // Every asker is waiting on the one read.
        while reads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        gate.notify_waiters();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert!(answers.iter().all(|&a| a == answers[0]));
        // Finished: the next asker reads again.
        let again = c.get(7, async { 99 }).await;
        assert_eq!(again, 99);
    }

    #[tokio::test]
    async fn after_forget_a_new_asker_does_not_join_the_older_read() {
        let c = Arc::new(Coalesce::<u32, u32>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let old = {
            let c = c.clone();
            let read = counting(&reads, &gate, 1);
            tokio::spawn(async move { c.get(7, read).await })
        };
        while reads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // A write happened: the read begun before it must not be joined.
        c.forget(&7);
        let fresh = c.get(7, async { 2 }).await;
        assert_eq!(fresh, 2);
        gate.notify_waiters();
        assert_eq!(old.await.unwrap(), 1);
        c.forget_all();
        assert_eq!(c.get(8, async { 3 }).await, 3);
    }
}
