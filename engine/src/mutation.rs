//! Mutations: what the Raft log carries. Each is stamped by the leader with its time (`now`)
//! and any ids it needs, so that `apply` reads no clock and draws no random number.
//! Encoded with prost; add fields with new tags, never reuse a tag.

use crate::token::TaskToken;
use temporalio_protos::temporal::api::{
    common::v1::WorkerVersionStamp, operatorservice::v1 as ops, workflowservice::v1 as ws,
};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Mutation {
    /// Leader's wall-clock time when it proposed, unix nanos.
    #[prost(int64, tag = "1")]
    pub now: i64,
    #[prost(
        oneof = "Kind",
        tags = "2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54"
    )]
    pub kind: Option<Kind>,
}

/// Mutations are decoded once per log entry and moved, never copied in bulk: boxing the
/// large variants would add an allocation for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(message, tag = "2")]
    RegisterNamespace(RegisterNamespace),
    #[prost(message, tag = "3")]
    UpdateNamespace(ws::UpdateNamespaceRequest),
    #[prost(message, tag = "4")]
    StartWorkflow(StartWorkflow),
    #[prost(message, tag = "5")]
    StartTask(StartTask),
    #[prost(message, tag = "6")]
    CompleteWorkflowTask(CompleteWorkflowTask),
    #[prost(message, tag = "7")]
    FailWorkflowTask(FailWorkflowTask),
    #[prost(message, tag = "8")]
    CompleteActivityTask(CompleteActivityTask),
    #[prost(message, tag = "9")]
    FailActivityTask(FailActivityTask),
    #[prost(message, tag = "10")]
    CancelActivityTask(CancelActivityTask),
    #[prost(message, tag = "11")]
    RecordHeartbeat(RecordHeartbeat),
    #[prost(message, tag = "12")]
    FireTimers(FireTimers),
    #[prost(message, tag = "13")]
    Noop(Noop),
    #[prost(message, tag = "14")]
    SignalWorkflow(ws::SignalWorkflowExecutionRequest),
    #[prost(message, tag = "15")]
    SignalWithStart(SignalWithStart),
    #[prost(message, tag = "16")]
    TerminateWorkflow(ws::TerminateWorkflowExecutionRequest),
    #[prost(message, tag = "17")]
    RequestCancelWorkflow(ws::RequestCancelWorkflowExecutionRequest),
    #[prost(message, tag = "18")]
    DeleteWorkflow(ws::DeleteWorkflowExecutionRequest),
    #[prost(message, tag = "19")]
    ResetStickyTaskQueue(ws::ResetStickyTaskQueueRequest),
    #[prost(message, tag = "20")]
    StickyWorkerGone(StickyWorkerGone),
    #[prost(message, tag = "21")]
    AddSearchAttributes(ops::AddSearchAttributesRequest),
    #[prost(message, tag = "22")]
    RemoveSearchAttributes(ops::RemoveSearchAttributesRequest),
    #[prost(message, tag = "23")]
    ScheduleUpdateTask(ScheduleUpdateTask),
    #[prost(message, tag = "24")]
    ResetWorkflow(ResetWorkflow),
    #[prost(message, tag = "25")]
    StartBatch(StartBatch),
    #[prost(message, tag = "26")]
    BatchStep(BatchStep),
    #[prost(message, tag = "27")]
    FinishBatch(FinishBatch),
    #[prost(message, tag = "28")]
    StopBatch(ws::StopBatchOperationRequest),
    /// The schedule RPCs, checked by the frontend, their spec already canonical.
    #[prost(message, tag = "29")]
    CreateSchedule(ws::CreateScheduleRequest),
    #[prost(message, tag = "30")]
    UpdateSchedule(ws::UpdateScheduleRequest),
    #[prost(message, tag = "31")]
    PatchSchedule(ws::PatchScheduleRequest),
    #[prost(message, tag = "32")]
    DeleteSchedule(ws::DeleteScheduleRequest),
    /// The activity operations (see `activity_ops`), checked by the frontend.
    #[prost(message, tag = "33")]
    PauseActivity(ws::PauseActivityRequest),
    #[prost(message, tag = "34")]
    UnpauseActivity(UnpauseActivity),
    #[prost(message, tag = "35")]
    ResetActivity(ResetActivity),
    #[prost(message, tag = "36")]
    UpdateActivityOptions(ws::UpdateActivityOptionsRequest),
    /// The leader saw every member at `level` (see `feature_level`).
    #[prost(message, tag = "37")]
    RecordClusterLevel(RecordClusterLevel),
    /// The standalone activity RPCs (see `standalone`), checked by apply.
    #[prost(message, tag = "38")]
    StartActivityExecution(StartActivityExecution),
    #[prost(message, tag = "39")]
    RequestCancelActivityExecution(ws::RequestCancelActivityExecutionRequest),
    #[prost(message, tag = "40")]
    TerminateActivityExecution(ws::TerminateActivityExecutionRequest),
    #[prost(message, tag = "41")]
    DeleteActivityExecution(ws::DeleteActivityExecutionRequest),
    /// UpdateWorkflowExecutionOptions (see `workflow_options`), checked by the frontend.
    #[prost(message, tag = "42")]
    UpdateWorkflowOptions(ws::UpdateWorkflowExecutionOptionsRequest),
    /// The Nexus endpoint RPCs (see `nexus_endpoints`), checked by the frontend.
    #[prost(message, tag = "43")]
    CreateNexusEndpoint(CreateNexusEndpoint),
    #[prost(message, tag = "44")]
    UpdateNexusEndpoint(ops::UpdateNexusEndpointRequest),
    #[prost(message, tag = "45")]
    DeleteNexusEndpoint(ops::DeleteNexusEndpointRequest),
    /// A handler's answer to a Nexus operation's attempt (see `nexus`).
    #[prost(message, tag = "46")]
    CompleteNexusTask(CompleteNexusTask),
    #[prost(message, tag = "47")]
    FailNexusTask(FailNexusTask),
    /// Worker deployments (see `deployments`): a versioned worker's first poll of a queue,
    /// and the deployment RPCs, checked by the frontend.
    #[prost(message, tag = "48")]
    RegisterDeploymentVersion(RegisterDeploymentVersion),
    #[prost(message, tag = "49")]
    SetCurrentVersion(ws::SetWorkerDeploymentCurrentVersionRequest),
    #[prost(message, tag = "50")]
    SetRampingVersion(SetRampingVersion),
    #[prost(message, tag = "51")]
    DeleteDeploymentVersion(ws::DeleteWorkerDeploymentVersionRequest),
    #[prost(message, tag = "52")]
    DeleteDeployment(ws::DeleteWorkerDeploymentRequest),
    #[prost(message, tag = "53")]
    UpdateVersionMetadata(ws::UpdateWorkerDeploymentVersionMetadataRequest),
    #[prost(message, tag = "54")]
    SetDeploymentManager(ws::SetWorkerDeploymentManagerRequest),
}

