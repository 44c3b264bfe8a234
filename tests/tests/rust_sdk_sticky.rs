//! Sticky task queues through the official Rust SDK against a real `keel`: a caching worker
//! gets its run's next tasks on its sticky queue, and when it shuts down, a second worker
//! takes over the run at once (ShutdownWorker hands the waiting task to the normal queue).

use keel_tests::workflows::CollectWorkflow;
use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowSignalOptions, WorkflowStartOptions};
use temporalio_protos::temporal::api::{
    enums::v1::{EventType, TaskQueueKind},
    history::v1::history_event::Attributes as EA,
};
use temporalio_sdk::WorkerOptions;

fn worker_options() -> anyhow::Result<WorkerOptions> {
    Ok(WorkerOptions::new("sticky-q")
        .register_workflow::<CollectWorkflow>()?
        .build())
}

/// Waits until the run has completed `count` workflow tasks.
async fn completed_tasks(url: &str, count: usize) -> anyhow::Result<()> {
    let mut raw = raw_client(url).await?;
    for _ in 0..300 {
        let events = history::fetch(&mut raw, "default", "collector", "").await?;
        let done = history::types(&events)
            .iter()
            .filter(|t| **t == EventType::WorkflowTaskCompleted)
            .count();
        if done >= count {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the run did not reach {count} completed workflow tasks")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sticky_worker_that_shuts_down_hands_its_run_to_the_next() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let client = sdk_client(&url, "default").await?;
    let handle = client.get_workflow_handle::<CollectWorkflow>("collector");
    let signal = |value: &str| {
        handle.signal(
            CollectWorkflow::push,
            value.to_string(),
            WorkflowSignalOptions::default(),
        )
    };
    // The first worker takes the first task, then the first signal's on its sticky queue.
    sdk::with_worker(&url, worker_options()?, async {
        client
            .start_workflow(
                CollectWorkflow::run,
                2,
                WorkflowStartOptions::new("sticky-q", "collector").build(),
            )
            .await?;
        completed_tasks(&url, 1).await?;
        signal("first").await?;
        completed_tasks(&url, 2).await
    })
    .await?;
    // It has shut down: the next task goes to its sticky queue, then straight to the
    // normal queue, where a new worker takes it.
    signal("second").await?;
    let result = sdk::with_worker(&url, worker_options()?, async {
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(result, ["first", "second"]);
    let mut raw = raw_client(&url).await?;
    let events = history::fetch(&mut raw, "default", "collector", "").await?;
    let kinds: Vec<i32> = events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(EA::WorkflowTaskScheduledEventAttributes(a)) => {
                Some(a.task_queue.as_ref().map_or(0, |q| q.kind))
            }
            _ => None,
        })
        .collect();
    assert_eq!(kinds[0], TaskQueueKind::Normal as i32);
    assert_eq!(kinds[1], TaskQueueKind::Sticky as i32, "{kinds:?}");
    assert!(
        !history::types(&events).contains(&EventType::WorkflowTaskTimedOut),
        "handed over without a schedule-to-start timeout"
    );
    Ok(())
}
