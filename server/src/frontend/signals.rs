//! SignalWorkflowExecution, SignalWithStartWorkflowExecution, RequestCancelWorkflowExecution,
//! TerminateWorkflowExecution, DeleteWorkflowExecution and ResetWorkflowExecution: validated
//! here, decided by apply.

use super::{Frontend, Res};
use crate::errors;
use keel_engine::mutation::{Kind, ResetWorkflow, SignalWithStart};
use keel_engine::{validate, Outcome};
use temporalio_protos::temporal::api::{common::v1::WorkflowExecution, workflowservice::v1::*};
use tonic::{Request, Response};

fn target(namespace: &str, e: &Option<WorkflowExecution>) -> Result<(), tonic::Status> {
    validate::id("Namespace", namespace).map_err(errors::invalid_argument)?;
    let e = e.clone().unwrap_or_default();
    validate::id("WorkflowId", &e.workflow_id).map_err(errors::invalid_argument)
}

pub(super) async fn signal(
    f: &Frontend,
    req: Request<SignalWorkflowExecutionRequest>,
) -> Res<SignalWorkflowExecutionResponse> {
    let req = req.into_inner();
    target(&req.namespace, &req.workflow_execution)?;
    validate::id("SignalName", &req.signal_name).map_err(errors::invalid_argument)?;
    if let Some(input) = &req.input {
        validate::payload_size("Input", input).map_err(errors::invalid_argument)?;
    }
    #[cfg(feature = "fault-injection")]
    if fault::drop_this_signal() {
        return Ok(Response::new(SignalWorkflowExecutionResponse::default()));
    }
    f.keel.propose(Kind::SignalWorkflow(req)).await?;
    Ok(Response::new(SignalWorkflowExecutionResponse::default()))
}

/// The deliberate bug of the `fault-injection` build: one signal in fifty is acknowledged
/// and never proposed (a lost acknowledged signal, which keel-jepsen must report).
#[cfg(feature = "fault-injection")]
mod fault {
    use std::sync::atomic::{AtomicU64, Ordering};

    static SIGNALS: AtomicU64 = AtomicU64::new(0);

    pub(super) fn drop_this_signal() -> bool {
        SIGNALS.fetch_add(1, Ordering::Relaxed) % 50 == 49
    }
}

pub(super) async fn signal_with_start(
    f: &Frontend,
    req: Request<SignalWithStartWorkflowExecutionRequest>,
) -> Res<SignalWithStartWorkflowExecutionResponse> {
    let mut req = req.into_inner();
    validate::id("SignalName", &req.signal_name).map_err(errors::invalid_argument)?;
    for (what, p) in [("Input", &req.input), ("SignalInput", &req.signal_input)] {
        if let Some(p) = p {
            validate::payload_size(what, p).map_err(errors::invalid_argument)?;
        }
    }
    if req.request_id.is_empty() {
        req.request_id = uuid::Uuid::new_v4().to_string();
    }
    let outcome = f
        .keel
        .propose(Kind::SignalWithStart(SignalWithStart {
            request: Some(req),
            run_id: crate::ids::new_run_id(),
        }))
        .await?;
    match outcome {
        Outcome::WorkflowStarted { run_id, started } => {
            Ok(Response::new(SignalWithStartWorkflowExecutionResponse {
                run_id,
                started,
                ..Default::default()
            }))
        }
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

pub(super) async fn request_cancel(
    f: &Frontend,
    req: Request<RequestCancelWorkflowExecutionRequest>,
) -> Res<RequestCancelWorkflowExecutionResponse> {
    let req = req.into_inner();
    target(&req.namespace, &req.workflow_execution)?;
    f.keel.propose(Kind::RequestCancelWorkflow(req)).await?;
    Ok(Response::new(
        RequestCancelWorkflowExecutionResponse::default(),
    ))
}

pub(super) async fn terminate(
    f: &Frontend,
    req: Request<TerminateWorkflowExecutionRequest>,
) -> Res<TerminateWorkflowExecutionResponse> {
    let req = req.into_inner();
    target(&req.namespace, &req.workflow_execution)?;
    if let Some(details) = &req.details {
        validate::payload_size("Details", details).map_err(errors::invalid_argument)?;
    }
    f.keel.propose(Kind::TerminateWorkflow(req)).await?;
    Ok(Response::new(TerminateWorkflowExecutionResponse::default()))
}

pub(super) async fn delete(
    f: &Frontend,
    req: Request<DeleteWorkflowExecutionRequest>,
) -> Res<DeleteWorkflowExecutionResponse> {
    let req = req.into_inner();
    target(&req.namespace, &req.workflow_execution)?;
    f.keel.propose(Kind::DeleteWorkflow(req)).await?;
    Ok(Response::new(DeleteWorkflowExecutionResponse::default()))
}

pub(super) async fn reset(
    f: &Frontend,
    req: Request<ResetWorkflowExecutionRequest>,
) -> Res<ResetWorkflowExecutionResponse> {
    let req = req.into_inner();
    target(&req.namespace, &req.workflow_execution)?;
    let outcome = f
        .keel
        .propose(Kind::ResetWorkflow(ResetWorkflow {
            request: Some(req),
            new_run_id: crate::ids::new_run_id(),
        }))
        .await?;
    match outcome {
        Outcome::WorkflowStarted { run_id, .. } => {
            Ok(Response::new(ResetWorkflowExecutionResponse { run_id }))
        }
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}
