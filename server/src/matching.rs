//! Matching: per (namespace, queue, kind) the ready tasks (loaded from RocksDB when this node
//! starts leading, then fed by apply's notifications) and the pollers waiting for them. A poll
//! takes a task by proposing `StartTask`; apply decides whether it is still valid.
//!
//! Tasks are handed out in priority order, as Temporal's matching does: by priority key
//! (1 first; unset is the middle level), first in first out within a key, and, with
//! `matching.enableFairness`, fairness keys within a key taking turns in proportion to their
//! weights (see `Ready`).
//!
//! With worker versioning, a normal queue's task goes only to a poller of the version its
//! routing names (`keel_engine::deployments::eligible`, read against the queue's deployment
//! in replicated state at each hand-out): a pinned run's tasks to its version, the others to
//! the deployment's current or ramping version, or to unversioned pollers. Sticky queues
//! (one worker's) and Nexus queues are not routed.

use crate::errors;
use crate::queries::QueryTask;
use keel_engine::deployments::{self, TaskRouting};
use keel_engine::mutation::{Kind, StartTask, SuggestContinueAsNew};
use keel_engine::priority::TaskPriority;
use keel_engine::records::{DeploymentQueueClaim, TaskKind, TaskRecord, WorkerDeploymentRecord};
use keel_engine::{keys, Mutation, Outcome};
use keel_raft::RaftNode;
use prost::Message;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use temporalio_protos::temporal::api::common::v1::WorkerVersionStamp;
use temporalio_protos::temporal::api::enums::v1::TaskQueueType;
use tokio::sync::Notify;
use tokio::time::Instant;
use tonic::Status;

type QueueKey = (String, String, TaskKind);

/// The `TaskQueueType` of a kind of task (its queue's routing).
pub fn queue_type(kind: TaskKind) -> i32 {
    match kind {
        TaskKind::Activity => TaskQueueType::Activity as i32,
        _ => TaskQueueType::Workflow as i32,
    }
}

/// Who is polling which queue.
pub struct Poller {
    pub namespace: String,
    pub queue: String,
    pub kind: TaskKind,
    pub identity: String,
    pub worker_version: Option<WorkerVersionStamp>,
    /// For a workflow task: the continue-as-new thresholds it is started with.
    pub suggest: Option<SuggestContinueAsNew>,
    /// A versioned worker's deployment version: (deployment, build id).
    pub version: Option<(String, String)>,
    /// Whether the queue is routed by versioning (a normal workflow or activity queue; not
    /// a sticky one).
    pub routed: bool,
}

/// How queues order their ready tasks: Temporal's matching settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DispatchPolicy {
    /// `matching.priorityLevels`: keys run from 1 to this; an unset key is the middle one,
    /// a key above it counts as the last.
    pub priority_levels: u32,
    /// `matching.enableFairness`: fairness keys share their priority level by weight.
    pub fairness: bool,
}

impl Default for DispatchPolicy {
    fn default() -> Self {
        DispatchPolicy {
            priority_levels: 5,
            fairness: false,
        }
    }
}

impl DispatchPolicy {
    fn level(&self, priority_key: u32) -> u32 {
        let levels = self.priority_levels.max(1);
        match priority_key {
            0 => levels.div_ceil(2),
            key => key.min(levels),
        }
    }
}

/// Where a task stands in its queue: priority level, then its fairness pass, then task id
/// (the key's order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    level: u32,
    pass: u64,
    task_key: Vec<u8>,
    /// Who may take it (after the unique key: it plays no part in the order).
    routing: TaskRouting,
}

/// The pass a fairness key of weight 1 moves on by per task.
const STRIDE_AT_WEIGHT_ONE: u64 = 1_000_000;

