//! Rejections: `apply` decided the mutation must not change anything. They are data; the
//! frontend maps each to a gRPC status and Temporal's error details in one place.

use temporalio_protos::temporal::api::enums::v1::WorkflowTaskFailedCause;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("Namespace {0} is not found.")]
    NamespaceNotFound(String),
    #[error("Namespace {0} already exists.")]
    NamespaceAlreadyExists(String),
    #[error("Workflow execution is already running. WorkflowId: {workflow_id}, RunId: {run_id}.")]
    WorkflowAlreadyStarted {
        workflow_id: String,
        run_id: String,
        start_request_id: String,
    },
    #[error("{0}")]
    NotFound(String),
    /// StartActivityExecution for an activity id in use (ALREADY_EXISTS with Temporal's
    /// ActivityExecutionAlreadyStartedFailure).
    #[error("activity execution already started")]
    ActivityAlreadyStarted {
        run_id: String,
        start_request_id: String,
    },
    /// CreateSchedule for an id in use (ALREADY_EXISTS with Temporal's AlreadyStarted detail).
    #[error("schedule {schedule_id:?} is already registered")]
    ScheduleAlreadyRunning {
        schedule_id: String,
        request_id: String,
    },
    /// A name or id in use (ALREADY_EXISTS without details, as Temporal's plain
    /// AlreadyExists).
    #[error("{0}")]
    AlreadyExists(String),
    /// The request does not fit the record's state (a stale conflict token).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// A command of a workflow task completion that Temporal refuses. Nothing of the
    /// completion is kept; instead the task is failed with `cause` (see
    /// `workflow_task::fail_for_bad_command`) and the worker gets INVALID_ARGUMENT.
    #[error("{message}")]
    BadCommand {
        cause: WorkflowTaskFailedCause,
        message: String,
    },
    /// A limit on concurrent work was reached (RESOURCE_EXHAUSTED).
    #[error("{0}")]
    ResourceExhausted(String),
    /// Stored state could not be decoded: a bug or corruption, never the caller's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ApplyResult<T> = Result<T, Rejection>;

/// Temporal's texts: one for a workflow id's current run, one for a named run.
pub(crate) fn workflow_not_found(workflow_id: &str, run_id: &str) -> Rejection {
    Rejection::NotFound(workflow_not_found_text(workflow_id, run_id))
}

pub fn workflow_not_found_text(workflow_id: &str, run_id: &str) -> String {
    if run_id.is_empty() {
        format!("workflow not found for ID: {workflow_id}")
    } else {
        format!("workflow execution not found for workflow ID \"{workflow_id}\" and run ID \"{run_id}\"")
    }
}

pub(crate) fn workflow_completed() -> Rejection {
    Rejection::NotFound("workflow execution already completed".into())
}
