//! The leader's timer service: a min-heap of the timers due within a window ahead of now
//! (loaded from the timer table, which is ordered by fire time, as the window moves on; fed
//! by apply for timers inside it) that proposes `FireTimers` when they are due. Timers
//! further out stay on disk only, so a retention timer for every closed run costs no
//! memory until its day comes. Apply removes the fired keys, so a restart reloads only
//! what has not fired, and a key loaded twice fires once.

use keel_engine::mutation::{FireTimers, Kind};
use keel_engine::{keys, Mutation};
use keel_raft::{leader_now, RaftNode};
use keel_storage::{StorageError, Store};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// At most this many timers fire in one mutation.
const MAX_BATCH: usize = 512;
/// FireTimers proposals out at once.
const MAX_IN_FLIGHT: usize = 4;
/// How far ahead of now the heap holds timers; it is topped up when half is used.
const WINDOW_NANOS: i64 = 10 * 60 * 1_000_000_000;
/// The longest the service sleeps: a clock that jumps ahead is noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// A due time and its timer-table key; `Reverse` makes the max-heap a min-heap.
type Due = Reverse<(i64, Vec<u8>)>;

struct Window {
    heap: BinaryHeap<Due>,
    /// Every timer due before this is in the heap (or fired); later ones are on disk only.
    horizon: i64,
}

pub struct Timers {
    window: Mutex<Window>,
    changed: Notify,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            window: Mutex::new(Window {
                heap: BinaryHeap::new(),
                horizon: i64::MIN,
            }),
            changed: Notify::new(),
        }
    }
}

impl Timers {
    /// A timer apply wrote; one beyond the window is left to the table.
    pub fn add(&self, fire_at: i64, key: Vec<u8>) {
        let mut window = self.window.lock().expect("timer lock");
        if fire_at >= window.horizon {
            return;
        }
        let earlier = window
            .heap
            .peek()
            .is_none_or(|Reverse((t, _))| fire_at < *t);
        window.heap.push(Reverse((fire_at, key)));
        drop(window);
        if earlier {
            self.changed.notify_one();
        }
    }

    /// Forgets every timer (on leadership changes; the table keeps them).
    pub fn clear(&self) {
        let mut window = self.window.lock().expect("timer lock");
        window.heap.clear();
        window.horizon = i64::MIN;
    }

    /// Loads the timers due within the window (on taking leadership); returns how many.
    pub fn load(&self, store: &Store) -> Result<usize, StorageError> {
        self.extend(store, leader_now().saturating_add(WINDOW_NANOS))
    }

