//! ExecuteMultiOperation: update-with-start, the one combination Temporal serves. An update
//! the current run (running or closed) already completed is answered from its history; else
//! the start runs first (its conflict policy decides whether an existing run is used), then
//! the update is sent to the run it started or found, as UpdateWorkflowExecution would. A failing
//! operation fails the call with Temporal's `MultiOperationExecutionFailure` details: its own
//! status, and ABORTED for the other.

use super::{updates, workflows, Frontend, Res};
use crate::errors;
use temporalio_protos::temporal::api::enums::v1::UpdateWorkflowExecutionLifecycleStage as Stage;
use temporalio_protos::temporal::api::workflowservice::v1::{
    execute_multi_operation_request::operation::Operation as Op,
    execute_multi_operation_response::{response::Response as OpResponse, Response as OpResult},
    ExecuteMultiOperationRequest, ExecuteMultiOperationResponse, StartWorkflowExecutionResponse,
    UpdateWorkflowExecutionResponse,
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
    if start.request_eager_execution {
        return Err(invalid(0, "RequestEagerExecution is not supported."));
    }
    if start.workflow_start_delay.is_some() {
        return Err(invalid(0, "WorkflowStartDelay is not supported."));
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

    let update_id = update
        .request
        .as_ref()
        .and_then(|r| r.meta.as_ref())
        .map(|m| m.update_id.clone())
        .unwrap_or_default();
    let (started, updated) =
        match completed_update(f, &start.namespace, &start.workflow_id, &update_id).await? {
            Some(done) => done,
            None => {
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
                (started, updated)
            }
        };
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

/// An update the workflow id's current run (running or closed) already completed: the call
/// attaches to it, whatever the start's policies say, and starts nothing (as Temporal does).
async fn completed_update(
    f: &Frontend,
    namespace: &str,
    workflow_id: &str,
    update_id: &str,
) -> Result<
    Option<(
        StartWorkflowExecutionResponse,
        UpdateWorkflowExecutionResponse,
    )>,
    Status,
> {
    f.keel.namespace(namespace)?;
    f.keel
        .linearizable()
        .await
        .map_err(|s| errors::multi_operation_failed(0, s))?;
    let exec = match f.keel.execution(namespace, workflow_id, "") {
        Ok(exec) => exec,
        Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
        Err(s) => return Err(errors::multi_operation_failed(0, s)),
    };
    let Some(completed) = exec
        .updates
        .get(update_id)
        .map(|u| u.completed_event_id)
        .filter(|id| *id != 0)
    else {
        return Ok(None);
    };
    let outcome = updates::completed_outcome(f, &exec, completed)
        .map_err(|s| errors::multi_operation_failed(1, s))?;
    Ok(Some((
        StartWorkflowExecutionResponse {
            run_id: exec.run_id.clone(),
            first_execution_run_id: exec.first_execution_run_id.clone(),
            started: false,
            status: exec.status,
            ..Default::default()
        },
        UpdateWorkflowExecutionResponse {
            update_ref: Some(updates::update_ref(&exec, update_id)),
            outcome: Some(outcome),
            stage: Stage::Completed as i32,
            ..Default::default()
        },
    )))
}
