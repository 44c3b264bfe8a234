//! Delivering a workflow's cancellation request (RequestCancelNexusOperation) to the handler
//! of a started (asynchronous) operation, as Temporal does: a cancel task in the queue the
//! endpoint targets, retried like a start attempt, and its answer recorded as
//! NexusOperationCancelRequestCompleted or NexusOperationCancelRequestFailed. The operation
//! itself ends as its handler makes it end (a canceled handler workflow: NexusOperationCanceled
//! through its completion callback).

use super::{retry_backoff, REQUEST_TIMEOUT};
use crate::ctx::ApplyCtx;
use crate::history::{self, Attributes};
use crate::records::{ExecutionRecord, TimerKind, TimerRecord};
use crate::time::timestamp;
use crate::token::TaskToken;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    enums::v1::EventType, failure::v1::Failure, history::v1 as h, nexus::v1 as nexus,
    workflowservice::v1 as ws,
};

fn timer(exec: &ExecutionRecord, kind: TimerKind, i: usize) -> TimerRecord {
    let op = &exec.nexus_operations[i];
    TimerRecord::for_run(exec, kind, op.scheduled_event_id, op.cancel_attempt)
}

/// Starts delivering the cancellation request of operation `i` if it was asked for, the
/// operation is started and delivery has not begun.
pub(super) fn deliver_if_due(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, i: usize) {
    let op = &exec.nexus_operations[i];
    if op.cancel_requested_event_id != 0 && !op.operation_token.is_empty() && op.cancel_attempt == 0
    {
        exec.nexus_operations[i].cancel_attempt = 1;
        dispatch(ctx, exec, i);
    }
}

fn dispatch(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, i: usize) {
    let op = &mut exec.nexus_operations[i];
    op.cancel_started_time = 0;
    op.cancel_next_attempt_time = 0;
    let op = &exec.nexus_operations[i];
    super::enqueue(ctx, exec, op, op.cancel_attempt, true);
}

/// Whether operation `i` has the cancel attempt `attempt` queued (not taken, not backing off).
pub(super) fn is_queued(exec: &ExecutionRecord, i: usize, attempt: i32) -> bool {
    let op = &exec.nexus_operations[i];
    op.cancel_attempt == attempt
        && op.cancel_started_time == 0
        && op.cancel_next_attempt_time == 0
        && !op.cancel_delivered
}

/// Whether operation `i` has the cancel attempt `attempt` taken by a handler.
pub(super) fn is_running(exec: &ExecutionRecord, i: usize, attempt: i32) -> bool {
    let op = &exec.nexus_operations[i];
    op.cancel_attempt == attempt && op.cancel_started_time != 0 && !op.cancel_delivered
}

/// A handler takes the cancel attempt of operation `i`: the task it gets.
pub(super) fn start(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    i: usize,
) -> ws::PollNexusTaskQueueResponse {
    let now = ctx.now;
    exec.nexus_operations[i].cancel_started_time = now;
    let t = timer(exec, TimerKind::NexusCancelAttempt, i);
    ctx.schedule_timer(now + REQUEST_TIMEOUT, &t);
    let op = &exec.nexus_operations[i];
    let token = TaskToken {
        attempt: op.cancel_attempt,
        nexus_cancel: true,
        ..TaskToken::for_nexus(exec, op)
    };
    #[allow(deprecated)]
    let cancel = nexus::CancelOperationRequest {
        service: op.service.clone(),
        operation: op.operation.clone(),
        operation_id: op.operation_token.clone(),
        operation_token: op.operation_token.clone(),
    };
    ws::PollNexusTaskQueueResponse {
        task_token: token.to_bytes(),
        request: Some(nexus::Request {
            header: [(
                "request-timeout".to_string(),
                super::go_duration(REQUEST_TIMEOUT),
            )]
            .into(),
            scheduled_time: timestamp(now),
            capabilities: Some(nexus::request::Capabilities {
                temporal_failure_responses: true,
            }),
            endpoint: op.endpoint.clone(),
            variant: Some(nexus::request::Variant::CancelOperation(cancel)),
        }),
        ..Default::default()
    }
}

/// The handler took the cancellation request: NexusOperationCancelRequestCompleted.
pub(super) fn completed(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, i: usize) {
    let op = &mut exec.nexus_operations[i];
    op.cancel_delivered = true;
    let attributes = Attributes::NexusOperationCancelRequestCompletedEventAttributes(
        h::NexusOperationCancelRequestCompletedEventAttributes {
            requested_event_id: op.cancel_requested_event_id,
            workflow_task_completed_event_id: 0,
            scheduled_event_id: op.scheduled_event_id,
        },
    );
    record(
        ctx,
        exec,
        EventType::NexusOperationCancelRequestCompleted,
        attributes,
    );
}

/// The handler refused it for good: NexusOperationCancelRequestFailed.
pub(super) fn failed(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, i: usize, failure: Failure) {
    let op = &mut exec.nexus_operations[i];
    op.cancel_delivered = true;
    let attributes = Attributes::NexusOperationCancelRequestFailedEventAttributes(
        h::NexusOperationCancelRequestFailedEventAttributes {
            requested_event_id: op.cancel_requested_event_id,
            workflow_task_completed_event_id: 0,
            failure: Some(failure),
            scheduled_event_id: op.scheduled_event_id,
        },
    );
    record(
        ctx,
        exec,
        EventType::NexusOperationCancelRequestFailed,
        attributes,
    );
}

fn record(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    event_type: EventType,
    attributes: Attributes,
) {
    let mut e = history::event(ctx, event_type, attributes);
    // Temporal marks these as events a worker may ignore (older SDKs do not know them).
    e.worker_may_ignore = true;
    history::append_or_buffer(ctx, exec, e);
    workflow_task::ensure_scheduled(ctx, exec);
}

/// The cancel attempt failed in a way worth retrying: the next after the backoff.
pub(super) fn attempt_failed(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, i: usize) {
    let now = ctx.now;
    let op = &mut exec.nexus_operations[i];
    let backoff = retry_backoff(op.cancel_attempt);
    op.cancel_attempt += 1;
    op.cancel_started_time = 0;
    op.cancel_next_attempt_time = now + backoff;
    let t = timer(exec, TimerKind::NexusCancelRetry, i);
    ctx.schedule_timer(now + backoff, &t);
}

/// A cancel timer of operation `i` is due: an unanswered attempt, or a backoff over.
pub(super) fn timer_fired(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    i: usize,
    record: &TimerRecord,
) -> bool {
    let op = &exec.nexus_operations[i];
    let current = op.cancel_attempt == record.attempt && !op.cancel_delivered;
    match TimerKind::try_from(record.kind).unwrap_or(TimerKind::Unspecified) {
        TimerKind::NexusCancelAttempt if current && op.cancel_started_time != 0 => {
            attempt_failed(ctx, exec, i);
            true
        }
        TimerKind::NexusCancelRetry if current && op.cancel_next_attempt_time != 0 => {
            dispatch(ctx, exec, i);
            true
        }
        _ => false,
    }
}
