//! Worker deployments (Temporal's worker versioning): a namespace's deployments, each with
//! the versions its workers poll with (a version appears when the first versioned worker of
//! its build polls, with every task queue its workers poll) and its routing: the current
//! version, which gets new and auto-upgrading work, and a ramping version that gets a share
//! of it. Stored under (namespace, name) in table 20; each task queue names its deployment in
//! table 21, so apply (sticky dispatch) and matching (who may take a task) find the routing
//! that governs a queue.
//!
//! Temporal keeps this state in a system workflow per deployment and spreads routing to
//! matching eventually; here it is replicated state, so a routing change governs every task
//! handed out after it commits. The routing decision itself (`eligible`) is pure and shared
//! by apply and matching.

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::keys;
use crate::mutation::RegisterDeploymentVersion;
use crate::outcome::Outcome;
use crate::records::{
    DeploymentQueueClaim, DeploymentVersionRecord, TaskRecord, VersionTaskQueue,
    WorkerDeploymentRecord,
};
use crate::time::timestamp;
use temporalio_protos::temporal::api::{
    deployment::v1::{
        worker_deployment_info::WorkerDeploymentVersionSummary,
        worker_deployment_version_info::VersionTaskQueueInfo, RoutingConfig, VersionDrainageInfo,
        VersionMetadata, WorkerDeploymentInfo, WorkerDeploymentVersion,
        WorkerDeploymentVersionInfo,
    },
    enums::v1::{VersionDrainageStatus, WorkerDeploymentVersionStatus as Status},
    workflowservice::v1 as ws,
};

/// How Temporal names the unversioned workers in version strings.
pub const UNVERSIONED: &str = "__unversioned__";
/// Temporal's `matching.maxVersionsInDeployment`.
pub const MAX_VERSIONS: usize = 100;
/// Temporal's `matching.maxTaskQueuesInDeploymentVersion`.
pub const MAX_QUEUES_PER_VERSION: usize = 100;

pub fn not_found_text(name: &str) -> String {
    format!(
        "no Worker Deployment found with name '{name}'; does your Worker Deployment have pollers?"
    )
}

/// What Temporal answers for a version (or its deployment) it does not have.
pub const NO_SUCH_VERSION: &str = "Worker Deployment Version not found";

pub fn version_not_found_text(name: &str, build_id: &str) -> String {
    format!("build ID '{build_id}' not found in Worker Deployment '{name}'")
}

/// A version as Temporal's (v0.31) version strings write it: `deployment.build`.
pub fn version_string(deployment: &str, build_id: &str) -> String {
    if build_id.is_empty() {
        UNVERSIONED.to_string()
    } else {
        format!("{deployment}.{build_id}")
    }
}

/// A version as the search attributes and error texts write it: `deployment:build`.
pub fn version_key(v: &WorkerDeploymentVersion) -> String {
    format!("{}:{}", v.deployment_name, v.build_id)
}

fn api_version(deployment: &str, build_id: &str) -> Option<WorkerDeploymentVersion> {
    (!build_id.is_empty()).then(|| WorkerDeploymentVersion {
        deployment_name: deployment.to_string(),
        build_id: build_id.to_string(),
    })
}

/// The version a request names: the structured field, else the deprecated
/// `deployment.build` string (split at its first dot, as Temporal's v0.31 parser).
pub fn requested_version(
    structured: &Option<WorkerDeploymentVersion>,
    deprecated: &str,
) -> Result<WorkerDeploymentVersion, String> {
    if let Some(v) = structured.as_ref().filter(|v| !v.build_id.is_empty()) {
        return Ok(v.clone());
    }
    match deprecated.split_once('.') {
        Some((deployment, build)) if !deployment.is_empty() && !build.is_empty() => {
            Ok(WorkerDeploymentVersion {
                deployment_name: deployment.to_string(),
                build_id: build.to_string(),
            })
        }
        _ => Err(format!(
            "invalid version string {deprecated:?}, expected format is \"<deployment_name>.<build_id>\""
        )),
    }
}

