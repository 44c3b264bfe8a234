//! Batch operations (StartBatchOperation): a job record in replicated state with its request,
//! its state and its progress, and one mutation per target that applies the operation
//! (terminate, cancel, signal, delete, reset, and unpause, reset or new options of its
//! activities) to that run *and* records the progress in the same
//! batch, so a leader change or a kill -9 resumes the job where it stopped and no run is
//! ever acted on, or counted, twice: each target done is remembered in the job's done table,
//! and a step for a target already done changes nothing.
//!
//! The leader's runner (`server/src/batch.rs`) walks the job's targets (the visibility query
//! from the cursor on, or the listed executions from the next index) at the job's rate and
//! proposes `BatchStep`s, then `FinishBatch` when none is left. A target that is gone counts
//! as done, as Temporal counts NOT_FOUND; any other refusal counts as a failure (recorded by
//! `step_failed`, after the step's own writes are dropped).

use crate::activity_ops;
use crate::cancel_terminate;
use crate::ctx::ApplyCtx;
use crate::delete;
use crate::error::{ApplyResult, Rejection};
use crate::execution;
use crate::keys;
use crate::mutation::{
    BatchStep, FinishBatch, ResetActivity, ResetWorkflow, StartBatch, UnpauseActivity,
};
use crate::outcome::{Notification, Outcome};
use crate::records::BatchJobRecord;
use crate::reset;
use crate::signal;
use crate::visibility::index::fnv1a;
use temporalio_protos::temporal::api::{
    batch::v1::{
        batch_operation_reset_activities, batch_operation_unpause_activities,
        batch_operation_update_activity_options,
    },
    common::v1::WorkflowExecution,
    enums::v1::{BatchOperationState, BatchOperationType},
    workflowservice::v1::{self as ws, start_batch_operation_request::Operation},
};

/// Temporal's `frontend.MaxConcurrentBatchOperationPerNamespace` default.
pub const MAX_RUNNING_PER_NAMESPACE: usize = 1;

/// The operation's type, as Describe and List report it (the current names, as Temporal's).
pub fn operation_type(request: &ws::StartBatchOperationRequest) -> BatchOperationType {
    match &request.operation {
        Some(Operation::TerminationOperation(_)) => BatchOperationType::TerminateWorkflow,
        Some(Operation::CancellationOperation(_)) => BatchOperationType::CancelWorkflow,
        Some(Operation::SignalOperation(_)) => BatchOperationType::SignalWorkflow,
        Some(Operation::DeletionOperation(_)) => BatchOperationType::DeleteWorkflow,
        Some(Operation::ResetOperation(_)) => BatchOperationType::ResetWorkflow,
        Some(Operation::UpdateWorkflowOptionsOperation(_)) => {
            BatchOperationType::UpdateWorkflowExecutionOptions
        }
        Some(Operation::UnpauseActivitiesOperation(_)) => BatchOperationType::UnpauseActivity,
        Some(Operation::ResetActivitiesOperation(_)) => BatchOperationType::ResetActivity,
        Some(Operation::UpdateActivityOptionsOperation(_)) => {
            BatchOperationType::UpdateActivityOptions
        }
        _ => BatchOperationType::Unspecified,
    }
}

/// The operations Keel runs (the rest are refused by the frontend before they reach the log).
pub fn supported(request: &ws::StartBatchOperationRequest) -> bool {
    matches!(
        request.operation,
        Some(
            Operation::TerminationOperation(_)
                | Operation::CancellationOperation(_)
                | Operation::SignalOperation(_)
                | Operation::DeletionOperation(_)
                | Operation::ResetOperation(_)
                | Operation::UnpauseActivitiesOperation(_)
                | Operation::ResetActivitiesOperation(_)
                | Operation::UpdateActivityOptionsOperation(_)
                | Operation::UpdateWorkflowOptionsOperation(_)
        )
    )
}

/// Whether the operation changes the runs' options (feature level 5: older builds refuse
/// such a job).
pub fn updates_workflow_options(request: &ws::StartBatchOperationRequest) -> bool {
    matches!(
        request.operation,
        Some(Operation::UpdateWorkflowOptionsOperation(_))
    )
}

