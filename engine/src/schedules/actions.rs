//! A schedule's engine loop, run inside `apply` whenever something may have changed what it
//! must do (its wake-up timer, an RPC, a run of it closing):
//!
//! 1. take the scheduled times due by `now` (skipped while paused or out of actions; missed
//!    when older than the catch-up window), into the buffer;
//! 2. take up to a pass's worth of backfill times, into the buffer;
//! 3. drain the buffer through the overlap policies (Temporal's table), starting runs,
//!    cancelling or terminating the running one;
//! 4. arm the timer for the next due time (or for `now`, when work is left over).
//!
//! Everything is a function of the record and the mutation's time, so every replica takes
//! the same actions; each started run is named by the schedule's workflow id and the action's
//! nominal time, and each action leaves the record in the same write batch as its run.

use super::{compiled, jitter_seed, load, overlap_policy, push_buffer, save, state};
use super::{MAX_BUFFER, RECENT_ACTIONS, SCHEDULED_BY_ID, SCHEDULED_START_TIME};
use crate::cancel_terminate;
use crate::ctx::ApplyCtx;
use crate::execution;
use crate::history::Attributes;
use crate::outcome::Outcome;
use crate::records::{BufferedAction, ExecutionRecord, ScheduleRecord, TimerKind, TimerRecord};
use crate::search_attributes::json_payload;
use crate::start;
use crate::time::{format_rfc3339, nanos, timestamp};
use temporalio_protos::temporal::api::{
    common::v1::{Payloads, WorkflowExecution},
    enums::v1::{
        ScheduleOverlapPolicy as Overlap, WorkflowExecutionStatus as Status, WorkflowIdReusePolicy,
    },
    failure::v1::Failure,
    history::v1 as h,
    schedule::v1::{schedule_action::Action, ScheduleActionResult},
    workflowservice::v1 as ws,
};

const SEC: i64 = 1_000_000_000;
/// Times one pass takes at most (scheduled and backfilled each); more left over wakes the
/// schedule again at once, so no mutation does unbounded work.
const MAX_PER_PASS: usize = 1000;

/// The schedule's wake-up timer fired.
pub(crate) fn wake(ctx: &mut ApplyCtx, timer: &TimerRecord, key: &[u8]) {
    let Ok(mut rec) = load(ctx, &timer.namespace, &timer.workflow_id) else {
        return; // deleted
    };
    if rec.wake_key == key {
        rec.wake_key.clear();
        rec.wake_at = 0;
    }
    process(ctx, &mut rec);
}

/// Steps 1–4, then the record is saved.
pub(crate) fn process(ctx: &mut ApplyCtx, rec: &mut ScheduleRecord) {
    let mut more = take_due(ctx, rec);
    more |= take_backfills(rec);
    drain(ctx, rec);
    arm(ctx, rec, more);
    save(ctx, rec);
}

/// Step 1; true if more times are due than one pass takes.
fn take_due(ctx: &ApplyCtx, rec: &mut ScheduleRecord) -> bool {
    let spec = compiled(rec);
    let seed = jitter_seed(rec);
    let window = rec
        .schedule
        .as_ref()
        .and_then(|s| s.policies.as_ref())
        .map_or(super::DEFAULT_CATCHUP_WINDOW, |p| nanos(&p.catchup_window));
    let policy = overlap_policy(rec);
    for _ in 0..MAX_PER_PASS {
        let Some(fire) = spec.next(&seed, rec.processed_through) else {
            return false;
        };
        if fire.actual > ctx.now {
            return false;
        }
        rec.processed_through = fire.nominal;
        let state = rec
            .schedule
            .get_or_insert_with(Default::default)
            .state
            .get_or_insert_with(Default::default);
        if state.paused || (state.limited_actions && state.remaining_actions <= 0) {
            continue;
        }
        if ctx.now - fire.actual > window {
            rec.missed_catchup_window += 1;
            continue;
        }
        if state.limited_actions {
            state.remaining_actions -= 1;
        }
        push_buffer(
            rec,
            BufferedAction {
                nominal: fire.nominal,
                actual: fire.actual,
                overlap_policy: policy,
                manual: false,
            },
        );
    }
    true
}

/// Step 2; true if a backfill has times left after this pass.
fn take_backfills(rec: &mut ScheduleRecord) -> bool {
    let spec = compiled(rec);
    let seed = jitter_seed(rec);
    let mut budget = MAX_PER_PASS.min(MAX_BUFFER.saturating_sub(rec.buffer.len()));
    while let Some(backfill) = rec.backfills.first().cloned() {
        if budget == 0 {
            return true;
        }
        let fires = spec.between(&seed, backfill.after, backfill.end, budget);
        budget -= fires.len();
        let finished = budget > 0;
        for fire in &fires {
            push_buffer(
                rec,
                BufferedAction {
                    nominal: fire.nominal,
                    actual: fire.actual,
                    overlap_policy: backfill.overlap_policy,
                    manual: true,
                },
            );
        }
        if finished {
            rec.backfills.remove(0);
        } else if let Some(last) = fires.last() {
            rec.backfills[0].after = last.nominal;
        }
    }
    false
}

