//! Standalone activities (StartActivityExecution and its siblings): an activity with no
//! workflow around it, started, cancelled, terminated and deleted by id.
//!
//! One is kept as a run record of its own tables (`keys::activity_execution`, and
//! `keys::current_activity` for the id's latest run) marked `standalone`: `workflow_id` is
//! the activity id, `activities` holds its one activity (scheduled id `TARGET`, kept after it
//! closes) and there is no history. So every attempt, retry, timeout and heartbeat rule of
//! `activity` serves it unchanged, its tasks and timers carry the `standalone` mark to find
//! it, and only its end differs: `close` keeps the outcome on the record instead of
//! appending events. Reading one (describe, list, count) is `read`'s.

pub mod read;

use crate::activity;
use crate::commands::schedule_activity::{retry_policy, Timeouts};
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution::is_running;
use crate::history::Attributes;
use crate::keys;
use crate::mutation::StartActivityExecution;
use crate::outcome::{Notification, Outcome};
use crate::priority;
use crate::records::{ActivityInfo, CurrentRun, ExecutionRecord};
use crate::retention;
use crate::search_attributes;
use crate::time::nanos;
use crate::validate;
use temporalio_protos::temporal::api::{
    activity::v1::{activity_execution_outcome::Value as OutcomeValue, ActivityExecutionOutcome},
    common::v1::{Payload, Payloads},
    enums::v1::{
        ActivityIdConflictPolicy, ActivityIdReusePolicy, EventType,
        WorkflowExecutionStatus as Status,
    },
    failure::v1::{failure::FailureInfo, CanceledFailureInfo, Failure, TerminatedFailureInfo},
    workflowservice::v1 as ws,
};

/// The scheduled event id a standalone activity's one `ActivityInfo` carries (it has no
/// events; tasks, timers and tokens name it by this).
pub(crate) const TARGET: i64 = 1;

/// The reason and identity a deletion terminates a running activity with.
const DELETE_REASON: &str = "Delete activity execution";

/// Temporal's text for an activity id (or run) it does not have.
pub(crate) fn not_found(activity_id: &str) -> Rejection {
    Rejection::NotFound(format!("activity not found for ID: {activity_id}"))
}

pub(crate) fn load(
    ctx: &ApplyCtx,
    namespace: &str,
    activity_id: &str,
    run_id: &str,
) -> ApplyResult<ExecutionRecord> {
    ctx.get(&keys::activity_execution(namespace, activity_id, run_id))?
        .ok_or_else(|| not_found(activity_id))
}

/// The run named by the API: an empty run id means the activity id's latest run.
fn resolve(
    ctx: &ApplyCtx,
    namespace: &str,
    activity_id: &str,
    run_id: &str,
) -> ApplyResult<ExecutionRecord> {
    ctx.namespace(namespace)?;
    if !run_id.is_empty() {
        return load(ctx, namespace, activity_id, run_id);
    }
    let current: CurrentRun = ctx
        .get(&keys::current_activity(namespace, activity_id))?
        .ok_or_else(|| not_found(activity_id))?;
    load(ctx, namespace, activity_id, &current.run_id)
}

pub(crate) fn save(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord) {
    exec.state_transitions += 1;
    let key = keys::activity_execution(&exec.namespace, &exec.workflow_id, &exec.run_id);
    ctx.state.put(
        key,
        crate::canonical::encode(&*exec, crate::canonical::EXECUTION_RECORD),
    );
    ctx.notify(Notification::ActivityExecutionChanged {
        namespace: exec.namespace.clone(),
        activity_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
    });
}

fn set_current(ctx: &mut ApplyCtx, exec: &ExecutionRecord) {
    let current = CurrentRun {
        run_id: exec.run_id.clone(),
        status: exec.status,
        start_request_id: exec.start_request_id.clone(),
    };
    ctx.put(
        keys::current_activity(&exec.namespace, &exec.workflow_id),
        &current,
    );
}

/// Temporal's name of a closed status, as its errors spell it.
fn status_name(status: i32) -> &'static str {
    crate::query::plan::status_name(status)
}

