//! Nexus operations a workflow calls, after ScheduleNexusOperation scheduled them: each
//! attempt is a task in the queue the endpoint targets (in the handler's namespace), handed
//! to a handler worker that polls it (PollNexusTaskQueue), and answered by
//! RespondNexusTaskCompleted (a result or an operation error) or RespondNexusTaskFailed (a
//! handler error: retried with backoff when retryable, as Temporal's). An attempt nobody
//! answers within Temporal's request timeout is retried as an upstream timeout; the
//! schedule-to-close timeout ends the operation. Outcomes are written to the caller's history
//! in the events Temporal writes (NexusOperationCompleted / Failed / Canceled / TimedOut),
//! failures wrapped as Temporal wraps them.
//!
//! Asynchronous operations: a handler answering with an operation token makes the operation
//! started (NexusOperationStarted); a workflow the handler started with Keel's completion
//! callback (`temporal://system` and a token naming the operation, as Temporal's) completes
//! it when that workflow's last run closes, in the same apply: no HTTP round trip, and so
//! exactly once whatever leader applies it.
//!
//! A workflow's cancellation request of a started operation goes to its handler (`cancel`);
//! the URLs, links and callback tokens that name workflow events and operations are in
//! `links`.

mod cancel;
mod links;

pub(crate) use links::callback_targets;
use links::{
    callback_token, scheduled_event_link, workflow_event_link, CALLBACK_TOKEN_HEADER,
    SYSTEM_CALLBACK_URL,
};

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution::{self, is_running};
use crate::history::{self, Attributes};
use crate::keys;
use crate::mutation::{CompleteNexusTask, FailNexusTask, StartTask};
use crate::outcome::Outcome;
use crate::records::{
    ExecutionRecord, NexusOperationInfo, TaskKind, TaskRecord, TimerKind, TimerRecord,
};
use crate::time::{explicit_duration, timestamp};
use crate::token::TaskToken;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    enums::v1::{
        EventType, NexusHandlerErrorRetryBehavior, PendingNexusOperationState, TimeoutType,
    },
    failure::v1::{
        failure::FailureInfo, ApplicationFailureInfo, CanceledFailureInfo, Failure,
        NexusHandlerFailureInfo, NexusOperationFailureInfo, TerminatedFailureInfo,
        TimeoutFailureInfo,
    },
    history::v1 as h,
    nexus::v1 as nexus,
    workflow::v1::{NexusOperationCancellationInfo, PendingNexusOperationInfo},
    workflowservice::v1 as ws,
};

/// Temporal's `component.nexusoperations.limit.operation.concurrency`.
pub(crate) const MAX_PENDING_OPERATIONS: usize = 30;
/// Temporal's `component.nexusoperations.request.timeout`: how long one attempt may take.
pub const REQUEST_TIMEOUT: i64 = 10 * 1_000_000_000;
/// Temporal's retry policy for attempts: from 1 s, doubling, at most an hour apart.
const RETRY_INITIAL: i64 = 1_000_000_000;
const RETRY_MAX: i64 = 3600 * 1_000_000_000;

fn not_found() -> Rejection {
    Rejection::NotFound("Nexus task not found or already completed.".into())
}

fn timer(exec: &ExecutionRecord, kind: TimerKind, op: &NexusOperationInfo) -> TimerRecord {
    TimerRecord::for_run(exec, kind, op.scheduled_event_id, op.attempt)
}

/// A newly scheduled operation: its first attempt queued, its schedule-to-close timer armed.
pub(crate) fn schedule(ctx: &mut ApplyCtx, exec: &ExecutionRecord, op: &mut NexusOperationInfo) {
    dispatch(ctx, exec, op);
    if op.schedule_to_close_timeout > 0 {
        let t = timer(exec, TimerKind::NexusScheduleToClose, op);
        ctx.schedule_timer(op.scheduled_time + op.schedule_to_close_timeout, &t);
    }
}