    /// Moves the horizon to `to`, loading the timers due between the old horizon and it.
    /// The horizon moves first, so a timer apply writes meanwhile reaches the heap through
    /// `add` (or the scan, or both: a key fires once).
    fn extend(&self, store: &Store, to: i64) -> Result<usize, StorageError> {
        let from = {
            let mut window = self.window.lock().expect("timer lock");
            if to <= window.horizon {
                return Ok(0);
            }
            std::mem::replace(&mut window.horizon, to)
        };
        let prefix = keys::timer_prefix();
        let mut next = if from == i64::MIN {
            None
        } else {
            Some(keys::timer(from, 0))
        };
        let mut loaded = Vec::new();
        'scan: loop {
            let page = store.state_scan(&prefix, next.as_deref(), 1024)?;
            let Some((last, _)) = page.last() else { break };
            let mut after_last = last.clone();
            after_last.push(0);
            for (key, _) in page {
                match keys::decode_timer(&key) {
                    Some(fire_at) if fire_at >= to => break 'scan,
                    Some(fire_at) => loaded.push(Reverse((fire_at, key))),
                    None => {}
                }
            }
            next = Some(after_last);
        }
        let count = loaded.len();
        if count > 0 {
            self.window.lock().expect("timer lock").heap.extend(loaded);
            self.changed.notify_one();
        }
        Ok(count)
    }

    fn take_due(&self, now: i64) -> (Vec<(i64, Vec<u8>)>, Option<i64>) {
        let mut window = self.window.lock().expect("timer lock");
        let heap = &mut window.heap;
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

    /// Fires due timers until the node stops leading or shuts down, moving the window on.
    /// Up to `MAX_IN_FLIGHT` proposals are out at once: the proposer puts concurrent ones in
    /// one append, so a burst of due timers (many schedules at a minute boundary) costs fewer
    /// fsyncs and each batch is stamped close to its due time.
    pub async fn run(&self, node: RaftNode, store: Store) {
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = leader_now();
            let horizon = self.window.lock().expect("timer lock").horizon;
            if now.saturating_add(WINDOW_NANOS / 2) >= horizon {
                if let Err(e) = self.extend(&store, now.saturating_add(WINDOW_NANOS)) {
                    tracing::warn!(error = %e, "loading the next timers failed; will retry");
                }
            }
            // With every slot taken, wait for a proposal to finish (not for a due time).
            let (due, next) = if in_flight.len() >= MAX_IN_FLIGHT {
                (Vec::new(), None)
            } else {
                self.take_due(now)
            };
            if !due.is_empty() {
                in_flight.spawn(fire(node.clone(), due));
                continue;
            }
            let wait = match next {
                Some(t) => Duration::from_nanos((t - now).max(0) as u64).min(MAX_SLEEP),
                None => MAX_SLEEP,
            };
            tokio::select! {
                _ = &mut changed => {}
                _ = tokio::time::sleep(wait) => {}
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Ok(Err(unfired)) = done {
                        for (t, k) in unfired {
                            self.add(t, k);
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    }
}

/// Proposes one `FireTimers`; on failure hands the timers back to be fired again.
async fn fire(node: RaftNode, due: Vec<(i64, Vec<u8>)>) -> Result<(), Vec<(i64, Vec<u8>)>> {
    let keys = due.iter().map(|(_, k)| k.clone()).collect();
    let next_run_ids = due.iter().map(|_| crate::ids::new_run_id()).collect();
    let mutation = Mutation {
        now: 0,
        kind: Some(Kind::FireTimers(FireTimers { keys, next_run_ids })),
    };
    let span = tracing::debug_span!("fire_timers", count = due.len());
    match tracing::Instrument::instrument(node.propose(mutation), span).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "firing timers failed; will retry");
            Err(due)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60 * 1_000_000_000;

    fn store_with_timers(dir: &std::path::Path, times: &[i64]) -> Store {
        let store = Store::open(dir).unwrap();
        let writes = times
            .iter()
            .enumerate()
            .map(|(seq, t)| (keys::timer(*t, seq as u64), Some(Vec::new())))
            .collect();
        store.commit_state(writes).unwrap();
        store
    }

    fn due_times(timers: &Timers, now: i64) -> Vec<i64> {
        timers.take_due(now).0.into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn only_the_window_is_held_and_it_moves_on() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_000 * 1_000_000_000;
        let store = store_with_timers(dir.path(), &[now - MIN, now + MIN, now + 60 * MIN]);
        let timers = Timers::default();
        assert_eq!(timers.extend(&store, now + WINDOW_NANOS).unwrap(), 2);
        // Apply writes one inside the window and one beyond it: only the first is held.
        timers.add(now + 2 * MIN, keys::timer(now + 2 * MIN, 9));
        timers.add(now + 30 * MIN, keys::timer(now + 30 * MIN, 10));
        assert_eq!(
            due_times(&timers, now + 59 * MIN),
            vec![now - MIN, now + MIN, now + 2 * MIN]
        );
        // The window moves: the far timer is read from the table then.
        assert_eq!(timers.extend(&store, now + 61 * MIN).unwrap(), 1);
        assert_eq!(due_times(&timers, now + 61 * MIN), vec![now + 60 * MIN]);
        assert_eq!(
            timers.extend(&store, now + 50 * MIN).unwrap(),
            0,
            "never backwards"
        );
    }
}
