//! RequestCancelNexusOperation: the NexusOperationCancelRequested event for a pending
//! operation, once; a started (asynchronous) one's handler is then asked to cancel it (see
//! `nexus::cancel`). One not started yet has nothing to cancel at its handler: as in
//! Temporal, the request waits for the start, and the attempt in flight may finish it first.

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::history::{self, Attributes};
use temporalio_protos::temporal::api::{
    command::v1::RequestCancelNexusOperationCommandAttributes,
    enums::v1::{EventType, WorkflowTaskFailedCause},
    history::v1 as h,
};

fn bad(message: String) -> Rejection {
    Rejection::BadCommand {
        cause: WorkflowTaskFailedCause::BadRequestCancelNexusOperationAttributes,
        message,
    }
}

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: RequestCancelNexusOperationCommandAttributes,
) -> ApplyResult<()> {
    let id = a.scheduled_event_id;
    let pending = c
        .exec
        .nexus_operations
        .iter()
        .position(|op| op.scheduled_event_id == id);
    // An operation that ended while this workflow task ran (its outcome still buffered) may
    // be asked to cancel: the workflow could not know. The request is recorded all the same.
    let ended_meanwhile = pending.is_none()
        && c.exec.buffered_events.iter().any(|e| {
            e.attributes
                .as_ref()
                .and_then(crate::nexus::ended_operation)
                == Some(id)
        });
    if pending.is_none() && !ended_meanwhile {
        return Err(bad(format!(
            "requested cancelation for a non-existing or already completed operation with scheduled event ID of {id}"
        )));
    }
    if pending.is_some_and(|i| c.exec.nexus_operations[i].cancel_requested_event_id != 0) {
        return Err(bad(format!(
            "cancelation was already requested for an operation with scheduled event ID {id}"
        )));
    }
    let e = history::event(
        ctx,
        EventType::NexusOperationCancelRequested,
        Attributes::NexusOperationCancelRequestedEventAttributes(
            h::NexusOperationCancelRequestedEventAttributes {
                scheduled_event_id: id,
                workflow_task_completed_event_id: c.completed_event_id,
            },
        ),
    );
    let requested = history::append(ctx, c.exec, e);
    if let Some(i) = pending {
        let op = &mut c.exec.nexus_operations[i];
        op.cancel_requested_event_id = requested;
        op.cancel_requested_time = ctx.now;
        crate::nexus::cancel_requested(ctx, c.exec, i);
    }
    Ok(())
}
