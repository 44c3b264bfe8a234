//! The prost records the engine keeps in the `state` column family (values of the tables
//! that `keys` lays out). History events are stored as the API's own `HistoryEvent`.
//!
//! Times are unix nanoseconds (`i64`) and durations nanoseconds; 0 means "not set".

use temporalio_protos::temporal::api::{
    activity::v1 as activity, common::v1 as common, deployment::v1 as deployment,
    failure::v1 as failure, history::v1 as history, schedule::v1 as schedule, sdk::v1 as sdk,
    workflow::v1 as workflow,
};

/// Engine-wide counters: the replicated clock and the id sequence for tasks, timers and
/// event task ids.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EngineMeta {
    /// `max` of every mutation's stamped time: replicated time never goes backwards.
    #[prost(int64, tag = "1")]
    pub clock: i64,
    #[prost(uint64, tag = "2")]
    pub next_id: u64,
    /// The cluster's recorded feature level (`feature_level::record`); 0 until one is.
    #[prost(uint32, tag = "3")]
    pub cluster_level: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NamespaceRecord {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub id: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "4")]
    pub owner_email: String,
    #[prost(int64, tag = "5")]
    pub retention: i64,
    #[prost(btree_map = "string, string", tag = "6")]
    pub data: std::collections::BTreeMap<String, String>,
    #[prost(int64, tag = "7")]
    pub created_time: i64,
    /// Custom search attributes: name -> `IndexedValueType` (see `search_attributes`).
    #[prost(btree_map = "string, int32", tag = "8")]
    pub search_attributes: std::collections::BTreeMap<String, i32>,
    /// Batch jobs running in the namespace (Temporal allows one at a time by default).
    #[prost(string, repeated, tag = "9")]
    pub running_batch_jobs: Vec<String>,
}

/// A batch operation (see `batch`): the request, the state, the progress.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchJobRecord {
    #[prost(string, tag = "1")]
    pub job_id: String,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(message, optional, tag = "3")]
    pub request:
        Option<temporalio_protos::temporal::api::workflowservice::v1::StartBatchOperationRequest>,
    /// `BatchOperationState`.
    #[prost(int32, tag = "4")]
    pub state: i32,
    #[prost(int64, tag = "5")]
    pub start_time: i64,
    #[prost(int64, tag = "6")]
    pub close_time: i64,
    /// Targets counted when the job started.
    #[prost(int64, tag = "7")]
    pub total_estimate: i64,
    #[prost(int64, tag = "8")]
    pub complete_count: i64,
    #[prost(int64, tag = "9")]
    pub failure_count: i64,
    /// The visibility order of the last target done: the walk of `query` resumes after it.
    #[prost(bytes = "vec", tag = "10")]
    pub cursor: Vec<u8>,
    /// The query walked (empty when the request lists its executions).
    #[prost(string, tag = "11")]
    pub query: String,
    /// The next of the request's listed executions.
    #[prost(int32, tag = "12")]
    pub next_execution: i32,
    /// StopBatchOperation's reason.
    #[prost(string, tag = "13")]
    pub stop_reason: String,
}

