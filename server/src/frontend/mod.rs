//! The Temporal WorkflowService frontend: each RPC validates its request, builds a mutation or
//! reads state, and maps the result to Temporal's response. PollWorkflowTaskQueue and
//! GetWorkflowExecutionHistory are routed by `stored_history` (their responses carry stored
//! event bytes); methods not listed anywhere answer UNIMPLEMENTED through the generated
//! default stubs.

mod activities;
mod activity_ops;
mod batch;
mod by_id;
mod deployments;
mod history;
mod multi_operation;
mod namespaces;
mod nexus_tasks;
mod query;
mod schedules;
mod signals;
mod sticky;
mod stored_history;
mod system;
mod task_queues;
mod tasks;
mod updates;
mod visibility;
mod workflow_options;
mod workflows;

use crate::app::Keel;
use crate::proto::workflowservice::workflow_service_server::WorkflowService;
use std::sync::Arc;
use std::time::Duration;
pub use stored_history::HistoryRoutes;
use temporalio_protos::temporal::api::workflowservice::v1::*;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

pub type Res<T> = Result<Response<T>, Status>;

#[derive(Clone)]
pub struct Frontend {
    pub(crate) keel: Arc<Keel>,
}

/// Temporal's page size for history, visibility and batch lists: requested sizes of 0 or
/// less, or over 1000, become 1000.
pub(crate) fn page_size(requested: i32) -> usize {
    const MAX: i32 = 1000;
    if requested <= 0 || requested > MAX {
        MAX as usize
    } else {
        requested as usize
    }
}

/// Temporal answers an idle long poll after about a minute.
const LONG_POLL: Duration = Duration::from_secs(60);
/// Answer this long before the caller's own deadline so the empty response arrives in time.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// The caller's own deadline (`grpc-timeout`), if it sent one.
pub(crate) fn client_timeout<T>(req: &Request<T>) -> Option<Duration> {
    req.metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
}

/// When a long poll must return: ~60 s, or just before the client's `grpc-timeout`.
pub(crate) fn long_poll_deadline<T>(req: &Request<T>) -> Instant {
    let wait = match client_timeout(req) {
        Some(t) => t.saturating_sub(DEADLINE_MARGIN).min(LONG_POLL),
        None => LONG_POLL,
    };
    Instant::now() + wait
}

/// `grpc-timeout` header value: digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

macro_rules! route {
    ($($method:ident($req:ty) -> $resp:ty => $handler:path;)*) => {
        #[tonic::async_trait]
        impl WorkflowService for Frontend {
            $(
                async fn $method(&self, request: Request<$req>) -> Res<$resp> {
                    let span = tracing::info_span!(stringify!($method));
                    tracing::Instrument::instrument($handler(self, request), span).await
                }
            )*
        }
    };
}

