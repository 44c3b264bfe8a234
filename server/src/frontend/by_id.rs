//! The …ById activity calls (heartbeat, completed, failed, canceled): the activity is named
//! by workflow id, run id and activity id instead of a task token (no workflow id: a
//! standalone activity, by its id and run id). They build the token of the activity's
//! current attempt and take the same path as the token calls.

use super::{tasks, Frontend, Res};
use crate::errors;
use keel_engine::{validate, TaskToken};
use temporalio_protos::temporal::api::{
    enums::v1::WorkflowExecutionStatus, workflowservice::v1::*,
};
use tonic::{Request, Response, Status};

fn token(
    f: &Frontend,
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
    activity_id: &str,
) -> Result<Vec<u8>, Status> {
    f.keel.namespace(namespace)?;
    validate::id("ActivityId", activity_id).map_err(errors::invalid_argument)?;
    if workflow_id.is_empty() {
        let exec = super::activities::read_run(f, namespace, activity_id, run_id)?;
        return match exec.activities.first() {
            // Attempt 0: whichever attempt is current, started or not (as Temporal's by-id
            // token of a standalone activity).
            Some(a) if exec.status == WorkflowExecutionStatus::Running as i32 => Ok(TaskToken {
                attempt: 0,
                ..TaskToken::for_activity(&exec, a)
            }
            .to_bytes()),
            _ => Err(super::activities::not_found(activity_id)),
        };
    }
    let exec = f.keel.execution(namespace, workflow_id, run_id)?;
    if exec.status != WorkflowExecutionStatus::Running as i32 {
        return Err(errors::not_found("workflow execution already completed"));
    }
    let a = exec
        .activities
        .iter()
        .find(|a| a.activity_id == activity_id)
        .ok_or_else(|| errors::not_found(format!("activity {activity_id} not found")))?;
    Ok(TaskToken::for_activity(&exec, a).to_bytes())
}

pub(super) async fn heartbeat(
    f: &Frontend,
    req: Request<RecordActivityTaskHeartbeatByIdRequest>,
) -> Res<RecordActivityTaskHeartbeatByIdResponse> {
    let r = req.into_inner();
    let task_token = token(f, &r.namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
    let inner = RecordActivityTaskHeartbeatRequest {
        task_token,
        details: r.details,
        identity: r.identity,
        namespace: r.namespace,
        ..Default::default()
    };
    let resp = tasks::activity_heartbeat(f, Request::new(inner))
        .await?
        .into_inner();
    Ok(Response::new(RecordActivityTaskHeartbeatByIdResponse {
        cancel_requested: resp.cancel_requested,
        activity_paused: resp.activity_paused,
        activity_reset: resp.activity_reset,
    }))
}

pub(super) async fn completed(
    f: &Frontend,
    req: Request<RespondActivityTaskCompletedByIdRequest>,
) -> Res<RespondActivityTaskCompletedByIdResponse> {
    let r = req.into_inner();
    let task_token = token(f, &r.namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
    let inner = RespondActivityTaskCompletedRequest {
        task_token,
        result: r.result,
        identity: r.identity,
        namespace: r.namespace,
        ..Default::default()
    };
    tasks::activity_task_completed(f, Request::new(inner)).await?;
    Ok(Response::new(
        RespondActivityTaskCompletedByIdResponse::default(),
    ))
}

pub(super) async fn failed(
    f: &Frontend,
    req: Request<RespondActivityTaskFailedByIdRequest>,
) -> Res<RespondActivityTaskFailedByIdResponse> {
    let r = req.into_inner();
    let task_token = token(f, &r.namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
    let inner = RespondActivityTaskFailedRequest {
        task_token,
        failure: r.failure,
        identity: r.identity,
        namespace: r.namespace,
        last_heartbeat_details: r.last_heartbeat_details,
        ..Default::default()
    };
    tasks::activity_task_failed(f, Request::new(inner)).await?;
    Ok(Response::new(
        RespondActivityTaskFailedByIdResponse::default(),
    ))
}

pub(super) async fn canceled(
    f: &Frontend,
    req: Request<RespondActivityTaskCanceledByIdRequest>,
) -> Res<RespondActivityTaskCanceledByIdResponse> {
    let r = req.into_inner();
    let task_token = token(f, &r.namespace, &r.workflow_id, &r.run_id, &r.activity_id)?;
    let inner = RespondActivityTaskCanceledRequest {
        task_token,
        details: r.details,
        identity: r.identity,
        namespace: r.namespace,
        ..Default::default()
    };
    tasks::activity_task_canceled(f, Request::new(inner)).await?;
    Ok(Response::new(
        RespondActivityTaskCanceledByIdResponse::default(),
    ))
}
