//! The official Rust SDK's worker under PauseActivity and UnpauseActivity against a real
//! `keel` process: the running attempt learns of the pause through its heartbeat (the SDK
//! cancels it), its retry waits while paused, and the unpause runs the next attempt.

use keel_tests::{raw_client, sdk, sdk_client, KeelProcess};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::RetryPolicy;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::PendingActivityState,
    workflow::v1::PendingActivityInfo,
    workflowservice::v1::{
        pause_activity_request, unpause_activity_request, DescribeWorkflowExecutionRequest,
        PauseActivityRequest, UnpauseActivityRequest,
    },
};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, ApplicationFailure, WorkerOptions, WorkflowContext, WorkflowResult,
};

/// Set when the first attempt saw its cancellation (the pause, told by a heartbeat).
static FIRST_ATTEMPT_CANCELLED: AtomicBool = AtomicBool::new(false);

pub struct PauseActs;

fn failure(message: String) -> ActivityError {
    ActivityError::Application(Box::new(ApplicationFailure::new(message)))
}

#[activities]
impl PauseActs {
    /// Attempt 1 heartbeats until it is cancelled, then fails; later attempts return their
    /// attempt number at once.
    #[activity]
    pub async fn work_until_paused(ctx: ActivityContext, _unit: ()) -> Result<u32, ActivityError> {
        let attempt = ctx.info().attempt;
        if attempt > 1 {
            return Ok(attempt);
        }
        for _ in 0..300 {
            ctx.record_heartbeat("working".to_string())
                .await
                .map_err(|e| failure(e.to_string()))?;
            tokio::select! {
                _ = ctx.cancelled() => {
                    FIRST_ATTEMPT_CANCELLED.store(true, Ordering::SeqCst);
                    return Err(failure("stopped: the activity was paused".into()));
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        Ok(0)
    }
}

#[workflow]
#[derive(Default)]
pub struct PausedActivityWorkflow;

#[workflow_methods]
impl PausedActivityWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<u32> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60))
            .heartbeat_timeout(Duration::from_secs(2))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .build(),
            )
            .build();
        Ok(ctx
            .execute_activity(PauseActs::work_until_paused, (), options)
            .await?)
    }
}

async fn pending(url: &str, workflow_id: &str) -> anyhow::Result<Option<PendingActivityInfo>> {
    let mut raw = raw_client(url).await?;
    let described = raw
        .describe_workflow_execution(DescribeWorkflowExecutionRequest {
            namespace: "default".into(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: String::new(),
            }),
        })
        .await?
        .into_inner();
    Ok(described.pending_activities.into_iter().next())
}

/// The pending activity once it is in `state`, within 20 s.
async fn until_state(
    url: &str,
    workflow_id: &str,
    state: PendingActivityState,
) -> anyhow::Result<PendingActivityInfo> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(info) = pending(url, workflow_id).await? {
            if info.state == state as i32 {
                return Ok(info);
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the activity never reached {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_activity_is_cancelled_waits_and_runs_again_once_unpaused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let workflow_id = "paused-activity-1";
    let execution = Some(WorkflowExecution {
        workflow_id: workflow_id.into(),
        run_id: String::new(),
    });
    let options = WorkerOptions::new("pause-q")
        .register_workflow::<PausedActivityWorkflow>()?
        .register_activities(PauseActs)
        .build();
    let result = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                PausedActivityWorkflow::run,
                (),
                WorkflowStartOptions::new("pause-q", workflow_id).build(),
            )
            .await?;
        let running = until_state(&url, workflow_id, PendingActivityState::Started).await?;
        let mut raw = raw_client(&url).await?;
        raw.pause_activity(PauseActivityRequest {
            namespace: "default".into(),
            execution: execution.clone(),
            identity: "operator".into(),
            reason: "rust sdk test".into(),
            request_id: "pause-1".into(),
            activity: Some(pause_activity_request::Activity::Id(
                running.activity_id.clone(),
            )),
        })
        .await?;
        let paused = until_state(&url, workflow_id, PendingActivityState::Paused).await?;
        assert_eq!(
            paused.attempt, 2,
            "the failed attempt counted, the next one waits"
        );
        assert!(FIRST_ATTEMPT_CANCELLED.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(1500)).await; // past the 1 s backoff
        let still = pending(&url, workflow_id).await?.expect("still pending");
        assert_eq!(still.state, PendingActivityState::Paused as i32);
        raw.unpause_activity(UnpauseActivityRequest {
            namespace: "default".into(),
            execution: execution.clone(),
            activity: Some(unpause_activity_request::Activity::Id(running.activity_id)),
            ..Default::default()
        })
        .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(result, 2);
    Ok(())
}
