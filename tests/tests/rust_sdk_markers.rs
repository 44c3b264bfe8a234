//! Markers through the official Rust SDK against a real `keel`: a local activity that runs
//! longer than the workflow task timeout (the worker heartbeats the task with
//! force_create_new_workflow_task completions) ends in one MarkerRecorded, and no task
//! times out.

use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_protos::temporal::api::enums::v1::EventType;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{LocalActivityOptions, WorkerOptions, WorkflowContext, WorkflowResult};

pub struct SlowActs;

#[activities]
impl SlowActs {
    #[activity]
    pub async fn nap(_ctx: ActivityContext, millis: u64) -> Result<String, ActivityError> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(format!("napped {millis} ms"))
    }
}

#[workflow]
#[derive(Default)]
pub struct NapWorkflow;

#[workflow_methods]
impl NapWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, millis: u64) -> WorkflowResult<String> {
        let options = LocalActivityOptions::builder()
            .start_to_close_timeout(Duration::from_secs(30))
            .build();
        Ok(ctx
            .execute_local_activity(SlowActs::nap, millis, options)
            .await?)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_activity_outlives_the_workflow_task_timeout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new("nap-q")
        .register_workflow::<NapWorkflow>()?
        .register_activities(SlowActs)
        .build();
    let result = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                NapWorkflow::run,
                4000,
                WorkflowStartOptions::new("nap-q", "napper")
                    .task_timeout(Duration::from_secs(2))
                    .build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(result, "napped 4000 ms");
    let mut raw = raw_client(&url).await?;
    let types = history::types(&history::fetch(&mut raw, "default", "napper", "").await?);
    assert!(
        !types.contains(&EventType::WorkflowTaskTimedOut),
        "{types:?}"
    );
    let completed = types
        .iter()
        .filter(|t| **t == EventType::WorkflowTaskCompleted)
        .count();
    assert!(completed >= 3, "at least two heartbeats: {types:?}");
    let markers = types
        .iter()
        .filter(|t| **t == EventType::MarkerRecorded)
        .count();
    assert_eq!(markers, 1);
    Ok(())
}