/// The build id a Set…Version request moves to ("" = unversioned), from its `build_id` or
/// its deprecated version string (which must name this deployment).
pub fn requested_build(deployment: &str, build_id: &str, version: &str) -> Result<String, String> {
    if !build_id.is_empty() || version.is_empty() || version == UNVERSIONED {
        return Ok(build_id.to_string());
    }
    match version.split_once('.') {
        Some((d, b)) if d == deployment && !b.is_empty() => Ok(b.to_string()),
        Some((_, b)) if !b.is_empty() => Err(format!(
            "invalid version string '{version}' does not match deployment name '{deployment}'"
        )),
        _ => Err(format!(
            "invalid version string {version:?}, expected format is \"<deployment_name>.<build_id>\""
        )),
    }
}

/// The conflict token of a deployment's state: opaque to clients, changed by every change.
pub fn conflict_token(d: &WorkerDeploymentRecord) -> Vec<u8> {
    let mut token = b"keel-wd1:".to_vec();
    token.extend_from_slice(&d.conflict_seq.to_be_bytes());
    token
}

/// A workflow id's place in a ramp: hundredths of a percent, fixed for the id, so each
/// workflow consistently goes to the ramping version or not.
pub fn ramp_bucket(workflow_id: &str) -> u16 {
    (crate::visibility::index::fnv1a(workflow_id.as_bytes()) % 10_000) as u16
}

/// Where the routing sends unpinned work of a workflow in `bucket`: the ramping version's
/// build for its share, else the current one ("" = unversioned workers).
pub fn target(d: &WorkerDeploymentRecord, bucket: u16) -> &str {
    if d.ramping && f32::from(bucket) < d.ramping_percentage * 100.0 {
        &d.ramping_build_id
    } else {
        &d.current_build_id
    }
}

fn version<'a>(
    d: &'a WorkerDeploymentRecord,
    build_id: &str,
) -> Option<&'a DeploymentVersionRecord> {
    d.versions.iter().find(|v| v.build_id == build_id)
}

pub(crate) fn has_queue(
    d: &WorkerDeploymentRecord,
    build_id: &str,
    queue: &str,
    queue_type: i32,
) -> bool {
    version(d, build_id).is_some_and(|v| {
        v.task_queues
            .iter()
            .any(|q| q.name == queue && q.task_queue_type == queue_type)
    })
}

/// How a queued task may be routed: to the version its run is pinned to, else by the
/// queue's routing for its workflow's ramp bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskRouting {
    pub pinned: Option<(String, String)>,
    pub ramp_bucket: u16,
}

impl TaskRouting {
    pub fn of(record: &TaskRecord) -> TaskRouting {
        TaskRouting {
            pinned: record
                .pinned
                .as_ref()
                .map(|v| (v.deployment_name.clone(), v.build_id.clone())),
            ramp_bucket: ramp_bucket(&record.workflow_id),
        }
    }
}

/// The version (deployment, build) that should take a task of a normal queue, `None` for
/// unversioned workers: a pinned task's version if that version's workers poll this queue,
/// else where the queue's deployment routes the workflow (unversioned when the queue belongs
/// to none).
pub fn task_target<'a>(
    d: Option<&'a WorkerDeploymentRecord>,
    queue: &str,
    queue_type: i32,
    routing: &'a TaskRouting,
) -> Option<(&'a str, &'a str)> {
    let d = d?;
    if let Some((deployment, build)) = &routing.pinned {
        if d.name == *deployment && has_queue(d, build, queue, queue_type) {
            return Some((deployment, build));
        }
    }
    let build = target(d, routing.ramp_bucket);
    (!build.is_empty()).then_some((d.name.as_str(), build))
}

/// Whether a poller of version `poller` (`None`: an unversioned worker) may take the task.
pub fn eligible(
    d: Option<&WorkerDeploymentRecord>,
    queue: &str,
    queue_type: i32,
    routing: &TaskRouting,
    poller: Option<(&str, &str)>,
) -> bool {
    task_target(d, queue, queue_type, routing) == poller
}

pub(crate) fn load(
    ctx: &ApplyCtx,
    namespace: &str,
    name: &str,
) -> ApplyResult<Option<WorkerDeploymentRecord>> {
    ctx.get(&keys::worker_deployment(namespace, name))
}

/// The deployment governing a queue's routing (its tasks of `queue_type`), if any.
pub(crate) fn of_queue(
    ctx: &ApplyCtx,
    namespace: &str,
    queue: &str,
    queue_type: i32,
) -> ApplyResult<Option<WorkerDeploymentRecord>> {
    match ctx.get::<DeploymentQueueClaim>(&keys::deployment_queue(namespace, queue, queue_type))? {
        Some(claim) => load(ctx, namespace, &claim.deployment_name),
        None => Ok(None),
    }
}

