//! Key layout of every table in the `state` column family, written once, next to its codec.
//!
//! A key is `shard (u32 BE) | table tag (u8) | fields`. Integers are big-endian so byte order
//! is numeric order; strings are length-prefixed (u32 BE) so no string is a prefix of another
//! field. Table tags are never reused. Shard is always 0 until multi-group sharding lands.
//!
//! | tag | table        | fields                                   | value            |
//! |-----|--------------|------------------------------------------|------------------|
//! | 1   | meta         | -                                        | `EngineMeta`     |
//! | 2   | namespace    | name                                     | `NamespaceRecord`|
//! | 3   | execution    | namespace, workflow id, run id           | `ExecutionRecord`|
//! | 4   | current run  | namespace, workflow id                   | `CurrentRun`     |
//! | 5   | history      | namespace, workflow id, run id, event id | `HistoryEvent`   |
//! | 6   | task         | namespace, queue, kind (u8), task id     | `TaskRecord`     |
//! | 7   | timer        | fire time (i64 nanos, sign-flipped), seq | `TimerRecord`    |
//! | 8   | apply meta   | name (owned by keel-raft: last applied log id, membership) | raft's own |
//! | 9   | gone sticky  | namespace, sticky queue (a worker that shut down) | empty     |
//! | 10  | visibility row | namespace, workflow id, run id          | `WorkflowExecutionInfo` |
//! | 11  | visibility index | namespace, index (u8), value, order   | empty            |
//! | 12  | visibility count | namespace, status (u8)                | count (u64 BE)   |
//! | 13  | batch job    | namespace, job id                        | `BatchJobRecord` |
//! | 14  | batch done   | namespace, job id, workflow id, run id (a listed target: "", its position) | empty |
//! | 15  | schedule     | namespace, schedule id                   | `ScheduleRecord` |
//! | 16  | activity execution | namespace, activity id, run id (a standalone activity) | `ExecutionRecord` |
//! | 17  | current activity | namespace, activity id                 | `CurrentRun`     |
//! | 18  | nexus endpoint | endpoint id                              | the API's `Endpoint` |
//! | 19  | nexus endpoint name | name (whose endpoint it is)         | `NexusEndpointClaim` |
//! | 20  | worker deployment | namespace, deployment name          | `WorkerDeploymentRecord` |
//! | 21  | deployment queue | namespace, task queue, type (u8) (the deployment its versions' pollers registered it in) | `DeploymentQueueClaim` |
//!
//! Visibility index keys (see `visibility::index`) end in the run's *order*, so a scan of one
//! index value lists runs in Temporal's fixed order: open runs first, then by close time
//! descending, then start time descending, then run id: `closed (u8: 0 open, 1 closed) |
//! close time desc (u64) | start time desc (u64) | run id | workflow id`, where "desc" is
//! the bitwise complement of the sign-flipped nanos. The value part per index: all runs
//! (0) none; status (1) the status as u8; workflow type (2), workflow id (3), task queue (4)
//! a string; keyword attribute (5) the attribute's name and one value (each of a
//! KeywordList's values gets a key).

use crate::records::TaskKind;

const SHARD: u32 = 0;

/// Table tags. Never reuse a retired tag.
pub mod table {
    pub const META: u8 = 1;
    pub const NAMESPACE: u8 = 2;
    pub const EXECUTION: u8 = 3;
    pub const CURRENT_RUN: u8 = 4;
    pub const HISTORY: u8 = 5;
    pub const TASK: u8 = 6;
    pub const TIMER: u8 = 7;
    pub const APPLY_META: u8 = 8;
    pub const GONE_STICKY_QUEUE: u8 = 9;
    pub const VISIBILITY_ROW: u8 = 10;
    pub const VISIBILITY_INDEX: u8 = 11;
    pub const VISIBILITY_COUNT: u8 = 12;
    pub const BATCH_JOB: u8 = 13;
    pub const BATCH_DONE: u8 = 14;
    pub const SCHEDULE: u8 = 15;
    pub const ACTIVITY_EXECUTION: u8 = 16;
    pub const CURRENT_ACTIVITY: u8 = 17;
    pub const NEXUS_ENDPOINT: u8 = 18;
    pub const NEXUS_ENDPOINT_NAME: u8 = 19;
    pub const WORKER_DEPLOYMENT: u8 = 20;
    pub const DEPLOYMENT_QUEUE: u8 = 21;
}

/// The indexes of the visibility index table (its second field).
pub mod visibility_index {
    pub const ALL: u8 = 0;
    pub const STATUS: u8 = 1;
    pub const WORKFLOW_TYPE: u8 = 2;
    pub const WORKFLOW_ID: u8 = 3;
    pub const TASK_QUEUE: u8 = 4;
    pub const KEYWORD: u8 = 5;
}

