//! StartWorkflowExecution: request-id idempotency, workflow-id reuse and conflict policies,
//! the WorkflowExecutionStarted event, the first workflow task (after a start delay or a
//! cron schedule's wait) and the run timeout; and the next run of a chain: retry,
//! continue-as-new, cron.

use crate::cron;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution;
use crate::history::{self, Attributes};
use crate::keys;
use crate::mutation::{StartTask, StartWorkflow};
use crate::outcome::Outcome;
use crate::priority;
use crate::records::{CurrentRun, ExecutionRecord, ParentInfo, TimerKind, TimerRecord};
use crate::reset_points;
use crate::search_attributes;
use crate::time::{duration, explicit_duration, nanos, secs, timestamp};
use crate::validate;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    command::v1::ContinueAsNewWorkflowExecutionCommandAttributes,
    common::v1::{Payloads, WorkflowExecution, WorkflowType},
    enums::v1::{
        ContinueAsNewInitiator, EventType, TaskQueueKind, WorkflowExecutionStatus as Status,
        WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
    },
    failure::v1::Failure,
    history::v1 as h,
    taskqueue::v1::TaskQueue,
    workflowservice::v1 as ws,
};

/// Temporal's default workflow task timeout.
pub(crate) const DEFAULT_TASK_TIMEOUT_SECS: i64 = 10;
/// Temporal caps the workflow task timeout at two minutes.
pub(crate) const MAX_TASK_TIMEOUT_SECS: i64 = 120;

pub(crate) fn start(ctx: &mut ApplyCtx, m: StartWorkflow) -> ApplyResult<Outcome> {
    let mut req = m.request.unwrap_or_default();
    if !m.record_user_metadata {
        req.user_metadata = None; // as the builds before feature level 2 applied it
    }
    let eager = m.eager.then(|| StartTask {
        identity: req.identity.clone(),
        request_id: req.request_id.clone(),
        suggest: m.suggest,
        ..Default::default()
    });
    let (namespace, workflow_id) = (req.namespace.clone(), req.workflow_id.clone());
    let outcome = start_with(ctx, req, m.run_id, None, |_, _| Ok(()))?;
    match (outcome, eager) {
        (Outcome::WorkflowStarted { run_id, started }, Some(poll)) => {
            let mut exec = execution::load(ctx, &namespace, &workflow_id, &run_id)?;
            match workflow_task::start_first_eagerly(ctx, &mut exec, poll)? {
                Some(task) => {
                    execution::save(ctx, &mut exec);
                    Ok(Outcome::EagerWorkflowStarted {
                        run_id,
                        task: Box::new(task),
                    })
                }
                None => Ok(Outcome::WorkflowStarted { run_id, started }),
            }
        }
        (outcome, _) => Ok(outcome),
    }
}

