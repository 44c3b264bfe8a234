//! A run's worker versioning: what a versioned worker's workflow task completion records
//! (its behaviour, pinned or auto-upgrade, and its deployment version: on the
//! WorkflowTaskCompleted event, the run, and Temporal's versioning search attributes),
//! the version a pinned run's tasks go to, an operator's override, and when an unpinned
//! run leaves its sticky worker because the routing moved on (see `deployments`).

use crate::ctx::ApplyCtx;
use crate::deployments::{self, version_key};
use crate::error::{ApplyResult, Rejection};
use crate::mutation::CompleteWorkflowTask;
use crate::records::{ExecutionRecord, RunVersioning};
use crate::search_attributes::json_payload;
use temporalio_protos::temporal::api::{
    deployment::v1::{WorkerDeploymentOptions, WorkerDeploymentVersion},
    enums::v1::{TaskQueueType, VersioningBehavior, WorkerVersioningMode},
    workflow::v1::{versioning_override, VersioningOverride, WorkflowExecutionVersioningInfo},
    workflowservice::v1::RespondWorkflowTaskCompletedRequest,
};

const BUILD_IDS: &str = "BuildIds";
const USED_VERSIONS: &str = "TemporalUsedWorkerDeploymentVersions";
const DEPLOYMENT: &str = "TemporalWorkerDeployment";
const DEPLOYMENT_VERSION: &str = "TemporalWorkerDeploymentVersion";
const BEHAVIOR: &str = "TemporalWorkflowVersioningBehavior";

/// The deployment version of a worker that opted into versioning.
pub fn versioned_worker(
    options: &Option<WorkerDeploymentOptions>,
) -> Option<WorkerDeploymentVersion> {
    options
        .as_ref()
        .filter(|o| o.worker_versioning_mode == WorkerVersioningMode::Versioned as i32)
        .filter(|o| !o.deployment_name.is_empty() && !o.build_id.is_empty())
        .map(|o| WorkerDeploymentVersion {
            deployment_name: o.deployment_name.clone(),
            build_id: o.build_id.clone(),
        })
}

/// Whether a completion comes from a versioned worker (feature level `RELEASE_6`).
pub fn completed_versioned(m: &CompleteWorkflowTask) -> bool {
    m.request
        .as_ref()
        .is_some_and(|r| versioned_worker(&r.deployment_options).is_some())
}

/// Whether the cluster's recorded level keeps versioning (see `feature_level`): before
/// it, apply records none of it, as the builds before it did.
pub(crate) fn kept(ctx: &ApplyCtx) -> bool {
    ctx.cluster_level() >= crate::feature_level::RELEASE_6
}

/// A start's override, checked; dropped until the cluster keeps versioning.
pub(crate) fn start_override(
    ctx: &ApplyCtx,
    o: Option<VersioningOverride>,
) -> ApplyResult<Option<VersioningOverride>> {
    match o {
        Some(o) if kept(ctx) => {
            check_override(&o).map_err(Rejection::InvalidArgument)?;
            Ok(Some(o))
        }
        _ => Ok(None),
    }
}

/// The fields a completion stamps on its WorkflowTaskCompleted event: behaviour, deployment
/// name, version.
pub(crate) struct CompletedStamp {
    pub behavior: i32,
    pub deployment_name: String,
    pub version: Option<WorkerDeploymentVersion>,
}

