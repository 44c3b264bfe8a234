//! RegisterNamespace, DescribeNamespace, ListNamespaces, UpdateNamespace.

use super::{Frontend, Res};
use crate::errors;
use keel_engine::keys;
use keel_engine::mutation::{Kind, RegisterNamespace};
use keel_engine::records::NamespaceRecord;
use keel_engine::time::{duration, nanos, secs};
use keel_engine::{validate, Outcome};
use prost::Message;
use temporalio_protos::temporal::api::{
    enums::v1::{ArchivalState, NamespaceState, ReplicationState},
    namespace::v1::{namespace_info, namespace_info::Capabilities, NamespaceConfig, NamespaceInfo},
    replication::v1::{ClusterReplicationConfig, NamespaceReplicationConfig},
    workflowservice::v1::*,
};
use tonic::{Request, Response, Status};

/// Temporal's minimum namespace retention.
const MIN_RETENTION_SECS: i64 = 24 * 3600;

pub(crate) fn describe_record(r: &NamespaceRecord) -> DescribeNamespaceResponse {
    DescribeNamespaceResponse {
        namespace_info: Some(NamespaceInfo {
            name: r.name.clone(),
            state: NamespaceState::Registered as i32,
            description: r.description.clone(),
            owner_email: r.owner_email.clone(),
            data: r.data.clone().into_iter().collect(),
            id: r.id.clone(),
            // What Keel serves of what the dev server claims (test_http_api lists the rest).
            capabilities: Some(Capabilities {
                sync_update: true,
                async_update: true,
                standalone_activities: true,
                standalone_activity_start_delay: true,
                ..Default::default()
            }),
            // The one limit Keel enforces (validate::MAX_PAYLOAD_BYTES); the memo and
            // task-completion limits Temporal also reports are not enforced, so not claimed.
            limits: Some(namespace_info::Limits {
                blob_size_limit_error: keel_engine::validate::MAX_PAYLOAD_BYTES as i64,
                ..Default::default()
            }),
            supports_schedules: true,
        }),
        config: Some(NamespaceConfig {
            workflow_execution_retention_ttl: duration(r.retention),
            history_archival_state: ArchivalState::Disabled as i32,
            visibility_archival_state: ArchivalState::Disabled as i32,
            ..Default::default()
        }),
        replication_config: Some(NamespaceReplicationConfig {
            active_cluster_name: "active".into(),
            clusters: vec![ClusterReplicationConfig {
                cluster_name: "active".into(),
                ..Default::default()
            }],
            // Unspecified, as the dev server leaves it for a local namespace.
            state: ReplicationState::Unspecified as i32,
        }),
        failover_version: 0,
        is_global_namespace: false,
        ..Default::default()
    }
}

pub(super) async fn register(
    f: &Frontend,
    req: Request<RegisterNamespaceRequest>,
) -> Res<RegisterNamespaceResponse> {
    let mut req = req.into_inner();
    validate::id("Namespace", &req.namespace).map_err(errors::invalid_argument)?;
    let retention = nanos(&req.workflow_execution_retention_period);
    if retention == 0 {
        req.workflow_execution_retention_period = duration(secs(MIN_RETENTION_SECS));
    } else if retention < secs(MIN_RETENTION_SECS) {
        return Err(Status::invalid_argument(
            "WorkflowExecutionRetentionPeriod should be at least 1 day.",
        ));
    }
    f.keel
        .propose(Kind::RegisterNamespace(RegisterNamespace {
            request: Some(req),
            namespace_id: uuid::Uuid::new_v4().to_string(),
            if_absent: false,
        }))
        .await?;
    Ok(Response::new(RegisterNamespaceResponse::default()))
}

pub(super) async fn describe(
    f: &Frontend,
    req: Request<DescribeNamespaceRequest>,
) -> Res<DescribeNamespaceResponse> {
    let req = req.into_inner();
    f.keel.linearizable().await?;
    let record = if !req.namespace.is_empty() {
        f.keel.namespace(&req.namespace)?
    } else if !req.id.is_empty() {
        all_namespaces(f)?
            .into_iter()
            .find(|n| n.id == req.id)
            .ok_or_else(|| errors::namespace_not_found(&req.id))?
    } else {
        return Err(Status::invalid_argument("Namespace not set on request."));
    };
    Ok(Response::new(describe_record(&record)))
}

fn all_namespaces(f: &Frontend) -> Result<Vec<NamespaceRecord>, Status> {
    let rows = f
        .keel
        .store
        .state_scan(&keys::namespace_prefix(), None, usize::MAX)
        .map_err(errors::internal)?;
    let mut all = rows
        .into_iter()
        .map(|(_, v)| NamespaceRecord::decode(v.as_slice()).map_err(errors::internal))
        .collect::<Result<Vec<_>, _>>()?;
    // Keys are length-prefixed, so key order is not name order; pages follow name order.
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

pub(super) async fn list(
    f: &Frontend,
    req: Request<ListNamespacesRequest>,
) -> Res<ListNamespacesResponse> {
    let req = req.into_inner();
    f.keel.linearizable().await?;
    let page_size = if req.page_size <= 0 {
        100
    } else {
        req.page_size as usize
    };
    let all = all_namespaces(f)?;
    let start = if req.next_page_token.is_empty() {
        0
    } else {
        let after = String::from_utf8_lossy(&req.next_page_token).to_string();
        all.iter().position(|n| n.name > after).unwrap_or(all.len())
    };
    let page: Vec<_> = all.iter().skip(start).take(page_size).collect();
    let next_page_token = if start + page.len() < all.len() {
        page.last()
            .map(|n| n.name.clone().into_bytes())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(Response::new(ListNamespacesResponse {
        namespaces: page.into_iter().map(describe_record).collect(),
        next_page_token,
    }))
}

pub(super) async fn update(
    f: &Frontend,
    req: Request<UpdateNamespaceRequest>,
) -> Res<UpdateNamespaceResponse> {
    let req = req.into_inner();
    validate::id("Namespace", &req.namespace).map_err(errors::invalid_argument)?;
    if let Some(config) = &req.config {
        let retention = nanos(&config.workflow_execution_retention_ttl);
        if config.workflow_execution_retention_ttl.is_some() && retention < secs(MIN_RETENTION_SECS)
        {
            return Err(Status::invalid_argument(
                "WorkflowExecutionRetentionPeriod should be at least 1 day.",
            ));
        }
    }
    match f.keel.propose(Kind::UpdateNamespace(req)).await? {
        Outcome::Namespace(record) => {
            let d = describe_record(&record);
            Ok(Response::new(UpdateNamespaceResponse {
                namespace_info: d.namespace_info,
                config: d.config,
                replication_config: d.replication_config,
                failover_version: 0,
                is_global_namespace: false,
            }))
        }
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}
