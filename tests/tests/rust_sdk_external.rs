//! Workflows that signal and cancel other workflows, through the official Rust SDK against a
//! real `keel`: the signal reaches the target, a missing target fails the signal in the
//! sender, a cancellation request cancels the target, and the histories have Temporal's
//! events.

use keel_tests::workflows::CollectWorkflow;
use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_protos::temporal::api::enums::v1::EventType::*;
use temporalio_sdk::{
    SignalWorkflowOptions, TimerResult, WorkerOptions, WorkflowContext, WorkflowResult,
    WorkflowTermination,
};

#[workflow]
#[derive(Default)]
pub struct SleeperWorkflow;

#[workflow_methods]
impl SleeperWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unused: ()) -> WorkflowResult<String> {
        match ctx.timer(Duration::from_secs(300)).await {
            TimerResult::Fired => Ok("slept".into()),
            TimerResult::Cancelled => Err(WorkflowTermination::cancelled()),
        }
    }
}

/// Signals "inbox", then a workflow that does not exist, then asks "sleeper" to cancel;
/// returns what happened to each.
#[workflow]
#[derive(Default)]
pub struct MessengerWorkflow;

#[workflow_methods]
impl MessengerWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unused: ()) -> WorkflowResult<Vec<String>> {
        let mut outcomes = Vec::new();
        for target in ["inbox", "nobody"] {
            let sent = ctx
                .external_workflow(target, None)
                .signal(
                    CollectWorkflow::push,
                    "from the messenger".to_string(),
                    SignalWorkflowOptions::default(),
                )
                .await;
            outcomes.push(match sent {
                Ok(()) => format!("{target}: signaled"),
                Err(_) => format!("{target}: signal failed"),
            });
        }
        let canceled = ctx
            .external_workflow("sleeper", None)
            .cancel(Some("enough".into()))
            .await;
        outcomes.push(match canceled {
            Ok(()) => "sleeper: cancel requested".into(),
            Err(_) => "sleeper: cancel failed".into(),
        });
        Ok(outcomes)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_signals_and_cancels_other_workflows() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new("external-q")
        .register_workflow::<CollectWorkflow>()?
        .register_workflow::<SleeperWorkflow>()?
        .register_workflow::<MessengerWorkflow>()?
        .build();
    let (outcomes, inbox) = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let start = |id: &str| WorkflowStartOptions::new("external-q", id).build();
        let inbox = client
            .start_workflow(CollectWorkflow::run, 1, start("inbox"))
            .await?;
        client
            .start_workflow(SleeperWorkflow::run, (), start("sleeper"))
            .await?;
        let messenger = client
            .start_workflow(MessengerWorkflow::run, (), start("messenger"))
            .await?;
        let outcomes = messenger
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        let inbox = inbox
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        Ok((outcomes, inbox))
    })
    .await?;
    assert_eq!(
        outcomes,
        [
            "inbox: signaled",
            "nobody: signal failed",
            "sleeper: cancel requested"
        ]
    );
    assert_eq!(inbox, ["from the messenger"]);
    let mut raw = raw_client(&url).await?;
    let messenger = history::types(&history::fetch(&mut raw, "default", "messenger", "").await?);
    for expected in [
        SignalExternalWorkflowExecutionInitiated,
        ExternalWorkflowExecutionSignaled,
        SignalExternalWorkflowExecutionFailed,
        RequestCancelExternalWorkflowExecutionInitiated,
        ExternalWorkflowExecutionCancelRequested,
    ] {
        assert!(
            messenger.contains(&expected),
            "{expected:?} in {messenger:?}"
        );
    }
    // The sleeper's worker got the request: the SDK cancels the timer and the workflow.
    let sleeper = history::fetch(&mut raw, "default", "sleeper", "").await?;
    let sleeper = history::types(&sleeper);
    assert!(sleeper.contains(&WorkflowExecutionCancelRequested));
    assert_eq!(sleeper.last(), Some(&WorkflowExecutionCanceled));
    Ok(())
}