struct KeyBuilder(Vec<u8>);

impl KeyBuilder {
    fn new(tag: u8) -> Self {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(&SHARD.to_be_bytes());
        v.push(tag);
        KeyBuilder(v)
    }
    fn str(mut self, s: &str) -> Self {
        self.0.extend_from_slice(&(s.len() as u32).to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn u8(mut self, n: u8) -> Self {
        self.0.push(n);
        self
    }
    fn u64(mut self, n: u64) -> Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }
    fn done(self) -> Vec<u8> {
        self.0
    }
}

/// Reads fields back out of a key, in the order they were written.
struct KeyReader<'a>(&'a [u8]);

impl<'a> KeyReader<'a> {
    fn new(key: &'a [u8], tag: u8) -> Option<Self> {
        let rest = key.get(5..)?;
        (key.get(4) == Some(&tag)).then_some(KeyReader(rest))
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = tail;
        Some(head)
    }
    fn str(&mut self) -> Option<String> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
}

pub fn meta() -> Vec<u8> {
    KeyBuilder::new(table::META).done()
}

pub fn namespace(name: &str) -> Vec<u8> {
    KeyBuilder::new(table::NAMESPACE).str(name).done()
}

/// Raft's apply metadata, kept in `state` so that a snapshot of `state` carries it.
pub fn apply_meta(name: &str) -> Vec<u8> {
    KeyBuilder::new(table::APPLY_META).str(name).done()
}

pub fn namespace_prefix() -> Vec<u8> {
    KeyBuilder::new(table::NAMESPACE).done()
}

pub fn execution(namespace: &str, workflow_id: &str, run_id: &str) -> Vec<u8> {
    KeyBuilder::new(table::EXECUTION)
        .str(namespace)
        .str(workflow_id)
        .str(run_id)
        .done()
}

/// A standalone activity's run (see `standalone`).
pub fn activity_execution(namespace: &str, activity_id: &str, run_id: &str) -> Vec<u8> {
    KeyBuilder::new(table::ACTIVITY_EXECUTION)
        .str(namespace)
        .str(activity_id)
        .str(run_id)
        .done()
}

/// Every standalone activity run of a namespace, by activity id then run id.
pub fn activity_execution_prefix(namespace: &str) -> Vec<u8> {
    KeyBuilder::new(table::ACTIVITY_EXECUTION)
        .str(namespace)
        .done()
}

/// An activity id's latest standalone run.
pub fn current_activity(namespace: &str, activity_id: &str) -> Vec<u8> {
    KeyBuilder::new(table::CURRENT_ACTIVITY)
        .str(namespace)
        .str(activity_id)
        .done()
}

pub fn nexus_endpoint(id: &str) -> Vec<u8> {
    KeyBuilder::new(table::NEXUS_ENDPOINT).str(id).done()
}

/// Every endpoint, in id order.
pub fn nexus_endpoint_prefix() -> Vec<u8> {
    KeyBuilder::new(table::NEXUS_ENDPOINT).done()
}

pub fn nexus_endpoint_name(name: &str) -> Vec<u8> {
    KeyBuilder::new(table::NEXUS_ENDPOINT_NAME).str(name).done()
}

pub fn worker_deployment(namespace: &str, name: &str) -> Vec<u8> {
    KeyBuilder::new(table::WORKER_DEPLOYMENT)
        .str(namespace)
        .str(name)
        .done()
}

/// A namespace's worker deployments, in name order.
pub fn worker_deployment_prefix(namespace: &str) -> Vec<u8> {
    KeyBuilder::new(table::WORKER_DEPLOYMENT)
        .str(namespace)
        .done()
}

/// `queue_type`: the `TaskQueueType` (workflow and activity queues of one name are apart).
pub fn deployment_queue(namespace: &str, queue: &str, queue_type: i32) -> Vec<u8> {
    KeyBuilder::new(table::DEPLOYMENT_QUEUE)
        .str(namespace)
        .str(queue)
        .u8(queue_type.clamp(0, 255) as u8)
        .done()
}

pub fn current_run(namespace: &str, workflow_id: &str) -> Vec<u8> {
    KeyBuilder::new(table::CURRENT_RUN)
        .str(namespace)
        .str(workflow_id)
        .done()
}

pub fn history_prefix(namespace: &str, workflow_id: &str, run_id: &str) -> Vec<u8> {
    KeyBuilder::new(table::HISTORY)
        .str(namespace)
        .str(workflow_id)
        .str(run_id)
        .done()
}