fn must_load(ctx: &ApplyCtx, namespace: &str, name: &str) -> ApplyResult<WorkerDeploymentRecord> {
    load(ctx, namespace, name)?.ok_or_else(|| Rejection::NotFound(not_found_text(name)))
}

fn save(ctx: &mut ApplyCtx, namespace: &str, d: &WorkerDeploymentRecord) {
    ctx.put(keys::worker_deployment(namespace, &d.name), d);
    ctx.notify(crate::outcome::Notification::DeploymentChanged {
        namespace: namespace.to_string(),
        deployment_name: d.name.clone(),
    });
}

/// A versioned worker polled a queue: its deployment, version and queue are recorded (once).
pub(crate) fn register(ctx: &mut ApplyCtx, m: RegisterDeploymentVersion) -> ApplyResult<Outcome> {
    ctx.namespace(&m.namespace)?;
    let now = ctx.now;
    let mut d =
        load(ctx, &m.namespace, &m.deployment_name)?.unwrap_or_else(|| WorkerDeploymentRecord {
            name: m.deployment_name.clone(),
            create_time: now,
            ..Default::default()
        });
    let queue = VersionTaskQueue {
        name: m.task_queue.clone(),
        task_queue_type: m.task_queue_type,
    };
    let claim_key = keys::deployment_queue(&m.namespace, &m.task_queue, m.task_queue_type);
    let claimed = ctx.get_raw(&claim_key)?.is_some();
    let polled = version(&d, &m.build_id).is_some_and(|v| v.task_queues.contains(&queue));
    if polled && claimed {
        return Ok(Outcome::Done);
    }
    if version(&d, &m.build_id).is_none() {
        add_version(&mut d, &m.build_id, now)?;
        d.conflict_seq += 1;
    }
    if let Some(v) = d.versions.iter_mut().find(|v| v.build_id == m.build_id) {
        if !polled {
            if v.task_queues.len() >= MAX_QUEUES_PER_VERSION {
                return Err(Rejection::FailedPrecondition(format!(
                    "could not add task queue: version '{}' already has {MAX_QUEUES_PER_VERSION} task queues",
                    version_string(&d.name, &m.build_id)
                )));
            }
            v.task_queues.push(queue);
        }
    }
    ctx.put(
        claim_key,
        &DeploymentQueueClaim {
            deployment_name: d.name.clone(),
        },
    );
    save(ctx, &m.namespace, &d);
    Ok(Outcome::Done)
}

/// Only the manager (when one is set) changes routing and deletes versions.
fn check_manager(d: &WorkerDeploymentRecord, identity: &str) -> ApplyResult<()> {
    if !d.manager_identity.is_empty() && d.manager_identity != identity {
        return Err(Rejection::FailedPrecondition(format!(
            "ManagerIdentity '{}' is set and does not match user identity '{identity}'; to proceed, set your own identity as the ManagerIdentity, remove the ManagerIdentity, or wait for the other client to do so",
            d.manager_identity
        )));
    }
    Ok(())
}

/// A version set current or ramping before any of its workers polled
/// (`allow_no_pollers`): it is added without queues.
fn add_unpolled(d: &mut WorkerDeploymentRecord, build_id: &str, now: i64) -> ApplyResult<()> {
    if build_id.is_empty() || version(d, build_id).is_some() {
        return Ok(());
    }
    add_version(d, build_id, now)
}

/// A new version, without queues yet (at most `MAX_VERSIONS` of them).
fn add_version(d: &mut WorkerDeploymentRecord, build_id: &str, now: i64) -> ApplyResult<()> {
    if d.versions.len() >= MAX_VERSIONS {
        return Err(Rejection::FailedPrecondition(
            "could not add version: too many versions in deployment and none are eligible for deletion".into(),
        ));
    }
    d.versions.push(DeploymentVersionRecord {
        build_id: build_id.to_string(),
        create_time: now,
        ..Default::default()
    });
    Ok(())
}

fn check_token(d: &WorkerDeploymentRecord, token: &[u8]) -> ApplyResult<()> {
    if !token.is_empty() && token != conflict_token(d).as_slice() {
        return Err(Rejection::FailedPrecondition(
            "conflict token mismatch".into(),
        ));
    }
    Ok(())
}

