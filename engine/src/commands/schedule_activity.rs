//! ScheduleActivityTask: timeouts and retry policy normalised as Temporal does, the
//! ActivityTaskScheduled event, the task in its queue (or held for eager dispatch) and the
//! schedule-to-close timer.

use super::CommandCtx;
use crate::activity;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::history::{self, Attributes};
use crate::priority;
use crate::records::ActivityInfo;
use crate::time::{duration, explicit_duration, nanos, secs};
use crate::validate;
use temporalio_protos::temporal::api::{
    command::v1::ScheduleActivityTaskCommandAttributes,
    common::v1::RetryPolicy,
    enums::v1::{EventType, TaskQueueKind, WorkflowTaskFailedCause},
    history::v1 as h,
    taskqueue::v1::TaskQueue,
};

/// Temporal's limit on pending activities per run.
pub(crate) const MAX_PENDING_ACTIVITIES: usize = 2000;

/// An activity's four timeouts (nanoseconds, 0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub schedule_to_close: i64,
    pub schedule_to_start: i64,
    pub start_to_close: i64,
    pub heartbeat: i64,
}

impl Timeouts {
    /// Temporal's normalisation: bounded by the run timeout (0 = none), the missing ones
    /// derived from the rest, the heartbeat timeout no longer than start-to-close.
    pub(crate) fn normalised(
        self,
        run_timeout: i64,
        activity_id: &str,
        activity_type: &str,
    ) -> ApplyResult<Timeouts> {
        let Timeouts {
            mut schedule_to_close,
            mut schedule_to_start,
            mut start_to_close,
            heartbeat,
        } = self;
        if [
            schedule_to_close,
            schedule_to_start,
            start_to_close,
            heartbeat,
        ]
        .iter()
        .any(|t| *t < 0)
        {
            return Err(Rejection::InvalidArgument(
                "A valid timeout may not be negative.".into(),
            ));
        }
        if schedule_to_close == 0 && start_to_close == 0 {
            return Err(Rejection::InvalidArgument(format!(
                "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. ActivityId={activity_id} ActivityType={activity_type}"
            )));
        }
        let cap = |t: i64| {
            if run_timeout > 0 && (t == 0 || t > run_timeout) {
                run_timeout
            } else {
                t
            }
        };
        schedule_to_close = cap(schedule_to_close);
        if schedule_to_close > 0 {
            schedule_to_start = if schedule_to_start == 0 {
                schedule_to_close
            } else {
                schedule_to_start.min(schedule_to_close)
            };
            start_to_close = if start_to_close == 0 {
                schedule_to_close
            } else {
                start_to_close.min(schedule_to_close)
            };
        } else {
            schedule_to_start = cap(schedule_to_start);
        }
        Ok(Timeouts {
            schedule_to_close,
            schedule_to_start,
            start_to_close,
            heartbeat: heartbeat.min(start_to_close),
        })
    }
}