/// Starts a run (a child of `parent`, if given); `first_events` may add events
/// (signal-with-start's signal) between WorkflowExecutionStarted and the first workflow task.
pub(crate) fn start_with(
    ctx: &mut ApplyCtx,
    mut req: ws::StartWorkflowExecutionRequest,
    run_id: String,
    parent: Option<(ParentInfo, crate::versioning::Inherited)>,
    first_events: impl FnOnce(&mut ApplyCtx, &mut ExecutionRecord) -> ApplyResult<()>,
) -> ApplyResult<Outcome> {
    let (parent, inherited) = match parent {
        Some((p, inherited)) => (Some(p), Some(inherited)),
        None => (None, None),
    };
    let namespace = ctx.namespace(&req.namespace)?;
    validate::start_request(&req).map_err(Rejection::InvalidArgument)?;
    let priority =
        priority::checked(ctx, req.priority.take()).map_err(Rejection::InvalidArgument)?;
    if let Some(attributes) = &mut req.search_attributes {
        search_attributes::check(&namespace, attributes).map_err(Rejection::InvalidArgument)?;
    }
    let versioning_override =
        crate::versioning::start_override(ctx, req.versioning_override.take())?;

    let current: Option<CurrentRun> =
        ctx.get(&keys::current_run(&req.namespace, &req.workflow_id))?;
    if let Some(current) = current {
        if !req.request_id.is_empty() && current.start_request_id == req.request_id {
            return Ok(Outcome::WorkflowStarted {
                run_id: current.run_id,
                started: true,
            });
        }
        let already_started = || Rejection::WorkflowAlreadyStarted {
            workflow_id: req.workflow_id.clone(),
            run_id: current.run_id.clone(),
            start_request_id: current.start_request_id.clone(),
        };
        let reuse = WorkflowIdReusePolicy::try_from(req.workflow_id_reuse_policy)
            .unwrap_or(WorkflowIdReusePolicy::AllowDuplicate);
        if current.status == Status::Running as i32 {
            let conflict = WorkflowIdConflictPolicy::try_from(req.workflow_id_conflict_policy)
                .unwrap_or(WorkflowIdConflictPolicy::Unspecified);
            let terminate = conflict == WorkflowIdConflictPolicy::TerminateExisting
                || reuse == WorkflowIdReusePolicy::TerminateIfRunning;
            match conflict {
                WorkflowIdConflictPolicy::UseExisting => {
                    return Ok(Outcome::WorkflowStarted {
                        run_id: current.run_id,
                        started: false,
                    })
                }
                _ if terminate => terminate_for_new_run(ctx, &req, &current.run_id)?,
                _ => return Err(already_started()),
            }
        } else {
            let closed_unsuccessfully = [
                Status::Failed,
                Status::Canceled,
                Status::Terminated,
                Status::TimedOut,
            ]
            .iter()
            .any(|s| *s as i32 == current.status);
            match reuse {
                WorkflowIdReusePolicy::RejectDuplicate => return Err(already_started()),
                WorkflowIdReusePolicy::AllowDuplicateFailedOnly if !closed_unsuccessfully => {
                    return Err(already_started())
                }
                _ => {}
            }
        }
    }

    let mut execution_timeout = nanos(&req.workflow_execution_timeout);
    let mut run_timeout = nanos(&req.workflow_run_timeout);
    if run_timeout == 0 || (execution_timeout > 0 && run_timeout > execution_timeout) {
        run_timeout = execution_timeout;
    }
    if execution_timeout < 0 {
        execution_timeout = 0;
    }
    let mut task_timeout = nanos(&req.workflow_task_timeout);
    if task_timeout <= 0 {
        task_timeout = secs(DEFAULT_TASK_TIMEOUT_SECS);
    }
    task_timeout = task_timeout.min(secs(MAX_TASK_TIMEOUT_SECS));
    if run_timeout > 0 {
        task_timeout = task_timeout.min(run_timeout);
    }

    // A cron workflow's first run waits for the schedule; any other for its start delay.
    let (backoff, initiator) = if req.cron_schedule.is_empty() {
        (
            nanos(&req.workflow_start_delay).max(0),
            ContinueAsNewInitiator::Unspecified,
        )
    } else {
        (
            cron::backoff(&req.cron_schedule, ctx.now, ctx.now).unwrap_or(0),
            ContinueAsNewInitiator::CronSchedule,
        )
    };

    let task_queue = req.task_queue.clone().unwrap_or_default().name;
    let mut exec = ExecutionRecord {
        namespace: req.namespace.clone(),
        workflow_id: req.workflow_id.clone(),
        run_id: run_id.clone(),
        workflow_type: req.workflow_type.clone().unwrap_or_default().name,
        task_queue: task_queue.clone(),
        status: Status::Running as i32,
        next_event_id: 1,
        start_time: ctx.now,
        execution_timeout,
        run_timeout,
        task_timeout,
        start_request_id: req.request_id.clone(),
        memo: req.memo.clone(),
        search_attributes: req.search_attributes.clone(),
        attempt: 1,
        first_execution_run_id: run_id.clone(),
        retry_policy: req.retry_policy.clone(),
        execution_deadline: if execution_timeout > 0 {
            ctx.now + execution_timeout
        } else {
            0
        },
        parent: parent.clone(),
        cron_schedule: req.cron_schedule.clone(),
        first_task_not_before: ctx.now + backoff,
        priority: priority.clone(),
        nexus_callbacks: crate::nexus::callback_targets(&req.completion_callbacks),
        versioning: versioning_override
            .clone()
            .map(|o| crate::records::RunVersioning {
                versioning_override: Some(o),
                ..Default::default()
            }),
        ..Default::default()
    };
    let parent_namespace_id = match &parent {
        Some(p) => ctx.namespace(&p.namespace)?.id,
        None => String::new(),
    };
    let execution = |workflow_id: &str, run_id: &str| WorkflowExecution {
        workflow_id: workflow_id.to_string(),
        run_id: run_id.to_string(),
    };
    let user_metadata = req.user_metadata.take();
    let mut started = history::event(
        ctx,
        EventType::WorkflowExecutionStarted,
        Attributes::WorkflowExecutionStartedEventAttributes(
            h::WorkflowExecutionStartedEventAttributes {
                workflow_type: req.workflow_type,
                task_queue: Some(TaskQueue {
                    name: task_queue,
                    kind: TaskQueueKind::Normal as i32,
                    ..Default::default()
                }),
                input: req.input,
                workflow_execution_timeout: duration(execution_timeout),
                // Temporal writes a child's run timeout even when it is none.
                workflow_run_timeout: if parent.is_some() {
                    explicit_duration(run_timeout)
                } else {
                    duration(run_timeout)
                },
                workflow_task_timeout: duration(task_timeout),
                original_execution_run_id: run_id.clone(),
                identity: req.identity,
                first_execution_run_id: run_id.clone(),
                retry_policy: req.retry_policy,
                attempt: 1,
                workflow_execution_expiration_time: if execution_timeout > 0 {
                    timestamp(ctx.now + execution_timeout)
                } else {
                    None
                },
                memo: req.memo,
                search_attributes: req.search_attributes,
                header: req.header,
                workflow_id: req.workflow_id,
                initiator: initiator as i32,
                cron_schedule: req.cron_schedule,
                first_workflow_task_backoff: explicit_duration(backoff),
                // What a schedule carries from its previous run.
                last_completion_result: req.last_completion_result,
                continued_failure: req.continued_failure,
                parent_workflow_namespace: parent
                    .as_ref()
                    .map(|p| p.namespace.clone())
                    .unwrap_or_default(),
                parent_workflow_namespace_id: parent_namespace_id,
                parent_workflow_execution: parent
                    .as_ref()
                    .map(|p| execution(&p.workflow_id, &p.run_id)),
                parent_initiated_event_id: parent.as_ref().map_or(0, |p| p.initiated_event_id),
                root_workflow_execution: parent
                    .as_ref()
                    .map(|p| execution(&p.root_workflow_id, &p.root_run_id)),
                priority,
                versioning_override,
                completion_callbacks: req.completion_callbacks,
                ..Default::default()
            },
        ),
    );
    // The starter's summary and details (shown by Describe), on the event as Temporal keeps them.
    started.user_metadata = user_metadata;
    if let (Some(inherited), Some(Attributes::WorkflowExecutionStartedEventAttributes(a))) =
        (inherited, started.attributes.as_mut())
    {
        inherited.apply(&mut exec, a);
    }
    history::append(ctx, &mut exec, started);
    first_events(ctx, &mut exec)?;
    begin(ctx, exec, backoff);
    Ok(Outcome::WorkflowStarted {
        run_id,
        started: true,
    })
}