/// Puts the operation's current attempt in the queue its endpoint targets.
fn dispatch(ctx: &mut ApplyCtx, exec: &ExecutionRecord, op: &mut NexusOperationInfo) {
    op.current_attempt_scheduled_time = ctx.now;
    op.next_attempt_schedule_time = 0;
    op.started_time = 0;
    enqueue(ctx, exec, op, op.attempt, false);
}

/// Queues a task of operation `op` in the queue its endpoint targets: its start attempt
/// `attempt`, or with `nexus_cancel` its cancel attempt.
fn enqueue(
    ctx: &mut ApplyCtx,
    exec: &ExecutionRecord,
    op: &NexusOperationInfo,
    attempt: i32,
    nexus_cancel: bool,
) {
    let record = TaskRecord {
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        target: op.scheduled_event_id,
        attempt,
        priority: exec.priority.clone(),
        caller_namespace: exec.namespace.clone(),
        nexus_cancel,
        ..Default::default()
    };
    ctx.enqueue_task(
        &op.target_namespace,
        &op.target_queue,
        TaskKind::Nexus,
        &record,
    );
}

/// How long the attempt starting now may take: the request timeout, or what is left of the
/// schedule-to-close timeout if that is less.
fn attempt_timeout(op: &NexusOperationInfo, now: i64) -> i64 {
    if op.schedule_to_close_timeout > 0 {
        let left = op.scheduled_time + op.schedule_to_close_timeout - now;
        REQUEST_TIMEOUT.min(left.max(0))
    } else {
        REQUEST_TIMEOUT
    }
}

/// Go's duration text for whole milliseconds ("9.5s", "250ms", "10s"), as Temporal's headers.
fn go_duration(nanos: i64) -> String {
    let ms = nanos.max(0) / 1_000_000;
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        let fraction = format!("{:03}", ms % 1000);
        format!("{}.{}s", ms / 1000, fraction.trim_end_matches('0'))
    }
}

/// A handler worker takes the operation attempt named by `task`.
/// (A handler's identity is not recorded: Temporal records none either.)
pub(crate) fn start(
    ctx: &mut ApplyCtx,
    task: TaskRecord,
    _poll: StartTask,
) -> ApplyResult<Outcome> {
    let mut exec = execution::load(ctx, &task.caller_namespace, &task.workflow_id, &task.run_id)?;
    if !is_running(&exec) {
        return Err(not_found());
    }
    if task.nexus_cancel {
        let i = exec
            .nexus_operations
            .iter()
            .position(|op| op.scheduled_event_id == task.target)
            .filter(|&i| cancel::is_queued(&exec, i, task.attempt))
            .ok_or_else(not_found)?;
        let response = cancel::start(ctx, &mut exec, i);
        execution::save(ctx, &mut exec);
        return Ok(Outcome::NexusTaskStarted(Box::new(response)));
    }
    let i = exec
        .nexus_operations
        .iter()
        .position(|op| {
            op.scheduled_event_id == task.target
                && op.attempt == task.attempt
                && op.started_time == 0
                && op.next_attempt_schedule_time == 0
        })
        .ok_or_else(not_found)?;
    let now = ctx.now;
    let timeout = attempt_timeout(&exec.nexus_operations[i], now);
    exec.nexus_operations[i].started_time = now;
    let op = exec.nexus_operations[i].clone();
    let t = timer(&exec, TimerKind::NexusAttempt, &op);
    ctx.schedule_timer(now + timeout, &t);
    let mut header = op.header.clone();
    header.insert("request-timeout".into(), go_duration(timeout));
    header.insert("nexus-request-id".into(), op.request_id.clone());
    if op.schedule_to_close_timeout > 0 {
        let left = op.scheduled_time + op.schedule_to_close_timeout - now;
        header.insert(
            "operation-timeout".into(),
            format!("{}ms", left.max(0) / 1_000_000),
        );
    }
    let response = ws::PollNexusTaskQueueResponse {
        task_token: TaskToken::for_nexus(&exec, &op).to_bytes(),
        request: Some(nexus::Request {
            header: header.into_iter().collect(),
            scheduled_time: timestamp(op.current_attempt_scheduled_time),
            capabilities: Some(nexus::request::Capabilities {
                temporal_failure_responses: true,
            }),
            endpoint: op.endpoint.clone(),
            variant: Some(nexus::request::Variant::StartOperation(
                nexus::StartOperationRequest {
                    service: op.service.clone(),
                    operation: op.operation.clone(),
                    request_id: op.request_id.clone(),
                    callback: SYSTEM_CALLBACK_URL.into(),
                    payload: op.input.clone(),
                    callback_header: [(
                        CALLBACK_TOKEN_HEADER.to_string(),
                        callback_token(&exec, &op),
                    )]
                    .into(),
                    links: vec![scheduled_event_link(&exec, &op)],
                },
            )),
        }),
        ..Default::default()
    };
    execution::save(ctx, &mut exec);
    Ok(Outcome::NexusTaskStarted(Box::new(response)))
}