route! {
    get_system_info(GetSystemInfoRequest) -> GetSystemInfoResponse => system::get_system_info;
    get_cluster_info(GetClusterInfoRequest) -> GetClusterInfoResponse => system::get_cluster_info;
    register_namespace(RegisterNamespaceRequest) -> RegisterNamespaceResponse => namespaces::register;
    describe_namespace(DescribeNamespaceRequest) -> DescribeNamespaceResponse => namespaces::describe;
    list_namespaces(ListNamespacesRequest) -> ListNamespacesResponse => namespaces::list;
    update_namespace(UpdateNamespaceRequest) -> UpdateNamespaceResponse => namespaces::update;
    start_workflow_execution(StartWorkflowExecutionRequest) -> StartWorkflowExecutionResponse => workflows::start;
    describe_workflow_execution(DescribeWorkflowExecutionRequest) -> DescribeWorkflowExecutionResponse => workflows::describe;
    poll_activity_task_queue(PollActivityTaskQueueRequest) -> PollActivityTaskQueueResponse => tasks::poll_activity_task;
    poll_nexus_task_queue(PollNexusTaskQueueRequest) -> PollNexusTaskQueueResponse => nexus_tasks::poll;
    respond_nexus_task_completed(RespondNexusTaskCompletedRequest) -> RespondNexusTaskCompletedResponse => nexus_tasks::completed;
    respond_nexus_task_failed(RespondNexusTaskFailedRequest) -> RespondNexusTaskFailedResponse => nexus_tasks::failed;
    respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest) -> RespondWorkflowTaskCompletedResponse => tasks::workflow_task_completed;
    respond_workflow_task_failed(RespondWorkflowTaskFailedRequest) -> RespondWorkflowTaskFailedResponse => tasks::workflow_task_failed;
    respond_activity_task_completed(RespondActivityTaskCompletedRequest) -> RespondActivityTaskCompletedResponse => tasks::activity_task_completed;
    respond_activity_task_failed(RespondActivityTaskFailedRequest) -> RespondActivityTaskFailedResponse => tasks::activity_task_failed;
    respond_activity_task_canceled(RespondActivityTaskCanceledRequest) -> RespondActivityTaskCanceledResponse => tasks::activity_task_canceled;
    record_activity_task_heartbeat(RecordActivityTaskHeartbeatRequest) -> RecordActivityTaskHeartbeatResponse => tasks::activity_heartbeat;
    shutdown_worker(ShutdownWorkerRequest) -> ShutdownWorkerResponse => sticky::shutdown_worker;
    reset_sticky_task_queue(ResetStickyTaskQueueRequest) -> ResetStickyTaskQueueResponse => sticky::reset;
    record_activity_task_heartbeat_by_id(RecordActivityTaskHeartbeatByIdRequest) -> RecordActivityTaskHeartbeatByIdResponse => by_id::heartbeat;
    respond_activity_task_completed_by_id(RespondActivityTaskCompletedByIdRequest) -> RespondActivityTaskCompletedByIdResponse => by_id::completed;
    respond_activity_task_failed_by_id(RespondActivityTaskFailedByIdRequest) -> RespondActivityTaskFailedByIdResponse => by_id::failed;
    respond_activity_task_canceled_by_id(RespondActivityTaskCanceledByIdRequest) -> RespondActivityTaskCanceledByIdResponse => by_id::canceled;
    query_workflow(QueryWorkflowRequest) -> QueryWorkflowResponse => query::query;
    respond_query_task_completed(RespondQueryTaskCompletedRequest) -> RespondQueryTaskCompletedResponse => query::respond;
    signal_workflow_execution(SignalWorkflowExecutionRequest) -> SignalWorkflowExecutionResponse => signals::signal;
    signal_with_start_workflow_execution(SignalWithStartWorkflowExecutionRequest) -> SignalWithStartWorkflowExecutionResponse => signals::signal_with_start;
    request_cancel_workflow_execution(RequestCancelWorkflowExecutionRequest) -> RequestCancelWorkflowExecutionResponse => signals::request_cancel;
    terminate_workflow_execution(TerminateWorkflowExecutionRequest) -> TerminateWorkflowExecutionResponse => signals::terminate;
    delete_workflow_execution(DeleteWorkflowExecutionRequest) -> DeleteWorkflowExecutionResponse => signals::delete;
    reset_workflow_execution(ResetWorkflowExecutionRequest) -> ResetWorkflowExecutionResponse => signals::reset;
    update_workflow_execution(UpdateWorkflowExecutionRequest) -> UpdateWorkflowExecutionResponse => updates::update;
    poll_workflow_execution_update(PollWorkflowExecutionUpdateRequest) -> PollWorkflowExecutionUpdateResponse => updates::poll;
    execute_multi_operation(ExecuteMultiOperationRequest) -> ExecuteMultiOperationResponse => multi_operation::execute;
    list_workflow_executions(ListWorkflowExecutionsRequest) -> ListWorkflowExecutionsResponse => visibility::list;
    scan_workflow_executions(ScanWorkflowExecutionsRequest) -> ScanWorkflowExecutionsResponse => visibility::scan;
    count_workflow_executions(CountWorkflowExecutionsRequest) -> CountWorkflowExecutionsResponse => visibility::count;
    list_open_workflow_executions(ListOpenWorkflowExecutionsRequest) -> ListOpenWorkflowExecutionsResponse => visibility::list_open;
    list_closed_workflow_executions(ListClosedWorkflowExecutionsRequest) -> ListClosedWorkflowExecutionsResponse => visibility::list_closed;
    get_workflow_execution_history_reverse(GetWorkflowExecutionHistoryReverseRequest) -> GetWorkflowExecutionHistoryReverseResponse => history::get_reverse;
    describe_task_queue(DescribeTaskQueueRequest) -> DescribeTaskQueueResponse => task_queues::describe;
    list_task_queue_partitions(ListTaskQueuePartitionsRequest) -> ListTaskQueuePartitionsResponse => task_queues::list_partitions;
    start_batch_operation(StartBatchOperationRequest) -> StartBatchOperationResponse => batch::start;
    describe_batch_operation(DescribeBatchOperationRequest) -> DescribeBatchOperationResponse => batch::describe;
    list_batch_operations(ListBatchOperationsRequest) -> ListBatchOperationsResponse => batch::list;
    stop_batch_operation(StopBatchOperationRequest) -> StopBatchOperationResponse => batch::stop;
    create_schedule(CreateScheduleRequest) -> CreateScheduleResponse => schedules::create;
    describe_schedule(DescribeScheduleRequest) -> DescribeScheduleResponse => schedules::describe;
    update_schedule(UpdateScheduleRequest) -> UpdateScheduleResponse => schedules::update;
    patch_schedule(PatchScheduleRequest) -> PatchScheduleResponse => schedules::patch;
    delete_schedule(DeleteScheduleRequest) -> DeleteScheduleResponse => schedules::delete;
    list_schedules(ListSchedulesRequest) -> ListSchedulesResponse => schedules::list;
    count_schedules(CountSchedulesRequest) -> CountSchedulesResponse => schedules::count;
    list_schedule_matching_times(ListScheduleMatchingTimesRequest) -> ListScheduleMatchingTimesResponse => schedules::matching_times;
    pause_activity(PauseActivityRequest) -> PauseActivityResponse => activity_ops::pause;
    unpause_activity(UnpauseActivityRequest) -> UnpauseActivityResponse => activity_ops::unpause;
    reset_activity(ResetActivityRequest) -> ResetActivityResponse => activity_ops::reset;
    update_activity_options(UpdateActivityOptionsRequest) -> UpdateActivityOptionsResponse => activity_ops::update_options;
    pause_activity_execution(PauseActivityExecutionRequest) -> PauseActivityExecutionResponse => activity_ops::pause_execution;
    unpause_activity_execution(UnpauseActivityExecutionRequest) -> UnpauseActivityExecutionResponse => activity_ops::unpause_execution;
    reset_activity_execution(ResetActivityExecutionRequest) -> ResetActivityExecutionResponse => activity_ops::reset_execution;
    update_activity_execution_options(UpdateActivityExecutionOptionsRequest) -> UpdateActivityExecutionOptionsResponse => activity_ops::update_execution_options;
    update_workflow_execution_options(UpdateWorkflowExecutionOptionsRequest) -> UpdateWorkflowExecutionOptionsResponse => workflow_options::update;
    start_activity_execution(StartActivityExecutionRequest) -> StartActivityExecutionResponse => activities::start;
    describe_activity_execution(DescribeActivityExecutionRequest) -> DescribeActivityExecutionResponse => activities::describe;
    poll_activity_execution(PollActivityExecutionRequest) -> PollActivityExecutionResponse => activities::poll;
    list_activity_executions(ListActivityExecutionsRequest) -> ListActivityExecutionsResponse => activities::list;
    count_activity_executions(CountActivityExecutionsRequest) -> CountActivityExecutionsResponse => activities::count;
    request_cancel_activity_execution(RequestCancelActivityExecutionRequest) -> RequestCancelActivityExecutionResponse => activities::request_cancel;
    terminate_activity_execution(TerminateActivityExecutionRequest) -> TerminateActivityExecutionResponse => activities::terminate;
    delete_activity_execution(DeleteActivityExecutionRequest) -> DeleteActivityExecutionResponse => activities::delete;
    describe_worker_deployment(DescribeWorkerDeploymentRequest) -> DescribeWorkerDeploymentResponse => deployments::describe;
    list_worker_deployments(ListWorkerDeploymentsRequest) -> ListWorkerDeploymentsResponse => deployments::list;
    set_worker_deployment_current_version(SetWorkerDeploymentCurrentVersionRequest) -> SetWorkerDeploymentCurrentVersionResponse => deployments::set_current;
    set_worker_deployment_ramping_version(SetWorkerDeploymentRampingVersionRequest) -> SetWorkerDeploymentRampingVersionResponse => deployments::set_ramping;
    describe_worker_deployment_version(DescribeWorkerDeploymentVersionRequest) -> DescribeWorkerDeploymentVersionResponse => deployments::describe_version;
    delete_worker_deployment_version(DeleteWorkerDeploymentVersionRequest) -> DeleteWorkerDeploymentVersionResponse => deployments::delete_version;
    delete_worker_deployment(DeleteWorkerDeploymentRequest) -> DeleteWorkerDeploymentResponse => deployments::delete;
    update_worker_deployment_version_metadata(UpdateWorkerDeploymentVersionMetadataRequest) -> UpdateWorkerDeploymentVersionMetadataResponse => deployments::update_version_metadata;
    set_worker_deployment_manager(SetWorkerDeploymentManagerRequest) -> SetWorkerDeploymentManagerResponse => deployments::set_manager;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_grpc_timeout("70S"), Some(Duration::from_secs(70)));
        assert_eq!(
            parse_grpc_timeout("1500m"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }
}
