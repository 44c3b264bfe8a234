//! The worker versioning part of the workload: one workflow in four (ids `jv-…`) runs on a
//! queue of its own whose workflow workers are versioned (deployment `jepsen-dep`, builds
//! `a` and `b`, two workers each) and declare every run PINNED; a router flips the
//! deployment's current version between the two every two seconds, so new workflows land on
//! both. The checker's rules: every workflow task of a run is completed by one version (a
//! pinned run never moves, and no unversioned worker takes a versioned run's task), and the
//! routing after healing is the last acknowledged change or a later one of unknown outcome.

use super::{request, Workload, CALL_TIMEOUT, NAMESPACE};
use crate::nemesis::Rng;
use crate::op::{OpKind, Outcome};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use temporalio_protos::temporal::api::{
    deployment::v1::{WorkerDeploymentOptions, WorkerDeploymentVersion},
    enums::v1::{VersioningBehavior, WorkerVersioningMode},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::*,
};

pub const DEPLOYMENT: &str = "jepsen-dep";
pub const BUILDS: [&str; 2] = ["a", "b"];
/// Workflow ids with this prefix run on the versioned queue.
pub const VERSIONED_PREFIX: &str = "jv-";
const ROUTING_EVERY: Duration = Duration::from_secs(2);

/// What a versioned worker sends with its polls and completions.
pub(super) fn deployment_options(build_id: &str) -> Option<WorkerDeploymentOptions> {
    Some(WorkerDeploymentOptions {
        deployment_name: DEPLOYMENT.into(),
        build_id: build_id.into(),
        worker_versioning_mode: WorkerVersioningMode::Versioned as i32,
    })
}

pub(super) const PINNED: i32 = VersioningBehavior::Pinned as i32;

impl Workload {
    pub(super) fn versioned_queue(&self) -> Option<TaskQueue> {
        Some(TaskQueue {
            name: format!("{}-versioned", self.queue),
            ..Default::default()
        })
    }

    /// The queue a workflow id runs on.
    pub(super) fn queue_of(&self, workflow_id: &str) -> Option<TaskQueue> {
        if workflow_id.starts_with(VERSIONED_PREFIX) {
            self.versioned_queue()
        } else {
            self.task_queue()
        }
    }

    /// Once both versions' workers have polled (their polls register the versions), makes
    /// `a` current, retrying until the cluster has it.
    pub async fn set_up_deployment(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut rng = Rng::new(0xDE9);
        for build in BUILDS {
            loop {
                let req = DescribeWorkerDeploymentVersionRequest {
                    namespace: NAMESPACE.into(),
                    deployment_version: Some(WorkerDeploymentVersion {
                        deployment_name: DEPLOYMENT.into(),
                        build_id: build.into(),
                    }),
                    ..Default::default()
                };
                match self
                    .client(&mut rng)
                    .describe_worker_deployment_version(request(req, CALL_TIMEOUT))
                    .await
                {
                    Ok(_) => break,
                    Err(s) if Instant::now() > deadline => {
                        anyhow::bail!("version {build} never registered: {s}")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        loop {
            match self.set_current(&mut rng, "setup", BUILDS[0]).await {
                Outcome::Ok => return Ok(()),
                Outcome::Fail(s) | Outcome::Unknown(s) if Instant::now() > deadline => {
                    anyhow::bail!("setting the current version: {s}")
                }
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    async fn set_current(&self, rng: &mut Rng, process: &str, build_id: &str) -> Outcome {
        let invoke = self.now_ms();
        let req = SetWorkerDeploymentCurrentVersionRequest {
            namespace: NAMESPACE.into(),
            deployment_name: DEPLOYMENT.into(),
            build_id: build_id.into(),
            identity: process.into(),
            ..Default::default()
        };
        let outcome = match self
            .client(rng)
            .set_worker_deployment_current_version(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(_) => Outcome::Ok,
            Err(s) => Outcome::from_status(&s),
        };
        let kind = OpKind::SetCurrentVersion {
            build_id: build_id.into(),
        };
        self.record(process, kind, invoke, outcome)
    }

    /// The router: flips the current version every two seconds until `stop`.
    pub async fn router(self: Arc<Self>, seed: u64, stop: Arc<AtomicBool>) {
        let mut rng = Rng::new(seed ^ 0x0DE9);
        let mut next = 1;
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(ROUTING_EVERY).await;
            self.set_current(&mut rng, "router", BUILDS[next % 2]).await;
            next += 1;
        }
    }
}

/// The deployment's current build id after healing ("" for unversioned workers); `None` if
/// the cluster does not have the deployment.
pub(super) async fn final_current(client: &super::Client) -> anyhow::Result<Option<String>> {
    let mut tries = 0;
    loop {
        let req = DescribeWorkerDeploymentRequest {
            namespace: NAMESPACE.into(),
            deployment_name: DEPLOYMENT.into(),
        };
        match client
            .clone()
            .describe_worker_deployment(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(r) => {
                let routing = r
                    .into_inner()
                    .worker_deployment_info
                    .and_then(|i| i.routing_config)
                    .unwrap_or_default();
                return Ok(Some(
                    routing
                        .current_deployment_version
                        .map(|v| v.build_id)
                        .unwrap_or_default(),
                ));
            }
            Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
            Err(s) if tries >= 20 => anyhow::bail!("describing the deployment at the end: {s}"),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}