/// The run a workflow id currently points at (open, or the last closed one).
/// A Nexus endpoint name's owner (see `nexus_endpoints`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NexusEndpointClaim {
    #[prost(string, tag = "1")]
    pub id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CurrentRun {
    #[prost(string, tag = "1")]
    pub run_id: String,
    /// `WorkflowExecutionStatus`.
    #[prost(int32, tag = "2")]
    pub status: i32,
    #[prost(string, tag = "3")]
    pub start_request_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum TaskKind {
    Unspecified = 0,
    Workflow = 1,
    Activity = 2,
    /// Only in task tokens: a query, which is dispatched in memory and never stored.
    Query = 3,
    /// A Nexus operation's start request, in the queue its endpoint targets.
    Nexus = 4,
}

/// A ready task in a task queue, waiting for a poller.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskRecord {
    #[prost(string, tag = "1")]
    pub workflow_id: String,
    #[prost(string, tag = "2")]
    pub run_id: String,
    /// Workflow tasks: the run's workflow-task sequence number. Activities: scheduled event id.
    #[prost(int64, tag = "3")]
    pub target: i64,
    #[prost(int32, tag = "4")]
    pub attempt: i32,
    /// Activities: the activity's `stamp` when queued; a task of an older stamp is dropped.
    #[prost(int32, tag = "5")]
    pub stamp: i32,
    /// The task's priority, inherited fields merged in (what matching orders by).
    #[prost(message, optional, tag = "6")]
    pub priority: Option<common::Priority>,
    /// The task of a standalone activity (its record is in the activity tables).
    #[prost(bool, tag = "7")]
    pub standalone: bool,
    /// A Nexus task: the namespace of the run that scheduled the operation (its queue is in
    /// the endpoint's target namespace).
    #[prost(string, tag = "8")]
    pub caller_namespace: String,
    /// A Nexus task asking the handler to cancel a started operation (not to start it).
    #[prost(bool, tag = "9")]
    pub nexus_cancel: bool,
    /// The deployment version a pinned run's task goes to (see `versioning`); unset: the
    /// queue's routing decides when the task is handed out.
    #[prost(message, optional, tag = "10")]
    pub pinned: Option<deployment::WorkerDeploymentVersion>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum TimerKind {
    Unspecified = 0,
    /// A workflow's StartTimer command; target = TimerStarted event id.
    UserTimer = 1,
    /// target = activity scheduled event id; attempt = the attempt it guards.
    ActivityStartToClose = 2,
    ActivityScheduleToClose = 3,
    /// The backoff before an activity's next attempt is dispatched.
    ActivityRetry = 4,
    /// target = workflow-task sequence number.
    WorkflowTaskStartToClose = 5,
    WorkflowRunTimeout = 6,
    /// Re-armed on firing while heartbeats keep arriving; target = scheduled event id.
    ActivityHeartbeat = 7,
    /// An attempt nobody polled in time; target = scheduled event id.
    ActivityScheduleToStart = 8,
    /// A retried run's backoff is over: its first workflow task is scheduled.
    WorkflowBackoff = 9,
    /// A workflow task nobody took from the sticky queue in time; target = task sequence.
    WorkflowTaskScheduleToStart = 10,
    /// A closed run's retention period is over: it is deleted.
    Retention = 11,
    /// A schedule's next action is due (or it has buffered work left); workflow_id = the
    /// schedule id (see `schedules`).
    ScheduleWake = 12,
    /// A Nexus operation's schedule-to-close timeout; target = its scheduled event id.
    NexusScheduleToClose = 13,
    /// A Nexus operation's attempt got no answer in time; attempt = the attempt it guards.
    NexusAttempt = 14,
    /// The backoff before a Nexus operation's next attempt is dispatched.
    NexusRetry = 15,
    /// The same two for delivering a cancellation request to the operation's handler.
    NexusCancelAttempt = 16,
    NexusCancelRetry = 17,
}

/// A due-time entry. A timer whose target has moved on (timer cancelled, activity completed,
/// newer attempt) is stale and firing it changes nothing but its own removal.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimerRecord {
    #[prost(enumeration = "TimerKind", tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(string, tag = "3")]
    pub workflow_id: String,
    #[prost(string, tag = "4")]
    pub run_id: String,
    #[prost(int64, tag = "5")]
    pub target: i64,
    #[prost(int32, tag = "6")]
    pub attempt: i32,
    /// Activity timers: the activity's `stamp` when armed; an older stamp's timer is stale.
    #[prost(int32, tag = "7")]
    pub stamp: i32,
    /// A timer of a standalone activity (its record is in the activity tables).
    #[prost(bool, tag = "8")]
    pub standalone: bool,
}

impl TimerRecord {
    /// A timer of run `exec` for `target` (an event id or task sequence, per kind).
    pub fn for_run(exec: &ExecutionRecord, kind: TimerKind, target: i64, attempt: i32) -> Self {
        TimerRecord {
            kind: kind as i32,
            namespace: exec.namespace.clone(),
            workflow_id: exec.workflow_id.clone(),
            run_id: exec.run_id.clone(),
            target,
            attempt,
            stamp: 0,
            standalone: exec.standalone,
        }
    }
}

