//! Activity tasks after they are scheduled: a poller starting one, completion, failure with
//! retries (no history until the final outcome, as in Temporal), cancellation, heartbeats,
//! and the start-to-close / schedule-to-close timeouts. A standalone activity (see
//! `standalone`) goes through the same rules; only its end is recorded differently.

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution::{self, is_running};
use crate::history::{self, Attributes};
use crate::mutation::{
    CancelActivityTask, CompleteActivityTask, FailActivityTask, RecordHeartbeat, StartTask,
};
use crate::outcome::Outcome;
use crate::records::{ActivityInfo, ExecutionRecord, TaskKind, TaskRecord, TimerKind, TimerRecord};
use crate::retry;
use crate::time::{explicit_duration, timestamp};
use crate::token::TaskToken;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    common::v1::{ActivityType, WorkerVersionStamp, WorkflowExecution, WorkflowType},
    enums::v1::{EventType, RetryState, TimeoutType},
    failure::v1::{failure::FailureInfo, Failure, TimeoutFailureInfo},
    history::v1 as h,
    workflowservice::v1 as ws,
};

fn not_found() -> Rejection {
    Rejection::NotFound("Activity task not found.".into())
}

fn timer(exec: &ExecutionRecord, kind: TimerKind, a: &ActivityInfo) -> TimerRecord {
    TimerRecord {
        stamp: a.stamp,
        ..TimerRecord::for_run(exec, kind, a.scheduled_event_id, a.attempt)
    }
}

/// A newly scheduled activity (or one a reset brings back): its first attempt dispatched and
/// its schedule-to-close timer armed from now.
pub(crate) fn schedule(ctx: &mut ApplyCtx, exec: &ExecutionRecord, a: &ActivityInfo) {
    dispatch(ctx, exec, a);
    arm_schedule_to_close(ctx, exec, a);
}

/// A standalone activity's first attempt: dispatched `delay` from now (its start delay),
/// its schedule-to-close timer armed from now.
pub(crate) fn schedule_after(
    ctx: &mut ApplyCtx,
    exec: &ExecutionRecord,
    a: &ActivityInfo,
    delay: i64,
) {
    if delay > 0 {
        let t = timer(exec, TimerKind::ActivityRetry, a);
        ctx.schedule_timer(ctx.now + delay, &t);
    } else {
        dispatch(ctx, exec, a);
    }
    arm_schedule_to_close(ctx, exec, a);
}

/// The schedule-to-close timer of a newly scheduled activity, from now.
pub(crate) fn arm_schedule_to_close(ctx: &mut ApplyCtx, exec: &ExecutionRecord, a: &ActivityInfo) {
    if a.schedule_to_close_timeout > 0 {
        let t = timer(exec, TimerKind::ActivityScheduleToClose, a);
        ctx.schedule_timer(ctx.now + a.schedule_to_close_timeout, &t);
    }
}

/// Puts the activity's current attempt in its task queue, with its schedule-to-start timer.
pub(crate) fn dispatch(ctx: &mut ApplyCtx, exec: &ExecutionRecord, a: &ActivityInfo) {
    if a.schedule_to_start_timeout > 0 {
        let t = timer(exec, TimerKind::ActivityScheduleToStart, a);
        ctx.schedule_timer(ctx.now + a.schedule_to_start_timeout, &t);
    }
    let record = TaskRecord {
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        target: a.scheduled_event_id,
        attempt: a.attempt,
        stamp: a.stamp,
        priority: crate::priority::merge(exec.priority.as_ref(), a.priority.as_ref()),
        standalone: exec.standalone,
        pinned: crate::versioning::pinned(exec),
        ..Default::default()
    };
    ctx.enqueue_task(&exec.namespace, &a.task_queue, TaskKind::Activity, &record);
}

