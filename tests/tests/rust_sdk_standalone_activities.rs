//! Standalone activities through the official Rust SDK against a real `keel`: the client
//! starts an activity with no workflow, a Rust worker runs it, the handle gets its result and
//! describes it; list and count find it; an activity nobody runs is cancelled and its handle
//! reports the cancellation.

use futures::StreamExt;
use keel_tests::{sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::errors::ActivityResultError;
use temporalio_client::{
    ActivityCancelOptions, ActivityCountOptions, ActivityDescribeOptions,
    ActivityExecutionInfoLike, ActivityExecutionStatus, ActivityListOptions, ActivityStartOptions,
};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::WorkerOptions;

pub struct Greeter;

#[activities]
impl Greeter {
    #[activity]
    pub async fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("hello {name}"))
    }
}

fn options(queue: &str, id: &str) -> ActivityStartOptions {
    ActivityStartOptions::with_start_to_close_timeout(queue, id, Duration::from_secs(10)).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_activity_runs_on_a_rust_worker_and_is_listed_and_cancelled(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let worker = WorkerOptions::new("standalone-q")
        .register_activities(Greeter)
        .build();
    let (result, described) = sdk::with_worker(&url, worker, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_activity(
                Greeter::greet,
                "rust".to_string(),
                options("standalone-q", "rust-1"),
            )
            .await?;
        let result = tokio::time::timeout(Duration::from_secs(30), handle.result()).await??;
        let described = handle
            .describe(
                ActivityDescribeOptions::builder()
                    .include_outcome(true)
                    .build(),
            )
            .await?;
        Ok((result, described))
    })
    .await?;
    assert_eq!(result, "hello rust");
    assert_eq!(described.status(), ActivityExecutionStatus::Completed);
    assert_eq!(described.activity_type(), "Greeter::greet");
    assert_eq!(described.attempt(), 1);
    assert!(described.close_time().is_some());

    let client = sdk_client(&url, "default").await?;
    let idle = client
        .start_activity(
            Greeter::greet,
            "nobody".to_string(),
            options("nobody-q", "rust-2"),
        )
        .await?;
    let listed: Vec<(String, ActivityExecutionStatus)> = client
        .list_activities("", ActivityListOptions::default())
        .map(|a| {
            let a = a.expect("a listed activity");
            (a.activity_id().to_string(), a.status())
        })
        .collect()
        .await;
    assert_eq!(
        listed,
        vec![
            ("rust-2".to_string(), ActivityExecutionStatus::Running),
            ("rust-1".to_string(), ActivityExecutionStatus::Completed),
        ]
    );
    let running = client
        .count_activities(
            "ExecutionStatus = 'Running'",
            ActivityCountOptions::default(),
        )
        .await?;
    assert_eq!(running.count(), 1);

    idle.cancel(
        ActivityCancelOptions::builder()
            .reason("not needed".to_string())
            .build(),
    )
    .await?;
    match tokio::time::timeout(Duration::from_secs(30), idle.result()).await? {
        Err(ActivityResultError::Cancelled { .. }) => {}
        other => panic!("expected a cancellation, got {other:?}"),
    }
    Ok(())
}
