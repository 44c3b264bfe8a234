//! What `apply` hands back: the outcome for the proposer, and notifications for the leader's
//! in-memory services (matching, timers, watchers).

use crate::priority::TaskPriority;
use crate::records::{NamespaceRecord, TaskKind};
use temporalio_protos::temporal::api::{history::v1 as history, workflowservice::v1 as ws};

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    /// The polled task no longer matches its run; it was removed from its queue.
    TaskStale,
    Namespace(NamespaceRecord),
    WorkflowStarted {
        run_id: String,
        started: bool,
    },
    /// StartActivityExecution: the run started, or the existing one the request got.
    ActivityExecutionStarted {
        run_id: String,
        started: bool,
    },
    /// A new run whose first workflow task was started for its starter (eager start).
    EagerWorkflowStarted {
        run_id: String,
        task: Box<WorkflowTaskStarted>,
    },
    /// A workflow task completed, and these activities it scheduled started for the worker
    /// that completed it (eager activity dispatch), each with the task queue it was
    /// scheduled on.
    EagerActivitiesStarted(Vec<(String, ws::PollActivityTaskQueueResponse)>),
    /// A schedule was created, updated or patched: its conflict token now.
    Schedule {
        conflict_token: i64,
    },
    WorkflowTaskStarted(Box<WorkflowTaskStarted>),
    ActivityTaskStarted(Box<ws::PollActivityTaskQueueResponse>),
    /// A handler worker took a Nexus operation's attempt.
    NexusTaskStarted(Box<ws::PollNexusTaskQueueResponse>),
    /// What a heartbeat tells the running attempt: the workflow asked to cancel it, an
    /// operator paused or reset it.
    Heartbeat {
        cancel_requested: bool,
        paused: bool,
        reset: bool,
    },
    /// UpdateWorkflowExecutionOptions: the run's options now.
    WorkflowOptions(Box<temporalio_protos::temporal::api::workflow::v1::WorkflowExecutionOptions>),
    /// A Nexus endpoint created or updated: the endpoint now.
    NexusEndpoint(Box<temporalio_protos::temporal::api::nexus::v1::Endpoint>),
    SetCurrentVersion(temporalio_protos::temporal::api::workflowservice::v1::SetWorkerDeploymentCurrentVersionResponse),
    SetRampingVersion(temporalio_protos::temporal::api::workflowservice::v1::SetWorkerDeploymentRampingVersionResponse),
    VersionMetadata(temporalio_protos::temporal::api::deployment::v1::VersionMetadata),
    SetDeploymentManager(temporalio_protos::temporal::api::workflowservice::v1::SetWorkerDeploymentManagerResponse),
    /// UpdateActivityOptions: the options the (last) matching activity has now.
    ActivityOptions(Box<temporalio_protos::temporal::api::activity::v1::ActivityOptions>),
    /// A speculative workflow task answered with rejections only left history unchanged: the
    /// worker must forget it and resume from the last started event history has.
    WorkflowTaskDiscarded {
        reset_history_event_id: i64,
    },
}

/// What a workflow-task poll needs besides the stored history.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowTaskStarted {
    /// The poll response with everything but `history`.
    pub response: ws::PollWorkflowTaskQueueResponse,
    /// The response's history is events `history_from..=stored_through` read from storage,
    /// followed by `transient_events`: from 1, or for a sticky task only what the worker's
    /// cache has not seen.
    pub history_from: i64,
    pub stored_through: i64,
    /// A retried workflow task's scheduled/started events: sent, not yet in history.
    pub transient_events: Vec<history::HistoryEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Notification {
    TaskAdded {
        namespace: String,
        queue: String,
        kind: TaskKind,
        task_key: Vec<u8>,
        priority: TaskPriority,
        routing: crate::deployments::TaskRouting,
    },
    TimerAdded {
        fire_at: i64,
        key: Vec<u8>,
    },
    HistoryAppended {
        namespace: String,
        workflow_id: String,
        run_id: String,
    },
    /// A batch job started: the leader's batch runner works through it.
    BatchStarted {
        namespace: String,
        job_id: String,
    },
    /// A standalone activity's run changed (or went): its describe and outcome long polls
    /// look again.
    ActivityExecutionChanged {
        namespace: String,
        activity_id: String,
        run_id: String,
    },
    /// A worker deployment's versions or routing changed: waiting pollers of its queues look
    /// again at what they may take.
    DeploymentChanged {
        namespace: String,
        deployment_name: String,
    },
    /// A run closed with this `WorkflowExecutionStatus` (every node counts it: the metrics).
    RunClosed {
        namespace: String,
        workflow_id: String,
        run_id: String,
        status: i32,
    },
}
