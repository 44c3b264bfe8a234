//! StartTimer: TimerStarted now, TimerFired when the timer service proposes it.

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::history::{self, Attributes};
use crate::records::{TimerInfo, TimerKind, TimerRecord};
use crate::time::nanos;
use crate::validate;
use temporalio_protos::temporal::api::{
    command::v1::StartTimerCommandAttributes,
    enums::v1::{EventType, WorkflowTaskFailedCause},
    history::v1 as h,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: StartTimerCommandAttributes,
) -> ApplyResult<()> {
    validate::id("TimerId", &a.timer_id).map_err(Rejection::InvalidArgument)?;
    let fire_in = nanos(&a.start_to_fire_timeout);
    if fire_in <= 0 {
        return Err(Rejection::InvalidArgument(
            "A valid StartToFireTimeout is not set on StartTimerCommand.".into(),
        ));
    }
    if c.exec.timers.iter().any(|t| t.timer_id == a.timer_id) {
        return Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::StartTimerDuplicateId,
            message: format!("Timer {} is already pending.", a.timer_id),
        });
    }
    let e = history::event(
        ctx,
        EventType::TimerStarted,
        Attributes::TimerStartedEventAttributes(h::TimerStartedEventAttributes {
            timer_id: a.timer_id.clone(),
            start_to_fire_timeout: a.start_to_fire_timeout,
            workflow_task_completed_event_id: c.completed_event_id,
        }),
    );
    let started_event_id = history::append(ctx, c.exec, e);
    let fire_time = ctx.now.saturating_add(fire_in);
    c.exec.timers.push(TimerInfo {
        timer_id: a.timer_id,
        started_event_id,
        fire_time,
    });
    let record = TimerRecord::for_run(c.exec, TimerKind::UserTimer, started_event_id, 0);
    ctx.schedule_timer(fire_time, &record);
    Ok(())
}