/// Whether the operation sets or removes the runs' versioning overrides (feature level 6).
pub fn sets_versioning_override(request: &ws::StartBatchOperationRequest) -> bool {
    matches!(
        &request.operation,
        Some(Operation::UpdateWorkflowOptionsOperation(op))
            if op.update_mask.as_ref().is_some_and(|m| m
                .paths
                .iter()
                .any(|p| p == "versioning_override" || p == "versioningOverride"))
    )
}

/// Whether the operation acts on a run's activities (feature level 3: older builds refuse
/// such a job).
pub fn acts_on_activities(request: &ws::StartBatchOperationRequest) -> bool {
    matches!(
        request.operation,
        Some(
            Operation::UnpauseActivitiesOperation(_)
                | Operation::ResetActivitiesOperation(_)
                | Operation::UpdateActivityOptionsOperation(_)
        )
    )
}

/// Whether the operation acts only on open runs (Temporal adds that to the query for these);
/// a delete or a reset takes closed runs too.
pub fn open_runs_only(request: &ws::StartBatchOperationRequest) -> bool {
    !matches!(
        request.operation,
        Some(Operation::DeletionOperation(_) | Operation::ResetOperation(_))
    )
}

fn load(ctx: &ApplyCtx, namespace: &str, job_id: &str) -> ApplyResult<BatchJobRecord> {
    ctx.get(&keys::batch_job(namespace, job_id))?
        .ok_or_else(|| Rejection::NotFound(format!("batch operation {job_id} not found")))
}

fn save(ctx: &mut ApplyCtx, job: &BatchJobRecord) {
    ctx.state.put(
        keys::batch_job(&job.namespace, &job.job_id),
        crate::canonical::encode(job, crate::canonical::BATCH_JOB_RECORD),
    );
}

pub(crate) fn start(ctx: &mut ApplyCtx, m: StartBatch) -> ApplyResult<Outcome> {
    let request = m.request.unwrap_or_default();
    if !supported(&request) {
        return Err(Rejection::InvalidArgument(
            "this batch operation type is not supported".into(),
        ));
    }
    let mut ns = ctx.namespace(&request.namespace)?;
    if ctx
        .get::<BatchJobRecord>(&keys::batch_job(&request.namespace, &request.job_id))?
        .is_some()
    {
        return Err(Rejection::WorkflowAlreadyStarted {
            workflow_id: request.job_id.clone(),
            run_id: String::new(),
            start_request_id: String::new(),
        });
    }
    if ns.running_batch_jobs.len() >= MAX_RUNNING_PER_NAMESPACE {
        return Err(Rejection::ResourceExhausted(
            "Max concurrent batch operations is reached".into(),
        ));
    }
    ns.running_batch_jobs.push(request.job_id.clone());
    ctx.put(keys::namespace(&ns.name), &ns);
    let job = BatchJobRecord {
        job_id: request.job_id.clone(),
        namespace: request.namespace.clone(),
        query: m.query,
        state: BatchOperationState::Running as i32,
        start_time: ctx.now,
        total_estimate: m.total_estimate,
        request: Some(request),
        ..Default::default()
    };
    save(ctx, &job);
    ctx.notify(Notification::BatchStarted {
        namespace: job.namespace.clone(),
        job_id: job.job_id.clone(),
    });
    Ok(Outcome::Done)
}

/// A deterministic request id per (job, run): a signal or cancellation sent again for the
/// same target is deduplicated by the run itself too.
fn request_id(job_id: &str, run_id: &str) -> String {
    format!("batch-{job_id}-{run_id}")
}