/// A version stops being current or ramping (it drains from now on).
fn deactivate(d: &mut WorkerDeploymentRecord, build_id: &str, now: i64) {
    if let Some(v) = d.versions.iter_mut().find(|v| v.build_id == build_id) {
        v.current_since_time = 0;
        v.ramping_since_time = 0;
        v.routing_changed_time = now;
        v.last_deactivation_time = now;
    }
}

fn activate(v: &mut DeploymentVersionRecord, now: i64) {
    v.routing_changed_time = now;
    if v.first_activation_time == 0 {
        v.first_activation_time = now;
    }
}

/// SetWorkerDeploymentCurrentVersion, the build id already read from the request.
pub(crate) fn set_current(
    ctx: &mut ApplyCtx,
    req: ws::SetWorkerDeploymentCurrentVersionRequest,
) -> ApplyResult<Outcome> {
    let now = ctx.now;
    let mut d = must_load(ctx, &req.namespace, &req.deployment_name)?;
    let build = req.build_id.clone();
    let previous = d.current_build_id.clone();
    let answer = |d: &WorkerDeploymentRecord| {
        Outcome::SetCurrentVersion(ws::SetWorkerDeploymentCurrentVersionResponse {
            conflict_token: conflict_token(d),
            previous_version: version_string(&d.name, &previous),
            previous_deployment_version: api_version(&d.name, &previous),
        })
    };
    if build == d.current_build_id && req.identity == d.last_modifier_identity {
        return Ok(answer(&d));
    }
    check_token(&d, &req.conflict_token)?;
    if req.allow_no_pollers {
        add_unpolled(&mut d, &build, now)?;
    }
    if !build.is_empty() && version(&d, &build).is_none() {
        return Err(Rejection::NotFound(version_not_found_text(&d.name, &build)));
    }
    check_manager(&d, &req.identity)?;
    if build != previous {
        deactivate(&mut d, &previous, now);
        if d.ramping && d.ramping_build_id == build {
            d.ramping = false;
            d.ramping_build_id.clear();
            d.ramping_percentage = 0.0;
            d.ramping_changed_time = now;
            d.ramping_percentage_changed_time = now;
        }
        if let Some(v) = d.versions.iter_mut().find(|v| v.build_id == build) {
            activate(v, now);
            v.ramping_since_time = 0;
            v.current_since_time = now;
            v.last_current_time = now;
            v.last_deactivation_time = 0;
        }
        d.current_build_id = build;
        d.current_changed_time = now;
        d.revision += 1;
    }
    d.last_modifier_identity = req.identity;
    d.conflict_seq += 1;
    save(ctx, &req.namespace, &d);
    Ok(answer(&d))
}

/// SetWorkerDeploymentRampingVersion: `ramping` false unsets the ramp; else the build id
/// ("" = unversioned workers) gets `percentage` of the new and auto-upgrading work.
pub(crate) fn set_ramping(
    ctx: &mut ApplyCtx,
    m: crate::mutation::SetRampingVersion,
) -> ApplyResult<Outcome> {
    let now = ctx.now;
    let req = m.request.unwrap_or_default();
    let mut d = must_load(ctx, &req.namespace, &req.deployment_name)?;
    let (was_ramping, previous, previous_percentage) =
        (d.ramping, d.ramping_build_id.clone(), d.ramping_percentage);
    let answer = |d: &WorkerDeploymentRecord| {
        Outcome::SetRampingVersion(ws::SetWorkerDeploymentRampingVersionResponse {
            conflict_token: conflict_token(d),
            previous_version: if was_ramping {
                version_string(&d.name, &previous)
            } else {
                String::new()
            },
            previous_deployment_version: api_version(&d.name, &previous),
            previous_percentage,
        })
    };
    let unchanged = d.ramping == m.ramping
        && (!m.ramping
            || (d.ramping_build_id == req.build_id && d.ramping_percentage == req.percentage));
    if unchanged && req.identity == d.last_modifier_identity {
        return Ok(answer(&d));
    }
    check_token(&d, &req.conflict_token)?;
    if m.ramping {
        if req.build_id == d.current_build_id {
            return Err(Rejection::FailedPrecondition(format!(
                "requested ramping version {} is already current",
                version_string(&d.name, &req.build_id)
            )));
        }
        if req.allow_no_pollers {
            add_unpolled(&mut d, &req.build_id, now)?;
        }
        if !req.build_id.is_empty() && version(&d, &req.build_id).is_none() {
            return Err(Rejection::NotFound(version_not_found_text(
                &d.name,
                &req.build_id,
            )));
        }
    }
    check_manager(&d, &req.identity)?;
    let moved = d.ramping != m.ramping || d.ramping_build_id != req.build_id;
    if moved {
        if d.ramping {
            deactivate(&mut d, &previous, now);
        }
        if m.ramping {
            if let Some(v) = d.versions.iter_mut().find(|v| v.build_id == req.build_id) {
                activate(v, now);
                v.ramping_since_time = now;
                v.last_deactivation_time = 0;
            }
        }
        d.ramping_changed_time = now;
    }
    if moved || d.ramping_percentage != req.percentage {
        d.ramping_percentage_changed_time = now;
        d.revision += 1;
    }
    d.ramping = m.ramping;
    d.ramping_build_id = if m.ramping {
        req.build_id.clone()
    } else {
        String::new()
    };
    d.ramping_percentage = if m.ramping { req.percentage } else { 0.0 };
    d.last_modifier_identity = req.identity;
    d.conflict_seq += 1;
    save(ctx, &req.namespace, &d);
    Ok(answer(&d))
}