/// The mutable state of one run.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionRecord {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(string, tag = "4")]
    pub workflow_type: String,
    #[prost(string, tag = "5")]
    pub task_queue: String,
    /// `WorkflowExecutionStatus`.
    #[prost(int32, tag = "6")]
    pub status: i32,
    #[prost(int64, tag = "7")]
    pub next_event_id: i64,
    #[prost(int64, tag = "8")]
    pub start_time: i64,
    #[prost(int64, tag = "9")]
    pub close_time: i64,
    #[prost(int64, tag = "10")]
    pub execution_timeout: i64,
    #[prost(int64, tag = "11")]
    pub run_timeout: i64,
    #[prost(int64, tag = "12")]
    pub task_timeout: i64,
    #[prost(string, tag = "13")]
    pub start_request_id: String,
    /// Started event id of the last completed workflow task (the poll response's
    /// `previous_started_event_id`).
    #[prost(int64, tag = "14")]
    pub last_completed_started_event_id: i64,
    /// Incremented each time a workflow task is scheduled; names the task in queues and timers.
    #[prost(uint64, tag = "15")]
    pub workflow_task_seq: u64,
    #[prost(message, optional, tag = "16")]
    pub workflow_task: Option<WorkflowTaskInfo>,
    #[prost(message, repeated, tag = "17")]
    pub activities: Vec<ActivityInfo>,
    #[prost(message, repeated, tag = "18")]
    pub timers: Vec<TimerInfo>,
    /// Events that arrived while a workflow task was running, appended after it completes.
    #[prost(message, repeated, tag = "19")]
    pub buffered_events: Vec<history::HistoryEvent>,
    #[prost(int64, tag = "20")]
    pub history_size_bytes: i64,
    #[prost(int64, tag = "21")]
    pub close_event_id: i64,
    #[prost(message, optional, tag = "22")]
    pub memo: Option<common::Memo>,
    #[prost(message, optional, tag = "23")]
    pub search_attributes: Option<common::SearchAttributes>,
    #[prost(int64, tag = "24")]
    pub state_transitions: i64,
    /// The build id of the worker that last completed a workflow task; activities scheduled
    /// with `use_workflow_build_id` are stamped with it when started.
    #[prost(message, optional, tag = "25")]
    pub worker_version: Option<common::WorkerVersionStamp>,
    /// Request ids of signals already applied (deduplication).
    #[prost(string, repeated, tag = "26")]
    pub signal_request_ids: Vec<String>,
    #[prost(bool, tag = "27")]
    pub cancel_requested: bool,
    /// 1 for the first run; +1 for each retry of the workflow.
    #[prost(int32, tag = "28")]
    pub attempt: i32,
    #[prost(string, tag = "29")]
    pub first_execution_run_id: String,
    /// The workflow's own retry policy (none: a failed run is final).
    #[prost(message, optional, tag = "30")]
    pub retry_policy: Option<common::RetryPolicy>,
    /// When every run of this execution must be over (execution timeout); 0 = never.
    #[prost(int64, tag = "31")]
    pub execution_deadline: i64,
    /// A retried run's first workflow task waits until this time (its backoff), whatever
    /// arrives meanwhile; 0 = no wait.
    #[prost(int64, tag = "32")]
    pub first_task_not_before: i64,
    /// The first workflow task each worker build completed (see `reset_points`).
    #[prost(message, optional, tag = "33")]
    pub auto_reset_points: Option<workflow::ResetPoints>,
    /// Child workflows started by this run and not yet closed (see `children`).
    #[prost(message, repeated, tag = "34")]
    pub children: Vec<ChildInfo>,
    /// The run that started this one as a child, told when this workflow closes.
    #[prost(message, optional, tag = "35")]
    pub parent: Option<ParentInfo>,
    /// The workflow's cron schedule: when a run completes, fails or times out, the next run
    /// starts at the schedule's next time (see `cron`).
    #[prost(string, tag = "36")]
    pub cron_schedule: String,
    /// The sticky queue of the worker that completed the last workflow task, which caches
    /// the run: the next task goes there with only the new events (see `sticky`).
    #[prost(string, tag = "37")]
    pub sticky_queue: String,
    /// How long a task waits on the sticky queue before it moves to the normal one.
    #[prost(int64, tag = "38")]
    pub sticky_schedule_to_start_timeout: i64,
    /// Updates the workflow accepted, by update id: pointers to their Accepted and Completed
    /// events (see `updates`). Rejected and not yet accepted updates live only on the leader.
    #[prost(btree_map = "string, message", tag = "39")]
    pub updates: std::collections::BTreeMap<String, UpdateInfo>,
    /// Hash of the visibility row last written for this run (see `visibility::index`).
    #[prost(uint64, tag = "40")]
    pub visibility_hash: u64,
    /// The schedule that started this run's chain, told when the chain ends (see `schedules`).
    #[prost(string, tag = "41")]
    pub schedule_id: String,
    /// The run's priority (see `priority`): its workflow tasks', and what its activities and
    /// children inherit.
    #[prost(message, optional, tag = "42")]
    pub priority: Option<common::Priority>,
    /// A standalone activity (see `standalone`), not a workflow run: `workflow_id` is the
    /// activity id, `activities` holds its one activity (kept after it closes), and there
    /// is no history.
    #[prost(bool, tag = "43")]
    pub standalone: bool,
    /// A closed standalone activity's result or failure.
    #[prost(message, optional, tag = "44")]
    pub activity_outcome: Option<activity::ActivityExecutionOutcome>,
    /// A standalone activity's cancellation request: its request id and reason.
    #[prost(string, tag = "45")]
    pub cancel_request_id: String,
    #[prost(string, tag = "46")]
    pub cancel_reason: String,
    /// Who asked to cancel (a canceled activity's failure names them).
    #[prost(string, tag = "47")]
    pub cancel_identity: String,
    /// A standalone activity's summary and details, from its start request.
    #[prost(message, optional, tag = "48")]
    pub user_metadata: Option<sdk::UserMetadata>,
    /// A standalone activity's first attempt waits this long after its start (nanos).
    #[prost(int64, tag = "49")]
    pub start_delay: i64,
    /// Heartbeats a standalone activity received, over all attempts.
    #[prost(int64, tag = "50")]
    pub heartbeat_count: i64,
    /// When a standalone activity's last attempt ended (failed, timed out or finished).
    #[prost(int64, tag = "51")]
    pub last_attempt_complete_time: i64,
    /// When a standalone activity's latest attempt started (kept after the attempt ends).
    #[prost(int64, tag = "52")]
    pub last_started_time: i64,
    /// The request id of the TerminateActivityExecution that ended a standalone activity.
    #[prost(string, tag = "53")]
    pub terminate_request_id: String,
    /// The run's Nexus operations without an outcome yet (see `nexus`).
    #[prost(message, repeated, tag = "54")]
    pub nexus_operations: Vec<NexusOperationInfo>,
    /// The Nexus operations this run's outcome completes (a handler started it with Keel's
    /// completion callbacks), carried to the runs that continue it.
    #[prost(message, repeated, tag = "55")]
    pub nexus_callbacks: Vec<NexusCallbackTarget>,
    /// Worker versioning: the behaviour and deployment version of the worker that completed
    /// the run's last workflow task, and an operator's override (see `versioning`).
    #[prost(message, optional, tag = "56")]
    pub versioning: Option<RunVersioning>,
}