/// Applies the job's operation to one target.
fn act(ctx: &mut ApplyCtx, job: &BatchJobRecord, target: WorkflowExecution) -> ApplyResult<()> {
    let request = job.request.clone().unwrap_or_default();
    let namespace = job.namespace.clone();
    let id = request_id(&job.job_id, &target.run_id);
    match request.operation {
        Some(Operation::TerminationOperation(op)) => {
            cancel_terminate::terminate(
                ctx,
                ws::TerminateWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: Some(target),
                    reason: request.reason,
                    details: op.details,
                    identity: op.identity,
                    ..Default::default()
                },
            )?;
        }
        Some(Operation::CancellationOperation(op)) => {
            cancel_terminate::request_cancel(
                ctx,
                ws::RequestCancelWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: Some(target),
                    identity: op.identity,
                    request_id: id,
                    reason: request.reason,
                    ..Default::default()
                },
            )?;
        }
        Some(Operation::SignalOperation(op)) => {
            signal::signal(
                ctx,
                ws::SignalWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: Some(target),
                    signal_name: op.signal,
                    input: op.input,
                    identity: op.identity,
                    request_id: id,
                    header: op.header,
                    ..Default::default()
                },
            )?;
        }
        Some(Operation::ResetOperation(op)) => {
            let exec = execution::resolve(ctx, &namespace, &target.workflow_id, &target.run_id)?;
            let (run_id, finish) = reset::batch_point(ctx, &exec, &op)?;
            let options = op.options.clone().unwrap_or_default();
            #[allow(deprecated)]
            let reapply = if op.options.is_some() {
                options.reset_reapply_type
            } else {
                op.reset_reapply_type
            };
            let new_run_id = ctx.derived_uuid(&id);
            reset::reset(
                ctx,
                ResetWorkflow {
                    request: Some(ws::ResetWorkflowExecutionRequest {
                        namespace,
                        workflow_execution: Some(WorkflowExecution {
                            workflow_id: target.workflow_id,
                            run_id,
                        }),
                        reason: request.reason,
                        workflow_task_finish_event_id: finish,
                        request_id: id,
                        reset_reapply_type: reapply,
                        reset_reapply_exclude_types: options.reset_reapply_exclude_types,
                        identity: op.identity,
                        ..Default::default()
                    }),
                    new_run_id,
                },
            )?;
        }
        Some(Operation::UnpauseActivitiesOperation(op)) => {
            use batch_operation_unpause_activities::Activity as A;
            let activity = match op.activity {
                Some(A::Type(t)) => ws::unpause_activity_request::Activity::Type(t),
                Some(A::MatchAll(_)) | None => {
                    ws::unpause_activity_request::Activity::UnpauseAll(true)
                }
            };
            activity_ops::unpause(
                ctx,
                UnpauseActivity {
                    request: Some(ws::UnpauseActivityRequest {
                        namespace,
                        execution: Some(target),
                        identity: op.identity,
                        activity: Some(activity),
                        reset_attempts: op.reset_attempts,
                        reset_heartbeat: op.reset_heartbeat,
                        jitter: op.jitter,
                    }),
                    jitter_seed: fnv1a(id.as_bytes()),
                },
            )?;
        }
        Some(Operation::ResetActivitiesOperation(op)) => {
            use batch_operation_reset_activities::Activity as A;
            let activity = match op.activity {
                Some(A::Type(t)) => ws::reset_activity_request::Activity::Type(t),
                Some(A::MatchAll(_)) | None => ws::reset_activity_request::Activity::MatchAll(true),
            };
            activity_ops::reset(
                ctx,
                ResetActivity {
                    request: Some(ws::ResetActivityRequest {
                        namespace,
                        execution: Some(target),
                        identity: op.identity,
                        activity: Some(activity),
                        reset_heartbeat: op.reset_heartbeat,
                        keep_paused: op.keep_paused,
                        jitter: op.jitter,
                        restore_original_options: op.restore_original_options,
                    }),
                    jitter_seed: fnv1a(id.as_bytes()),
                },
            )?;
        }
        Some(Operation::UpdateActivityOptionsOperation(op)) => {
            use batch_operation_update_activity_options::Activity as A;
            let activity = match op.activity {
                Some(A::Type(t)) => ws::update_activity_options_request::Activity::Type(t),
                Some(A::MatchAll(_)) | None => {
                    ws::update_activity_options_request::Activity::MatchAll(true)
                }
            };
            activity_ops::update_options(
                ctx,
                ws::UpdateActivityOptionsRequest {
                    namespace,
                    execution: Some(target),
                    identity: op.identity,
                    activity: Some(activity),
                    activity_options: op.activity_options,
                    update_mask: op.update_mask,
                    restore_original: op.restore_original,
                },
            )?;
        }
        Some(Operation::UpdateWorkflowOptionsOperation(op)) => {
            crate::workflow_options::update(
                ctx,
                ws::UpdateWorkflowExecutionOptionsRequest {
                    namespace,
                    workflow_execution: Some(target),
                    workflow_execution_options: op.workflow_execution_options,
                    update_mask: op.update_mask,
                    identity: op.identity,
                },
            )?;
        }
        Some(Operation::DeletionOperation(_)) => {
            delete::delete(
                ctx,
                ws::DeleteWorkflowExecutionRequest {
                    namespace,
                    workflow_execution: Some(target),
                },
            )?;
        }
        _ => {
            return Err(Rejection::InvalidArgument(
                "this batch operation type is not supported".into(),
            ))
        }
    }
    Ok(())
}

