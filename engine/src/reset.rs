//! ResetWorkflowExecution: a new run of the workflow that starts over from one workflow task
//! of an earlier run (the base). The new run gets the base's events up to that task's
//! WorkflowTaskStarted (copied), a WorkflowTaskFailed with cause RESET_WORKFLOW naming both
//! runs, the signals the base received after that point (unless the reapply type says
//! not to), and a new workflow task; its state is rebuilt from the copied events (pending
//! activities are dispatched again, pending timers re-armed). A base still running is
//! terminated by "history-resetter", as on Temporal. The same request id resets once.

use crate::cancel_terminate;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution::{self, is_running};
use crate::history::{self, Attributes};
use crate::keys;
use crate::mutation::ResetWorkflow;
use crate::outcome::Outcome;
use crate::records::{
    ActivityInfo, ExecutionRecord, TimerInfo, TimerKind, TimerRecord, UpdateInfo,
};
use crate::search_attributes::{merge_memo, merge_search_attributes};
use crate::time::nanos;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    enums::v1::{
        EventType, ResetReapplyExcludeType, ResetReapplyType, WorkflowExecutionStatus,
        WorkflowTaskFailedCause,
    },
    failure::v1::{failure::FailureInfo, Failure, ResetWorkflowFailureInfo},
    history::v1 as h,
};

const RESETTER_IDENTITY: &str = "history-resetter";
const FAILED_TASK_IDENTITY: &str = "history-service";

pub(crate) fn reset(ctx: &mut ApplyCtx, m: ResetWorkflow) -> ApplyResult<Outcome> {
    let req = m.request.unwrap_or_default();
    ctx.namespace(&req.namespace)?;
    let target = req.workflow_execution.clone().unwrap_or_default();
    let base = execution::resolve(ctx, &req.namespace, &target.workflow_id, &target.run_id)?;
    let current = execution::resolve(ctx, &req.namespace, &target.workflow_id, "").ok();
    if let Some(c) = current.as_ref() {
        if !req.request_id.is_empty() && c.start_request_id == req.request_id {
            return Ok(started(c.run_id.clone())); // this reset already happened
        }
    }
    let events = read_history(ctx, &base)?;
    let started_event_id = reset_point(&events, req.workflow_task_finish_event_id)?;
    let copied = &events[..started_event_id as usize];
    let rebuilt = Rebuilt::from_events(copied)?;

    // The workflow's open run (the base, or a later run of its chain) is closed first.
    if let Some(mut open) = current.filter(is_running) {
        cancel_terminate::terminate_run(
            ctx,
            &mut open,
            req.reason.clone(),
            None,
            RESETTER_IDENTITY,
        );
        execution::save(ctx, &mut open);
    }

    let mut exec = new_run(ctx, &base, &m.new_run_id, &req.request_id);
    for e in copied {
        let mut e = e.clone();
        e.task_id = ctx.next_id() as i64;
        history::append(ctx, &mut exec, e);
    }
    rebuilt.install(ctx, &mut exec);
    let wt_started = &events[started_event_id as usize - 1];
    let scheduled_event_id = match &wt_started.attributes {
        Some(Attributes::WorkflowTaskStartedEventAttributes(a)) => a.scheduled_event_id,
        _ => 0,
    };
    let failed = history::event(
        ctx,
        EventType::WorkflowTaskFailed,
        Attributes::WorkflowTaskFailedEventAttributes(h::WorkflowTaskFailedEventAttributes {
            scheduled_event_id,
            started_event_id,
            cause: WorkflowTaskFailedCause::ResetWorkflow as i32,
            failure: Some(Failure {
                message: req.reason.clone(),
                failure_info: Some(FailureInfo::ResetWorkflowFailureInfo(
                    ResetWorkflowFailureInfo::default(),
                )),
                ..Default::default()
            }),
            identity: FAILED_TASK_IDENTITY.into(),
            base_run_id: base.run_id.clone(),
            new_run_id: exec.run_id.clone(),
            ..Default::default()
        }),
    );
    history::append(ctx, &mut exec, failed);
    if reapplies_signals(&req) {
        for e in &events[started_event_id as usize..] {
            if let Some(Attributes::WorkflowExecutionSignaledEventAttributes(a)) = &e.attributes {
                let signal = history::event(
                    ctx,
                    EventType::WorkflowExecutionSignaled,
                    Attributes::WorkflowExecutionSignaledEventAttributes(a.clone()),
                );
                history::append(ctx, &mut exec, signal);
            }
        }
    }
    workflow_task::schedule(ctx, &mut exec, 1);
    if exec.run_timeout > 0 {
        let run_timed_out = TimerRecord::for_run(&exec, TimerKind::WorkflowRunTimeout, 0, 0);
        ctx.schedule_timer(ctx.now + exec.run_timeout, &run_timed_out);
    }
    execution::set_current(ctx, &exec);
    execution::save(ctx, &mut exec);
    Ok(started(exec.run_id))
}