/// The version a request names and its deployment, which must have it.
fn with_version(
    ctx: &ApplyCtx,
    namespace: &str,
    wanted: &Option<WorkerDeploymentVersion>,
) -> ApplyResult<(WorkerDeploymentVersion, WorkerDeploymentRecord)> {
    let v = wanted.clone().unwrap_or_default();
    match load(ctx, namespace, &v.deployment_name)? {
        Some(d) if version(&d, &v.build_id).is_some() => Ok((v, d)),
        _ => Err(Rejection::NotFound(NO_SUCH_VERSION.into())),
    }
}

/// DeleteWorkerDeploymentVersion: refused while the version is current or ramping; the
/// frontend has checked its pollers and drainage (leader memory and visibility).
pub(crate) fn delete_version(
    ctx: &mut ApplyCtx,
    req: ws::DeleteWorkerDeploymentVersionRequest,
) -> ApplyResult<Outcome> {
    let (v, mut d) = with_version(ctx, &req.namespace, &req.deployment_version)?;
    if d.current_build_id == v.build_id || (d.ramping && d.ramping_build_id == v.build_id) {
        return Err(Rejection::FailedPrecondition(format!(
            "version '{}' cannot be deleted since it is current or ramping",
            version_key(&v)
        )));
    }
    check_manager(&d, &req.identity)?;
    let gone = version(&d, &v.build_id)
        .map(|x| x.task_queues.clone())
        .unwrap_or_default();
    d.versions.retain(|x| x.build_id != v.build_id);
    // A queue no version of the deployment polls any more is no longer routed by it.
    for q in gone {
        let still_polled = d.versions.iter().any(|x| x.task_queues.contains(&q));
        let key = keys::deployment_queue(&req.namespace, &q.name, q.task_queue_type);
        let claimed_here = ctx
            .get::<DeploymentQueueClaim>(&key)?
            .is_some_and(|c| c.deployment_name == d.name);
        if !still_polled && claimed_here {
            ctx.delete(key);
        }
    }
    d.conflict_seq += 1;
    d.last_modifier_identity = req.identity;
    save(ctx, &req.namespace, &d);
    Ok(Outcome::Done)
}

/// SetWorkerDeploymentManager: who alone may change the routing from now on (`self`: the
/// caller; empty: anyone).
pub(crate) fn set_manager(
    ctx: &mut ApplyCtx,
    req: ws::SetWorkerDeploymentManagerRequest,
) -> ApplyResult<Outcome> {
    use ws::set_worker_deployment_manager_request::NewManagerIdentity;
    let mut d = must_load(ctx, &req.namespace, &req.deployment_name)?;
    let manager = match &req.new_manager_identity {
        Some(NewManagerIdentity::ManagerIdentity(m)) => m.clone(),
        Some(NewManagerIdentity::Self_(true)) => req.identity.clone(),
        Some(NewManagerIdentity::Self_(false)) | None => String::new(),
    };
    let previous = d.manager_identity.clone();
    let answer = |d: &WorkerDeploymentRecord| {
        Outcome::SetDeploymentManager(ws::SetWorkerDeploymentManagerResponse {
            conflict_token: conflict_token(d),
            previous_manager_identity: previous.clone(),
        })
    };
    if manager == d.manager_identity && req.identity == d.last_modifier_identity {
        return Ok(answer(&d));
    }
    check_token(&d, &req.conflict_token)?;
    d.manager_identity = manager;
    d.last_modifier_identity = req.identity;
    d.conflict_seq += 1;
    save(ctx, &req.namespace, &d);
    Ok(answer(&d))
}

