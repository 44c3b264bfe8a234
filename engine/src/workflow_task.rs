//! Workflow tasks: scheduling, a poller starting one, completion (commands), failure and the
//! start-to-close timeout; transient attempts (attempt > 1 stays out of history until it
//! completes), the UnhandledCommand rule for close commands racing new events, and the
//! server failing a task whose completion carries a bad command.

use crate::activity;
use crate::children;
use crate::commands;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution::{self, is_running};
use crate::external;
use crate::history::{self, Attributes};
use crate::mutation::{CompleteWorkflowTask, FailWorkflowTask, StartTask, SuggestContinueAsNew};
use crate::outcome::{Outcome, WorkflowTaskStarted};
use crate::records::{
    ExecutionRecord, TaskKind, TaskRecord, TimerKind, TimerRecord, WorkflowTaskInfo,
};
use crate::reset_points;
use crate::sticky;
use crate::time::{duration, timestamp};
use crate::token::TaskToken;
use crate::updates;
use crate::validate;
use crate::versioning;
use temporalio_protos::temporal::api::{
    common::v1::{WorkerVersionStamp, WorkflowExecution, WorkflowType},
    enums::v1::{
        EventType, SuggestContinueAsNewReason, TaskQueueKind, TimeoutType, WorkflowTaskFailedCause,
    },
    failure::v1::{failure::FailureInfo, Failure, ServerFailureInfo},
    history::v1 as h,
    taskqueue::v1::TaskQueue,
    workflowservice::v1 as ws,
};

fn task_queue(exec: &ExecutionRecord) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: exec.task_queue.clone(),
        kind: TaskQueueKind::Normal as i32,
        ..Default::default()
    })
}

/// The queue a task is dispatched to, as its WorkflowTaskScheduled event names it.
fn dispatch_queue(exec: &ExecutionRecord, sticky: bool) -> Option<TaskQueue> {
    if !sticky {
        return task_queue(exec);
    }
    Some(TaskQueue {
        name: exec.sticky_queue.clone(),
        kind: TaskQueueKind::Sticky as i32,
        normal_name: exec.task_queue.clone(),
    })
}

/// Schedules the run's next workflow task, on the sticky queue of the worker that caches the
/// run if there is one (see `sticky`). Attempt 1 writes WorkflowTaskScheduled now; a retry
/// attempt is transient and gets its event ids when it starts.
pub(crate) fn schedule(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, attempt: i32) {
    schedule_task(ctx, exec, attempt, false);
}

/// Schedules a task only to deliver updates (see `updates`): like a retry attempt, its
/// events get ids when it starts and enter history only if its completion needs them.
pub(crate) fn schedule_speculative(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord) {
    schedule_task(ctx, exec, 1, true);
}

fn schedule_task(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, attempt: i32, speculative: bool) {
    debug_assert!(exec.workflow_task.is_none(), "one workflow task at a time");
    exec.workflow_task_seq += 1;
    // A task for a worker that shut down is still scheduled in its sticky queue's name, as on
    // Temporal, but dispatched to the normal queue with the whole history.
    let named_sticky = attempt == 1 && !exec.sticky_queue.is_empty();
    // Also when the routing moved an unpinned run on to another version than its worker's.
    let sticky = named_sticky
        && !sticky::is_gone(ctx, exec)
        && !versioning::leaves_sticky(ctx, exec).unwrap_or(false);
    let scheduled_event_id = if attempt == 1 && !speculative {
        let e = scheduled_event(ctx, exec, attempt, named_sticky);
        history::append(ctx, exec, e)
    } else {
        0
    };
    if named_sticky && !sticky {
        sticky::forget(exec);
    }
    exec.workflow_task = Some(WorkflowTaskInfo {
        seq: exec.workflow_task_seq,
        scheduled_event_id,
        attempt,
        scheduled_time: ctx.now,
        sticky,
        speculative,
        ..Default::default()
    });
    let record = TaskRecord {
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        target: exec.workflow_task_seq as i64,
        attempt,
        stamp: 0,
        priority: exec.priority.clone(),
        standalone: false,
        pinned: versioning::pinned(exec),
        ..Default::default()
    };
    let queue = if sticky {
        exec.sticky_queue.clone()
    } else {
        exec.task_queue.clone()
    };
    ctx.enqueue_task(&exec.namespace.clone(), &queue, TaskKind::Workflow, &record);
    if sticky {
        let timer = TimerRecord::for_run(
            exec,
            TimerKind::WorkflowTaskScheduleToStart,
            exec.workflow_task_seq as i64,
            attempt,
        );
        ctx.schedule_timer(ctx.now + exec.sticky_schedule_to_start_timeout, &timer);
    }
}