/// Temporal's default activity retry policy, with the caller's fields where set.
pub(crate) fn retry_policy(given: Option<RetryPolicy>) -> RetryPolicy {
    let mut p = given.unwrap_or_default();
    if nanos(&p.initial_interval) <= 0 {
        p.initial_interval = duration(secs(1));
    }
    if p.backoff_coefficient == 0.0 {
        p.backoff_coefficient = 2.0;
    }
    if nanos(&p.maximum_interval) <= 0 {
        p.maximum_interval = duration(100 * nanos(&p.initial_interval));
    }
    p
}

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: ScheduleActivityTaskCommandAttributes,
) -> ApplyResult<()> {
    validate::id("ActivityId", &a.activity_id).map_err(Rejection::InvalidArgument)?;
    let activity_type = a.activity_type.clone().unwrap_or_default().name;
    validate::id("ActivityType", &activity_type).map_err(Rejection::InvalidArgument)?;
    let priority =
        priority::checked(ctx, a.priority.clone()).map_err(Rejection::InvalidArgument)?;
    if let Some(input) = &a.input {
        validate::payload_size("ScheduleActivityTaskCommandAttributes.Input", input)
            .map_err(Rejection::InvalidArgument)?;
    }
    if c.exec
        .activities
        .iter()
        .any(|x| x.activity_id == a.activity_id)
    {
        return Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::ScheduleActivityDuplicateId,
            message: format!(
                "Activity ID {} is already in use by a pending activity.",
                a.activity_id
            ),
        });
    }
    if c.exec.activities.len() >= MAX_PENDING_ACTIVITIES {
        return Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::PendingActivitiesLimitExceeded,
            message: format!(
                "the number of pending activities, {}, has reached the per-workflow limit of {MAX_PENDING_ACTIVITIES}",
                c.exec.activities.len()
            ),
        });
    }
    let mut task_queue = a.task_queue.clone().map(|q| q.name).unwrap_or_default();
    if task_queue.is_empty() {
        task_queue = c.exec.task_queue.clone();
    }

    let Timeouts {
        schedule_to_close,
        schedule_to_start,
        start_to_close,
        heartbeat,
    } = Timeouts {
        schedule_to_close: nanos(&a.schedule_to_close_timeout),
        schedule_to_start: nanos(&a.schedule_to_start_timeout),
        start_to_close: nanos(&a.start_to_close_timeout),
        heartbeat: nanos(&a.heartbeat_timeout),
    }
    .normalised(c.exec.run_timeout, &a.activity_id, &activity_type)?;
    let retry_policy = retry_policy(a.retry_policy.clone());

    let e = history::event(
        ctx,
        EventType::ActivityTaskScheduled,
        Attributes::ActivityTaskScheduledEventAttributes(h::ActivityTaskScheduledEventAttributes {
            activity_id: a.activity_id.clone(),
            activity_type: a.activity_type.clone(),
            task_queue: Some(TaskQueue {
                name: task_queue.clone(),
                kind: TaskQueueKind::Normal as i32,
                ..Default::default()
            }),
            header: a.header.clone(),
            input: a.input.clone(),
            schedule_to_close_timeout: explicit_duration(schedule_to_close),
            schedule_to_start_timeout: explicit_duration(schedule_to_start),
            start_to_close_timeout: explicit_duration(start_to_close),
            heartbeat_timeout: explicit_duration(heartbeat),
            workflow_task_completed_event_id: c.completed_event_id,
            retry_policy: Some(retry_policy.clone()),
            priority: a.priority.clone(),
            use_workflow_build_id: a.use_workflow_build_id,
        }),
    );
    let scheduled_event_id = history::append(ctx, c.exec, e);
    let info = ActivityInfo {
        scheduled_event_id,
        activity_id: a.activity_id,
        activity_type,
        task_queue,
        header: a.header,
        input: a.input,
        schedule_to_close_timeout: schedule_to_close,
        schedule_to_start_timeout: schedule_to_start,
        start_to_close_timeout: start_to_close,
        heartbeat_timeout: heartbeat,
        retry_policy: Some(retry_policy),
        attempt: 1,
        scheduled_time: ctx.now,
        current_attempt_scheduled_time: ctx.now,
        use_workflow_build_id: a.use_workflow_build_id,
        priority,
        ..Default::default()
    };
    // Eager dispatch (if the leader allowed it): no task in a queue; the activity starts for
    // the completing worker once every command is applied.
    let eager = a
        .request_eager_execution
        .then(|| c.eager_request_ids.next())
        .flatten();
    match eager {
        Some(request_id) => {
            activity::arm_schedule_to_close(ctx, c.exec, &info);
            c.eager_activities.push((scheduled_event_id, request_id));
        }
        None => activity::schedule(ctx, c.exec, &info),
    }
    c.exec.activities.push(info);
    Ok(())
}