fn started(run_id: String) -> Outcome {
    Outcome::WorkflowStarted {
        run_id,
        started: true,
    }
}

fn read_history(ctx: &ApplyCtx, exec: &ExecutionRecord) -> ApplyResult<Vec<h::HistoryEvent>> {
    (1..exec.next_event_id)
        .map(|id| {
            ctx.get(&keys::history_event(
                &exec.namespace,
                &exec.workflow_id,
                &exec.run_id,
                id,
            ))?
            .ok_or_else(|| Rejection::Internal(format!("history event {id} is missing")))
        })
        .collect()
}

/// Where a batch reset takes a run, as Temporal's batcher finds it: the run (a build's reset
/// point may lie in an earlier run of the chain) and the workflow task finish event id. The
/// first or last workflow task is its WorkflowTaskCompleted, or, when none completed, the
/// event after the first (or last) WorkflowTaskScheduled.
pub(crate) fn batch_point(
    ctx: &ApplyCtx,
    exec: &ExecutionRecord,
    op: &temporalio_protos::temporal::api::batch::v1::BatchOperationReset,
) -> ApplyResult<(String, i64)> {
    use temporalio_protos::temporal::api::{
        common::v1::reset_options::Target, enums::v1::ResetType,
    };
    enum Which {
        First,
        Last,
    }
    #[allow(deprecated)]
    let which = match op.options.as_ref().and_then(|o| o.target.as_ref()) {
        Some(Target::FirstWorkflowTask(_)) => Which::First,
        Some(Target::LastWorkflowTask(_)) => Which::Last,
        Some(Target::WorkflowTaskId(id)) => return Ok((exec.run_id.clone(), *id)),
        Some(Target::BuildId(build_id)) => {
            let current_only = op.options.as_ref().is_some_and(|o| o.current_run_only);
            return build_reset_point(ctx, exec, build_id, current_only);
        }
        None if op.reset_type == ResetType::FirstWorkflowTask as i32 => Which::First,
        None if op.reset_type == ResetType::LastWorkflowTask as i32 => Which::Last,
        None => {
            return Err(Rejection::InvalidArgument(format!(
                "provided reset type ({:?}) is not supported.",
                ResetType::try_from(op.reset_type).unwrap_or(ResetType::Unspecified)
            )))
        }
    };
    let events = read_history(ctx, exec)?;
    let ordered: Box<dyn Iterator<Item = &h::HistoryEvent>> = match which {
        Which::First => Box::new(events.iter()),
        Which::Last => Box::new(events.iter().rev()),
    };
    let mut fallback = 0;
    for e in ordered {
        if e.event_type == EventType::WorkflowTaskCompleted as i32 {
            return Ok((exec.run_id.clone(), e.event_id));
        }
        if e.event_type == EventType::WorkflowTaskScheduled as i32
            && (fallback == 0 || matches!(which, Which::Last))
        {
            fallback = e.event_id + 1;
        }
    }
    if fallback == 0 {
        return Err(Rejection::InvalidArgument(
            "unable to find any scheduled or completed task".into(),
        ));
    }
    Ok((exec.run_id.clone(), fallback))
}

