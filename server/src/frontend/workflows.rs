//! StartWorkflowExecution and DescribeWorkflowExecution.

use super::{Frontend, Res};
use crate::errors;
use keel_engine::activity_ops::options_of;
use keel_engine::mutation::{Kind, StartWorkflow};
use keel_engine::records::{ActivityInfo, ActivityPauseInfo, ExecutionRecord};
use keel_engine::time::{duration, timestamp};
use keel_engine::visibility::execution_info;
use keel_engine::{validate, Outcome};
use temporalio_protos::temporal::api::{
    activity::v1::ActivityOptions,
    common::v1::Link,
    enums::v1::{
        EventType, PendingActivityState, PendingWorkflowTaskState, TaskQueueKind,
        WorkflowExecutionStatus,
    },
    history::v1::History,
    sdk::v1::UserMetadata,
    taskqueue::v1::TaskQueue,
    workflow::v1::{
        pending_activity_info, PendingActivityInfo, PendingChildExecutionInfo,
        PendingWorkflowTaskInfo, RequestIdInfo, WorkflowExecutionConfig,
        WorkflowExecutionExtendedInfo, WorkflowExecutionInfo,
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
    let namespace = req.namespace.clone();
    let workflow_id = req.workflow_id.clone();
    let eager = req.request_eager_execution && f.keel.eager_workflow_start();
    let task_queue = req
        .task_queue
        .as_ref()
        .map_or("", |q| q.name.as_str())
        .to_string();
    let outcome = f
        .keel
        .propose(Kind::StartWorkflow(StartWorkflow {
            request: Some(req),
            run_id: crate::ids::new_run_id(),
            eager,
            suggest: f.keel.suggest_continue_as_new().filter(|_| eager),
            record_user_metadata: f.keel.cluster_at_release_2(),
        }))
        .await?;
    match outcome {
        Outcome::EagerWorkflowStarted { run_id, task } => {
            f.keel.metrics.eager(&namespace, &task_queue, "workflow", 1);
            let (mut response, events) = super::tasks::started_task(f, &namespace, *task)?;
            response.history = Some(History {
                events: events.decode().map_err(errors::internal)?,
            });
            Ok(Response::new(StartWorkflowExecutionResponse {
                first_execution_run_id: run_id.clone(),
                link: Some(started_event_link(&namespace, &workflow_id, &run_id)),
                run_id,
                started: true,
                status: WorkflowExecutionStatus::Running as i32,
                eager_workflow_task: Some(response),
            }))
        }
        Outcome::WorkflowStarted { run_id, started } => {
            // A new start begins a chain of its own; an existing run (the conflict policy
            // USE_EXISTING) belongs to the chain it began in.
            let first_execution_run_id = if started {
                run_id.clone()
            } else {
                f.keel
                    .execution(&namespace, &workflow_id, &run_id)?
                    .first_execution_run_id
            };
            Ok(Response::new(StartWorkflowExecutionResponse {
                link: Some(started_event_link(&namespace, &workflow_id, &run_id)),
                run_id,
                started,
                first_execution_run_id,
                status: WorkflowExecutionStatus::Running as i32,
                ..Default::default()
            }))
        }
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// The link to a run's WorkflowExecutionStarted event, as Temporal's start answers with (a
/// Nexus handler passes it back to the caller's NexusOperationStarted event).
fn started_event_link(namespace: &str, workflow_id: &str, run_id: &str) -> Link {
    use temporalio_protos::temporal::api::common::v1::link;
    Link {
        variant: Some(link::Variant::WorkflowEvent(link::WorkflowEvent {
            namespace: namespace.into(),
            workflow_id: workflow_id.into(),
            run_id: run_id.into(),
            reference: Some(link::workflow_event::Reference::EventRef(
                link::workflow_event::EventReference {
                    event_id: 1,
                    event_type: EventType::WorkflowExecutionStarted as i32,
                },
            )),
        })),
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
    // The starter's summary and details are on the run's first event.
    let first =
        super::history::read_events(f, &exec.namespace, &exec.workflow_id, &exec.run_id, 1, 1)?
            .decode()
            .map_err(errors::internal)?;
    let user_metadata = first.into_iter().next().and_then(|e| e.user_metadata);
    Ok(Response::new(describe_execution(&exec, user_metadata)))
}

fn task_queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_string(),
        kind: TaskQueueKind::Normal as i32,
        ..Default::default()
    })
}

/// Go's zero time, which Temporal sends as a run's expiration time when it has none.
const GO_ZERO_TIME: prost_wkt_types::Timestamp = prost_wkt_types::Timestamp {
    seconds: -62_135_596_800,
    nanos: 0,
};

fn extended_info(exec: &ExecutionRecord) -> WorkflowExecutionExtendedInfo {
    WorkflowExecutionExtendedInfo {
        execution_expiration_time: timestamp(exec.execution_deadline),
        run_expiration_time: Some(if exec.run_timeout > 0 {
            timestamp(exec.start_time + exec.run_timeout).unwrap_or(GO_ZERO_TIME)
        } else {
            GO_ZERO_TIME
        }),
        cancel_requested: exec.cancel_requested,
        original_start_time: timestamp(exec.start_time),
        request_id_infos: [(
            exec.start_request_id.clone(),
            RequestIdInfo {
                event_type: EventType::WorkflowExecutionStarted as i32,
                event_id: 1,
                buffered: false,
            },
        )]
        .into_iter()
        .filter(|(id, _)| !id.is_empty())
        .collect(),
        ..Default::default()
    }
}

/// A pending activity's state as Temporal reports it: a cancel request first, then a pause
/// (PAUSE_REQUESTED while a worker still runs the attempt, PAUSED once none does).
fn activity_state(a: &ActivityInfo) -> PendingActivityState {
    match (
        a.cancel_requested_event_id != 0,
        a.paused,
        a.started_time != 0,
    ) {
        (true, _, _) => PendingActivityState::CancelRequested,
        (false, true, true) => PendingActivityState::PauseRequested,
        (false, true, false) => PendingActivityState::Paused,
        (false, false, true) => PendingActivityState::Started,
        (false, false, false) => PendingActivityState::Scheduled,
    }
}

/// The options Describe shows: UpdateActivityOptions' answer, its queue named as Temporal's
/// Describe names it (name and normal name, no kind).
fn described_options(a: &ActivityInfo) -> ActivityOptions {
    ActivityOptions {
        task_queue: Some(TaskQueue {
            name: a.task_queue.clone(),
            normal_name: a.task_queue.clone(),
            ..Default::default()
        }),
        ..options_of(a)
    }
}

fn pause_info(p: &ActivityPauseInfo) -> pending_activity_info::PauseInfo {
    use pending_activity_info::pause_info::{Manual, PausedBy};
    pending_activity_info::PauseInfo {
        pause_time: timestamp(p.pause_time),
        paused_by: Some(PausedBy::Manual(Manual {
            identity: p.identity.clone(),
            reason: p.reason.clone(),
        })),
    }
}

fn describe_execution(
    exec: &ExecutionRecord,
    user_metadata: Option<UserMetadata>,
) -> DescribeWorkflowExecutionResponse {
    let pending_activities = exec
        .activities
        .iter()
        .map(|a| PendingActivityInfo {
            activity_id: a.activity_id.clone(),
            activity_type: Some(temporalio_protos::temporal::api::common::v1::ActivityType {
                name: a.activity_type.clone(),
            }),
            state: activity_state(a) as i32,
            paused: a.paused,
            pause_info: a.pause_info.as_ref().map(pause_info),
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
            // The worker running the attempt, or the one that ran the last attempt.
            last_worker_identity: if a.started_time != 0 {
                a.started_identity.clone()
            } else {
                a.last_worker_identity.clone()
            },
            activity_options: Some(described_options(a)),
            priority: a.priority.clone(),
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
            user_metadata,
        }),
        workflow_execution_info: Some(WorkflowExecutionInfo {
            versioning_info: keel_engine::versioning::info(exec),
            ..execution_info(exec, true)
        }),
        workflow_extended_info: Some(extended_info(exec)),
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
        pending_nexus_operations: exec
            .nexus_operations
            .iter()
            .map(keel_engine::nexus::pending_info)
            .collect(),
        ..Default::default()
    }
}
