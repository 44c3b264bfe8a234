//! The leader's timer service: a min-heap of due times (loaded from the timer table on
//! leadership, fed by apply) that proposes `FireTimers` when they are due. Apply removes the
//! fired keys, so a restart reloads only what has not fired.

use keel_engine::mutation::{FireTimers, Kind};
use keel_engine::{keys, Mutation};
use keel_raft::{leader_now, RaftNode};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// At most this many timers fire in one mutation.
const MAX_BATCH: usize = 512;

/// A due time and its timer-table key; `Reverse` makes the max-heap a min-heap.
type Due = Reverse<(i64, Vec<u8>)>;

#[derive(Default)]
pub struct Timers {
    heap: Mutex<BinaryHeap<Due>>,
    changed: Notify,
}

impl Timers {
    pub fn add(&self, fire_at: i64, key: Vec<u8>) {
        let mut heap = self.heap.lock().expect("timer lock");
        let earlier = heap.peek().is_none_or(|Reverse((t, _))| fire_at < *t);
        heap.push(Reverse((fire_at, key)));
        drop(heap);
        if earlier {
            self.changed.notify_one();
        }
    }

    /// Forgets every timer (on losing leadership; the table keeps them).
    pub fn clear(&self) {
        self.heap.lock().expect("timer lock").clear();
    }

    pub fn load(&self, store: &keel_storage::Store) -> Result<usize, keel_storage::StorageError> {
        let prefix = keys::timer_prefix();
        let mut from: Option<Vec<u8>> = None;
        let mut count = 0;
        loop {
            let page = store.state_scan(&prefix, from.as_deref(), 1024)?;
            let Some((last, _)) = page.last() else { break };
            let mut next = last.clone();
            next.push(0);
            for (key, _) in page {
                if let Some(fire_at) = keys::decode_timer(&key) {
                    self.add(fire_at, key);
                    count += 1;
                }
            }
            from = Some(next);
        }
        Ok(count)
    }

    fn take_due(&self, now: i64) -> (Vec<(i64, Vec<u8>)>, Option<i64>) {
        let mut heap = self.heap.lock().expect("timer lock");
        let mut due = Vec::new();
        while due.len() < MAX_BATCH {
            match heap.peek() {
                Some(Reverse((t, _))) if *t <= now => {
                    let Reverse(entry) = heap.pop().expect("peeked");
                    due.push(entry);
                }
                _ => break,
            }
        }
        let next = heap.peek().map(|Reverse((t, _))| *t);
        (due, next)
    }

    /// Fires due timers until the node stops leading or shuts down.
    pub async fn run(&self, node: RaftNode) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = leader_now();
            let (due, next) = self.take_due(now);
            if !due.is_empty() {
                let keys = due.iter().map(|(_, k)| k.clone()).collect();
                let next_run_ids = due
                    .iter()
                    .map(|_| uuid::Uuid::new_v4().to_string())
                    .collect();
                let mutation = Mutation {
                    now: 0,
                    kind: Some(Kind::FireTimers(FireTimers { keys, next_run_ids })),
                };
                let span = tracing::debug_span!("fire_timers", count = due.len());
                let _enter = span.enter();
                match node.propose(mutation).await {
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "firing timers failed; will retry");
                        for (t, k) in due {
                            self.add(t, k);
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                }
            }
            let wait = match next {
                Some(t) => Duration::from_nanos((t - now).max(0) as u64),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = &mut changed => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
