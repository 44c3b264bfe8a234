//! StartBatchOperation, DescribeBatchOperation, ListBatchOperations, StopBatchOperation.
//! The request is checked as Temporal checks it (its error texts); the visibility query is
//! compiled here so a malformed one is refused at once, and counted for the job's total. The
//! job itself is replicated state (`keel_engine::batch`) worked through by the leader's
//! runner (`crate::batch`).

use super::{page_size, Frontend, Res};
use crate::errors;
use keel_engine::batch;
use keel_engine::keys;
use keel_engine::mutation::{Kind, StartBatch};
use keel_engine::records::BatchJobRecord;
use keel_engine::time::timestamp;
use keel_engine::visibility;
use prost::Message;
use std::sync::Arc;
use temporalio_protos::temporal::api::{
    batch::v1::{
        batch_operation_unpause_activities, BatchOperationInfo, BatchOperationUnpauseActivities,
    },
    common::v1::Execution,
    enums::v1::ExecutionType,
    workflowservice::v1::{start_batch_operation_request::Operation, *},
};
use tonic::{Request, Response};

/// The statuses a terminate, cancel or signal batch acts on (Temporal adds this to the query).
const OPEN_ONLY: &str = "(ExecutionStatus = 'Running' OR ExecutionStatus = 'Paused')";

pub(super) async fn start(
    f: &Frontend,
    req: Request<StartBatchOperationRequest>,
) -> Res<StartBatchOperationResponse> {
    let mut req = req.into_inner();
    #[allow(deprecated)]
    let targets = [
        !req.visibility_query.is_empty(),
        !req.executions.is_empty(),
        !req.target_executions.is_empty(),
    ];
    if req.namespace.is_empty()
        || req.reason.is_empty()
        || req.operation.is_none()
        || !targets.contains(&true)
    {
        return Err(errors::invalid_argument(
            "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)",
        ));
    }
    if req.job_id.is_empty() {
        return Err(errors::invalid_argument("JobId is not set on request."));
    }
    if targets.iter().filter(|t| **t).count() > 1 {
        return Err(errors::invalid_argument(
            "visibility query, executions, and target executions are mutually exclusive",
        ));
    }
    if let Some(Operation::SignalOperation(s)) = &req.operation {
        if s.signal.is_empty() {
            return Err(errors::invalid_argument("must provide signal name"));
        }
    }
    if !batch::supported(&req) {
        return Err(errors::invalid_argument(format!(
            "batch operation {:?} is not supported by Keel yet (terminate, cancel, signal, delete, reset, update workflow options, and unpause, reset or update options of activities are)",
            batch::operation_type(&req)
        )));
    }
    if let Some(Operation::UpdateWorkflowOptionsOperation(o)) = &req.operation {
        super::workflow_options::check(o.workflow_execution_options.as_ref())?;
    }
    if let Some(Operation::ResetOperation(r)) = &req.operation {
        if !r.post_reset_operations.is_empty() {
            return Err(errors::invalid_argument(
                "post-reset operations are not supported by Keel yet",
            ));
        }
    }
    if let Some(Operation::UnpauseActivitiesOperation(BatchOperationUnpauseActivities {
        activity: Some(batch_operation_unpause_activities::Activity::Type(activity_type)),
        ..
    })) = &req.operation
    {
        // As Temporal's frontend: unpausing one type walks the runs that have it paused,
        // whatever the query said.
        if !req.visibility_query.is_empty() {
            req.visibility_query = format!(
                "TemporalPauseInfo = '{}'",
                format!("property:activityType={activity_type}").replace('\'', "''")
            );
        }
    }
    let ns = f.keel.namespace(&req.namespace)?;
    let (query, total_estimate) = if !req.visibility_query.is_empty() {
        let query = if batch::open_runs_only(&req) {
            format!("({}) AND {OPEN_ONLY}", req.visibility_query)
        } else {
            req.visibility_query.clone()
        };
        keel_engine::query::compile(&query, &ns.search_attributes)
            .map_err(|e| errors::invalid_argument(format!("invalid visibility query: {e}")))?;
        f.keel.linearizable().await?;
        let keel = Arc::clone(&f.keel);
        let (namespace, counted_query) = (req.namespace.clone(), query.clone());
        let total = tokio::task::spawn_blocking(move || {
            visibility::count(
                &keel.store,
                &namespace,
                &ns.search_attributes,
                &counted_query,
            )
        })
        .await
        .map_err(errors::internal)?
        .map_err(|e| errors::invalid_argument(format!("invalid visibility query: {e}")))?
        .count;
        (query, total)
    } else {
        #[allow(deprecated)]
        let n = req.executions.len() + req.target_executions.len();
        (String::new(), n as i64)
    };
    f.keel
        .propose(Kind::StartBatch(StartBatch {
            request: Some(req),
            query,
            total_estimate,
        }))
        .await?;
    Ok(Response::new(StartBatchOperationResponse {}))
}

