//! Workflow updates through the official Rust SDK against a real `keel`: updates accepted
//! and completed with their results, one rejected by its validator (no trace in history),
//! then a signal ends the workflow with the total the updates built; update-with-start
//! starts a workflow, then finds it running.

use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use temporalio_client::errors::WorkflowUpdateError;
use temporalio_client::{
    WorkflowExecuteUpdateOptions, WorkflowGetResultOptions, WorkflowIdConflictPolicy,
    WorkflowSignalOptions, WorkflowStartOptions, WorkflowUpdateWithStartOptions,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_protos::temporal::api::enums::v1::EventType;
use temporalio_sdk::{
    SyncWorkflowContext, WorkerOptions, WorkflowContext, WorkflowContextView, WorkflowResult,
};

/// Adds what `add` updates send (zero is refused by the validator) until `finish`.
#[workflow]
#[derive(Default)]
pub struct TallyWorkflow {
    total: u32,
    finished: bool,
}

#[workflow_methods]
impl TallyWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<u32> {
        ctx.wait_condition(|s| s.finished).await?;
        Ok(ctx.state(|s| s.total))
    }

    #[update]
    pub fn add(&mut self, _ctx: &mut SyncWorkflowContext<Self>, n: u32) -> u32 {
        self.total += n;
        self.total
    }

    #[update_validator(add)]
    pub fn validate_add(
        &self,
        _ctx: &WorkflowContextView,
        n: &u32,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if *n == 0 {
            return Err("adding nothing is refused".into());
        }
        Ok(())
    }

    #[signal]
    pub fn finish(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.finished = true;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_are_accepted_rejected_and_completed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new("tally-q")
        .register_workflow::<TallyWorkflow>()?
        .build();
    let (results, rejected, total) = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                TallyWorkflow::run,
                (),
                WorkflowStartOptions::new("tally-q", "tally").build(),
            )
            .await?;
        let first = handle
            .execute_update(
                TallyWorkflow::add,
                5,
                WorkflowExecuteUpdateOptions::default(),
            )
            .await?;
        let rejected = handle
            .execute_update(
                TallyWorkflow::add,
                0,
                WorkflowExecuteUpdateOptions::default(),
            )
            .await;
        let second = handle
            .execute_update(
                TallyWorkflow::add,
                2,
                WorkflowExecuteUpdateOptions::default(),
            )
            .await?;
        handle
            .signal(TallyWorkflow::finish, (), WorkflowSignalOptions::default())
            .await?;
        let total = handle
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        anyhow::Ok(((first, second), rejected, total))
    })
    .await?;
    assert_eq!(results, (5, 7));
    match rejected {
        Err(WorkflowUpdateError::Failed(failure)) => {
            assert!(failure.message.contains("refused"), "{failure:?}")
        }
        other => panic!("the zero update must be rejected: {other:?}"),
    }
    assert_eq!(total, 7);
    let mut raw = raw_client(&url).await?;
    let types = history::types(&history::fetch(&mut raw, "default", "tally", "").await?);
    let count = |t: EventType| types.iter().filter(|x| **x == t).count();
    assert_eq!(
        (
            count(EventType::WorkflowExecutionUpdateAccepted),
            count(EventType::WorkflowExecutionUpdateCompleted)
        ),
        (2, 2),
        "the rejection leaves nothing: {types:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_with_start_starts_then_finds_the_workflow() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new("tally-ws-q")
        .register_workflow::<TallyWorkflow>()?
        .build();
    let (first, second, total) = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let with_start = || {
            WorkflowUpdateWithStartOptions::new(
                "tally-ws-q",
                "tally-ws",
                WorkflowIdConflictPolicy::UseExisting,
            )
            .build()
        };
        let first = client
            .execute_update_with_start_workflow(
                TallyWorkflow::run,
                (),
                TallyWorkflow::add,
                3,
                with_start(),
            )
            .await?;
        let second = client
            .execute_update_with_start_workflow(
                TallyWorkflow::run,
                (),
                TallyWorkflow::add,
                4,
                with_start(),
            )
            .await?;
        let handle = client.get_workflow_handle::<TallyWorkflow>("tally-ws");
        handle
            .signal(TallyWorkflow::finish, (), WorkflowSignalOptions::default())
            .await?;
        let total = handle
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        anyhow::Ok((first, second, total))
    })
    .await?;
    assert_eq!(
        (first, second, total),
        (3, 7, 7),
        "one run took both updates"
    );
    Ok(())
}