/// An event is about to enter history while a speculative task waits for a poller: the
/// task becomes a normal one, its WorkflowTaskScheduled written first (as Temporal does).
pub(crate) fn record_speculative(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord) {
    let Some(wt) = exec.workflow_task.clone() else {
        return;
    };
    if !wt.speculative || wt.started_event_id != 0 {
        return;
    }
    let e = scheduled_event(ctx, exec, wt.attempt, wt.sticky);
    let scheduled_event_id = history::append(ctx, exec, e);
    exec.workflow_task = Some(WorkflowTaskInfo {
        scheduled_event_id,
        speculative: false,
        ..wt
    });
}

/// A task whose events are written only when it completes: a retry attempt, or a
/// speculative task.
fn is_transient(wt: &WorkflowTaskInfo) -> bool {
    wt.attempt > 1 || wt.speculative
}

/// After a new event: make sure a workflow task will deliver it.
pub(crate) fn ensure_scheduled(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord) {
    let backing_off = exec.first_task_not_before > ctx.now;
    if is_running(exec) && exec.workflow_task.is_none() && !backing_off {
        schedule(ctx, exec, 1);
    }
}

fn scheduled_event(
    ctx: &mut ApplyCtx,
    exec: &ExecutionRecord,
    attempt: i32,
    sticky: bool,
) -> h::HistoryEvent {
    history::event(
        ctx,
        EventType::WorkflowTaskScheduled,
        Attributes::WorkflowTaskScheduledEventAttributes(h::WorkflowTaskScheduledEventAttributes {
            task_queue: dispatch_queue(exec, sticky),
            start_to_close_timeout: duration(exec.task_timeout),
            attempt,
        }),
    )
}

fn started_event(
    ctx: &mut ApplyCtx,
    exec: &ExecutionRecord,
    wt: &WorkflowTaskInfo,
) -> h::HistoryEvent {
    history::event(
        ctx,
        EventType::WorkflowTaskStarted,
        Attributes::WorkflowTaskStartedEventAttributes(h::WorkflowTaskStartedEventAttributes {
            scheduled_event_id: wt.scheduled_event_id,
            identity: wt.identity.clone(),
            request_id: wt.request_id.clone(),
            worker_version: wt.worker_version.clone(),
            history_size_bytes: exec.history_size_bytes,
            suggest_continue_as_new: !wt.suggest_continue_as_new_reasons.is_empty(),
            suggest_continue_as_new_reasons: wt.suggest_continue_as_new_reasons.clone(),
            ..Default::default()
        }),
    )
}

/// A retried task's scheduled and started events, with the ids they will have.
fn transient_events(
    ctx: &mut ApplyCtx,
    exec: &ExecutionRecord,
    wt: &WorkflowTaskInfo,
) -> Vec<h::HistoryEvent> {
    let mut scheduled = scheduled_event(ctx, exec, wt.attempt, wt.sticky);
    scheduled.event_id = wt.scheduled_event_id;
    scheduled.event_time = timestamp(wt.scheduled_time);
    let mut started = started_event(ctx, exec, wt);
    started.event_id = wt.started_event_id;
    started.event_time = timestamp(wt.started_time);
    vec![scheduled, started]
}