/// A versioned worker polled a task queue: its deployment version serves that queue.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterDeploymentVersion {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub deployment_name: String,
    #[prost(string, tag = "3")]
    pub build_id: String,
    #[prost(string, tag = "4")]
    pub task_queue: String,
    /// `TaskQueueType`.
    #[prost(int32, tag = "5")]
    pub task_queue_type: i32,
}

/// SetWorkerDeploymentRampingVersion as the frontend read it: `ramping` false unsets the
/// ramp; true ramps `request.build_id` ("" = unversioned workers).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetRampingVersion {
    #[prost(message, optional, tag = "1")]
    pub request: Option<ws::SetWorkerDeploymentRampingVersionRequest>,
    #[prost(bool, tag = "2")]
    pub ramping: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CompleteNexusTask {
    #[prost(message, optional, tag = "1")]
    pub token: Option<TaskToken>,
    #[prost(message, optional, tag = "2")]
    pub request: Option<ws::RespondNexusTaskCompletedRequest>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FailNexusTask {
    #[prost(message, optional, tag = "1")]
    pub token: Option<TaskToken>,
    #[prost(message, optional, tag = "2")]
    pub request: Option<ws::RespondNexusTaskFailedRequest>,
}

/// CreateNexusEndpoint, with the id the leader drew for it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateNexusEndpoint {
    #[prost(message, optional, tag = "1")]
    pub spec: Option<temporalio_protos::temporal::api::nexus::v1::EndpointSpec>,
    #[prost(string, tag = "2")]
    pub id: String,
}

