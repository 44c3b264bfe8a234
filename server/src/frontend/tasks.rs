//! Workers' calls: long polls for workflow and activity tasks, and every Respond… /
//! heartbeat call, each turned into one mutation named by its task token.

// Temporal still records the deprecated worker-version fields; so do we.
#![allow(deprecated)]

use super::history::read_events;
use super::stored_history::{StoredEvents, WithHistory};
use super::{long_poll_deadline, Frontend, Res};
use crate::errors;
use crate::matching::{Polled, Poller};
use crate::metrics::PollEnd;
use crate::queries::QueryTask;
use keel_engine::mutation::{
    CancelActivityTask, CompleteActivityTask, CompleteWorkflowTask, FailActivityTask,
    FailWorkflowTask, Kind, RecordHeartbeat, ScheduleUpdateTask,
};
use keel_engine::records::TaskKind;
use keel_engine::{validate, Outcome, TaskToken};
use temporalio_protos::temporal::api::{
    command::v1::command,
    common::v1::{WorkerVersionCapabilities, WorkerVersionStamp},
    deployment::v1::WorkerDeploymentOptions,
    enums::v1::{TaskQueueKind, TaskQueueType},
    workflowservice::v1::*,
};
use tonic::{Request, Response, Status};

pub(super) fn token(bytes: &[u8], kind: TaskKind) -> Result<TaskToken, Status> {
    let token = TaskToken::from_bytes(bytes)
        .ok_or_else(|| Status::invalid_argument("Error deserializing task token."))?;
    if token.kind != kind as i32 {
        return Err(Status::invalid_argument(
            "Task token is for a different kind of task.",
        ));
    }
    Ok(token)
}

fn queue_name(
    q: &Option<temporalio_protos::temporal::api::taskqueue::v1::TaskQueue>,
) -> Result<String, Status> {
    let name = q.as_ref().map(|q| q.name.clone()).unwrap_or_default();
    validate::id("TaskQueue", &name).map_err(errors::invalid_argument)?;
    Ok(name)
}

/// The worker's build id as Temporal stamps it on started and completed events: from the
/// versioning capabilities, else the deployment options, else the binary checksum (which is
/// what the Python SDK sends).
fn worker_version(
    capabilities: &Option<WorkerVersionCapabilities>,
    deployment: &Option<WorkerDeploymentOptions>,
    binary_checksum: &str,
) -> Option<WorkerVersionStamp> {
    if let Some(c) = capabilities.as_ref().filter(|c| !c.build_id.is_empty()) {
        return Some(WorkerVersionStamp {
            build_id: c.build_id.clone(),
            use_versioning: c.use_versioning,
        });
    }
    let build_id = match deployment.as_ref().filter(|d| !d.build_id.is_empty()) {
        Some(d) => d.build_id.clone(),
        None => binary_checksum.to_string(),
    };
    (!build_id.is_empty()).then_some(WorkerVersionStamp {
        build_id,
        use_versioning: false,
    })
}

/// The build id a poll's started event names: none for a worker that uses deployment
/// versioning (its version is on its completions instead), as Temporal's.
fn poller_version(
    capabilities: &Option<WorkerVersionCapabilities>,
    deployment: &Option<WorkerDeploymentOptions>,
    binary_checksum: &str,
) -> Option<WorkerVersionStamp> {
    if keel_engine::versioning::versioned_worker(deployment).is_some() {
        return None;
    }
    worker_version(capabilities, deployment, binary_checksum)
}

/// Seconds from `from` to `to`, when both are set.
fn seconds_between(
    from: &Option<prost_wkt_types::Timestamp>,
    to: &Option<prost_wkt_types::Timestamp>,
) -> Option<f64> {
    let (from, to) = (from.as_ref()?, to.as_ref()?);
    Some((to.seconds - from.seconds) as f64 + f64::from(to.nanos - from.nanos) / 1e9)
}

fn poller(
    namespace: &str,
    queue: String,
    kind: TaskKind,
    identity: &str,
    worker_version: Option<WorkerVersionStamp>,
) -> Poller {
    Poller {
        namespace: namespace.to_string(),
        queue,
        kind,
        identity: identity.to_string(),
        worker_version,
        suggest: None,
        version: None,
        routed: true,
    }
}

