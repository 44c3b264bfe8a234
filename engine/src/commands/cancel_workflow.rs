//! CancelWorkflowExecution: the run closes as canceled (the answer to a cancel request).

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::execution;
use crate::history::Attributes;
use temporalio_protos::temporal::api::{
    command::v1::CancelWorkflowExecutionCommandAttributes,
    enums::v1::{EventType, WorkflowExecutionStatus},
    history::v1 as h,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: CancelWorkflowExecutionCommandAttributes,
) -> ApplyResult<()> {
    let attrs = Attributes::WorkflowExecutionCanceledEventAttributes(
        h::WorkflowExecutionCanceledEventAttributes {
            workflow_task_completed_event_id: c.completed_event_id,
            details: a.details,
        },
    );
    execution::close(
        ctx,
        c.exec,
        WorkflowExecutionStatus::Canceled,
        EventType::WorkflowExecutionCanceled,
        attrs,
    );
    Ok(())
}