/// Checks a start request as Temporal's frontend does, with its texts.
fn check_start(req: &ws::StartActivityExecutionRequest) -> Result<(), String> {
    let activity_type = req.activity_type.as_ref().map(|t| t.name.as_str());
    let task_queue = req.task_queue.as_ref().map(|q| q.name.as_str());
    if req.activity_id.is_empty() {
        return Err("activityId is not set".into());
    }
    if activity_type.unwrap_or("").is_empty() {
        return Err("activityType is not set".into());
    }
    if task_queue.unwrap_or("").is_empty() {
        return Err("taskQueue is not set".into());
    }
    validate::id("ActivityId", &req.activity_id)?;
    validate::id("ActivityType", activity_type.unwrap_or(""))?;
    validate::id("TaskQueue", task_queue.unwrap_or(""))?;
    if nanos(&req.start_delay) < 0 {
        return Err("StartDelay may not be negative.".into());
    }
    if let Some(input) = &req.input {
        validate::payload_size("Input", input)?;
    }
    Ok(())
}

/// StartActivityExecution: request-id idempotency, the id reuse and conflict policies, then a
/// new run whose first attempt is dispatched (after its start delay, if any).
pub(crate) fn start(ctx: &mut ApplyCtx, m: StartActivityExecution) -> ApplyResult<Outcome> {
    let mut req = m.request.unwrap_or_default();
    let namespace = ctx.namespace(&req.namespace)?;
    check_start(&req).map_err(Rejection::InvalidArgument)?;
    if let Some(attributes) = &mut req.search_attributes {
        search_attributes::check(&namespace, attributes).map_err(Rejection::InvalidArgument)?;
    }
    let own_priority =
        priority::checked(ctx, req.priority.take()).map_err(Rejection::InvalidArgument)?;
    let activity_type = req.activity_type.clone().unwrap_or_default().name;
    let timeouts = Timeouts {
        schedule_to_close: nanos(&req.schedule_to_close_timeout),
        schedule_to_start: nanos(&req.schedule_to_start_timeout),
        start_to_close: nanos(&req.start_to_close_timeout),
        heartbeat: nanos(&req.heartbeat_timeout),
    }
    .normalised(0, &req.activity_id, &activity_type)?;

    let current: Option<CurrentRun> =
        ctx.get(&keys::current_activity(&req.namespace, &req.activity_id))?;
    if let Some(current) = current {
        let existing = Outcome::ActivityExecutionStarted {
            run_id: current.run_id.clone(),
            started: false,
        };
        if !req.request_id.is_empty() && current.start_request_id == req.request_id {
            return Ok(existing);
        }
        let already_started = Rejection::ActivityAlreadyStarted {
            run_id: current.run_id.clone(),
            start_request_id: current.start_request_id.clone(),
        };
        if current.status == Status::Running as i32 {
            let conflict = ActivityIdConflictPolicy::try_from(req.id_conflict_policy)
                .unwrap_or(ActivityIdConflictPolicy::Unspecified);
            return match conflict {
                ActivityIdConflictPolicy::UseExisting => Ok(existing),
                _ => Err(already_started),
            };
        }
        let reuse = ActivityIdReusePolicy::try_from(req.id_reuse_policy)
            .unwrap_or(ActivityIdReusePolicy::AllowDuplicate);
        match reuse {
            ActivityIdReusePolicy::RejectDuplicate => return Err(already_started),
            ActivityIdReusePolicy::AllowDuplicateFailedOnly
                if current.status == Status::Completed as i32 =>
            {
                return Err(already_started)
            }
            _ => {}
        }
    }

    let now = ctx.now;
    let start_delay = nanos(&req.start_delay).max(0);
    let task_queue = req.task_queue.clone().unwrap_or_default().name;
    let info = ActivityInfo {
        scheduled_event_id: TARGET,
        activity_id: req.activity_id.clone(),
        activity_type,
        task_queue: task_queue.clone(),
        header: req.header.clone(),
        input: req.input.clone(),
        schedule_to_close_timeout: timeouts.schedule_to_close,
        schedule_to_start_timeout: timeouts.schedule_to_start,
        start_to_close_timeout: timeouts.start_to_close,
        heartbeat_timeout: timeouts.heartbeat,
        retry_policy: Some(retry_policy(req.retry_policy.clone())),
        attempt: 1,
        scheduled_time: now,
        current_attempt_scheduled_time: now + start_delay,
        priority: own_priority,
        ..Default::default()
    };
    let mut exec = ExecutionRecord {
        namespace: req.namespace.clone(),
        workflow_id: req.activity_id.clone(),
        run_id: m.run_id.clone(),
        task_queue,
        status: Status::Running as i32,
        start_time: now,
        start_request_id: req.request_id.clone(),
        search_attributes: req.search_attributes.clone(),
        activities: vec![info.clone()],
        standalone: true,
        user_metadata: req.user_metadata.clone(),
        start_delay,
        ..Default::default()
    };
    activity::schedule_after(ctx, &exec, &info, start_delay);
    set_current(ctx, &exec);
    save(ctx, &mut exec);
    Ok(Outcome::ActivityExecutionStarted {
        run_id: m.run_id,
        started: true,
    })
}

