//! GetSystemInfo (honest capabilities), GetClusterInfo.

use super::{Frontend, Res};
use temporalio_protos::temporal::api::workflowservice::v1::{
    get_system_info_response::Capabilities, *,
};
use tonic::{Request, Response};

pub const SERVER_VERSION: &str = concat!("keel-", env!("CARGO_PKG_VERSION"));

pub(super) async fn get_system_info(
    _: &Frontend,
    _: Request<GetSystemInfoRequest>,
) -> Res<GetSystemInfoResponse> {
    Ok(Response::new(GetSystemInfoResponse {
        server_version: SERVER_VERSION.into(),
        capabilities: Some(Capabilities {
            // Signal and query headers are stored and passed to the worker as given.
            signal_and_query_header: true,
            internal_error_differentiation: true,
            // RespondActivityTaskFailed's last_heartbeat_details reach the next attempt.
            activity_failure_include_heartbeat: true,
            supports_schedules: true,
            // Failures are stored opaquely, so encoded attributes survive.
            encoded_failure_attributes: true,
            build_id_based_versioning: false,
            // ModifyWorkflowProperties merges memo updates.
            upsert_memo: true,
            // StartWorkflowExecution answers with the first workflow task when asked (and
            // `system.enableEagerWorkflowStart` is not turned off).
            eager_workflow_start: true,
            // sdk_metadata is recorded in WorkflowTaskCompleted events.
            sdk_metadata: true,
            // CountWorkflowExecutions answers `GROUP BY ExecutionStatus`.
            count_group_by_execution_status: true,
            // Nexus endpoints and operations (sync, workflow-backed, cancellation) through
            // handler workers; not the Nexus HTTP surface for callers outside the cluster.
            nexus: true,
            ..Default::default()
        }),
    }))
}

pub(super) async fn get_cluster_info(
    f: &Frontend,
    _: Request<GetClusterInfoRequest>,
) -> Res<GetClusterInfoResponse> {
    Ok(Response::new(GetClusterInfoResponse {
        server_version: SERVER_VERSION.into(),
        cluster_id: f.keel.cluster_id.clone(),
        cluster_name: "keel".into(),
        history_shard_count: 1,
        persistence_store: "keel-rocksdb-raft".into(),
        visibility_store: "keel-rocksdb-raft".into(),
        ..Default::default()
    }))
}
