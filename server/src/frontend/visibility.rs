//! List, Scan, Count, ListOpen and ListClosed WorkflowExecutions: the query is compiled and
//! run by the engine's visibility reader over this node's RocksDB, after a linearizable
//! check (so a list reflects every write acknowledged before it; Keel's visibility is exact,
//! not eventually consistent as Temporal's). Scans run on the blocking pool: a count may walk
//! a whole index.

use super::{page_size, Frontend, Res};
use crate::errors;
use keel_engine::time::format_rfc3339;
use keel_engine::visibility::{self, VisibilityError};
use std::sync::Arc;
use temporalio_protos::temporal::api::{
    enums::v1::WorkflowExecutionStatus as Status,
    filter::v1::StartTimeFilter,
    workflowservice::v1::{
        count_workflow_executions_response::AggregationGroup,
        list_closed_workflow_executions_request, list_open_workflow_executions_request, *,
    },
};
use tonic::{Request, Response};

fn status(e: VisibilityError) -> tonic::Status {
    match e {
        VisibilityError::Query(q) => errors::invalid_argument(q.to_string()),
        VisibilityError::BadToken(why) => {
            errors::invalid_argument(format!("Invalid NextPageToken: {why}."))
        }
        other => errors::internal(other),
    }
}

/// One page of the runs a query matches.
async fn page(
    f: &Frontend,
    namespace: String,
    query: String,
    size: i32,
    token: Vec<u8>,
) -> Result<visibility::ListPage, tonic::Status> {
    f.keel.linearizable().await?;
    let ns = f.keel.namespace(&namespace)?;
    let keel = Arc::clone(&f.keel);
    tokio::task::spawn_blocking(move || {
        visibility::list(
            &keel.store,
            &namespace,
            &ns.search_attributes,
            &query,
            page_size(size),
            &token,
        )
    })
    .await
    .map_err(errors::internal)?
    .map_err(status)
}

pub(super) async fn list(
    f: &Frontend,
    req: Request<ListWorkflowExecutionsRequest>,
) -> Res<ListWorkflowExecutionsResponse> {
    let r = req.into_inner();
    let p = page(f, r.namespace, r.query, r.page_size, r.next_page_token).await?;
    Ok(Response::new(ListWorkflowExecutionsResponse {
        executions: p.executions,
        next_page_token: p.next_page_token,
    }))
}

/// ScanWorkflowExecutions (deprecated) is List, as on Temporal.
pub(super) async fn scan(
    f: &Frontend,
    req: Request<ScanWorkflowExecutionsRequest>,
) -> Res<ScanWorkflowExecutionsResponse> {
    let r = req.into_inner();
    let p = page(f, r.namespace, r.query, r.page_size, r.next_page_token).await?;
    Ok(Response::new(ScanWorkflowExecutionsResponse {
        executions: p.executions,
        next_page_token: p.next_page_token,
    }))
}

pub(super) async fn count(
    f: &Frontend,
    req: Request<CountWorkflowExecutionsRequest>,
) -> Res<CountWorkflowExecutionsResponse> {
    let r = req.into_inner();
    f.keel.linearizable().await?;
    let ns = f.keel.namespace(&r.namespace)?;
    let keel = Arc::clone(&f.keel);
    let counted = tokio::task::spawn_blocking(move || {
        visibility::count(&keel.store, &r.namespace, &ns.search_attributes, &r.query)
    })
    .await
    .map_err(errors::internal)?
    .map_err(status)?;
    Ok(Response::new(CountWorkflowExecutionsResponse {
        count: counted.count,
        groups: counted
            .groups
            .into_iter()
            .map(|(value, count)| AggregationGroup {
                group_values: vec![value],
                count,
            })
            .collect(),
    }))
}

/// A string literal of the query language.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Temporal's rewriting of a start (or close) time filter: `column BETWEEN a AND b`, or one
/// bound, in RFC 3339.
fn time_terms(
    column: &str,
    filter: &Option<StartTimeFilter>,
    terms: &mut Vec<String>,
) -> Result<(), tonic::Status> {
    let Some(f) = filter else { return Ok(()) };
    let nanos = |t: &Option<prost_wkt_types::Timestamp>| {
        t.as_ref()
            .map(|t| t.seconds * 1_000_000_000 + t.nanos as i64)
            .filter(|n| *n != 0)
    };
    match (nanos(&f.earliest_time), nanos(&f.latest_time)) {
        (Some(a), Some(b)) if a > b => {
            return Err(errors::invalid_argument(
                "EarliestTime in StartTimeFilter should not be larger than LatestTime.",
            ))
        }
        (Some(a), Some(b)) => terms.push(format!(
            "{column} BETWEEN {} AND {}",
            quoted(&format_rfc3339(a)),
            quoted(&format_rfc3339(b))
        )),
        (Some(a), None) => terms.push(format!("{column} >= {}", quoted(&format_rfc3339(a)))),
        (None, Some(b)) => terms.push(format!("{column} <= {}", quoted(&format_rfc3339(b)))),
        (None, None) => {}
    }
    Ok(())
}

pub(super) async fn list_open(
    f: &Frontend,
    req: Request<ListOpenWorkflowExecutionsRequest>,
) -> Res<ListOpenWorkflowExecutionsResponse> {
    use list_open_workflow_executions_request::Filters;
    let r = req.into_inner();
    let mut terms = vec!["ExecutionStatus = 'Running'".to_string()];
    time_terms("StartTime", &r.start_time_filter, &mut terms)?;
    match &r.filters {
        Some(Filters::ExecutionFilter(e)) => {
            terms.push(format!("WorkflowId = {}", quoted(&e.workflow_id)))
        }
        Some(Filters::TypeFilter(t)) => terms.push(format!("WorkflowType = {}", quoted(&t.name))),
        None => {}
    }
    let query = terms.join(" AND ");
    let p = page(
        f,
        r.namespace,
        query,
        r.maximum_page_size,
        r.next_page_token,
    )
    .await?;
    Ok(Response::new(ListOpenWorkflowExecutionsResponse {
        executions: p.executions,
        next_page_token: p.next_page_token,
    }))
}

pub(super) async fn list_closed(
    f: &Frontend,
    req: Request<ListClosedWorkflowExecutionsRequest>,
) -> Res<ListClosedWorkflowExecutionsResponse> {
    use list_closed_workflow_executions_request::Filters;
    let r = req.into_inner();
    let mut terms = vec!["ExecutionStatus != 'Running'".to_string()];
    time_terms("CloseTime", &r.start_time_filter, &mut terms)?;
    match &r.filters {
        Some(Filters::ExecutionFilter(e)) => {
            terms.push(format!("WorkflowId = {}", quoted(&e.workflow_id)))
        }
        Some(Filters::TypeFilter(t)) => terms.push(format!("WorkflowType = {}", quoted(&t.name))),
        Some(Filters::StatusFilter(s)) => {
            let st = Status::try_from(s.status).unwrap_or(Status::Unspecified);
            if matches!(st, Status::Unspecified | Status::Running) {
                return Err(errors::invalid_argument(
                    "StatusFilter must be specified and must be not Running.",
                ));
            }
            terms.push(format!("ExecutionStatus = {}", s.status));
        }
        None => {}
    }
    let query = terms.join(" AND ");
    let p = page(
        f,
        r.namespace,
        query,
        r.maximum_page_size,
        r.next_page_token,
    )
    .await?;
    Ok(Response::new(ListClosedWorkflowExecutionsResponse {
        executions: p.executions,
        next_page_token: p.next_page_token,
    }))
}