/// Records what a completing worker says of its versioning on the run; returns what its
/// event carries. A versioned worker must declare a behaviour, as Temporal requires.
pub(crate) fn record_completion(
    ctx: &ApplyCtx,
    exec: &mut ExecutionRecord,
    req: &RespondWorkflowTaskCompletedRequest,
) -> ApplyResult<CompletedStamp> {
    let build_id = req
        .worker_version_stamp
        .as_ref()
        .map_or("", |v| v.build_id.as_str());
    let Some(version) = versioned_worker(&req.deployment_options) else {
        if kept(ctx) {
            add_keyword(exec, BUILD_IDS, "unversioned");
            if !build_id.is_empty() {
                add_keyword(exec, BUILD_IDS, &format!("unversioned:{build_id}"));
            }
        }
        if let Some(v) = exec.versioning.as_mut() {
            // An unversioned worker took the run: it is unversioned again (an override stays).
            v.behavior = 0;
            v.version = None;
        }
        return Ok(CompletedStamp {
            behavior: 0,
            deployment_name: String::new(),
            version: None,
        });
    };
    if req.versioning_behavior == VersioningBehavior::Unspecified as i32 {
        return Err(Rejection::InvalidArgument(
            "versioning behavior must be specified when the worker uses versioning".into(),
        ));
    }
    let revision = deployments::load(ctx, &exec.namespace, &version.deployment_name)?
        .map_or(0, |d| d.revision);
    let key = version_key(&version);
    if req.versioning_behavior == VersioningBehavior::Pinned as i32 {
        add_keyword(exec, BUILD_IDS, &format!("pinned:{key}"));
    }
    if !build_id.is_empty() {
        add_keyword(exec, BUILD_IDS, &format!("unversioned:{build_id}"));
    }
    add_keyword(exec, USED_VERSIONS, &key);
    let attributes = exec.search_attributes.get_or_insert_with(Default::default);
    let keyword = crate::visibility::read::keyword_payload;
    attributes
        .indexed_fields
        .insert(DEPLOYMENT.into(), keyword(&version.deployment_name));
    attributes
        .indexed_fields
        .insert(DEPLOYMENT_VERSION.into(), keyword(&key));
    attributes.indexed_fields.insert(
        BEHAVIOR.into(),
        keyword(behavior_name(req.versioning_behavior)),
    );
    let state = exec.versioning.get_or_insert_with(RunVersioning::default);
    if let Some(VersioningOverride {
        r#override: Some(versioning_override::Override::OneTime(t)),
        ..
    }) = &state.versioning_override
    {
        if t.target_deployment_version.as_ref() == Some(&version) {
            state.versioning_override = None;
        }
    }
    state.behavior = req.versioning_behavior;
    state.version = Some(version.clone());
    state.revision_number = revision;
    Ok(CompletedStamp {
        behavior: req.versioning_behavior,
        deployment_name: version.deployment_name.clone(),
        version: Some(version),
    })
}

/// How Temporal's search attribute writes a behaviour.
fn behavior_name(behavior: i32) -> &'static str {
    if behavior == VersioningBehavior::Pinned as i32 {
        "Pinned"
    } else if behavior == VersioningBehavior::AutoUpgrade as i32 {
        "AutoUpgrade"
    } else {
        "Unspecified"
    }
}

/// Adds a value to a keyword-list search attribute (once, in first-seen order).
fn add_keyword(exec: &mut ExecutionRecord, name: &str, value: &str) {
    let attributes = exec.search_attributes.get_or_insert_with(Default::default);
    let mut values: Vec<String> = attributes
        .indexed_fields
        .get(name)
        .and_then(|p| serde_json::from_slice(&p.data).ok())
        .unwrap_or_default();
    if values.iter().any(|v| v == value) {
        return;
    }
    values.push(value.to_string());
    values.sort();
    let json = serde_json::to_vec(&values).unwrap_or_default();
    attributes
        .indexed_fields
        .insert(name.into(), json_payload(json, "KeywordList"));
}

/// The version an override pins to, if it pins.
fn override_pin(o: &VersioningOverride) -> Option<WorkerDeploymentVersion> {
    match &o.r#override {
        Some(versioning_override::Override::Pinned(p)) => p.version.clone(),
        Some(versioning_override::Override::AutoUpgrade(_)) => None,
        Some(versioning_override::Override::OneTime(t)) => t.target_deployment_version.clone(),
        #[allow(deprecated)]
        None if o.behavior == VersioningBehavior::Pinned as i32 => {
            deployments::requested_version(&None, &o.pinned_version).ok()
        }
        None => None,
    }
}

