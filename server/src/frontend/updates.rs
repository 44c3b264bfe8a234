//! UpdateWorkflowExecution and PollWorkflowExecutionUpdate: admitting an update (limits,
//! deduplication by update id, a speculative workflow task to carry it) and waiting for the
//! stage the caller asked for. A waiting update's state is the leader's (`crate::updates`);
//! an accepted one's is in history (`ExecutionRecord.updates`).

use super::history::read_events;
use super::{client_timeout, Frontend, Res};
use crate::errors;
use crate::updates::{Admission, Settled};
use keel_engine::mutation::{Kind, ScheduleUpdateTask};
use keel_engine::records::ExecutionRecord;
use keel_engine::validate;
use prost::Message as _;
use std::time::Duration;
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::{UpdateWorkflowExecutionLifecycleStage as Stage, WorkflowExecutionStatus},
    failure::v1::{failure::FailureInfo, ApplicationFailureInfo, Failure},
    history::v1::{history_event::Attributes, HistoryEvent},
    update::v1::{self as u, outcome},
    workflowservice::v1::*,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

/// Temporal answers an update call after at most this long with the stage reached.
const UPDATE_LONG_POLL: Duration = Duration::from_secs(20);
/// Temporal's limit on updates per run (accepted ones; rejections do not count).
const MAX_TOTAL: usize = 2000;

/// When the wait ends. A caller whose own deadline comes first gets DEADLINE_EXCEEDED
/// then (as from Temporal); otherwise the answer after `UPDATE_LONG_POLL` is the stage
/// reached, and the caller asks again.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    callers: bool,
}

fn deadline<T>(req: &Request<T>) -> Deadline {
    match client_timeout(req) {
        Some(t) if t <= UPDATE_LONG_POLL => Deadline {
            at: Instant::now() + t,
            callers: true,
        },
        _ => Deadline {
            at: Instant::now() + UPDATE_LONG_POLL,
            callers: false,
        },
    }
}

/// The stage to wait for: ADMITTED is refused as by Temporal; none means ACCEPTED.
fn wait_stage(policy: &Option<u::WaitPolicy>) -> Result<Stage, Status> {
    let stage = policy.as_ref().map_or(0, |p| p.lifecycle_stage);
    match Stage::try_from(stage).unwrap_or_default() {
        Stage::Admitted => Err(errors::permission_denied(
            "UpdateWorkflowExecution issued asynchronously and waiting on update admitted is not supported.",
        )),
        Stage::Completed => Ok(Stage::Completed),
        _ => Ok(Stage::Accepted),
    }
}

fn is_running(exec: &ExecutionRecord) -> bool {
    exec.status == WorkflowExecutionStatus::Running as i32
}

/// What a caller gets: the stage reached and, once completed, the outcome.
struct Reached {
    exec: ExecutionRecord,
    stage: Stage,
    outcome: Option<u::Outcome>,
}