/// Arms the deadlines of activity `i` again under its current stamp, after an operator
/// changed it (unpause, reset, new options): schedule-to-close from when it was scheduled,
/// start-to-close and heartbeat from when a running attempt started (a deadline already
/// past fires at once). An attempt not running is dispatched `delay` from now, or when its
/// retry backoff ends if no delay is given, without the last attempt's failure.
pub(crate) fn resume(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, i: usize, delay: Option<i64>) {
    let now = ctx.now;
    let a = exec.activities[i].clone();
    let mut arm = |kind, at| {
        let t = timer(exec, kind, &a);
        ctx.schedule_timer(at, &t);
    };
    if a.schedule_to_close_timeout > 0 {
        arm(
            TimerKind::ActivityScheduleToClose,
            a.scheduled_time + a.schedule_to_close_timeout,
        );
    }
    if a.started_time != 0 {
        if a.start_to_close_timeout > 0 {
            arm(
                TimerKind::ActivityStartToClose,
                a.started_time + a.start_to_close_timeout,
            );
        }
        if a.heartbeat_timeout > 0 {
            let last = a.last_heartbeat_time.max(a.started_time);
            arm(TimerKind::ActivityHeartbeat, last + a.heartbeat_timeout);
        }
        return;
    }
    let delay = delay
        .unwrap_or(a.current_attempt_scheduled_time - now)
        .max(0);
    exec.activities[i].current_attempt_scheduled_time = now + delay;
    forget_last_attempt(&mut exec.activities[i]);
    if delay == 0 {
        dispatch(ctx, exec, &a);
    } else {
        let t = timer(exec, TimerKind::ActivityRetry, &a);
        ctx.schedule_timer(now + delay, &t);
    }
}

/// An attempt an operator dispatched anew does not carry the last one's failure or worker
/// (its ActivityTaskStarted has no `last_failure`), as Temporal's regenerated retry task.
pub(crate) fn forget_last_attempt(a: &mut ActivityInfo) {
    a.last_failure = None;
    a.last_worker_identity.clear();
}

/// A poller takes the activity attempt named by `task`.
pub(crate) fn start(
    ctx: &mut ApplyCtx,
    namespace: &str,
    task: TaskRecord,
    poll: StartTask,
) -> ApplyResult<Outcome> {
    let mut exec = execution::load_for(
        ctx,
        namespace,
        &task.workflow_id,
        &task.run_id,
        task.standalone,
    )?;
    if !is_running(&exec) {
        return Err(not_found());
    }
    let index = exec
        .activities
        .iter()
        .position(|a| {
            a.scheduled_event_id == task.target
                && a.attempt == task.attempt
                && a.stamp == task.stamp
                && a.started_time == 0
                && !a.paused
        })
        .ok_or_else(not_found)?;
    let response = start_attempt(
        ctx,
        &mut exec,
        index,
        poll.identity,
        poll.request_id,
        poll.worker_version,
    );
    execution::save(ctx, &mut exec);
    Ok(Outcome::ActivityTaskStarted(Box::new(response)))
}

