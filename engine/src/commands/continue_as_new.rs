//! ContinueAsNewWorkflowExecution: the run closes with WorkflowExecutionContinuedAsNew and a
//! new run of the same workflow id starts with the command's input, chained by run ids.

use super::CommandCtx;
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution;
use crate::history::Attributes;
use crate::search_attributes;
use crate::start::{self, Continuation, MAX_TASK_TIMEOUT_SECS};
use crate::time::{duration, explicit_duration, nanos, secs};
use crate::validate;
use temporalio_protos::temporal::api::{
    command::v1::ContinueAsNewWorkflowExecutionCommandAttributes,
    common::v1::WorkflowType,
    enums::v1::{EventType, TaskQueueKind, WorkflowExecutionStatus},
    history::v1 as h,
    taskqueue::v1::TaskQueue,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    mut a: ContinueAsNewWorkflowExecutionCommandAttributes,
) -> ApplyResult<()> {
    let invalid = |m: &str| Rejection::InvalidArgument(m.to_string());
    if let Some(input) = &a.input {
        validate::payload_size(
            "ContinueAsNewWorkflowExecutionCommandAttributes.Input",
            input,
        )
        .map_err(Rejection::InvalidArgument)?;
    }
    let (run_timeout, task_timeout, backoff) = (
        nanos(&a.workflow_run_timeout),
        nanos(&a.workflow_task_timeout),
        nanos(&a.backoff_start_interval),
    );
    if run_timeout < 0 || task_timeout < 0 || backoff < 0 {
        return Err(invalid("A valid timeout may not be negative."));
    }
    let exec = &*c.exec;
    let first_task_backoff = min_interval_backoff(
        ctx.now - exec.start_time.max(exec.first_task_not_before),
        backoff,
        c.continue_as_new_min_interval,
    );
    let workflow_type = match &a.workflow_type {
        Some(t) if !t.name.is_empty() => t.name.clone(),
        _ => exec.workflow_type.clone(),
    };
    validate::id("WorkflowType", &workflow_type).map_err(Rejection::InvalidArgument)?;
    search_attributes::check_command(ctx, &exec.namespace, &mut a.search_attributes)?;
    let task_queue = match &a.task_queue {
        Some(q) if !q.name.is_empty() => q.name.clone(),
        _ => exec.task_queue.clone(),
    };
    validate::id("TaskQueue", &task_queue).map_err(Rejection::InvalidArgument)?;
    let mut run_timeout = if run_timeout > 0 {
        run_timeout
    } else {
        exec.run_timeout
    };
    // The execution timeout still bounds the whole chain.
    if exec.execution_deadline > 0 {
        let left = (exec.execution_deadline - ctx.now - first_task_backoff).max(1);
        if run_timeout == 0 || run_timeout > left {
            run_timeout = left;
        }
    }
    let mut task_timeout = if task_timeout > 0 {
        task_timeout.min(secs(MAX_TASK_TIMEOUT_SECS))
    } else {
        exec.task_timeout
    };
    if run_timeout > 0 {
        task_timeout = task_timeout.min(run_timeout);
    }

    let attrs = Attributes::WorkflowExecutionContinuedAsNewEventAttributes(
        h::WorkflowExecutionContinuedAsNewEventAttributes {
            new_execution_run_id: c.next_run_id.to_string(),
            workflow_type: Some(WorkflowType {
                name: workflow_type.clone(),
            }),
            task_queue: Some(TaskQueue {
                name: task_queue.clone(),
                kind: TaskQueueKind::Normal as i32,
                ..Default::default()
            }),
            input: a.input.clone(),
            workflow_run_timeout: explicit_duration(run_timeout),
            workflow_task_timeout: duration(task_timeout),
            workflow_task_completed_event_id: c.completed_event_id,
            backoff_start_interval: duration(backoff),
            initiator: a.initiator,
            failure: a.failure.clone(),
            last_completion_result: a.last_completion_result.clone(),
            header: a.header.clone(),
            inherit_build_id: a.inherit_build_id,
            memo: a.memo.clone(),
            search_attributes: a.search_attributes.clone(),
            ..Default::default()
        },
    );
    execution::close(
        ctx,
        c.exec,
        WorkflowExecutionStatus::ContinuedAsNew,
        EventType::WorkflowExecutionContinuedAsNew,
        attrs,
    );
    start::continue_run(
        ctx,
        c.exec,
        c.next_run_id,
        Continuation {
            workflow_type,
            task_queue,
            run_timeout,
            task_timeout,
            backoff: first_task_backoff,
            attributes: a,
        },
    )
}

/// The next run's first-task backoff: the command's, or longer so that the run that ends
/// now (alive `lifetime` since its first task could start) and the wait together last
/// `min_interval`, as Temporal's ContinueAsNewMinBackoff. (The ContinuedAsNew event keeps
/// the command's backoff.)
fn min_interval_backoff(lifetime: i64, backoff: i64, min_interval: i64) -> i64 {
    if lifetime + backoff < min_interval {
        min_interval - lifetime
    } else {
        backoff
    }
}

#[cfg(test)]
mod tests {
    use super::min_interval_backoff;

    #[test]
    fn a_run_that_ends_too_soon_holds_the_next_back_to_the_minimal_interval() {
        const SEC: i64 = 1_000_000_000;
        assert_eq!(min_interval_backoff(SEC / 4, 0, SEC), 3 * SEC / 4);
        assert_eq!(min_interval_backoff(SEC / 4, SEC / 2, SEC), 3 * SEC / 4);
        assert_eq!(
            min_interval_backoff(SEC / 4, SEC, SEC),
            SEC,
            "a longer backoff stands"
        );
        assert_eq!(min_interval_backoff(2 * SEC, 0, SEC), 0);
        assert_eq!(
            min_interval_backoff(0, 0, 0),
            0,
            "no minimum from older leaders"
        );
    }
}