/// The running operation attempt a token names, in the open run it belongs to. Only a
/// handler of the namespace the attempt was handed to may answer it (the token names the
/// caller's run, in another namespace perhaps).
fn running_attempt(
    ctx: &ApplyCtx,
    token: &TaskToken,
    handler_namespace: &str,
) -> ApplyResult<(ExecutionRecord, usize)> {
    let exec = execution::load(ctx, &token.namespace, &token.workflow_id, &token.run_id)
        .map_err(|_| not_found())?;
    if !is_running(&exec) {
        return Err(not_found());
    }
    let i = exec
        .nexus_operations
        .iter()
        .position(|op| {
            op.scheduled_event_id == token.target && op.target_namespace == handler_namespace
        })
        .filter(|&i| {
            let op = &exec.nexus_operations[i];
            if token.nexus_cancel {
                cancel::is_running(&exec, i, token.attempt)
            } else {
                op.attempt == token.attempt && op.started_time != 0 && op.operation_token.is_empty()
            }
        })
        .ok_or_else(not_found)?;
    Ok((exec, i))
}

/// Temporal's wrapper of an operation's failure in the caller's history.
#[allow(deprecated)] // operation_id: Temporal still fills it
fn operation_failure(op: &NexusOperationInfo, cause: Failure) -> Failure {
    Failure {
        message: "nexus operation completed unsuccessfully".into(),
        cause: Some(Box::new(cause)),
        failure_info: Some(FailureInfo::NexusOperationExecutionFailureInfo(
            NexusOperationFailureInfo {
                scheduled_event_id: op.scheduled_event_id,
                endpoint: op.endpoint.clone(),
                service: op.service.clone(),
                operation: op.operation.clone(),
                operation_id: op.operation_token.clone(),
                operation_token: op.operation_token.clone(),
            },
        )),
        ..Default::default()
    }
}

/// Ends operation `i`: its outcome event goes to history (or the buffer while a workflow
/// task runs) and the workflow gets a task to see it.
fn finish(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, i: usize, outcome: Ending) {
    let op = exec.nexus_operations.remove(i);
    let scheduled_event_id = op.scheduled_event_id;
    let request_id = op.request_id.clone();
    let (event_type, attributes) = match outcome {
        Ending::Completed(result) => (
            EventType::NexusOperationCompleted,
            Attributes::NexusOperationCompletedEventAttributes(
                h::NexusOperationCompletedEventAttributes {
                    scheduled_event_id,
                    result,
                    request_id,
                },
            ),
        ),
        Ending::Failed(cause) => (
            EventType::NexusOperationFailed,
            Attributes::NexusOperationFailedEventAttributes(
                h::NexusOperationFailedEventAttributes {
                    scheduled_event_id,
                    failure: Some(operation_failure(&op, cause)),
                    request_id,
                },
            ),
        ),
        Ending::Canceled(cause) => (
            EventType::NexusOperationCanceled,
            Attributes::NexusOperationCanceledEventAttributes(
                h::NexusOperationCanceledEventAttributes {
                    scheduled_event_id,
                    failure: Some(operation_failure(&op, cause)),
                    request_id,
                },
            ),
        ),
        Ending::TimedOut => (
            EventType::NexusOperationTimedOut,
            Attributes::NexusOperationTimedOutEventAttributes(
                h::NexusOperationTimedOutEventAttributes {
                    scheduled_event_id,
                    failure: Some(operation_failure(
                        &op,
                        Failure {
                            message: "operation timed out".into(),
                            failure_info: Some(FailureInfo::TimeoutFailureInfo(
                                TimeoutFailureInfo {
                                    timeout_type: TimeoutType::ScheduleToClose as i32,
                                    last_heartbeat_details: None,
                                },
                            )),
                            ..Default::default()
                        },
                    )),
                    request_id,
                },
            ),
        ),
    };
    let e = history::event(ctx, event_type, attributes);
    history::append_or_buffer(ctx, exec, e);
    workflow_task::ensure_scheduled(ctx, exec);
}