/// A queue's ready tasks in dispatch order, free of duplicates, each with when this node
/// learned of it. Fairness is stride scheduling: each fairness key's tasks get passes spaced
/// `STRIDE_AT_WEIGHT_ONE / weight` apart, starting no earlier than the pass last handed out
/// in their level, so over a backlog every key gets turns in proportion to its weight and a
/// key that was idle cannot claim the turns it missed.
#[derive(Default)]
struct Ready {
    order: BTreeMap<Slot, Instant>,
    slots: HashMap<Vec<u8>, Slot>,
    /// Per (level, fairness key): the pass its next task gets.
    next_pass: HashMap<(u32, String), u64>,
    /// Per level: the pass of the task last handed out.
    floor: HashMap<u32, u64>,
}

impl Ready {
    /// Queues a task (once); returns its priority level.
    fn add(
        &mut self,
        policy: &DispatchPolicy,
        task_key: Vec<u8>,
        priority: &TaskPriority,
        routing: TaskRouting,
    ) -> u32 {
        let level = policy.level(priority.priority_key);
        if self.slots.contains_key(&task_key) {
            return level;
        }
        let pass = if policy.fairness {
            let floor = self.floor.get(&level).copied().unwrap_or(0);
            let weight_milli = match priority.fairness_weight_milli {
                0 => 1000,
                w => w.clamp(1, 1_000_000),
            } as u64;
            let next = self
                .next_pass
                .entry((level, priority.fairness_key.clone()))
                .or_insert(0);
            let pass = (*next).max(floor);
            *next = pass + STRIDE_AT_WEIGHT_ONE * 1000 / weight_milli;
            pass
        } else {
            0
        };
        self.put_back(
            Slot {
                level,
                pass,
                task_key,
                routing,
            },
            Instant::now(),
        );
        level
    }

    /// Puts a task back where it stood (a start that was not applied).
    fn put_back(&mut self, slot: Slot, added_at: Instant) {
        self.slots.insert(slot.task_key.clone(), slot.clone());
        self.order.insert(slot, added_at);
    }

    fn pop_first(&mut self) -> Option<(Slot, Instant)> {
        self.pop_first_where(|_| true)
    }

