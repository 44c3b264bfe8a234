//! Metrics and health on their own plain listener (`--metrics-listen`), so probes and
//! Prometheus work when the client port needs mTLS:
//!
//! - `/metrics`: Prometheus text. Temporal's names where its dashboards expect them
//!   (`service_requests`, `service_errors`, `service_error_with_type`,
//!   `service_errors_resource_exhausted`, `service_errors_unauthorized`, `service_latency` per
//!   `operation`; `workflow_success`,
//!   `workflow_failed`, `workflow_timeout`, `workflow_terminate`, `workflow_cancel`,
//!   `workflow_continued_as_new` per `namespace`; `approximate_backlog_count`, `poll_success`,
//!   `poll_timeouts`, `task_schedule_to_start_latency` and `eager_execution` (tasks handed
//!   out without a poll: eager workflow start, eager activities) per namespace, task queue and
//!   task type), etcd's shape for Raft (`keel_server_has_leader`,
//!   `keel_server_leader_changes_seen_total`, `keel_server_proposals_*`, term and indexes,
//!   per-peer matched index and lag) and the disk (`keel_disk_wal_fsync_duration_seconds`,
//!   apply batches, snapshots: `keel_raft::metrics`), RocksDB's sizes, and the process (CPU,
//!   resident memory, open files). Labels are bounded: operations are the services' method
//!   names, task queues past the first `MAX_TASK_QUEUES` share one `__other__` label, and no
//!   label carries a workflow or run id.
//! - `/livez`: 200 while the process serves; `/readyz` (and `/health`): 200 when the node can
//!   serve requests (`health::readiness`), else 503 naming the failed checks (`?verbose` lists
//!   every check, as etcd's).

mod requests;

pub use requests::{RequestMetrics, RequestMetricsLayer};

use crate::app::Keel;
use crate::health;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{header, StatusCode};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// How a long poll ended, for `Metrics::polled`.
pub enum PollEnd {
    /// A task, taken this many seconds after it was scheduled (if known).
    Task(Option<f64>),
    Empty,
}

/// Task queues given their own label; the rest are counted under `__other__`.
pub const MAX_TASK_QUEUES: usize = 200;
const OTHER_TASK_QUEUE: &str = "__other__";

/// Temporal's latency buckets (seconds).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];

/// The outcomes of a run's close, by Temporal's metric names.
#[derive(Debug, Clone, Copy)]
pub enum RunOutcome {
    Success,
    Failed,
    TimedOut,
    Terminated,
    Canceled,
    ContinuedAsNew,
}

impl RunOutcome {
    /// The outcome of a closed run's status (none for a status that is not a close).
    pub fn of_status(status: i32) -> Option<Self> {
        use temporalio_protos::temporal::api::enums::v1::WorkflowExecutionStatus as S;
        Some(match S::try_from(status).ok()? {
            S::Completed => RunOutcome::Success,
            S::Failed => RunOutcome::Failed,
            S::TimedOut => RunOutcome::TimedOut,
            S::Terminated => RunOutcome::Terminated,
            S::Canceled => RunOutcome::Canceled,
            S::ContinuedAsNew => RunOutcome::ContinuedAsNew,
            _ => return None,
        })
    }
}

/// Counts the leader changes this node sees (a new leader id, or none after one).
pub async fn count_leader_changes(keel: Arc<Keel>) {
    let mut watch = keel.node.raft.metrics();
    let mut leader = watch.borrow().current_leader;
    while watch.changed().await.is_ok() {
        let now = watch.borrow().current_leader;
        if now != leader {
            if now.is_some() {
                keel.metrics.leader_changes.inc();
            }
            leader = now;
        }
    }
}