/// DeleteWorkerDeployment: only once it has no versions left.
pub(crate) fn delete(
    ctx: &mut ApplyCtx,
    req: ws::DeleteWorkerDeploymentRequest,
) -> ApplyResult<Outcome> {
    let d = must_load(ctx, &req.namespace, &req.deployment_name)?;
    if !d.versions.is_empty() {
        return Err(Rejection::FailedPrecondition(
            "deployment has versions, can't be deleted".into(),
        ));
    }
    ctx.delete(keys::worker_deployment(&req.namespace, &d.name));
    ctx.notify(crate::outcome::Notification::DeploymentChanged {
        namespace: req.namespace.clone(),
        deployment_name: d.name.clone(),
    });
    Ok(Outcome::Done)
}

/// UpdateWorkerDeploymentVersionMetadata: upserts, then removals.
pub(crate) fn update_metadata(
    ctx: &mut ApplyCtx,
    req: ws::UpdateWorkerDeploymentVersionMetadataRequest,
) -> ApplyResult<Outcome> {
    let (v, mut d) = with_version(ctx, &req.namespace, &req.deployment_version)?;
    let Some(record) = d.versions.iter_mut().find(|x| x.build_id == v.build_id) else {
        return Err(Rejection::NotFound(NO_SUCH_VERSION.into()));
    };
    record.metadata.extend(req.upsert_entries);
    for key in &req.remove_entries {
        record.metadata.remove(key);
    }
    let metadata = VersionMetadata {
        entries: record.metadata.clone().into_iter().collect(),
    };
    save(ctx, &req.namespace, &d);
    Ok(Outcome::VersionMetadata(metadata))
}

/// A version's status; `drained` (from visibility: no open run pinned to it) tells a
/// deactivated version's draining from drained.
pub fn status(
    d: &WorkerDeploymentRecord,
    v: &DeploymentVersionRecord,
    drained: Option<bool>,
) -> Status {
    if d.current_build_id == v.build_id {
        Status::Current
    } else if d.ramping && d.ramping_build_id == v.build_id {
        Status::Ramping
    } else if v.last_deactivation_time != 0 {
        if drained == Some(true) {
            Status::Drained
        } else {
            Status::Draining
        }
    } else {
        Status::Inactive
    }
}

/// What a describe knows of a version's drainage: checked at `now`, `drained` as counted.
pub struct Drainage {
    pub drained: bool,
    pub now: i64,
}

fn drainage_info(
    d: &WorkerDeploymentRecord,
    v: &DeploymentVersionRecord,
    drainage: Option<&Drainage>,
) -> (Status, Option<VersionDrainageInfo>) {
    let s = status(d, v, drainage.map(|x| x.drained));
    let info = match (s, drainage) {
        (Status::Draining | Status::Drained, Some(x)) => Some(VersionDrainageInfo {
            status: if x.drained {
                VersionDrainageStatus::Drained
            } else {
                VersionDrainageStatus::Draining
            } as i32,
            last_changed_time: timestamp(v.last_deactivation_time),
            last_checked_time: timestamp(x.now),
        }),
        (Status::Current | Status::Ramping, _) => Some(VersionDrainageInfo {
            status: 0,
            last_changed_time: timestamp(v.routing_changed_time),
            last_checked_time: timestamp(v.routing_changed_time),
        }),
        _ => None,
    };
    (s, info)
}

pub fn version_summary(
    d: &WorkerDeploymentRecord,
    v: &DeploymentVersionRecord,
    drainage: Option<&Drainage>,
) -> WorkerDeploymentVersionSummary {
    let (status, drainage_info) = drainage_info(d, v, drainage);
    WorkerDeploymentVersionSummary {
        version: version_string(&d.name, &v.build_id),
        status: status as i32,
        deployment_version: api_version(&d.name, &v.build_id),
        create_time: timestamp(v.create_time),
        drainage_status: drainage_info.as_ref().map_or(0, |i| i.status),
        drainage_info,
        current_since_time: timestamp(v.current_since_time),
        ramping_since_time: timestamp(v.ramping_since_time),
        routing_update_time: timestamp(v.routing_changed_time),
        first_activation_time: timestamp(v.first_activation_time),
        last_current_time: timestamp(v.last_current_time),
        last_deactivation_time: timestamp(v.last_deactivation_time),
        ..Default::default()
    }
}

