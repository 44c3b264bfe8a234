//! Child workflows: starting the children a workflow task asked for (ChildWorkflowExecution
//! Started, or StartChildWorkflowExecutionFailed when the id is taken), telling the parent
//! how a child's run chain ended, and the parent close policies.

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::execution::{self, is_running};
use crate::history::{self, Attributes};
use crate::keys;
use crate::records::{ChildInfo, ExecutionRecord, ParentInfo};
use crate::start;
use crate::workflow_task;
use temporalio_protos::temporal::api::{
    command::v1::StartChildWorkflowExecutionCommandAttributes,
    common::v1::{WorkflowExecution, WorkflowType},
    enums::v1::{EventType, ParentClosePolicy, StartChildWorkflowExecutionFailedCause},
    history::v1 as h,
    taskqueue::v1::TaskQueue,
    workflowservice::v1 as ws,
};

/// Temporal's default limit of pending child workflows per run.
pub(crate) const MAX_PENDING_CHILDREN: usize = 2000;

/// Reason Temporal gives a child terminated by its parent's close policy.
const TERMINATED_BY_PARENT: &str = "by parent close policy";

/// A StartChildWorkflowExecution command, initiated (its event written) and waiting to be
/// started once every command of the completion has been applied, as Temporal starts them.
pub(crate) struct InitiatedChild {
    pub initiated_event_id: i64,
    pub run_id: String,
    pub attributes: StartChildWorkflowExecutionCommandAttributes,
}

/// The start request a child command amounts to (namespace defaulted to the parent's).
pub(crate) fn start_request(
    parent: &ExecutionRecord,
    a: &StartChildWorkflowExecutionCommandAttributes,
    request_id: &str,
) -> ws::StartWorkflowExecutionRequest {
    let namespace = if a.namespace.is_empty() {
        parent.namespace.clone()
    } else {
        a.namespace.clone()
    };
    let task_queue = match &a.task_queue {
        Some(q) if !q.name.is_empty() => q.clone(),
        _ => TaskQueue {
            name: parent.task_queue.clone(),
            ..Default::default()
        },
    };
    ws::StartWorkflowExecutionRequest {
        namespace,
        workflow_id: a.workflow_id.clone(),
        workflow_type: a.workflow_type.clone(),
        task_queue: Some(task_queue),
        input: a.input.clone(),
        workflow_execution_timeout: a.workflow_execution_timeout,
        workflow_run_timeout: a.workflow_run_timeout,
        workflow_task_timeout: a.workflow_task_timeout,
        request_id: request_id.to_string(),
        workflow_id_reuse_policy: a.workflow_id_reuse_policy,
        retry_policy: a.retry_policy.clone(),
        cron_schedule: a.cron_schedule.clone(),
        memo: a.memo.clone(),
        search_attributes: a.search_attributes.clone(),
        header: a.header.clone(),
        priority: crate::priority::merge(parent.priority.as_ref(), a.priority.as_ref()),
        ..Default::default()
    }
}

/// Starts the children `parent` initiated in this completion; each gets
/// ChildWorkflowExecutionStarted, or StartChildWorkflowExecutionFailed if its workflow id is
/// taken. Returns whether any event was written (the parent needs a workflow task).
pub(crate) fn start_initiated(
    ctx: &mut ApplyCtx,
    parent: &mut ExecutionRecord,
    initiated: Vec<InitiatedChild>,
) -> ApplyResult<bool> {
    let any = !initiated.is_empty();
    // Starting a child may close a sibling (reuse policy TERMINATE_IF_RUNNING): its outcome
    // must go to this record in hand, not to the stored one.
    ctx.hold(Some(keys::execution(
        &parent.namespace,
        &parent.workflow_id,
        &parent.run_id,
    )));
    let started = start_each(ctx, parent, initiated);
    ctx.hold(None);
    started.map(|()| any)
}

