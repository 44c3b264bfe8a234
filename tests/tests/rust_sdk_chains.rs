//! Runs chained under one workflow id through the official Rust SDK against a real `keel`:
//! continue-as-new until a goal, followed by the client to the last run's result.

use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_protos::temporal::api::enums::v1::EventType::*;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_sdk::{ContinueAsNewOptions, WorkerOptions, WorkflowContext, WorkflowResult};

/// CountToWorkflow continues as new until its input reaches this.
const GOAL: u32 = 3;

#[workflow]
#[derive(Default)]
pub struct CountToWorkflow;

#[workflow_methods]
impl CountToWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, n: u32) -> WorkflowResult<u32> {
        if n < GOAL {
            ctx.timer(Duration::from_millis(100)).await;
            return Err(ctx
                .continue_as_new(n + 1, ContinueAsNewOptions::default())
                .unwrap_err());
        }
        Ok(n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_as_new_chains_runs_until_the_goal() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new("count-q")
        .register_workflow::<CountToWorkflow>()?
        .build();
    let (result, first_run) = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                CountToWorkflow::run,
                0u32,
                WorkflowStartOptions::new("count-q", "count-1").build(),
            )
            .await?;
        let first_run = handle.run_id().unwrap_or_default().to_string();
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        Ok((result, first_run))
    })
    .await?;
    assert_eq!(result, GOAL);

    // Follow the chain from the first run: GOAL continuations, then a completed run.
    let mut raw = raw_client(&url).await?;
    let mut run = first_run;
    for n in 0..GOAL {
        let events = history::fetch(&mut raw, "default", "count-1", &run).await?;
        let types = history::types(&events);
        assert_eq!(
            types.last(),
            Some(&WorkflowExecutionContinuedAsNew),
            "run {n}"
        );
        let Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(a)) =
            &events.last().unwrap().attributes
        else {
            anyhow::bail!("no continued-as-new attributes in run {n}");
        };
        let next = history::fetch(&mut raw, "default", "count-1", &a.new_execution_run_id).await?;
        let Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) =
            &next[0].attributes
        else {
            anyhow::bail!("run {} has no started event", n + 1);
        };
        assert_eq!(started.continued_execution_run_id, run);
        run = a.new_execution_run_id.clone();
    }
    let last = history::types(&history::fetch(&mut raw, "default", "count-1", &run).await?);
    assert_eq!(last.last(), Some(&WorkflowExecutionCompleted));
    Ok(())
}
