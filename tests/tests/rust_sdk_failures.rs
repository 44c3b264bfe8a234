//! The failure paths of "Temporal semantics I" through the official Rust SDK against a real
//! `keel`: a workflow task that fails (a panic) and is retried, an activity nobody polls
//! (schedule-to-start timeout), an activity completed by id from outside the worker, the
//! pending-activity limit and the payload limit. Event sequences are the ones Temporal writes
//! (the same scenarios are compared with Temporal's histories in tests/python).

use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{
    ActivityIdentifier, RpcOptions, WorkflowDescribeOptions, WorkflowGetResultOptions,
    WorkflowStartOptions,
};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_protos::temporal::api::enums::v1::{
    EventType::{self, *},
    PendingActivityState, TimeoutType, WorkflowTaskFailedCause,
};
use temporalio_protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_protos::temporal::api::history::v1::{history_event::Attributes, HistoryEvent};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::workflows::join_all;
use temporalio_sdk::{ActivityOptions, WorkerOptions, WorkflowContext, WorkflowResult};

/// WorkflowExecutionStarted, WorkflowTaskScheduled, WorkflowTaskStarted: the first task.
const FIRST_TASK_HISTORY_LENGTH: u32 = 3;
/// Temporal's default limit of pending activities per run.
const PENDING_ACTIVITIES_LIMIT: usize = 2000;
/// A queue no worker polls.
const NOBODY_POLLS: &str = "nobody-polls";

pub struct Acts;

#[activities]
impl Acts {
    #[activity]
    pub async fn echo(_ctx: ActivityContext, text: String) -> Result<String, ActivityError> {
        Ok(text)
    }

    #[activity]
    pub async fn completes_later(
        _ctx: ActivityContext,
        _unit: (),
    ) -> Result<String, ActivityError> {
        Err(ActivityError::WillCompleteAsync)
    }
}

#[workflow]
#[derive(Default)]
pub struct PanicOnFirstTaskWorkflow;

#[workflow_methods]
impl PanicOnFirstTaskWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<String> {
        if ctx.history_length() <= FIRST_TASK_HISTORY_LENGTH {
            panic!("a bug in the first workflow task");
        }
        Ok("second task succeeded".into())
    }
}

#[workflow]
#[derive(Default)]
pub struct UnpolledActivityWorkflow;

#[workflow_methods]
impl UnpolledActivityWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, text: String) -> WorkflowResult<String> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .task_queue(NOBODY_POLLS.to_string())
            .schedule_to_start_timeout(Duration::from_secs(1))
            .build();
        match ctx.execute_activity(Acts::echo, text, options).await {
            Ok(_) => Ok("the activity ran?".into()),
            Err(e) => Ok(format!("{e:?}")),
        }
    }
}

#[workflow]
#[derive(Default)]
pub struct CompletedByIdWorkflow;

#[workflow_methods]
impl CompletedByIdWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<String> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
            .activity_id("external".to_string())
            .build();
        Ok(ctx
            .execute_activity(Acts::completes_later, (), options)
            .await?)
    }
}

#[workflow]
#[derive(Default)]
pub struct TooManyActivitiesWorkflow;

#[workflow_methods]
impl TooManyActivitiesWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<String> {
        if ctx.history_length() <= FIRST_TASK_HISTORY_LENGTH {
            let options = || {
                ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
                    .task_queue(NOBODY_POLLS.to_string())
                    .build()
            };
            let all = (0..=PENDING_ACTIVITIES_LIMIT)
                .map(|i| ctx.execute_activity(Acts::echo, i.to_string(), options()));
            join_all(all).await;
        }
        Ok("retried task scheduled nothing".into())
    }
}

async fn with_worker<F, T>(url: &str, queue: &str, body: F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let options = WorkerOptions::new(queue)
        .register_workflow::<PanicOnFirstTaskWorkflow>()?
        .register_workflow::<UnpolledActivityWorkflow>()?
        .register_workflow::<CompletedByIdWorkflow>()?
        .register_workflow::<TooManyActivitiesWorkflow>()?
        .register_activities(Acts)
        .build();
    sdk::with_worker(url, options, body).await
}

async fn events(keel: &KeelProcess, wf: &str) -> anyhow::Result<Vec<HistoryEvent>> {
    let mut raw = raw_client(&keel.url()).await?;
    history::fetch(&mut raw, "default", wf, "").await
}