/// What one look at the buffer decides (Temporal's ProcessBuffer).
#[derive(Default)]
struct Decision {
    /// ALLOW_ALL actions: started now, not tracked.
    overlapping: Vec<BufferedAction>,
    /// The action started as the tracked run.
    next: Option<BufferedAction>,
    buffer: Vec<BufferedAction>,
    cancel: bool,
    terminate: bool,
    skipped: i64,
}

fn decide(buffer: Vec<BufferedAction>, running: bool) -> Decision {
    let mut d = Decision::default();
    for action in buffer {
        let policy = Overlap::try_from(action.overlap_policy).unwrap_or(Overlap::Skip);
        if policy == Overlap::AllowAll {
            d.overlapping.push(action);
            continue;
        }
        if !running && d.next.is_none() {
            d.next = Some(action);
            continue;
        }
        match policy {
            Overlap::BufferOne if d.buffer.is_empty() => d.buffer.push(action),
            Overlap::BufferAll => d.buffer.push(action),
            Overlap::CancelOther if running => {
                d.cancel = true;
                d.buffer.push(action);
            }
            Overlap::TerminateOther if running => {
                d.terminate = true;
                d.buffer.push(action);
            }
            Overlap::CancelOther | Overlap::TerminateOther => d.next = Some(action),
            _ => d.skipped += 1,
        }
    }
    if d.cancel || d.terminate {
        // They wait with the rest until the running one is gone.
        let later = std::mem::take(&mut d.buffer);
        d.buffer = std::mem::take(&mut d.overlapping);
        d.buffer.extend(later);
        d.buffer.sort_by_key(|a| a.nominal);
    }
    d
}

/// Step 3.
fn drain(ctx: &mut ApplyCtx, rec: &mut ScheduleRecord) {
    loop {
        if rec.buffer.is_empty() {
            return;
        }
        let d = decide(std::mem::take(&mut rec.buffer), !rec.running.is_empty());
        rec.buffer = d.buffer;
        rec.overlap_skipped += d.skipped;
        // Paused: a scheduled action due to start now is dropped (triggered and backfilled
        // ones still start); the ones waiting in the buffer wait on.
        let paused = state(rec).paused;
        for action in d.overlapping.iter().filter(|a| a.manual || !paused) {
            start_run(ctx, rec, action, false);
        }
        if let Some(action) = d.next.filter(|a| a.manual || !paused) {
            start_run(ctx, rec, &action, true);
        }
        if d.terminate {
            end_running(ctx, rec, true);
            continue; // nothing runs now: the buffer may start at once
        }
        if d.cancel {
            end_running(ctx, rec, false);
        }
        return;
    }
}

/// Terminates (or asks to cancel) the tracked runs, as the overlap policy says.
fn end_running(ctx: &mut ApplyCtx, rec: &mut ScheduleRecord, terminate: bool) {
    let identity = identity(rec);
    let runs = if terminate {
        // Closing them tells this schedule; it must not find them running any more.
        let runs = std::mem::take(&mut rec.running);
        save(ctx, rec);
        runs
    } else {
        rec.running.clone()
    };
    for run in runs {
        let Ok(mut exec) = execution::resolve_running(ctx, &rec.namespace, &run.workflow_id, "")
        else {
            continue;
        };
        if terminate {
            cancel_terminate::terminate_run(
                ctx,
                &mut exec,
                "terminated by schedule overlap policy".into(),
                None,
                &identity,
            );
        } else if !exec.cancel_requested {
            cancel_terminate::request_cancel_run(
                ctx,
                &mut exec,
                h::WorkflowExecutionCancelRequestedEventAttributes {
                    cause: "cancelled by schedule overlap policy".into(),
                    identity: identity.clone(),
                    ..Default::default()
                },
            );
        } else {
            continue;
        }
        execution::save(ctx, &mut exec);
    }
    if terminate {
        // The closes updated the record (recent actions' statuses): carry on from it.
        if let Ok(saved) = load(ctx, &rec.namespace, &rec.schedule_id) {
            *rec = saved;
        }
    }
}

fn identity(rec: &ScheduleRecord) -> String {
    format!("temporal-scheduler-{}-{}", rec.namespace, rec.schedule_id)
}

