//! Bad input gets the right gRPC code and a clear message, the server keeps serving, and
//! nothing is written: empty or over-long ids, unknown namespace, oversized payloads,
//! malformed or stale task tokens, unknown command types.

use keel_tests::{history, raw_client, KeelProcess};
use prost::Message;
use temporalio_protos::google::rpc::Status as RpcStatus;
use temporalio_protos::temporal::api::{
    command::v1::{command::Attributes, Command, CompleteWorkflowExecutionCommandAttributes},
    common::v1::{Payload, Payloads, WorkflowExecution, WorkflowType},
    enums::v1::CommandType,
    errordetails::v1::{NamespaceNotFoundFailure, WorkflowExecutionAlreadyStartedFailure},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::*,
};
use tonic::Code;

fn start_request(wf: &str) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: wf.into(),
        workflow_type: Some(WorkflowType { name: "T".into() }),
        task_queue: Some(TaskQueue {
            name: "bad-q".into(),
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    }
}

fn detail<M: Message + Default>(status: &tonic::Status, type_suffix: &str) -> Option<M> {
    let rpc = RpcStatus::decode(status.details()).ok()?;
    let any = rpc
        .details
        .into_iter()
        .find(|a| a.type_url.ends_with(type_suffix))?;
    M::decode(any.value.as_slice()).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_write_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let mut c = raw_client(&keel.url()).await?;

    let e = c
        .start_workflow_execution(start_request(""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("WorkflowId is not set"),
        "{}",
        e.message()
    );

    let e = c
        .start_workflow_execution(start_request(&"w".repeat(1001)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("length limit"), "{}", e.message());

    let mut req = start_request("wf-ns");
    req.namespace = "no-such-namespace".into();
    let e = c.start_workflow_execution(req).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let d: NamespaceNotFoundFailure =
        detail(&e, "NamespaceNotFoundFailure").expect("NamespaceNotFoundFailure details");
    assert_eq!(d.namespace, "no-such-namespace");

    let mut req = start_request("wf-big");
    req.input = Some(Payloads {
        payloads: vec![Payload {
            data: vec![7; 2 * 1024 * 1024 + 1],
            ..Default::default()
        }],
    });
    let e = c.start_workflow_execution(req).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("exceeds the limit"), "{}", e.message());

    // None of the rejected starts left a run behind.
    for wf in ["wf-ns", "wf-big"] {
        let e = c
            .describe_workflow_execution(DescribeWorkflowExecutionRequest {
                namespace: "default".into(),
                execution: Some(WorkflowExecution {
                    workflow_id: wf.into(),
                    run_id: String::new(),
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
    }

    // A second start of a running id: ALREADY_EXISTS with Temporal's details.
    let first = c
        .start_workflow_execution(start_request("wf-dup"))
        .await?
        .into_inner();
    let e = c
        .start_workflow_execution(start_request("wf-dup"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let d: WorkflowExecutionAlreadyStartedFailure =
        detail(&e, "WorkflowExecutionAlreadyStartedFailure").expect("already-started details");
    assert_eq!(d.run_id, first.run_id);

    // Task tokens: malformed, then stale.
    let e = c
        .respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest {
            task_token: b"garbage".to_vec(),
            namespace: "default".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .respond_activity_task_completed(RespondActivityTaskCompletedRequest {
            task_token: Vec::new(),
            namespace: "default".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    let poll = c
        .poll_workflow_task_queue(PollWorkflowTaskQueueRequest {
            namespace: "default".into(),
            task_queue: Some(TaskQueue {
                name: "bad-q".into(),
                ..Default::default()
            }),
            identity: "test".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(!poll.task_token.is_empty());
    let before = history::fetch(&mut c, "default", "wf-dup", "").await?;

    let unknown = Command {
        command_type: 4242,
        ..Default::default()
    };
    let e = c
        .respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest {
            task_token: poll.task_token.clone(),
            namespace: "default".into(),
            commands: vec![unknown],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("Unknown command type"),
        "{}",
        e.message()
    );
    assert_eq!(
        history::fetch(&mut c, "default", "wf-dup", "").await?,
        before,
        "nothing written"
    );

    // The task is still good; complete it, then its token is stale.
    let complete = Command {
        command_type: CommandType::CompleteWorkflowExecution as i32,
        attributes: Some(Attributes::CompleteWorkflowExecutionCommandAttributes(
            CompleteWorkflowExecutionCommandAttributes::default(),
        )),
        ..Default::default()
    };
    let done = RespondWorkflowTaskCompletedRequest {
        task_token: poll.task_token.clone(),
        namespace: "default".into(),
        commands: vec![complete],
        ..Default::default()
    };
    c.respond_workflow_task_completed(done.clone()).await?;
    let after = history::fetch(&mut c, "default", "wf-dup", "").await?;
    let e = c.respond_workflow_task_completed(done).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(
        history::fetch(&mut c, "default", "wf-dup", "").await?,
        after,
        "a stale token writes nothing"
    );

    // Still serving.
    c.get_system_info(GetSystemInfoRequest::default()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_data_dir_fails_clearly() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let _keel = KeelProcess::start(dir.path())?;
    let out = std::process::Command::new(keel_tests::keel_binary())
        .args([
            "server",
            "start-dev",
            "--listen",
            &keel_tests::reserve_addr().to_string(),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("in use by another Keel process"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_data_is_kept() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut keel = KeelProcess::start(dir.path())?;
    let mut c = raw_client(&keel.url()).await?;
    let run = c
        .start_workflow_execution(start_request("wf-kept"))
        .await?
        .into_inner()
        .run_id;
    assert!(keel.terminate(), "clean exit on SIGTERM");
    let keel = KeelProcess::start(dir.path())?;
    let mut c = raw_client(&keel.url()).await?;
    let events = history::fetch(&mut c, "default", "wf-kept", &run).await?;
    assert_eq!(events.len(), 2);
    Ok(())
}
