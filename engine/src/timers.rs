//! Due times firing: the timer service proposes `FireTimers` with keys it found due, and
//! each key is dispatched to the concept it guards. Every timeout Temporal has is a timer here.

use crate::activity;
use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::execution::{self, is_running};
use crate::history::{self, Attributes};
use crate::keys;
use crate::mutation::FireTimers;
use crate::outcome::Outcome;
use crate::records::{ExecutionRecord, TimerKind, TimerRecord};
use crate::retention;
use crate::retry;
use crate::schedules;
use crate::start::{self, CronOutcome};
use crate::sticky;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    enums::v1::{EventType, RetryState, TimeoutType, WorkflowExecutionStatus},
    failure::v1::{failure::FailureInfo, Failure, TimeoutFailureInfo},
    history::v1 as h,
};

pub(crate) fn fire(ctx: &mut ApplyCtx, m: FireTimers) -> ApplyResult<Outcome> {
    for (i, key) in m.keys.into_iter().enumerate() {
        let next_run_id = m.next_run_ids.get(i).cloned().unwrap_or_default();
        // A key already fired (a repeated proposal) or not a timer key is skipped.
        let Some(fire_at) = keys::decode_timer(&key) else {
            continue;
        };
        let Some(record) = ctx.get::<TimerRecord>(&key)? else {
            continue;
        };
        if fire_at > ctx.now {
            continue; // never early by the replicated clock
        }
        ctx.delete(key.clone());
        if record.kind == TimerKind::ScheduleWake as i32 {
            schedules::wake(ctx, &record, &key);
            continue;
        }
        let Ok(mut exec) = execution::load_for(
            ctx,
            &record.namespace,
            &record.workflow_id,
            &record.run_id,
            record.standalone,
        ) else {
            continue;
        };
        if record.kind == TimerKind::Retention as i32 {
            retention::expired(ctx, &exec)?;
            continue;
        }
        if !is_running(&exec) {
            continue;
        }
        match TimerKind::try_from(record.kind).unwrap_or(TimerKind::Unspecified) {
            TimerKind::UserTimer => user_timer_fired(ctx, &mut exec, record.target),
            TimerKind::WorkflowTaskStartToClose => {
                workflow_task::timed_out(ctx, &mut exec, record.target as u64)
            }
            TimerKind::WorkflowRunTimeout => run_timed_out(ctx, &mut exec, &next_run_id)?,
            TimerKind::WorkflowTaskScheduleToStart => {
                sticky::schedule_to_start_timed_out(ctx, &mut exec, record.target as u64)
            }
            TimerKind::WorkflowBackoff => {
                workflow_task::ensure_scheduled(ctx, &mut exec);
                execution::save(ctx, &mut exec);
            }
            TimerKind::ActivityStartToClose
            | TimerKind::ActivityScheduleToClose
            | TimerKind::ActivityRetry
            | TimerKind::ActivityHeartbeat
            | TimerKind::ActivityScheduleToStart => activity::timer_fired(ctx, &mut exec, &record),
            TimerKind::NexusScheduleToClose
            | TimerKind::NexusAttempt
            | TimerKind::NexusRetry
            | TimerKind::NexusCancelAttempt
            | TimerKind::NexusCancelRetry => crate::nexus::timer_fired(ctx, &mut exec, &record),
            TimerKind::Unspecified | TimerKind::Retention | TimerKind::ScheduleWake => {}
        }
    }
    Ok(Outcome::Done)
}

fn user_timer_fired(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, started_event_id: i64) {
    let Some(i) = exec
        .timers
        .iter()
        .position(|t| t.started_event_id == started_event_id)
    else {
        return; // cancelled
    };
    let timer = exec.timers.remove(i);
    let e = history::event(
        ctx,
        EventType::TimerFired,
        Attributes::TimerFiredEventAttributes(h::TimerFiredEventAttributes {
            timer_id: timer.timer_id,
            started_event_id,
        }),
    );
    history::append_or_buffer(ctx, exec, e);
    workflow_task::ensure_scheduled(ctx, exec);
    execution::save(ctx, exec);
}

/// The run ran out of time; with a retry policy that allows another attempt (and a run id
/// stamped for it), the workflow continues in a new run after the backoff.
fn run_timed_out(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    next_run_id: &str,
) -> ApplyResult<()> {
    history::flush_buffered(ctx, exec);
    let failure = Failure {
        message: "workflow timeout".into(),
        source: "Server".into(),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: TimeoutType::StartToClose as i32,
            last_heartbeat_details: None,
        })),
        ..Default::default()
    };
    // The execution timeout is over (not just this run's): no retry, whatever the policy.
    let execution_expired = exec.execution_deadline > 0 && ctx.now >= exec.execution_deadline;
    let retry = match &exec.retry_policy {
        _ if execution_expired => Err(RetryState::Timeout),
        Some(_) if next_run_id.is_empty() => Err(RetryState::InternalServerError),
        Some(policy) => retry::backoff(
            policy,
            exec.attempt,
            &failure,
            ctx.now,
            exec.execution_deadline,
        ),
        None => Err(RetryState::RetryPolicyNotSet),
    };
    let cron = match retry {
        Ok(_) => None,
        Err(_) => start::cron_backoff(ctx, exec).filter(|_| !next_run_id.is_empty()),
    };
    let (retry_state, new_execution_run_id) = match retry {
        Ok(_) => (RetryState::InProgress, next_run_id.to_string()),
        Err(state) if cron.is_some() => (state, next_run_id.to_string()),
        Err(state) => (state, String::new()),
    };
    let attrs = Attributes::WorkflowExecutionTimedOutEventAttributes(
        h::WorkflowExecutionTimedOutEventAttributes {
            retry_state: retry_state as i32,
            new_execution_run_id,
        },
    );
    execution::close(
        ctx,
        exec,
        WorkflowExecutionStatus::TimedOut,
        EventType::WorkflowExecutionTimedOut,
        attrs,
    );
    execution::save(ctx, exec);
    if let Ok(backoff) = retry {
        start::retry_run(ctx, exec, next_run_id, backoff, failure)?;
    } else if let Some(backoff) = cron {
        start::cron_run(
            ctx,
            exec,
            next_run_id,
            backoff,
            CronOutcome::Failed(Box::new(failure)),
        )?;
    }
    Ok(())
}
