//! RequestCancelWorkflowExecution (WorkflowExecutionCancelRequested, which the workflow
//! answers with a CancelWorkflowExecution command) and TerminateWorkflowExecution (the run
//! closes at once, whatever it was doing).

use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::execution;
use crate::history::{self, Attributes};
use crate::outcome::Outcome;
use crate::records::ExecutionRecord;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    common::v1::Payloads,
    enums::v1::{EventType, WorkflowExecutionStatus, WorkflowTaskFailedCause},
    history::v1 as h,
    workflowservice::v1 as ws,
};

/// The reason Temporal records for a TerminateWorkflowExecution that gives none.
const DEFAULT_TERMINATE_REASON: &str = "terminated by user via frontend";

pub(crate) fn request_cancel(
    ctx: &mut ApplyCtx,
    req: ws::RequestCancelWorkflowExecutionRequest,
) -> ApplyResult<Outcome> {
    ctx.namespace(&req.namespace)?;
    let target = req.workflow_execution.unwrap_or_default();
    let mut exec = execution::resolve(ctx, &req.namespace, &target.workflow_id, &target.run_id)?;
    // Temporal answers a cancel of a run that already closed with success (and changes
    // nothing), as it does a second cancel of an open one.
    if !execution::is_running(&exec) || exec.cancel_requested {
        return Ok(Outcome::Done);
    }
    request_cancel_run(
        ctx,
        &mut exec,
        h::WorkflowExecutionCancelRequestedEventAttributes {
            cause: req.reason,
            identity: req.identity,
            ..Default::default()
        },
    );
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

/// WorkflowExecutionCancelRequested in a running run, and a workflow task to handle it.
pub(crate) fn request_cancel_run(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    request: h::WorkflowExecutionCancelRequestedEventAttributes,
) {
    exec.cancel_requested = true;
    let e = history::event(
        ctx,
        EventType::WorkflowExecutionCancelRequested,
        Attributes::WorkflowExecutionCancelRequestedEventAttributes(request),
    );
    history::append_or_buffer(ctx, exec, e);
    workflow_task::ensure_scheduled(ctx, exec);
}

pub(crate) fn terminate(
    ctx: &mut ApplyCtx,
    req: ws::TerminateWorkflowExecutionRequest,
) -> ApplyResult<Outcome> {
    ctx.namespace(&req.namespace)?;
    let target = req.workflow_execution.unwrap_or_default();
    let mut exec =
        execution::resolve_running(ctx, &req.namespace, &target.workflow_id, &target.run_id)?;
    let reason = if req.reason.is_empty() {
        DEFAULT_TERMINATE_REASON.to_string()
    } else {
        req.reason
    };
    terminate_run(ctx, &mut exec, reason, req.details, &req.identity);
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

/// Closes a running run as terminated, whatever it was doing.
pub(crate) fn terminate_run(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    reason: String,
    details: Option<Payloads>,
    identity: &str,
) {
    // A workflow task in flight can no longer complete: record it as failed first.
    if let Some(wt) = exec
        .workflow_task
        .clone()
        .filter(|wt| wt.started_event_id != 0 && wt.attempt == 1)
    {
        workflow_task::record_failed(
            ctx,
            exec,
            &wt,
            WorkflowTaskFailedCause::ForceCloseCommand,
            identity,
        );
    }
    exec.workflow_task = None;
    history::flush_buffered(ctx, exec);
    execution::close(
        ctx,
        exec,
        WorkflowExecutionStatus::Terminated,
        EventType::WorkflowExecutionTerminated,
        Attributes::WorkflowExecutionTerminatedEventAttributes(
            h::WorkflowExecutionTerminatedEventAttributes {
                reason,
                details,
                identity: identity.to_string(),
            },
        ),
    );
}