    /// Takes the first task in dispatch order whose routing `may_take` accepts.
    fn pop_first_where(
        &mut self,
        may_take: impl Fn(&TaskRouting) -> bool,
    ) -> Option<(Slot, Instant)> {
        let slot = self
            .order
            .keys()
            .find(|slot| may_take(&slot.routing))?
            .clone();
        let added_at = self.order.remove(&slot)?;
        self.slots.remove(&slot.task_key);
        let floor = self.floor.entry(slot.level).or_insert(0);
        *floor = (*floor).max(slot.pass);
        if self.next_pass.len() > 2 * self.order.len() + 64 {
            // Keys whose next pass the floor has reached are as good as new.
            let floors = &self.floor;
            self.next_pass
                .retain(|(level, _), next| *next > floors.get(level).copied().unwrap_or(0));
        }
        Some((slot, added_at))
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    /// Per priority level: how many tasks wait and since when the oldest has.
    fn by_level(&self) -> BTreeMap<u32, (usize, Instant)> {
        let mut levels: BTreeMap<u32, (usize, Instant)> = BTreeMap::new();
        for (slot, added_at) in &self.order {
            let entry = levels.entry(slot.level).or_insert((0, *added_at));
            entry.0 += 1;
            entry.1 = entry.1.min(*added_at);
        }
        levels
    }
}

#[derive(Default)]
struct Queue {
    ready: Mutex<Ready>,
    /// Who polled lately: identity -> last poll (unix nanos of the leader's clock).
    pollers: Mutex<BTreeMap<String, i64>>,
    /// The deployment versions (deployment, build id) of the versioned pollers among them.
    versions: Mutex<BTreeMap<(String, String), i64>>,
    /// When tasks were added and handed out in the last `RATE_WINDOW`, with their levels.
    added_at: Mutex<VecDeque<(Instant, u32)>>,
    dispatched_at: Mutex<VecDeque<(Instant, u32)>>,
    /// Queries for runs on this (workflow) queue; served before stored tasks.
    queries: Mutex<VecDeque<QueryTask>>,
    /// Wakes a waiting poller of unversioned workers (or of any version, on a queue nobody
    /// routes) when a task it may take arrives.
    added: Notify,
    /// The same for each deployment version that polled this queue as a routed queue: a task
    /// wakes a poller of the version it is routed to, not one that would leave it.
    added_for_version: Mutex<HashMap<(String, String), Arc<Notify>>>,
}

/// Temporal forgets a poller five minutes after its last poll.
const POLLER_TTL_NANOS: i64 = 5 * 60 * 1_000_000_000;
/// The rate Temporal reports for a poller that set none.
const DEFAULT_POLLER_RATE: f64 = 100_000.0;

/// Add and dispatch rates are averaged over this window, as Temporal's.
const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

/// Notes an event of a task at `level` now and forgets those older than the window.
fn note(events: &Mutex<VecDeque<(Instant, u32)>>, level: u32) {
    let mut events = events.lock().expect("rate lock");
    let now = Instant::now();
    while events.front().is_some_and(|(t, _)| now - *t > RATE_WINDOW) {
        events.pop_front();
    }
    events.push_back((now, level));
}

/// Events per second over the window: every level's, and each level's.
fn rates(events: &Mutex<VecDeque<(Instant, u32)>>) -> (f32, BTreeMap<u32, f32>) {
    let events = events.lock().expect("rate lock");
    let now = Instant::now();
    let window = RATE_WINDOW.as_secs_f32();
    let (mut all, mut by_level) = (0.0, BTreeMap::new());
    for (_, level) in events.iter().filter(|(t, _)| now - *t <= RATE_WINDOW) {
        all += 1.0 / window;
        *by_level.entry(*level).or_insert(0.0) += 1.0 / window;
    }
    (all, by_level)
}

impl Queue {
    /// What a poller of `version` waits on.
    fn waker(&self, version: Option<&(String, String)>) -> Option<Arc<Notify>> {
        let version = version?;
        let mut wakers = self.added_for_version.lock().expect("wakers lock");
        Some(wakers.entry(version.clone()).or_default().clone())
    }

    /// Wakes one waiting poller that may take a task routed to `target`.
    fn wake_one_for(&self, target: Option<(&str, &str)>) {
        let waker = target.and_then(|(d, b)| {
            let wakers = self.added_for_version.lock().expect("wakers lock");
            wakers.get(&(d.to_string(), b.to_string())).cloned()
        });
        match waker {
            Some(w) => w.notify_one(),
            None => self.added.notify_one(),
        }
    }

    fn has_versioned_pollers(&self) -> bool {
        !self
            .added_for_version
            .lock()
            .expect("wakers lock")
            .is_empty()
    }

    /// Wakes every waiting poller (routing changed, leadership lost, a query for anyone).
    fn wake_all(&self) {
        self.added.notify_waiters();
        for w in self.added_for_version.lock().expect("wakers lock").values() {
            w.notify_waiters();
        }
    }

