//! Prints (does not assert) the time from process start to serving with 10,000 completed
//! workflows in the data directory.

use keel_tests::{raw_client, KeelProcess};
use std::time::Instant;
use temporalio_protos::temporal::api::{
    command::v1::{command::Attributes, Command, CompleteWorkflowExecutionCommandAttributes},
    common::v1::WorkflowType,
    enums::v1::CommandType,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::*,
};

const WORKFLOWS: usize = 10_000;
const CONCURRENCY: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_time_with_ten_thousand_completed_workflows() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut keel = KeelProcess::start(dir.path())?;
    println!("start-up on an empty data dir: {:?}", keel.startup);
    let url = keel.url();
    let began = Instant::now();
    let mut lanes = Vec::new();
    for lane in 0..CONCURRENCY {
        let url = url.clone();
        lanes.push(tokio::spawn(async move {
            let mut c = raw_client(&url).await?;
            let queue = format!("startup-q-{lane}");
            for i in (lane..WORKFLOWS).step_by(CONCURRENCY) {
                c.start_workflow_execution(StartWorkflowExecutionRequest {
                    namespace: "default".into(),
                    workflow_id: format!("startup-{i}"),
                    workflow_type: Some(WorkflowType {
                        name: "Nothing".into(),
                    }),
                    task_queue: Some(TaskQueue {
                        name: queue.clone(),
                        ..Default::default()
                    }),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    ..Default::default()
                })
                .await?;
                let task = c
                    .poll_workflow_task_queue(PollWorkflowTaskQueueRequest {
                        namespace: "default".into(),
                        task_queue: Some(TaskQueue {
                            name: queue.clone(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                anyhow::ensure!(!task.task_token.is_empty(), "a task for workflow {i}");
                c.respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest {
                    task_token: task.task_token,
                    namespace: "default".into(),
                    commands: vec![Command {
                        command_type: CommandType::CompleteWorkflowExecution as i32,
                        attributes: Some(Attributes::CompleteWorkflowExecutionCommandAttributes(
                            CompleteWorkflowExecutionCommandAttributes::default(),
                        )),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .await?;
            }
            anyhow::Ok(())
        }));
    }
    for lane in lanes {
        lane.await??;
    }
    let elapsed = began.elapsed();
    println!(
        "completed {WORKFLOWS} workflows in {elapsed:?} ({:.0} workflows/s over raw gRPC, {CONCURRENCY} in flight)",
        WORKFLOWS as f64 / elapsed.as_secs_f64()
    );
    keel.restart_after_kill9()?;
    println!(
        "start-up with {WORKFLOWS} completed workflows (after kill -9): {:?}",
        keel.startup
    );
    let mut c = raw_client(&keel.url()).await?;
    c.get_system_info(GetSystemInfoRequest::default()).await?;
    Ok(())
}