fn start_each(
    ctx: &mut ApplyCtx,
    parent: &mut ExecutionRecord,
    initiated: Vec<InitiatedChild>,
) -> ApplyResult<()> {
    for child in initiated {
        let a = &child.attributes;
        let req = start_request(parent, a, &child.run_id);
        let namespace = req.namespace.clone();
        let namespace_id = ctx.namespace(&namespace)?.id;
        let (root_workflow_id, root_run_id) = match &parent.parent {
            Some(p) => (p.root_workflow_id.clone(), p.root_run_id.clone()),
            None => (parent.workflow_id.clone(), parent.run_id.clone()),
        };
        let parent_info = ParentInfo {
            namespace: parent.namespace.clone(),
            workflow_id: parent.workflow_id.clone(),
            run_id: parent.run_id.clone(),
            initiated_event_id: child.initiated_event_id,
            root_workflow_id,
            root_run_id,
        };
        let workflow_type = a.workflow_type.clone();
        let child_queue = req.task_queue.as_ref().map_or("", |q| q.name.as_str());
        let inherited = crate::versioning::inherited(ctx, parent, &namespace, child_queue, true)?;
        let started = start::start_with(
            ctx,
            req,
            child.run_id.clone(),
            Some((parent_info, inherited)),
            |_, _| Ok(()),
        );
        for (initiated_event_id, outcome) in ctx.take_deferred_child_outcomes() {
            record_outcome(ctx, parent, initiated_event_id, outcome);
        }
        let event = match started {
            Ok(_) => {
                let e = history::event(
                    ctx,
                    EventType::ChildWorkflowExecutionStarted,
                    Attributes::ChildWorkflowExecutionStartedEventAttributes(
                        h::ChildWorkflowExecutionStartedEventAttributes {
                            namespace: namespace.clone(),
                            namespace_id,
                            initiated_event_id: child.initiated_event_id,
                            workflow_execution: Some(WorkflowExecution {
                                workflow_id: a.workflow_id.clone(),
                                run_id: child.run_id.clone(),
                            }),
                            workflow_type: workflow_type.clone(),
                            header: Some(a.header.clone().unwrap_or_default()),
                        },
                    ),
                );
                let started_event_id = history::append(ctx, parent, e);
                parent.children.push(ChildInfo {
                    initiated_event_id: child.initiated_event_id,
                    started_event_id,
                    namespace,
                    workflow_id: a.workflow_id.clone(),
                    run_id: child.run_id,
                    workflow_type: workflow_type.unwrap_or_default().name,
                    parent_close_policy: a.parent_close_policy,
                });
                continue;
            }
            Err(Rejection::WorkflowAlreadyStarted { .. }) => {
                StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists
            }
            Err(Rejection::NamespaceNotFound(_)) => {
                StartChildWorkflowExecutionFailedCause::NamespaceNotFound
            }
            Err(other) => return Err(other),
        };
        let e = history::event(
            ctx,
            EventType::StartChildWorkflowExecutionFailed,
            Attributes::StartChildWorkflowExecutionFailedEventAttributes(
                h::StartChildWorkflowExecutionFailedEventAttributes {
                    namespace,
                    namespace_id,
                    workflow_id: a.workflow_id.clone(),
                    workflow_type,
                    cause: event as i32,
                    control: a.control.clone(),
                    initiated_event_id: child.initiated_event_id,
                    workflow_task_completed_event_id: 0,
                },
            ),
        );
        history::append(ctx, parent, e);
    }
    Ok(())
}

/// A run closed with `attributes`: its children get their parent close policy, and if it was
/// the last run of a child's chain (no retry, continue-as-new or cron run follows), its
/// parent learns the outcome.
pub(crate) fn on_close(ctx: &mut ApplyCtx, exec: &mut ExecutionRecord, attributes: &Attributes) {
    ctx.mark_closing(keys::execution(
        &exec.namespace,
        &exec.workflow_id,
        &exec.run_id,
    ));
    for child in std::mem::take(&mut exec.children) {
        apply_parent_close_policy(ctx, exec, &child);
    }
    if let Some(parent) = exec.parent.clone() {
        if let Some(outcome) = outcome_for_parent(attributes) {
            tell_parent(ctx, &parent, outcome);
        }
    }
}

fn apply_parent_close_policy(ctx: &mut ApplyCtx, parent: &ExecutionRecord, child: &ChildInfo) {
    let policy = ParentClosePolicy::try_from(child.parent_close_policy)
        .unwrap_or(ParentClosePolicy::Terminate);
    if policy == ParentClosePolicy::Abandon {
        return;
    }
    // The child's chain may have moved on to a later run: act on the current one.
    let Ok(mut run) = execution::resolve_running(ctx, &child.namespace, &child.workflow_id, "")
    else {
        return;
    };
    let is_our_child = run
        .parent
        .as_ref()
        .is_some_and(|p| p.workflow_id == parent.workflow_id && p.run_id == parent.run_id);
    if !is_our_child {
        return; // the id now names a workflow this parent did not start
    }
    match policy {
        ParentClosePolicy::RequestCancel => {
            crate::cancel_terminate::request_cancel_run(ctx, &mut run, Default::default());
        }
        _ => crate::cancel_terminate::terminate_run(
            ctx,
            &mut run,
            TERMINATED_BY_PARENT.into(),
            None,
            "",
        ),
    }
    execution::save(ctx, &mut run);
}

