//! The standalone activity RPCs: StartActivityExecution, RequestCancel-, Terminate- and
//! DeleteActivityExecution are decided by apply (`keel_engine::standalone`);
//! DescribeActivityExecution (with its long-poll token) and PollActivityExecution read the
//! run and wait on its watcher; List and Count run the query over this node's RocksDB after
//! a linearizable check, as the workflow lists do.

use super::{long_poll_deadline, page_size, Frontend, Res};
use crate::errors;
use keel_engine::mutation::{Kind, StartActivityExecution};
use keel_engine::records::{CurrentRun, ExecutionRecord};
use keel_engine::standalone::read::{self, ActivityListError};
use keel_engine::{keys, validate, Outcome};
use prost::Message;
use std::sync::Arc;
use temporalio_protos::temporal::api::{
    common::v1::{link, Link},
    workflowservice::v1::{count_activity_executions_response::AggregationGroup, *},
};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

pub(super) fn not_found(activity_id: &str) -> Status {
    errors::not_found(format!("activity not found for ID: {activity_id}"))
}

fn list_status(e: ActivityListError) -> Status {
    match e {
        ActivityListError::Query(q) => errors::invalid_argument(q.to_string()),
        ActivityListError::BadToken => errors::invalid_argument("Invalid NextPageToken."),
        other => errors::internal(other),
    }
}

/// The run a request names (an empty run id: the id's latest), as this node has it.
pub(super) fn read_run(
    f: &Frontend,
    namespace: &str,
    activity_id: &str,
    run_id: &str,
) -> Result<ExecutionRecord, Status> {
    f.keel.namespace(namespace)?;
    if activity_id.is_empty() {
        return Err(errors::invalid_argument("activityId is not set"));
    }
    let store = &f.keel.store;
    let run_id = if run_id.is_empty() {
        let current = store
            .state_get(&keys::current_activity(namespace, activity_id))
            .map_err(errors::internal)?
            .ok_or_else(|| not_found(activity_id))?;
        CurrentRun::decode(current.as_slice())
            .map_err(errors::internal)?
            .run_id
    } else {
        run_id.to_string()
    };
    let bytes = store
        .state_get(&keys::activity_execution(namespace, activity_id, &run_id))
        .map_err(errors::internal)?
        .ok_or_else(|| not_found(activity_id))?;
    ExecutionRecord::decode(bytes.as_slice()).map_err(errors::internal)
}

/// Waits until the run differs from what `seen` says (or is gone), or `deadline`; returns it
/// as it is then.
async fn wait_for(
    f: &Frontend,
    namespace: &str,
    activity_id: &str,
    run_id: &str,
    deadline: Instant,
    seen: impl Fn(&ExecutionRecord) -> bool,
) -> Result<ExecutionRecord, Status> {
    let watch = f
        .keel
        .activity_watchers
        .watch(namespace, activity_id, run_id);
    loop {
        let changed = watch.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let exec = read_run(f, namespace, activity_id, run_id)?;
        if !seen(&exec) {
            return Ok(exec);
        }
        tokio::select! {
            _ = &mut changed => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(exec),
        }
    }
}

pub(super) async fn start(
    f: &Frontend,
    req: Request<StartActivityExecutionRequest>,
) -> Res<StartActivityExecutionResponse> {
    let mut req = req.into_inner();
    validate::id("Namespace", &req.namespace).map_err(errors::invalid_argument)?;
    if req.request_id.is_empty() {
        req.request_id = uuid::Uuid::new_v4().to_string();
    }
    let namespace = req.namespace.clone();
    let activity_id = req.activity_id.clone();
    let outcome = f
        .keel
        .propose(Kind::StartActivityExecution(StartActivityExecution {
            request: Some(req),
            run_id: crate::ids::new_run_id(),
        }))
        .await?;
    let Outcome::ActivityExecutionStarted { run_id, started } = outcome else {
        return Err(errors::internal(format!("unexpected outcome {outcome:?}")));
    };
    Ok(Response::new(StartActivityExecutionResponse {
        link: Some(Link {
            variant: Some(link::Variant::Activity(link::Activity {
                namespace,
                activity_id,
                run_id: run_id.clone(),
            })),
        }),
        run_id,
        started,
    }))
}

/// Describe's long-poll token: the run and how many changes it had when described.
#[derive(Clone, PartialEq, prost::Message)]
struct DescribeToken {
    #[prost(string, tag = "1")]
    run_id: String,
    #[prost(int64, tag = "2")]
    state_transitions: i64,
}