/// The version a run's tasks are pinned to: an override's, else its worker's if that
/// worker declared the run pinned.
pub(crate) fn pinned(exec: &ExecutionRecord) -> Option<WorkerDeploymentVersion> {
    let v = exec.versioning.as_ref()?;
    if let Some(o) = &v.versioning_override {
        return override_pin(o);
    }
    (v.behavior == VersioningBehavior::Pinned as i32)
        .then(|| v.version.clone())
        .flatten()
}

/// Whether the run's next workflow task should leave its sticky worker for the normal
/// queue: the version it should run on now (its pin, or its queue's routing) is not the
/// one that last ran it.
pub(crate) fn leaves_sticky(ctx: &ApplyCtx, exec: &ExecutionRecord) -> ApplyResult<bool> {
    let pin = pinned(exec);
    let d = deployments::of_queue(
        ctx,
        &exec.namespace,
        &exec.task_queue,
        TaskQueueType::Workflow as i32,
    )?;
    if d.is_none() && pin.is_none() {
        return Ok(false);
    }
    let routing = deployments::TaskRouting {
        pinned: pin.map(|v| (v.deployment_name, v.build_id)),
        ramp_bucket: deployments::ramp_bucket(&exec.workflow_id),
    };
    let target = deployments::task_target(
        d.as_ref(),
        &exec.task_queue,
        TaskQueueType::Workflow as i32,
        &routing,
    );
    let last = exec
        .versioning
        .as_ref()
        .and_then(|v| v.version.as_ref())
        .map(|v| (v.deployment_name.as_str(), v.build_id.as_str()));
    Ok(target != last)
}

/// What a new run (a child, a retry, a continue-as-new, a cron run) on `queue` inherits from
/// the run `source` that begets it, as Temporal's: a pinned override, and (`with_pin`) the
/// version `source` is pinned to, each only when that version's workers poll `queue` in the
/// same namespace.
pub(crate) struct Inherited {
    pub pinned_version: Option<WorkerDeploymentVersion>,
    pub versioning_override: Option<VersioningOverride>,
}

pub(crate) fn inherited(
    ctx: &ApplyCtx,
    source: &ExecutionRecord,
    namespace: &str,
    queue: &str,
    with_pin: bool,
) -> ApplyResult<Inherited> {
    let polls_queue = |v: &WorkerDeploymentVersion| -> ApplyResult<bool> {
        if namespace != source.namespace {
            return Ok(false);
        }
        Ok(
            deployments::load(ctx, namespace, &v.deployment_name)?.is_some_and(|d| {
                deployments::has_queue(&d, &v.build_id, queue, TaskQueueType::Workflow as i32)
            }),
        )
    };
    let state = source.versioning.as_ref();
    let versioning_override = match state.and_then(|v| v.versioning_override.as_ref()) {
        Some(o) if override_pin(o).is_some_and(|v| polls_queue(&v).unwrap_or(false)) => {
            Some(o.clone())
        }
        _ => None,
    };
    let base_pin = state
        .filter(|v| with_pin && v.behavior == VersioningBehavior::Pinned as i32)
        .and_then(|v| v.version.clone());
    let pinned_version = match base_pin {
        Some(v) if polls_queue(&v)? => Some(v),
        _ => None,
    };
    Ok(Inherited {
        pinned_version,
        versioning_override,
    })
}

impl Inherited {
    /// The new run's versioning, and its started event's record of it.
    pub(crate) fn apply(
        self,
        exec: &mut ExecutionRecord,
        started: &mut temporalio_protos::temporal::api::history::v1::WorkflowExecutionStartedEventAttributes,
    ) {
        started.inherited_pinned_version = self.pinned_version.clone();
        started.versioning_override = self.versioning_override.clone();
        exec.versioning = (self.pinned_version.is_some() || self.versioning_override.is_some())
            .then(|| RunVersioning {
                behavior: if self.pinned_version.is_some() {
                    VersioningBehavior::Pinned as i32
                } else {
                    0
                },
                version: self.pinned_version,
                revision_number: 0,
                versioning_override: self.versioning_override,
            });
    }
}