/// A build's auto-reset point (Temporal's texts when there is none to use).
fn build_reset_point(
    ctx: &ApplyCtx,
    exec: &ExecutionRecord,
    build_id: &str,
    current_run_only: bool,
) -> ApplyResult<(String, i64)> {
    let points = exec.auto_reset_points.as_ref().map(|p| p.points.as_slice());
    let Some(point) = points
        .unwrap_or_default()
        .iter()
        .find(|p| p.build_id == build_id)
    else {
        return Err(Rejection::InvalidArgument(format!(
            "Can't find reset point for {build_id}"
        )));
    };
    if !point.resettable {
        return Err(Rejection::InvalidArgument(format!(
            "Reset point for {build_id} is not resettable"
        )));
    }
    if crate::time::timestamp_nanos(&point.expire_time).is_some_and(|t| t < ctx.now) {
        return Err(Rejection::InvalidArgument(format!(
            "Reset point for {build_id} is expired"
        )));
    }
    if point.run_id != exec.run_id && current_run_only {
        return Err(Rejection::InvalidArgument(format!(
            "Reset point for {build_id} points to previous run and CurrentRunOnly is set"
        )));
    }
    Ok((point.run_id.clone(), point.first_workflow_task_completed_id))
}

/// The WorkflowTaskStarted event a reset to `finish` starts over from: `finish` must be
/// that event or the one after it (the task's completion, failure or timeout).
fn reset_point(events: &[h::HistoryEvent], finish: i64) -> ApplyResult<i64> {
    let last = events.len() as i64;
    if finish <= 1 || finish > last {
        return Err(Rejection::InvalidArgument(
            "Workflow task finish ID must be > 1 && <= workflow last event ID.".into(),
        ));
    }
    let is_started =
        |id: i64| events[id as usize - 1].event_type == EventType::WorkflowTaskStarted as i32;
    [finish, finish - 1]
        .into_iter()
        .find(|id| is_started(*id))
        .ok_or_else(|| {
            Rejection::InvalidArgument(format!(
                "Can only reset workflow to event ID in range [WorkflowTaskScheduled +1, WorkflowTaskStarted + 1]: {finish}"
            ))
        })
}

fn reapplies_signals(
    req: &temporalio_protos::temporal::api::workflowservice::v1::ResetWorkflowExecutionRequest,
) -> bool {
    req.reset_reapply_type != ResetReapplyType::None as i32
        && !req
            .reset_reapply_exclude_types
            .contains(&(ResetReapplyExcludeType::Signal as i32))
}

/// The new run's record: the base's settings, nothing pending yet.
fn new_run(
    ctx: &ApplyCtx,
    base: &ExecutionRecord,
    run_id: &str,
    request_id: &str,
) -> ExecutionRecord {
    ExecutionRecord {
        namespace: base.namespace.clone(),
        workflow_id: base.workflow_id.clone(),
        run_id: run_id.to_string(),
        workflow_type: base.workflow_type.clone(),
        task_queue: base.task_queue.clone(),
        status: WorkflowExecutionStatus::Running as i32,
        next_event_id: 1,
        start_time: ctx.now,
        execution_timeout: base.execution_timeout,
        run_timeout: base.run_timeout,
        task_timeout: base.task_timeout,
        start_request_id: request_id.to_string(),
        workflow_task_seq: base.workflow_task_seq,
        attempt: base.attempt,
        first_execution_run_id: base.first_execution_run_id.clone(),
        retry_policy: base.retry_policy.clone(),
        execution_deadline: base.execution_deadline,
        auto_reset_points: base.auto_reset_points.clone(),
        parent: base.parent.clone(),
        cron_schedule: base.cron_schedule.clone(),
        sticky_schedule_to_start_timeout: base.sticky_schedule_to_start_timeout,
        signal_request_ids: base.signal_request_ids.clone(),
        ..Default::default()
    }
}

