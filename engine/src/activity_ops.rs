//! An operator's hand on a workflow's pending activities: PauseActivity, UnpauseActivity,
//! ResetActivity and UpdateActivityOptions, each naming one activity by id, every pending
//! one of a type, or all of them. Every change moves the activity's stamp on, so the tasks
//! and timers armed before it are stale, and arms what the new state needs
//! (`activity::resume`). Nothing of this reaches history: as on Temporal, only the attempts
//! (their count, their last failure) show what an operator did.

use crate::activity;
use crate::commands::schedule_activity::{retry_policy, Timeouts};
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution;
use crate::keys;
use crate::mutation::{ResetActivity, UnpauseActivity};
use crate::outcome::Outcome;
use crate::records::{ActivityInfo, ActivityPauseInfo, ExecutionRecord};
use crate::search_attributes::json_payload;
use crate::time::{explicit_duration, nanos};
use std::collections::BTreeSet;
use temporalio_protos::temporal::api::{
    activity::v1::ActivityOptions,
    common::v1::{RetryPolicy, WorkflowExecution},
    enums::v1::TaskQueueKind,
    history::v1::{history_event::Attributes, HistoryEvent},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{self as ws, pause_activity_request, reset_activity_request},
    workflowservice::v1::{unpause_activity_request, update_activity_options_request},
};

/// The system search attribute naming what is paused in a run.
const PAUSE_INFO: &str = "TemporalPauseInfo";

/// Keeps TemporalPauseInfo as Temporal does: a `property:activityType=<type>` entry for each
/// type with a paused activity (sorted here, so replicas agree), so `TemporalPauseInfo IS NOT
/// NULL` finds runs with paused activities. When none is paused any more the attribute is
/// removed (Temporal keeps an empty list). A run never paused is left untouched.
pub(crate) fn sync_pause_info(exec: &mut ExecutionRecord) {
    let paused: BTreeSet<&str> = exec
        .activities
        .iter()
        .filter(|a| a.paused)
        .map(|a| a.activity_type.as_str())
        .collect();
    if paused.is_empty() {
        if let Some(attributes) = &mut exec.search_attributes {
            if attributes.indexed_fields.remove(PAUSE_INFO).is_some()
                && attributes.indexed_fields.is_empty()
            {
                exec.search_attributes = None;
            }
        }
        return;
    }
    let entries: Vec<String> = paused
        .iter()
        .map(|t| format!("property:activityType={t}"))
        .collect();
    let json = serde_json::to_vec(&entries).unwrap_or_default();
    exec.search_attributes
        .get_or_insert_with(Default::default)
        .indexed_fields
        .insert(PAUSE_INFO.into(), json_payload(json, "KeywordList"));
}

/// Temporal's answer when no pending activity matches.
fn activity_not_found() -> Rejection {
    Rejection::NotFound(
        "Can't find pending activity with such ID. Invalid activityID or activity already completed"
            .into(),
    )
}

fn target_not_set() -> Rejection {
    Rejection::InvalidArgument(
        "Either Activity.Id or Activity.Type should be set on request.".into(),
    )
}

