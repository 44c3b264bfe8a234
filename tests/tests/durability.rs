//! Durability: `kill -9` of the server and a restart on the same data directory lose nothing.
//! A workflow waiting on a timer completes after the restart; an activity that was running
//! at the kill times out (its start-to-close timer survived) and the history says so.

use keel_tests::{history, raw_client, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::RetryPolicy;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_protos::temporal::api::enums::v1::EventType::{self, *};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, Runtime, Worker, WorkerOptions, WorkflowContext, WorkflowResult,
};

pub struct SlowActs;

#[activities]
impl SlowActs {
    #[activity]
    pub async fn linger(_ctx: ActivityContext, secs: u64) -> Result<String, ActivityError> {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        Ok("finished".into())
    }
}

#[workflow]
#[derive(Default)]
pub struct TimerWorkflow;

#[workflow_methods]
impl TimerWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, secs: u64) -> WorkflowResult<String> {
        ctx.timer(Duration::from_secs(secs)).await;
        Ok("timer survived".to_string())
    }
}

#[workflow]
#[derive(Default)]
pub struct LingerWorkflow;

#[workflow_methods]
impl LingerWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, secs: u64) -> WorkflowResult<String> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(3))
            .retry_policy(RetryPolicy::builder().maximum_attempts(1).build())
            .build();
        match ctx.execute_activity(SlowActs::linger, secs, options).await {
            Ok(r) => Ok(r),
            Err(e) => Ok(format!("activity failed: {e}")),
        }
    }
}

/// Whether the run's pending activity has been handed to a worker (DescribeWorkflowExecution).
async fn activity_started(
    raw: &mut keel_server::proto::workflowservice::workflow_service_client::WorkflowServiceClient<
        tonic::transport::Channel,
    >,
    wf: &str,
) -> anyhow::Result<bool> {
    use temporalio_protos::temporal::api::{
        common::v1::WorkflowExecution, enums::v1::PendingActivityState,
        workflowservice::v1::DescribeWorkflowExecutionRequest,
    };
    let d = raw
        .describe_workflow_execution(DescribeWorkflowExecutionRequest {
            namespace: "default".into(),
            execution: Some(WorkflowExecution {
                workflow_id: wf.into(),
                run_id: String::new(),
            }),
        })
        .await?
        .into_inner();
    Ok(d.pending_activities
        .iter()
        .any(|a| a.state == PendingActivityState::Started as i32))
}

async fn wait_for_event(keel: &KeelProcess, wf: &str, want: EventType) -> anyhow::Result<()> {
    let mut raw = raw_client(&keel.url()).await?;
    for _ in 0..200 {
        let events = history::fetch(&mut raw, "default", wf, "").await?;
        if history::types(&events).contains(&want)
            && (want != ActivityTaskScheduled || activity_started(&mut raw, wf).await?)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{wf} never reached {want:?}")
}

/// Starts a workflow with a worker, kills Keel with SIGKILL once `$kill_after` is in its
/// history, restarts Keel on the same data directory, and returns the result and the final
/// event types. (A macro because each workflow's handle has its own type.)
macro_rules! through_kill9 {
    ($queue:expr, $wf:expr, $run:expr, $input:expr, $kill_after:expr) => {{
        let dir = tempfile::tempdir()?;
        let mut keel = KeelProcess::start(dir.path())?;
        let url = keel.url();
        let runtime = Runtime::from_current_tokio(Default::default())?;
        let options = WorkerOptions::new($queue)
            .register_workflow::<TimerWorkflow>()?
            .register_workflow::<LingerWorkflow>()?
            .register_activities(SlowActs)
            .build();
        let mut worker = Worker::new(&runtime, sdk_client(&url, "default").await?, options)?;
        let shutdown = worker.shutdown_handle();
        let body = async {
            let client = sdk_client(&url, "default").await?;
            let handle = client
                .start_workflow($run, $input, WorkflowStartOptions::new($queue, $wf).build())
                .await?;
            wait_for_event(&keel, $wf, $kill_after).await?;
            keel.restart_after_kill9()?;
            let result: String = handle
                .get_result(WorkflowGetResultOptions::default())
                .await?;
            let mut raw = raw_client(&url).await?;
            let types = history::types(&history::fetch(&mut raw, "default", $wf, "").await?);
            anyhow::Ok((result, types))
        };
        let (worker_result, outcome) = tokio::join!(worker.run(), async {
            let r = tokio::time::timeout(Duration::from_secs(90), body).await;
            shutdown();
            r
        });
        worker_result?;
        outcome.map_err(|_| anyhow::anyhow!("timed out"))??
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_workflow_survives_kill9_and_restart() -> anyhow::Result<()> {
    let (result, types) = through_kill9!(
        "dur-timer",
        "dur-timer-1",
        TimerWorkflow::run,
        3u64,
        TimerStarted
    );
    assert_eq!(result, "timer survived");
    assert_eq!(
        types,
        vec![
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            TimerStarted,
            TimerFired,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionCompleted,
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_running_at_kill9_times_out_after_restart() -> anyhow::Result<()> {
    // The activity takes 8 s; its start-to-close timeout is 3 s; Keel dies while it runs.
    let (result, types) = through_kill9!(
        "dur-act",
        "dur-act-1",
        LingerWorkflow::run,
        8u64,
        ActivityTaskScheduled
    );
    assert!(result.contains("activity failed"), "{result}");
    assert_eq!(
        types[4..],
        [
            ActivityTaskScheduled,
            ActivityTaskStarted,
            ActivityTaskTimedOut,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionCompleted,
        ]
    );
    Ok(())
}