pub(super) async fn update(
    f: &Frontend,
    req: Request<UpdateWorkflowExecutionRequest>,
) -> Res<UpdateWorkflowExecutionResponse> {
    let deadline = deadline(&req);
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    let stage = wait_stage(&req.wait_policy)?;
    let request = req
        .request
        .ok_or_else(|| errors::invalid_argument("Update request is not set on request."))?;
    let id = request
        .meta
        .as_ref()
        .map(|m| m.update_id.clone())
        .unwrap_or_default();
    if id.is_empty() {
        return Err(errors::invalid_argument("Update id is not set on request."));
    }
    if request.input.as_ref().is_none_or(|i| i.name.is_empty()) {
        return Err(errors::invalid_argument(
            "Update name is not set on request.",
        ));
    }
    validate::payload_size("Update input", &request).map_err(errors::invalid_argument)?;
    f.keel.linearizable().await?;
    let target = req.workflow_execution.unwrap_or_default();
    loop {
        let exec = f
            .keel
            .execution(&req.namespace, &target.workflow_id, &target.run_id)?;
        if !req.first_execution_run_id.is_empty()
            && exec.first_execution_run_id != req.first_execution_run_id
        {
            return Err(errors::not_found(format!(
                "workflow execution not found for workflow ID \"{}\" and first execution run ID \"{}\"",
                target.workflow_id, req.first_execution_run_id
            )));
        }
        let run = (
            exec.namespace.as_str(),
            exec.workflow_id.as_str(),
            exec.run_id.as_str(),
        );
        let settled = if exec.updates.contains_key(&id) || !is_running(&exec) {
            None
        } else {
            if exec.updates.len() >= MAX_TOTAL {
                return Err(Status::failed_precondition(format!(
                    "limit on number of total updates has been reached ({MAX_TOTAL})"
                )));
            }
            let accepted_open = exec
                .updates
                .values()
                .filter(|i| i.completed_event_id == 0)
                .count();
            match f.keel.updates.admit(run, request.clone(), accepted_open) {
                Admission::Full => {
                    return Err(errors::resource_exhausted(format!(
                        "limit on number of concurrent in-flight updates has been reached ({})",
                        crate::updates::MAX_IN_FLIGHT
                    )))
                }
                Admission::Existing(rx) => Some(rx),
                Admission::New(rx) => {
                    // A no-op if the run has a task scheduled: that task carries it.
                    f.keel
                        .propose(Kind::ScheduleUpdateTask(ScheduleUpdateTask {
                            namespace: exec.namespace.clone(),
                            workflow_id: exec.workflow_id.clone(),
                            run_id: exec.run_id.clone(),
                        }))
                        .await
                        .or_else(|e| {
                            if e.code() == tonic::Code::NotFound {
                                Ok(keel_engine::Outcome::Done) // closed meanwhile: wait says so
                            } else {
                                Err(e)
                            }
                        })?;
                    Some(rx)
                }
            }
        };
        match wait(f, exec, &id, stage, settled, deadline).await {
            // Closed by continue-as-new before the workflow saw it: the update goes to the
            // new run (as Temporal retries it), if the caller named no run.
            Err(Retry) if target.run_id.is_empty() => continue,
            Err(Retry) => return Err(errors::not_found("workflow execution already completed")),
            Ok(reached) => {
                let reached = reached?;
                return Ok(Response::new(UpdateWorkflowExecutionResponse {
                    update_ref: Some(update_ref(&reached.exec, &id)),
                    outcome: reached.outcome,
                    stage: reached.stage as i32,
                    ..Default::default()
                }));
            }
        }
    }
}

pub(super) async fn poll(
    f: &Frontend,
    req: Request<PollWorkflowExecutionUpdateRequest>,
) -> Res<PollWorkflowExecutionUpdateResponse> {
    let req_deadline = deadline(&req);
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    // No stage, or ADMITTED: the stage reached now, without waiting (as Temporal's poll).
    let asked = req.wait_policy.as_ref().map_or(0, |p| p.lifecycle_stage);
    let (stage, deadline) = match Stage::try_from(asked).unwrap_or_default() {
        Stage::Unspecified | Stage::Admitted => (
            Stage::Admitted,
            Deadline {
                at: Instant::now(),
                callers: false,
            },
        ),
        Stage::Accepted => (Stage::Accepted, req_deadline),
        Stage::Completed => (Stage::Completed, req_deadline),
    };
    let update_ref = req.update_ref.unwrap_or_default();
    let target = update_ref.workflow_execution.unwrap_or_default();
    let id = update_ref.update_id;
    f.keel.linearizable().await?;
    let exec = f
        .keel
        .execution(&req.namespace, &target.workflow_id, &target.run_id)?;
    let settled = f
        .keel
        .updates
        .join((&exec.namespace, &exec.workflow_id, &exec.run_id), &id);
    if settled.is_none() && !exec.updates.contains_key(&id) {
        return Err(errors::not_found(format!("update \"{id}\" not found")));
    }
    let reached = wait(f, exec, &id, stage, settled, deadline)
        .await
        .unwrap_or_else(|Retry| Err(errors::not_found(format!("update \"{id}\" not found"))))?;
    Ok(Response::new(PollWorkflowExecutionUpdateResponse {
        outcome: reached.outcome,
        stage: reached.stage as i32,
        update_ref: Some(self::update_ref(&reached.exec, &id)),
    }))
}

pub(super) fn update_ref(exec: &ExecutionRecord, id: &str) -> u::UpdateRef {
    u::UpdateRef {
        workflow_execution: Some(WorkflowExecution {
            workflow_id: exec.workflow_id.clone(),
            run_id: exec.run_id.clone(),
        }),
        update_id: id.to_string(),
    }
}

/// The update must be sent again, to the run that continued this one.
struct Retry;

