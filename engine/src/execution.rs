//! Loading, saving and closing a run's mutable state, and the current-run pointer.

use crate::canonical;
use crate::children;
use crate::ctx::ApplyCtx;
use crate::error::{workflow_completed, workflow_not_found, ApplyResult};
use crate::history::{self, Attributes};
use crate::keys;
use crate::outcome::Notification;
use crate::records::{CurrentRun, ExecutionRecord};
use crate::retention;
use crate::schedules;
use crate::token::TaskToken;
use crate::visibility;
use temporalio_protos::temporal::api::enums::v1::{EventType, WorkflowExecutionStatus};

pub(crate) fn is_running(exec: &ExecutionRecord) -> bool {
    exec.status == WorkflowExecutionStatus::Running as i32
}

pub(crate) fn load(
    ctx: &ApplyCtx,
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
) -> ApplyResult<ExecutionRecord> {
    ctx.get(&keys::execution(namespace, workflow_id, run_id))?
        .ok_or_else(|| workflow_not_found(workflow_id, run_id))
}

/// A workflow run, or with `standalone` a standalone activity's run (its id in
/// `workflow_id`): what a task, a timer or a token names.
pub(crate) fn load_for(
    ctx: &ApplyCtx,
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
    standalone: bool,
) -> ApplyResult<ExecutionRecord> {
    if standalone {
        crate::standalone::load(ctx, namespace, workflow_id, run_id)
    } else {
        load(ctx, namespace, workflow_id, run_id)
    }
}

/// A run named by the API: an empty run id means the workflow id's current run.
pub(crate) fn resolve(
    ctx: &ApplyCtx,
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
) -> ApplyResult<ExecutionRecord> {
    if !run_id.is_empty() {
        return load(ctx, namespace, workflow_id, run_id);
    }
    let current: CurrentRun = ctx
        .get(&keys::current_run(namespace, workflow_id))?
        .ok_or_else(|| workflow_not_found(workflow_id, run_id))?;
    load(ctx, namespace, workflow_id, &current.run_id)
}

/// Like `resolve`, but the run must still be open.
pub(crate) fn resolve_running(
    ctx: &ApplyCtx,
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
) -> ApplyResult<ExecutionRecord> {
    let exec = resolve(ctx, namespace, workflow_id, run_id)?;
    if !is_running(&exec) {
        return Err(workflow_completed());
    }
    Ok(exec)
}

/// The open run a task token names; a closed run rejects like Temporal: NOT_FOUND.
pub(crate) fn load_running(ctx: &ApplyCtx, token: &TaskToken) -> ApplyResult<ExecutionRecord> {
    let exec = load_for(
        ctx,
        &token.namespace,
        &token.workflow_id,
        &token.run_id,
        token.standalone,
    )?;
    if !is_running(&exec) {
        return Err(if exec.standalone {
            crate::standalone::not_found(&exec.workflow_id)
        } else {
            workflow_completed()
        });
    }
    Ok(exec)
}

/// Temporal's default history limits: a run past either is terminated.
pub const MAX_HISTORY_EVENTS: i64 = 51_200;
pub const MAX_HISTORY_BYTES: i64 = 50 * 1024 * 1024;

pub(crate) fn save(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord) {
    if exec.standalone {
        crate::standalone::save(ctx, exec);
        return;
    }
    enforce_history_limits(ctx, exec);
    exec.state_transitions += 1;
    crate::activity_ops::sync_pause_info(exec);
    visibility::note_saved(ctx, exec);
    let key = keys::execution(&exec.namespace, &exec.workflow_id, &exec.run_id);
    ctx.state
        .put(key, canonical::encode(&*exec, canonical::EXECUTION_RECORD));
}

pub(crate) fn set_current(ctx: &mut ApplyCtx, exec: &ExecutionRecord) {
    let current = CurrentRun {
        run_id: exec.run_id.clone(),
        status: exec.status,
        start_request_id: exec.start_request_id.clone(),
    };
    ctx.put(
        keys::current_run(&exec.namespace, &exec.workflow_id),
        &current,
    );
}

/// A run whose history grew past Temporal's limits is terminated, with Temporal's reasons.
fn enforce_history_limits(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord) {
    if !is_running(exec) {
        return;
    }
    let reason = if exec.next_event_id - 1 > MAX_HISTORY_EVENTS {
        "Workflow history count exceeds limit."
    } else if exec.history_size_bytes > MAX_HISTORY_BYTES {
        "Workflow history size exceeds limit."
    } else {
        return;
    };
    exec.workflow_task = None;
    exec.buffered_events.clear();
    close(
        ctx,
        exec,
        WorkflowExecutionStatus::Terminated,
        EventType::WorkflowExecutionTerminated,
        Attributes::WorkflowExecutionTerminatedEventAttributes(
            temporalio_protos::temporal::api::history::v1::WorkflowExecutionTerminatedEventAttributes {
                reason: reason.into(),
                details: None,
                identity: "keel".into(),
            },
        ),
    );
}

/// Appends the close event and ends the run: nothing stays pending.
pub(crate) fn close(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    status: WorkflowExecutionStatus,
    event_type: EventType,
    attributes: Attributes,
) {
    let event = history::event(ctx, event_type, attributes.clone());
    exec.close_event_id = history::append(ctx, exec, event);
    exec.status = status as i32;
    exec.close_time = ctx.now;
    ctx.notify(Notification::RunClosed {
        namespace: exec.namespace.clone(),
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        status: status as i32,
    });
    retention::schedule(ctx, exec);
    exec.workflow_task = None;
    exec.activities.clear();
    exec.timers.clear();
    let current: Option<CurrentRun> = ctx
        .get(&keys::current_run(&exec.namespace, &exec.workflow_id))
        .ok()
        .flatten();
    if current.is_some_and(|c| c.run_id == exec.run_id) {
        set_current(ctx, exec);
    }
    children::on_close(ctx, exec, &attributes);
    crate::nexus::on_close(ctx, exec, &attributes);
    if !exec.schedule_id.is_empty() {
        schedules::on_run_closed(ctx, exec, &attributes);
    }
}
