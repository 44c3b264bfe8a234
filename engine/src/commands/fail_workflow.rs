//! FailWorkflowExecution: the run closes with its failure; with a retry policy that allows
//! another attempt, a new run continues the workflow after the backoff; otherwise a cron
//! workflow's next run starts at the schedule's next time.

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::ApplyResult;
use crate::execution;
use crate::history::Attributes;
use crate::retry;
use crate::start::{self, CronOutcome};
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
    let failure = a.failure.clone().unwrap_or_default();
    let retry = match &c.exec.retry_policy {
        Some(policy) => retry::backoff(
            policy,
            c.exec.attempt,
            &failure,
            ctx.now,
            c.exec.execution_deadline,
        ),
        None => Err(RetryState::RetryPolicyNotSet),
    };
    let cron = match retry {
        Ok(_) => None,
        Err(_) => start::cron_backoff(ctx, c.exec).filter(|_| !c.next_run_id.is_empty()),
    };
    let (retry_state, new_execution_run_id) = match retry {
        Ok(_) => (RetryState::InProgress, c.next_run_id.to_string()),
        Err(state) if cron.is_some() => (state, c.next_run_id.to_string()),
        Err(state) => (state, String::new()),
    };
    let attrs = Attributes::WorkflowExecutionFailedEventAttributes(
        h::WorkflowExecutionFailedEventAttributes {
            failure: a.failure,
            retry_state: retry_state as i32,
            workflow_task_completed_event_id: c.completed_event_id,
            new_execution_run_id,
        },
    );
    execution::close(
        ctx,
        c.exec,
        WorkflowExecutionStatus::Failed,
        EventType::WorkflowExecutionFailed,
        attrs,
    );
    if let Ok(backoff) = retry {
        start::retry_run(ctx, c.exec, c.next_run_id, backoff, failure)?;
    } else if let Some(backoff) = cron {
        let outcome = CronOutcome::Failed(Box::new(failure));
        start::cron_run(ctx, c.exec, c.next_run_id, backoff, outcome)?;
    }
    Ok(())
}