pub fn routing_config(d: &WorkerDeploymentRecord) -> RoutingConfig {
    RoutingConfig {
        current_deployment_version: api_version(&d.name, &d.current_build_id),
        current_version: version_string(&d.name, &d.current_build_id),
        ramping_deployment_version: if d.ramping {
            api_version(&d.name, &d.ramping_build_id)
        } else {
            None
        },
        ramping_version: if d.ramping {
            version_string(&d.name, &d.ramping_build_id)
        } else {
            String::new()
        },
        ramping_version_percentage: d.ramping_percentage,
        current_version_changed_time: timestamp(d.current_changed_time),
        ramping_version_changed_time: timestamp(d.ramping_changed_time),
        ramping_version_percentage_changed_time: timestamp(d.ramping_percentage_changed_time),
        revision_number: d.revision,
    }
}

/// DescribeWorkerDeployment's info: versions newest first, as Temporal lists them.
pub fn info(
    d: &WorkerDeploymentRecord,
    drainage: impl Fn(&DeploymentVersionRecord) -> Option<Drainage>,
) -> WorkerDeploymentInfo {
    WorkerDeploymentInfo {
        name: d.name.clone(),
        version_summaries: d
            .versions
            .iter()
            .rev()
            .map(|v| version_summary(d, v, drainage(v).as_ref()))
            .collect(),
        create_time: timestamp(d.create_time),
        routing_config: Some(routing_config(d)),
        last_modifier_identity: d.last_modifier_identity.clone(),
        manager_identity: d.manager_identity.clone(),
        routing_config_update_state:
            temporalio_protos::temporal::api::enums::v1::RoutingConfigUpdateState::Completed as i32,
    }
}

/// DescribeWorkerDeploymentVersion's info.
pub fn version_info(
    d: &WorkerDeploymentRecord,
    v: &DeploymentVersionRecord,
    drainage: Option<&Drainage>,
) -> WorkerDeploymentVersionInfo {
    let (status, drainage_info) = drainage_info(d, v, drainage);
    WorkerDeploymentVersionInfo {
        version: version_string(&d.name, &v.build_id),
        status: status as i32,
        deployment_version: api_version(&d.name, &v.build_id),
        deployment_name: d.name.clone(),
        create_time: timestamp(v.create_time),
        routing_changed_time: timestamp(v.routing_changed_time),
        current_since_time: timestamp(v.current_since_time),
        ramping_since_time: timestamp(v.ramping_since_time),
        first_activation_time: timestamp(v.first_activation_time),
        last_current_time: timestamp(v.last_current_time),
        last_deactivation_time: timestamp(v.last_deactivation_time),
        ramp_percentage: if status == Status::Ramping {
            d.ramping_percentage
        } else {
            0.0
        },
        task_queue_infos: v
            .task_queues
            .iter()
            .map(|q| VersionTaskQueueInfo {
                name: q.name.clone(),
                r#type: q.task_queue_type,
            })
            .collect(),
        drainage_info,
        metadata: (!v.metadata.is_empty()).then(|| VersionMetadata {
            entries: v.metadata.clone().into_iter().collect(),
        }),
        ..Default::default()
    }
}

/// DescribeTaskQueue's versioning info: the routing of the queue's deployment (none:
/// unversioned, updated at Go's zero time, as Temporal answers).
#[allow(deprecated)]
pub fn queue_versioning_info(
    d: Option<&WorkerDeploymentRecord>,
) -> temporalio_protos::temporal::api::taskqueue::v1::TaskQueueVersioningInfo {
    let go_zero_time = prost_wkt_types::Timestamp {
        seconds: -62_135_596_800,
        nanos: 0,
    };
    let Some(d) = d else {
        return temporalio_protos::temporal::api::taskqueue::v1::TaskQueueVersioningInfo {
            current_version: UNVERSIONED.into(),
            update_time: Some(go_zero_time),
            ..Default::default()
        };
    };
    let routing = routing_config(d);
    let changed = d
        .current_changed_time
        .max(d.ramping_changed_time)
        .max(d.ramping_percentage_changed_time);
    temporalio_protos::temporal::api::taskqueue::v1::TaskQueueVersioningInfo {
        current_deployment_version: routing.current_deployment_version,
        current_version: routing.current_version,
        ramping_deployment_version: routing.ramping_deployment_version,
        ramping_version: routing.ramping_version,
        ramping_version_percentage: routing.ramping_version_percentage,
        update_time: Some(timestamp(changed).unwrap_or(go_zero_time)),
    }
}