/// How an operation ends.
#[derive(Clone)]
enum Ending {
    Completed(Option<temporalio_protos::temporal::api::common::v1::Payload>),
    Failed(Failure),
    Canceled(Failure),
    TimedOut,
}

/// The scheduled event id of the operation an event is the outcome of.
pub(crate) fn ended_operation(attributes: &Attributes) -> Option<i64> {
    use Attributes as A;
    Some(match attributes {
        A::NexusOperationCompletedEventAttributes(a) => a.scheduled_event_id,
        A::NexusOperationFailedEventAttributes(a) => a.scheduled_event_id,
        A::NexusOperationCanceledEventAttributes(a) => a.scheduled_event_id,
        A::NexusOperationTimedOutEventAttributes(a) => a.scheduled_event_id,
        _ => return None,
    })
}

/// A failure is a cancellation when it says so.
fn is_canceled(f: &Failure) -> bool {
    matches!(f.failure_info, Some(FailureInfo::CanceledFailureInfo(_)))
}

/// A Nexus failure of the older wire format, as a Temporal failure.
fn from_nexus_failure(f: Option<nexus::Failure>, info: FailureInfo) -> Failure {
    let f = f.unwrap_or_default();
    Failure {
        message: f.message,
        stack_trace: f.stack_trace,
        failure_info: Some(info),
        ..Default::default()
    }
}

