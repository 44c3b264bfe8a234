//! CancelTimer: TimerCanceled; the due-time entry stays and is ignored when it fires.

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::history::{self, Attributes};
use temporalio_protos::temporal::api::{
    command::v1::CancelTimerCommandAttributes, enums::v1::EventType, history::v1 as h,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: CancelTimerCommandAttributes,
) -> ApplyResult<()> {
    let i = c
        .exec
        .timers
        .iter()
        .position(|t| t.timer_id == a.timer_id)
        .ok_or_else(|| {
            Rejection::InvalidArgument(format!("Timer {} is not pending.", a.timer_id))
        })?;
    let timer = c.exec.timers.remove(i);
    let e = history::event(
        ctx,
        EventType::TimerCanceled,
        Attributes::TimerCanceledEventAttributes(h::TimerCanceledEventAttributes {
            timer_id: timer.timer_id,
            started_event_id: timer.started_event_id,
            workflow_task_completed_event_id: c.completed_event_id,
            identity: c.identity.to_string(),
        }),
    );
    history::append(ctx, c.exec, e);
    Ok(())
}
