//! Child workflows through the official Rust SDK against a real `keel`: a parent starts a
//! child, gets its result, and the parent's history has Temporal's child events.

use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_protos::temporal::api::enums::v1::EventType::*;
use temporalio_sdk::{ChildWorkflowOptions, WorkerOptions, WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Default)]
pub struct HelloChildWorkflow;

#[workflow_methods]
impl HelloChildWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        Ok(format!("Hello, {name}!"))
    }
}

#[workflow]
#[derive(Default)]
pub struct ParentWorkflow;

#[workflow_methods]
impl ParentWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let options = ChildWorkflowOptions::builder()
            .workflow_id("parent-1-child".to_string())
            .build();
        let started = match ctx
            .start_child_workflow(HelloChildWorkflow::run, name, options)
            .await
        {
            Ok(started) => started,
            Err(e) => return Ok(format!("child did not start: {e:?}")),
        };
        Ok(match started.result().await {
            Ok(greeting) => greeting,
            Err(e) => format!("child failed: {e:?}"),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_gets_its_childs_result() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new("family-q")
        .register_workflow::<ParentWorkflow>()?
        .register_workflow::<HelloChildWorkflow>()?
        .build();
    let result = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                ParentWorkflow::run,
                "child".to_string(),
                WorkflowStartOptions::new("family-q", "parent-1").build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(result, "Hello, child!");
    let mut raw = raw_client(&url).await?;
    let parent = history::types(&history::fetch(&mut raw, "default", "parent-1", "").await?);
    assert_eq!(
        parent[4..7],
        [
            StartChildWorkflowExecutionInitiated,
            ChildWorkflowExecutionStarted,
            WorkflowTaskScheduled
        ]
    );
    assert!(parent.contains(&ChildWorkflowExecutionCompleted));
    assert_eq!(parent.last(), Some(&WorkflowExecutionCompleted));
    let child = history::fetch(&mut raw, "default", "parent-1-child", "").await?;
    assert_eq!(
        history::types(&child).last(),
        Some(&WorkflowExecutionCompleted)
    );
    Ok(())
}