/// A poller takes the workflow task named by `task`.
pub(crate) fn start(
    ctx: &mut ApplyCtx,
    namespace: &str,
    task: TaskRecord,
    poll: StartTask,
) -> ApplyResult<Outcome> {
    let mut exec = execution::load(ctx, namespace, &task.workflow_id, &task.run_id)?;
    let stale = || Rejection::NotFound("workflow task not found".into());
    if !is_running(&exec) {
        return Err(stale());
    }
    exec.workflow_task
        .as_ref()
        .filter(|wt| wt.seq == task.target as u64 && wt.started_event_id == 0)
        .ok_or_else(stale)?;
    let started = start_scheduled(ctx, &mut exec, poll)?;
    execution::save(ctx, &mut exec);
    Ok(Outcome::WorkflowTaskStarted(Box::new(started)))
}

/// Starts the run's scheduled (not yet started) workflow task for the worker `poll` names:
/// its started event (or, for a transient task, the ids its events will have), its
/// start-to-close timer. Returns what the worker is handed; the caller saves `exec`.
pub(crate) fn start_scheduled(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    poll: StartTask,
) -> ApplyResult<WorkflowTaskStarted> {
    let mut wt = exec
        .workflow_task
        .clone()
        .ok_or_else(|| Rejection::Internal("no workflow task to start".into()))?;
    wt.identity = poll.identity;
    wt.request_id = poll.request_id;
    wt.worker_version = poll.worker_version;
    wt.started_time = ctx.now;
    let transient = is_transient(&wt);
    // Temporal counts the started event's own id among the events.
    let count = exec.next_event_id + i64::from(transient);
    wt.suggest_continue_as_new_reasons = suggestions(exec, count, &poll.suggest);
    let stored_through;
    let transient_events;
    if transient {
        wt.scheduled_event_id = exec.next_event_id;
        wt.started_event_id = exec.next_event_id + 1;
        stored_through = exec.next_event_id - 1;
        transient_events = self::transient_events(ctx, exec, &wt);
    } else {
        let e = started_event(ctx, exec, &wt);
        wt.started_event_id = history::append(ctx, exec, e);
        stored_through = wt.started_event_id;
        transient_events = Vec::new();
    }
    exec.workflow_task = Some(wt.clone());
    let timer = TimerRecord::for_run(
        exec,
        TimerKind::WorkflowTaskStartToClose,
        wt.seq as i64,
        wt.attempt,
    );
    ctx.schedule_timer(ctx.now + exec.task_timeout, &timer);

    let token = TaskToken {
        namespace: exec.namespace.clone(),
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        target: wt.seq as i64,
        attempt: wt.attempt,
        kind: TaskKind::Workflow as i32,
        ..Default::default()
    };
    let response = ws::PollWorkflowTaskQueueResponse {
        task_token: token.to_bytes(),
        started_event_id: wt.started_event_id,
        attempt: wt.attempt,
        scheduled_time: timestamp(wt.scheduled_time),
        started_time: timestamp(wt.started_time),
        ..poll_response(exec)
    };
    // A sticky worker has the run cached: it gets only the events since its last task.
    let history_from = if wt.sticky {
        exec.last_completed_started_event_id + 1
    } else {
        1
    };
    Ok(WorkflowTaskStarted {
        response,
        history_from,
        stored_through,
        transient_events,
    })
}

/// Eager workflow start: the first workflow task, which this mutation's start just scheduled
/// and queued, is taken back from its queue and started for the worker named by `poll` (the
/// starter). None if the run has no such task (a start delay, a deduplicated start).
pub(crate) fn start_first_eagerly(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    poll: StartTask,
) -> ApplyResult<Option<WorkflowTaskStarted>> {
    let first = exec.workflow_task.as_ref().is_some_and(|wt| {
        wt.attempt == 1 && wt.started_event_id == 0 && !wt.sticky && !wt.speculative
    });
    let (namespace, queue) = (exec.namespace.clone(), exec.task_queue.clone());
    if !first || !ctx.withdraw_queued_task(&namespace, &queue, TaskKind::Workflow) {
        return Ok(None);
    }
    start_scheduled(ctx, exec, poll).map(Some)
}