/// Starts the activity's scheduled attempt for a worker (a poller, or eagerly the worker that
/// scheduled it): its start-to-close and heartbeat timers armed; returns the task to hand
/// over. The caller saves `exec`.
pub(crate) fn start_attempt(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    index: usize,
    identity: String,
    request_id: String,
    worker_version: Option<WorkerVersionStamp>,
) -> ws::PollActivityTaskQueueResponse {
    let now = ctx.now;
    // A run of a versioned worker names its version on completions, not on started events.
    let versioned = exec
        .versioning
        .as_ref()
        .is_some_and(|v| v.version.is_some());
    let exec_version = exec.worker_version.clone().filter(|_| !versioned);
    let a = &mut exec.activities[index];
    a.started_time = now;
    a.started_identity = identity;
    a.started_request_id = request_id;
    a.started_worker_version = match worker_version {
        Some(v) => Some(v),
        None if a.use_workflow_build_id => exec_version,
        None => None,
    };
    let a = a.clone();
    if exec.standalone {
        exec.last_started_time = now;
    }
    if a.start_to_close_timeout > 0 {
        let t = timer(exec, TimerKind::ActivityStartToClose, &a);
        ctx.schedule_timer(now + a.start_to_close_timeout, &t);
    }
    if a.heartbeat_timeout > 0 {
        let t = timer(exec, TimerKind::ActivityHeartbeat, &a);
        ctx.schedule_timer(now + a.heartbeat_timeout, &t);
    }
    let token = TaskToken::for_activity(exec, &a);
    // A standalone activity has no workflow: its run id goes in `activity_run_id`, as the
    // dev server sends it.
    let (workflow_type, workflow_execution, activity_run_id) = if exec.standalone {
        (None, WorkflowExecution::default(), exec.run_id.clone())
    } else {
        (
            Some(WorkflowType {
                name: exec.workflow_type.clone(),
            }),
            WorkflowExecution {
                workflow_id: exec.workflow_id.clone(),
                run_id: exec.run_id.clone(),
            },
            String::new(),
        )
    };
    ws::PollActivityTaskQueueResponse {
        task_token: token.to_bytes(),
        workflow_namespace: exec.namespace.clone(),
        workflow_type,
        workflow_execution: Some(workflow_execution),
        activity_run_id,
        activity_type: Some(ActivityType {
            name: a.activity_type.clone(),
        }),
        activity_id: a.activity_id.clone(),
        header: a.header.clone(),
        input: a.input.clone(),
        heartbeat_details: a.heartbeat_details.clone(),
        scheduled_time: timestamp(a.scheduled_time),
        current_attempt_scheduled_time: timestamp(a.current_attempt_scheduled_time),
        started_time: timestamp(a.started_time),
        attempt: a.attempt,
        // Always present, zero meaning unlimited, as Temporal sends them (the TypeScript
        // SDK refuses a task without them).
        schedule_to_close_timeout: explicit_duration(a.schedule_to_close_timeout),
        start_to_close_timeout: explicit_duration(a.start_to_close_timeout),
        heartbeat_timeout: explicit_duration(a.heartbeat_timeout),
        retry_policy: a.retry_policy.clone(),
        // The activity's own, as the dev server hands it out (the merged one orders dispatch).
        priority: a.priority.clone(),
        ..Default::default()
    }
}

/// The running attempt a token names. A standalone activity's by-id token (attempt 0) names
/// its current attempt; with `or_unstarted` (a completion) also one not started yet, as
/// Temporal lets a scheduled standalone activity complete but not fail or heartbeat.
fn started_index(
    exec: &ExecutionRecord,
    token: &TaskToken,
    or_unstarted: bool,
) -> ApplyResult<usize> {
    let by_id = exec.standalone && token.attempt == 0;
    exec.activities
        .iter()
        .position(|a| {
            a.scheduled_event_id == token.target
                && (by_id || a.attempt == token.attempt)
                && (a.started_time != 0 || (by_id && or_unstarted))
        })
        .ok_or_else(|| {
            if exec.standalone {
                crate::standalone::not_found(&exec.workflow_id)
            } else {
                not_found()
            }
        })
}

/// Ends the activity: its ActivityTaskStarted event (if an attempt started) and its outcome
/// go to history, or to the buffer while a workflow task runs; the workflow gets a task.
fn finish(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    index: usize,
    outcome: impl FnOnce(i64) -> (EventType, Attributes),
) {
    if exec.standalone {
        let (event_type, attributes) = outcome(0);
        crate::standalone::close(ctx, exec, event_type, attributes);
        return;
    }
    let a = exec.activities.remove(index);
    let mut started_event_id = 0;
    if a.started_time != 0 {
        let started = history::event(
            ctx,
            EventType::ActivityTaskStarted,
            Attributes::ActivityTaskStartedEventAttributes(h::ActivityTaskStartedEventAttributes {
                scheduled_event_id: a.scheduled_event_id,
                identity: a.started_identity.clone(),
                request_id: a.started_request_id.clone(),
                worker_version: a.started_worker_version.clone(),
                attempt: a.attempt,
                last_failure: a.last_failure.clone(),
                ..Default::default()
            }),
        );
        if history::workflow_task_running(exec) {
            exec.buffered_events.push(started); // its id is fixed up when flushed
        } else {
            crate::workflow_task::record_speculative(ctx, exec);
            started_event_id = history::append(ctx, exec, started);
        }
    }
    let (event_type, attrs) = outcome(started_event_id);
    let e = history::event(ctx, event_type, attrs);
    history::append_or_buffer(ctx, exec, e);
    workflow_task::ensure_scheduled(ctx, exec);
}