pub fn history_event(namespace: &str, workflow_id: &str, run_id: &str, event_id: i64) -> Vec<u8> {
    let mut key = history_prefix(namespace, workflow_id, run_id);
    key.extend_from_slice(&(event_id as u64).to_be_bytes());
    key
}

/// The event id at the end of a history key.
pub fn history_event_id(key: &[u8]) -> Option<i64> {
    let tail = key.get(key.len().checked_sub(8)?..)?;
    Some(u64::from_be_bytes(tail.try_into().ok()?) as i64)
}

pub fn task_prefix_all() -> Vec<u8> {
    KeyBuilder::new(table::TASK).done()
}

pub fn task(namespace: &str, queue: &str, kind: TaskKind, task_id: u64) -> Vec<u8> {
    KeyBuilder::new(table::TASK)
        .str(namespace)
        .str(queue)
        .u8(kind as u8)
        .u64(task_id)
        .done()
}

/// Every task key of one queue and kind.
pub fn task_queue_prefix(namespace: &str, queue: &str, kind: TaskKind) -> Vec<u8> {
    KeyBuilder::new(table::TASK)
        .str(namespace)
        .str(queue)
        .u8(kind as u8)
        .done()
}

/// Marks the sticky queue of a worker that shut down: no task is sent there again.
pub fn gone_sticky_queue(namespace: &str, queue: &str) -> Vec<u8> {
    KeyBuilder::new(table::GONE_STICKY_QUEUE)
        .str(namespace)
        .str(queue)
        .done()
}

/// The fields of a task key: namespace, queue, kind, task id.
pub fn decode_task(key: &[u8]) -> Option<(String, String, TaskKind, u64)> {
    let mut r = KeyReader::new(key, table::TASK)?;
    let ns = r.str()?;
    let queue = r.str()?;
    let kind = TaskKind::try_from(r.u8()? as i32).ok()?;
    Some((ns, queue, kind, r.u64()?))
}

pub fn timer_prefix() -> Vec<u8> {
    KeyBuilder::new(table::TIMER).done()
}

pub fn batch_job(namespace: &str, job_id: &str) -> Vec<u8> {
    KeyBuilder::new(table::BATCH_JOB)
        .str(namespace)
        .str(job_id)
        .done()
}

pub fn batch_job_prefix(namespace: &str) -> Vec<u8> {
    KeyBuilder::new(table::BATCH_JOB).str(namespace).done()
}

pub fn batch_job_prefix_all() -> Vec<u8> {
    KeyBuilder::new(table::BATCH_JOB).done()
}

/// A schedule: namespace, schedule id -> `ScheduleRecord`.
pub fn schedule(namespace: &str, schedule_id: &str) -> Vec<u8> {
    KeyBuilder::new(table::SCHEDULE)
        .str(namespace)
        .str(schedule_id)
        .done()
}

/// Every schedule of a namespace, in schedule id order.
pub fn schedule_prefix(namespace: &str) -> Vec<u8> {
    KeyBuilder::new(table::SCHEDULE).str(namespace).done()
}

pub fn batch_done(namespace: &str, job_id: &str, workflow_id: &str, run_id: &str) -> Vec<u8> {
    KeyBuilder::new(table::BATCH_DONE)
        .str(namespace)
        .str(job_id)
        .str(workflow_id)
        .str(run_id)
        .done()
}

pub fn visibility_row(namespace: &str, workflow_id: &str, run_id: &str) -> Vec<u8> {
    KeyBuilder::new(table::VISIBILITY_ROW)
        .str(namespace)
        .str(workflow_id)
        .str(run_id)
        .done()
}

pub fn visibility_count(namespace: &str, status: i32) -> Vec<u8> {
    KeyBuilder::new(table::VISIBILITY_COUNT)
        .str(namespace)
        .u8(status as u8)
        .done()
}

pub fn visibility_count_prefix(namespace: &str) -> Vec<u8> {
    KeyBuilder::new(table::VISIBILITY_COUNT)
        .str(namespace)
        .done()
}

/// The status byte at the end of a visibility count key.
pub fn visibility_count_status(key: &[u8]) -> Option<i32> {
    key.last().map(|s| *s as i32)
}

/// The part of a visibility index key before the order: namespace, index and its value
/// fields (each length-prefixed, a status as one byte).
pub fn visibility_index_prefix(namespace: &str, index: u8, values: &[&str]) -> Vec<u8> {
    let mut b = KeyBuilder::new(table::VISIBILITY_INDEX)
        .str(namespace)
        .u8(index);
    for v in values {
        b = b.str(v);
    }
    b.done()
}