    fn saw_poller(&self, identity: &str, version: &Option<(String, String)>) {
        let now = keel_raft::leader_now();
        let mut pollers = self.pollers.lock().expect("pollers lock");
        pollers.retain(|_, last| now - *last < POLLER_TTL_NANOS);
        pollers.insert(identity.to_string(), now);
        if let Some(version) = version {
            let mut versions = self.versions.lock().expect("pollers lock");
            versions.retain(|_, last| now - *last < POLLER_TTL_NANOS);
            versions.insert(version.clone(), now);
        }
    }
}

/// One poller of a queue, as DescribeTaskQueue shows it.
pub struct PollerSeen {
    pub identity: String,
    pub last_access_unix_nanos: i64,
    pub rate_per_second: f64,
}

/// A queue's pollers of the last five minutes (latest first), its backlog and rates, in all
/// and by priority level.
pub struct QueueDescription {
    pub pollers: Vec<PollerSeen>,
    pub stats: QueueStats,
    /// Every level with tasks waiting or moving in the window, and the default level.
    pub by_priority: BTreeMap<u32, QueueStats>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct QueueStats {
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
    policy: DispatchPolicy,
    /// Where the queues' deployments are read (absent in unit tests: nothing is routed).
    store: Option<keel_storage::Store>,
    queues: Mutex<HashMap<QueueKey, Arc<Queue>>>,
    /// Bumped when this node stops leading: polls begun before end (UNAVAILABLE, so the
    /// caller retries against the new leader).
    generation: AtomicU64,
}

impl Matching {
    pub fn new(policy: DispatchPolicy, store: keel_storage::Store) -> Matching {
        Matching {
            policy,
            store: Some(store),
            ..Default::default()
        }
    }

    /// The deployment whose routing governs a queue, as replicated state has it now.
    pub fn deployment_of(
        &self,
        namespace: &str,
        queue: &str,
        queue_type: i32,
    ) -> Option<WorkerDeploymentRecord> {
        let store = self.store.as_ref()?;
        let read = |key: Vec<u8>| store.state_get(&key).ok().flatten();
        let claim = DeploymentQueueClaim::decode(
            read(keys::deployment_queue(namespace, queue, queue_type))?.as_slice(),
        )
        .ok()?;
        WorkerDeploymentRecord::decode(
            read(keys::worker_deployment(namespace, &claim.deployment_name))?.as_slice(),
        )
        .ok()
    }

    /// A deployment's routing or versions changed: the namespace's waiting pollers look
    /// again at what they may take.
    pub fn deployment_changed(&self, namespace: &str) {
        let queues = self.queues.lock().expect("matching lock");
        for ((ns, _, _), q) in queues.iter() {
            if ns == namespace {
                q.wake_all();
            }
        }
    }

    /// Whether a deployment version had a poller on any queue in the last five minutes.
    pub fn version_has_pollers(&self, namespace: &str, deployment: &str, build_id: &str) -> bool {
        let now = keel_raft::leader_now();
        let queues: Vec<Arc<Queue>> = {
            let queues = self.queues.lock().expect("matching lock");
            queues
                .iter()
                .filter(|((ns, _, _), _)| ns == namespace)
                .map(|(_, q)| q.clone())
                .collect()
        };
        let version = (deployment.to_string(), build_id.to_string());
        queues.iter().any(|q| {
            q.versions
                .lock()
                .expect("pollers lock")
                .get(&version)
                .is_some_and(|last| now - *last < POLLER_TTL_NANOS)
        })
    }

    fn queue(&self, namespace: &str, queue: &str, kind: TaskKind) -> Arc<Queue> {
        let mut queues = self.queues.lock().expect("matching lock");
        queues
            .entry((namespace.to_string(), queue.to_string(), kind))
            .or_default()
            .clone()
    }