pub(crate) fn complete(ctx: &mut ApplyCtx, m: CompleteActivityTask) -> ApplyResult<Outcome> {
    let token = m.token.unwrap_or_default();
    let req = m.request.unwrap_or_default();
    let mut exec = execution::load_running(ctx, &token)?;
    let i = started_index(&exec, &token, true)?;
    let scheduled_event_id = exec.activities[i].scheduled_event_id;
    finish(ctx, &mut exec, i, |started_event_id| {
        (
            EventType::ActivityTaskCompleted,
            Attributes::ActivityTaskCompletedEventAttributes(
                h::ActivityTaskCompletedEventAttributes {
                    result: req.result,
                    scheduled_event_id,
                    started_event_id,
                    identity: req.identity,
                    ..Default::default()
                },
            ),
        )
    });
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

pub(crate) fn fail(ctx: &mut ApplyCtx, m: FailActivityTask) -> ApplyResult<Outcome> {
    let token = m.token.unwrap_or_default();
    let req = m.request.unwrap_or_default();
    let mut exec = execution::load_running(ctx, &token)?;
    let i = started_index(&exec, &token, false)?;
    if req.last_heartbeat_details.is_some() {
        exec.activities[i].heartbeat_details = req.last_heartbeat_details.clone();
    }
    let failure = req.failure.unwrap_or_default();
    fail_attempt(ctx, &mut exec, i, failure, req.identity);
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

/// An attempt failed (by the worker or a start-to-close timeout): retry per the retry policy,
/// or record the final failure.
fn fail_attempt(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    i: usize,
    failure: Failure,
    identity: String,
) {
    let now = ctx.now;
    if exec.standalone {
        exec.last_attempt_complete_time = now;
    }
    // A standalone activity asked to cancel gets no further attempt (Temporal's retry state
    // CANCEL_REQUESTED); a workflow's activity learns of it from the workflow's command.
    let cancel_requested = exec.standalone && exec.cancel_requested;
    let a = &mut exec.activities[i];
    if a.reset_requested {
        // A reset reached this attempt while it ran: the count starts over from it.
        a.attempt = 1;
        a.reset_requested = false;
        if std::mem::take(&mut a.reset_heartbeats) {
            a.heartbeat_details = None;
            a.last_heartbeat_time = 0;
        }
    }
    let retry = match retry_delay(a, &failure, now) {
        Ok(_) if cancel_requested => Err(RetryState::CancelRequested),
        // A paused activity keeps its next attempt until it is unpaused, however many
        // attempts it has had and however long it waits (as Temporal's).
        Err(state) if a.paused && state != RetryState::NonRetryableFailure => Ok(None),
        other => other.map(Some),
    };
    match retry {
        Ok(delay) => {
            let a = &mut exec.activities[i];
            a.attempt += 1;
            a.started_time = 0;
            a.last_failure = Some(failure);
            a.last_worker_identity = identity;
            if let Some(delay) = delay {
                a.current_attempt_scheduled_time = now + delay;
                let a = a.clone();
                let t = timer(exec, TimerKind::ActivityRetry, &a);
                ctx.schedule_timer(now + delay, &t);
            }
        }
        Err(retry_state) => {
            let a = exec.activities[i].clone();
            let scheduled_event_id = a.scheduled_event_id;
            let is_timeout = matches!(
                failure.failure_info,
                Some(FailureInfo::TimeoutFailureInfo(_))
            );
            finish(ctx, exec, i, |started_event_id| {
                if is_timeout {
                    timed_out(failure, &a, retry_state)(started_event_id)
                } else {
                    (
                        EventType::ActivityTaskFailed,
                        Attributes::ActivityTaskFailedEventAttributes(
                            h::ActivityTaskFailedEventAttributes {
                                failure: Some(failure),
                                scheduled_event_id,
                                started_event_id,
                                identity,
                                retry_state: retry_state as i32,
                                ..Default::default()
                            },
                        ),
                    )
                }
            });
        }
    }
}

/// The backoff before the activity's next attempt, or why there is none.
fn retry_delay(a: &ActivityInfo, failure: &Failure, now: i64) -> Result<i64, RetryState> {
    let deadline = if a.schedule_to_close_timeout > 0 {
        a.scheduled_time + a.schedule_to_close_timeout
    } else {
        0
    };
    retry::backoff(
        &a.retry_policy.clone().unwrap_or_default(),
        a.attempt,
        failure,
        now,
        deadline,
    )
}

pub(crate) fn cancel(ctx: &mut ApplyCtx, m: CancelActivityTask) -> ApplyResult<Outcome> {
    let token = m.token.unwrap_or_default();
    let req = m.request.unwrap_or_default();
    let mut exec = execution::load_running(ctx, &token)?;
    let i = started_index(&exec, &token, false)?;
    if exec.standalone && !exec.cancel_requested {
        return Err(Rejection::InvalidArgument(
            "unable to mark activity as canceled without activity being request canceled first"
                .into(),
        ));
    }
    let scheduled_event_id = exec.activities[i].scheduled_event_id;
    let latest_cancel_requested_event_id = exec.activities[i].cancel_requested_event_id;
    finish(ctx, &mut exec, i, |started_event_id| {
        (
            EventType::ActivityTaskCanceled,
            Attributes::ActivityTaskCanceledEventAttributes(
                h::ActivityTaskCanceledEventAttributes {
                    details: req.details,
                    latest_cancel_requested_event_id,
                    scheduled_event_id,
                    started_event_id,
                    identity: req.identity,
                    ..Default::default()
                },
            ),
        )
    });
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

pub(crate) fn heartbeat(ctx: &mut ApplyCtx, m: RecordHeartbeat) -> ApplyResult<Outcome> {
    let token = m.token.unwrap_or_default();
    let req = m.request.unwrap_or_default();
    let mut exec = execution::load_running(ctx, &token)?;
    let i = started_index(&exec, &token, false)?;
    if exec.standalone {
        exec.heartbeat_count += 1;
    }
    let standalone_cancel = exec.standalone && exec.cancel_requested;
    let a = &mut exec.activities[i];
    a.heartbeat_details = req.details;
    a.last_heartbeat_time = ctx.now;
    let outcome = Outcome::Heartbeat {
        cancel_requested: a.cancel_requested_event_id != 0 || standalone_cancel,
        paused: a.paused,
        reset: a.reset_requested,
    };
    execution::save(ctx, &mut exec);
    Ok(outcome)
}

/// Temporal's message for a timeout that leaves no time for another attempt.
const NO_TIME_TO_RETRY: &str =
    "Not enough time to schedule next retry before activity ScheduleToClose timeout, giving up retrying";

/// The outcome of an activity that ran out of time for good. As on Temporal, when no attempt
/// fits in the schedule-to-close budget (retry state TIMEOUT) every timeout but
/// schedule-to-start is reported as schedule-to-close with Temporal's message, and the
/// previous attempt's failure (if any) is the cause.
fn timed_out(
    mut failure: Failure,
    a: &ActivityInfo,
    retry_state: RetryState,
) -> impl FnOnce(i64) -> (EventType, Attributes) {
    if let Some(FailureInfo::TimeoutFailureInfo(info)) = &mut failure.failure_info {
        if retry_state == RetryState::Timeout
            && info.timeout_type != TimeoutType::ScheduleToStart as i32
        {
            info.timeout_type = TimeoutType::ScheduleToClose as i32;
            failure.message = NO_TIME_TO_RETRY.into();
        }
    }
    failure.cause = a.last_failure.clone().map(Box::new);
    let scheduled_event_id = a.scheduled_event_id;
    move |started_event_id| {
        (
            EventType::ActivityTaskTimedOut,
            Attributes::ActivityTaskTimedOutEventAttributes(
                h::ActivityTaskTimedOutEventAttributes {
                    failure: Some(failure),
                    scheduled_event_id,
                    started_event_id,
                    retry_state: retry_state as i32,
                },
            ),
        )
    }
}

fn timeout_failure(timeout_type: TimeoutType, a: &ActivityInfo) -> Failure {
    let name = match timeout_type {
        TimeoutType::StartToClose => "StartToClose",
        TimeoutType::ScheduleToClose => "ScheduleToClose",
        TimeoutType::ScheduleToStart => "ScheduleToStart",
        TimeoutType::Heartbeat => "Heartbeat",
        TimeoutType::Unspecified => "Unspecified",
    };
    Failure {
        message: format!("activity {name} timeout"),
        source: "Server".into(),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: timeout_type as i32,
            last_heartbeat_details: a.heartbeat_details.clone(),
        })),
        ..Default::default()
    }
}