/// Which pending activities a request names.
enum Target<'a> {
    Id(&'a str),
    Type(&'a str),
    All,
}

/// The indexes of the pending activities `target` names; none is NOT_FOUND.
fn matching(exec: &ExecutionRecord, target: &Target) -> ApplyResult<Vec<usize>> {
    let found: Vec<usize> = exec
        .activities
        .iter()
        .enumerate()
        .filter(|(_, a)| match target {
            Target::Id(id) => a.activity_id == *id,
            Target::Type(t) => a.activity_type == *t,
            Target::All => true,
        })
        .map(|(i, _)| i)
        .collect();
    if found.is_empty() {
        return Err(activity_not_found());
    }
    Ok(found)
}

/// The open run a request names (its current run without a run id).
fn running(
    ctx: &ApplyCtx,
    namespace: &str,
    execution: &Option<WorkflowExecution>,
) -> ApplyResult<ExecutionRecord> {
    let e = execution.clone().unwrap_or_default();
    execution::resolve_running(ctx, namespace, &e.workflow_id, &e.run_id)
}

/// A share of `jitter` for one activity, drawn from the leader's seed (splitmix64), so every
/// replica computes the same delay and activities of one request spread out.
fn jitter_delay(seed: u64, scheduled_event_id: i64, jitter: i64) -> i64 {
    if jitter <= 0 {
        return 0;
    }
    let mut z = seed ^ (scheduled_event_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % jitter as u64) as i64
}

fn clear_heartbeat(a: &mut ActivityInfo) {
    a.heartbeat_details = None;
    a.last_heartbeat_time = 0;
}

fn unpaused(a: &mut ActivityInfo) {
    a.paused = false;
    a.pause_info = None;
}

/// PauseActivity: no further attempt is dispatched and no deadline acts until unpaused. A
/// running attempt goes on; its heartbeats answer `activity_paused`, and if it fails its next
/// attempt waits for the unpause, whatever the retry policy says. Pausing again with the same
/// request id is a no-op; with another it is FAILED_PRECONDITION, as on Temporal.
pub(crate) fn pause(ctx: &mut ApplyCtx, req: ws::PauseActivityRequest) -> ApplyResult<Outcome> {
    let target = match &req.activity {
        Some(pause_activity_request::Activity::Id(id)) => Target::Id(id),
        Some(pause_activity_request::Activity::Type(t)) => Target::Type(t),
        None => return Err(target_not_set()),
    };
    let mut exec = running(ctx, &req.namespace, &req.execution)?;
    for i in matching(&exec, &target)? {
        let a = &mut exec.activities[i];
        if a.paused {
            let same_request = a
                .pause_info
                .as_ref()
                .is_some_and(|p| p.request_id == req.request_id);
            if same_request {
                continue;
            }
            return Err(Rejection::FailedPrecondition(
                "activity is already paused".into(),
            ));
        }
        a.paused = true;
        a.pause_info = Some(ActivityPauseInfo {
            pause_time: ctx.now,
            identity: req.identity.clone(),
            reason: req.reason.clone(),
            request_id: req.request_id.clone(),
        });
        a.stamp += 1;
    }
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

/// UnpauseActivity: paused activities go on where they stopped (an attempt not running is
/// dispatched now, or within the jitter), optionally with the attempt count and heartbeat
/// details reset; activities that are not paused are left alone.
pub(crate) fn unpause(ctx: &mut ApplyCtx, m: UnpauseActivity) -> ApplyResult<Outcome> {
    let req = m.request.unwrap_or_default();
    let target = match &req.activity {
        Some(unpause_activity_request::Activity::Id(id)) => Target::Id(id),
        Some(unpause_activity_request::Activity::Type(t)) => Target::Type(t),
        Some(unpause_activity_request::Activity::UnpauseAll(_)) => Target::All,
        None => return Err(target_not_set()),
    };
    let jitter = nanos(&req.jitter);
    let mut exec = running(ctx, &req.namespace, &req.execution)?;
    for i in matching(&exec, &target)? {
        let a = &mut exec.activities[i];
        if !a.paused {
            continue;
        }
        unpaused(a);
        a.stamp += 1;
        if req.reset_attempts {
            restart_attempts(a);
        }
        if req.reset_heartbeat {
            clear_heartbeat(a);
        }
        let delay = jitter_delay(m.jitter_seed, a.scheduled_event_id, jitter);
        activity::resume(ctx, &mut exec, i, Some(delay));
    }
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

/// The attempt count starts over: at once for an activity waiting for its next attempt; for
/// a running attempt when it ends (its task token must stay valid), which its heartbeats are
/// told (`activity_reset`).
fn restart_attempts(a: &mut ActivityInfo) {
    if a.started_time != 0 {
        a.reset_requested = true;
    } else {
        a.attempt = 1;
    }
}

/// ResetActivity: the activity starts over as if just scheduled: attempt 1, dispatched now
/// (or within the jitter) unless an attempt is running, unpaused unless `keep_paused`,
/// optionally with its heartbeat details dropped and its original options back.
pub(crate) fn reset(ctx: &mut ApplyCtx, m: ResetActivity) -> ApplyResult<Outcome> {
    let req = m.request.unwrap_or_default();
    let target = match &req.activity {
        Some(reset_activity_request::Activity::Id(id)) => Target::Id(id),
        Some(reset_activity_request::Activity::Type(t)) => Target::Type(t),
        Some(reset_activity_request::Activity::MatchAll(_)) => Target::All,
        None => return Err(target_not_set()),
    };
    let jitter = nanos(&req.jitter);
    let mut exec = running(ctx, &req.namespace, &req.execution)?;
    for i in matching(&exec, &target)? {
        if req.restore_original_options {
            let original = original_options(ctx, &exec, &exec.activities[i])?;
            set_options(ctx, &mut exec.activities[i], &original);
        }
        let a = &mut exec.activities[i];
        if a.paused && !req.keep_paused {
            unpaused(a);
        }
        a.stamp += 1;
        restart_attempts(a);
        if req.reset_heartbeat {
            if a.started_time != 0 {
                a.reset_heartbeats = true;
            } else {
                clear_heartbeat(a);
            }
        }
        if !a.paused {
            let delay = jitter_delay(m.jitter_seed, a.scheduled_event_id, jitter);
            activity::resume(ctx, &mut exec, i, Some(delay));
        }
    }
    execution::save(ctx, &mut exec);
    Ok(Outcome::Done)
}

/// UpdateActivityOptions: the fields the update mask names (paths in either proto or JSON
/// spelling, unknown ones ignored as Temporal ignores them) are taken from the request, the
/// timeouts normalised as at scheduling; or, with `restore_original`, the options of the
/// ActivityTaskScheduled event come back. A running attempt keeps running under the new
/// deadlines; one waiting is dispatched again (to the new queue, if it moved). Answers with
/// the options the last matching activity has now.
pub(crate) fn update_options(
    ctx: &mut ApplyCtx,
    req: ws::UpdateActivityOptionsRequest,
) -> ApplyResult<Outcome> {
    let invalid = |m: &str| Rejection::InvalidArgument(m.to_string());
    let paths: Vec<String> = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.iter().map(|p| json_path(p)).collect())
        .unwrap_or_default();
    if req.restore_original && !paths.is_empty() {
        return Err(invalid("Both UpdateMask and RestoreOriginal are provided"));
    }
    let target = match &req.activity {
        Some(update_activity_options_request::Activity::Id(id)) => Target::Id(id),
        Some(update_activity_options_request::Activity::Type(t)) => Target::Type(t),
        Some(update_activity_options_request::Activity::MatchAll(_)) => Target::All,
        None => return Err(target_not_set()),
    };
    let mut exec = running(ctx, &req.namespace, &req.execution)?;
    let mut last = None;
    if req.restore_original {
        for i in matching(&exec, &target)? {
            let original = original_options(ctx, &exec, &exec.activities[i])?;
            last = Some(change_options(ctx, &mut exec, i, &original));
        }
    } else {
        let given = req
            .activity_options
            .as_ref()
            .ok_or_else(|| invalid("ActivityOptions are not provided"))?;
        let found = matching(&exec, &target)?;
        if req.update_mask.is_none() {
            return Err(invalid("UpdateMask is not provided"));
        }
        for i in found {
            let a = &exec.activities[i];
            let merged = merge(options_of(a), given, &paths)?;
            let adjusted = normalised(merged, &exec.task_queue, a)?;
            last = Some(change_options(ctx, &mut exec, i, &adjusted));
        }
    }
    execution::save(ctx, &mut exec);
    Ok(Outcome::ActivityOptions(Box::new(last.unwrap_or_default())))
}

/// Sets the options of activity `i`, moves its stamp on and arms what it needs now.
fn change_options(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    i: usize,
    options: &ActivityOptions,
) -> ActivityOptions {
    let a = &mut exec.activities[i];
    set_options(ctx, a, options);
    a.stamp += 1;
    if !a.paused {
        activity::resume(ctx, exec, i, None);
    } else if a.started_time == 0 {
        // Temporal regenerates the retry task of a paused activity too (which forgets the
        // last failure); it is dispatched only once unpaused.
        activity::forget_last_attempt(a);
    }
    options_of(&exec.activities[i])
}

/// An activity's options as UpdateActivityOptions answers them.
pub fn options_of(a: &ActivityInfo) -> ActivityOptions {
    ActivityOptions {
        task_queue: Some(TaskQueue {
            name: a.task_queue.clone(),
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        }),
        schedule_to_close_timeout: explicit_duration(a.schedule_to_close_timeout),
        schedule_to_start_timeout: explicit_duration(a.schedule_to_start_timeout),
        start_to_close_timeout: explicit_duration(a.start_to_close_timeout),
        heartbeat_timeout: explicit_duration(a.heartbeat_timeout),
        retry_policy: a.retry_policy.clone(),
        priority: a.priority.clone(),
        ..Default::default()
    }
}

fn set_options(ctx: &ApplyCtx, a: &mut ActivityInfo, o: &ActivityOptions) {
    if crate::priority::kept(ctx) {
        a.priority = o.priority.clone();
    }
    if let Some(q) = &o.task_queue {
        a.task_queue = q.name.clone();
    }
    a.schedule_to_close_timeout = nanos(&o.schedule_to_close_timeout);
    a.schedule_to_start_timeout = nanos(&o.schedule_to_start_timeout);
    a.start_to_close_timeout = nanos(&o.start_to_close_timeout);
    a.heartbeat_timeout = nanos(&o.heartbeat_timeout);
    if o.retry_policy.is_some() {
        a.retry_policy = o.retry_policy.clone();
    }
}

/// The options the activity was scheduled with, from its ActivityTaskScheduled event.
fn original_options(
    ctx: &ApplyCtx,
    exec: &ExecutionRecord,
    a: &ActivityInfo,
) -> ApplyResult<ActivityOptions> {
    let key = keys::history_event(
        &exec.namespace,
        &exec.workflow_id,
        &exec.run_id,
        a.scheduled_event_id,
    );
    let event: Option<HistoryEvent> = ctx.get(&key)?;
    match event.and_then(|e| e.attributes) {
        Some(Attributes::ActivityTaskScheduledEventAttributes(s)) => Ok(ActivityOptions {
            task_queue: s.task_queue,
            schedule_to_close_timeout: s.schedule_to_close_timeout,
            schedule_to_start_timeout: s.schedule_to_start_timeout,
            start_to_close_timeout: s.start_to_close_timeout,
            heartbeat_timeout: s.heartbeat_timeout,
            retry_policy: s.retry_policy,
            priority: s.priority,
            ..Default::default()
        }),
        _ => Err(Rejection::InvalidArgument(
            "ActivityTaskScheduledEvent not found".into(),
        )),
    }
}

/// A field mask path in the JSON spelling Temporal compares (`start_to_close_timeout` and
/// `startToCloseTimeout` are the same path).
fn json_path(path: &str) -> String {
    path.split('.')
        .map(|part| {
            let mut out = String::with_capacity(part.len());
            let mut upper = false;
            for ch in part.chars() {
                if ch == '_' {
                    upper = true;
                } else if upper {
                    out.extend(ch.to_uppercase());
                    upper = false;
                } else {
                    out.push(ch);
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// `into` with the fields `paths` name taken from `from`, as Temporal merges them.
fn merge(
    mut into: ActivityOptions,
    from: &ActivityOptions,
    paths: &[String],
) -> ApplyResult<ActivityOptions> {
    let missing = |what: &str| Rejection::InvalidArgument(format!("{what} is not provided"));
    let has = |p: &str| paths.iter().any(|x| x == p);
    if has("taskQueue.name") {
        let q = from
            .task_queue
            .as_ref()
            .ok_or_else(|| missing("TaskQueue"))?;
        into.task_queue = Some(TaskQueue {
            name: q.name.clone(),
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        });
    }
    for (path, field, given) in [
        (
            "scheduleToCloseTimeout",
            &mut into.schedule_to_close_timeout,
            &from.schedule_to_close_timeout,
        ),
        (
            "scheduleToStartTimeout",
            &mut into.schedule_to_start_timeout,
            &from.schedule_to_start_timeout,
        ),
        (
            "startToCloseTimeout",
            &mut into.start_to_close_timeout,
            &from.start_to_close_timeout,
        ),
        (
            "heartbeatTimeout",
            &mut into.heartbeat_timeout,
            &from.heartbeat_timeout,
        ),
    ] {
        if has(path) {
            *field = *given;
        }
    }
    let retry_paths: Vec<&String> = paths
        .iter()
        .filter(|p| *p == "retryPolicy" || p.starts_with("retryPolicy."))
        .collect();
    if !retry_paths.is_empty() {
        let given = from
            .retry_policy
            .as_ref()
            .ok_or_else(|| missing("RetryPolicy"))?;
        let p = into.retry_policy.get_or_insert_with(RetryPolicy::default);
        for path in retry_paths {
            match path.as_str() {
                "retryPolicy" => *p = given.clone(),
                "retryPolicy.initialInterval" => p.initial_interval = given.initial_interval,
                "retryPolicy.backoffCoefficient" => {
                    p.backoff_coefficient = given.backoff_coefficient
                }
                "retryPolicy.maximumInterval" => p.maximum_interval = given.maximum_interval,
                "retryPolicy.maximumAttempts" => p.maximum_attempts = given.maximum_attempts,
                "retryPolicy.nonRetryableErrorTypes" => {
                    p.non_retryable_error_types = given.non_retryable_error_types.clone()
                }
                _ => {}
            }
        }
        crate::validate::retry_policy(p).map_err(Rejection::InvalidArgument)?;
    }
    if has("priority") {
        into.priority = from.priority.clone();
    }
    for path in [
        "priority.priorityKey",
        "priority.fairnessKey",
        "priority.fairnessWeight",
    ] {
        if !has(path) {
            continue;
        }
        let given = from.priority.as_ref().ok_or_else(|| missing("Priority"))?;
        let p = into.priority.get_or_insert_with(Default::default);
        match path {
            "priority.priorityKey" => p.priority_key = given.priority_key,
            "priority.fairnessKey" => p.fairness_key = given.fairness_key.clone(),
            _ => p.fairness_weight = given.fairness_weight,
        }
    }
    crate::priority::validate(into.priority.as_ref()).map_err(Rejection::InvalidArgument)?;
    Ok(into)
}

/// Merged options checked and normalised as a ScheduleActivityTask command's are.
fn normalised(
    mut o: ActivityOptions,
    workflow_task_queue: &str,
    a: &ActivityInfo,
) -> ApplyResult<ActivityOptions> {
    let queue = o.task_queue.get_or_insert_with(TaskQueue::default);
    if queue.name.is_empty() {
        queue.name = workflow_task_queue.to_string();
    }
    crate::validate::id("TaskQueue", &queue.name).map_err(Rejection::InvalidArgument)?;
    let t = Timeouts {
        schedule_to_close: nanos(&o.schedule_to_close_timeout),
        schedule_to_start: nanos(&o.schedule_to_start_timeout),
        start_to_close: nanos(&o.start_to_close_timeout),
        heartbeat: nanos(&o.heartbeat_timeout),
    }
    .normalised(0, &a.activity_id, &a.activity_type)?;
    o.schedule_to_close_timeout = explicit_duration(t.schedule_to_close);
    o.schedule_to_start_timeout = explicit_duration(t.schedule_to_start);
    o.start_to_close_timeout = explicit_duration(t.start_to_close);
    o.heartbeat_timeout = explicit_duration(t.heartbeat);
    o.retry_policy = Some(retry_policy(o.retry_policy));
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_paths_in_either_spelling_are_the_same() {
        assert_eq!(json_path("start_to_close_timeout"), "startToCloseTimeout");
        assert_eq!(json_path("startToCloseTimeout"), "startToCloseTimeout");
        assert_eq!(
            json_path("retry_policy.maximum_attempts"),
            "retryPolicy.maximumAttempts"
        );
        assert_eq!(json_path("task_queue.name"), "taskQueue.name");
    }

    #[test]
    fn jitter_stays_within_its_bound_and_spreads_activities() {
        let bound = 1_000_000_000;
        let delays: Vec<i64> = (1..50).map(|id| jitter_delay(7, id, bound)).collect();
        assert!(delays.iter().all(|d| (0..bound).contains(d)));
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 40, "{distinct:?}");
        assert_eq!(jitter_delay(7, 5, 0), 0);
        assert_eq!(jitter_delay(7, 5, bound), jitter_delay(7, 5, bound));
    }
}
