//! StartWorkflowExecution: request-id idempotency, workflow-id reuse and conflict policies,
//! the WorkflowExecutionStarted event, the first workflow task and the run timeout.

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution;
use crate::history::{self, Attributes};
use crate::keys;
use crate::mutation::StartWorkflow;
use crate::outcome::Outcome;
use crate::records::{CurrentRun, ExecutionRecord, TimerKind, TimerRecord};
use crate::reset_points;
use crate::time::{duration, explicit_duration, nanos, secs, timestamp};
use crate::validate;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    enums::v1::{
        ContinueAsNewInitiator, EventType, TaskQueueKind, WorkflowExecutionStatus as Status,
        WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
    },
    failure::v1::Failure,
    history::v1 as h,
    taskqueue::v1::TaskQueue,
    workflowservice::v1 as ws,
};

/// Temporal's default workflow task timeout.
const DEFAULT_TASK_TIMEOUT_SECS: i64 = 10;
/// Temporal caps the workflow task timeout at two minutes.
const MAX_TASK_TIMEOUT_SECS: i64 = 120;

pub(crate) fn start(ctx: &mut ApplyCtx, m: StartWorkflow) -> ApplyResult<Outcome> {
    start_with(ctx, m.request.unwrap_or_default(), m.run_id, |_, _| Ok(()))
}

/// Starts a run; `first_events` may add events (signal-with-start's signal) between
/// WorkflowExecutionStarted and the first workflow task.
pub(crate) fn start_with(
    ctx: &mut ApplyCtx,
    req: ws::StartWorkflowExecutionRequest,
    run_id: String,
    first_events: impl FnOnce(&mut ApplyCtx, &mut ExecutionRecord) -> ApplyResult<()>,
) -> ApplyResult<Outcome> {
    ctx.namespace(&req.namespace)?;
    validate::start_request(&req).map_err(Rejection::InvalidArgument)?;

    let current: Option<CurrentRun> =
        ctx.get(&keys::current_run(&req.namespace, &req.workflow_id))?;
    if let Some(current) = current {
        if !req.request_id.is_empty() && current.start_request_id == req.request_id {
            return Ok(Outcome::WorkflowStarted {
                run_id: current.run_id,
                started: true,
            });
        }
        let already_started = || Rejection::WorkflowAlreadyStarted {
            workflow_id: req.workflow_id.clone(),
            run_id: current.run_id.clone(),
            start_request_id: current.start_request_id.clone(),
        };
        let reuse = WorkflowIdReusePolicy::try_from(req.workflow_id_reuse_policy)
            .unwrap_or(WorkflowIdReusePolicy::AllowDuplicate);
        if current.status == Status::Running as i32 {
            let conflict = WorkflowIdConflictPolicy::try_from(req.workflow_id_conflict_policy)
                .unwrap_or(WorkflowIdConflictPolicy::Unspecified);
            let terminate = conflict == WorkflowIdConflictPolicy::TerminateExisting
                || reuse == WorkflowIdReusePolicy::TerminateIfRunning;
            match conflict {
                WorkflowIdConflictPolicy::UseExisting => {
                    return Ok(Outcome::WorkflowStarted {
                        run_id: current.run_id,
                        started: false,
                    })
                }
                _ if terminate => terminate_for_new_run(ctx, &req, &current.run_id)?,
                _ => return Err(already_started()),
            }
        } else {
            let closed_unsuccessfully = [
                Status::Failed,
                Status::Canceled,
                Status::Terminated,
                Status::TimedOut,
            ]
            .iter()
            .any(|s| *s as i32 == current.status);
            match reuse {
                WorkflowIdReusePolicy::RejectDuplicate => return Err(already_started()),
                WorkflowIdReusePolicy::AllowDuplicateFailedOnly if !closed_unsuccessfully => {
                    return Err(already_started())
                }
                _ => {}
            }
        }
    }

    let mut execution_timeout = nanos(&req.workflow_execution_timeout);
    let mut run_timeout = nanos(&req.workflow_run_timeout);
    if run_timeout == 0 || (execution_timeout > 0 && run_timeout > execution_timeout) {
        run_timeout = execution_timeout;
    }
    if execution_timeout < 0 {
        execution_timeout = 0;
    }
    let mut task_timeout = nanos(&req.workflow_task_timeout);
    if task_timeout <= 0 {
        task_timeout = secs(DEFAULT_TASK_TIMEOUT_SECS);
    }
    task_timeout = task_timeout.min(secs(MAX_TASK_TIMEOUT_SECS));
    if run_timeout > 0 {
        task_timeout = task_timeout.min(run_timeout);
    }

    let task_queue = req.task_queue.clone().unwrap_or_default().name;
    let mut exec = ExecutionRecord {
        namespace: req.namespace.clone(),
        workflow_id: req.workflow_id.clone(),
        run_id: run_id.clone(),
        workflow_type: req.workflow_type.clone().unwrap_or_default().name,
        task_queue: task_queue.clone(),
        status: Status::Running as i32,
        next_event_id: 1,
        start_time: ctx.now,
        execution_timeout,
        run_timeout,
        task_timeout,
        start_request_id: req.request_id.clone(),
        memo: req.memo.clone(),
        search_attributes: req.search_attributes.clone(),
        attempt: 1,
        first_execution_run_id: run_id.clone(),
        retry_policy: req.retry_policy.clone(),
        execution_deadline: if execution_timeout > 0 {
            ctx.now + execution_timeout
        } else {
            0
        },
        ..Default::default()
    };
    let started = history::event(
        ctx,
        EventType::WorkflowExecutionStarted,
        Attributes::WorkflowExecutionStartedEventAttributes(
            h::WorkflowExecutionStartedEventAttributes {
                workflow_type: req.workflow_type,
                task_queue: Some(TaskQueue {
                    name: task_queue,
                    kind: TaskQueueKind::Normal as i32,
                    ..Default::default()
                }),
                input: req.input,
                workflow_execution_timeout: duration(execution_timeout),
                workflow_run_timeout: duration(run_timeout),
                workflow_task_timeout: duration(task_timeout),
                original_execution_run_id: run_id.clone(),
                identity: req.identity,
                first_execution_run_id: run_id.clone(),
                retry_policy: req.retry_policy,
                attempt: 1,
                workflow_execution_expiration_time: if execution_timeout > 0 {
                    timestamp(ctx.now + execution_timeout)
                } else {
                    None
                },
                memo: req.memo,
                search_attributes: req.search_attributes,
                header: req.header,
                workflow_id: req.workflow_id,
                first_workflow_task_backoff: explicit_duration(0),
                ..Default::default()
            },
        ),
    );
    history::append(ctx, &mut exec, started);
    first_events(ctx, &mut exec)?;
    workflow_task::ensure_scheduled(ctx, &mut exec);
    if run_timeout > 0 {
        let record = TimerRecord {
            kind: TimerKind::WorkflowRunTimeout as i32,
            namespace: exec.namespace.clone(),
            workflow_id: exec.workflow_id.clone(),
            run_id: exec.run_id.clone(),
            ..Default::default()
        };
        ctx.schedule_timer(ctx.now + run_timeout, &record);
    }
    execution::set_current(ctx, &exec);
    execution::save(ctx, &mut exec);
    Ok(Outcome::WorkflowStarted {
        run_id,
        started: true,
    })
}