    pub fn add(
        &self,
        namespace: &str,
        queue: &str,
        kind: TaskKind,
        task_key: Vec<u8>,
        priority: &TaskPriority,
        routing: TaskRouting,
    ) {
        let q = self.queue(namespace, queue, kind);
        // Which version's poller to wake, when versioned workers poll here.
        let target = if q.has_versioned_pollers() {
            let deployment = self.deployment_of(namespace, queue, queue_type(kind));
            deployments::task_target(deployment.as_ref(), queue, queue_type(kind), &routing)
                .map(|(d, b)| (d.to_string(), b.to_string()))
        } else {
            None
        };
        let level =
            q.ready
                .lock()
                .expect("queue lock")
                .add(&self.policy, task_key, priority, routing);
        note(&q.added_at, level);
        q.wake_one_for(target.as_ref().map(|(d, b)| (d.as_str(), b.as_str())));
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
        let waiting = q.ready.lock().expect("queue lock").by_level();
        let (add_rate, added) = rates(&q.added_at);
        let (dispatch_rate, dispatched) = rates(&q.dispatched_at);
        let mut by_priority: BTreeMap<u32, QueueStats> = BTreeMap::new();
        by_priority.insert(self.policy.level(0), QueueStats::default());
        for (level, (backlog, since)) in &waiting {
            let stats = by_priority.entry(*level).or_default();
            stats.backlog = *backlog;
            stats.oldest = Some(since.elapsed());
        }
        for (level, rate) in added {
            by_priority.entry(level).or_default().add_rate = rate;
        }
        for (level, rate) in dispatched {
            by_priority.entry(level).or_default().dispatch_rate = rate;
        }
        QueueDescription {
            pollers,
            stats: QueueStats {
                backlog: waiting.values().map(|(n, _)| n).sum(),
                oldest: waiting.values().map(|(_, since)| since.elapsed()).max(),
                add_rate,
                dispatch_rate,
            },
            by_priority,
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
        if q.has_versioned_pollers() {
            q.wake_all();
        } else {
            q.added.notify_one();
        }
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
            q.wake_all();
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
            for (key, value) in &page {
                if let Some((ns, queue, kind, _)) = keys::decode_task(key) {
                    // A record that does not decode is dropped by StartTask; its place is moot.
                    let (priority, routing) = TaskRecord::decode(value.as_slice())
                        .map(|t| (TaskPriority::of(t.priority.as_ref()), TaskRouting::of(&t)))
                        .unwrap_or_default();
                    self.add(&ns, &queue, kind, key.clone(), &priority, routing);
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
        q.saw_poller(&poller.identity, &poller.version);
        let queue_type = queue_type(poller.kind);
        let routed =
            poller.routed && matches!(poller.kind, TaskKind::Workflow | TaskKind::Activity);
        let version = poller
            .version
            .as_ref()
            .map(|(d, b)| (d.as_str(), b.as_str()));
        let version_waker = if routed {
            q.waker(poller.version.as_ref())
        } else {
            None
        };
        loop {
            let added = match &version_waker {
                Some(w) => w.notified(),
                None => q.added.notified(),
            };
            tokio::pin!(added);
            added.as_mut().enable();
            if self.generation.load(Ordering::SeqCst) != generation {
                return Err(errors::leadership_lost());
            }
            if let Some(query) = q.queries.lock().expect("queue lock").pop_front() {
                return Ok(Some(Polled::Query(query)));
            }
            let next = if routed {
                let deployment = self.deployment_of(&poller.namespace, &poller.queue, queue_type);
                q.ready
                    .lock()
                    .expect("queue lock")
                    .pop_first_where(|routing| {
                        deployments::eligible(
                            deployment.as_ref(),
                            &poller.queue,
                            queue_type,
                            routing,
                            version,
                        )
                    })
            } else {
                q.ready.lock().expect("queue lock").pop_first()
            };
            if let Some((slot, added_at)) = next {
                let level = slot.level;
                let mutation = Mutation {
                    now: 0,
                    kind: Some(Kind::StartTask(StartTask {
                        task_key: slot.task_key.clone(),
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
                        q.ready.lock().expect("queue lock").put_back(slot, added_at);
                        return Err(errors::propose(e));
                    }
                };
                match proposed {
                    Ok(Outcome::TaskStale) => continue,
                    Ok(outcome) => {
                        note(&q.dispatched_at, level);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn priority(key: u32, fairness: &str, weight_milli: u32) -> TaskPriority {
        TaskPriority {
            priority_key: key,
            fairness_key: fairness.into(),
            fairness_weight_milli: weight_milli,
        }
    }

    fn task(id: u64) -> Vec<u8> {
        keys::task("ns", "q", TaskKind::Activity, id)
    }

    fn drain(ready: &mut Ready) -> Vec<u64> {
        std::iter::from_fn(|| ready.pop_first())
            .map(|(slot, _)| keys::decode_task(&slot.task_key).unwrap().3)
            .collect()
    }

    #[test]
    fn lower_keys_first_unset_in_the_middle_and_fifo_within_a_key() {
        let policy = DispatchPolicy::default();
        let mut ready = Ready::default();
        for (id, key) in [(1, 0), (2, 5), (3, 1), (4, 3), (5, 9), (6, 1), (7, 0)] {
            ready.add(
                &policy,
                task(id),
                &priority(key, "", 0),
                TaskRouting::default(),
            );
        }
        ready.add(
            &policy,
            task(3),
            &priority(1, "", 0),
            TaskRouting::default(),
        ); // a duplicate is ignored
           // Levels: 1 → [3, 6]; 3 (unset and 3) → [1, 4, 7]; 5 (5 and 9, capped) → [2, 5].
        assert_eq!(drain(&mut ready), vec![3, 6, 1, 4, 7, 2, 5]);
        assert_eq!(ready.len(), 0);
    }

    #[test]
    fn a_start_that_failed_puts_the_task_back_in_its_place() {
        let policy = DispatchPolicy::default();
        let mut ready = Ready::default();
        for id in 1..=3 {
            ready.add(
                &policy,
                task(id),
                &priority(2, "", 0),
                TaskRouting::default(),
            );
        }
        let (slot, at) = ready.pop_first().unwrap();
        ready.put_back(slot, at);
        assert_eq!(drain(&mut ready), vec![1, 2, 3]);
    }

    #[test]
    fn with_fairness_keys_take_turns_in_proportion_to_their_weights() {
        let policy = DispatchPolicy {
            fairness: true,
            ..Default::default()
        };
        // A backlog of 30 tasks of "big" (weight 2) queued before 30 of "small" (weight 1).
        let backlog = |policy: &DispatchPolicy| {
            let mut ready = Ready::default();
            for id in 1..=60 {
                let (key, weight) = if id <= 30 {
                    ("big", 2000)
                } else {
                    ("small", 0)
                };
                ready.add(
                    policy,
                    task(id),
                    &priority(0, key, weight),
                    TaskRouting::default(),
                );
            }
            ready
        };
        let first: Vec<u64> = drain(&mut backlog(&policy)).into_iter().take(30).collect();
        let big = first.iter().filter(|id| **id <= 30).count();
        assert_eq!(big, 20, "2:1 over the first 30 handed out: {first:?}");
        // Without fairness the same backlog is first in, first out.
        let fifo = drain(&mut backlog(&DispatchPolicy::default()));
        assert_eq!(fifo, (1..=60).collect::<Vec<_>>());
    }

    #[test]
    fn an_idle_fairness_key_does_not_claim_the_turns_it_missed() {
        let policy = DispatchPolicy {
            fairness: true,
            ..Default::default()
        };
        let mut ready = Ready::default();
        for id in 1..=10 {
            ready.add(
                &policy,
                task(id),
                &priority(0, "busy", 0),
                TaskRouting::default(),
            );
        }
        let handed: Vec<u64> = (0..8)
            .map(|_| ready.pop_first().unwrap())
            .map(|(s, _)| keys::decode_task(&s.task_key).unwrap().3)
            .collect();
        assert_eq!(handed, (1..=8).collect::<Vec<_>>());
        for id in 11..=14 {
            ready.add(
                &policy,
                task(id),
                &priority(0, "late", 0),
                TaskRouting::default(),
            );
        }
        // "late" starts at the pass last handed out: it alternates with "busy" rather than
        // taking the eight turns it missed ahead of the two tasks "busy" still has.
        assert_eq!(drain(&mut ready), vec![11, 9, 12, 10, 13, 14]);
    }
}
