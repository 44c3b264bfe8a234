//! Priorities through the official Rust SDK against a real `keel`: a workflow started with a
//! priority runs an activity that sets only its priority key and a child that sets none; the
//! activity's task carries its own priority (as Temporal's), the child's run inherits the
//! parent's, and both are in the histories as Temporal writes them.

use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::Priority;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_protos::temporal::api::common::v1::Priority as PriorityProto;
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, ChildWorkflowOptions, WorkerOptions, WorkflowContext, WorkflowResult,
};

pub struct PriorityActs;

#[activities]
impl PriorityActs {
    /// The priority of its task, as "key/fairness key/weight".
    #[activity]
    pub async fn own_priority(ctx: ActivityContext, _unit: ()) -> Result<String, ActivityError> {
        let p = &ctx.info().priority;
        Ok(format!(
            "{}/{}/{}",
            p.priority_key.unwrap_or(0),
            p.fairness_key.clone().unwrap_or_default(),
            p.fairness_weight.unwrap_or(0.0)
        ))
    }
}

#[workflow]
#[derive(Default)]
pub struct QuietChild;

#[workflow_methods]
impl QuietChild {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<()> {
        Ok(())
    }
}

#[workflow]
#[derive(Default)]
pub struct PrioritisedParent;

#[workflow_methods]
impl PrioritisedParent {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<String> {
        let child = ChildWorkflowOptions::builder()
            .workflow_id("prioritised-parent-child".to_string())
            .build();
        let started = match ctx.start_child_workflow(QuietChild::run, (), child).await {
            Ok(started) => started,
            Err(e) => return Ok(format!("child did not start: {e:?}")),
        };
        if let Err(e) = started.result().await {
            return Ok(format!("child failed: {e:?}"));
        }
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
            .priority(Priority::builder().priority_key(4).build())
            .build();
        Ok(ctx
            .execute_activity(PriorityActs::own_priority, (), options)
            .await?)
    }
}

fn started_priority(
    events: &[temporalio_protos::temporal::api::history::v1::HistoryEvent],
) -> Option<PriorityProto> {
    match events.first().and_then(|e| e.attributes.clone()) {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => a.priority,
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_and_a_child_inherit_the_fields_they_leave_unset() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new("priority-q")
        .register_workflow::<PrioritisedParent>()?
        .register_workflow::<QuietChild>()?
        .register_activities(PriorityActs)
        .build();
    let priority = Priority::builder()
        .priority_key(2)
        .fairness_key("rust")
        .fairness_weight(1.5)
        .build();
    let seen = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                PrioritisedParent::run,
                (),
                WorkflowStartOptions::new("priority-q", "prioritised-parent")
                    .priority(priority)
                    .build(),
            )
            .await?;
        Ok(handle
            .get_result(WorkflowGetResultOptions::default())
            .await?)
    })
    .await?;
    assert_eq!(
        seen, "4//0",
        "the task carries the activity's own priority, as Temporal's"
    );
    let mut raw = raw_client(&url).await?;
    let parent = history::fetch(&mut raw, "default", "prioritised-parent", "").await?;
    let run = PriorityProto {
        priority_key: 2,
        fairness_key: "rust".into(),
        fairness_weight: 1.5,
    };
    assert_eq!(started_priority(&parent), Some(run.clone()));
    let child = history::fetch(&mut raw, "default", "prioritised-parent-child", "").await?;
    assert_eq!(started_priority(&child), Some(run));
    let scheduled = parent.iter().find_map(|e| match &e.attributes {
        Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => a.priority.clone(),
        _ => None,
    });
    assert_eq!(
        scheduled.map(|p| p.priority_key),
        Some(4),
        "the command's own priority"
    );
    Ok(())
}
