//! QueryWorkflow and RespondQueryTaskCompleted: reject conditions, dispatch to a worker
//! through the run's workflow task queue, `QueryFailed` details, and a timely error when no
//! worker answers.

use super::{long_poll_deadline, Frontend, Res};
use crate::errors;
use crate::queries::QueryTask;
use keel_engine::keys;
use keel_engine::records::{ExecutionRecord, TaskKind};
use keel_engine::TaskToken;
use std::time::Duration;
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
            for queue in [&exec.task_queue, &exec.sticky_queue] {
                f.keel.matching.withdraw_query(&exec.namespace, queue, pending.id);
            }
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
/// the running one completes if one runs, else as a query-only task (first to the worker
/// that caches the run).
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
                match live_sticky_queue(f, &exec)? {
                    Some(sticky) => to_sticky_worker(f, task, &sticky, queue),
                    None => f.keel.matching.add_query(queue, task.clone()),
                }
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

/// How long a query waits on a sticky queue for the worker that caches the run before it
/// goes to the normal queue (a worker that died without saying so).
const STICKY_QUERY_WAIT: Duration = Duration::from_secs(2);

/// The sticky queue of the worker caching the run, unless it shut down.
fn live_sticky_queue(f: &Frontend, exec: &ExecutionRecord) -> Result<Option<String>, Status> {
    if exec.sticky_queue.is_empty() {
        return Ok(None);
    }
    let gone = f
        .keel
        .store
        .state_get(&keys::gone_sticky_queue(
            &exec.namespace,
            &exec.sticky_queue,
        ))
        .map_err(errors::internal)?;
    Ok(gone.is_none().then(|| exec.sticky_queue.clone()))
}

/// Offers the query to the worker that caches the run (it answers without replaying the
/// history), as Temporal does; if that worker does not take it in time, any worker of the
/// normal queue gets it.
fn to_sticky_worker(f: &Frontend, task: &QueryTask, sticky: &str, normal: &str) {
    f.keel.matching.add_query(sticky, task.clone());
    let (keel, task, sticky, normal) = (
        f.keel.clone(),
        task.clone(),
        sticky.to_string(),
        normal.to_string(),
    );
    tokio::spawn(async move {
        tokio::time::sleep(STICKY_QUERY_WAIT).await;
        if keel
            .matching
            .withdraw_query(&task.namespace, &sticky, task.id)
        {
            keel.matching.add_query(&normal, task);
        }
    });
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