pub(super) async fn describe(
    f: &Frontend,
    request: Request<DescribeActivityExecutionRequest>,
) -> Res<DescribeActivityExecutionResponse> {
    let deadline = long_poll_deadline(&request);
    let req = request.into_inner();
    if !req.long_poll_token.is_empty() && req.run_id.is_empty() {
        return Err(errors::invalid_argument(
            "run id is required when long poll token is provided",
        ));
    }
    f.keel.linearizable().await?;
    let mut exec = read_run(f, &req.namespace, &req.activity_id, &req.run_id)?;
    if !req.long_poll_token.is_empty() {
        let token = DescribeToken::decode(req.long_poll_token.as_slice())
            .map_err(|_| errors::invalid_argument("invalid long poll token"))?;
        if token.run_id != exec.run_id {
            return Err(errors::invalid_argument(
                "long poll token does not match the activity run",
            ));
        }
        exec = wait_for(
            f,
            &req.namespace,
            &req.activity_id,
            &exec.run_id,
            deadline,
            |e| e.state_transitions == token.state_transitions,
        )
        .await?;
    }
    let mut info = read::describe(&exec);
    if !req.include_heartbeat_details {
        info.heartbeat_details = None;
    }
    if !req.include_last_failure {
        info.last_failure = None;
    }
    let long_poll_token = DescribeToken {
        run_id: exec.run_id.clone(),
        state_transitions: exec.state_transitions,
    }
    .encode_to_vec();
    let input = req
        .include_input
        .then(|| exec.activities.first().and_then(|a| a.input.clone()))
        .flatten();
    Ok(Response::new(DescribeActivityExecutionResponse {
        run_id: exec.run_id.clone(),
        info: Some(info),
        input,
        outcome: if req.include_outcome {
            exec.activity_outcome.clone()
        } else {
            None
        },
        long_poll_token,
        ..Default::default()
    }))
}

/// PollActivityExecution: the outcome once the run closed; an empty answer when the long
/// poll ends first (the SDKs poll again).
pub(super) async fn poll(
    f: &Frontend,
    request: Request<PollActivityExecutionRequest>,
) -> Res<PollActivityExecutionResponse> {
    let deadline = long_poll_deadline(&request);
    let req = request.into_inner();
    f.keel.linearizable().await?;
    let exec = read_run(f, &req.namespace, &req.activity_id, &req.run_id)?;
    let exec = wait_for(
        f,
        &req.namespace,
        &req.activity_id,
        &exec.run_id,
        deadline,
        |e| e.activity_outcome.is_none(),
    )
    .await?;
    Ok(Response::new(PollActivityExecutionResponse {
        run_id: exec.run_id,
        outcome: exec.activity_outcome,
    }))
}

pub(super) async fn list(
    f: &Frontend,
    req: Request<ListActivityExecutionsRequest>,
) -> Res<ListActivityExecutionsResponse> {
    let req = req.into_inner();
    f.keel.linearizable().await?;
    let ns = f.keel.namespace(&req.namespace)?;
    let keel = Arc::clone(&f.keel);
    let page = tokio::task::spawn_blocking(move || {
        read::list(
            &keel.store,
            &req.namespace,
            &ns.search_attributes,
            &req.query,
            page_size(req.page_size),
            &req.next_page_token,
        )
    })
    .await
    .map_err(errors::internal)?
    .map_err(list_status)?;
    Ok(Response::new(ListActivityExecutionsResponse {
        executions: page.executions,
        next_page_token: page.next_page_token,
    }))
}

pub(super) async fn count(
    f: &Frontend,
    req: Request<CountActivityExecutionsRequest>,
) -> Res<CountActivityExecutionsResponse> {
    let req = req.into_inner();
    f.keel.linearizable().await?;
    let ns = f.keel.namespace(&req.namespace)?;
    let keel = Arc::clone(&f.keel);
    let (count, groups) = tokio::task::spawn_blocking(move || {
        read::count(
            &keel.store,
            &req.namespace,
            &ns.search_attributes,
            &req.query,
        )
    })
    .await
    .map_err(errors::internal)?
    .map_err(list_status)?;
    Ok(Response::new(CountActivityExecutionsResponse {
        count,
        groups: groups
            .into_iter()
            .map(|(value, count)| AggregationGroup {
                group_values: vec![value],
                count,
            })
            .collect(),
    }))
}

pub(super) async fn request_cancel(
    f: &Frontend,
    req: Request<RequestCancelActivityExecutionRequest>,
) -> Res<RequestCancelActivityExecutionResponse> {
    let mut req = req.into_inner();
    validate::id("Namespace", &req.namespace).map_err(errors::invalid_argument)?;
    if req.request_id.is_empty() {
        req.request_id = uuid::Uuid::new_v4().to_string();
    }
    f.keel
        .propose(Kind::RequestCancelActivityExecution(req))
        .await?;
    Ok(Response::new(RequestCancelActivityExecutionResponse {}))
}

pub(super) async fn terminate(
    f: &Frontend,
    req: Request<TerminateActivityExecutionRequest>,
) -> Res<TerminateActivityExecutionResponse> {
    let mut req = req.into_inner();
    validate::id("Namespace", &req.namespace).map_err(errors::invalid_argument)?;
    if req.request_id.is_empty() {
        req.request_id = uuid::Uuid::new_v4().to_string();
    }
    f.keel
        .propose(Kind::TerminateActivityExecution(req))
        .await?;
    Ok(Response::new(TerminateActivityExecutionResponse {}))
}

pub(super) async fn delete(
    f: &Frontend,
    req: Request<DeleteActivityExecutionRequest>,
) -> Res<DeleteActivityExecutionResponse> {
    let req = req.into_inner();
    validate::id("Namespace", &req.namespace).map_err(errors::invalid_argument)?;
    f.keel.propose(Kind::DeleteActivityExecution(req)).await?;
    Ok(Response::new(DeleteActivityExecutionResponse {}))
}
