//! RequestCancelActivityTask: ActivityTaskCancelRequested; an activity no worker holds is
//! canceled at once, a running one learns it from its next heartbeat response.

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::history::{self, Attributes};
use temporalio_protos::temporal::api::{
    command::v1::RequestCancelActivityTaskCommandAttributes,
    common::v1::{Payload, Payloads},
    enums::v1::EventType,
    history::v1 as h,
};

/// The details Temporal gives an activity canceled before any worker started it: the JSON
/// string "ACTIVITY_ID_NOT_STARTED".
fn not_started_details() -> Payloads {
    Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data: b"\"ACTIVITY_ID_NOT_STARTED\"".to_vec(),
            ..Default::default()
        }],
    }
}

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: RequestCancelActivityTaskCommandAttributes,
) -> ApplyResult<()> {
    let i = c
        .exec
        .activities
        .iter()
        .position(|x| x.scheduled_event_id == a.scheduled_event_id)
        .ok_or_else(|| {
            Rejection::InvalidArgument(format!(
                "No pending activity with scheduled event id {}.",
                a.scheduled_event_id
            ))
        })?;
    let e = history::event(
        ctx,
        EventType::ActivityTaskCancelRequested,
        Attributes::ActivityTaskCancelRequestedEventAttributes(
            h::ActivityTaskCancelRequestedEventAttributes {
                scheduled_event_id: a.scheduled_event_id,
                workflow_task_completed_event_id: c.completed_event_id,
            },
        ),
    );
    let requested_id = history::append(ctx, c.exec, e);
    if c.exec.activities[i].started_time != 0 {
        c.exec.activities[i].cancel_requested_event_id = requested_id;
        return Ok(());
    }
    // Not held by a worker (queued or waiting to retry): canceled now, with Temporal's marker
    // details saying it never started.
    c.exec.activities.remove(i);
    let e = history::event(
        ctx,
        EventType::ActivityTaskCanceled,
        Attributes::ActivityTaskCanceledEventAttributes(h::ActivityTaskCanceledEventAttributes {
            latest_cancel_requested_event_id: requested_id,
            scheduled_event_id: a.scheduled_event_id,
            started_event_id: 0,
            identity: c.identity.to_string(),
            details: Some(not_started_details()),
            ..Default::default()
        }),
    );
    history::append(ctx, c.exec, e);
    c.new_events_for_workflow = true;
    Ok(())
}
