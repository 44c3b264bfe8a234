//! PauseActivity, UnpauseActivity, ResetActivity and UpdateActivityOptions, and their
//! `...ActivityExecution` spellings: the request's shape checked here with Temporal's
//! messages, the leader's random jitter seed added, the rest decided by apply
//! (`keel_engine::activity_ops`).

use super::{Frontend, Res};
use crate::errors;
use keel_engine::mutation::{Kind, ResetActivity, UnpauseActivity};
use keel_engine::{validate, Outcome};
use temporalio_protos::temporal::api::{common::v1::WorkflowExecution, workflowservice::v1::*};
use tonic::{Request, Response};

/// The checks Temporal's frontend makes before any of the four reaches the workflow.
fn target(
    f: &Frontend,
    namespace: &str,
    execution: &Option<WorkflowExecution>,
    names_an_activity: bool,
) -> Result<(), tonic::Status> {
    validate::id("Namespace", namespace).map_err(errors::invalid_argument)?;
    let workflow_id = execution.as_ref().map(|e| e.workflow_id.as_str());
    if workflow_id.unwrap_or_default().is_empty() {
        return Err(errors::invalid_argument(
            "WorkflowId is not set on request.",
        ));
    }
    if !names_an_activity {
        return Err(errors::invalid_argument(
            "Either Activity.Id or Activity.Type should be set on request.",
        ));
    }
    f.keel.namespace(namespace)?;
    Ok(())
}

pub(super) async fn pause(
    f: &Frontend,
    req: Request<PauseActivityRequest>,
) -> Res<PauseActivityResponse> {
    let req = req.into_inner();
    target(f, &req.namespace, &req.execution, req.activity.is_some())?;
    f.keel.propose(Kind::PauseActivity(req)).await?;
    Ok(Response::new(PauseActivityResponse::default()))
}

pub(super) async fn unpause(
    f: &Frontend,
    req: Request<UnpauseActivityRequest>,
) -> Res<UnpauseActivityResponse> {
    let req = req.into_inner();
    target(f, &req.namespace, &req.execution, req.activity.is_some())?;
    let kind = Kind::UnpauseActivity(UnpauseActivity {
        request: Some(req),
        jitter_seed: crate::ids::new_seed(),
    });
    f.keel.propose(kind).await?;
    Ok(Response::new(UnpauseActivityResponse::default()))
}

pub(super) async fn reset(
    f: &Frontend,
    req: Request<ResetActivityRequest>,
) -> Res<ResetActivityResponse> {
    let req = req.into_inner();
    target(f, &req.namespace, &req.execution, req.activity.is_some())?;
    let kind = Kind::ResetActivity(ResetActivity {
        request: Some(req),
        jitter_seed: crate::ids::new_seed(),
    });
    f.keel.propose(kind).await?;
    Ok(Response::new(ResetActivityResponse::default()))
}

pub(super) async fn update_options(
    f: &Frontend,
    req: Request<UpdateActivityOptionsRequest>,
) -> Res<UpdateActivityOptionsResponse> {
    let req = req.into_inner();
    target(f, &req.namespace, &req.execution, req.activity.is_some())?;
    match f.keel.propose(Kind::UpdateActivityOptions(req)).await? {
        Outcome::ActivityOptions(options) => Ok(Response::new(UpdateActivityOptionsResponse {
            activity_options: Some(*options),
        })),
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

// The newer spellings the `temporal activity` CLI calls: one activity named by workflow id and
// activity id, translated to the requests above. Without a workflow id they name a standalone
// activity; Keel has none, so none is found (the dev server's answer when there is none).

/// The workflow run a `...ActivityExecution` request names, with Temporal's refusals.
fn workflow_of(
    workflow_id: &str,
    run_id: &str,
    activity_id: &str,
) -> Result<Option<WorkflowExecution>, tonic::Status> {
    if activity_id.is_empty() {
        return Err(errors::invalid_argument("activity ID is required"));
    }
    if workflow_id.is_empty() {
        return Err(errors::not_found(format!(
            "activity not found for ID: {activity_id}"
        )));
    }
    Ok(Some(WorkflowExecution {
        workflow_id: workflow_id.to_string(),
        run_id: run_id.to_string(),
    }))
}

pub(super) async fn pause_execution(
    f: &Frontend,
    req: Request<PauseActivityExecutionRequest>,
) -> Res<PauseActivityExecutionResponse> {
    let r = req.into_inner();
    let inner = PauseActivityRequest {
        execution: workflow_of(&r.workflow_id, &r.run_id, &r.activity_id)?,
        namespace: r.namespace,
        identity: r.identity,
        reason: r.reason,
        request_id: r.request_id,
        activity: Some(pause_activity_request::Activity::Id(r.activity_id)),
    };
    pause(f, Request::new(inner)).await?;
    Ok(Response::new(PauseActivityExecutionResponse::default()))
}

pub(super) async fn unpause_execution(
    f: &Frontend,
    req: Request<UnpauseActivityExecutionRequest>,
) -> Res<UnpauseActivityExecutionResponse> {
    let r = req.into_inner();
    let inner = UnpauseActivityRequest {
        execution: workflow_of(&r.workflow_id, &r.run_id, &r.activity_id)?,
        namespace: r.namespace,
        identity: r.identity,
        jitter: r.jitter,
        activity: Some(unpause_activity_request::Activity::Id(r.activity_id)),
        ..Default::default()
    };
    unpause(f, Request::new(inner)).await?;
    Ok(Response::new(UnpauseActivityExecutionResponse::default()))
}

pub(super) async fn reset_execution(
    f: &Frontend,
    req: Request<ResetActivityExecutionRequest>,
) -> Res<ResetActivityExecutionResponse> {
    let r = req.into_inner();
    let inner = ResetActivityRequest {
        execution: workflow_of(&r.workflow_id, &r.run_id, &r.activity_id)?,
        namespace: r.namespace,
        identity: r.identity,
        reset_heartbeat: r.reset_heartbeat,
        keep_paused: r.keep_paused,
        jitter: r.jitter,
        restore_original_options: r.restore_original_options,
        activity: Some(reset_activity_request::Activity::Id(r.activity_id)),
    };
    reset(f, Request::new(inner)).await?;
    Ok(Response::new(ResetActivityExecutionResponse::default()))
}

pub(super) async fn update_execution_options(
    f: &Frontend,
    req: Request<UpdateActivityExecutionOptionsRequest>,
) -> Res<UpdateActivityExecutionOptionsResponse> {
    let r = req.into_inner();
    let inner = UpdateActivityOptionsRequest {
        execution: workflow_of(&r.workflow_id, &r.run_id, &r.activity_id)?,
        namespace: r.namespace,
        identity: r.identity,
        activity_options: r.activity_options,
        update_mask: r.update_mask,
        restore_original: r.restore_original,
        activity: Some(update_activity_options_request::Activity::Id(r.activity_id)),
    };
    let answer = update_options(f, Request::new(inner)).await?.into_inner();
    Ok(Response::new(UpdateActivityExecutionOptionsResponse {
        activity_options: answer.activity_options,
    }))
}
