//! Schedules: a record in replicated state per schedule (`ScheduleRecord`, key
//! `keys::schedule`), whose next due time sits in the timer table (`TimerKind::ScheduleWake`).
//! Each wake-up is a mutation applied at the leader's time: it takes the actions due by then,
//! applies the overlap policy, and starts the workflows in the same write batch as the
//! schedule's bookkeeping, so no action is lost or started twice whatever fails. A started
//! run carries the schedule id; when its chain ends, the schedule learns the outcome in the
//! same batch as the close (last result, pause on failure, the next buffered action).
//!
//! - `spec`: canonical form and validation (Temporal's messages);
//! - `zone`: IANA time zones with Go's rules for skipped and repeated local times;
//! - `times`: the times a spec fires, with deterministic jitter;
//! - `actions`: the engine loop (due times, catch-up window, buffer, overlap policies,
//!   starting runs, runs closing);
//! - `list`: the query of ListSchedules and CountSchedules;
//! - this module: the RPCs' mutations (create, update, patch, delete) and the read side
//!   (Describe's info, list entries), pure functions of the record and a time.

mod actions;
pub mod list;
pub mod spec;
pub mod times;
pub mod zone;

pub(crate) use actions::{on_run_closed, wake};

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::keys;
use crate::outcome::Outcome;
use crate::records::{Backfill, BufferedAction, ScheduleRecord};
use crate::time::{nanos, timestamp, timestamp_nanos};
use temporalio_protos::temporal::api::{
    enums::v1::ScheduleOverlapPolicy as Overlap,
    schedule::v1::{self as sched, Schedule, SchedulePatch},
    workflowservice::v1 as ws,
};

/// Temporal's default catch-up window (a year), and the least it accepts.
pub const DEFAULT_CATCHUP_WINDOW: i64 = 365 * 24 * 3600 * 1_000_000_000;
pub const MIN_CATCHUP_WINDOW: i64 = 10 * 1_000_000_000;
/// Pause and unpause notes are capped (Temporal's "Schedule notes exceeds limit.").
pub const MAX_NOTES_BYTES: usize = 1000;
/// Listed future times and recent actions.
pub const FUTURE_TIMES: usize = 10;
pub const RECENT_ACTIONS: usize = 10;
/// The buffer of BUFFER_ALL holds this many actions; the excess counts in `buffer_dropped`.
pub const MAX_BUFFER: usize = 1000;
/// ListScheduleMatchingTimes answers at most this many times.
pub const MAX_MATCHING_TIMES: usize = 1000;

/// The search attributes a schedule's runs get.
pub const SCHEDULED_BY_ID: &str = "TemporalScheduledById";
pub const SCHEDULED_START_TIME: &str = "TemporalScheduledStartTime";

/// The schedule with Temporal's defaults resolved: the overlap policy (SKIP) and the
/// catch-up window (a year; at least 10 s).
pub fn resolve_policies(schedule: &mut Schedule) {
    let policies = schedule.policies.get_or_insert_with(Default::default);
    if policies.overlap_policy == Overlap::Unspecified as i32 {
        policies.overlap_policy = Overlap::Skip as i32;
    }
    let window = nanos(&policies.catchup_window);
    policies.catchup_window = Some(prost_wkt_types::Duration {
        seconds: if window <= 0 {
            DEFAULT_CATCHUP_WINDOW
        } else {
            window.max(MIN_CATCHUP_WINDOW)
        } / 1_000_000_000,
        nanos: 0,
    });
}

/// The seed of a schedule's jitter.
fn jitter_seed(rec: &ScheduleRecord) -> String {
    format!("{}\u{0}{}", rec.namespace, rec.schedule_id)
}

fn compiled(rec: &ScheduleRecord) -> times::Compiled {
    times::Compiled::new(
        &rec.schedule
            .as_ref()
            .and_then(|s| s.spec.clone())
            .unwrap_or_default(),
    )
}

fn state(rec: &ScheduleRecord) -> sched::ScheduleState {
    rec.schedule
        .as_ref()
        .and_then(|s| s.state.clone())
        .unwrap_or_default()
}

fn overlap_policy(rec: &ScheduleRecord) -> i32 {
    rec.schedule
        .as_ref()
        .and_then(|s| s.policies.as_ref())
        .map_or(Overlap::Skip as i32, |p| p.overlap_policy)
}

fn load(ctx: &ApplyCtx, namespace: &str, schedule_id: &str) -> ApplyResult<ScheduleRecord> {
    ctx.get(&keys::schedule(namespace, schedule_id))?
        .ok_or_else(|| not_found(schedule_id))
}

/// Temporal's answer for an unknown schedule (it names the workflow V1 runs it as).
pub fn not_found(schedule_id: &str) -> Rejection {
    Rejection::NotFound(format!(
        "workflow not found for ID: temporal-sys-scheduler:{schedule_id}"
    ))
}

