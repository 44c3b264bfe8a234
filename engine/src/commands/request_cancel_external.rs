//! RequestCancelExternalWorkflowExecution: RequestCancelExternalWorkflowExecutionInitiated
//! now; the request itself is made once the whole completion is applied (see `external`).

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::external::{InitiatedExternal, Request, MAX_PENDING_CANCEL_REQUESTS};
use crate::history::{self, Attributes};
use crate::validate;
use temporalio_protos::temporal::api::{
    command::v1::RequestCancelExternalWorkflowExecutionCommandAttributes,
    common::v1::WorkflowExecution,
    enums::v1::{EventType, WorkflowTaskFailedCause},
    history::v1 as h,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: RequestCancelExternalWorkflowExecutionCommandAttributes,
) -> ApplyResult<()> {
    validate::id("WorkflowId", &a.workflow_id).map_err(Rejection::InvalidArgument)?;
    let pending = c
        .initiated_external
        .iter()
        .filter(|r| !r.is_signal())
        .count();
    if pending >= MAX_PENDING_CANCEL_REQUESTS {
        return Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::PendingRequestCancelLimitExceeded,
            message: format!(
                "the number of pending requests to cancel external workflows, {pending}, has reached the per-workflow limit of {MAX_PENDING_CANCEL_REQUESTS}"
            ),
        });
    }
    let namespace = c.target_namespace(&a.namespace);
    let namespace_id = ctx.namespace(&namespace).map(|n| n.id).unwrap_or_default();
    let target = WorkflowExecution {
        workflow_id: a.workflow_id,
        run_id: a.run_id,
    };
    let e = history::event(
        ctx,
        EventType::RequestCancelExternalWorkflowExecutionInitiated,
        Attributes::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(
            h::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes {
                workflow_task_completed_event_id: c.completed_event_id,
                namespace: namespace.clone(),
                namespace_id,
                workflow_execution: Some(target.clone()),
                control: a.control.clone(),
                child_workflow_only: a.child_workflow_only,
                reason: a.reason.clone(),
            },
        ),
    );
    let request = InitiatedExternal {
        initiated_event_id: 0,
        namespace,
        target,
        control: a.control,
        child_workflow_only: a.child_workflow_only,
        request: Request::Cancel { reason: a.reason },
    };
    c.initiate_external(ctx, e, request);
    Ok(())
}