/// Temporal's workflow retry: a failed run with attempts left continues as a new run with
/// the same inputs, `attempt + 1`, chained to the old one by run ids; its first workflow task
/// is scheduled when the backoff is over.
pub(crate) fn retry_run(
    ctx: &mut ApplyCtx,
    old: &ExecutionRecord,
    run_id: &str,
    backoff: i64,
    failure: Failure,
) -> ApplyResult<()> {
    let prev = started_attributes(ctx, old)?;
    let mut exec = next_run_record(ctx, old, run_id)?;
    exec.attempt = old.attempt + 1;
    let started = h::WorkflowExecutionStartedEventAttributes {
        continued_execution_run_id: old.run_id.clone(),
        initiator: ContinueAsNewInitiator::Retry as i32,
        continued_failure: Some(failure),
        original_execution_run_id: run_id.to_string(),
        attempt: exec.attempt,
        first_workflow_task_backoff: explicit_duration(backoff),
        prev_auto_reset_points: exec.auto_reset_points.clone(),
        ..prev
    };
    start_next_run(ctx, old, true, exec, started, backoff)
}

/// What the ContinueAsNewWorkflowExecution command asks of the next run, normalised.
pub(crate) struct Continuation {
    pub workflow_type: String,
    pub task_queue: String,
    pub run_timeout: i64,
    pub task_timeout: i64,
    pub backoff: i64,
    pub attributes: ContinueAsNewWorkflowExecutionCommandAttributes,
}