/// StartActivityExecution, with the run id the leader drew for a new run.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StartActivityExecution {
    #[prost(message, optional, tag = "1")]
    pub request: Option<ws::StartActivityExecutionRequest>,
    #[prost(string, tag = "2")]
    pub run_id: String,
}

/// UnpauseActivity, with the leader's random seed for the request's jitter: each activity's
/// next attempt is dispatched up to `jitter` from now, its share drawn from the seed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UnpauseActivity {
    #[prost(message, optional, tag = "1")]
    pub request: Option<ws::UnpauseActivityRequest>,
    #[prost(uint64, tag = "2")]
    pub jitter_seed: u64,
}

/// ResetActivity, with the leader's seed for the request's jitter (see UnpauseActivity).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResetActivity {
    #[prost(message, optional, tag = "1")]
    pub request: Option<ws::ResetActivityRequest>,
    #[prost(uint64, tag = "2")]
    pub jitter_seed: u64,
}

/// StartBatchOperation, checked by the frontend: the query the runner walks (the user's,
/// with Temporal's status filter added) and the count of its targets at the start.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StartBatch {
    #[prost(message, optional, tag = "1")]
    pub request: Option<ws::StartBatchOperationRequest>,
    #[prost(string, tag = "2")]
    pub query: String,
    #[prost(int64, tag = "3")]
    pub total_estimate: i64,
}

/// One target of a batch job: apply the job's operation to it and record the progress.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchStep {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub job_id: String,
    #[prost(string, tag = "3")]
    pub workflow_id: String,
    #[prost(string, tag = "4")]
    pub run_id: String,
    /// The target's visibility order (a query's walk resumes after it), or empty for a
    /// target given by the request's list of executions ...
    #[prost(bytes = "vec", tag = "5")]
    pub order: Vec<u8>,
    /// ... at this index.
    #[prost(int32, tag = "6")]
    pub index: i32,
}

/// A batch job's runner found no target left.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FinishBatch {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub job_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterNamespace {
    #[prost(message, optional, tag = "1")]
    pub request: Option<ws::RegisterNamespaceRequest>,
    /// Stamped by the leader.
    #[prost(string, tag = "2")]
    pub namespace_id: String,
    /// Succeed without change when the namespace exists (bootstrap of `default`).
    #[prost(bool, tag = "3")]
    pub if_absent: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StartWorkflow {
    #[prost(message, optional, tag = "1")]
    pub request: Option<ws::StartWorkflowExecutionRequest>,
    /// Stamped by the leader; used only when a new run is created.
    #[prost(string, tag = "2")]
    pub run_id: String,
    /// Set by the leader (feature level `RELEASE_2`) when the request asked for eager
    /// execution and the leader allows it: a new run's first workflow task is started for the
    /// caller in the same write (Temporal's eager workflow start).
    #[prost(bool, tag = "3")]
    pub eager: bool,
    /// The continue-as-new thresholds for that eagerly started task.
    #[prost(message, optional, tag = "4")]
    pub suggest: Option<SuggestContinueAsNew>,
    /// Set by the leader (feature level `RELEASE_2`): the request's user metadata goes on
    /// the WorkflowExecutionStarted event (earlier builds dropped it).
    #[prost(bool, tag = "5")]
    pub record_user_metadata: bool,
}

/// Temporal's thresholds for suggesting continue-as-new when a workflow task starts, stamped
/// by the leader from its dynamic configuration (`limit.historyCount.suggestContinueAsNew`,
/// `limit.historySize.suggestContinueAsNew`). Entries without them (written before feature
/// level `RELEASE_2`) suggest nothing, as the builds that wrote them did.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SuggestContinueAsNew {
    #[prost(int64, tag = "1")]
    pub history_count: i64,
    #[prost(int64, tag = "2")]
    pub history_size_bytes: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SignalWithStart {
    #[prost(message, optional, tag = "1")]
    pub request: Option<ws::SignalWithStartWorkflowExecutionRequest>,
    /// Stamped by the leader; used only when a new run is created.
    #[prost(string, tag = "2")]
    pub run_id: String,
}