pub(super) async fn poll_workflow_task(
    f: &Frontend,
    req: Request<PollWorkflowTaskQueueRequest>,
) -> Res<WithHistory<PollWorkflowTaskQueueResponse>> {
    let deadline = long_poll_deadline(&req);
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    let queue = queue_name(&req.task_queue)?;
    let sticky = req
        .task_queue
        .as_ref()
        .is_some_and(|q| q.kind == TaskQueueKind::Sticky as i32);
    let version = if sticky {
        keel_engine::versioning::versioned_worker(&req.deployment_options)
            .map(|v| (v.deployment_name, v.build_id))
    } else {
        super::deployments::register_poller(
            f,
            &req.namespace,
            &queue,
            TaskQueueType::Workflow,
            &req.deployment_options,
        )
        .await?
    };
    let outcome = f
        .keel
        .matching
        .poll(
            &f.keel.node,
            Poller {
                suggest: f.keel.suggest_continue_as_new(),
                version,
                routed: !sticky,
                ..poller(
                    &req.namespace,
                    queue,
                    TaskKind::Workflow,
                    &req.identity,
                    poller_version(
                        &req.worker_version_capabilities,
                        &req.deployment_options,
                        &req.binary_checksum,
                    ),
                )
            },
            deadline,
        )
        .await?;
    let polled = |end| {
        let queue = req.task_queue.as_ref().map_or("", |q| q.name.as_str());
        f.keel
            .metrics
            .polled(&req.namespace, queue, "workflow", end)
    };
    match outcome {
        None => {
            polled(PollEnd::Empty);
            Ok(Response::new(WithHistory::poll(Default::default(), None)))
        }
        Some(Polled::Query(query)) => {
            polled(PollEnd::Task(None));
            Ok(Response::new(query_task(f, query)?))
        }
        Some(Polled::Task(Outcome::WorkflowTaskStarted(started))) => {
            polled(PollEnd::Task(seconds_between(
                &started.response.scheduled_time,
                &started.response.started_time,
            )));
            let (response, events) = started_task(f, &req.namespace, *started)?;
            Ok(Response::new(WithHistory::poll(response, Some(events))))
        }
        Some(other) => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// What a worker is handed for a workflow task apply started (polled, or eagerly at the
/// run's start): the response with the history it needs, the queries riding on the task and
/// the updates it carries.
pub(super) fn started_task(
    f: &Frontend,
    namespace: &str,
    started: keel_engine::outcome::WorkflowTaskStarted,
) -> Result<(PollWorkflowTaskQueueResponse, StoredEvents), Status> {
    let mut response = started.response;
    let execution = response.workflow_execution.clone().unwrap_or_default();
    let count = (started.stored_through - started.history_from + 1).max(0);
    let mut events = read_events(
        f,
        namespace,
        &execution.workflow_id,
        &execution.run_id,
        started.history_from,
        count as usize,
    )?;
    debug_assert_eq!(events.len() as i64, count);
    for event in &started.transient_events {
        debug_assert_eq!(event.event_id, started.history_from + events.len() as i64);
        events.push(event);
    }
    let run = (
        namespace,
        execution.workflow_id.as_str(),
        execution.run_id.as_str(),
    );
    response.queries = f.keel.queries.take_riding(run.0, run.1, run.2);
    if let Some(token) = TaskToken::from_bytes(&response.task_token) {
        response.messages = f.keel.updates.deliver(
            run,
            (token.target, token.attempt),
            response.started_event_id - 1,
        );
    }
    Ok((response, events))
}

/// A query as a workflow task: the run's whole history with `query` set. The worker answers
/// with RespondQueryTaskCompleted, not by completing a workflow task.
fn query_task(
    f: &Frontend,
    q: QueryTask,
) -> Result<WithHistory<PollWorkflowTaskQueueResponse>, Status> {
    let exec = f.keel.execution(&q.namespace, &q.workflow_id, &q.run_id)?;
    let events = read_events(f, &q.namespace, &q.workflow_id, &q.run_id, 1, usize::MAX)?;
    let token = TaskToken {
        namespace: q.namespace,
        workflow_id: q.workflow_id,
        run_id: q.run_id,
        target: q.id as i64,
        attempt: 1,
        kind: TaskKind::Query as i32,
        ..Default::default()
    };
    let response = PollWorkflowTaskQueueResponse {
        task_token: token.to_bytes(),
        started_event_id: exec.last_completed_started_event_id,
        attempt: 1,
        query: Some(q.query),
        ..keel_engine::poll_response(&exec)
    };
    Ok(WithHistory::poll(response, Some(events)))
}

pub(super) async fn poll_activity_task(
    f: &Frontend,
    req: Request<PollActivityTaskQueueRequest>,
) -> Res<PollActivityTaskQueueResponse> {
    let deadline = long_poll_deadline(&req);
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    let queue = queue_name(&req.task_queue)?;
    let version = super::deployments::register_poller(
        f,
        &req.namespace,
        &queue,
        TaskQueueType::Activity,
        &req.deployment_options,
    )
    .await?;
    let outcome = f
        .keel
        .matching
        .poll(
            &f.keel.node,
            Poller {
                version,
                ..poller(
                    &req.namespace,
                    queue,
                    TaskKind::Activity,
                    &req.identity,
                    poller_version(
                        &req.worker_version_capabilities,
                        &req.deployment_options,
                        "",
                    ),
                )
            },
            deadline,
        )
        .await?;
    let queue = req.task_queue.as_ref().map_or("", |q| q.name.as_str());
    let metrics = &f.keel.metrics;
    match outcome {
        None => {
            metrics.polled(&req.namespace, queue, "activity", PollEnd::Empty);
            Ok(Response::new(PollActivityTaskQueueResponse::default()))
        }
        Some(Polled::Task(Outcome::ActivityTaskStarted(response))) => {
            let took = seconds_between(
                &response.current_attempt_scheduled_time,
                &response.started_time,
            );
            metrics.polled(&req.namespace, queue, "activity", PollEnd::Task(took));
            Ok(Response::new(*response))
        }
        Some(other) => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

pub(super) async fn workflow_task_completed(
    f: &Frontend,
    req: Request<RespondWorkflowTaskCompletedRequest>,
) -> Res<RespondWorkflowTaskCompletedResponse> {
    let mut req = req.into_inner();
    let token = token(&req.task_token, TaskKind::Workflow)?;
    validate::completion_request(&req).map_err(errors::invalid_argument)?;
    for (id, result) in std::mem::take(&mut req.query_results) {
        if let Ok(id) = id.parse::<u64>() {
            f.keel.queries.answer(
                id,
                RespondQueryTaskCompletedRequest {
                    completed_type: result.result_type,
                    query_result: result.answer,
                    error_message: result.error_message,
                    failure: result.failure,
                    ..Default::default()
                },
            );
        }
    }
    if req.worker_version_stamp.is_none() {
        req.worker_version_stamp =
            worker_version(&None, &req.deployment_options, &req.binary_checksum);
    }
    let run = (
        token.namespace.as_str(),
        token.workflow_id.as_str(),
        token.run_id.as_str(),
    );
    f.keel.updates.fill_acceptances(run, &mut req.messages);
    let messages = req.messages.clone();
    let child_run_ids = req
        .commands
        .iter()
        .filter(|c| {
            matches!(
                c.attributes,
                Some(command::Attributes::StartChildWorkflowExecutionCommandAttributes(_))
            )
        })
        .map(|_| crate::ids::new_run_id())
        .collect();
    // One request id for each activity asking for eager execution, if the leader allows it.
    let eager_activity_request_ids = if f.keel.eager_activities() {
        req.commands
            .iter()
            .filter(|c| {
                matches!(&c.attributes,
                    Some(command::Attributes::ScheduleActivityTaskCommandAttributes(a))
                        if a.request_eager_execution)
            })
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let continues_as_new = req.commands.iter().any(|c| {
        matches!(
            c.attributes,
            Some(command::Attributes::ContinueAsNewWorkflowExecutionCommandAttributes(_))
        )
    });
    let continue_as_new_min_interval = if continues_as_new {
        f.keel.continue_as_new_min_interval()
    } else {
        0
    };
    let outcome = f
        .keel
        .propose(Kind::CompleteWorkflowTask(CompleteWorkflowTask {
            token: Some(token.clone()),
            request: Some(req),
            next_run_id: crate::ids::new_run_id(),
            child_run_ids,
            eager_activity_request_ids,
            continue_as_new_min_interval,
        }))
        .await?;
    let waiting = f
        .keel
        .updates
        .completed(run, (token.target, token.attempt), &messages);
    if waiting {
        // Updates admitted while the task ran: a new task carries them.
        let scheduled = f
            .keel
            .propose(Kind::ScheduleUpdateTask(ScheduleUpdateTask {
                namespace: run.0.to_string(),
                workflow_id: run.1.to_string(),
                run_id: run.2.to_string(),
            }))
            .await;
        if let Err(e) = scheduled {
            tracing::debug!(error = %e, "no task for the waiting updates (the run closed?)");
        }
    }
    Ok(Response::new(match outcome {
        Outcome::WorkflowTaskDiscarded {
            reset_history_event_id,
        } => RespondWorkflowTaskCompletedResponse {
            reset_history_event_id,
            ..Default::default()
        },
        Outcome::EagerActivitiesStarted(started) => {
            let activity_tasks = started
                .into_iter()
                .map(|(queue, task)| {
                    f.keel.metrics.eager(run.0, &queue, "activity", 1);
                    task
                })
                .collect();
            RespondWorkflowTaskCompletedResponse {
                activity_tasks,
                ..Default::default()
            }
        }
        _ => Default::default(),
    }))
}

pub(super) async fn workflow_task_failed(
    f: &Frontend,
    req: Request<RespondWorkflowTaskFailedRequest>,
) -> Res<RespondWorkflowTaskFailedResponse> {
    let req = req.into_inner();
    let token = token(&req.task_token, TaskKind::Workflow)?;
    validate::payload_size("Failure", &req).map_err(errors::invalid_argument)?;
    f.keel
        .propose(Kind::FailWorkflowTask(FailWorkflowTask {
            token: Some(token),
            request: Some(req),
        }))
        .await?;
    Ok(Response::new(RespondWorkflowTaskFailedResponse::default()))
}

pub(super) async fn activity_task_completed(
    f: &Frontend,
    req: Request<RespondActivityTaskCompletedRequest>,
) -> Res<RespondActivityTaskCompletedResponse> {
    let req = req.into_inner();
    let token = token(&req.task_token, TaskKind::Activity)?;
    if let Some(result) = &req.result {
        validate::payload_size("Result", result).map_err(errors::invalid_argument)?;
    }
    f.keel
        .propose(Kind::CompleteActivityTask(CompleteActivityTask {
            token: Some(token),
            request: Some(req),
        }))
        .await?;
    Ok(Response::new(
        RespondActivityTaskCompletedResponse::default(),
    ))
}

pub(super) async fn activity_task_failed(
    f: &Frontend,
    req: Request<RespondActivityTaskFailedRequest>,
) -> Res<RespondActivityTaskFailedResponse> {
    let req = req.into_inner();
    let token = token(&req.task_token, TaskKind::Activity)?;
    validate::payload_size("Failure", &req).map_err(errors::invalid_argument)?;
    f.keel
        .propose(Kind::FailActivityTask(FailActivityTask {
            token: Some(token),
            request: Some(req),
        }))
        .await?;
    Ok(Response::new(RespondActivityTaskFailedResponse::default()))
}

pub(super) async fn activity_task_canceled(
    f: &Frontend,
    req: Request<RespondActivityTaskCanceledRequest>,
) -> Res<RespondActivityTaskCanceledResponse> {
    let req = req.into_inner();
    let token = token(&req.task_token, TaskKind::Activity)?;
    validate::payload_size("Details", &req).map_err(errors::invalid_argument)?;
    f.keel
        .propose(Kind::CancelActivityTask(CancelActivityTask {
            token: Some(token),
            request: Some(req),
        }))
        .await?;
    Ok(Response::new(RespondActivityTaskCanceledResponse::default()))
}

pub(super) async fn activity_heartbeat(
    f: &Frontend,
    req: Request<RecordActivityTaskHeartbeatRequest>,
) -> Res<RecordActivityTaskHeartbeatResponse> {
    let req = req.into_inner();
    let token = token(&req.task_token, TaskKind::Activity)?;
    validate::payload_size("Details", &req).map_err(errors::invalid_argument)?;
    match f
        .keel
        .propose(Kind::RecordHeartbeat(RecordHeartbeat {
            token: Some(token),
            request: Some(req),
        }))
        .await?
    {
        Outcome::Heartbeat {
            cancel_requested,
            paused,
            reset,
        } => Ok(Response::new(RecordActivityTaskHeartbeatResponse {
            cancel_requested,
            activity_paused: paused,
            activity_reset: reset,
        })),
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}