/// Continue-as-new: a new run of the same workflow id with the command's input (attempt 1),
/// chained to the old one; type, queue, timeouts, retry policy, memo and search attributes
/// are the command's where it sets them, the old run's otherwise.
pub(crate) fn continue_run(
    ctx: &mut ApplyCtx,
    old: &ExecutionRecord,
    run_id: &str,
    next: Continuation,
) -> ApplyResult<()> {
    let prev = started_attributes(ctx, old)?;
    let mut exec = next_run_record(ctx, old, run_id)?;
    let a = next.attributes;
    exec.attempt = 1;
    exec.workflow_type = next.workflow_type.clone();
    exec.task_queue = next.task_queue.clone();
    exec.run_timeout = next.run_timeout;
    exec.task_timeout = next.task_timeout;
    if a.retry_policy.is_some() {
        exec.retry_policy = a.retry_policy.clone();
    }
    if a.memo.is_some() {
        exec.memo = a.memo.clone();
    }
    if a.search_attributes.is_some() {
        exec.search_attributes = a.search_attributes.clone();
    }
    if !a.cron_schedule.is_empty() {
        exec.cron_schedule = a.cron_schedule.clone();
    }
    // A continue-as-new may ask its next run to start afresh on the current version.
    let inherit_pin = a.initial_versioning_behavior
        != temporalio_protos::temporal::api::enums::v1::ContinueAsNewVersioningBehavior::AutoUpgrade
            as i32;
    let initiator = match ContinueAsNewInitiator::try_from(a.initiator) {
        Ok(ContinueAsNewInitiator::Unspecified) | Err(_) => ContinueAsNewInitiator::Workflow,
        Ok(given) => given,
    };
    let started = h::WorkflowExecutionStartedEventAttributes {
        workflow_type: Some(WorkflowType {
            name: next.workflow_type,
        }),
        task_queue: Some(TaskQueue {
            name: next.task_queue,
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        }),
        input: a.input,
        workflow_run_timeout: explicit_duration(next.run_timeout),
        workflow_task_timeout: duration(next.task_timeout),
        continued_execution_run_id: old.run_id.clone(),
        initiator: initiator as i32,
        continued_failure: a.failure,
        last_completion_result: a.last_completion_result,
        original_execution_run_id: run_id.to_string(),
        retry_policy: exec.retry_policy.clone(),
        attempt: 1,
        first_workflow_task_backoff: (next.backoff > 0)
            .then(|| explicit_duration(next.backoff))
            .flatten(),
        memo: exec.memo.clone(),
        search_attributes: exec.search_attributes.clone(),
        prev_auto_reset_points: exec.auto_reset_points.clone(),
        header: a.header,
        identity: String::new(),
        ..prev
    };
    start_next_run(ctx, old, inherit_pin, exec, started, next.backoff)
}

/// The WorkflowExecutionStarted attributes of a run (its first event).
fn started_attributes(
    ctx: &ApplyCtx,
    exec: &ExecutionRecord,
) -> ApplyResult<h::WorkflowExecutionStartedEventAttributes> {
    let first: Option<h::HistoryEvent> = ctx.get(&keys::history_event(
        &exec.namespace,
        &exec.workflow_id,
        &exec.run_id,
        1,
    ))?;
    match first.and_then(|e| e.attributes) {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => Ok(a),
        _ => Err(Rejection::Internal(
            "a run without its started event".into(),
        )),
    }
}

/// The record of the run that continues `old`: same workflow, nothing pending, history not
/// yet written, the old run's reset points carried with an expiry.
fn next_run_record(
    ctx: &ApplyCtx,
    old: &ExecutionRecord,
    run_id: &str,
) -> ApplyResult<ExecutionRecord> {
    let retention = ctx.namespace(&old.namespace)?.retention;
    Ok(ExecutionRecord {
        namespace: old.namespace.clone(),
        workflow_id: old.workflow_id.clone(),
        run_id: run_id.to_string(),
        workflow_type: old.workflow_type.clone(),
        task_queue: old.task_queue.clone(),
        status: Status::Running as i32,
        next_event_id: 1,
        start_time: ctx.now,
        execution_timeout: old.execution_timeout,
        run_timeout: old.run_timeout,
        task_timeout: old.task_timeout,
        start_request_id: old.start_request_id.clone(),
        memo: old.memo.clone(),
        search_attributes: crate::versioning::without_server_attributes(
            old.search_attributes.clone(),
        ),
        attempt: old.attempt,
        first_execution_run_id: old.first_execution_run_id.clone(),
        retry_policy: old.retry_policy.clone(),
        execution_deadline: old.execution_deadline,
        auto_reset_points: reset_points::carried_to_next_run(old, ctx.now, retention),
        parent: old.parent.clone(),
        cron_schedule: old.cron_schedule.clone(),
        schedule_id: old.schedule_id.clone(),
        priority: old.priority.clone(),
        nexus_callbacks: old.nexus_callbacks.clone(),
        ..Default::default()
    })
}

