//! CompleteWorkflowExecution: the run closes with its result.

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::execution;
use crate::history::Attributes;
use temporalio_protos::temporal::api::{
    command::v1::CompleteWorkflowExecutionCommandAttributes,
    enums::v1::{EventType, WorkflowExecutionStatus},
    history::v1 as h,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: CompleteWorkflowExecutionCommandAttributes,
) -> ApplyResult<()> {
    let attrs = Attributes::WorkflowExecutionCompletedEventAttributes(
        h::WorkflowExecutionCompletedEventAttributes {
            result: a.result,
            workflow_task_completed_event_id: c.completed_event_id,
            new_execution_run_id: String::new(),
        },
    );
    execution::close(
        ctx,
        c.exec,
        WorkflowExecutionStatus::Completed,
        EventType::WorkflowExecutionCompleted,
        attrs,
    );
    Ok(())
}