/// Starts the action's run: the action's workflow under the id `<id>-<nominal time>`, with
/// the schedule's search attributes and its last result or failure.
fn start_run(ctx: &mut ApplyCtx, rec: &mut ScheduleRecord, action: &BufferedAction, tracked: bool) {
    let Some(Action::StartWorkflow(info)) = rec
        .schedule
        .as_ref()
        .and_then(|s| s.action.as_ref())
        .and_then(|a| a.action.clone())
    else {
        return;
    };
    let nominal = action.nominal - action.nominal.rem_euclid(SEC);
    let workflow_id = format!("{}-{}", info.workflow_id, format_rfc3339(nominal));
    let mut attributes = info.search_attributes.clone().unwrap_or_default();
    attributes.indexed_fields.insert(
        SCHEDULED_START_TIME.into(),
        json_payload(format!("{:?}", format_rfc3339(nominal)), "Datetime"),
    );
    attributes.indexed_fields.insert(
        SCHEDULED_BY_ID.into(),
        json_payload(
            serde_json::Value::String(rec.schedule_id.clone()).to_string(),
            "Keyword",
        ),
    );
    let reuse = if action.manual {
        WorkflowIdReusePolicy::AllowDuplicate
    } else {
        WorkflowIdReusePolicy::RejectDuplicate
    };
    let run_id = ctx.derived_uuid(&format!(
        "{}\u{0}{}\u{0}{}",
        rec.namespace, rec.schedule_id, action.nominal
    ));
    let request = ws::StartWorkflowExecutionRequest {
        namespace: rec.namespace.clone(),
        workflow_id: workflow_id.clone(),
        workflow_type: info.workflow_type,
        task_queue: info.task_queue,
        input: info.input,
        workflow_execution_timeout: info.workflow_execution_timeout,
        workflow_run_timeout: info.workflow_run_timeout,
        workflow_task_timeout: info.workflow_task_timeout,
        identity: identity(rec),
        request_id: run_id.clone(),
        workflow_id_reuse_policy: reuse as i32,
        retry_policy: info.retry_policy,
        memo: info.memo,
        search_attributes: Some(attributes),
        header: info.header,
        last_completion_result: rec.last_completion_result.clone(),
        continued_failure: rec.last_failure.clone(),
        // Not on the run's started event: the builds before feature level 2 dropped it, and
        // a timer's firing carries no level of its own to tell them apart.
        user_metadata: None,
        priority: info.priority,
        ..Default::default()
    };
    let schedule_id = rec.schedule_id.clone();
    let started = start::start_with(ctx, request, run_id, None, |_, exec| {
        if tracked {
            exec.schedule_id = schedule_id;
        }
        Ok(())
    });
    // A start refused (the id is taken) is dropped, as Temporal drops it.
    let Ok(Outcome::WorkflowStarted {
        run_id,
        started: true,
    }) = started
    else {
        return;
    };
    let execution = WorkflowExecution {
        workflow_id,
        run_id,
    };
    rec.action_count += 1;
    rec.recent_actions.push(ScheduleActionResult {
        schedule_time: timestamp(action.actual),
        actual_time: timestamp(ctx.now),
        start_workflow_result: Some(execution.clone()),
        start_workflow_status: Status::Running as i32,
    });
    let excess = rec.recent_actions.len().saturating_sub(RECENT_ACTIONS);
    rec.recent_actions.drain(..excess);
    if tracked {
        rec.running.push(execution);
    }
}

/// Step 4: the timer for the next due time, or for now when a pass left work over.
fn arm(ctx: &mut ApplyCtx, rec: &mut ScheduleRecord, more: bool) {
    let state = state(rec);
    let scheduled = if state.paused || (state.limited_actions && state.remaining_actions <= 0) {
        None
    } else {
        compiled(rec)
            .next(&jitter_seed(rec), rec.processed_through)
            .map(|f| f.actual)
    };
    let now = (more || !rec.backfills.is_empty()).then_some(ctx.now);
    let next = match (scheduled, now) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if next == Some(rec.wake_at) && !rec.wake_key.is_empty() {
        return;
    }
    if !rec.wake_key.is_empty() {
        ctx.delete(std::mem::take(&mut rec.wake_key));
    }
    rec.wake_at = 0;
    if let Some(at) = next {
        let timer = TimerRecord {
            kind: TimerKind::ScheduleWake as i32,
            namespace: rec.namespace.clone(),
            workflow_id: rec.schedule_id.clone(),
            ..Default::default()
        };
        rec.wake_key = ctx.schedule_timer(at, &timer);
        rec.wake_at = at;
    }
}

/// How a run's chain ended, for its schedule; `None` when another run follows.
enum RunEnd {
    Completed(Option<Payloads>),
    Failed(Box<Failure>),
    TimedOut,
    Canceled,
    Terminated,
}