/// Writes the next run's WorkflowExecutionStarted, makes it the current run, and schedules
/// its first workflow task (after `backoff`) and its run timeout.
/// `old`'s next run begins; it inherits `old`'s pinned override and (`with_pin`) its pinned
/// version, where they apply (see `versioning::inherited`).
fn start_next_run(
    ctx: &mut ApplyCtx,
    old: &ExecutionRecord,
    with_pin: bool,
    mut exec: ExecutionRecord,
    mut started: h::WorkflowExecutionStartedEventAttributes,
    backoff: i64,
) -> ApplyResult<()> {
    crate::versioning::inherited(ctx, old, &exec.namespace, &exec.task_queue, with_pin)?
        .apply(&mut exec, &mut started);
    exec.first_task_not_before = ctx.now + backoff;
    let started = history::event(
        ctx,
        EventType::WorkflowExecutionStarted,
        Attributes::WorkflowExecutionStartedEventAttributes(started),
    );
    history::append(ctx, &mut exec, started);
    begin(ctx, exec, backoff);
    Ok(())
}

/// A run whose WorkflowExecutionStarted is written begins: its first workflow task now or
/// when `backoff` is over, its run timeout counted from then; it becomes the current run.
fn begin(ctx: &mut ApplyCtx, mut exec: ExecutionRecord, backoff: i64) {
    let (backoff_over, run_timed_out) = (
        TimerRecord::for_run(&exec, TimerKind::WorkflowBackoff, 0, 0),
        TimerRecord::for_run(&exec, TimerKind::WorkflowRunTimeout, 0, 0),
    );
    if exec.run_timeout > 0 {
        ctx.schedule_timer(ctx.now + backoff + exec.run_timeout, &run_timed_out);
    }
    if backoff > 0 {
        ctx.schedule_timer(ctx.now + backoff, &backoff_over);
    } else {
        workflow_task::ensure_scheduled(ctx, &mut exec);
    }
    execution::set_current(ctx, &exec);
    execution::save(ctx, &mut exec);
}

/// The wait before a cron workflow's next run, if `exec` is a cron run that may have one:
/// measured from when this run was scheduled to start, as Temporal does; none once the
/// execution timeout is over.
pub(crate) fn cron_backoff(ctx: &ApplyCtx, exec: &ExecutionRecord) -> Option<i64> {
    if exec.cron_schedule.is_empty()
        || (exec.execution_deadline > 0 && ctx.now >= exec.execution_deadline)
    {
        return None;
    }
    let scheduled = exec.start_time.max(exec.first_task_not_before);
    cron::backoff(&exec.cron_schedule, scheduled, ctx.now)
}

/// How a cron run ended, for the next run to see.
pub(crate) enum CronOutcome {
    Completed(Option<Payloads>),
    Failed(Box<Failure>),
}

/// A cron workflow's next run: the same input, attempt 1, initiator CRON_SCHEDULE, the
/// closing run's result (or, after a failure, its failure and the last result before it).
pub(crate) fn cron_run(
    ctx: &mut ApplyCtx,
    old: &ExecutionRecord,
    run_id: &str,
    backoff: i64,
    outcome: CronOutcome,
) -> ApplyResult<()> {
    let prev = started_attributes(ctx, old)?;
    let mut exec = next_run_record(ctx, old, run_id)?;
    exec.attempt = 1;
    let (last_completion_result, continued_failure) = match outcome {
        CronOutcome::Completed(result) => (result, None),
        CronOutcome::Failed(failure) => (prev.last_completion_result.clone(), Some(*failure)),
    };
    let started = h::WorkflowExecutionStartedEventAttributes {
        continued_execution_run_id: old.run_id.clone(),
        initiator: ContinueAsNewInitiator::CronSchedule as i32,
        last_completion_result,
        continued_failure,
        original_execution_run_id: run_id.to_string(),
        attempt: 1,
        first_workflow_task_backoff: explicit_duration(backoff),
        prev_auto_reset_points: exec.auto_reset_points.clone(),
        identity: String::new(),
        ..prev
    };
    start_next_run(ctx, old, false, exec, started, backoff)
}

/// The running run gives way to a new one (conflict policy TERMINATE_EXISTING or reuse
/// policy TERMINATE_IF_RUNNING).
fn terminate_for_new_run(
    ctx: &mut ApplyCtx,
    req: &ws::StartWorkflowExecutionRequest,
    run_id: &str,
) -> ApplyResult<()> {
    let mut old = execution::load(ctx, &req.namespace, &req.workflow_id, run_id)?;
    history::flush_buffered(ctx, &mut old);
    execution::close(
        ctx,
        &mut old,
        Status::Terminated,
        EventType::WorkflowExecutionTerminated,
        Attributes::WorkflowExecutionTerminatedEventAttributes(
            h::WorkflowExecutionTerminatedEventAttributes {
                reason: "terminated by a new start of the same workflow id".into(),
                details: None,
                identity: req.identity.clone(),
            },
        ),
    );
    execution::save(ctx, &mut old);
    Ok(())
}
