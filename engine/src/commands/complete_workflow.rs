//! CompleteWorkflowExecution: the run closes with its result; a cron workflow's next run
//! starts at the schedule's next time.

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::execution;
use crate::history::Attributes;
use crate::start::{self, CronOutcome};
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
    let cron = start::cron_backoff(ctx, c.exec).filter(|_| !c.next_run_id.is_empty());
    let attrs = Attributes::WorkflowExecutionCompletedEventAttributes(
        h::WorkflowExecutionCompletedEventAttributes {
            result: a.result.clone(),
            workflow_task_completed_event_id: c.completed_event_id,
            new_execution_run_id: match cron {
                Some(_) => c.next_run_id.to_string(),
                None => String::new(),
            },
        },
    );
    execution::close(
        ctx,
        c.exec,
        WorkflowExecutionStatus::Completed,
        EventType::WorkflowExecutionCompleted,
        attrs,
    );
    if let Some(backoff) = cron {
        start::cron_run(
            ctx,
            c.exec,
            c.next_run_id,
            backoff,
            CronOutcome::Completed(a.result),
        )?;
    }
    Ok(())
}
