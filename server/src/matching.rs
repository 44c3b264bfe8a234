//! Matching: per (namespace, queue, kind) the ready tasks (loaded from RocksDB when this node
//! starts leading, then fed by apply's notifications) and the pollers waiting for them. A poll
//! takes a task by proposing `StartTask`; apply decides whether it is still valid.

use crate::errors;
use crate::queries::QueryTask;
use keel_engine::mutation::{Kind, StartTask, SuggestContinueAsNew};
use keel_engine::records::TaskKind;
use keel_engine::{keys, Mutation, Outcome};
use keel_raft::RaftNode;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use temporalio_protos::temporal::api::common::v1::WorkerVersionStamp;
use tokio::sync::Notify;
use tokio::time::Instant;
use tonic::Status;

type QueueKey = (String, String, TaskKind);

/// Who is polling which queue.
pub struct Poller {
    pub namespace: String,
    pub queue: String,
    pub kind: TaskKind,
    pub identity: String,
    pub worker_version: Option<WorkerVersionStamp>,
    /// For a workflow task: the continue-as-new thresholds it is started with.
    pub suggest: Option<SuggestContinueAsNew>,
}

#[derive(Default)]
struct Queue {
    /// Task keys, with when this node learned of each; key order is task-id order, so this is
    /// FIFO and free of duplicates.
    ready: Mutex<BTreeMap<Vec<u8>, Instant>>,
    /// Who polled lately: identity -> last poll (unix nanos of the leader's clock).
    pollers: Mutex<BTreeMap<String, i64>>,
    /// When tasks were added and handed out in the last `RATE_WINDOW`.
    added_at: Mutex<VecDeque<Instant>>,
    dispatched_at: Mutex<VecDeque<Instant>>,
    /// Queries for runs on this (workflow) queue; served before stored tasks.
    queries: Mutex<VecDeque<QueryTask>>,
    added: Notify,
}

/// Temporal forgets a poller five minutes after its last poll.
const POLLER_TTL_NANOS: i64 = 5 * 60 * 1_000_000_000;
/// The rate Temporal reports for a poller that set none.
const DEFAULT_POLLER_RATE: f64 = 100_000.0;

/// Add and dispatch rates are averaged over this window, as Temporal's.
const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

/// Notes an event now and forgets those older than the window.
fn note(events: &Mutex<VecDeque<Instant>>) {
    let mut events = events.lock().expect("rate lock");
    let now = Instant::now();
    while events.front().is_some_and(|t| now - *t > RATE_WINDOW) {
        events.pop_front();
    }
    events.push_back(now);
}

/// Events per second over the window.
fn rate(events: &Mutex<VecDeque<Instant>>) -> f32 {
    let events = events.lock().expect("rate lock");
    let now = Instant::now();
    let recent = events.iter().filter(|t| now - **t <= RATE_WINDOW).count();
    recent as f32 / RATE_WINDOW.as_secs_f32()
}

impl Queue {
    fn saw_poller(&self, identity: &str) {
        let now = keel_raft::leader_now();
        let mut pollers = self.pollers.lock().expect("pollers lock");
        pollers.retain(|_, last| now - *last < POLLER_TTL_NANOS);
        pollers.insert(identity.to_string(), now);
    }
}

/// One poller of a queue, as DescribeTaskQueue shows it.
pub struct PollerSeen {
    pub identity: String,
    pub last_access_unix_nanos: i64,
    pub rate_per_second: f64,
}

/// A queue's pollers of the last five minutes (latest first) and its backlog.
pub struct QueueDescription {
    pub pollers: Vec<PollerSeen>,
    /// Ready tasks not yet handed out.
    pub backlog: usize,
    /// How long the oldest of them has waited (since this node learned of it).
    pub oldest: Option<std::time::Duration>,
    /// Tasks added and handed out per second, over the last 30 s.
    pub add_rate: f32,
    pub dispatch_rate: f32,
}

/// What a poll hands out.
#[derive(Debug)]
pub enum Polled {
    Task(Outcome),
    Query(QueryTask),
}

#[derive(Default)]
pub struct Matching {
    queues: Mutex<HashMap<QueueKey, Arc<Queue>>>,
    /// Bumped when this node stops leading: polls begun before end (UNAVAILABLE, so the
    /// caller retries against the new leader).
    generation: AtomicU64,
}

impl Matching {
    fn queue(&self, namespace: &str, queue: &str, kind: TaskKind) -> Arc<Queue> {
        let mut queues = self.queues.lock().expect("matching lock");
        queues
            .entry((namespace.to_string(), queue.to_string(), kind))
            .or_default()
            .clone()
    }

    pub fn add(&self, namespace: &str, queue: &str, kind: TaskKind, task_key: Vec<u8>) {
        let q = self.queue(namespace, queue, kind);
        q.ready
            .lock()
            .expect("queue lock")
            .entry(task_key)
            .or_insert_with(Instant::now);
        note(&q.added_at);
        q.added.notify_one();
    }