/// A run's worker versioning (Temporal's `WorkflowExecutionVersioningInfo`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunVersioning {
    /// `VersioningBehavior` the last completing worker declared (0 when it was unversioned).
    #[prost(int32, tag = "1")]
    pub behavior: i32,
    /// That worker's deployment version (empty when it was unversioned).
    #[prost(message, optional, tag = "2")]
    pub version: Option<deployment::WorkerDeploymentVersion>,
    /// The routing revision of the deployment when that task completed.
    #[prost(int64, tag = "3")]
    pub revision_number: i64,
    /// An override set at start or by UpdateWorkflowExecutionOptions.
    #[prost(message, optional, tag = "4")]
    pub versioning_override: Option<workflow::VersioningOverride>,
}

/// A worker deployment: its versions (each created by the first poll of a versioned worker
/// of that build) and its routing (current and ramping version), as Temporal's deployment
/// workflow keeps them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerDeploymentRecord {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int64, tag = "2")]
    pub create_time: i64,
    /// Bumped by every change of routing: the conflict token and `revision_number`.
    #[prost(int64, tag = "3")]
    pub revision: i64,
    /// The current version's build id; empty: unversioned workers get the new work.
    #[prost(string, tag = "4")]
    pub current_build_id: String,
    #[prost(int64, tag = "5")]
    pub current_changed_time: i64,
    /// Whether a version ramps; `ramping_build_id` empty means unversioned workers ramp.
    #[prost(bool, tag = "6")]
    pub ramping: bool,
    #[prost(string, tag = "7")]
    pub ramping_build_id: String,
    #[prost(float, tag = "8")]
    pub ramping_percentage: f32,
    #[prost(int64, tag = "9")]
    pub ramping_changed_time: i64,
    #[prost(int64, tag = "10")]
    pub ramping_percentage_changed_time: i64,
    #[prost(string, tag = "11")]
    pub last_modifier_identity: String,
    /// In creation order.
    #[prost(message, repeated, tag = "12")]
    pub versions: Vec<DeploymentVersionRecord>,
    /// When the conflict token last changed (routing or a version added).
    #[prost(int64, tag = "13")]
    pub conflict_seq: i64,
    /// Who alone may change the routing and delete versions (SetWorkerDeploymentManager);
    /// empty: anyone.
    #[prost(string, tag = "14")]
    pub manager_identity: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeploymentVersionRecord {
    #[prost(string, tag = "1")]
    pub build_id: String,
    #[prost(int64, tag = "2")]
    pub create_time: i64,
    #[prost(int64, tag = "3")]
    pub routing_changed_time: i64,
    #[prost(int64, tag = "4")]
    pub current_since_time: i64,
    #[prost(int64, tag = "5")]
    pub ramping_since_time: i64,
    #[prost(int64, tag = "6")]
    pub first_activation_time: i64,
    #[prost(int64, tag = "7")]
    pub last_current_time: i64,
    #[prost(int64, tag = "8")]
    pub last_deactivation_time: i64,
    /// The task queues its pollers polled, in the order they first did.
    #[prost(message, repeated, tag = "9")]
    pub task_queues: Vec<VersionTaskQueue>,
    #[prost(btree_map = "string, message", tag = "10")]
    pub metadata: std::collections::BTreeMap<String, common::Payload>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionTaskQueue {
    #[prost(string, tag = "1")]
    pub name: String,
    /// `TaskQueueType`.
    #[prost(int32, tag = "2")]
    pub task_queue_type: i32,
}

/// The deployment whose versions' pollers registered a task queue (the last one to).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeploymentQueueClaim {
    #[prost(string, tag = "1")]
    pub deployment_name: String,
}

