//! DeleteWorkflowExecution: a run (the one named, or the workflow id's current run) and its
//! whole history are removed. A running run is terminated first, as Temporal does. Tasks and
//! timers still queued for it are left to lapse: starting or firing them finds no run and
//! consumes them. `remove` is also what a closed run's retention timer does (`retention`).

use crate::cancel_terminate;
use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::execution;
use crate::keys;
use crate::outcome::Outcome;
use crate::records::{CurrentRun, ExecutionRecord};
use temporalio_protos::temporal::api::{common::v1::WorkflowExecution, workflowservice::v1 as ws};

/// The reason and identity Temporal's history service terminates with before a deletion.
const TERMINATE_REASON: &str = "Delete workflow execution";
const TERMINATE_IDENTITY: &str = "history-service";

pub(crate) fn delete(
    ctx: &mut ApplyCtx,
    req: ws::DeleteWorkflowExecutionRequest,
) -> ApplyResult<Outcome> {
    ctx.namespace(&req.namespace)?;
    let target = req.workflow_execution.unwrap_or_default();
    let exec = execution::resolve(ctx, &req.namespace, &target.workflow_id, &target.run_id)?;
    let running = execution::is_running(&exec);
    let (ns, wf, run) = (exec.namespace, exec.workflow_id, exec.run_id);
    if running {
        cancel_terminate::terminate(
            ctx,
            ws::TerminateWorkflowExecutionRequest {
                namespace: ns.clone(),
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: wf.clone(),
                    run_id: run.clone(),
                }),
                reason: TERMINATE_REASON.into(),
                identity: TERMINATE_IDENTITY.into(),
                ..Default::default()
            },
        )?;
    }
    let closed = execution::load(ctx, &ns, &wf, &run)?;
    remove(ctx, &closed)?;
    Ok(Outcome::Done)
}

/// Removes a closed run: its record, its history, and the workflow id's pointer to it if it
/// is the current run (also used by `retention`).
pub(crate) fn remove(ctx: &mut ApplyCtx, closed: &ExecutionRecord) -> ApplyResult<()> {
    let (ns, wf, run) = (&closed.namespace, &closed.workflow_id, &closed.run_id);
    for event_id in 1..closed.next_event_id {
        ctx.delete(keys::history_event(ns, wf, run, event_id));
    }
    ctx.delete(keys::execution(ns, wf, run));
    crate::visibility::index::note_removed(ctx, closed);
    let current_key = keys::current_run(ns, wf);
    let current: Option<CurrentRun> = ctx.get(&current_key)?;
    if current.is_some_and(|c| &c.run_id == run) {
        ctx.delete(current_key);
    }
    Ok(())
}