/// Why the run should continue as new, by the leader's thresholds (Temporal's checks: the
/// history size so far, and the event count including the started event).
fn suggestions(
    exec: &ExecutionRecord,
    event_count: i64,
    thresholds: &Option<SuggestContinueAsNew>,
) -> Vec<i32> {
    let Some(t) = thresholds else {
        return Vec::new();
    };
    let mut reasons = Vec::new();
    if exec.history_size_bytes >= t.history_size_bytes {
        reasons.push(SuggestContinueAsNewReason::HistorySizeTooLarge as i32);
    }
    if event_count >= t.history_count {
        reasons.push(SuggestContinueAsNewReason::TooManyHistoryEvents as i32);
    }
    reasons
}

/// Appends WorkflowTaskFailed for a started task the server ended (not the worker).
pub(crate) fn record_failed(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    wt: &WorkflowTaskInfo,
    cause: WorkflowTaskFailedCause,
    identity: &str,
) {
    let failed = history::event(
        ctx,
        EventType::WorkflowTaskFailed,
        Attributes::WorkflowTaskFailedEventAttributes(h::WorkflowTaskFailedEventAttributes {
            scheduled_event_id: wt.scheduled_event_id,
            started_event_id: wt.started_event_id,
            cause: cause as i32,
            identity: identity.to_string(),
            ..Default::default()
        }),
    );
    history::append(ctx, exec, failed);
}

/// The parts of a workflow-task poll response that describe the run (not the task).
pub fn poll_response(exec: &ExecutionRecord) -> ws::PollWorkflowTaskQueueResponse {
    ws::PollWorkflowTaskQueueResponse {
        workflow_execution: Some(WorkflowExecution {
            workflow_id: exec.workflow_id.clone(),
            run_id: exec.run_id.clone(),
        }),
        workflow_type: Some(WorkflowType {
            name: exec.workflow_type.clone(),
        }),
        previous_started_event_id: exec.last_completed_started_event_id,
        workflow_execution_task_queue: task_queue(exec),
        ..Default::default()
    }
}

/// The started workflow task a token names, or NOT_FOUND if it has moved on.
fn started_task(exec: &ExecutionRecord, token: &TaskToken) -> ApplyResult<WorkflowTaskInfo> {
    exec.workflow_task
        .clone()
        .filter(|wt| {
            wt.seq == token.target as u64 && wt.attempt == token.attempt && wt.started_event_id != 0
        })
        .ok_or_else(|| Rejection::NotFound("Workflow task not found.".into()))
}

/// Writes a transient task's events into history now that it counts.
fn persist_transient(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, wt: &WorkflowTaskInfo) {
    if is_transient(wt) {
        for e in transient_events(ctx, exec, wt) {
            let id = history::append(ctx, exec, e.clone());
            debug_assert_eq!(
                id, e.event_id,
                "transient event ids were promised to the worker"
            );
        }
    }
}