/// A Nexus operation waiting for another run's outcome: what Keel's completion callback
/// token names.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NexusCallbackTarget {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(int64, tag = "4")]
    pub scheduled_event_id: i64,
    #[prost(string, tag = "5")]
    pub request_id: String,
}

/// A Nexus operation a run scheduled, until its outcome is recorded.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NexusOperationInfo {
    #[prost(int64, tag = "1")]
    pub scheduled_event_id: i64,
    #[prost(string, tag = "2")]
    pub endpoint: String,
    #[prost(string, tag = "3")]
    pub endpoint_id: String,
    #[prost(string, tag = "4")]
    pub service: String,
    #[prost(string, tag = "5")]
    pub operation: String,
    #[prost(string, tag = "6")]
    pub request_id: String,
    #[prost(message, optional, tag = "7")]
    pub input: Option<common::Payload>,
    /// The caller's Nexus headers, keys lower-cased.
    #[prost(btree_map = "string, string", tag = "8")]
    pub header: std::collections::BTreeMap<String, String>,
    /// Nanoseconds, 0 = none.
    #[prost(int64, tag = "9")]
    pub schedule_to_close_timeout: i64,
    #[prost(int64, tag = "10")]
    pub scheduled_time: i64,
    /// The current attempt (1 first).
    #[prost(int32, tag = "11")]
    pub attempt: i32,
    /// When a handler took the current attempt; 0 while it waits in its queue or backs off.
    #[prost(int64, tag = "12")]
    pub started_time: i64,
    /// Where its tasks go: the endpoint's target when it was scheduled.
    #[prost(string, tag = "13")]
    pub target_namespace: String,
    #[prost(string, tag = "14")]
    pub target_queue: String,
    #[prost(int64, tag = "15")]
    pub last_attempt_complete_time: i64,
    #[prost(message, optional, tag = "16")]
    pub last_attempt_failure: Option<failure::Failure>,
    /// When the next attempt is dispatched, while it backs off (0 otherwise).
    #[prost(int64, tag = "17")]
    pub next_attempt_schedule_time: i64,
    /// When the current attempt was put in its queue.
    #[prost(int64, tag = "18")]
    pub current_attempt_scheduled_time: i64,
    /// The NexusOperationCancelRequested event, once the workflow asked to cancel it.
    #[prost(int64, tag = "19")]
    pub cancel_requested_event_id: i64,
    #[prost(int64, tag = "20")]
    pub cancel_requested_time: i64,
    /// The handler's token once it answered that the operation goes on asynchronously.
    #[prost(string, tag = "21")]
    pub operation_token: String,
    /// Delivering the workflow's cancellation request to the handler of a started operation:
    /// the current attempt (0: none scheduled), when a handler took it (0: queued or backing
    /// off), when the next is dispatched (while it backs off), and whether it is over.
    #[prost(int32, tag = "22")]
    pub cancel_attempt: i32,
    #[prost(int64, tag = "23")]
    pub cancel_started_time: i64,
    #[prost(int64, tag = "24")]
    pub cancel_next_attempt_time: i64,
    #[prost(bool, tag = "25")]
    pub cancel_delivered: bool,
}