/// The state the copied events leave behind.
#[derive(Default)]
struct Rebuilt {
    activities: Vec<ActivityInfo>,
    timers: Vec<TimerInfo>,
    memo: Option<temporalio_protos::temporal::api::common::v1::Memo>,
    search_attributes: Option<temporalio_protos::temporal::api::common::v1::SearchAttributes>,
    last_completed_started_event_id: i64,
    cancel_requested: bool,
    updates: std::collections::BTreeMap<String, UpdateInfo>,
}

impl Rebuilt {
    fn from_events(events: &[h::HistoryEvent]) -> ApplyResult<Self> {
        use Attributes as A;
        let mut s = Rebuilt::default();
        let mut open_children: Vec<i64> = Vec::new();
        let mut open_nexus: Vec<i64> = Vec::new();
        for e in events {
            let time = e.event_time.as_ref().map_or(0, |t| {
                t.seconds.saturating_mul(1_000_000_000) + i64::from(t.nanos)
            });
            match &e.attributes {
                Some(A::WorkflowExecutionStartedEventAttributes(a)) => {
                    s.memo = a.memo.clone();
                    s.search_attributes = a.search_attributes.clone();
                }
                Some(A::WorkflowTaskCompletedEventAttributes(a)) => {
                    s.last_completed_started_event_id = a.started_event_id;
                }
                Some(A::ActivityTaskScheduledEventAttributes(a)) => {
                    s.activities.push(activity(e.event_id, a));
                }
                Some(A::ActivityTaskCancelRequestedEventAttributes(a)) => {
                    if let Some(x) = s
                        .activities
                        .iter_mut()
                        .find(|x| x.scheduled_event_id == a.scheduled_event_id)
                    {
                        x.cancel_requested_event_id = e.event_id;
                    }
                }
                Some(A::ActivityTaskCompletedEventAttributes(a)) => {
                    s.end_activity(a.scheduled_event_id)
                }
                Some(A::ActivityTaskFailedEventAttributes(a)) => {
                    s.end_activity(a.scheduled_event_id)
                }
                Some(A::ActivityTaskTimedOutEventAttributes(a)) => {
                    s.end_activity(a.scheduled_event_id)
                }
                Some(A::ActivityTaskCanceledEventAttributes(a)) => {
                    s.end_activity(a.scheduled_event_id)
                }
                Some(A::TimerStartedEventAttributes(a)) => s.timers.push(TimerInfo {
                    timer_id: a.timer_id.clone(),
                    started_event_id: e.event_id,
                    fire_time: time.saturating_add(nanos(&a.start_to_fire_timeout)),
                }),
                Some(A::TimerFiredEventAttributes(a)) => s.end_timer(&a.timer_id),
                Some(A::TimerCanceledEventAttributes(a)) => s.end_timer(&a.timer_id),
                Some(A::UpsertWorkflowSearchAttributesEventAttributes(a)) => {
                    if let Some(update) = &a.search_attributes {
                        merge_search_attributes(&mut s.search_attributes, update);
                    }
                }
                Some(A::WorkflowPropertiesModifiedEventAttributes(a)) => {
                    if let Some(update) = &a.upserted_memo {
                        merge_memo(&mut s.memo, update);
                    }
                }
                Some(A::WorkflowExecutionCancelRequestedEventAttributes(_)) => {
                    s.cancel_requested = true
                }
                Some(A::WorkflowExecutionUpdateAcceptedEventAttributes(a)) => {
                    s.updates.insert(
                        a.protocol_instance_id.clone(),
                        UpdateInfo {
                            accepted_event_id: e.event_id,
                            completed_event_id: 0,
                        },
                    );
                }
                Some(A::WorkflowExecutionUpdateCompletedEventAttributes(a)) => {
                    let id = a
                        .meta
                        .as_ref()
                        .map(|m| m.update_id.clone())
                        .unwrap_or_default();
                    if let Some(u) = s.updates.get_mut(&id) {
                        u.completed_event_id = e.event_id;
                    }
                }
                Some(A::StartChildWorkflowExecutionInitiatedEventAttributes(_)) => {
                    open_children.push(e.event_id)
                }
                Some(A::NexusOperationScheduledEventAttributes(_)) => open_nexus.push(e.event_id),
                Some(other) => {
                    if let Some(initiated) = child_closed(other) {
                        open_children.retain(|id| *id != initiated);
                    }
                    if let Some(scheduled) = crate::nexus::ended_operation(other) {
                        open_nexus.retain(|id| *id != scheduled);
                    }
                }
                None => {}
            }
        }
        if let Some(id) = open_children.first() {
            return Err(Rejection::InvalidArgument(format!(
                "Keel cannot yet reset to a point where a child workflow is open (initiated in event {id}); choose an earlier or later workflow task."
            )));
        }
        if let Some(id) = open_nexus.first() {
            return Err(Rejection::InvalidArgument(format!(
                "Keel cannot yet reset to a point where a Nexus operation is pending (scheduled in event {id}); choose an earlier or later workflow task."
            )));
        }
        Ok(s)
    }

