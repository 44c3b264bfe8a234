//! FailWorkflowExecution: the run closes with its failure (no workflow retry policy yet).

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::execution;
use crate::history::Attributes;
use temporalio_protos::temporal::api::{
    command::v1::FailWorkflowExecutionCommandAttributes,
    enums::v1::{EventType, RetryState, WorkflowExecutionStatus},
    history::v1 as h,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    a: FailWorkflowExecutionCommandAttributes,
) -> ApplyResult<()> {
    let attrs = Attributes::WorkflowExecutionFailedEventAttributes(
        h::WorkflowExecutionFailedEventAttributes {
            failure: a.failure,
            retry_state: RetryState::RetryPolicyNotSet as i32,
            workflow_task_completed_event_id: c.completed_event_id,
            new_execution_run_id: String::new(),
        },
    );
    execution::close(
        ctx,
        c.exec,
        WorkflowExecutionStatus::Failed,
        EventType::WorkflowExecutionFailed,
        attrs,
    );
    Ok(())
}