/// An accepted update: where its events are.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateInfo {
    #[prost(int64, tag = "1")]
    pub accepted_event_id: i64,
    /// 0 until the workflow completes the update.
    #[prost(int64, tag = "2")]
    pub completed_event_id: i64,
}

/// A child workflow a run started: where its outcome will be recorded.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChildInfo {
    #[prost(int64, tag = "1")]
    pub initiated_event_id: i64,
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(string, tag = "3")]
    pub namespace: String,
    #[prost(string, tag = "4")]
    pub workflow_id: String,
    /// The child's first run (its run chain may continue under the same workflow id).
    #[prost(string, tag = "5")]
    pub run_id: String,
    #[prost(string, tag = "6")]
    pub workflow_type: String,
    /// `ParentClosePolicy`.
    #[prost(int32, tag = "7")]
    pub parent_close_policy: i32,
}

/// The parent of a child run.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ParentInfo {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(int64, tag = "4")]
    pub initiated_event_id: i64,
    /// The first workflow of the parent chain (the root's root, for grandchildren).
    #[prost(string, tag = "5")]
    pub root_workflow_id: String,
    #[prost(string, tag = "6")]
    pub root_run_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkflowTaskInfo {
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    /// 0 for a transient attempt that has not started: its events get ids when it starts.
    #[prost(int64, tag = "2")]
    pub scheduled_event_id: i64,
    /// 0 until started.
    #[prost(int64, tag = "3")]
    pub started_event_id: i64,
    #[prost(int32, tag = "4")]
    pub attempt: i32,
    #[prost(int64, tag = "5")]
    pub scheduled_time: i64,
    #[prost(int64, tag = "6")]
    pub started_time: i64,
    #[prost(string, tag = "7")]
    pub identity: String,
    #[prost(string, tag = "8")]
    pub request_id: String,
    #[prost(message, optional, tag = "9")]
    pub worker_version: Option<common::WorkerVersionStamp>,
    /// Dispatched to the run's sticky queue (else the normal one).
    #[prost(bool, tag = "10")]
    pub sticky: bool,
    /// Scheduled only to deliver updates: its events enter history only if the worker's
    /// answer needs them (anything but rejections), as Temporal's speculative tasks.
    #[prost(bool, tag = "11")]
    pub speculative: bool,
    /// Why its started event suggests continue-as-new (`SuggestContinueAsNewReason`s), decided
    /// when it started; none: no suggestion.
    #[prost(int32, repeated, tag = "12")]
    pub suggest_continue_as_new_reasons: Vec<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ActivityInfo {
    #[prost(int64, tag = "1")]
    pub scheduled_event_id: i64,
    #[prost(string, tag = "2")]
    pub activity_id: String,
    #[prost(string, tag = "3")]
    pub activity_type: String,
    #[prost(string, tag = "4")]
    pub task_queue: String,
    #[prost(message, optional, tag = "5")]
    pub header: Option<common::Header>,
    #[prost(message, optional, tag = "6")]
    pub input: Option<common::Payloads>,
    #[prost(int64, tag = "7")]
    pub schedule_to_close_timeout: i64,
    #[prost(int64, tag = "8")]
    pub schedule_to_start_timeout: i64,
    #[prost(int64, tag = "9")]
    pub start_to_close_timeout: i64,
    #[prost(int64, tag = "10")]
    pub heartbeat_timeout: i64,
    #[prost(message, optional, tag = "11")]
    pub retry_policy: Option<common::RetryPolicy>,
    #[prost(int32, tag = "12")]
    pub attempt: i32,
    #[prost(int64, tag = "13")]
    pub scheduled_time: i64,
    #[prost(int64, tag = "14")]
    pub current_attempt_scheduled_time: i64,
    /// 0 until the current attempt is started by a poller.
    #[prost(int64, tag = "15")]
    pub started_time: i64,
    #[prost(string, tag = "16")]
    pub started_identity: String,
    #[prost(string, tag = "17")]
    pub started_request_id: String,
    #[prost(message, optional, tag = "18")]
    pub heartbeat_details: Option<common::Payloads>,
    #[prost(int64, tag = "19")]
    pub last_heartbeat_time: i64,
    #[prost(message, optional, tag = "20")]
    pub last_failure: Option<failure::Failure>,
    #[prost(string, tag = "21")]
    pub last_worker_identity: String,
    #[prost(message, optional, tag = "22")]
    pub started_worker_version: Option<common::WorkerVersionStamp>,
    #[prost(bool, tag = "23")]
    pub use_workflow_build_id: bool,
    /// The ActivityTaskCancelRequested event id, once the workflow asked to cancel.
    #[prost(int64, tag = "24")]
    pub cancel_requested_event_id: i64,
    /// Moves on whenever an operator changes how the activity is dispatched (pause, unpause,
    /// reset, new options): queued tasks and armed timers of an older stamp are stale.
    #[prost(int32, tag = "25")]
    pub stamp: i32,
    /// Paused by PauseActivity: no attempt is dispatched and no timer acts until unpaused; a
    /// running attempt may still finish, and learns of the pause from its heartbeats.
    #[prost(bool, tag = "26")]
    pub paused: bool,
    #[prost(message, optional, tag = "27")]
    pub pause_info: Option<ActivityPauseInfo>,
    /// ResetActivity reached a running attempt: its heartbeats report the reset, and when it
    /// fails the attempt count starts over (the next attempt is 2, as Temporal's).
    #[prost(bool, tag = "28")]
    pub reset_requested: bool,
    /// With `reset_requested`: the heartbeat details are dropped when the attempt ends.
    #[prost(bool, tag = "29")]
    pub reset_heartbeats: bool,
    /// The priority the activity was scheduled with (or given by UpdateActivityOptions);
    /// its tasks take the run's where this leaves fields unset.
    #[prost(message, optional, tag = "30")]
    pub priority: Option<common::Priority>,
}

/// Who paused an activity, when and why (PauseActivity's request).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActivityPauseInfo {
    #[prost(int64, tag = "1")]
    pub pause_time: i64,
    #[prost(string, tag = "2")]
    pub identity: String,
    #[prost(string, tag = "3")]
    pub reason: String,
    #[prost(string, tag = "4")]
    pub request_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimerInfo {
    #[prost(string, tag = "1")]
    pub timer_id: String,
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(int64, tag = "3")]
    pub fire_time: i64,
}

