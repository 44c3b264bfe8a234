//! QueryWorkflow and RespondQueryTaskCompleted: reject conditions, dispatch to a worker
//! through the run's workflow task queue, `QueryFailed` details, and a timely error when no
//! worker answers.

use super::{long_poll_deadline, Frontend, Res};
use crate::errors;
use crate::queries::QueryTask;
use keel_engine::records::TaskKind;
use keel_engine::TaskToken;
use temporalio_protos::temporal::api::{
    enums::v1::{QueryRejectCondition, QueryResultType, WorkflowExecutionStatus},
    query::v1::QueryRejected,
    workflowservice::v1::*,
};
use tonic::{Request, Response, Status};

pub(super) async fn query(
    f: &Frontend,
    req: Request<QueryWorkflowRequest>,
) -> Res<QueryWorkflowResponse> {
    let deadline = long_poll_deadline(&req);
    let req = req.into_inner();
    f.keel.linearizable().await?;
    f.keel.namespace(&req.namespace)?;
    let query = req
        .query
        .ok_or_else(|| Status::invalid_argument("Query is not set on request."))?;
    if query.query_type.is_empty() {
        return Err(Status::invalid_argument("QueryType is not set on request."));
    }
    let target = req.execution.unwrap_or_default();
    let exec = f
        .keel
        .execution(&req.namespace, &target.workflow_id, &target.run_id)?;
    let open = exec.status == WorkflowExecutionStatus::Running as i32;
    let rejected =
        match QueryRejectCondition::try_from(req.query_reject_condition).unwrap_or_default() {
            QueryRejectCondition::NotOpen => !open,
            QueryRejectCondition::NotCompletedCleanly => {
                !open && exec.status != WorkflowExecutionStatus::Completed as i32
            }
            _ => false,
        };
    if rejected {
        return Ok(Response::new(QueryWorkflowResponse {
            query_rejected: Some(QueryRejected {
                status: exec.status,
            }),
            ..Default::default()
        }));
    }

    let mut pending = f.keel.queries.register();
    let task = QueryTask {
        id: pending.id,
        namespace: exec.namespace.clone(),
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        query,
    };
    dispatch(f, &task, &exec.task_queue, deadline).await?;
    let answer = tokio::select! {
        a = &mut pending.answer => a.map_err(|_| Status::unavailable("query was dropped; retry"))?,
        _ = tokio::time::sleep_until(deadline) => {
            f.keel.matching.withdraw_query(&exec.namespace, &exec.task_queue, pending.id);
            f.keel.queries.unride(&task);
            return Err(Status::deadline_exceeded(format!(
                "query timed out: no worker answered on task queue {}",
                exec.task_queue
            )));
        }
    };
    match QueryResultType::try_from(answer.completed_type).unwrap_or_default() {
        QueryResultType::Answered => Ok(Response::new(QueryWorkflowResponse {
            query_result: answer.query_result,
            ..Default::default()
        })),
        _ => Err(errors::query_failed(answer.error_message, answer.failure)),
    }
}

/// Hands the query to a worker: on the run's scheduled workflow task if there is one, after
/// the running one completes if one runs, else as a query-only task.
async fn dispatch(
    f: &Frontend,
    task: &QueryTask,
    queue: &str,
    deadline: tokio::time::Instant,
) -> Result<(), Status> {
    let watch = f
        .keel
        .watchers
        .watch(&task.namespace, &task.workflow_id, &task.run_id);
    loop {
        let changed = watch.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let exec = f
            .keel
            .execution(&task.namespace, &task.workflow_id, &task.run_id)?;
        match &exec.workflow_task {
            None => {
                f.keel.matching.add_query(queue, task.clone());
                return Ok(());
            }
            Some(wt) if wt.started_event_id == 0 => {
                f.keel.queries.ride(task);
                // A poller may have started that task between the read and the ride.
                let now = f
                    .keel
                    .execution(&task.namespace, &task.workflow_id, &task.run_id)?;
                let still_scheduled = now
                    .workflow_task
                    .as_ref()
                    .is_some_and(|w| w.seq == wt.seq && w.started_event_id == 0);
                if still_scheduled || !f.keel.queries.unride(task) {
                    return Ok(()); // it rides on that task, or the task already took it
                }
            }
            Some(_) => {
                // A task is running: its completion may deliver new events first.
                tokio::select! {
                    _ = &mut changed => {}
                    _ = tokio::time::sleep_until(deadline) => return Ok(()),
                }
            }
        }
    }
}

pub(super) async fn respond(
    f: &Frontend,
    req: Request<RespondQueryTaskCompletedRequest>,
) -> Res<RespondQueryTaskCompletedResponse> {
    let req = req.into_inner();
    let token = TaskToken::from_bytes(&req.task_token)
        .filter(|t| t.kind == TaskKind::Query as i32)
        .ok_or_else(|| Status::invalid_argument("Error deserializing query task token."))?;
    if !f.keel.queries.answer(token.target as u64, req) {
        return Err(errors::not_found(
            "query task not found, or its caller stopped waiting",
        ));
    }
    Ok(Response::new(RespondQueryTaskCompletedResponse::default()))
}