fn save(ctx: &mut ApplyCtx, rec: &ScheduleRecord) {
    ctx.state.put(
        keys::schedule(&rec.namespace, &rec.schedule_id),
        crate::canonical::encode(rec, crate::canonical::SCHEDULE_RECORD),
    );
}

pub(crate) fn create(ctx: &mut ApplyCtx, req: ws::CreateScheduleRequest) -> ApplyResult<Outcome> {
    ctx.namespace(&req.namespace)?;
    let key = keys::schedule(&req.namespace, &req.schedule_id);
    if let Some(existing) = ctx.get::<ScheduleRecord>(&key)? {
        if existing.request_id == req.request_id {
            return Ok(Outcome::Schedule {
                conflict_token: existing.conflict_token,
            });
        }
        return Err(Rejection::ScheduleAlreadyRunning {
            schedule_id: req.schedule_id,
            request_id: existing.request_id,
        });
    }
    let mut schedule = req.schedule.unwrap_or_default();
    resolve_policies(&mut schedule);
    let mut rec = ScheduleRecord {
        namespace: req.namespace,
        schedule_id: req.schedule_id,
        schedule: Some(schedule),
        memo: req.memo,
        search_attributes: req.search_attributes,
        conflict_token: 1,
        create_time: ctx.now,
        processed_through: ctx.now,
        request_id: req.request_id,
        ..Default::default()
    };
    if let Some(patch) = req.initial_patch {
        apply_patch(ctx, &mut rec, patch)?;
    }
    actions::process(ctx, &mut rec);
    Ok(Outcome::Schedule {
        conflict_token: rec.conflict_token,
    })
}

/// The conflict token as the API carries it: 8 bytes, big-endian.
pub fn token_bytes(token: i64) -> Vec<u8> {
    token.to_be_bytes().to_vec()
}

pub(crate) fn update(ctx: &mut ApplyCtx, req: ws::UpdateScheduleRequest) -> ApplyResult<Outcome> {
    let mut rec = load(ctx, &req.namespace, &req.schedule_id)?;
    if !req.conflict_token.is_empty() && req.conflict_token != token_bytes(rec.conflict_token) {
        return Err(Rejection::FailedPrecondition(
            "mismatched conflict token".into(),
        ));
    }
    let mut schedule = req.schedule.unwrap_or_default();
    resolve_policies(&mut schedule);
    rec.schedule = Some(schedule);
    // Absent means keep; present replaces the whole set (empty clears it).
    if req.search_attributes.is_some() {
        rec.search_attributes = req.search_attributes;
    }
    if req.memo.is_some() {
        rec.memo = req.memo;
    }
    rec.update_time = ctx.now;
    rec.conflict_token += 1;
    // Times before the update are not taken under the new definition.
    rec.processed_through = rec.processed_through.max(ctx.now);
    actions::process(ctx, &mut rec);
    Ok(Outcome::Schedule {
        conflict_token: rec.conflict_token,
    })
}

pub(crate) fn patch(ctx: &mut ApplyCtx, req: ws::PatchScheduleRequest) -> ApplyResult<Outcome> {
    let mut rec = load(ctx, &req.namespace, &req.schedule_id)?;
    apply_patch(ctx, &mut rec, req.patch.unwrap_or_default())?;
    actions::process(ctx, &mut rec);
    Ok(Outcome::Schedule {
        conflict_token: rec.conflict_token,
    })
}

fn apply_patch(ctx: &ApplyCtx, rec: &mut ScheduleRecord, patch: SchedulePatch) -> ApplyResult<()> {
    let state = rec
        .schedule
        .get_or_insert_with(Default::default)
        .state
        .get_or_insert_with(Default::default);
    if !patch.pause.is_empty() {
        state.paused = true;
        state.notes = patch.pause;
        rec.conflict_token += 1;
    }
    if !patch.unpause.is_empty() {
        if state.paused {
            // Times that fell due while paused are skipped, not caught up.
            rec.processed_through = rec.processed_through.max(ctx.now);
        }
        state.paused = false;
        state.notes = patch.unpause;
        rec.conflict_token += 1;
    }
    let default_policy = overlap_policy(rec);
    let resolve = |p: i32| {
        if p == Overlap::Unspecified as i32 {
            default_policy
        } else {
            p
        }
    };
    if let Some(trigger) = patch.trigger_immediately {
        let at = timestamp_nanos(&trigger.scheduled_time).unwrap_or(ctx.now);
        push_buffer(
            rec,
            BufferedAction {
                nominal: at,
                actual: at,
                overlap_policy: resolve(trigger.overlap_policy),
                manual: true,
            },
        );
    }
    for b in patch.backfill_request {
        let at = |t| timestamp_nanos(t).unwrap_or(0);
        // Inclusive of the start time, as Temporal's since 1.24.
        rec.backfills.push(Backfill {
            after: at(&b.start_time) - 1,
            end: at(&b.end_time),
            overlap_policy: resolve(b.overlap_policy),
        });
    }
    Ok(())
}

