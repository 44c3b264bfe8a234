//! The official Rust SDK (`temporalio-sdk` workers, `temporalio-client`) against a real
//! `keel` process: activities, timers, failing activities, failing workflows, with the
//! histories Temporal writes.

use keel_tests::workflows::CollectWorkflow;
use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::{Duration, Instant};
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{
    WorkflowCancelOptions, WorkflowGetResultOptions, WorkflowQueryOptions, WorkflowSignalOptions,
    WorkflowStartOptions, WorkflowTerminateOptions,
};
use temporalio_common::RetryPolicy;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_protos::temporal::api::enums::v1::EventType::{self, *};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, ApplicationFailure, WorkerOptions, WorkflowContext, WorkflowResult,
    WorkflowTermination,
};

pub struct Acts;

#[activities]
impl Acts {
    #[activity]
    pub async fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }

    #[activity]
    pub async fn third_time_lucky(ctx: ActivityContext, _unit: ()) -> Result<u32, ActivityError> {
        let attempt = ctx.info().attempt;
        if attempt < 3 {
            return Err(ActivityError::Application(Box::new(
                ApplicationFailure::new(format!("attempt {attempt} failed")),
            )));
        }
        Ok(attempt)
    }

    #[activity]
    pub async fn sleep_silently(_ctx: ActivityContext, secs: u64) -> Result<(), ActivityError> {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        Ok(())
    }

    #[activity]
    pub async fn explode(_ctx: ActivityContext, what: String) -> Result<String, ActivityError> {
        Err(ActivityError::Application(Box::new(
            ApplicationFailure::new(format!("{what} exploded")),
        )))
    }
}

#[workflow]
#[derive(Default)]
pub struct GreetWorkflow;

#[workflow_methods]
impl GreetWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let greeting = ctx
            .execute_activity(
                Acts::greet,
                name,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(greeting)
    }
}

#[workflow]
#[derive(Default)]
pub struct SleepWorkflow;

#[workflow_methods]
impl SleepWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, secs: u64) -> WorkflowResult<String> {
        ctx.timer(Duration::from_secs(secs)).await;
        Ok("woke".to_string())
    }
}

#[workflow]
#[derive(Default)]
pub struct ExplodeWorkflow;

#[workflow_methods]
impl ExplodeWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, what: String) -> WorkflowResult<String> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .retry_policy(RetryPolicy::builder().maximum_attempts(1).build())
            .build();
        let r = ctx.execute_activity(Acts::explode, what, options).await?;
        Ok(r)
    }
}

#[workflow]
#[derive(Default)]
pub struct RetryWorkflow;

#[workflow_methods]
impl RetryWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<u32> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(100))
                    .maximum_attempts(5)
                    .build(),
            )
            .build();
        Ok(ctx
            .execute_activity(Acts::third_time_lucky, (), options)
            .await?)
    }
}

#[workflow]
#[derive(Default)]
pub struct FlakyWorkflow;

#[workflow_methods]
impl FlakyWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<u32> {
        let attempt = ctx.info().attempt();
        if attempt < 2 {
            return Err(WorkflowTermination::failed_application(
                ApplicationFailure::new(format!("run attempt {attempt} failed")),
            ));
        }
        Ok(attempt)
    }
}

#[workflow]
#[derive(Default)]
pub struct SilentActivityWorkflow;

#[workflow_methods]
impl SilentActivityWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<String> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
            .heartbeat_timeout(Duration::from_secs(1))
            .retry_policy(RetryPolicy::builder().maximum_attempts(1).build())
            .build();
        match ctx
            .execute_activity(Acts::sleep_silently, 4u64, options)
            .await
        {
            Ok(()) => Ok("finished?".into()),
            Err(e) => Ok(format!("{e:?}")),
        }
    }
}

#[workflow]
#[derive(Default)]
pub struct FailWorkflow;

#[workflow_methods]
impl FailWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, why: String) -> WorkflowResult<String> {
        Err(WorkflowTermination::failed_application(
            ApplicationFailure::non_retryable(why),
        ))
    }
}

/// Runs a worker for every workflow of this file on `queue` while `body` runs.
async fn with_worker<F, T>(url: &str, queue: &str, body: F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let options = WorkerOptions::new(queue)
        .register_workflow::<GreetWorkflow>()?
        .register_workflow::<SleepWorkflow>()?
        .register_workflow::<ExplodeWorkflow>()?
        .register_workflow::<FailWorkflow>()?
        .register_workflow::<CollectWorkflow>()?
        .register_workflow::<RetryWorkflow>()?
        .register_workflow::<FlakyWorkflow>()?
        .register_workflow::<SilentActivityWorkflow>()?
        .register_activities(Acts)
        .build();
    sdk::with_worker(url, options, body).await
}