/// The cause of the one WorkflowTaskFailed event in a history.
fn task_failed_cause(events: &[HistoryEvent]) -> Option<i32> {
    let mut causes = events.iter().filter_map(|e| match &e.attributes {
        Some(Attributes::WorkflowTaskFailedEventAttributes(a)) => Some(a.cause),
        _ => None,
    });
    let cause = causes.next();
    assert!(causes.next().is_none(), "one failure in history");
    cause
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_workflow_task_is_failed_then_retried_and_recorded_once() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let result = with_worker(&url, "panic-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                PanicOnFirstTaskWorkflow::run,
                (),
                WorkflowStartOptions::new("panic-q", "panic-1").build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(result, "second task succeeded");
    let events = events(&keel, "panic-1").await?;
    assert_eq!(
        history::types(&events),
        vec![
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskFailed,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionCompleted,
        ]
    );
    assert_eq!(
        task_failed_cause(&events),
        Some(WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure as i32)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_nobody_polls_times_out_schedule_to_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let outcome = with_worker(&url, "unpolled-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                UnpolledActivityWorkflow::run,
                "x".to_string(),
                WorkflowStartOptions::new("unpolled-q", "unpolled-1").build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert!(outcome.contains("ScheduleToStart"), "{outcome}");
    let events = events(&keel, "unpolled-1").await?;
    // Schedule-to-start timeouts are not retried, and no ActivityTaskStarted is written.
    assert_eq!(
        history::types(&events)[4..6],
        [ActivityTaskScheduled, ActivityTaskTimedOut]
    );
    let Some(Attributes::ActivityTaskTimedOutEventAttributes(timed_out)) = &events[5].attributes
    else {
        anyhow::bail!("no timeout attributes: {:?}", events[5]);
    };
    let failure = timed_out.failure.clone().unwrap_or_default();
    let Some(FailureInfo::TimeoutFailureInfo(info)) = &failure.failure_info else {
        anyhow::bail!("not a timeout failure: {failure:?}");
    };
    assert_eq!(info.timeout_type, TimeoutType::ScheduleToStart as i32);
    assert_eq!(failure.message, "activity ScheduleToStart timeout");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_is_heartbeated_and_completed_by_id_from_outside_the_worker(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let result = with_worker(&url, "by-id-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                CompletedByIdWorkflow::run,
                (),
                WorkflowStartOptions::new("by-id-q", "by-id-1").build(),
            )
            .await?;
        // Wait until the worker holds the activity (started, not completed).
        for _ in 0..200 {
            let described = handle.describe(WorkflowDescribeOptions::default()).await?;
            let started = described
                .raw_description
                .pending_activities
                .first()
                .is_some_and(|a| a.state == PendingActivityState::Started as i32);
            if started {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let outside = client.get_async_activity_handle(ActivityIdentifier::by_id_workflow(
            "by-id-1", "", "external",
        ));
        outside
            .heartbeat(Some("halfway".to_string()), RpcOptions::default())
            .await?;
        outside
            .complete(Some("done by id".to_string()), RpcOptions::default())
            .await?;
        // A second completion finds nothing to complete.
        let again = outside
            .complete(Some("twice".to_string()), RpcOptions::default())
            .await;
        assert!(again.is_err(), "completed twice: {again:?}");
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(result, "done by id");
    assert_eq!(
        history::types(&events(&keel, "by-id-1").await?)[4..7],
        [
            ActivityTaskScheduled,
            ActivityTaskStarted,
            ActivityTaskCompleted
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_activity_past_the_pending_limit_fails_the_workflow_task() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let result = with_worker(&url, "limit-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                TooManyActivitiesWorkflow::run,
                (),
                WorkflowStartOptions::new("limit-q", "limit-1").build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(result, "retried task scheduled nothing");
    let events = events(&keel, "limit-1").await?;
    assert_eq!(
        task_failed_cause(&events),
        Some(WorkflowTaskFailedCause::PendingActivitiesLimitExceeded as i32)
    );
    assert!(!history::types(&events).contains(&EventType::ActivityTaskScheduled));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_over_two_megabytes_is_refused_and_nothing_is_written() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let client = sdk_client(&keel.url(), "default").await?;
    let too_big = "x".repeat(2 * 1024 * 1024 + 1);
    let refused = client
        .start_workflow(
            UnpolledActivityWorkflow::run,
            too_big,
            WorkflowStartOptions::new("nobody", "big-1").build(),
        )
        .await;
    let message = format!("{:?}", refused.err());
    assert!(message.contains("InvalidArgument"), "{message}");
    let mut raw = raw_client(&keel.url()).await?;
    let missing = history::fetch(&mut raw, "default", "big-1", "").await;
    let status = missing
        .err()
        .and_then(|e| e.downcast::<tonic::Status>().ok())
        .map(|s| s.code());
    assert_eq!(status, Some(tonic::Code::NotFound));
    Ok(())
}
