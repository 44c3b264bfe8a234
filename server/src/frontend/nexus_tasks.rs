//! Nexus handler workers' calls: the long poll for a Nexus operation's attempt in the queue an
//! endpoint targets, and the two answers to it, each one mutation named by its task token
//! (the engine's `nexus` decides what the caller's history records).

use super::{long_poll_deadline, Frontend, Res};
use crate::errors;
use crate::matching::{Polled, Poller};
use crate::metrics::PollEnd;
use keel_engine::mutation::{CompleteNexusTask, FailNexusTask, Kind};
use keel_engine::records::TaskKind;
use keel_engine::{validate, Outcome, TaskToken};
use temporalio_protos::temporal::api::workflowservice::v1::*;
use tonic::{Request, Response, Status};

fn token(bytes: &[u8]) -> Result<TaskToken, Status> {
    super::tasks::token(bytes, TaskKind::Nexus)
}

pub(super) async fn poll(
    f: &Frontend,
    req: Request<PollNexusTaskQueueRequest>,
) -> Res<PollNexusTaskQueueResponse> {
    let deadline = long_poll_deadline(&req);
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    let queue = req
        .task_queue
        .as_ref()
        .map(|q| q.name.clone())
        .unwrap_or_default();
    validate::id("TaskQueue", &queue).map_err(errors::invalid_argument)?;
    let outcome = f
        .keel
        .matching
        .poll(
            &f.keel.node,
            Poller {
                namespace: req.namespace.clone(),
                queue: queue.clone(),
                kind: TaskKind::Nexus,
                identity: req.identity.clone(),
                worker_version: None,
                suggest: None,
                version: None,
                routed: false,
            },
            deadline,
        )
        .await?;
    let metrics = &f.keel.metrics;
    match outcome {
        None => {
            metrics.polled(&req.namespace, &queue, "nexus", PollEnd::Empty);
            Ok(Response::new(PollNexusTaskQueueResponse::default()))
        }
        Some(Polled::Task(Outcome::NexusTaskStarted(response))) => {
            metrics.polled(&req.namespace, &queue, "nexus", PollEnd::Task(None));
            Ok(Response::new(*response))
        }
        Some(other) => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

pub(super) async fn completed(
    f: &Frontend,
    req: Request<RespondNexusTaskCompletedRequest>,
) -> Res<RespondNexusTaskCompletedResponse> {
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    let token = token(&req.task_token)?;
    validate::payload_size("Response", &req).map_err(errors::invalid_argument)?;
    f.keel
        .propose(Kind::CompleteNexusTask(CompleteNexusTask {
            token: Some(token),
            request: Some(req),
        }))
        .await?;
    Ok(Response::new(RespondNexusTaskCompletedResponse {}))
}

pub(super) async fn failed(
    f: &Frontend,
    req: Request<RespondNexusTaskFailedRequest>,
) -> Res<RespondNexusTaskFailedResponse> {
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    let token = token(&req.task_token)?;
    validate::payload_size("Failure", &req).map_err(errors::invalid_argument)?;
    f.keel
        .propose(Kind::FailNexusTask(FailNexusTask {
            token: Some(token),
            request: Some(req),
        }))
        .await?;
    Ok(Response::new(RespondNexusTaskFailedResponse {}))
}
