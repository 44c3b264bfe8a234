//! Nexus through the official Rust SDK against a real `keel`: a Rust caller workflow
//! starts an operation on an endpoint and gets its result. The Rust SDK has no Nexus
//! handlers yet, so the handler here is raw gRPC (PollNexusTaskQueue and
//! RespondNexusTaskCompleted, as a handler worker sends them).

use keel_server::proto::operatorservice::operator_service_client::OperatorServiceClient;
use keel_tests::{history, raw_client, sdk, sdk_client, KeelProcess};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_protos::temporal::api::common::v1::Payload;
use temporalio_protos::temporal::api::enums::v1::EventType;
use temporalio_protos::temporal::api::nexus::v1::{
    endpoint_target, request, response, start_operation_response, EndpointSpec, EndpointTarget,
    Response, StartOperationResponse,
};
use temporalio_protos::temporal::api::operatorservice::v1::CreateNexusEndpointRequest;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::{
    PollNexusTaskQueueRequest, RespondNexusTaskCompletedRequest,
};
use temporalio_sdk::{NexusOperationOptions, WorkerOptions, WorkflowContext, WorkflowResult};

const HANDLER_QUEUE: &str = "rust-nexus-handlers";

#[workflow]
#[derive(Default)]
pub struct NexusCaller;

#[workflow_methods]
impl NexusCaller {
    /// Calls `svc/greet` on the endpoint `rust-ep` with the input `rust`; the result's bytes.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<String> {
        let options = NexusOperationOptions::builder()
            .endpoint("rust-ep")
            .service("svc")
            .operation("greet")
            .input(Payload {
                data: b"rust".to_vec(),
                ..Default::default()
            })
            .schedule_to_close_timeout(Duration::from_secs(30))
            .build();
        let started = match ctx.start_nexus_operation(options).await {
            Ok(started) => started,
            Err(f) => return Ok(format!("not started: {}", f.message)),
        };
        use temporalio_protos::coresdk::nexus::nexus_operation_result::Status;
        Ok(match started.result().await.status {
            Some(Status::Completed(p)) => String::from_utf8_lossy(&p.data).into_owned(),
            other => format!("not completed: {other:?}"),
        })
    }
}

/// A raw handler: answers the first Nexus task of its queue with "hello " and the input.
async fn answer_one(url: &str) -> anyhow::Result<String> {
    let mut raw = raw_client(url).await?;
    loop {
        let task = raw
            .poll_nexus_task_queue(PollNexusTaskQueueRequest {
                namespace: "default".into(),
                identity: "raw-rust-handler".into(),
                task_queue: Some(TaskQueue {
                    name: HANDLER_QUEUE.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await?
            .into_inner();
        if task.task_token.is_empty() {
            continue;
        }
        let Some(request::Variant::StartOperation(start)) = task.request.and_then(|r| r.variant)
        else {
            anyhow::bail!("not a start request");
        };
        let input = start.payload.map(|p| p.data).unwrap_or_default();
        let answer = format!("hello {}", String::from_utf8_lossy(&input));
        raw.respond_nexus_task_completed(RespondNexusTaskCompletedRequest {
            namespace: "default".into(),
            identity: "raw-rust-handler".into(),
            task_token: task.task_token,
            response: Some(Response {
                variant: Some(response::Variant::StartOperation(StartOperationResponse {
                    variant: Some(start_operation_response::Variant::SyncSuccess(
                        start_operation_response::Sync {
                            payload: Some(Payload {
                                data: answer.clone().into_bytes(),
                                ..Default::default()
                            }),
                            links: Vec::new(),
                        },
                    )),
                })),
            }),
            ..Default::default()
        })
        .await?;
        return Ok(format!("{}/{}", start.service, start.operation));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_caller_workflow_gets_a_nexus_operations_result() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keel = KeelProcess::start(dir.path())?;
    let url = keel.url();
    let mut operator = OperatorServiceClient::connect(url.clone()).await?;
    operator
        .create_nexus_endpoint(CreateNexusEndpointRequest {
            spec: Some(EndpointSpec {
                name: "rust-ep".into(),
                description: None,
                target: Some(EndpointTarget {
                    variant: Some(endpoint_target::Variant::Worker(endpoint_target::Worker {
                        namespace: "default".into(),
                        task_queue: HANDLER_QUEUE.into(),
                    })),
                }),
            }),
        })
        .await?;
    let handler = tokio::spawn({
        let url = url.clone();
        async move { answer_one(&url).await }
    });
    let options = WorkerOptions::new("rust-nexus-callers")
        .register_workflow::<NexusCaller>()?
        .build();
    let result = sdk::with_worker(&url, options, async {
        let client = sdk_client(&url, "default").await?;
        let handle = client
            .start_workflow(
                NexusCaller::run,
                (),
                WorkflowStartOptions::new("rust-nexus-callers", "rust-nexus-caller").build(),
            )
            .await?;
        Ok(tokio::time::timeout(
            Duration::from_secs(60),
            handle.get_result(WorkflowGetResultOptions::default()),
        )
        .await??)
    })
    .await?;
    assert_eq!(handler.await??, "svc/greet");
    assert_eq!(result, "hello rust");
    let mut raw = raw_client(&url).await?;
    let events = history::fetch(&mut raw, "default", "rust-nexus-caller", "").await?;
    let kinds: Vec<i32> = events.iter().map(|e| e.event_type).collect();
    for kind in [
        EventType::NexusOperationScheduled,
        EventType::NexusOperationCompleted,
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == kind as i32).count(),
            1,
            "{kind:?} once"
        );
    }
    Ok(())
}
