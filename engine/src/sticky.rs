//! Sticky task queues: the worker that completed a run's last workflow task caches the run,
//! so the next task goes to that worker's own queue and carries only the new events. A task
//! nobody takes from the sticky queue within the worker's schedule-to-start timeout times
//! out (SCHEDULE_TO_START) and goes to the normal queue with the whole history; so does
//! every task after a failed or timed-out one, after ResetStickyTaskQueue, and after the
//! worker said it shut down (ShutdownWorker).

use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::execution::{self, is_running};
use crate::history::{self, Attributes};
use crate::keys;
use crate::mutation::StickyWorkerGone;
use crate::outcome::Outcome;
use crate::records::{ExecutionRecord, TaskKind, TaskRecord};
use crate::time::nanos;
use crate::view::StateView;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    enums::v1::{EventType, TimeoutType},
    history::v1 as h,
    taskqueue::v1::StickyExecutionAttributes,
    workflowservice::v1 as ws,
};

/// The schedule-to-start timeout Temporal's SDKs ask for when they give none.
const DEFAULT_SCHEDULE_TO_START_SECS: i64 = 10;

/// A completion's sticky attributes: the worker caches the run from now on (or, without
/// them, does not).
pub(crate) fn remember(exec: &mut ExecutionRecord, attributes: &Option<StickyExecutionAttributes>) {
    let queue = attributes
        .as_ref()
        .and_then(|a| a.worker_task_queue.as_ref())
        .map(|q| q.name.clone())
        .unwrap_or_default();
    if queue.is_empty() {
        forget(exec);
        return;
    }
    let timeout = attributes
        .as_ref()
        .map(|a| nanos(&a.schedule_to_start_timeout))
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_SCHEDULE_TO_START_SECS * 1_000_000_000);
    exec.sticky_queue = queue;
    exec.sticky_schedule_to_start_timeout = timeout;
}

pub(crate) fn forget(exec: &mut ExecutionRecord) {
    exec.sticky_queue.clear();
    exec.sticky_schedule_to_start_timeout = 0;
}

/// Whether the worker of the run's sticky queue has shut down.
pub(crate) fn is_gone(ctx: &ApplyCtx, exec: &ExecutionRecord) -> bool {
    let gone = keys::gone_sticky_queue(&exec.namespace, &exec.sticky_queue);
    ctx.state.get(&gone).ok().flatten().is_some()
}

/// The sticky schedule-to-start timer of task `seq` fired: if nobody took it, it times out
/// and the run's next task goes to the normal queue.
pub(crate) fn schedule_to_start_timed_out(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    seq: u64,
) {
    let Some(wt) = exec.workflow_task.clone() else {
        return;
    };
    if !is_running(exec) || wt.seq != seq || wt.started_event_id != 0 || !wt.sticky {
        return;
    }
    forget(exec);
    exec.workflow_task = None;
    if wt.speculative {
        // Not in history: it moves to the normal queue without a trace.
        workflow_task::schedule_speculative(ctx, exec);
        execution::save(ctx, exec);
        return;
    }
    let e = history::event(
        ctx,
        EventType::WorkflowTaskTimedOut,
        Attributes::WorkflowTaskTimedOutEventAttributes(h::WorkflowTaskTimedOutEventAttributes {
            scheduled_event_id: wt.scheduled_event_id,
            started_event_id: 0,
            timeout_type: TimeoutType::ScheduleToStart as i32,
        }),
    );
    history::append(ctx, exec, e);
    workflow_task::schedule(ctx, exec, 1);
    execution::save(ctx, exec);
}

/// ResetStickyTaskQueue: the run's next tasks go to the normal queue, as if no worker
/// cached it.
pub(crate) fn reset(
    ctx: &mut ApplyCtx,
    req: ws::ResetStickyTaskQueueRequest,
) -> ApplyResult<Outcome> {
    ctx.namespace(&req.namespace)?;
    let target = req.execution.unwrap_or_default();
    let mut exec =
        execution::resolve_running(ctx, &req.namespace, &target.workflow_id, &target.run_id)?;
    forget(&mut exec);
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

/// A worker shut down: its sticky queue is marked gone, and the tasks waiting on it move to
/// their runs' normal queues at once (their scheduled events keep the sticky queue's name,
/// as on Temporal).
pub(crate) fn worker_gone(ctx: &mut ApplyCtx, m: StickyWorkerGone) -> ApplyResult<Outcome> {
    if m.sticky_queue.is_empty() {
        return Ok(Outcome::Done);
    }
    ctx.state.put(
        keys::gone_sticky_queue(&m.namespace, &m.sticky_queue),
        Vec::new(),
    );
    for key in m.task_keys {
        let on_this_queue = keys::decode_task(&key).is_some_and(|(ns, queue, kind, _)| {
            ns == m.namespace && queue == m.sticky_queue && kind == TaskKind::Workflow
        });
        if !on_this_queue {
            continue;
        }
        let Some(task): Option<TaskRecord> = ctx.get(&key)? else {
            continue; // taken or moved meanwhile
        };
        ctx.delete(key);
        let Ok(mut exec) = execution::load(ctx, &m.namespace, &task.workflow_id, &task.run_id)
        else {
            continue;
        };
        let waiting = exec
            .workflow_task
            .as_mut()
            .filter(|wt| wt.seq == task.target as u64 && wt.started_event_id == 0 && wt.sticky);
        let Some(wt) = waiting else {
            continue;
        };
        wt.sticky = false;
        forget(&mut exec);
        if is_running(&exec) {
            let (namespace, queue) = (exec.namespace.clone(), exec.task_queue.clone());
            ctx.enqueue_task(&namespace, &queue, TaskKind::Workflow, &task);
        }
        execution::save(ctx, &mut exec);
    }
    Ok(Outcome::Done)
}
