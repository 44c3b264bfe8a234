//! A cron workflow through the official Rust SDK against a real `keel`: started with a
//! schedule, each run starts at the schedule's time chained to the one before, and the
//! schedule ends when the workflow is terminated.

use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::{Duration, Instant};
use temporalio_client::{WorkflowStartOptions, WorkflowTerminateOptions};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_protos::temporal::api::{
    enums::v1::{ContinueAsNewInitiator, EventType::*},
    history::v1::history_event::Attributes as EA,
};
use temporalio_sdk::{WorkerOptions, WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Default)]
pub struct TickWorkflow;

#[workflow_methods]
impl TickWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, _unused: ()) -> WorkflowResult<String> {
        Ok("tick".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_workflow_runs_each_second_until_terminated() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new("cron-q")
        .register_workflow::<TickWorkflow>()?
        .build();
    let mut raw = raw_client(&url).await?;
    let runs = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                TickWorkflow::run,
                (),
                WorkflowStartOptions::new("cron-q", "ticker")
                    .cron_schedule("@every 1s".to_string())
                    .build(),
            )
            .await?;
        // Follow the chain through the close events until three runs have completed.
        let mut runs = vec![handle.run_id().unwrap_or_default().to_string()];
        let deadline = Instant::now() + Duration::from_secs(30);
        while runs.len() < 4 && Instant::now() < deadline {
            let events =
                history::fetch(&mut raw, "default", "ticker", runs.last().unwrap()).await?;
            match events.last().and_then(|e| e.attributes.clone()) {
                Some(EA::WorkflowExecutionCompletedEventAttributes(a)) => {
                    runs.push(a.new_execution_run_id)
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        client
            .get_workflow_handle::<TickWorkflow>("ticker")
            .terminate(
                WorkflowTerminateOptions::builder()
                    .reason("enough".to_string())
                    .build(),
            )
            .await?;
        Ok(runs)
    })
    .await?;
    assert_eq!(runs.len(), 4, "three runs completed within 30 s: {runs:?}");
    for (i, run) in runs.iter().enumerate() {
        let events = history::fetch(&mut raw, "default", "ticker", run).await?;
        let started = match &events[0].attributes {
            Some(EA::WorkflowExecutionStartedEventAttributes(a)) => a.clone(),
            o => anyhow::bail!("{o:?}"),
        };
        assert_eq!(started.cron_schedule, "@every 1s");
        assert_eq!(
            started.initiator,
            ContinueAsNewInitiator::CronSchedule as i32
        );
        assert!(started
            .first_workflow_task_backoff
            .is_some_and(|b| b.seconds >= 1));
        if i > 0 {
            assert_eq!(started.continued_execution_run_id, runs[i - 1]);
        }
        let last = history::types(&events).last().copied();
        let expected = if i < 3 {
            WorkflowExecutionCompleted
        } else {
            WorkflowExecutionTerminated
        };
        assert_eq!(last, Some(expected), "run {i}");
    }
    Ok(())
}
