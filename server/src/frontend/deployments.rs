//! The worker deployment RPCs (DescribeWorkerDeployment, ListWorkerDeployments, Set…Version,
//! DescribeWorkerDeploymentVersion, Delete…, UpdateWorkerDeploymentVersionMetadata) and a
//! versioned poller's registration: requests read and checked here, decided by apply
//! (`keel_engine::deployments`). What apply cannot know is checked here before proposing:
//! a version's pollers (leader memory) and whether its pinned workflows drained
//! (visibility).

use super::{Frontend, Res};
use crate::errors;
use keel_engine::deployments::{self as d, Drainage};
use keel_engine::mutation::{Kind, RegisterDeploymentVersion, SetRampingVersion};
use keel_engine::records::{DeploymentVersionRecord, WorkerDeploymentRecord};
use keel_engine::{keys, validate, visibility, Outcome};
use prost::Message;
use temporalio_protos::temporal::api::{
    deployment::v1::{WorkerDeploymentOptions, WorkerDeploymentVersion},
    enums::v1::{TaskQueueType, WorkerDeploymentVersionStatus as VersionStatus},
    workflowservice::v1::*,
};
use tonic::{Request, Response, Status};

/// Temporal's default and largest page of ListWorkerDeployments.
const DEFAULT_PAGE_SIZE: usize = 1000;

fn load(
    f: &Frontend,
    namespace: &str,
    name: &str,
) -> Result<Option<WorkerDeploymentRecord>, Status> {
    f.keel
        .store
        .state_get(&keys::worker_deployment(namespace, name))
        .map_err(errors::internal)?
        .map(|b| WorkerDeploymentRecord::decode(b.as_slice()).map_err(errors::internal))
        .transpose()
}

fn must_load(f: &Frontend, namespace: &str, name: &str) -> Result<WorkerDeploymentRecord, Status> {
    load(f, namespace, name)?.ok_or_else(|| errors::not_found(d::not_found_text(name)))
}

/// A versioned worker's poll of a normal queue: its version is registered for the queue
/// (proposed once, when replicated state does not have it yet); returns the version the
/// poll is routed as.
pub(super) async fn register_poller(
    f: &Frontend,
    namespace: &str,
    queue: &str,
    queue_type: TaskQueueType,
    options: &Option<WorkerDeploymentOptions>,
) -> Result<Option<(String, String)>, Status> {
    let Some(version) = keel_engine::versioning::versioned_worker(options) else {
        return Ok(None);
    };
    validate::id("DeploymentName", &version.deployment_name).map_err(errors::invalid_argument)?;
    validate::id("BuildId", &version.build_id).map_err(errors::invalid_argument)?;
    let known = load(f, namespace, &version.deployment_name)?.is_some_and(|dep| {
        d::find_version(&dep, &version.build_id).is_some_and(|v| {
            v.task_queues
                .iter()
                .any(|q| q.name == queue && q.task_queue_type == queue_type as i32)
        })
    });
    let claimed = f
        .keel
        .store
        .state_get(&keys::deployment_queue(namespace, queue, queue_type as i32))
        .map_err(errors::internal)?
        .is_some();
    if !known || !claimed {
        f.keel
            .propose(Kind::RegisterDeploymentVersion(RegisterDeploymentVersion {
                namespace: namespace.to_string(),
                deployment_name: version.deployment_name.clone(),
                build_id: version.build_id.clone(),
                task_queue: queue.to_string(),
                task_queue_type: queue_type as i32,
            }))
            .await?;
    }
    Ok(Some((version.deployment_name, version.build_id)))
}

/// Whether no open run is pinned to a version (a visibility count).
fn drained(
    f: &Frontend,
    namespace: &str,
    deployment: &str,
    build_id: &str,
) -> Result<bool, Status> {
    let ns = f.keel.namespace(namespace)?;
    let query = format!(
        "TemporalWorkerDeploymentVersion = '{}' AND TemporalWorkflowVersioningBehavior = 'Pinned' AND ExecutionStatus = 'Running'",
        d::version_key(&WorkerDeploymentVersion {
            deployment_name: deployment.to_string(),
            build_id: build_id.to_string(),
        })
        .replace('\'', "\\'")
    );
    let counted = visibility::count(&f.keel.store, namespace, &ns.search_attributes, &query)
        .map_err(errors::internal)?;
    Ok(counted.count == 0)
}