/// The activity ended as `activity` recorded it (the attributes of the event a workflow's
/// activity would have had): the outcome is kept, the run closes.
pub(crate) fn close(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    _event_type: EventType,
    attributes: Attributes,
) {
    let (status, value, retry_state) = match attributes {
        Attributes::ActivityTaskCompletedEventAttributes(a) => (
            Status::Completed,
            OutcomeValue::Result(a.result.unwrap_or_default()),
            0,
        ),
        Attributes::ActivityTaskFailedEventAttributes(a) => (
            Status::Failed,
            OutcomeValue::Failure(a.failure.unwrap_or_default()),
            a.retry_state,
        ),
        Attributes::ActivityTaskTimedOutEventAttributes(a) => (
            Status::TimedOut,
            // The dev server names no source on a standalone activity's timeout.
            OutcomeValue::Failure(Failure {
                source: String::new(),
                ..a.failure.unwrap_or_default()
            }),
            a.retry_state,
        ),
        Attributes::ActivityTaskCanceledEventAttributes(a) => (
            Status::Canceled,
            OutcomeValue::Failure(canceled(a.details, &exec.cancel_identity)),
            0,
        ),
        _ => return,
    };
    end(ctx, exec, status, value, retry_state);
}

/// Temporal's failure of a canceled activity: the worker's details (or the request's reason
/// when no attempt was running), and who asked.
fn canceled(details: Option<Payloads>, identity: &str) -> Failure {
    Failure {
        message: "Activity canceled".into(),
        failure_info: Some(FailureInfo::CanceledFailureInfo(CanceledFailureInfo {
            details,
            identity: identity.to_string(),
        })),
        ..Default::default()
    }
}

fn end(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    status: Status,
    value: OutcomeValue,
    retry_state: i32,
) {
    let now = ctx.now;
    if let Some(a) = exec.activities.first_mut() {
        // A canceled attempt is not counted as completed, as the dev server reports it.
        if a.started_time != 0 && status != Status::Canceled {
            exec.last_attempt_complete_time = now;
        }
        a.started_time = 0;
    }
    exec.status = status as i32;
    exec.close_time = now;
    exec.activity_outcome = Some(ActivityExecutionOutcome {
        value: Some(value),
        retry_state,
    });
    let current: Option<CurrentRun> = ctx
        .get(&keys::current_activity(&exec.namespace, &exec.workflow_id))
        .ok()
        .flatten();
    if current.is_some_and(|c| c.run_id == exec.run_id) {
        set_current(ctx, exec);
    }
    retention::schedule(ctx, exec);
}

/// A JSON string payload, as Temporal's frontend encodes a cancellation reason.
fn json_string(s: &str) -> Payloads {
    Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data: serde_json::to_vec(s).unwrap_or_default(),
            ..Default::default()
        }],
    }
}