fn run_end(attributes: &Attributes) -> Option<RunEnd> {
    use Attributes as A;
    Some(match attributes {
        A::WorkflowExecutionCompletedEventAttributes(a) if a.new_execution_run_id.is_empty() => {
            RunEnd::Completed(a.result.clone())
        }
        A::WorkflowExecutionFailedEventAttributes(a) if a.new_execution_run_id.is_empty() => {
            RunEnd::Failed(Box::new(a.failure.clone().unwrap_or_default()))
        }
        A::WorkflowExecutionTimedOutEventAttributes(a) if a.new_execution_run_id.is_empty() => {
            RunEnd::TimedOut
        }
        A::WorkflowExecutionCanceledEventAttributes(_) => RunEnd::Canceled,
        A::WorkflowExecutionTerminatedEventAttributes(_) => RunEnd::Terminated,
        _ => return None,
    })
}

/// A run a schedule started closed with `attributes` (called from `execution::close`).
pub(crate) fn on_run_closed(ctx: &mut ApplyCtx, exec: &ExecutionRecord, attributes: &Attributes) {
    let Some(end) = run_end(attributes) else {
        return;
    };
    let Ok(mut rec) = load(ctx, &exec.namespace, &exec.schedule_id) else {
        return; // the schedule was deleted; its runs outlive it
    };
    let status = match &end {
        RunEnd::Completed(_) => Status::Completed,
        RunEnd::Failed(_) => Status::Failed,
        RunEnd::TimedOut => Status::TimedOut,
        RunEnd::Canceled => Status::Canceled,
        RunEnd::Terminated => Status::Terminated,
    };
    if let Some(action) = rec.recent_actions.iter_mut().find(|a| {
        a.start_workflow_result
            .as_ref()
            .is_some_and(|r| r.workflow_id == exec.workflow_id)
    }) {
        action.start_workflow_status = status as i32;
    }
    let Some(i) = rec
        .running
        .iter()
        .position(|r| r.workflow_id == exec.workflow_id)
    else {
        save(ctx, &rec); // ended by the schedule itself (terminate-other)
        return;
    };
    rec.running.remove(i);
    let pause_on_failure = rec
        .schedule
        .as_ref()
        .and_then(|s| s.policies.as_ref())
        .is_some_and(|p| p.pause_on_failure);
    let notes = match &end {
        RunEnd::Failed(f) => Some(format!(
            "paused due to workflow failure: {}: {}",
            exec.workflow_id, f.message
        )),
        RunEnd::TimedOut => Some(format!(
            "paused due to workflow timeout: {}",
            exec.workflow_id
        )),
        _ => None,
    };
    let state = rec
        .schedule
        .get_or_insert_with(Default::default)
        .state
        .get_or_insert_with(Default::default);
    if let Some(notes) = notes.filter(|_| pause_on_failure && !state.paused) {
        state.paused = true;
        state.notes = notes;
        rec.conflict_token += 1;
    }
    match end {
        RunEnd::Completed(result) => {
            rec.last_completion_result = result;
            rec.last_failure = None;
        }
        RunEnd::Failed(failure) => rec.last_failure = Some(*failure),
        RunEnd::TimedOut | RunEnd::Canceled | RunEnd::Terminated => {}
    }
    process(ctx, &mut rec);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(nominal: i64, policy: Overlap) -> BufferedAction {
        BufferedAction {
            nominal,
            actual: nominal,
            overlap_policy: policy as i32,
            manual: false,
        }
    }

    #[test]
    fn the_overlap_table() {
        let two = |p| vec![action(1, p), action(2, p), action(3, p)];
        let idle = decide(two(Overlap::Skip), false);
        assert_eq!(idle.next.map(|a| a.nominal), Some(1));
        assert_eq!(idle.skipped, 2);
        let skip = decide(two(Overlap::Skip), true);
        assert!(skip.next.is_none() && skip.buffer.is_empty());
        assert_eq!(skip.skipped, 3);
        let one = decide(two(Overlap::BufferOne), true);
        assert_eq!(one.buffer.len(), 1);
        assert_eq!(one.skipped, 2);
        let all = decide(two(Overlap::BufferAll), true);
        assert_eq!(all.buffer.len(), 3);
        let cancel = decide(two(Overlap::CancelOther), true);
        assert!(cancel.cancel && cancel.buffer.len() == 3 && cancel.next.is_none());
        let terminate = decide(two(Overlap::TerminateOther), true);
        assert!(terminate.terminate);
        // Nothing running: the latest of terminate-other's actions wins.
        let after = decide(two(Overlap::TerminateOther), false);
        assert_eq!(after.next.map(|a| a.nominal), Some(3));
        let allow = decide(two(Overlap::AllowAll), true);
        assert_eq!(allow.overlapping.len(), 3);
    }
}
