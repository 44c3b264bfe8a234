//! ExecuteMultiOperation: update-with-start, the one combination Temporal serves. The start
//! runs first (its conflict policy decides whether an existing run is used), then the update
//! is sent to the run it started or found, as UpdateWorkflowExecution would. A failing
//! operation fails the call with Temporal's `MultiOperationExecutionFailure` details: its own
//! status, and ABORTED for the other.

use super::{updates, workflows, Frontend, Res};
use crate::errors;
use temporalio_protos::temporal::api::workflowservice::v1::{
    execute_multi_operation_request::operation::Operation as Op,
    execute_multi_operation_response::{response::Response as OpResponse, Response as OpResult},
    ExecuteMultiOperationRequest, ExecuteMultiOperationResponse,
};
use tonic::{Request, Response, Status};

pub(super) async fn execute(
    f: &Frontend,
    req: Request<ExecuteMultiOperationRequest>,
) -> Res<ExecuteMultiOperationResponse> {
    let (metadata, extensions, req) = req.into_parts();
    let mut operations = req.operations.into_iter().map(|o| o.operation);
    let (
        Some(Some(Op::StartWorkflow(mut start))),
        Some(Some(Op::UpdateWorkflow(mut update))),
        None,
    ) = (operations.next(), operations.next(), operations.next())
    else {
        return Err(errors::invalid_argument(
            "Operations have to be exactly [Start, Update].",
        ));
    };
    let target = update
        .workflow_execution
        .get_or_insert_with(Default::default);
    let invalid = |at: usize, message: &str| {
        errors::multi_operation_failed(at, Status::invalid_argument(message))
    };
    if start.namespace.is_empty() {
        start.namespace = req.namespace.clone();
    }
    if update.namespace.is_empty() {
        update.namespace = req.namespace.clone();
    }
    if start.namespace != req.namespace || update.namespace != req.namespace {
        return Err(errors::invalid_argument(
            "Operation namespace mismatch with request namespace.",
        ));
    }
    if !start.cron_schedule.is_empty() {
        return Err(invalid(0, "CronSchedule is not allowed."));
    }
    if start.workflow_start_delay.is_some() {
        return Err(invalid(0, "WorkflowStartDelay is not allowed."));
    }
    if !target.run_id.is_empty() {
        return Err(invalid(1, "Invalid RunId."));
    }
    if target.workflow_id != start.workflow_id {
        return Err(invalid(
            1,
            "WorkflowId is not consistent with previous operation(s).",
        ));
    }

    let started = workflows::start(
        f,
        Request::from_parts(metadata.clone(), extensions.clone(), start),
    )
    .await
    .map_err(|s| errors::multi_operation_failed(0, s))?
    .into_inner();
    target.run_id = started.run_id.clone();
    let updated = updates::update(f, Request::from_parts(metadata, extensions, update))
        .await
        .map_err(|s| errors::multi_operation_failed(1, s))?
        .into_inner();
    let result = |response| OpResult {
        response: Some(response),
    };
    Ok(Response::new(ExecuteMultiOperationResponse {
        responses: vec![
            result(OpResponse::StartWorkflow(started)),
            result(OpResponse::UpdateWorkflow(updated)),
        ],
    }))
}