/// RequestCancelActivityExecution: an attempt not running is canceled at once; a running one
/// learns of it from its heartbeats and reports the cancellation (RespondActivityTaskCanceled).
pub(crate) fn request_cancel(
    ctx: &mut ApplyCtx,
    req: ws::RequestCancelActivityExecutionRequest,
) -> ApplyResult<Outcome> {
    let mut exec = resolve(ctx, &req.namespace, &req.activity_id, &req.run_id)?;
    if !is_running(&exec) {
        return Err(Rejection::FailedPrecondition(format!(
            "activity is in terminal state {}",
            status_name(exec.status)
        )));
    }
    if exec.cancel_requested {
        if exec.cancel_request_id == req.request_id {
            return Ok(Outcome::Done);
        }
        return Err(Rejection::FailedPrecondition(format!(
            "cancellation already requested with request ID {}",
            exec.cancel_request_id
        )));
    }
    exec.cancel_requested = true;
    exec.cancel_request_id = req.request_id;
    exec.cancel_reason = req.reason.clone();
    exec.cancel_identity = req.identity.clone();
    let running = exec.activities.first().is_some_and(|a| a.started_time != 0);
    if !running {
        let details = (!req.reason.is_empty()).then(|| json_string(&req.reason));
        let failure = OutcomeValue::Failure(canceled(details, &req.identity));
        end(ctx, &mut exec, Status::Canceled, failure, 0);
    }
    save(ctx, &mut exec);
    Ok(Outcome::Done)
}

/// TerminateActivityExecution: the run closes at once; a running attempt's worker finds it
/// gone when it next reports.
pub(crate) fn terminate(
    ctx: &mut ApplyCtx,
    req: ws::TerminateActivityExecutionRequest,
) -> ApplyResult<Outcome> {
    let mut exec = resolve(ctx, &req.namespace, &req.activity_id, &req.run_id)?;
    if exec.status == Status::Terminated as i32 {
        if exec.terminate_request_id == req.request_id {
            return Ok(Outcome::Done); // the same request again
        }
        return Err(Rejection::FailedPrecondition(format!(
            "already terminated with request ID {}",
            exec.terminate_request_id
        )));
    }
    terminate_run(ctx, &mut exec, &req.reason, &req.identity)?;
    exec.terminate_request_id = req.request_id;
    save(ctx, &mut exec);
    Ok(Outcome::Done)
}

fn terminate_run(
    ctx: &mut ApplyCtx,
    exec: &mut ExecutionRecord,
    reason: &str,
    identity: &str,
) -> ApplyResult<()> {
    if !is_running(exec) {
        return Err(Rejection::FailedPrecondition(format!(
            "invalid transition from {}",
            status_name(exec.status)
        )));
    }
    let failure = Failure {
        message: reason.to_string(),
        failure_info: Some(FailureInfo::TerminatedFailureInfo(TerminatedFailureInfo {
            identity: identity.to_string(),
        })),
        ..Default::default()
    };
    end(
        ctx,
        exec,
        Status::Terminated,
        OutcomeValue::Failure(failure),
        0,
    );
    Ok(())
}

/// DeleteActivityExecution: a running activity is terminated first, then the run goes.
pub(crate) fn delete(
    ctx: &mut ApplyCtx,
    req: ws::DeleteActivityExecutionRequest,
) -> ApplyResult<Outcome> {
    let mut exec = resolve(ctx, &req.namespace, &req.activity_id, &req.run_id)?;
    if is_running(&exec) {
        terminate_run(ctx, &mut exec, DELETE_REASON, "")?;
    }
    remove(ctx, &exec)?;
    Ok(Outcome::Done)
}

/// Removes a closed standalone run, and the id's pointer to it if it is the latest (also
/// what its retention timer does). Tasks and timers still queued for it lapse.
pub(crate) fn remove(ctx: &mut ApplyCtx, closed: &ExecutionRecord) -> ApplyResult<()> {
    let (ns, id, run) = (&closed.namespace, &closed.workflow_id, &closed.run_id);
    ctx.delete(keys::activity_execution(ns, id, run));
    let current_key = keys::current_activity(ns, id);
    let current: Option<CurrentRun> = ctx.get(&current_key)?;
    if current.is_some_and(|c| &c.run_id == run) {
        ctx.delete(current_key);
    }
    ctx.notify(Notification::ActivityExecutionChanged {
        namespace: ns.clone(),
        activity_id: id.clone(),
        run_id: run.clone(),
    });
    Ok(())
}