pub(crate) fn complete(ctx: &mut ApplyCtx, m: CompleteNexusTask) -> ApplyResult<Outcome> {
    let token = m.token.unwrap_or_default();
    let req = m.request.unwrap_or_default();
    let (mut exec, i) = running_attempt(ctx, &token, &req.namespace)?;
    if token.nexus_cancel {
        if !matches!(
            req.response.and_then(|r| r.variant),
            Some(nexus::response::Variant::CancelOperation(_))
        ) {
            return Err(Rejection::InvalidArgument(
                "the response to a cancel operation request must be a cancel operation response"
                    .into(),
            ));
        }
        cancel::completed(ctx, &mut exec, i);
        execution::save(ctx, &mut exec);
        return Ok(Outcome::Done);
    }
    use nexus::start_operation_response::Variant as V;
    let start = match req.response.and_then(|r| r.variant) {
        Some(nexus::response::Variant::StartOperation(s)) => s.variant,
        _ => {
            return Err(Rejection::InvalidArgument(
                "the response to a start operation request must be a start operation response"
                    .into(),
            ))
        }
    };
    let outcome = match start {
        Some(V::SyncSuccess(sync)) => Ending::Completed(sync.payload),
        Some(V::AsyncSuccess(started)) => {
            started_async(ctx, &mut exec, i, started);
            execution::save(ctx, &mut exec);
            return Ok(Outcome::Done);
        }
        Some(V::Failure(f)) if is_canceled(&f) => Ending::Canceled(f),
        Some(V::Failure(f)) => Ending::Failed(f),
        #[allow(deprecated)]
        Some(V::OperationError(e)) => {
            if e.operation_state == "canceled" {
                Ending::Canceled(from_nexus_failure(
                    e.failure,
                    FailureInfo::CanceledFailureInfo(CanceledFailureInfo::default()),
                ))
            } else {
                Ending::Failed(from_nexus_failure(
                    e.failure,
                    FailureInfo::ApplicationFailureInfo(ApplicationFailureInfo {
                        non_retryable: true,
                        ..Default::default()
                    }),
                ))
            }
        }
        None => {
            return Err(Rejection::InvalidArgument(
                "empty start operation response".into(),
            ))
        }
    };
    finish(ctx, &mut exec, i, outcome);
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

/// The handler answered that the operation goes on: NexusOperationStarted, with its token and
/// the handler's links; no further attempts (its completion callback ends it).
fn started_async(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    i: usize,
    started: nexus::start_operation_response::Async,
) {
    #[allow(deprecated)]
    let token = if started.operation_token.is_empty() {
        started.operation_id.clone()
    } else {
        started.operation_token.clone()
    };
    let op = &mut exec.nexus_operations[i];
    op.operation_token = token.clone();
    let (scheduled_event_id, request_id) = (op.scheduled_event_id, op.request_id.clone());
    #[allow(deprecated)]
    let attributes =
        Attributes::NexusOperationStartedEventAttributes(h::NexusOperationStartedEventAttributes {
            scheduled_event_id,
            operation_id: token.clone(),
            request_id,
            operation_token: token,
        });
    let mut e = history::event(ctx, EventType::NexusOperationStarted, attributes);
    e.links = started
        .links
        .iter()
        .filter_map(workflow_event_link)
        .collect();
    history::append_or_buffer(ctx, exec, e);
    workflow_task::ensure_scheduled(ctx, exec);
    // A cancellation the workflow asked for before the start reaches the handler now.
    cancel::deliver_if_due(ctx, exec, i);
}

/// The workflow asked to cancel operation `i`: delivered to its handler once it is started.
pub(crate) fn cancel_requested(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, i: usize) {
    cancel::deliver_if_due(ctx, exec, i);
}

/// A run whose outcome completes Nexus operations closed: each operation (if still waiting)
/// gets the outcome, in its caller's history. A run that continues in another carries the
/// callbacks on (see `start`), so only a last run's close counts.
pub(crate) fn on_close(ctx: &mut ApplyCtx, exec: &ExecutionRecord, attributes: &Attributes) {
    if exec.nexus_callbacks.is_empty() {
        return;
    }
    let Some(ending) = ending_of_close(attributes) else {
        return;
    };
    for target in &exec.nexus_callbacks {
        let key = keys::execution(&target.namespace, &target.workflow_id, &target.run_id);
        // A caller closing or being changed in this same apply is not written behind its
        // back (a run's own operations never complete it, so it is another run).
        if ctx.is_closing(&key) || ctx.is_in_hand(&key) {
            continue;
        }
        let Ok(mut caller) =
            execution::load(ctx, &target.namespace, &target.workflow_id, &target.run_id)
        else {
            continue;
        };
        if !is_running(&caller) {
            continue;
        }
        let Some(i) = caller.nexus_operations.iter().position(|op| {
            op.scheduled_event_id == target.scheduled_event_id && op.request_id == target.request_id
        }) else {
            continue; // it ended already (timed out, say)
        };
        finish(ctx, &mut caller, i, ending.clone());
        execution::save(ctx, &mut caller);
    }
}

/// What a run's close event means for the operation it completes; `None` when another run
/// follows.
fn ending_of_close(attributes: &Attributes) -> Option<Ending> {
    use Attributes as A;
    Some(match attributes {
        A::WorkflowExecutionCompletedEventAttributes(a) if a.new_execution_run_id.is_empty() => {
            Ending::Completed(a.result.as_ref().and_then(|r| r.payloads.first().cloned()))
        }
        A::WorkflowExecutionFailedEventAttributes(a) if a.new_execution_run_id.is_empty() => {
            Ending::Failed(a.failure.clone().unwrap_or_default())
        }
        A::WorkflowExecutionTimedOutEventAttributes(a) if a.new_execution_run_id.is_empty() => {
            Ending::Failed(Failure {
                message: "operation timed out".into(),
                failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                    timeout_type: TimeoutType::StartToClose as i32,
                    last_heartbeat_details: None,
                })),
                ..Default::default()
            })
        }
        A::WorkflowExecutionCanceledEventAttributes(a) => Ending::Canceled(Failure {
            message: "operation canceled".into(),
            failure_info: Some(FailureInfo::CanceledFailureInfo(CanceledFailureInfo {
                details: a.details.clone(),
                ..Default::default()
            })),
            ..Default::default()
        }),
        A::WorkflowExecutionTerminatedEventAttributes(a) => Ending::Failed(Failure {
            message: "operation terminated".into(),
            failure_info: Some(FailureInfo::TerminatedFailureInfo(TerminatedFailureInfo {
                identity: a.identity.clone(),
            })),
            cause: (!a.reason.is_empty()).then(|| {
                Box::new(Failure {
                    message: a.reason.clone(),
                    ..Default::default()
                })
            }),
            ..Default::default()
        }),
        _ => return None,
    })
}