/// The key remembering that a step's target is done: by run for a query's targets, by
/// position for the request's listed executions (a workflow listed twice is acted on twice;
/// the run deduplicates the second signal or cancellation by its request id).
fn done_key(m: &BatchStep) -> Vec<u8> {
    if m.order.is_empty() {
        keys::batch_done(&m.namespace, &m.job_id, "", &m.index.to_string())
    } else {
        keys::batch_done(&m.namespace, &m.job_id, &m.workflow_id, &m.run_id)
    }
}

/// Moves the job past a target (done now or before) and remembers it as done.
fn advance(ctx: &mut ApplyCtx, job: &mut BatchJobRecord, m: &BatchStep) {
    if m.order.is_empty() {
        job.next_execution = job.next_execution.max(m.index + 1);
    } else if m.order > job.cursor {
        job.cursor = m.order.clone();
    }
    ctx.state.put(done_key(m), Vec::new());
    save(ctx, job);
}

/// The job, if it still runs, and whether the step's target is new to it.
fn running_job(ctx: &ApplyCtx, m: &BatchStep) -> ApplyResult<Option<(BatchJobRecord, bool)>> {
    let job = load(ctx, &m.namespace, &m.job_id)?;
    if job.state != BatchOperationState::Running as i32 {
        return Ok(None);
    }
    let new = ctx.get_raw(&done_key(m))?.is_none();
    Ok(Some((job, new)))
}

pub(crate) fn step(ctx: &mut ApplyCtx, m: BatchStep) -> ApplyResult<Outcome> {
    let Some((mut job, new)) = running_job(ctx, &m)? else {
        return Ok(Outcome::Done);
    };
    if new {
        let target = WorkflowExecution {
            workflow_id: m.workflow_id.clone(),
            run_id: m.run_id.clone(),
        };
        match act(ctx, &job, target) {
            // A run that is gone or already closed counts as done, as on Temporal.
            Ok(()) | Err(Rejection::NotFound(_)) => job.complete_count += 1,
            Err(e) => return Err(e),
        }
    }
    advance(ctx, &mut job, &m);
    Ok(Outcome::Done)
}

/// A step whose operation was refused (its writes dropped): the target counts as failed.
pub(crate) fn step_failed(ctx: &mut ApplyCtx, m: &BatchStep) -> ApplyResult<()> {
    if let Some((mut job, true)) = running_job(ctx, m)? {
        job.failure_count += 1;
        advance(ctx, &mut job, m);
    }
    Ok(())
}

fn close(
    ctx: &mut ApplyCtx,
    mut job: BatchJobRecord,
    state: BatchOperationState,
    reason: String,
) -> ApplyResult<()> {
    job.state = state as i32;
    job.close_time = ctx.now;
    job.stop_reason = reason;
    let mut ns = ctx.namespace(&job.namespace)?;
    ns.running_batch_jobs.retain(|id| *id != job.job_id);
    ctx.put(keys::namespace(&ns.name), &ns);
    save(ctx, &job);
    Ok(())
}

pub(crate) fn finish(ctx: &mut ApplyCtx, m: FinishBatch) -> ApplyResult<Outcome> {
    let job = load(ctx, &m.namespace, &m.job_id)?;
    if job.state == BatchOperationState::Running as i32 {
        close(ctx, job, BatchOperationState::Completed, String::new())?;
    }
    Ok(Outcome::Done)
}

/// StopBatchOperation: the job ends as FAILED (Temporal terminates its batch workflow, which
/// Describe reports as failed); steps still in flight change nothing.
pub(crate) fn stop(ctx: &mut ApplyCtx, req: ws::StopBatchOperationRequest) -> ApplyResult<Outcome> {
    let job = load(ctx, &req.namespace, &req.job_id)?;
    if job.state == BatchOperationState::Running as i32 {
        close(ctx, job, BatchOperationState::Failed, req.reason)?;
    }
    Ok(Outcome::Done)
}