    fn end_activity(&mut self, scheduled_event_id: i64) {
        self.activities
            .retain(|a| a.scheduled_event_id != scheduled_event_id);
    }

    fn end_timer(&mut self, timer_id: &str) {
        self.timers.retain(|t| t.timer_id != timer_id);
    }

    /// Puts the state into the new run: activities dispatched again (a new attempt 1 from
    /// now), timers re-armed for their original fire times.
    fn install(self, ctx: &mut ApplyCtx, exec: &mut ExecutionRecord) {
        exec.memo = self.memo;
        exec.search_attributes = self.search_attributes;
        exec.last_completed_started_event_id = self.last_completed_started_event_id;
        exec.cancel_requested = self.cancel_requested;
        exec.updates = self.updates;
        for mut a in self.activities {
            a.scheduled_time = ctx.now;
            a.current_attempt_scheduled_time = ctx.now;
            crate::activity::schedule(ctx, exec, &a);
            exec.activities.push(a);
        }
        for t in self.timers {
            let record = TimerRecord::for_run(exec, TimerKind::UserTimer, t.started_event_id, 0);
            ctx.schedule_timer(t.fire_time, &record);
            exec.timers.push(t);
        }
    }
}

/// The initiated event id of the child an event says is over (or never started).
fn child_closed(attributes: &Attributes) -> Option<i64> {
    use Attributes as A;
    Some(match attributes {
        A::StartChildWorkflowExecutionFailedEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionCompletedEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionFailedEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionCanceledEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionTimedOutEventAttributes(a) => a.initiated_event_id,
        A::ChildWorkflowExecutionTerminatedEventAttributes(a) => a.initiated_event_id,
        _ => return None,
    })
}

/// A pending activity as its scheduled event describes it.
fn activity(scheduled_event_id: i64, a: &h::ActivityTaskScheduledEventAttributes) -> ActivityInfo {
    ActivityInfo {
        scheduled_event_id,
        activity_id: a.activity_id.clone(),
        activity_type: a.activity_type.clone().unwrap_or_default().name,
        task_queue: a.task_queue.clone().unwrap_or_default().name,
        header: a.header.clone(),
        input: a.input.clone(),
        schedule_to_close_timeout: nanos(&a.schedule_to_close_timeout),
        schedule_to_start_timeout: nanos(&a.schedule_to_start_timeout),
        start_to_close_timeout: nanos(&a.start_to_close_timeout),
        heartbeat_timeout: nanos(&a.heartbeat_timeout),
        retry_policy: a.retry_policy.clone(),
        attempt: 1,
        use_workflow_build_id: a.use_workflow_build_id,
        ..Default::default()
    }
}