/// Appends to the buffer, counting what does not fit.
fn push_buffer(rec: &mut ScheduleRecord, action: BufferedAction) {
    if rec.buffer.len() >= MAX_BUFFER {
        rec.buffer_dropped += 1;
    } else {
        rec.buffer.push(action);
    }
}

/// DeleteSchedule: the record and its timer go; the runs it started keep running.
pub(crate) fn delete(ctx: &mut ApplyCtx, req: ws::DeleteScheduleRequest) -> ApplyResult<Outcome> {
    let rec = load(ctx, &req.namespace, &req.schedule_id)?;
    if !rec.wake_key.is_empty() {
        ctx.delete(rec.wake_key.clone());
    }
    ctx.delete(keys::schedule(&rec.namespace, &rec.schedule_id));
    Ok(Outcome::Done)
}

/// The next `limit` times (actual, jittered) after `now` the schedule will act at, as
/// Describe shows them: computed while paused too, capped by the actions remaining.
pub fn future_action_times(rec: &ScheduleRecord, now: i64, limit: usize) -> Vec<i64> {
    let state = state(rec);
    let limit = if state.limited_actions {
        limit.min(state.remaining_actions.max(0) as usize)
    } else {
        limit
    };
    compiled(rec)
        .between(
            &jitter_seed(rec),
            now.max(rec.processed_through),
            i64::MAX,
            limit,
        )
        .into_iter()
        .map(|f| f.actual)
        .collect()
}

/// ListScheduleMatchingTimes: the fires with actual time in (start, end], at most 1000.
pub fn matching_times(rec: &ScheduleRecord, start: i64, end: i64) -> Vec<i64> {
    compiled(rec)
        .between(&jitter_seed(rec), start, end, MAX_MATCHING_TIMES)
        .into_iter()
        .map(|f| f.actual)
        .collect()
}

/// DescribeSchedule's info at time `now`.
pub fn info(rec: &ScheduleRecord, now: i64, state_size: usize) -> sched::ScheduleInfo {
    sched::ScheduleInfo {
        action_count: rec.action_count,
        missed_catchup_window: rec.missed_catchup_window,
        overlap_skipped: rec.overlap_skipped,
        buffer_dropped: rec.buffer_dropped,
        buffer_size: rec.buffer.len() as i64,
        running_workflows: rec.running.clone(),
        recent_actions: rec.recent_actions.clone(),
        future_action_times: future_action_times(rec, now, FUTURE_TIMES)
            .into_iter()
            .filter_map(timestamp)
            .collect(),
        create_time: timestamp(rec.create_time),
        update_time: timestamp(rec.update_time),
        state_size_bytes: state_size as i64,
        ..Default::default()
    }
}

/// The schedule as Describe returns it: the canonical spec with its range defaults filled.
pub fn described(rec: &ScheduleRecord) -> Schedule {
    let mut schedule = rec.schedule.clone().unwrap_or_default();
    if let Some(spec) = &schedule.spec {
        schedule.spec = Some(spec::with_defaults(spec));
    }
    schedule
}

/// ListSchedules' entry: the spec without zone data and at most 10 items per list, five
/// recent actions and five future times.
pub fn list_entry(rec: &ScheduleRecord, now: i64) -> sched::ScheduleListEntry {
    let schedule = described(rec);
    let mut spec = schedule.spec.clone().unwrap_or_default();
    spec.timezone_data.clear();
    spec.structured_calendar.truncate(10);
    spec.exclude_structured_calendar.truncate(10);
    spec.interval.truncate(10);
    let state = schedule.state.clone().unwrap_or_default();
    let workflow_type = schedule.action.as_ref().and_then(|a| match &a.action {
        Some(sched::schedule_action::Action::StartWorkflow(w)) => w.workflow_type.clone(),
        None => None,
    });
    let recent = rec.recent_actions.len().saturating_sub(5);
    sched::ScheduleListEntry {
        schedule_id: rec.schedule_id.clone(),
        memo: rec.memo.clone().filter(|m| !m.fields.is_empty()),
        search_attributes: rec
            .search_attributes
            .clone()
            .filter(|s| !s.indexed_fields.is_empty()),
        info: Some(sched::ScheduleListInfo {
            spec: Some(spec),
            workflow_type,
            notes: state.notes,
            paused: state.paused,
            recent_actions: rec.recent_actions[recent..].to_vec(),
            future_action_times: future_action_times(rec, now, 5)
                .into_iter()
                .filter_map(timestamp)
                .collect(),
            state_size_bytes: 0,
        }),
    }
}