pub(crate) fn complete(ctx: &mut ApplyCtx, m: CompleteWorkflowTask) -> ApplyResult<Outcome> {
    let token = m.token.unwrap_or_default();
    let req = m.request.unwrap_or_default();
    let mut exec = execution::load_running(ctx, &token)?;
    let wt = started_task(&exec, &token)?;
    validate::completion_request(&req).map_err(Rejection::InvalidArgument)?;
    let versioning = versioning::record_completion(ctx, &mut exec, &req)?;
    let close_at = req.commands.iter().position(commands::closes_workflow);
    if let Some(i) = close_at {
        if i + 1 != req.commands.len() {
            return Err(Rejection::InvalidArgument(
                "A workflow-closing command must be the last command.".into(),
            ));
        }
    }
    if wt.speculative && exec.buffered_events.is_empty() && updates::leaves_no_trace(&req) {
        // Only rejections: the task leaves history as it was; the worker is told where
        // history resumes (its next task starts after the last completed one).
        exec.workflow_task = None;
        sticky::remember(&mut exec, &req.sticky_attributes);
        execution::save(ctx, &mut exec);
        return Ok(Outcome::WorkflowTaskDiscarded {
            reset_history_event_id: exec.last_completed_started_event_id,
        });
    }
    persist_transient(ctx, &mut exec, &wt);

    if close_at.is_some() && !exec.buffered_events.is_empty() {
        // New events arrived while the worker decided to close: it must see them first.
        record_failed(
            ctx,
            &mut exec,
            &wt,
            WorkflowTaskFailedCause::UnhandledCommand,
            &req.identity,
        );
        sticky::forget(&mut exec);
        exec.workflow_task = None;
        history::flush_buffered(ctx, &mut exec);
        schedule(ctx, &mut exec, 1);
        execution::save(ctx, &mut exec);
        return Ok(Outcome::Done);
    }

    let completed = history::event(
        ctx,
        EventType::WorkflowTaskCompleted,
        Attributes::WorkflowTaskCompletedEventAttributes(h::WorkflowTaskCompletedEventAttributes {
            scheduled_event_id: wt.scheduled_event_id,
            started_event_id: wt.started_event_id,
            identity: req.identity.clone(),
            sdk_metadata: req.sdk_metadata.clone(),
            worker_version: req.worker_version_stamp.clone(),
            metering_metadata: req.metering_metadata,
            versioning_behavior: versioning.behavior,
            worker_deployment_name: versioning.deployment_name,
            deployment_version: versioning.version,
            ..Default::default()
        }),
    );
    let completed_id = history::append(ctx, &mut exec, completed);
    let build_id = req
        .worker_version_stamp
        .as_ref()
        .map_or("", |v| v.build_id.as_str());
    reset_points::record_completion(ctx, &mut exec, build_id, &req.binary_checksum, completed_id);
    exec.last_completed_started_event_id = wt.started_event_id;
    exec.worker_version = req.worker_version_stamp.clone();
    exec.workflow_task = None;
    sticky::remember(&mut exec, &req.sticky_attributes);
    let mut new_events = false;
    let mut completion = commands::Completion {
        completed_event_id: completed_id,
        identity: &req.identity,
        next_run_id: &m.next_run_id,
        continue_as_new_min_interval: m.continue_as_new_min_interval,
        child_run_ids: m.child_run_ids.clone().into_iter(),
        initiated_children: Vec::new(),
        initiated_external: Vec::new(),
        eager_request_ids: m.eager_activity_request_ids.into_iter(),
        eager_activities: Vec::new(),
        messages: updates::Messages::new(req.messages),
    };
    for command in req.commands {
        new_events |= commands::apply(ctx, &mut exec, &mut completion, command)?;
    }
    // Messages no ProtocolMessage command placed come after the commands (a closed run
    // accepts no more updates).
    for message in completion.messages.take_remaining() {
        if is_running(&exec) {
            updates::apply_message(ctx, &mut exec, message)?;
        }
    }
    if is_running(&exec) {
        new_events |= children::start_initiated(ctx, &mut exec, completion.initiated_children)?;
        new_events |= external::deliver_initiated(ctx, &mut exec, completion.initiated_external)?;
    }
    let mut eager_tasks = Vec::new();
    if is_running(&exec) {
        let flushed = history::flush_buffered(ctx, &mut exec);
        if flushed || new_events || req.force_create_new_workflow_task {
            schedule(ctx, &mut exec, 1);
        }
        eager_tasks = start_eager_activities(
            ctx,
            &mut exec,
            completion.eager_activities,
            &req.identity,
            &req.worker_version_stamp,
        );
    }
    execution::save(ctx, &mut exec);
    if eager_tasks.is_empty() {
        Ok(Outcome::Done)
    } else {
        Ok(Outcome::EagerActivitiesStarted(eager_tasks))
    }
}

/// Eager activity dispatch: the activities this completion held back start for the worker
/// that completed it (those a later command of the same completion canceled are gone).
fn start_eager_activities(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    eager: Vec<commands::EagerActivity>,
    identity: &str,
    worker_version: &Option<WorkerVersionStamp>,
) -> Vec<(String, ws::PollActivityTaskQueueResponse)> {
    let mut tasks = Vec::new();
    for (scheduled_event_id, request_id) in eager {
        let pending = exec
            .activities
            .iter()
            .position(|a| a.scheduled_event_id == scheduled_event_id && a.started_time == 0);
        if let Some(index) = pending {
            let queue = exec.activities[index].task_queue.clone();
            let task = activity::start_attempt(
                ctx,
                exec,
                index,
                identity.to_string(),
                request_id,
                worker_version.clone(),
            );
            tasks.push((queue, task));
        }
    }
    tasks
}

