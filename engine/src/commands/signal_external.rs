//! SignalExternalWorkflowExecution: SignalExternalWorkflowExecutionInitiated now; the signal
//! itself is delivered once the whole completion is applied (see `external`).

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::external::{InitiatedExternal, Request, MAX_PENDING_SIGNALS};
use crate::history::{self, Attributes};
use crate::validate;
use temporalio_protos::temporal::api::{
    command::v1::SignalExternalWorkflowExecutionCommandAttributes,
    enums::v1::{EventType, WorkflowTaskFailedCause},
    history::v1 as h,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: SignalExternalWorkflowExecutionCommandAttributes,
) -> ApplyResult<()> {
    let target = a.execution.clone().unwrap_or_default();
    validate::id("WorkflowId", &target.workflow_id).map_err(Rejection::InvalidArgument)?;
    validate::id("SignalName", &a.signal_name).map_err(Rejection::InvalidArgument)?;
    let pending = c
        .initiated_external
        .iter()
        .filter(|r| r.is_signal())
        .count();
    if pending >= MAX_PENDING_SIGNALS {
        return Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::PendingSignalsLimitExceeded,
            message: format!(
                "the number of pending signals to external workflows, {pending}, has reached the per-workflow limit of {MAX_PENDING_SIGNALS}"
            ),
        });
    }
    let namespace = c.target_namespace(&a.namespace);
    let namespace_id = ctx.namespace(&namespace).map(|n| n.id).unwrap_or_default();
    let e = history::event(
        ctx,
        EventType::SignalExternalWorkflowExecutionInitiated,
        Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(
            h::SignalExternalWorkflowExecutionInitiatedEventAttributes {
                workflow_task_completed_event_id: c.completed_event_id,
                namespace: namespace.clone(),
                namespace_id,
                workflow_execution: Some(target.clone()),
                signal_name: a.signal_name.clone(),
                input: a.input.clone(),
                control: a.control.clone(),
                child_workflow_only: a.child_workflow_only,
                header: a.header.clone(),
            },
        ),
    );
    let request = InitiatedExternal {
        initiated_event_id: 0,
        namespace,
        target,
        control: a.control,
        child_workflow_only: a.child_workflow_only,
        request: Request::Signal {
            name: a.signal_name,
            input: a.input,
            header: a.header,
        },
    };
    c.initiate_external(ctx, e, request);
    Ok(())
}
