//! StartChildWorkflowExecution: StartChildWorkflowExecutionInitiated now; the child itself is
//! started once the whole completion is applied (see `children::start_initiated`).

use super::CommandCtx;
use crate::children::{self, InitiatedChild, MAX_PENDING_CHILDREN};
use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::history::{self, Attributes};
use crate::priority;
use crate::search_attributes;
use crate::start::DEFAULT_TASK_TIMEOUT_SECS;
use crate::time::{duration, explicit_duration, nanos, secs};
use crate::validate;
use temporalio_protos::temporal::api::{
    command::v1::StartChildWorkflowExecutionCommandAttributes,
    enums::v1::{EventType, ParentClosePolicy, TaskQueueKind, WorkflowTaskFailedCause},
    history::v1 as h,
    taskqueue::v1::TaskQueue,
};

pub(super) fn apply(
    ctx: &mut ApplyCtx,
    c: &mut CommandCtx,
    mut a: StartChildWorkflowExecutionCommandAttributes,
) -> ApplyResult<()> {
    let run_id = c
        .child_run_ids
        .next()
        .ok_or_else(|| Rejection::Internal("no run id stamped for a child workflow".into()))?;
    let request = children::start_request(c.exec, &a, &run_id);
    validate::start_request(&request).map_err(Rejection::InvalidArgument)?;
    priority::checked(ctx, a.priority.clone()).map_err(Rejection::InvalidArgument)?;
    search_attributes::check_command(ctx, &request.namespace, &mut a.search_attributes)?;
    let namespace_id = ctx.namespace(&request.namespace)?.id;
    let pending = c.exec.children.len() + c.initiated_children.len();
    if pending >= MAX_PENDING_CHILDREN {
        return Err(Rejection::BadCommand {
            cause: WorkflowTaskFailedCause::PendingChildWorkflowsLimitExceeded,
            message: format!(
                "the number of pending child workflow executions, {pending}, has reached the per-workflow limit of {MAX_PENDING_CHILDREN}"
            ),
        });
    }
    if a.parent_close_policy == ParentClosePolicy::Unspecified as i32 {
        a.parent_close_policy = ParentClosePolicy::Terminate as i32;
    }
    let mut task_timeout = nanos(&a.workflow_task_timeout);
    if task_timeout <= 0 {
        task_timeout = secs(DEFAULT_TASK_TIMEOUT_SECS);
    }
    let task_queue = request.task_queue.clone().unwrap_or_default().name;
    let e = history::event(
        ctx,
        EventType::StartChildWorkflowExecutionInitiated,
        Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(
            h::StartChildWorkflowExecutionInitiatedEventAttributes {
                namespace: request.namespace.clone(),
                namespace_id,
                workflow_id: a.workflow_id.clone(),
                workflow_type: a.workflow_type.clone(),
                task_queue: Some(TaskQueue {
                    name: task_queue,
                    kind: TaskQueueKind::Normal as i32,
                    ..Default::default()
                }),
                input: a.input.clone(),
                workflow_execution_timeout: duration(nanos(&a.workflow_execution_timeout)),
                workflow_run_timeout: explicit_duration(nanos(&a.workflow_run_timeout)),
                workflow_task_timeout: duration(task_timeout),
                parent_close_policy: a.parent_close_policy,
                control: a.control.clone(),
                workflow_task_completed_event_id: c.completed_event_id,
                workflow_id_reuse_policy: a.workflow_id_reuse_policy,
                retry_policy: a.retry_policy.clone(),
                cron_schedule: a.cron_schedule.clone(),
                header: Some(a.header.clone().unwrap_or_default()),
                memo: a.memo.clone(),
                search_attributes: a.search_attributes.clone(),
                inherit_build_id: a.inherit_build_id,
                priority: a.priority.clone(),
                ..Default::default()
            },
        ),
    );
    let initiated_event_id = history::append(ctx, c.exec, e);
    c.initiated_children.push(InitiatedChild {
        initiated_event_id,
        run_id,
        attributes: a,
    });
    Ok(())
}