pub fn find_version<'a>(
    d: &'a WorkerDeploymentRecord,
    build_id: &str,
) -> Option<&'a DeploymentVersionRecord> {
    version(d, build_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(current: &str, ramping: Option<(&str, f32)>) -> WorkerDeploymentRecord {
        let queue = |b: &str| DeploymentVersionRecord {
            build_id: b.into(),
            task_queues: vec![VersionTaskQueue {
                name: "q".into(),
                task_queue_type: 1,
            }],
            ..Default::default()
        };
        WorkerDeploymentRecord {
            name: "d".into(),
            current_build_id: current.into(),
            ramping: ramping.is_some(),
            ramping_build_id: ramping.map_or("", |r| r.0).into(),
            ramping_percentage: ramping.map_or(0.0, |r| r.1),
            versions: vec![queue("1"), queue("2")],
            ..Default::default()
        }
    }

    fn unpinned(bucket: u16) -> TaskRouting {
        TaskRouting {
            pinned: None,
            ramp_bucket: bucket,
        }
    }

    #[test]
    fn unpinned_work_goes_to_the_current_version_or_unversioned_workers() {
        let d = deployment("1", None);
        assert!(eligible(Some(&d), "q", 1, &unpinned(5), Some(("d", "1"))));
        assert!(!eligible(Some(&d), "q", 1, &unpinned(5), Some(("d", "2"))));
        assert!(!eligible(Some(&d), "q", 1, &unpinned(5), None));
        let unversioned = deployment("", None);
        assert!(eligible(Some(&unversioned), "q", 1, &unpinned(5), None));
        assert!(!eligible(
            Some(&unversioned),
            "q",
            1,
            &unpinned(5),
            Some(("d", "1"))
        ));
        // A queue no deployment claims serves unversioned workers only.
        assert!(eligible(None, "q", 1, &unpinned(5), None));
    }

    #[test]
    fn a_ramp_takes_its_share_of_buckets() {
        let d = deployment("1", Some(("2", 25.0)));
        let to_ramp = (0..10_000u16)
            .filter(|b| eligible(Some(&d), "q", 1, &unpinned(*b), Some(("d", "2"))))
            .count();
        assert_eq!(to_ramp, 2500);
        let to_unversioned = deployment("1", Some(("", 10.0)));
        assert!(eligible(
            Some(&to_unversioned),
            "q",
            1,
            &unpinned(999),
            None
        ));
        assert!(eligible(
            Some(&to_unversioned),
            "q",
            1,
            &unpinned(1000),
            Some(("d", "1"))
        ));
    }

    #[test]
    fn pinned_work_stays_on_its_version_where_that_version_polls() {
        let d = deployment("2", None);
        let pinned = TaskRouting {
            pinned: Some(("d".into(), "1".into())),
            ramp_bucket: 0,
        };
        assert!(eligible(Some(&d), "q", 1, &pinned, Some(("d", "1"))));
        assert!(!eligible(Some(&d), "q", 1, &pinned, Some(("d", "2"))));
        // An activity queue version 1 never polled: the queue's routing decides.
        assert!(eligible(Some(&d), "q", 2, &pinned, Some(("d", "2"))));
    }

    #[test]
    fn version_strings_in_both_forms() {
        assert_eq!(requested_build("d", "", "d.1.0"), Ok("1.0".into()));
        assert_eq!(requested_build("d", "7", ""), Ok("7".into()));
        assert_eq!(requested_build("d", "", UNVERSIONED), Ok("".into()));
        assert!(requested_build("d", "", "e.1").is_err());
        let v = requested_version(&None, "dep.1.0").unwrap();
        assert_eq!(
            (v.deployment_name.as_str(), v.build_id.as_str()),
            ("dep", "1.0")
        );
        assert!(requested_version(&None, "nodot").is_err());
    }
}