/// A schedule (see `schedules`): its definition in canonical form, its bookkeeping, and the
/// work it has left (buffered actions, backfills).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScheduleRecord {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub schedule_id: String,
    /// Spec canonical, overlap policy and catch-up window resolved.
    #[prost(message, optional, tag = "3")]
    pub schedule: Option<schedule::Schedule>,
    #[prost(message, optional, tag = "4")]
    pub memo: Option<common::Memo>,
    #[prost(message, optional, tag = "5")]
    pub search_attributes: Option<common::SearchAttributes>,
    /// Bumped by every update and patch; CreateSchedule's is 1.
    #[prost(int64, tag = "6")]
    pub conflict_token: i64,
    #[prost(int64, tag = "7")]
    pub create_time: i64,
    #[prost(int64, tag = "8")]
    pub update_time: i64,
    #[prost(int64, tag = "9")]
    pub action_count: i64,
    #[prost(int64, tag = "10")]
    pub missed_catchup_window: i64,
    #[prost(int64, tag = "11")]
    pub overlap_skipped: i64,
    #[prost(int64, tag = "12")]
    pub buffer_dropped: i64,
    /// Actions due but not started yet, oldest first.
    #[prost(message, repeated, tag = "13")]
    pub buffer: Vec<BufferedAction>,
    /// Runs started by this schedule (ALLOW_ALL's excepted) whose chain is still open.
    #[prost(message, repeated, tag = "14")]
    pub running: Vec<common::WorkflowExecution>,
    /// The last ten actions taken.
    #[prost(message, repeated, tag = "15")]
    pub recent_actions: Vec<schedule::ScheduleActionResult>,
    /// Scheduled times up to here (unix nanos, nominal) have been taken, skipped or missed.
    #[prost(int64, tag = "16")]
    pub processed_through: i64,
    /// The last tracked run's result, and the failure of a run that failed since.
    #[prost(message, optional, tag = "17")]
    pub last_completion_result: Option<common::Payloads>,
    #[prost(message, optional, tag = "18")]
    pub last_failure: Option<failure::Failure>,
    /// The wake-up timer armed (its key), to retire when another replaces it.
    #[prost(bytes = "vec", tag = "19")]
    pub wake_key: Vec<u8>,
    #[prost(int64, tag = "20")]
    pub wake_at: i64,
    /// Backfill ranges not yet walked to their end.
    #[prost(message, repeated, tag = "21")]
    pub backfills: Vec<Backfill>,
    /// CreateSchedule's request id: a retried create is answered, not refused.
    #[prost(string, tag = "22")]
    pub request_id: String,
}

/// An action waiting in a schedule's buffer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BufferedAction {
    /// The time the action is for (unix nanos, a whole second): it names the workflow.
    #[prost(int64, tag = "1")]
    pub nominal: i64,
    /// When it was due (nominal plus jitter).
    #[prost(int64, tag = "2")]
    pub actual: i64,
    /// `ScheduleOverlapPolicy`, resolved.
    #[prost(int32, tag = "3")]
    pub overlap_policy: i32,
    /// Triggered or backfilled (not counted against limited actions, never caught up).
    #[prost(bool, tag = "4")]
    pub manual: bool,
}

/// The part of a BackfillRequest still to walk: fires with actual time in (after, end].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Backfill {
    #[prost(int64, tag = "1")]
    pub after: i64,
    #[prost(int64, tag = "2")]
    pub end: i64,
    #[prost(int32, tag = "3")]
    pub overlap_policy: i32,
}