/// Waits until update `id` of run `exec` reaches `stage` or the deadline passes (ADMITTED:
/// reports the stage reached at once).
async fn wait(
    f: &Frontend,
    mut exec: ExecutionRecord,
    id: &str,
    stage: Stage,
    mut settled: Option<watch::Receiver<Settled>>,
    deadline: Deadline,
) -> Result<Result<Reached, Status>, Retry> {
    let watch = f
        .keel
        .watchers
        .watch(&exec.namespace, &exec.workflow_id, &exec.run_id);
    loop {
        let changed = watch.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        exec = match f
            .keel
            .execution(&exec.namespace, &exec.workflow_id, &exec.run_id)
        {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(info) = exec.updates.get(id).cloned() {
            settled = None; // history has it from now on
            let reached = |stage, outcome| {
                Ok(Ok(Reached {
                    exec: exec.clone(),
                    stage,
                    outcome,
                }))
            };
            if info.completed_event_id != 0 {
                return match completed_outcome(f, &exec, info.completed_event_id) {
                    Ok(outcome) => reached(Stage::Completed, Some(outcome)),
                    Err(e) => Ok(Err(e)),
                };
            }
            if !is_running(&exec) {
                let failure = accepted_update_completed_workflow_failure();
                return reached(Stage::Completed, Some(failed(failure)));
            }
            if stage != Stage::Completed {
                return reached(Stage::Accepted, None);
            }
        } else {
            // Marks the state seen, so `changed` below waits for the next one.
            let state = settled.as_mut().map(|rx| rx.borrow_and_update().clone());
            match state {
                Some(Settled::Rejected(failure)) => {
                    return Ok(Ok(Reached {
                        exec,
                        stage: Stage::Completed,
                        outcome: Some(failed(*failure)),
                    }))
                }
                _ if !is_running(&exec) => {
                    f.keel
                        .updates
                        .drop_run(&exec.namespace, &exec.workflow_id, &exec.run_id);
                    if state.is_some()
                        && exec.status == WorkflowExecutionStatus::ContinuedAsNew as i32
                    {
                        return Err(Retry);
                    }
                    return Ok(Err(errors::not_found(
                        "workflow execution already completed",
                    )));
                }
                Some(Settled::Dropped) => {
                    return Ok(Err(Status::unavailable(
                        "the update was dropped by a leader change; retry",
                    )))
                }
                // Accepted: history has it (read again); not settled: wait.
                Some(Settled::Accepted) | Some(Settled::No) => {}
                None => return Ok(Err(errors::not_found(format!("update \"{id}\" not found")))),
            }
        }
        let settled_changed = async {
            match settled.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut changed => {}
            _ = settled_changed => {}
            _ = tokio::time::sleep_until(deadline.at) => {
                if deadline.callers {
                    return Ok(Err(Status::deadline_exceeded("context deadline exceeded")));
                }
                // Not there yet: the caller learns the stage reached and asks again.
                let stage = if exec.updates.contains_key(id) { Stage::Accepted } else { Stage::Admitted };
                return Ok(Ok(Reached { exec, stage, outcome: None }));
            }
        }
    }
}

fn failed(failure: Failure) -> u::Outcome {
    u::Outcome {
        value: Some(outcome::Value::Failure(failure)),
    }
}

/// The outcome in an update's WorkflowExecutionUpdateCompleted event.
pub(super) fn completed_outcome(
    f: &Frontend,
    exec: &ExecutionRecord,
    event_id: i64,
) -> Result<u::Outcome, Status> {
    let events = read_events(
        f,
        &exec.namespace,
        &exec.workflow_id,
        &exec.run_id,
        event_id,
        1,
    )?;
    let event = events
        .0
        .first()
        .map(|b| HistoryEvent::decode(b.as_slice()))
        .transpose()
        .map_err(errors::internal)?;
    match event.and_then(|e| e.attributes) {
        Some(Attributes::WorkflowExecutionUpdateCompletedEventAttributes(a)) => {
            Ok(a.outcome.unwrap_or_default())
        }
        _ => Err(errors::internal(format!(
            "event {event_id} is not an update's completion"
        ))),
    }
}

/// Temporal's outcome for an update the workflow accepted and closed without completing.
fn accepted_update_completed_workflow_failure() -> Failure {
    Failure {
        message:
            "Workflow Update failed because the Workflow completed before the Update completed."
                .into(),
        source: "Server".into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo {
                r#type: "AcceptedUpdateCompletedWorkflow".into(),
                non_retryable: true,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}