/// A poller takes the task at `task_key` (a `keys::task` key).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StartTask {
    #[prost(bytes = "vec", tag = "1")]
    pub task_key: Vec<u8>,
    #[prost(string, tag = "2")]
    pub identity: String,
    /// Stamped by the leader: the poll's request id, recorded in the started event.
    #[prost(string, tag = "3")]
    pub request_id: String,
    /// The poller's build id, recorded in the started event as Temporal does.
    #[prost(message, optional, tag = "4")]
    pub worker_version: Option<WorkerVersionStamp>,
    /// For a workflow task: when to suggest continue-as-new (see `SuggestContinueAsNew`).
    #[prost(message, optional, tag = "5")]
    pub suggest: Option<SuggestContinueAsNew>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CompleteWorkflowTask {
    #[prost(message, optional, tag = "1")]
    pub token: Option<TaskToken>,
    #[prost(message, optional, tag = "2")]
    pub request: Option<ws::RespondWorkflowTaskCompletedRequest>,
    /// Stamped by the leader: the run id a retry of the workflow would get.
    #[prost(string, tag = "3")]
    pub next_run_id: String,
    /// Stamped by the leader: one run id for each StartChildWorkflowExecution command, in order.
    #[prost(string, repeated, tag = "4")]
    pub child_run_ids: Vec<String>,
    /// Stamped by the leader when it allows eager activity dispatch (feature level
    /// `RELEASE_2`): a request id for each ScheduleActivityTask command asking for eager
    /// execution, in order. Those activities start for the completing worker in the same write
    /// and come back in the completion's answer.
    #[prost(string, repeated, tag = "5")]
    pub eager_activity_request_ids: Vec<String>,
    /// Stamped by the leader at feature level `RELEASE_3`: Temporal's
    /// `history.workflowIdReuseMinimalInterval` (nanoseconds). A run that continues as new
    /// sooner than this after it began has its next run's first workflow task held back
    /// until the interval is over, so a tight continue-as-new loop makes one run a second.
    /// 0: no minimum (as entries of older leaders).
    #[prost(int64, tag = "6")]
    pub continue_as_new_min_interval: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FailWorkflowTask {
    #[prost(message, optional, tag = "1")]
    pub token: Option<TaskToken>,
    #[prost(message, optional, tag = "2")]
    pub request: Option<ws::RespondWorkflowTaskFailedRequest>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CompleteActivityTask {
    #[prost(message, optional, tag = "1")]
    pub token: Option<TaskToken>,
    #[prost(message, optional, tag = "2")]
    pub request: Option<ws::RespondActivityTaskCompletedRequest>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FailActivityTask {
    #[prost(message, optional, tag = "1")]
    pub token: Option<TaskToken>,
    #[prost(message, optional, tag = "2")]
    pub request: Option<ws::RespondActivityTaskFailedRequest>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CancelActivityTask {
    #[prost(message, optional, tag = "1")]
    pub token: Option<TaskToken>,
    #[prost(message, optional, tag = "2")]
    pub request: Option<ws::RespondActivityTaskCanceledRequest>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordHeartbeat {
    #[prost(message, optional, tag = "1")]
    pub token: Option<TaskToken>,
    #[prost(message, optional, tag = "2")]
    pub request: Option<ws::RecordActivityTaskHeartbeatRequest>,
}

/// The timer service found these timer keys due (by the leader's clock).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FireTimers {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub keys: Vec<Vec<u8>>,
    /// Stamped by the leader, one per key: the run id a run retried after timing out gets.
    #[prost(string, repeated, tag = "2")]
    pub next_run_ids: Vec<String>,
}

/// Changes nothing; a new leader proposes one to learn that its log is applied.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Noop {}

/// Every member ran a build of at least `level` when the leader proposed this: from now on
/// the cluster is at that level, whoever is absent (it never goes down again).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordClusterLevel {
    #[prost(uint32, tag = "1")]
    pub level: u32,
}

/// A worker shut down (ShutdownWorker): its sticky queue takes no more tasks, and the
/// workflow tasks waiting on it (keys the leader found) move to their normal queues.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StickyWorkerGone {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub sticky_queue: String,
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub task_keys: Vec<Vec<u8>>,
}

/// An update waits on the leader for a workflow task to carry it: schedule a speculative one
/// if the run has none (see `updates`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScheduleUpdateTask {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
}

/// ResetWorkflowExecution, with the new run's id stamped by the leader (see `reset`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResetWorkflow {
    #[prost(message, optional, tag = "1")]
    pub request: Option<ws::ResetWorkflowExecutionRequest>,
    #[prost(string, tag = "2")]
    pub new_run_id: String,
}
