//! StartWorkflowExecution and DescribeWorkflowExecution.

use super::{Frontend, Res};
use crate::errors;
use keel_engine::mutation::{Kind, StartWorkflow};
use keel_engine::records::ExecutionRecord;
use keel_engine::time::{duration, timestamp};
use keel_engine::{validate, Outcome};
use temporalio_protos::temporal::api::{
    common::v1::{WorkflowExecution, WorkflowType},
    enums::v1::{PendingActivityState, PendingWorkflowTaskState, TaskQueueKind},
    taskqueue::v1::TaskQueue,
    workflow::v1::{
        PendingActivityInfo, PendingChildExecutionInfo, PendingWorkflowTaskInfo,
        WorkflowExecutionConfig, WorkflowExecutionInfo,
    },
    workflowservice::v1::*,
};
use tonic::{Request, Response};

pub(super) async fn start(
    f: &Frontend,
    req: Request<StartWorkflowExecutionRequest>,
) -> Res<StartWorkflowExecutionResponse> {
    let mut req = req.into_inner();
    validate::start_request(&req).map_err(errors::invalid_argument)?;
    f.keel.namespace(&req.namespace)?;
    if req.request_id.is_empty() {
        req.request_id = uuid::Uuid::new_v4().to_string();
    }
    let outcome = f
        .keel
        .propose(Kind::StartWorkflow(StartWorkflow {
            request: Some(req),
            run_id: uuid::Uuid::new_v4().to_string(),
        }))
        .await?;
    match outcome {
        Outcome::WorkflowStarted { run_id, started } => {
            Ok(Response::new(StartWorkflowExecutionResponse {
                run_id,
                started,
                ..Default::default()
            }))
        }
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

pub(super) async fn describe(
    f: &Frontend,
    req: Request<DescribeWorkflowExecutionRequest>,
) -> Res<DescribeWorkflowExecutionResponse> {
    let req = req.into_inner();
    f.keel.linearizable().await?;
    f.keel.namespace(&req.namespace)?;
    let execution = req.execution.unwrap_or_default();
    let exec = f
        .keel
        .execution(&req.namespace, &execution.workflow_id, &execution.run_id)?;
    Ok(Response::new(describe_execution(&exec)))
}

fn task_queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_string(),
        kind: TaskQueueKind::Normal as i32,
        ..Default::default()
    })
}

fn describe_execution(exec: &ExecutionRecord) -> DescribeWorkflowExecutionResponse {
    let pending_activities = exec
        .activities
        .iter()
        .map(|a| PendingActivityInfo {
            activity_id: a.activity_id.clone(),
            activity_type: Some(temporalio_protos::temporal::api::common::v1::ActivityType {
                name: a.activity_type.clone(),
            }),
            state: if a.started_time != 0 {
                PendingActivityState::Started as i32
            } else {
                PendingActivityState::Scheduled as i32
            },
            heartbeat_details: a.heartbeat_details.clone(),
            last_heartbeat_time: timestamp(a.last_heartbeat_time),
            last_started_time: timestamp(a.started_time),
            attempt: a.attempt,
            maximum_attempts: a.retry_policy.as_ref().map_or(0, |p| p.maximum_attempts),
            scheduled_time: timestamp(a.current_attempt_scheduled_time),
            expiration_time: if a.schedule_to_close_timeout > 0 {
                timestamp(a.scheduled_time + a.schedule_to_close_timeout)
            } else {
                None
            },
            last_failure: a.last_failure.clone(),
            last_worker_identity: a.last_worker_identity.clone(),
            ..Default::default()
        })
        .collect();
    let pending_workflow_task = exec
        .workflow_task
        .as_ref()
        .map(|wt| PendingWorkflowTaskInfo {
            state: if wt.started_event_id != 0 {
                PendingWorkflowTaskState::Started as i32
            } else {
                PendingWorkflowTaskState::Scheduled as i32
            },
            scheduled_time: timestamp(wt.scheduled_time),
            original_scheduled_time: timestamp(wt.scheduled_time),
            started_time: timestamp(wt.started_time),
            attempt: wt.attempt,
        });
    DescribeWorkflowExecutionResponse {
        execution_config: Some(WorkflowExecutionConfig {
            task_queue: task_queue(&exec.task_queue),
            workflow_execution_timeout: duration(exec.execution_timeout),
            workflow_run_timeout: duration(exec.run_timeout),
            default_workflow_task_timeout: duration(exec.task_timeout),
            ..Default::default()
        }),
        workflow_execution_info: Some(WorkflowExecutionInfo {
            execution: Some(WorkflowExecution {
                workflow_id: exec.workflow_id.clone(),
                run_id: exec.run_id.clone(),
            }),
            r#type: Some(WorkflowType {
                name: exec.workflow_type.clone(),
            }),
            start_time: timestamp(exec.start_time),
            close_time: timestamp(exec.close_time),
            status: exec.status,
            history_length: exec.next_event_id - 1,
            // A retried run executes after its backoff.
            execution_time: timestamp(exec.start_time.max(exec.first_task_not_before)),
            memo: exec.memo.clone(),
            search_attributes: exec.search_attributes.clone(),
            task_queue: exec.task_queue.clone(),
            state_transition_count: exec.state_transitions,
            history_size_bytes: exec.history_size_bytes,
            execution_duration: if exec.close_time != 0 {
                duration(exec.close_time - exec.start_time)
            } else {
                None
            },
            first_run_id: exec.first_execution_run_id.clone(),
            auto_reset_points: exec.auto_reset_points.clone(),
            parent_execution: exec.parent.as_ref().map(|p| WorkflowExecution {
                workflow_id: p.workflow_id.clone(),
                run_id: p.run_id.clone(),
            }),
            root_execution: Some(match &exec.parent {
                Some(p) => WorkflowExecution {
                    workflow_id: p.root_workflow_id.clone(),
                    run_id: p.root_run_id.clone(),
                },
                None => WorkflowExecution {
                    workflow_id: exec.workflow_id.clone(),
                    run_id: exec.first_execution_run_id.clone(),
                },
            }),
            ..Default::default()
        }),
        pending_activities,
        pending_workflow_task,
        pending_children: exec
            .children
            .iter()
            .map(|c| PendingChildExecutionInfo {
                workflow_id: c.workflow_id.clone(),
                run_id: c.run_id.clone(),
                workflow_type_name: c.workflow_type.clone(),
                initiated_id: c.initiated_event_id,
                parent_close_policy: c.parent_close_policy,
            })
            .collect(),
        ..Default::default()
    }
}