/// A timer guarding an activity fired; it acts only if it still names the current state.
pub(crate) fn timer_fired(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, t: &TimerRecord) {
    let kind = TimerKind::try_from(t.kind).unwrap_or(TimerKind::Unspecified);
    let Some(i) = exec
        .activities
        .iter()
        .position(|a| a.scheduled_event_id == t.target)
    else {
        return;
    };
    let a = exec.activities[i].clone();
    if a.paused || a.stamp != t.stamp {
        // Paused activities have no deadlines (unpausing arms them again); an older stamp's
        // timer was replaced when the stamp moved on.
        return;
    }
    match kind {
        TimerKind::ActivityStartToClose if a.attempt == t.attempt && a.started_time != 0 => {
            let failure = timeout_failure(TimeoutType::StartToClose, &a);
            let identity = a.started_identity.clone();
            fail_attempt(ctx, exec, i, failure, identity);
        }
        TimerKind::ActivityScheduleToClose => {
            let failure = timeout_failure(TimeoutType::ScheduleToClose, &a);
            finish(ctx, exec, i, timed_out(failure, &a, RetryState::Timeout));
        }
        TimerKind::ActivityRetry if a.attempt == t.attempt && a.started_time == 0 => {
            dispatch(ctx, exec, &a);
        }
        TimerKind::ActivityHeartbeat if a.attempt == t.attempt && a.started_time != 0 => {
            let due = a.last_heartbeat_time.max(a.started_time) + a.heartbeat_timeout;
            if due > ctx.now {
                // Heartbeats arrived since this timer was set: wait for the next deadline.
                let t = timer(exec, TimerKind::ActivityHeartbeat, &a);
                ctx.schedule_timer(due, &t);
                return;
            }
            let failure = timeout_failure(TimeoutType::Heartbeat, &a);
            let identity = a.started_identity.clone();
            fail_attempt(ctx, exec, i, failure, identity);
        }
        TimerKind::ActivityScheduleToStart if a.attempt == t.attempt && a.started_time == 0 => {
            let failure = timeout_failure(TimeoutType::ScheduleToStart, &a);
            finish(ctx, exec, i, timed_out(failure, &a, RetryState::Timeout));
        }
        _ => return,
    }
    execution::save(ctx, exec);
}