pub(crate) fn fail(ctx: &mut ApplyCtx, m: FailWorkflowTask) -> ApplyResult<Outcome> {
    let req = m.request.unwrap_or_default();
    fail_started(
        ctx,
        &m.token.unwrap_or_default(),
        req.cause,
        req.failure,
        req.identity,
    )?;
    Ok(Outcome::Done)
}

/// A command of this completion was refused (`Rejection::BadCommand`), so nothing of the
/// completion was kept: the task fails with `cause` and a server failure whose message is
/// Temporal's "<Cause>: <message>", and the next attempt is scheduled.
pub(crate) fn fail_for_bad_command(
    ctx: &mut ApplyCtx,
    m: &CompleteWorkflowTask,
    cause: WorkflowTaskFailedCause,
    message: &str,
) -> ApplyResult<()> {
    let failure = Failure {
        message: format!("{}: {message}", cause_name(cause)),
        failure_info: Some(FailureInfo::ServerFailureInfo(ServerFailureInfo {
            non_retryable: false,
        })),
        ..Default::default()
    };
    let identity = m
        .request
        .as_ref()
        .map(|r| r.identity.clone())
        .unwrap_or_default();
    fail_started(
        ctx,
        &m.token.clone().unwrap_or_default(),
        cause as i32,
        Some(failure),
        identity,
    )
}

/// Ends the started task a token names as failed (WorkflowTaskFailed on its first attempt)
/// and schedules the next attempt.
fn fail_started(
    ctx: &mut ApplyCtx,
    token: &TaskToken,
    cause: i32,
    failure: Option<Failure>,
    identity: String,
) -> ApplyResult<()> {
    let mut exec = execution::load_running(ctx, token)?;
    let wt = started_task(&exec, token)?;
    let failed =
        Attributes::WorkflowTaskFailedEventAttributes(h::WorkflowTaskFailedEventAttributes {
            scheduled_event_id: wt.scheduled_event_id,
            started_event_id: wt.started_event_id,
            cause,
            failure,
            identity,
            ..Default::default()
        });
    end_attempt(ctx, &mut exec, &wt, EventType::WorkflowTaskFailed, failed);
    execution::save(ctx, &mut exec);
    Ok(())
}

/// A cause as Temporal names it in messages: WORKFLOW_TASK_FAILED_CAUSE_BAD_BINARY → BadBinary.
fn cause_name(cause: WorkflowTaskFailedCause) -> String {
    let name = cause.as_str_name();
    let name = name
        .strip_prefix("WORKFLOW_TASK_FAILED_CAUSE_")
        .unwrap_or(name);
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_string() + &chars.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

/// The start-to-close timer of workflow task `seq` fired.
pub(crate) fn timed_out(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, seq: u64) {
    let Some(wt) = exec.workflow_task.clone() else {
        return;
    };
    if !is_running(exec) || wt.seq != seq || wt.started_event_id == 0 {
        return;
    }
    let attrs =
        Attributes::WorkflowTaskTimedOutEventAttributes(h::WorkflowTaskTimedOutEventAttributes {
            scheduled_event_id: wt.scheduled_event_id,
            started_event_id: wt.started_event_id,
            timeout_type: TimeoutType::StartToClose as i32,
        });
    end_attempt(ctx, exec, &wt, EventType::WorkflowTaskTimedOut, attrs);
    execution::save(ctx, exec);
}

/// A failed or timed-out attempt: the first is recorded in history, retries are not (as in
/// Temporal); the next attempt is scheduled right away.
fn end_attempt(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    wt: &WorkflowTaskInfo,
    event_type: EventType,
    attrs: Attributes,
) {
    if wt.speculative {
        persist_transient(ctx, exec, wt);
    }
    if wt.attempt == 1 {
        let e = history::event(ctx, event_type, attrs);
        history::append(ctx, exec, e);
    }
    exec.workflow_task = None;
    sticky::forget(exec);
    history::flush_buffered(ctx, exec);
    schedule(ctx, exec, wt.attempt + 1);
}
