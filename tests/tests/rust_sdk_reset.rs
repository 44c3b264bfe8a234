//! Reset and retention through the official Rust SDK against a real `keel`: a workflow that
//! collected two signals is reset to its first workflow task and its new run collects them
//! again (reapplied); a closed run is deleted once its namespace's retention period is over
//! (the test build `keel-test`, its clock moved a day ahead).

use keel_tests::workflows::CollectWorkflow;
use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowSignalOptions, WorkflowStartOptions};
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::{EventType, WorkflowTaskFailedCause},
    history::v1::history_event::Attributes,
    workflowservice::v1::{DescribeWorkflowExecutionRequest, ResetWorkflowExecutionRequest},
};
use temporalio_sdk::WorkerOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_workflow_runs_again_with_its_signals() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new("reset-q")
        .register_workflow::<CollectWorkflow>()?
        .build();
    let (first, again, base_run, started_id) = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                CollectWorkflow::run,
                2,
                WorkflowStartOptions::new("reset-q", "collector").build(),
            )
            .await?;
        for value in ["a", "b"] {
            handle
                .signal(
                    CollectWorkflow::push,
                    value.to_string(),
                    WorkflowSignalOptions::default(),
                )
                .await?;
        }
        let first = handle
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        let mut raw = raw_client(&url).await?;
        let base_events = history::fetch(&mut raw, "default", "collector", "").await?;
        let base_run = base_events[0]
            .attributes
            .as_ref()
            .and_then(|a| match a {
                Attributes::WorkflowExecutionStartedEventAttributes(s) => {
                    Some(s.original_execution_run_id.clone())
                }
                _ => None,
            })
            .unwrap_or_default();
        // The first workflow task's completion (a signal may come before or after that task
        // starts, so its event ids are read, not assumed) and the task's started event.
        let (completed_id, started_id) = base_events
            .iter()
            .find_map(|e| match &e.attributes {
                Some(Attributes::WorkflowTaskCompletedEventAttributes(a)) => {
                    Some((e.event_id, a.started_event_id))
                }
                _ => None,
            })
            .expect("a completed first workflow task");
        raw.reset_workflow_execution(ResetWorkflowExecutionRequest {
            namespace: "default".into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: "collector".into(),
                run_id: base_run.clone(),
            }),
            reason: "again".into(),
            workflow_task_finish_event_id: completed_id,
            request_id: "reset-1".into(),
            ..Default::default()
        })
        .await?;
        // The handle names no run: it follows the workflow id to the new, current run.
        let again = client
            .get_workflow_handle::<CollectWorkflow>("collector")
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        anyhow::Ok((first, again, base_run, started_id))
    })
    .await?;
    assert_eq!(first, ["a", "b"]);
    assert_eq!(again, first, "the signals were reapplied to the new run");
    let mut raw = raw_client(&url).await?;
    let events = history::fetch(&mut raw, "default", "collector", "").await?;
    let reset = events
        .iter()
        .find_map(|e| match &e.attributes {
            Some(Attributes::WorkflowTaskFailedEventAttributes(a)) => Some(a.clone()),
            _ => None,
        })
        .expect("the new run's reset WorkflowTaskFailed");
    assert_eq!(reset.cause, WorkflowTaskFailedCause::ResetWorkflow as i32);
    assert_eq!(reset.base_run_id, base_run);
    // The new run copied the events through that task's start, then failed the task.
    assert_eq!(
        events[started_id as usize].event_type,
        EventType::WorkflowTaskFailed as i32
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_run_is_deleted_after_the_retention_period() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start_with_test_clock(dir.path())?;
    let url = keel.url();
    let options = WorkerOptions::new("retention-q")
        .register_workflow::<CollectWorkflow>()?
        .build();
    sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                CollectWorkflow::run,
                0,
                WorkflowStartOptions::new("retention-q", "short-lived").build(),
            )
            .await?;
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        anyhow::Ok(())
    })
    .await?;
    let mut raw = raw_client(&url).await?;
    let describe = DescribeWorkflowExecutionRequest {
        namespace: "default".into(),
        execution: Some(WorkflowExecution {
            workflow_id: "short-lived".into(),
            run_id: String::new(),
        }),
    };
    raw.describe_workflow_execution(describe.clone()).await?;
    // The default namespace keeps closed runs one day (Temporal's minimum).
    keel.set_clock_offset(Duration::from_secs(25 * 3600))?;
    let mut gone = None;
    for _ in 0..100 {
        match raw.describe_workflow_execution(describe.clone()).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(status) => {
                gone = Some(status.code());
                break;
            }
        }
    }
    assert_eq!(gone, Some(tonic::Code::NotFound));
    Ok(())
}
