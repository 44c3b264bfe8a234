//! Worker versioning through the official Rust SDK against a real `keel`: a worker with
//! deployment options (versioning on, PINNED by default) registers its version by polling;
//! once an operator makes it current, a new workflow runs on it and every workflow task
//! completion records the behaviour and the version, as Temporal's.

use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::worker::{
    VersioningBehavior, WorkerDeploymentOptions, WorkerDeploymentVersion,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_protos::temporal::api::deployment::v1::WorkerDeploymentVersion as ApiVersion;
use temporalio_protos::temporal::api::enums::v1::{
    VersioningBehavior as ApiBehavior, WorkerDeploymentVersionStatus,
};
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeWorkerDeploymentRequest, DescribeWorkerDeploymentVersionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
};
use temporalio_sdk::{WorkerOptions, WorkflowContext, WorkflowResult};

const QUEUE: &str = "rust-versioned";
const DEPLOYMENT: &str = "rust-dep";

#[workflow]
#[derive(Default)]
pub struct Versioned;

#[workflow_methods]
impl Versioned {
    /// Sleeps a moment (so the run has more than one workflow task) and answers.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<String> {
        ctx.timer(Duration::from_millis(10)).await;
        Ok("done".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_versioned_rust_worker_runs_the_current_versions_workflows() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new(QUEUE)
        .deployment_options(
            WorkerDeploymentOptions::new(
                WorkerDeploymentVersion::builder()
                    .deployment_name(DEPLOYMENT)
                    .build_id("b1")
                    .build(),
            )
            .use_worker_versioning(true)
            .default_versioning_behavior(VersioningBehavior::Pinned)
            .build(),
        )
        .register_workflow::<Versioned>()?
        .build();
    let version = ApiVersion {
        deployment_name: DEPLOYMENT.into(),
        build_id: "b1".into(),
    };
    let result = sdk::with_worker(&url, options, async {
        let mut raw = raw_client(&url).await?;
        // The worker's first polls register its version.
        let mut registered = false;
        for _ in 0..200 {
            let described = raw
                .describe_worker_deployment_version(DescribeWorkerDeploymentVersionRequest {
                    namespace: "default".into(),
                    deployment_version: Some(version.clone()),
                    ..Default::default()
                })
                .await;
            if described.is_ok() {
                registered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::ensure!(registered, "the worker's version never appeared");
        raw.set_worker_deployment_current_version(SetWorkerDeploymentCurrentVersionRequest {
            namespace: "default".into(),
            deployment_name: DEPLOYMENT.into(),
            build_id: "b1".into(),
            identity: "rust-test".into(),
            ..Default::default()
        })
        .await?;
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                Versioned::run,
                (),
                WorkflowStartOptions::new(QUEUE, "rust-versioned-wf").build(),
            )
            .await?;
        Ok(tokio::time::timeout(
            Duration::from_secs(60),
            handle.get_result(WorkflowGetResultOptions::default()),
        )
        .await??)
    })
    .await?;
    assert_eq!(result, "done");

    let mut raw = raw_client(&url).await?;
    let events = history::fetch(&mut raw, "default", "rust-versioned-wf", "").await?;
    let completions: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::WorkflowTaskCompletedEventAttributes(a)) => Some(a.clone()),
            _ => None,
        })
        .collect();
    assert!(completions.len() >= 2, "{completions:?}");
    for c in &completions {
        assert_eq!(c.versioning_behavior, ApiBehavior::Pinned as i32);
        assert_eq!(c.worker_deployment_name, DEPLOYMENT);
        assert_eq!(c.deployment_version.as_ref(), Some(&version));
    }
    let deployment = raw
        .describe_worker_deployment(DescribeWorkerDeploymentRequest {
            namespace: "default".into(),
            deployment_name: DEPLOYMENT.into(),
        })
        .await?
        .into_inner()
        .worker_deployment_info
        .unwrap_or_default();
    let summary = &deployment.version_summaries[0];
    assert_eq!(summary.deployment_version.as_ref(), Some(&version));
    assert_eq!(
        summary.status,
        WorkerDeploymentVersionStatus::Current as i32
    );
    Ok(())
}