async fn event_types(keel: &KeelProcess, wf: &str) -> anyhow::Result<Vec<EventType>> {
    let mut raw = raw_client(&keel.url()).await?;
    Ok(history::types(
        &history::fetch(&mut raw, "default", wf, "").await?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_runs_one_activity_and_returns_its_result() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let result = with_worker(&url, "greet-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                GreetWorkflow::run,
                "Keel".to_string(),
                WorkflowStartOptions::new("greet-q", "greet-1").build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(result, "Hello, Keel!");
    assert_eq!(
        event_types(&keel, "greet-1").await?,
        vec![
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            ActivityTaskScheduled,
            ActivityTaskStarted,
            ActivityTaskCompleted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionCompleted,
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_sleeps_on_a_two_second_timer() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let began = Instant::now();
    let result = with_worker(&url, "sleep-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                SleepWorkflow::run,
                2u64,
                WorkflowStartOptions::new("sleep-q", "sleep-1").build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(result, "woke");
    assert!(
        began.elapsed() >= Duration::from_secs(2),
        "a timer never fires early"
    );
    assert_eq!(
        event_types(&keel, "sleep-1").await?,
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
async fn failing_activity_fails_the_workflow_with_that_failure() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let outcome = with_worker(&url, "explode-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                ExplodeWorkflow::run,
                "boiler".to_string(),
                WorkflowStartOptions::new("explode-q", "explode-1").build(),
            )
            .await?;
        Ok(handle.get_result(WorkflowGetResultOptions::default()).await)
    })
    .await?;
    match outcome {
        Err(WorkflowGetResultError::Failed(f)) => {
            let text = format!("{f:?}");
            assert!(
                text.contains("boiler exploded"),
                "the activity's failure reaches the caller: {text}"
            );
        }
        other => panic!("expected a failed workflow, got {other:?}"),
    }
    let types = event_types(&keel, "explode-1").await?;
    assert_eq!(
        types[4..7],
        [
            ActivityTaskScheduled,
            ActivityTaskStarted,
            ActivityTaskFailed
        ]
    );
    assert_eq!(types.last(), Some(&WorkflowExecutionFailed));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_that_fails_itself_is_failed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let outcome = with_worker(&url, "fail-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                FailWorkflow::run,
                "on purpose".to_string(),
                WorkflowStartOptions::new("fail-q", "fail-1").build(),
            )
            .await?;
        Ok(handle.get_result(WorkflowGetResultOptions::default()).await)
    })
    .await?;
    match outcome {
        Err(WorkflowGetResultError::Failed(f)) => assert!(format!("{f:?}").contains("on purpose")),
        other => panic!("expected a failed workflow, got {other:?}"),
    }
    assert_eq!(
        event_types(&keel, "fail-1").await?,
        vec![
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionFailed
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_reach_the_workflow_in_order_and_queries_see_them() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let result = with_worker(&url, "collect-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                CollectWorkflow::run,
                2,
                WorkflowStartOptions::new("collect-q", "collect-1").build(),
            )
            .await?;
        let push = |v: &str| {
            handle.signal(
                CollectWorkflow::push,
                v.to_string(),
                WorkflowSignalOptions::default(),
            )
        };
        push("first").await?;
        let seen = handle
            .query(
                CollectWorkflow::current,
                (),
                WorkflowQueryOptions::default(),
            )
            .await?;
        assert_eq!(
            seen,
            vec!["first".to_string()],
            "a query sees the signals sent before it"
        );
        push("second").await?;
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        let after = handle
            .query(
                CollectWorkflow::current,
                (),
                WorkflowQueryOptions::default(),
            )
            .await?;
        assert_eq!(after, result, "a closed workflow answers queries by replay");
        Ok(result)
    })
    .await?;
    assert_eq!(result, vec!["first".to_string(), "second".to_string()]);
    let types = event_types(&keel, "collect-1").await?;
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == WorkflowExecutionSignaled)
            .count(),
        2
    );
    assert_eq!(types.last(), Some(&WorkflowExecutionCompleted));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_terminate_close_waiting_workflows() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let (canceled, terminated) = with_worker(&url, "stop-q", async {
        let client = sdk_client(&url, "default").await?;
        let a = client
            .start_workflow(
                CollectWorkflow::run,
                5,
                WorkflowStartOptions::new("stop-q", "cancel-me").build(),
            )
            .await?;
        let b = client
            .start_workflow(
                CollectWorkflow::run,
                5,
                WorkflowStartOptions::new("stop-q", "terminate-me").build(),
            )
            .await?;
        a.cancel(
            WorkflowCancelOptions::builder()
                .reason("no longer needed")
                .build(),
        )
        .await?;
        b.terminate(
            WorkflowTerminateOptions::builder()
                .reason("stop now")
                .build(),
        )
        .await?;
        Ok((
            a.get_result(WorkflowGetResultOptions::default()).await,
            b.get_result(WorkflowGetResultOptions::default()).await,
        ))
    })
    .await?;
    assert!(
        matches!(canceled, Err(WorkflowGetResultError::Cancelled { .. })),
        "{canceled:?}"
    );
    assert!(
        matches!(terminated, Err(WorkflowGetResultError::Terminated { .. })),
        "{terminated:?}"
    );
    assert_eq!(
        event_types(&keel, "cancel-me").await?.last(),
        Some(&WorkflowExecutionCanceled)
    );
    assert_eq!(
        event_types(&keel, "terminate-me").await?.last(),
        Some(&WorkflowExecutionTerminated)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_retries_until_it_succeeds_without_writing_the_failed_attempts(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let attempts = with_worker(&url, "retry-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                RetryWorkflow::run,
                (),
                WorkflowStartOptions::new("retry-q", "retry-1").build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(attempts, 3);
    let mut raw = raw_client(&url).await?;
    let events = history::fetch(&mut raw, "default", "retry-1", "").await?;
    assert_eq!(
        history::types(&events)[4..7],
        [
            ActivityTaskScheduled,
            ActivityTaskStarted,
            ActivityTaskCompleted
        ],
        "failed attempts leave no events"
    );
    use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
    match &events[5].attributes {
        Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
            assert_eq!(a.attempt, 3);
            assert!(a
                .last_failure
                .as_ref()
                .unwrap()
                .message
                .contains("attempt 2 failed"));
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_retry_policy_continues_in_a_new_run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let attempt = with_worker(&url, "flaky-q", async {
        let client = sdk_client(&url, "default").await?;
        let options = WorkflowStartOptions::new("flaky-q", "flaky-1")
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_millis(200))
                    .maximum_attempts(3)
                    .build(),
            )
            .build();
        let handle = client
            .start_workflow(FlakyWorkflow::run, (), options)
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(attempt, 2, "the result comes from the retried run");
    assert_eq!(
        event_types(&keel, "flaky-1").await?,
        vec![
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionCompleted,
        ],
        "the current run is the retry"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_that_stops_heartbeating_times_out() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let outcome = with_worker(&url, "silent-q", async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                SilentActivityWorkflow::run,
                (),
                WorkflowStartOptions::new("silent-q", "silent-1").build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert!(outcome.to_lowercase().contains("heartbeat"), "{outcome}");
    let types = event_types(&keel, "silent-1").await?;
    assert_eq!(
        types[4..7],
        [
            ActivityTaskScheduled,
            ActivityTaskStarted,
            ActivityTaskTimedOut
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_id_conflict_and_reuse_policies() -> anyhow::Result<()> {
    use temporalio_client::errors::WorkflowStartError;
    use temporalio_client::{WorkflowIdConflictPolicy, WorkflowIdReusePolicy};
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    with_worker(&url, "ids-q", async {
        let client = sdk_client(&url, "default").await?;
        let opts = || WorkflowStartOptions::new("ids-q", "ids-1");
        let first = client
            .start_workflow(CollectWorkflow::run, 1, opts().build())
            .await?;
        let again = client
            .start_workflow(CollectWorkflow::run, 1, opts().build())
            .await;
        assert!(
            matches!(again, Err(WorkflowStartError::AlreadyStarted { .. })),
            "again must be rejected as already started"
        );
        let existing = client
            .start_workflow(
                CollectWorkflow::run,
                1,
                opts()
                    .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
                    .build(),
            )
            .await?;
        assert_eq!(existing.run_id(), first.run_id());
        first
            .signal(
                CollectWorkflow::push,
                "x".to_string(),
                WorkflowSignalOptions::default(),
            )
            .await?;
        first
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        let rejected = client
            .start_workflow(
                CollectWorkflow::run,
                1,
                opts()
                    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
                    .build(),
            )
            .await;
        assert!(
            matches!(rejected, Err(WorkflowStartError::AlreadyStarted { .. })),
            "rejected must be rejected as already started"
        );
        let second = client
            .start_workflow(CollectWorkflow::run, 1, opts().build())
            .await?;
        assert_ne!(second.run_id(), first.run_id());
        let third = client
            .start_workflow(
                CollectWorkflow::run,
                1,
                opts()
                    .id_conflict_policy(WorkflowIdConflictPolicy::TerminateExisting)
                    .build(),
            )
            .await?;
        assert_ne!(third.run_id(), second.run_id());
        third.terminate(WorkflowTerminateOptions::default()).await?;
        Ok(())
    })
    .await
}