/// Temporal's workflow retry: a failed run with attempts left continues as a new run with
/// the same inputs, `attempt + 1`, chained to the old one by run ids; its first workflow task
/// is scheduled when the backoff is over.
pub(crate) fn retry_run(
    ctx: &mut ApplyCtx,
    old: &ExecutionRecord,
    run_id: &str,
    backoff: i64,
    failure: Failure,
) -> ApplyResult<()> {
    let first: Option<h::HistoryEvent> = ctx.get(&keys::history_event(
        &old.namespace,
        &old.workflow_id,
        &old.run_id,
        1,
    ))?;
    let Some(Attributes::WorkflowExecutionStartedEventAttributes(prev)) =
        first.and_then(|e| e.attributes)
    else {
        return Err(Rejection::Internal(
            "a run without its started event".into(),
        ));
    };
    let mut exec = ExecutionRecord {
        run_id: run_id.to_string(),
        status: Status::Running as i32,
        next_event_id: 1,
        start_time: ctx.now,
        attempt: old.attempt + 1,
        ..old.clone()
    };
    exec.close_time = 0;
    exec.close_event_id = 0;
    exec.last_completed_started_event_id = 0;
    exec.workflow_task_seq = 0;
    exec.history_size_bytes = 0;
    exec.state_transitions = 0;
    exec.signal_request_ids.clear();
    exec.cancel_requested = false;
    exec.buffered_events.clear();
    exec.first_task_not_before = ctx.now + backoff;
    let retention = ctx.namespace(&old.namespace)?.retention;
    exec.auto_reset_points = reset_points::carried_to_next_run(old, ctx.now, retention);
    let started = history::event(
        ctx,
        EventType::WorkflowExecutionStarted,
        Attributes::WorkflowExecutionStartedEventAttributes(
            h::WorkflowExecutionStartedEventAttributes {
                continued_execution_run_id: old.run_id.clone(),
                initiator: ContinueAsNewInitiator::Retry as i32,
                continued_failure: Some(failure),
                original_execution_run_id: run_id.to_string(),
                attempt: exec.attempt,
                first_workflow_task_backoff: explicit_duration(backoff),
                prev_auto_reset_points: exec.auto_reset_points.clone(),
                ..prev
            },
        ),
    );
    history::append(ctx, &mut exec, started);
    let timer = |kind: TimerKind| TimerRecord {
        kind: kind as i32,
        namespace: exec.namespace.clone(),
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        ..Default::default()
    };
    ctx.schedule_timer(ctx.now + backoff, &timer(TimerKind::WorkflowBackoff));
    if exec.run_timeout > 0 {
        ctx.schedule_timer(
            ctx.now + backoff + exec.run_timeout,
            &timer(TimerKind::WorkflowRunTimeout),
        );
    }
    execution::set_current(ctx, &exec);
    execution::save(ctx, &mut exec);
    Ok(())
}

/// The running run gives way to a new one (conflict policy TERMINATE_EXISTING or reuse
/// policy TERMINATE_IF_RUNNING).
fn terminate_for_new_run(
    ctx: &mut ApplyCtx,
    req: &ws::StartWorkflowExecutionRequest,
    run_id: &str,
) -> ApplyResult<()> {
    let mut old = execution::load(ctx, &req.namespace, &req.workflow_id, run_id)?;
    history::flush_buffered(ctx, &mut old);
    execution::close(
        ctx,
        &mut old,
        Status::Terminated,
        EventType::WorkflowExecutionTerminated,
        Attributes::WorkflowExecutionTerminatedEventAttributes(
            h::WorkflowExecutionTerminatedEventAttributes {
                reason: "terminated by a new start of the same workflow id".into(),
                details: None,
                identity: req.identity.clone(),
            },
        ),
    );
    execution::save(ctx, &mut old);
    Ok(())
}