    pub fn describe(&self, namespace: &str, queue: &str, kind: TaskKind) -> QueueDescription {
        let q = self.queue(namespace, queue, kind);
        let now = keel_raft::leader_now();
        let mut pollers: Vec<PollerSeen> = q
            .pollers
            .lock()
            .expect("pollers lock")
            .iter()
            .filter(|(_, last)| now - **last < POLLER_TTL_NANOS)
            .map(|(identity, last)| PollerSeen {
                identity: identity.clone(),
                last_access_unix_nanos: *last,
                rate_per_second: DEFAULT_POLLER_RATE,
            })
            .collect();
        pollers.sort_by_key(|p| std::cmp::Reverse(p.last_access_unix_nanos));
        let ready = q.ready.lock().expect("queue lock");
        QueueDescription {
            pollers,
            backlog: ready.len(),
            oldest: ready.values().min().map(|t| t.elapsed()),
            add_rate: rate(&q.added_at),
            dispatch_rate: rate(&q.dispatched_at),
        }
    }

    /// Every queue's ready tasks not yet handed out: (namespace, queue, "workflow" or
    /// "activity", count), for the metrics.
    pub fn backlogs(&self) -> Vec<(String, String, &'static str, usize)> {
        let queues = self.queues.lock().expect("matching lock");
        queues
            .iter()
            .map(|((namespace, queue, kind), q)| {
                let kind = match kind {
                    TaskKind::Activity => "activity",
                    _ => "workflow",
                };
                let count = q.ready.lock().expect("queue lock").len();
                (namespace.clone(), queue.clone(), kind, count)
            })
            .collect()
    }

    pub fn add_query(&self, queue: &str, task: QueryTask) {
        let q = self.queue(&task.namespace, queue, TaskKind::Workflow);
        q.queries.lock().expect("queue lock").push_back(task);
        q.added.notify_one();
    }

    /// Takes back a query nobody polled in time; false if a poller took it already.
    pub fn withdraw_query(&self, namespace: &str, queue: &str, id: u64) -> bool {
        let q = self.queue(namespace, queue, TaskKind::Workflow);
        let mut queries = q.queries.lock().expect("queue lock");
        let before = queries.len();
        queries.retain(|t| t.id != id);
        queries.len() != before
    }

    /// Drops every queue and ends every waiting poll (on losing leadership).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let queues = std::mem::take(&mut *self.queues.lock().expect("matching lock"));
        for q in queues.values() {
            q.added.notify_waiters();
        }
    }

    /// Loads every ready task from storage (on becoming leader).
    pub fn load(&self, store: &keel_storage::Store) -> Result<usize, keel_storage::StorageError> {
        let prefix = keys::task_prefix_all();
        let mut from: Option<Vec<u8>> = None;
        let mut count = 0;
        loop {
            let page = store.state_scan(&prefix, from.as_deref(), 1024)?;
            let Some((last, _)) = page.last() else { break };
            let mut next = last.clone();
            next.push(0);
            for (key, _) in &page {
                if let Some((ns, queue, kind, _)) = keys::decode_task(key) {
                    self.add(&ns, &queue, kind, key.clone());
                    count += 1;
                }
            }
            from = Some(next);
        }
        Ok(count)
    }

    /// Waits for a task until `deadline`; `None` means the long poll ran out (an empty
    /// response, as Temporal gives).
    pub async fn poll(
        &self,
        node: &RaftNode,
        poller: Poller,
        deadline: Instant,
    ) -> Result<Option<Polled>, Status> {
        let generation = self.generation.load(Ordering::SeqCst);
        let q = self.queue(&poller.namespace, &poller.queue, poller.kind);
        q.saw_poller(&poller.identity);
        loop {
            let added = q.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            if self.generation.load(Ordering::SeqCst) != generation {
                return Err(errors::leadership_lost());
            }
            if let Some(query) = q.queries.lock().expect("queue lock").pop_front() {
                return Ok(Some(Polled::Query(query)));
            }
            let next = q.ready.lock().expect("queue lock").pop_first();
            if let Some((task_key, added_at)) = next {
                let mutation = Mutation {
                    now: 0,
                    kind: Some(Kind::StartTask(StartTask {
                        task_key: task_key.clone(),
                        identity: poller.identity.clone(),
                        request_id: uuid::Uuid::new_v4().to_string(),
                        worker_version: poller.worker_version.clone(),
                        suggest: poller.suggest.clone(),
                    })),
                };
                let proposed = match node.propose(mutation).await {
                    Ok(applied) => applied,
                    Err(e) => {
                        // Not applied (no leader, shutting down): the task stays ready.
                        q.ready
                            .lock()
                            .expect("queue lock")
                            .insert(task_key, added_at);
                        return Err(errors::propose(e));
                    }
                };
                match proposed {
                    Ok(Outcome::TaskStale) => continue,
                    Ok(outcome) => {
                        note(&q.dispatched_at);
                        return Ok(Some(Polled::Task(outcome)));
                    }
                    Err(rejection) => {
                        tracing::debug!(%rejection, "task could not be started");
                        continue;
                    }
                }
            }
            tokio::select! {
                _ = &mut added => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
            }
        }
    }
}
