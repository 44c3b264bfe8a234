//! The recorded history: every client and worker operation with when it was invoked, when it
//! returned and how (ok / fail / unknown), and every fault the nemesis injected. The checker
//! reads only this and the final state of the cluster.

use serde::{Deserialize, Serialize};

/// How an operation ended. A timeout or UNAVAILABLE says nothing about whether the server
/// applied it: that is `Unknown`, never `Fail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    Fail(String),
    Unknown(String),
}

/// How tonic's messages for an HTTP/2 transport error begin.
const H2_ERROR: &str = "h2 protocol error";

impl Outcome {
    /// Classifies a gRPC error.
    pub fn from_status(status: &tonic::Status) -> Outcome {
        use tonic::Code::*;
        let what = format!("{:?}: {}", status.code(), status.message());
        // tonic gives a broken HTTP/2 stream a gRPC code too (a GOAWAY with ENHANCE_YOUR_CALM
        // reads as RESOURCE_EXHAUSTED): the request may have reached the server all the same.
        if status.message().starts_with(H2_ERROR) {
            return Outcome::Unknown(what);
        }
        match status.code() {
            Unavailable | DeadlineExceeded | Unknown | Cancelled | Internal | Aborted => {
                Outcome::Unknown(what)
            }
            _ => Outcome::Fail(what),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail(_) => "fail",
            Outcome::Unknown(_) => "unknown",
        }
    }
}

/// One history event as the checker needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSummary {
    pub event_id: i64,
    pub event_type: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// StartWorkflowExecution; `repeat` when the id was used before on purpose.
    Start {
        workflow_id: String,
        repeat: bool,
        /// The run id the server answered with (ok only).
        run_id: Option<String>,
    },
    /// SignalWorkflowExecution with a payload used by no other signal.
    Signal {
        workflow_id: String,
        payload: String,
    },
    /// UpdateWorkflowExecution waiting for completion, with an update id used by no other
    /// update; the worker answers with the update's own payload.
    Update {
        workflow_id: String,
        update_id: String,
        /// The outcome's payload (ok only).
        result: Option<String>,
    },
    /// StartBatchOperation signalling `targets` (workflow ids, current runs) with a payload
    /// used by no other signal; the job id is the payload.
    BatchSignal {
        job_id: String,
        targets: Vec<String>,
    },
    /// CreateSchedule of the workload's one schedule (every second), before the clients start.
    CreateSchedule { schedule_id: String },
    /// PatchSchedule triggering the schedule with a nominal time used by no other trigger.
    TriggerSchedule { nominal_secs: i64 },
    /// PauseActivity of the workflow's activity, with a request id used by no other pause.
    PauseActivity {
        workflow_id: String,
        request_id: String,
    },
    /// UnpauseActivity of the workflow's activity (`all`: of every activity it has, as the
    /// sweep after healing does).
    UnpauseActivity { workflow_id: String, all: bool },
    /// StartActivityExecution of a standalone activity, with an id used by no other start.
    StartActivity {
        activity_id: String,
        /// The run id the server answered with (ok only).
        run_id: Option<String>,
    },
    /// RespondActivityTaskCompleted for one attempt of a standalone activity (the result is
    /// its id).
    CompleteStandalone {
        activity_id: String,
        run_id: String,
        attempt: i32,
    },
    /// RespondNexusTaskCompleted for one attempt of the Nexus operation scheduled at
    /// `scheduled_event_id`, with `result` (the operation's request id).
    AnswerNexus {
        workflow_id: String,
        run_id: String,
        scheduled_event_id: i64,
        result: String,
    },
    /// SetWorkerDeploymentCurrentVersion of the workload's deployment.
    SetCurrentVersion { build_id: String },
    /// GetWorkflowExecutionHistory of the current run, every page.
    Read {
        workflow_id: String,
        run_id: Option<String>,
        events: Vec<EventSummary>,
    },
    /// RespondWorkflowTaskCompleted for the task started at `started_event_id`.
    CompleteWorkflowTask {
        workflow_id: String,
        run_id: String,
        started_event_id: i64,
    },
    /// RespondActivityTaskCompleted for one attempt of the activity scheduled at
    /// `scheduled_event_id`.
    CompleteActivity {
        workflow_id: String,
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
    },
}

impl OpKind {
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Start { .. } => "start",
            OpKind::Signal { .. } => "signal",
            OpKind::Update { .. } => "update",
            OpKind::BatchSignal { .. } => "batch-signal",
            OpKind::CreateSchedule { .. } => "create-schedule",
            OpKind::TriggerSchedule { .. } => "trigger-schedule",
            OpKind::PauseActivity { .. } => "pause-activity",
            OpKind::UnpauseActivity { .. } => "unpause-activity",
            OpKind::StartActivity { .. } => "start-activity",
            OpKind::CompleteStandalone { .. } => "complete-standalone",
            OpKind::AnswerNexus { .. } => "answer-nexus",
            OpKind::SetCurrentVersion { .. } => "set-current-version",
            OpKind::Read { .. } => "read",
            OpKind::CompleteWorkflowTask { .. } => "complete-workflow-task",
            OpKind::CompleteActivity { .. } => "complete-activity",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Which client or worker did it.
    pub process: String,
    pub kind: OpKind,
    /// Milliseconds since the run began.
    pub invoke_ms: u64,
    pub complete_ms: u64,
    pub outcome: Outcome,
}

/// A fault as injected: what, to whom, from when to when (ms since the run began).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub fault: String,
    pub nodes: Vec<u64>,
    pub start_ms: u64,
    pub end_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_stream_is_unknown_whatever_code_tonic_gives_it_and_a_refusal_fails() {
        let broken = tonic::Status::resource_exhausted("h2 protocol error: error reading a body");
        assert!(matches!(Outcome::from_status(&broken), Outcome::Unknown(_)));
        let limited = tonic::Status::resource_exhausted("namespace rate limit exceeded");
        assert!(matches!(Outcome::from_status(&limited), Outcome::Fail(_)));
        let timeout = tonic::Status::deadline_exceeded("timeout");
        assert!(matches!(
            Outcome::from_status(&timeout),
            Outcome::Unknown(_)
        ));
    }
}
