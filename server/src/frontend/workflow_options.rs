//! UpdateWorkflowExecutionOptions: checked here (a time-skipping config is refused as not
//! implemented), decided by apply (`keel_engine::workflow_options`).

use super::{Frontend, Res};
use crate::errors;
use keel_engine::mutation::Kind;
use keel_engine::{validate, Outcome};
use temporalio_protos::temporal::api::{
    workflow::v1::WorkflowExecutionOptions, workflowservice::v1::*,
};
use tonic::{Request, Response, Status};

/// What of a WorkflowExecutionOptions Keel refuses: a malformed versioning override, or a
/// time-skipping config (not implemented).
pub(super) fn check(options: Option<&WorkflowExecutionOptions>) -> Result<(), Status> {
    let Some(o) = options else {
        return Ok(());
    };
    if let Some(v) = &o.versioning_override {
        keel_engine::versioning::check_override(v).map_err(Status::invalid_argument)?;
    }
    if o.time_skipping_config.is_some() {
        return Err(Status::unimplemented(
            "time skipping is not supported by Keel",
        ));
    }
    Ok(())
}

pub(super) async fn update(
    f: &Frontend,
    req: Request<UpdateWorkflowExecutionOptionsRequest>,
) -> Res<UpdateWorkflowExecutionOptionsResponse> {
    let req = req.into_inner();
    validate::id("Namespace", &req.namespace).map_err(errors::invalid_argument)?;
    let workflow_id = req
        .workflow_execution
        .as_ref()
        .map(|e| e.workflow_id.as_str())
        .unwrap_or_default();
    validate::id("WorkflowId", workflow_id).map_err(errors::invalid_argument)?;
    check(req.workflow_execution_options.as_ref())?;
    match f.keel.propose(Kind::UpdateWorkflowOptions(req)).await? {
        Outcome::WorkflowOptions(options) => {
            Ok(Response::new(UpdateWorkflowExecutionOptionsResponse {
                workflow_execution_options: Some(*options),
                ..Default::default()
            }))
        }
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}