/// Checks an override as UpdateWorkflowExecutionOptions, StartWorkflowExecution and batch
/// jobs take it, with Temporal's messages.
#[allow(deprecated)]
pub fn check_override(o: &VersioningOverride) -> Result<(), String> {
    use versioning_override::{Override, PinnedOverrideBehavior};
    match &o.r#override {
        Some(Override::AutoUpgrade(true)) => return Ok(()),
        Some(Override::AutoUpgrade(false)) => {
            return Err("auto-upgrade override must be true".into())
        }
        Some(Override::Pinned(p)) => {
            return match &p.version {
                None => Err("must provide version if override is pinned.".into()),
                Some(_) if p.behavior == PinnedOverrideBehavior::Unspecified as i32 => {
                    Err("must specify pinned override behavior if override is pinned.".into())
                }
                Some(_) => Ok(()),
            }
        }
        Some(Override::OneTime(t)) => {
            return match &t.target_deployment_version {
                None => {
                    Err("must provide target deployment version if override is one-time.".into())
                }
                Some(_) => Ok(()),
            }
        }
        None => {}
    }
    match VersioningBehavior::try_from(o.behavior) {
        Ok(VersioningBehavior::Pinned) if !o.pinned_version.is_empty() => {
            deployments::requested_version(&None, &o.pinned_version).map(|_| ())
        }
        Ok(VersioningBehavior::Pinned) => Err(
            "must provide deployment (deprecated) or pinned version if behavior is 'PINNED'".into(),
        ),
        Ok(VersioningBehavior::AutoUpgrade) if o.deployment.is_some() => {
            Err("only provide deployment if behavior is 'PINNED'".into())
        }
        Ok(VersioningBehavior::AutoUpgrade) if !o.pinned_version.is_empty() => {
            Err("only provide pinned version if behavior is 'PINNED'".into())
        }
        Ok(VersioningBehavior::AutoUpgrade) => Ok(()),
        Ok(VersioningBehavior::Unspecified) => Err("override behavior is required".into()),
        _ => Err(format!("override behavior {} not recognized", o.behavior)),
    }
}

/// The search attributes the server keeps of a run's versioning: a new run (a continue-as-new,
/// a retry, a cron run) starts without them, as on Temporal.
pub(crate) fn without_server_attributes(
    attributes: Option<temporalio_protos::temporal::api::common::v1::SearchAttributes>,
) -> Option<temporalio_protos::temporal::api::common::v1::SearchAttributes> {
    let mut attributes = attributes?;
    for name in [
        BUILD_IDS,
        USED_VERSIONS,
        DEPLOYMENT,
        DEPLOYMENT_VERSION,
        BEHAVIOR,
    ] {
        attributes.indexed_fields.remove(name);
    }
    (!attributes.indexed_fields.is_empty()).then_some(attributes)
}

/// Sets (or, with `None`, removes) a run's override.
pub(crate) fn set_override(exec: &mut ExecutionRecord, o: Option<VersioningOverride>) {
    match o {
        Some(o) => {
            exec.versioning
                .get_or_insert_with(Default::default)
                .versioning_override = Some(o)
        }
        None => {
            if let Some(v) = exec.versioning.as_mut() {
                v.versioning_override = None;
            }
        }
    }
}

/// Describe's versioning info.
#[allow(deprecated)]
pub fn info(exec: &ExecutionRecord) -> Option<WorkflowExecutionVersioningInfo> {
    let v = exec.versioning.as_ref()?;
    if v.behavior == 0 && v.versioning_override.is_none() {
        return None;
    }
    Some(WorkflowExecutionVersioningInfo {
        behavior: v.behavior,
        version: v
            .version
            .as_ref()
            .map(|x| deployments::version_string(&x.deployment_name, &x.build_id))
            .unwrap_or_default(),
        deployment_version: v.version.clone(),
        versioning_override: v.versioning_override.clone(),
        revision_number: v.revision_number,
        ..Default::default()
    })
}