/// Every metric the server updates itself (Raft's own live in `keel_raft::metrics`).
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub errors: IntCounterVec,
    pub errors_with_type: IntCounterVec,
    pub resource_exhausted: IntCounterVec,
    pub unauthorized: IntCounterVec,
    pub latency: HistogramVec,
    outcomes: Vec<IntCounterVec>,
    poll_success: IntCounterVec,
    poll_timeouts: IntCounterVec,
    eager_execution: IntCounterVec,
    schedule_to_start: HistogramVec,
    pub proposals_committed: IntCounter,
    pub proposals_failed: IntCounter,
    pub proposals_pending: IntGauge,
    pub proposal_latency: Histogram,
    pub leader_changes: IntCounter,
    // Sampled at each scrape.
    has_leader: IntGauge,
    is_leader: IntGauge,
    term: IntGauge,
    last_log_index: IntGauge,
    applied_index: IntGauge,
    snapshot_index: IntGauge,
    purged_index: IntGauge,
    millis_since_quorum_ack: IntGauge,
    members: IntGauge,
    disk_free: IntGauge,
    disk_reserve: IntGauge,
    disk_alarm: IntGauge,
    peer_matched: IntGaugeVec,
    peer_lag: IntGaugeVec,
    backlog: IntGaugeVec,
    rocksdb: IntGaugeVec,
    task_queues: Mutex<BTreeSet<String>>,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("registered once");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("a valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("registered once");
    g
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("registered once");
    g
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let latency = HistogramVec::new(
            HistogramOpts::new("service_latency", "Client request latency, seconds.")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["operation"],
        )
        .expect("a valid metric");
        r.register(Box::new(latency.clone()))
            .expect("registered once");
        let proposal_latency = Histogram::with_opts(
            HistogramOpts::new(
                "keel_server_proposal_duration_seconds",
                "Proposal to applied outcome, seconds (on the leader).",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("a valid metric");
        r.register(Box::new(proposal_latency.clone()))
            .expect("registered once");
        let outcome_names = [
            ("workflow_success", "Runs completed."),
            ("workflow_failed", "Runs failed."),
            ("workflow_timeout", "Runs timed out."),
            ("workflow_terminate", "Runs terminated."),
            ("workflow_cancel", "Runs canceled."),
            ("workflow_continued_as_new", "Runs continued as new."),
        ];
        let outcomes = outcome_names
            .iter()
            .map(|(n, h)| counter_vec(&r, n, h, &["namespace"]))
            .collect();
        let poll_labels = ["namespace", "taskqueue", "task_type"];
        let schedule_to_start = HistogramVec::new(
            HistogramOpts::new(
                "task_schedule_to_start_latency",
                "From a task's scheduling to a poller taking it, seconds (on the leader).",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &poll_labels,
        )
        .expect("a valid metric");
        r.register(Box::new(schedule_to_start.clone()))
            .expect("registered once");
        let proc_collector = prometheus::process_collector::ProcessCollector::for_self();
        r.register(Box::new(proc_collector))
            .expect("registered once");
        Metrics {
            requests: counter_vec(&r, "service_requests", "Client requests.", &["operation"]),
            errors: counter_vec(
                &r,
                "service_errors",
                "Client requests that failed.",
                &["operation"],
            ),
            errors_with_type: counter_vec(
                &r,
                "service_error_with_type",
                "Failed client requests by gRPC code.",
                &["operation", "error_type"],
            ),
            resource_exhausted: counter_vec(
                &r,
                "service_errors_resource_exhausted",
                "Client requests refused with RESOURCE_EXHAUSTED.",
                &["operation"],
            ),
            unauthorized: counter_vec(
                &r,
                "service_errors_unauthorized",
                "Client requests refused with PERMISSION_DENIED (authorization, read-only console).",
                &["operation"],
            ),
            latency,
            outcomes,
            poll_success: counter_vec(
                &r,
                "poll_success",
                "Long polls answered with a task.",
                &poll_labels,
            ),
            poll_timeouts: counter_vec(
                &r,
                "poll_timeouts",
                "Long polls that ended empty (no task before their deadline).",
                &poll_labels,
            ),
            eager_execution: counter_vec(
                &r,
                "eager_execution",
                "Tasks handed to a worker in the answer to its own call, without a poll (eager workflow start, eager activities).",
                &poll_labels,
            ),
            schedule_to_start,
            proposals_committed: {
                let c = IntCounter::new(
                    "keel_server_proposals_committed_total",
                    "Proposals committed and applied.",
                )
                .expect("a valid metric");
                r.register(Box::new(c.clone())).expect("registered once");
                c
            },
            proposals_failed: {
                let c = IntCounter::new(
                    "keel_server_proposals_failed_total",
                    "Proposals that failed (not leader, no quorum in time, shutting down).",
                )
                .expect("a valid metric");
                r.register(Box::new(c.clone())).expect("registered once");
                c
            },
            proposals_pending: gauge(&r, "keel_server_proposals_pending", "Proposals in flight."),
            proposal_latency,
            leader_changes: {
                let c = IntCounter::new(
                    "keel_server_leader_changes_seen_total",
                    "Leader changes this node has seen.",
                )
                .expect("a valid metric");
                r.register(Box::new(c.clone())).expect("registered once");
                c
            },
            has_leader: gauge(
                &r,
                "keel_server_has_leader",
                "1 if this node knows a leader.",
            ),
            is_leader: gauge(&r, "keel_server_is_leader", "1 if this node is the leader."),
            term: gauge(&r, "keel_server_term", "This node's current Raft term."),
            last_log_index: gauge(
                &r,
                "keel_raft_last_log_index",
                "The last index in this node's log.",
            ),
            applied_index: gauge(
                &r,
                "keel_raft_applied_index",
                "The last index this node applied.",
            ),
            snapshot_index: gauge(
                &r,
                "keel_raft_snapshot_index",
                "The index of this node's last snapshot.",
            ),
            purged_index: gauge(
                &r,
                "keel_raft_purged_index",
                "The last log index purged behind a snapshot.",
            ),
            millis_since_quorum_ack: gauge(
                &r,
                "keel_server_millis_since_quorum_ack",
                "On the leader: milliseconds since a quorum last acknowledged it (-1 elsewhere).",
            ),
            disk_free: gauge(
                &r,
                "keel_disk_free_bytes",
                "Free space on the data directory's filesystem, bytes.",
            ),
            disk_reserve: gauge(
                &r,
                "keel_disk_reserve_bytes",
                "The free-space reserve (--min-free-disk), bytes.",
            ),
            disk_alarm: gauge(
                &r,
                "keel_disk_alarm",
                "1 while free space is below the reserve and writes are refused.",
            ),
            members: gauge(
                &r,
                "keel_server_members",
                "Members (voters and learners) in the membership.",
            ),
            peer_matched: gauge_vec(
                &r,
                "keel_network_peer_matched_index",
                "On the leader: the last log index each peer has matched.",
                &["peer"],
            ),
            peer_lag: gauge_vec(
                &r,
                "keel_network_peer_lag_entries",
                "On the leader: entries each peer is behind the leader's log.",
                &["peer"],
            ),
            backlog: gauge_vec(
                &r,
                "approximate_backlog_count",
                "Tasks waiting in a task queue (on the leader).",
                &["namespace", "taskqueue", "task_type"],
            ),
            rocksdb: gauge_vec(
                &r,
                "keel_rocksdb_bytes",
                "RocksDB sizes: live data, SST files, memtables, pending compaction.",
                &["kind"],
            ),
            task_queues: Mutex::new(BTreeSet::new()),
            registry: r,
        }
    }

    /// Counts a run's close.
    pub fn run_closed(&self, namespace: &str, outcome: RunOutcome) {
        let i = outcome as usize;
        self.outcomes[i].with_label_values(&[namespace]).inc();
    }

    /// One long poll's end: a task taken `schedule_to_start` seconds after it was scheduled
    /// (unknown for a query), or nothing before the deadline.
    pub fn polled(&self, namespace: &str, queue: &str, task_type: &str, took: PollEnd) {
        let queue = self.task_queue_label(queue);
        let labels = [namespace, queue.as_str(), task_type];
        match took {
            PollEnd::Task(seconds) => {
                self.poll_success.with_label_values(&labels).inc();
                if let Some(s) = seconds {
                    self.schedule_to_start
                        .with_label_values(&labels)
                        .observe(s.max(0.0));
                }
            }
            PollEnd::Empty => self.poll_timeouts.with_label_values(&labels).inc(),
        }
    }

    /// `count` tasks of `task_type` handed out eagerly (no poll took them from `queue`).
    pub fn eager(&self, namespace: &str, queue: &str, task_type: &str, count: usize) {
        let queue = self.task_queue_label(queue);
        self.eager_execution
            .with_label_values(&[namespace, queue.as_str(), task_type])
            .inc_by(count as u64);
    }

    /// The label a task queue is counted under: its name while fewer than `MAX_TASK_QUEUES`
    /// have been seen, `__other__` after.
    pub fn task_queue_label(&self, queue: &str) -> String {
        let mut seen = self.task_queues.lock().expect("task queue labels lock");
        if seen.contains(queue) {
            return queue.to_string();
        }
        if seen.len() < MAX_TASK_QUEUES {
            seen.insert(queue.to_string());
            return queue.to_string();
        }
        OTHER_TASK_QUEUE.to_string()
    }

    /// Samples what is read rather than counted (Raft's state, backlogs, RocksDB), then
    /// renders every metric, Raft's own included, as Prometheus text.
    pub fn render(&self, keel: &Keel) -> Vec<u8> {
        self.sample(keel);
        let mut families = self.registry.gather();
        families.extend(keel_raft::metrics::registry().gather());
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&families, &mut out);
        out
    }

    fn sample(&self, keel: &Keel) {
        let m = keel.node.metrics();
        let idx = |v: Option<u64>| v.map_or(-1, |v| v as i64);
        self.has_leader.set(i64::from(m.current_leader.is_some()));
        self.is_leader
            .set(i64::from(m.state == openraft::ServerState::Leader));
        self.term.set(m.current_term as i64);
        self.last_log_index.set(idx(m.last_log_index));
        self.applied_index.set(idx(m.last_applied.map(|l| l.index)));
        self.snapshot_index.set(idx(m.snapshot.map(|l| l.index)));
        self.purged_index.set(idx(m.purged.map(|l| l.index)));
        self.millis_since_quorum_ack
            .set(m.millis_since_quorum_ack.map_or(-1, |v| v as i64));
        self.members
            .set(m.membership_config.membership().nodes().count() as i64);
        let (free, reserve) = keel.node.disk.last();
        self.disk_free.set(free as i64);
        self.disk_reserve.set(reserve as i64);
        self.disk_alarm
            .set(i64::from(keel.node.disk.low().is_some()));
        self.peer_matched.reset();
        self.peer_lag.reset();
        if let Some(replication) = &m.replication {
            let last = m.last_log_index.unwrap_or(0);
            for (peer, matched) in replication.iter() {
                let matched = matched.map(|l| l.index);
                let label = peer.to_string();
                self.peer_matched
                    .with_label_values(&[&label])
                    .set(idx(matched));
                self.peer_lag
                    .with_label_values(&[&label])
                    .set(last.saturating_sub(matched.unwrap_or(0)) as i64);
            }
        }
        self.backlog.reset();
        let mut by_label: HashMap<(String, String, &'static str), i64> = HashMap::new();
        for (namespace, queue, kind, count) in keel.matching.backlogs() {
            let queue = self.task_queue_label(&queue);
            *by_label.entry((namespace, queue, kind)).or_default() += count as i64;
        }
        for ((namespace, queue, kind), count) in by_label {
            self.backlog
                .with_label_values(&[&namespace, &queue, kind])
                .set(count);
        }
        for (kind, property) in [
            ("live_data", "rocksdb.estimate-live-data-size"),
            ("sst_files", "rocksdb.total-sst-files-size"),
            ("memtables", "rocksdb.cur-size-all-mem-tables"),
            (
                "pending_compaction",
                "rocksdb.estimate-pending-compaction-bytes",
            ),
        ] {
            self.rocksdb
                .with_label_values(&[kind])
                .set(keel.store.property_sum(property) as i64);
        }
    }
}

#[derive(Clone)]
struct Probe {
    keel: Arc<Keel>,
}

async fn metrics(State(p): State<Probe>) -> Response {
    let keel = p.keel.clone();
    let body = tokio::task::spawn_blocking(move || keel.metrics.render(&keel))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn livez(State(p): State<Probe>) -> Response {
    if p.keel.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "[-]shutting down\nlivez check failed\n",
        )
            .into_response();
    }
    (StatusCode::OK, "ok\n").into_response()
}

async fn readyz(State(p): State<Probe>, Query(q): Query<HashMap<String, String>>) -> Response {
    let checks = health::readiness(&p.keel);
    let ready = checks.iter().all(|c| c.ok);
    let verbose = q.contains_key("verbose");
    let mut text = String::new();
    for c in &checks {
        if verbose || !c.ok {
            let mark = if c.ok { '+' } else { '-' };
            text.push_str(&format!("[{mark}]{} {}\n", c.name, c.detail));
        }
    }
    if ready {
        text.push_str("ok\n");
        (StatusCode::OK, text).into_response()
    } else {
        text.push_str("readyz check failed\n");
        (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
    }
}

/// The metrics listener's router.
pub fn router(keel: Arc<Keel>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/health", get(readyz))
        .with_state(Probe { keel })
}
