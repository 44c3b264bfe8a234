//! RequestCancelWorkflowExecution (WorkflowExecutionCancelRequested, which the workflow
//! answers with a CancelWorkflowExecution command) and TerminateWorkflowExecution (the run
//! closes at once, whatever it was doing).

use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::execution;
use crate::history::{self, Attributes};
use crate::outcome::Outcome;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    enums::v1::{EventType, WorkflowExecutionStatus, WorkflowTaskFailedCause},
    history::v1 as h,
    workflowservice::v1 as ws,
};

pub(crate) fn request_cancel(
    ctx: &mut ApplyCtx,
    req: ws::RequestCancelWorkflowExecutionRequest,
) -> ApplyResult<Outcome> {
    ctx.namespace(&req.namespace)?;
    let target = req.workflow_execution.unwrap_or_default();
    let mut exec =
        execution::resolve_running(ctx, &req.namespace, &target.workflow_id, &target.run_id)?;
    if exec.cancel_requested {
        return Ok(Outcome::Done); // asked already: idempotent, as in Temporal
    }
    exec.cancel_requested = true;
    let e = history::event(
        ctx,
        EventType::WorkflowExecutionCancelRequested,
        Attributes::WorkflowExecutionCancelRequestedEventAttributes(
            h::WorkflowExecutionCancelRequestedEventAttributes {
                cause: req.reason,
                identity: req.identity,
                ..Default::default()
            },
        ),
    );
    history::append_or_buffer(ctx, &mut exec, e);
    workflow_task::ensure_scheduled(ctx, &mut exec);
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

pub(crate) fn terminate(
    ctx: &mut ApplyCtx,
    req: ws::TerminateWorkflowExecutionRequest,
) -> ApplyResult<Outcome> {
    ctx.namespace(&req.namespace)?;
    let target = req.workflow_execution.unwrap_or_default();
    let mut exec =
        execution::resolve_running(ctx, &req.namespace, &target.workflow_id, &target.run_id)?;
    // A workflow task in flight can no longer complete: record it as failed first.
    if let Some(wt) = exec
        .workflow_task
        .clone()
        .filter(|wt| wt.started_event_id != 0 && wt.attempt == 1)
    {
        workflow_task::record_failed(
            ctx,
            &mut exec,
            &wt,
            WorkflowTaskFailedCause::ForceCloseCommand,
            &req.identity,
        );
    }
    exec.workflow_task = None;
    history::flush_buffered(ctx, &mut exec);
    execution::close(
        ctx,
        &mut exec,
        WorkflowExecutionStatus::Terminated,
        EventType::WorkflowExecutionTerminated,
        Attributes::WorkflowExecutionTerminatedEventAttributes(
            h::WorkflowExecutionTerminatedEventAttributes {
                reason: req.reason,
                details: req.details,
                identity: req.identity,
            },
        ),
    );
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}