fn read_job(f: &Frontend, namespace: &str, job_id: &str) -> Result<BatchJobRecord, tonic::Status> {
    let bytes = f
        .keel
        .store
        .state_get(&keys::batch_job(namespace, job_id))
        .map_err(errors::internal)?
        .ok_or_else(|| errors::not_found(format!("batch operation {job_id} not found")))?;
    BatchJobRecord::decode(bytes.as_slice()).map_err(errors::internal)
}

fn identity(request: &StartBatchOperationRequest) -> String {
    match &request.operation {
        Some(Operation::TerminationOperation(o)) => o.identity.clone(),
        Some(Operation::CancellationOperation(o)) => o.identity.clone(),
        Some(Operation::SignalOperation(o)) => o.identity.clone(),
        Some(Operation::DeletionOperation(o)) => o.identity.clone(),
        Some(Operation::UnpauseActivitiesOperation(o)) => o.identity.clone(),
        Some(Operation::ResetActivitiesOperation(o)) => o.identity.clone(),
        Some(Operation::UpdateActivityOptionsOperation(o)) => o.identity.clone(),
        _ => String::new(),
    }
}

pub(super) async fn describe(
    f: &Frontend,
    req: Request<DescribeBatchOperationRequest>,
) -> Res<DescribeBatchOperationResponse> {
    let req = req.into_inner();
    if req.job_id.is_empty() {
        return Err(errors::invalid_argument("JobId is not set on request."));
    }
    f.keel.linearizable().await?;
    f.keel.namespace(&req.namespace)?;
    let job = read_job(f, &req.namespace, &req.job_id)?;
    let request = job.request.clone().unwrap_or_default();
    #[allow(deprecated)]
    let executions = if request.target_executions.is_empty() {
        request
            .executions
            .iter()
            .map(|e| Execution {
                r#type: ExecutionType::Workflow as i32,
                business_id: e.workflow_id.clone(),
                run_id: e.run_id.clone(),
            })
            .collect()
    } else {
        request.target_executions.clone()
    };
    Ok(Response::new(DescribeBatchOperationResponse {
        operation_type: batch::operation_type(&request) as i32,
        job_id: job.job_id.clone(),
        state: job.state,
        start_time: timestamp(job.start_time),
        close_time: timestamp(job.close_time),
        total_operation_count: job.total_estimate,
        complete_operation_count: job.complete_count,
        failure_operation_count: job.failure_count,
        identity: identity(&request),
        reason: request.reason.clone(),
        query: request.visibility_query.clone(),
        executions,
    }))
}

pub(super) async fn list(
    f: &Frontend,
    req: Request<ListBatchOperationsRequest>,
) -> Res<ListBatchOperationsResponse> {
    let req = req.into_inner();
    f.keel.linearizable().await?;
    f.keel.namespace(&req.namespace)?;
    let size = page_size(req.page_size);
    let prefix = keys::batch_job_prefix(&req.namespace);
    // The token is the last job id of the previous page.
    let from = (!req.next_page_token.is_empty()).then(|| {
        let mut k = keys::batch_job(
            &req.namespace,
            &String::from_utf8_lossy(&req.next_page_token),
        );
        k.push(0);
        k
    });
    let rows = f
        .keel
        .store
        .state_scan(&prefix, from.as_deref(), size)
        .map_err(errors::internal)?;
    let mut jobs = Vec::new();
    for (_, v) in &rows {
        let job = BatchJobRecord::decode(v.as_slice()).map_err(errors::internal)?;
        let request = job.request.clone().unwrap_or_default();
        jobs.push(BatchOperationInfo {
            job_id: job.job_id.clone(),
            state: job.state,
            start_time: timestamp(job.start_time),
            close_time: timestamp(job.close_time),
            operation_type: batch::operation_type(&request) as i32,
        });
    }
    let next_page_token = if jobs.len() == size {
        jobs.last()
            .map(|j| j.job_id.clone().into_bytes())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(Response::new(ListBatchOperationsResponse {
        operation_info: jobs,
        next_page_token,
    }))
}

pub(super) async fn stop(
    f: &Frontend,
    req: Request<StopBatchOperationRequest>,
) -> Res<StopBatchOperationResponse> {
    let req = req.into_inner();
    if req.job_id.is_empty() {
        return Err(errors::invalid_argument("JobId is not set on request."));
    }
    if req.namespace.is_empty() {
        return Err(errors::invalid_argument("Namespace is not set on request."));
    }
    if req.reason.is_empty() {
        return Err(errors::invalid_argument("Reason is not set on request."));
    }
    f.keel.propose(Kind::StopBatch(req)).await?;
    Ok(Response::new(StopBatchOperationResponse {}))
}