/// Whether Temporal retries a handler error of this type (the Nexus protocol's rule; an
/// explicit retry behavior overrides it).
fn retryable(error_type: &str, behavior: i32) -> bool {
    match NexusHandlerErrorRetryBehavior::try_from(behavior) {
        Ok(NexusHandlerErrorRetryBehavior::Retryable) => return true,
        Ok(NexusHandlerErrorRetryBehavior::NonRetryable) => return false,
        _ => {}
    }
    !matches!(
        error_type,
        "BAD_REQUEST" | "UNAUTHENTICATED" | "UNAUTHORIZED" | "NOT_FOUND" | "NOT_IMPLEMENTED"
    )
}

pub(crate) fn fail(ctx: &mut ApplyCtx, m: FailNexusTask) -> ApplyResult<Outcome> {
    let token = m.token.unwrap_or_default();
    let req = m.request.unwrap_or_default();
    let (mut exec, i) = running_attempt(ctx, &token, &req.namespace)?;
    #[allow(deprecated)]
    let failure = match (req.failure, req.error) {
        (Some(f), _) => f,
        (None, Some(e)) => from_nexus_failure(
            e.failure,
            FailureInfo::NexusHandlerFailureInfo(NexusHandlerFailureInfo {
                r#type: e.error_type,
                retry_behavior: e.retry_behavior,
            }),
        ),
        (None, None) => {
            return Err(Rejection::InvalidArgument(
                "a handler failure needs its error".into(),
            ))
        }
    };
    let (error_type, behavior) = match &failure.failure_info {
        Some(FailureInfo::NexusHandlerFailureInfo(info)) => {
            (info.r#type.clone(), info.retry_behavior)
        }
        _ => ("INTERNAL".to_string(), 0),
    };
    match (token.nexus_cancel, retryable(&error_type, behavior)) {
        (true, true) => cancel::attempt_failed(ctx, &mut exec, i),
        (true, false) => cancel::failed(ctx, &mut exec, i, failure),
        (false, true) => attempt_failed(ctx, &mut exec, i, failure),
        (false, false) => finish(ctx, &mut exec, i, Ending::Failed(failure)),
    }
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

/// The current attempt failed in a way worth retrying: the next one is dispatched after
/// Temporal's backoff (the schedule-to-close timeout, if any, still bounds the whole).
fn attempt_failed(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, i: usize, failure: Failure) {
    let now = ctx.now;
    let op = &mut exec.nexus_operations[i];
    let backoff = retry_backoff(op.attempt);
    op.attempt += 1;
    op.started_time = 0;
    op.last_attempt_complete_time = now;
    op.last_attempt_failure = Some(failure);
    op.next_attempt_schedule_time = now + backoff;
    let op = op.clone();
    let t = timer(exec, TimerKind::NexusRetry, &op);
    ctx.schedule_timer(now + backoff, &t);
}

/// The backoff after attempt `attempt` (1 first) failed: from 1 s, doubling, at most an hour.
fn retry_backoff(attempt: i32) -> i64 {
    let failed_before = (attempt.max(1) - 1).min(32) as u32;
    RETRY_INITIAL
        .saturating_mul(1i64 << failed_before)
        .min(RETRY_MAX)
}

/// A Nexus timer is due: the operation's deadline, an unanswered attempt, or a backoff over.
pub(crate) fn timer_fired(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, record: &TimerRecord) {
    let Some(i) = exec
        .nexus_operations
        .iter()
        .position(|op| op.scheduled_event_id == record.target)
    else {
        return; // it ended
    };
    if cancel::timer_fired(ctx, exec, i, record) {
        execution::save(ctx, exec);
        return;
    }
    let op = &exec.nexus_operations[i];
    let kind = TimerKind::try_from(record.kind).unwrap_or(TimerKind::Unspecified);
    match kind {
        TimerKind::NexusScheduleToClose => finish(ctx, exec, i, Ending::TimedOut),
        TimerKind::NexusAttempt
            if op.attempt == record.attempt
                && op.started_time != 0
                && op.operation_token.is_empty() =>
        {
            let failure = Failure {
                message: "upstream timeout".into(),
                failure_info: Some(FailureInfo::NexusHandlerFailureInfo(
                    NexusHandlerFailureInfo {
                        r#type: "UPSTREAM_TIMEOUT".into(),
                        retry_behavior: 0,
                    },
                )),
                ..Default::default()
            };
            attempt_failed(ctx, exec, i, failure);
        }
        TimerKind::NexusRetry
            if op.attempt == record.attempt && op.next_attempt_schedule_time != 0 =>
        {
            let mut op = exec.nexus_operations[i].clone();
            dispatch(ctx, exec, &mut op);
            exec.nexus_operations[i] = op;
        }
        _ => return, // stale
    }
    execution::save(ctx, exec);
}

/// A pending operation as DescribeWorkflowExecution reports it.
pub fn pending_info(op: &NexusOperationInfo) -> PendingNexusOperationInfo {
    let state = if !op.operation_token.is_empty() {
        PendingNexusOperationState::Started
    } else if op.next_attempt_schedule_time != 0 {
        PendingNexusOperationState::BackingOff
    } else {
        PendingNexusOperationState::Scheduled
    };
    PendingNexusOperationInfo {
        endpoint: op.endpoint.clone(),
        service: op.service.clone(),
        operation: op.operation.clone(),
        schedule_to_close_timeout: explicit_duration(op.schedule_to_close_timeout),
        scheduled_time: timestamp(op.scheduled_time),
        state: state as i32,
        // Temporal counts the attempts made so far.
        attempt: op.attempt - 1,
        last_attempt_complete_time: (op.last_attempt_complete_time != 0)
            .then(|| timestamp(op.last_attempt_complete_time))
            .flatten(),
        last_attempt_failure: op.last_attempt_failure.clone(),
        next_attempt_schedule_time: (op.next_attempt_schedule_time != 0)
            .then(|| timestamp(op.next_attempt_schedule_time))
            .flatten(),
        cancellation_info: (op.cancel_requested_event_id != 0).then(|| {
            NexusOperationCancellationInfo {
                requested_time: timestamp(op.cancel_requested_time),
                ..Default::default()
            }
        }),
        scheduled_event_id: op.scheduled_event_id,
        operation_token: op.operation_token.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_as_temporal_prints_them() {
        assert_eq!(go_duration(10_000_000_000), "10s");
        assert_eq!(go_duration(9_500_000_000), "9.5s");
        assert_eq!(go_duration(250_000_000), "250ms");
    }
}