fn drainage_of(
    f: &Frontend,
    namespace: &str,
    dep: &WorkerDeploymentRecord,
    v: &DeploymentVersionRecord,
) -> Option<Drainage> {
    if d::status(dep, v, None) != VersionStatus::Draining {
        return None;
    }
    Some(Drainage {
        drained: drained(f, namespace, &dep.name, &v.build_id).unwrap_or(false),
        now: keel_raft::leader_now(),
    })
}

pub(super) async fn describe(
    f: &Frontend,
    req: Request<DescribeWorkerDeploymentRequest>,
) -> Res<DescribeWorkerDeploymentResponse> {
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    f.keel.linearizable().await?;
    let dep = must_load(f, &req.namespace, &req.deployment_name)?;
    Ok(Response::new(DescribeWorkerDeploymentResponse {
        conflict_token: d::conflict_token(&dep),
        worker_deployment_info: Some(d::info(&dep, |v| drainage_of(f, &req.namespace, &dep, v))),
    }))
}

/// Deployments in name order; the page token is the last name of the page.
pub(super) async fn list(
    f: &Frontend,
    req: Request<ListWorkerDeploymentsRequest>,
) -> Res<ListWorkerDeploymentsResponse> {
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    let size = match req.page_size {
        n if n <= 0 => DEFAULT_PAGE_SIZE,
        n => (n as usize).min(DEFAULT_PAGE_SIZE),
    };
    f.keel.linearizable().await?;
    let from = if req.next_page_token.is_empty() {
        None
    } else {
        let last = String::from_utf8(req.next_page_token.clone())
            .map_err(|_| errors::invalid_argument("invalid page token"))?;
        let mut after = keys::worker_deployment(&req.namespace, &last);
        after.push(0);
        Some(after)
    };
    let mut page = f
        .keel
        .store
        .state_scan(
            &keys::worker_deployment_prefix(&req.namespace),
            from.as_deref(),
            size + 1,
        )
        .map_err(errors::internal)?
        .into_iter()
        .map(|(_, b)| WorkerDeploymentRecord::decode(b.as_slice()).map_err(errors::internal))
        .collect::<Result<Vec<_>, _>>()?;
    let next_page_token = if page.len() > size {
        page.truncate(size);
        page.last()
            .map(|x| x.name.clone().into_bytes())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let summary = |dep: &WorkerDeploymentRecord, build: &str| {
        d::find_version(dep, build)
            .map(|v| d::version_summary(dep, v, drainage_of(f, &req.namespace, dep, v).as_ref()))
    };
    let worker_deployments = page
        .iter()
        .map(
            |dep| list_worker_deployments_response::WorkerDeploymentSummary {
                name: dep.name.clone(),
                create_time: keel_engine::time::timestamp(dep.create_time),
                routing_config: Some(d::routing_config(dep)),
                latest_version_summary: dep.versions.last().and_then(|v| summary(dep, &v.build_id)),
                current_version_summary: summary(dep, &dep.current_build_id),
                ramping_version_summary: if dep.ramping {
                    summary(dep, &dep.ramping_build_id)
                } else {
                    None
                },
            },
        )
        .collect();
    Ok(Response::new(ListWorkerDeploymentsResponse {
        next_page_token,
        worker_deployments,
    }))
}

fn deployment_name(name: &str) -> Result<(), Status> {
    if name.is_empty() {
        return Err(errors::invalid_argument("deployment name is required"));
    }
    validate::id("DeploymentName", name).map_err(errors::invalid_argument)
}

/// Whether `build` lacks a queue of the current version that is still in use (tasks waiting
/// or arriving, and still this deployment's): moving its work there would leave that queue
/// to unversioned workers, so Temporal refuses unless told to ignore it.
fn misses_active_queues(
    f: &Frontend,
    namespace: &str,
    deployment: &str,
    build: &str,
) -> Result<bool, Status> {
    let Some(dep) = load(f, namespace, deployment)? else {
        return Ok(false);
    };
    let (Some(current), Some(next)) = (
        d::find_version(&dep, &dep.current_build_id),
        d::find_version(&dep, build),
    ) else {
        return Ok(false);
    };
    Ok(current
        .task_queues
        .iter()
        .filter(|q| !next.task_queues.contains(q))
        .any(|q| {
            let kind = super::task_queues::kind_of(
                TaskQueueType::try_from(q.task_queue_type).unwrap_or(TaskQueueType::Workflow),
            );
            let ours = f
                .keel
                .matching
                .deployment_of(namespace, &q.name, q.task_queue_type)
                .is_some_and(|x| x.name == dep.name);
            let stats = f.keel.matching.describe(namespace, &q.name, kind).stats;
            ours && (stats.backlog > 0 || stats.add_rate > 0.0)
        }))
}

pub(super) async fn set_current(
    f: &Frontend,
    req: Request<SetWorkerDeploymentCurrentVersionRequest>,
) -> Res<SetWorkerDeploymentCurrentVersionResponse> {
    #[allow(deprecated)]
    let mut req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    deployment_name(&req.deployment_name)?;
    #[allow(deprecated)]
    let build = d::requested_build(&req.deployment_name, &req.build_id, &req.version)
        .map_err(errors::invalid_argument)?;
    if !req.ignore_missing_task_queues
        && !build.is_empty()
        && misses_active_queues(f, &req.namespace, &req.deployment_name, &build)?
    {
        return Err(Status::failed_precondition(format!(
            "proposed current version '{}' is missing active task queues from the current version; these would become unversioned if it is set as the current version",
            d::version_key(&WorkerDeploymentVersion {
                deployment_name: req.deployment_name.clone(),
                build_id: build
            })
        )));
    }
    req.build_id = build;
    match f.keel.propose(Kind::SetCurrentVersion(req)).await? {
        Outcome::SetCurrentVersion(answer) => Ok(Response::new(answer)),
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

pub(super) async fn set_ramping(
    f: &Frontend,
    req: Request<SetWorkerDeploymentRampingVersionRequest>,
) -> Res<SetWorkerDeploymentRampingVersionResponse> {
    let mut req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    deployment_name(&req.deployment_name)?;
    if !(0.0..=100.0).contains(&req.percentage) {
        return Err(errors::invalid_argument(
            "Percentage must be between 0 and 100 (inclusive)",
        ));
    }
    // As Temporal reads it: no version and no percentage unsets the ramp; no version with a
    // percentage ramps unversioned workers.
    #[allow(deprecated)]
    let (version, build_id) = (req.version.clone(), req.build_id.clone());
    let ramping = !(build_id.is_empty()
        && req.percentage == 0.0
        && (version.is_empty() || version == d::UNVERSIONED));
    req.build_id = d::requested_build(&req.deployment_name, &build_id, &version)
        .map_err(errors::invalid_argument)?;
    let first_ramp = load(f, &req.namespace, &req.deployment_name)?
        .is_some_and(|dep| !dep.ramping || dep.ramping_build_id != req.build_id);
    if ramping
        && first_ramp
        && !req.ignore_missing_task_queues
        && !req.build_id.is_empty()
        && misses_active_queues(f, &req.namespace, &req.deployment_name, &req.build_id)?
    {
        return Err(Status::failed_precondition(format!(
            "proposed ramping version '{}' is missing active task queues from the current version; these would become unversioned if it is set as the ramping version",
            d::version_key(&WorkerDeploymentVersion {
                deployment_name: req.deployment_name.clone(),
                build_id: req.build_id.clone()
            })
        )));
    }
    match f
        .keel
        .propose(Kind::SetRampingVersion(SetRampingVersion {
            request: Some(req),
            ramping,
        }))
        .await?
    {
        Outcome::SetRampingVersion(answer) => Ok(Response::new(answer)),
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

fn requested(
    structured: &Option<WorkerDeploymentVersion>,
    deprecated: &str,
) -> Result<WorkerDeploymentVersion, Status> {
    d::requested_version(structured, deprecated).map_err(errors::invalid_argument)
}

pub(super) async fn describe_version(
    f: &Frontend,
    req: Request<DescribeWorkerDeploymentVersionRequest>,
) -> Res<DescribeWorkerDeploymentVersionResponse> {
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    #[allow(deprecated)]
    let wanted = requested(&req.deployment_version, &req.version)?;
    f.keel.linearizable().await?;
    let not_found = || errors::not_found(d::NO_SUCH_VERSION);
    let dep = load(f, &req.namespace, &wanted.deployment_name)?.ok_or_else(not_found)?;
    let v = d::find_version(&dep, &wanted.build_id).ok_or_else(not_found)?;
    let drainage = drainage_of(f, &req.namespace, &dep, v);
    let version_task_queues = v
        .task_queues
        .iter()
        .map(|q| {
            let stats = req.report_task_queue_stats.then(|| {
                let kind = super::task_queues::kind_of(
                    TaskQueueType::try_from(q.task_queue_type).unwrap_or(TaskQueueType::Workflow),
                );
                super::task_queues::stats(
                    &f.keel
                        .matching
                        .describe(&req.namespace, &q.name, kind)
                        .stats,
                )
            });
            describe_worker_deployment_version_response::VersionTaskQueue {
                name: q.name.clone(),
                r#type: q.task_queue_type,
                stats,
                ..Default::default()
            }
        })
        .collect();
    Ok(Response::new(DescribeWorkerDeploymentVersionResponse {
        worker_deployment_version_info: Some(d::version_info(&dep, v, drainage.as_ref())),
        version_task_queues,
    }))
}

pub(super) async fn delete_version(
    f: &Frontend,
    req: Request<DeleteWorkerDeploymentVersionRequest>,
) -> Res<DeleteWorkerDeploymentVersionResponse> {
    let mut req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    #[allow(deprecated)]
    let wanted = requested(&req.deployment_version, &req.version)?;
    f.keel.linearizable().await?;
    if let Some(dep) = load(f, &req.namespace, &wanted.deployment_name)? {
        if let Some(v) = d::find_version(&dep, &wanted.build_id) {
            let active = d::status(&dep, v, None);
            if !req.skip_drainage
                && active == VersionStatus::Draining
                && !drained(f, &req.namespace, &dep.name, &v.build_id)?
            {
                return Err(Status::failed_precondition(format!(
                    "version '{}' cannot be deleted since it is draining",
                    d::version_key(&wanted)
                )));
            }
            let routed = matches!(active, VersionStatus::Current | VersionStatus::Ramping);
            if !routed
                && f.keel
                    .matching
                    .version_has_pollers(&req.namespace, &dep.name, &v.build_id)
            {
                return Err(Status::failed_precondition(format!(
                    "version '{}' cannot be deleted since it has active pollers",
                    d::version_key(&wanted)
                )));
            }
        }
    }
    req.deployment_version = Some(wanted);
    f.keel.propose(Kind::DeleteDeploymentVersion(req)).await?;
    Ok(Response::new(DeleteWorkerDeploymentVersionResponse {}))
}

pub(super) async fn delete(
    f: &Frontend,
    req: Request<DeleteWorkerDeploymentRequest>,
) -> Res<DeleteWorkerDeploymentResponse> {
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    deployment_name(&req.deployment_name)?;
    f.keel.propose(Kind::DeleteDeployment(req)).await?;
    Ok(Response::new(DeleteWorkerDeploymentResponse {}))
}

pub(super) async fn update_version_metadata(
    f: &Frontend,
    req: Request<UpdateWorkerDeploymentVersionMetadataRequest>,
) -> Res<UpdateWorkerDeploymentVersionMetadataResponse> {
    let mut req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    #[allow(deprecated)]
    let wanted = requested(&req.deployment_version, &req.version)?;
    req.deployment_version = Some(wanted);
    match f.keel.propose(Kind::UpdateVersionMetadata(req)).await? {
        Outcome::VersionMetadata(metadata) => Ok(Response::new(
            UpdateWorkerDeploymentVersionMetadataResponse {
                metadata: Some(metadata),
            },
        )),
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}

pub(super) async fn set_manager(
    f: &Frontend,
    req: Request<SetWorkerDeploymentManagerRequest>,
) -> Res<SetWorkerDeploymentManagerResponse> {
    let req = req.into_inner();
    f.keel.namespace(&req.namespace)?;
    deployment_name(&req.deployment_name)?;
    match f.keel.propose(Kind::SetDeploymentManager(req)).await? {
        Outcome::SetDeploymentManager(answer) => Ok(Response::new(answer)),
        other => Err(errors::internal(format!("unexpected outcome {other:?}"))),
    }
}