pub fn visibility_status_prefix(namespace: &str, status: i32) -> Vec<u8> {
    KeyBuilder::new(table::VISIBILITY_INDEX)
        .str(namespace)
        .u8(visibility_index::STATUS)
        .u8(status as u8)
        .done()
}

/// A run's order (the tail of its index keys): open first, then close time descending,
/// start time descending, run id; the workflow id last, to find the row.
pub fn visibility_order(
    close_time: i64,
    start_time: i64,
    run_id: &str,
    workflow_id: &str,
) -> Vec<u8> {
    let closed = close_time != 0;
    let desc = |t: i64| !ordered_time(t);
    let mut v = Vec::with_capacity(26 + run_id.len() + workflow_id.len());
    v.push(u8::from(closed));
    v.extend_from_slice(&(if closed { desc(close_time) } else { 0 }).to_be_bytes());
    v.extend_from_slice(&desc(start_time).to_be_bytes());
    v.extend_from_slice(&(run_id.len() as u32).to_be_bytes());
    v.extend_from_slice(run_id.as_bytes());
    v.extend_from_slice(&(workflow_id.len() as u32).to_be_bytes());
    v.extend_from_slice(workflow_id.as_bytes());
    v
}

/// The (workflow id, run id) of an order; `None` if the bytes are not one.
pub fn decode_visibility_order(order: &[u8]) -> Option<(String, String)> {
    let mut r = KeyReader(order);
    let closed = r.u8()?;
    r.u64()?;
    r.u64()?;
    let run = r.str()?;
    let wf = r.str()?;
    (closed <= 1 && r.0.is_empty()).then_some((wf, run))
}

/// Flipping the sign bit makes signed nanos sort correctly as unsigned big-endian bytes.
fn ordered_time(nanos: i64) -> u64 {
    (nanos as u64) ^ (1 << 63)
}

pub fn timer(fire_at: i64, seq: u64) -> Vec<u8> {
    KeyBuilder::new(table::TIMER)
        .u64(ordered_time(fire_at))
        .u64(seq)
        .done()
}

/// The fire time (unix nanos) of a timer key.
pub fn decode_timer(key: &[u8]) -> Option<i64> {
    let mut r = KeyReader::new(key, table::TIMER)?;
    Some((r.u64()? ^ (1 << 63)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_key_round_trips() {
        let key = task("ns", "queue", TaskKind::Activity, 42);
        assert_eq!(
            decode_task(&key),
            Some(("ns".into(), "queue".into(), TaskKind::Activity, 42))
        );
        assert!(key.starts_with(&task_prefix_all()));
    }

    #[test]
    fn timer_keys_sort_by_fire_time_including_negative_times() {
        let times = [-5i64, 0, 7, 1_700_000_000_000_000_000, i64::MAX];
        let keys: Vec<_> = times.iter().map(|t| timer(*t, 1)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        for (t, k) in times.iter().zip(&keys) {
            assert_eq!(decode_timer(k), Some(*t));
        }
    }

    #[test]
    fn history_keys_sort_by_event_id_and_share_the_run_prefix() {
        let a = history_event("ns", "wf", "run", 2);
        let b = history_event("ns", "wf", "run", 10);
        assert!(a < b);
        assert!(a.starts_with(&history_prefix("ns", "wf", "run")));
        assert_eq!(history_event_id(&b), Some(10));
        // A workflow id that is a prefix of another never shares its history prefix.
        assert!(
            !history_event("ns", "wf2", "run", 1).starts_with(&history_prefix("ns", "wf", "run"))
        );
    }

    #[test]
    fn visibility_order_is_open_first_then_latest_close_then_latest_start() {
        let open_new = visibility_order(0, 20, "r1", "w");
        let open_old = visibility_order(0, 10, "r2", "w");
        let closed_late = visibility_order(100, 5, "r3", "w");
        let closed_early = visibility_order(50, 30, "r4", "w");
        let mut sorted = vec![
            closed_early.clone(),
            open_old.clone(),
            closed_late.clone(),
            open_new.clone(),
        ];
        sorted.sort();
        assert_eq!(
            sorted,
            vec![open_new, open_old, closed_late, closed_early.clone()]
        );
        assert_eq!(
            decode_visibility_order(&closed_early),
            Some(("w".to_string(), "r4".to_string()))
        );
        assert_eq!(decode_visibility_order(b"garbage"), None);
    }

    #[test]
    fn wrong_table_does_not_decode() {
        assert_eq!(decode_task(&timer(1, 1)), None);
        assert_eq!(decode_timer(&task("a", "b", TaskKind::Workflow, 1)), None);
    }
}
