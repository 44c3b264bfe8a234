//! ResetStickyTaskQueue and ShutdownWorker: a run's next workflow tasks go to its normal
//! queue; a worker that shuts down hands the tasks waiting on its sticky queue back to the
//! normal queues at once (see the engine's `sticky`).

use super::{Frontend, Res};
use crate::errors;
use keel_engine::keys;
use keel_engine::mutation::{Kind, StickyWorkerGone};
use keel_engine::records::TaskKind;
use keel_engine::validate;
use temporalio_protos::temporal::api::workflowservice::v1::*;
use tonic::{Request, Response};

/// At most this many waiting tasks are handed back by one shutdown; any others time out
/// on the sticky queue and move then.
const MAX_TASKS_HANDED_BACK: usize = 10_000;

pub(super) async fn reset(
    f: &Frontend,
    req: Request<ResetStickyTaskQueueRequest>,
) -> Res<ResetStickyTaskQueueResponse> {
    let req = req.into_inner();
    validate::id("Namespace", &req.namespace).map_err(errors::invalid_argument)?;
    let execution = req.execution.clone().unwrap_or_default();
    validate::id("WorkflowId", &execution.workflow_id).map_err(errors::invalid_argument)?;
    f.keel.propose(Kind::ResetStickyTaskQueue(req)).await?;
    Ok(Response::new(ResetStickyTaskQueueResponse::default()))
}

pub(super) async fn shutdown_worker(
    f: &Frontend,
    req: Request<ShutdownWorkerRequest>,
) -> Res<ShutdownWorkerResponse> {
    let req = req.into_inner();
    if req.sticky_task_queue.is_empty() {
        return Ok(Response::new(ShutdownWorkerResponse::default()));
    }
    f.keel.namespace(&req.namespace)?;
    let prefix =
        keys::task_queue_prefix(&req.namespace, &req.sticky_task_queue, TaskKind::Workflow);
    let task_keys = f
        .keel
        .store
        .state_scan(&prefix, None, MAX_TASKS_HANDED_BACK)
        .map_err(errors::internal)?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    f.keel
        .propose(Kind::StickyWorkerGone(StickyWorkerGone {
            namespace: req.namespace,
            sticky_queue: req.sticky_task_queue,
            task_keys,
        }))
        .await?;
    Ok(Response::new(ShutdownWorkerResponse::default()))
}