/// The parent event a closing child run amounts to, or `None` if another run follows.
fn outcome_for_parent(attributes: &Attributes) -> Option<Attributes> {
    use Attributes as A;
    Some(match attributes {
        A::WorkflowExecutionCompletedEventAttributes(a) if a.new_execution_run_id.is_empty() => {
            A::ChildWorkflowExecutionCompletedEventAttributes(
                h::ChildWorkflowExecutionCompletedEventAttributes {
                    result: a.result.clone(),
                    ..Default::default()
                },
            )
        }
        A::WorkflowExecutionFailedEventAttributes(a) if a.new_execution_run_id.is_empty() => {
            A::ChildWorkflowExecutionFailedEventAttributes(
                h::ChildWorkflowExecutionFailedEventAttributes {
                    failure: a.failure.clone(),
                    retry_state: a.retry_state,
                    ..Default::default()
                },
            )
        }
        A::WorkflowExecutionTimedOutEventAttributes(a) if a.new_execution_run_id.is_empty() => {
            A::ChildWorkflowExecutionTimedOutEventAttributes(
                h::ChildWorkflowExecutionTimedOutEventAttributes {
                    retry_state: a.retry_state,
                    ..Default::default()
                },
            )
        }
        A::WorkflowExecutionCanceledEventAttributes(a) => {
            A::ChildWorkflowExecutionCanceledEventAttributes(
                h::ChildWorkflowExecutionCanceledEventAttributes {
                    details: a.details.clone(),
                    ..Default::default()
                },
            )
        }
        A::WorkflowExecutionTerminatedEventAttributes(_) => {
            A::ChildWorkflowExecutionTerminatedEventAttributes(Default::default())
        }
        _ => return None,
    })
}

/// Records a child chain's outcome in its parent and schedules the parent a workflow task.
/// A parent that closed, or is closing in this same mutation, is left alone; a parent a
/// handler holds in memory gets it through `ApplyCtx::defer_child_outcome`.
fn tell_parent(ctx: &mut ApplyCtx, parent: &ParentInfo, outcome: Attributes) {
    let key = keys::execution(&parent.namespace, &parent.workflow_id, &parent.run_id);
    if ctx.is_closing(&key) {
        return;
    }
    if ctx.is_in_hand(&key) {
        ctx.defer_child_outcome(parent.initiated_event_id, outcome);
        return;
    }
    let Ok(mut run) = execution::load(ctx, &parent.namespace, &parent.workflow_id, &parent.run_id)
    else {
        return;
    };
    if !is_running(&run) {
        return;
    }
    if record_outcome(ctx, &mut run, parent.initiated_event_id, outcome) {
        workflow_task::ensure_scheduled(ctx, &mut run);
        execution::save(ctx, &mut run);
    }
}

/// Appends a child's outcome event to its parent (buffered while a parent task runs) and
/// forgets the child; false if the parent has no such pending child.
fn record_outcome(
    ctx: &mut ApplyCtx,
    run: &mut ExecutionRecord,
    initiated_event_id: i64,
    mut outcome: Attributes,
) -> bool {
    let Some(i) = run
        .children
        .iter()
        .position(|c| c.initiated_event_id == initiated_event_id)
    else {
        return false;
    };
    let info = run.children.remove(i);
    let namespace_id = ctx
        .namespace(&info.namespace)
        .map(|n| n.id)
        .unwrap_or_default();
    let execution = Some(WorkflowExecution {
        workflow_id: info.workflow_id.clone(),
        run_id: info.run_id.clone(),
    });
    let workflow_type = Some(WorkflowType {
        name: info.workflow_type.clone(),
    });
    let event_type = {
        use Attributes as A;
        macro_rules! fill {
            ($a:expr) => {{
                $a.namespace = info.namespace.clone();
                $a.namespace_id = namespace_id.clone();
                $a.workflow_execution = execution.clone();
                $a.workflow_type = workflow_type.clone();
                $a.initiated_event_id = info.initiated_event_id;
                $a.started_event_id = info.started_event_id;
            }};
        }
        match &mut outcome {
            A::ChildWorkflowExecutionCompletedEventAttributes(a) => {
                fill!(a);
                EventType::ChildWorkflowExecutionCompleted
            }
            A::ChildWorkflowExecutionFailedEventAttributes(a) => {
                fill!(a);
                EventType::ChildWorkflowExecutionFailed
            }
            A::ChildWorkflowExecutionTimedOutEventAttributes(a) => {
                fill!(a);
                EventType::ChildWorkflowExecutionTimedOut
            }
            A::ChildWorkflowExecutionCanceledEventAttributes(a) => {
                fill!(a);
                EventType::ChildWorkflowExecutionCanceled
            }
            A::ChildWorkflowExecutionTerminatedEventAttributes(a) => {
                fill!(a);
                EventType::ChildWorkflowExecutionTerminated
            }
            _ => return false,
        }
    };
    let e = history::event(ctx, event_type, outcome);
    history::append_or_buffer(ctx, run, e);
    true
}
