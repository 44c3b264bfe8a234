//! The Nexus part of the workload: every workflow also calls one Nexus operation (no timeout)
//! through the workload's endpoint, which targets a queue of its own. Nexus workers answer
//! half the attempts at once (sync: the operation's request id and the attempt as the
//! result) and start a handler workflow for the other half (async: in a namespace of its own,
//! with the completion callback the request carries, its request id the operation's, and the
//! result `<request id>/async`), answering with its workflow id as the operation token;
//! handler workflow workers complete those workflows with their input. One answer in eight
//! comes only after Keel's 10 s request timeout (it must be refused and the attempt retried).
//! The checker's rule: each operation is started and ends at most once, never for an
//! operation that was not scheduled, and an acknowledged answer is the outcome recorded (an
//! async one's the handler workflow's result).

use super::{payloads, request, Workload, CALL_TIMEOUT, NAMESPACE, POLL_TIMEOUT};
use crate::nemesis::Rng;
use crate::op::{OpKind, Outcome};
use keel_server::proto::operatorservice::operator_service_client::OperatorServiceClient;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use temporalio_protos::temporal::api::{
    command::v1::{
        command::Attributes, Command, CompleteWorkflowExecutionCommandAttributes,
        ScheduleNexusOperationCommandAttributes,
    },
    common::v1::{callback, Callback, Payload, Payloads, WorkflowType},
    enums::v1::CommandType,
    history::v1::history_event::Attributes as Ev,
    nexus::v1::{
        endpoint_target, request::Variant as RequestVariant, response, start_operation_response,
        EndpointSpec, EndpointTarget, Response, StartOperationResponse,
    },
    operatorservice::v1::CreateNexusEndpointRequest,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::*,
};
use tonic::Code;

/// The Nexus service and operation the workflows call.
pub const SERVICE: &str = "jepsen";
pub const OPERATION: &str = "echo";
/// How late a late answer comes: past Keel's request timeout for an attempt.
const LATE: Duration = Duration::from_millis(10_800);
/// Where the handler workflows of async operations run.
pub const HANDLER_NAMESPACE: &str = "jepsen-nexus";
const HANDLER_WORKFLOW_TYPE: &str = "jepsen-nexus-handler";

impl Workload {
    fn nexus_queue(&self) -> String {
        format!("{}-nexus", self.queue)
    }

    /// The workload's endpoint (a name Temporal accepts: letters, digits, hyphens).
    pub(super) fn nexus_endpoint(&self) -> String {
        format!("{}-endpoint", self.queue)
    }

    fn handler_queue(&self) -> Option<TaskQueue> {
        Some(TaskQueue {
            name: format!("{}-handlers", self.queue),
            ..Default::default()
        })
    }

    /// Registers the handler workflows' namespace and creates the endpoint, retrying until
    /// the cluster has both (a retry that finds them made already counts).
    pub async fn create_nexus_endpoint(&self, nodes: &[SocketAddr]) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let spec = EndpointSpec {
            name: self.nexus_endpoint(),
            description: None,
            target: Some(EndpointTarget {
                variant: Some(endpoint_target::Variant::Worker(endpoint_target::Worker {
                    namespace: NAMESPACE.into(),
                    task_queue: self.nexus_queue(),
                })),
            }),
        };
        for attempt in 0.. {
            let addr = nodes[attempt % nodes.len()];
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
                .connect_timeout(Duration::from_secs(1))
                .connect_lazy();
            let mut workflows = super::Client::new(channel.clone());
            let namespace = RegisterNamespaceRequest {
                namespace: HANDLER_NAMESPACE.into(),
                workflow_execution_retention_period: Some(prost_wkt_types::Duration {
                    seconds: 86_400,
                    nanos: 0,
                }),
                ..Default::default()
            };
            let registered = match workflows
                .register_namespace(request(namespace, CALL_TIMEOUT))
                .await
            {
                Err(s) if s.code() != Code::AlreadyExists => Err(s),
                _ => Ok(()),
            };
            let mut operator = OperatorServiceClient::new(channel);
            let req = CreateNexusEndpointRequest {
                spec: Some(spec.clone()),
            };
            let created = match registered {
                Ok(()) => operator
                    .create_nexus_endpoint(request(req, CALL_TIMEOUT))
                    .await
                    .map(|_| ()),
                Err(s) => Err(s),
            };
            match created {
                Ok(()) => return Ok(()),
                Err(s) if s.code() == Code::AlreadyExists => return Ok(()),
                Err(s) if Instant::now() > deadline => {
                    anyhow::bail!("creating the Nexus endpoint: {s}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        unreachable!("the loop returns")
    }

    /// The workflow's ScheduleNexusOperation command.
    pub(super) fn schedule_nexus_operation(&self) -> Command {
        Command {
            command_type: CommandType::ScheduleNexusOperation as i32,
            attributes: Some(Attributes::ScheduleNexusOperationCommandAttributes(
                ScheduleNexusOperationCommandAttributes {
                    endpoint: self.nexus_endpoint(),
                    service: SERVICE.into(),
                    operation: OPERATION.into(),
                    input: payloads("work").and_then(|p| p.payloads.into_iter().next()),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }
    }

    /// One Nexus worker: poll the endpoint's queue, (sometimes answer too late), answer with
    /// the operation's request id, until `stop`.
    pub async fn nexus_worker(self: Arc<Self>, index: usize, seed: u64, stop: Arc<AtomicBool>) {
        let mut rng = Rng::new(seed ^ 0x4E58 ^ index as u64);
        let process = format!("nexus-worker-{index}");
        while !stop.load(Ordering::Relaxed) {
            let poll = PollNexusTaskQueueRequest {
                namespace: NAMESPACE.into(),
                task_queue: Some(TaskQueue {
                    name: self.nexus_queue(),
                    ..Default::default()
                }),
                identity: process.clone(),
                ..Default::default()
            };
            let Ok(task) = self
                .client(&mut rng)
                .poll_nexus_task_queue(request(poll, POLL_TIMEOUT))
                .await
                .map(|r| r.into_inner())
            else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            if task.task_token.is_empty() {
                continue;
            }
            let late = rng.range(0, 8) == 0;
            let asynchronous = rng.range(0, 2) == 0;
            let work = self.clone();
            let (process, client) = (process.clone(), self.client(&mut rng));
            let answer = async move {
                if late {
                    tokio::time::sleep(LATE).await;
                }
                work.answer_nexus(&process, client, task, asynchronous)
                    .await;
            };
            if late {
                tokio::spawn(answer);
            } else {
                answer.await;
            }
        }
    }

    async fn answer_nexus(
        &self,
        process: &str,
        mut client: super::Client,
        task: PollNexusTaskQueueResponse,
        asynchronous: bool,
    ) {
        let token = keel_engine::TaskToken::from_bytes(&task.task_token).unwrap_or_default();
        let Some(RequestVariant::StartOperation(start)) = task.request.and_then(|r| r.variant)
        else {
            return;
        };
        let request_id = start.request_id.clone();
        if asynchronous {
            let Some(operation_token) = self
                .start_handler_workflow(&mut client, process, start)
                .await
            else {
                return; // no answer: the attempt times out and is retried
            };
            let kind = OpKind::AnswerNexus {
                workflow_id: token.workflow_id.clone(),
                run_id: token.run_id.clone(),
                scheduled_event_id: token.target,
                result: format!("{request_id}/async"),
            };
            let response =
                start_operation_response::Variant::AsyncSuccess(start_operation_response::Async {
                    operation_token,
                    ..Default::default()
                });
            return self
                .respond_nexus(process, client, task.task_token, kind, response)
                .await;
        }
        // Unique per attempt: an answer to a stale attempt, were it taken, would show.
        let result = format!("{request_id}/{}", token.attempt);
        let kind = OpKind::AnswerNexus {
            workflow_id: token.workflow_id.clone(),
            run_id: token.run_id.clone(),
            scheduled_event_id: token.target,
            result: result.clone(),
        };
        let response =
            start_operation_response::Variant::SyncSuccess(start_operation_response::Sync {
                payload: Some(Payload {
                    data: result.into_bytes(),
                    ..Default::default()
                }),
                links: Vec::new(),
            });
        self.respond_nexus(process, client, task.task_token, kind, response)
            .await;
    }

    async fn respond_nexus(
        &self,
        process: &str,
        mut client: super::Client,
        task_token: Vec<u8>,
        kind: OpKind,
        answer: start_operation_response::Variant,
    ) {
        let invoke = self.now_ms();
        let done = RespondNexusTaskCompletedRequest {
            namespace: NAMESPACE.into(),
            identity: process.to_string(),
            task_token,
            response: Some(Response {
                variant: Some(response::Variant::StartOperation(StartOperationResponse {
                    variant: Some(answer),
                })),
            }),
            ..Default::default()
        };
        let outcome = match client
            .respond_nexus_task_completed(request(done, CALL_TIMEOUT))
            .await
        {
            Ok(_) => Outcome::Ok,
            Err(s) => Outcome::from_status(&s),
        };
        self.record(process, kind, invoke, outcome);
    }

    /// Starts (or finds, by the operation's request id) the handler workflow of an async
    /// operation; its workflow id is the operation token.
    async fn start_handler_workflow(
        &self,
        client: &mut super::Client,
        process: &str,
        start: temporalio_protos::temporal::api::nexus::v1::StartOperationRequest,
    ) -> Option<String> {
        let workflow_id = format!("jh-{}", start.request_id);
        let result = format!("{}/async", start.request_id);
        let req = StartWorkflowExecutionRequest {
            namespace: HANDLER_NAMESPACE.into(),
            workflow_id: workflow_id.clone(),
            workflow_type: Some(WorkflowType {
                name: HANDLER_WORKFLOW_TYPE.into(),
            }),
            task_queue: self.handler_queue(),
            input: Some(Payloads {
                payloads: vec![Payload {
                    data: result.into_bytes(),
                    ..Default::default()
                }],
            }),
            identity: process.into(),
            request_id: start.request_id,
            completion_callbacks: vec![Callback {
                variant: Some(callback::Variant::Nexus(callback::Nexus {
                    url: start.callback,
                    header: start.callback_header,
                })),
                links: Vec::new(),
            }],
            ..Default::default()
        };
        client
            .start_workflow_execution(request(req, CALL_TIMEOUT))
            .await
            .ok()
            .map(|_| workflow_id)
    }

    /// One worker of the handler workflows: each completes at its first task, with its input
    /// as its result (what the operation it backs completes with).
    pub async fn nexus_handler_workflow_worker(
        self: Arc<Self>,
        index: usize,
        seed: u64,
        stop: Arc<AtomicBool>,
    ) {
        let mut rng = Rng::new(seed ^ 0x4E48 ^ index as u64);
        let process = format!("nexus-handler-workflow-worker-{index}");
        while !stop.load(Ordering::Relaxed) {
            let poll = PollWorkflowTaskQueueRequest {
                namespace: HANDLER_NAMESPACE.into(),
                task_queue: self.handler_queue(),
                identity: process.clone(),
                ..Default::default()
            };
            let Ok(task) = self
                .client(&mut rng)
                .poll_workflow_task_queue(request(poll, POLL_TIMEOUT))
                .await
                .map(|r| r.into_inner())
            else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            if task.task_token.is_empty() {
                continue;
            }
            let input = task
                .history
                .as_ref()
                .and_then(|h| h.events.first())
                .and_then(|e| match &e.attributes {
                    Some(Ev::WorkflowExecutionStartedEventAttributes(a)) => a.input.clone(),
                    _ => None,
                });
            let execution = task.workflow_execution.clone().unwrap_or_default();
            let invoke = self.now_ms();
            let done = RespondWorkflowTaskCompletedRequest {
                namespace: HANDLER_NAMESPACE.into(),
                task_token: task.task_token,
                commands: vec![Command {
                    command_type: CommandType::CompleteWorkflowExecution as i32,
                    attributes: Some(Attributes::CompleteWorkflowExecutionCommandAttributes(
                        CompleteWorkflowExecutionCommandAttributes { result: input },
                    )),
                    ..Default::default()
                }],
                identity: process.clone(),
                ..Default::default()
            };
            let outcome = match self
                .client(&mut rng)
                .respond_workflow_task_completed(request(done, CALL_TIMEOUT))
                .await
            {
                Ok(_) => Outcome::Ok,
                Err(s) => Outcome::from_status(&s),
            };
            let kind = OpKind::CompleteWorkflowTask {
                workflow_id: execution.workflow_id,
                run_id: execution.run_id,
                started_event_id: task.started_event_id,
            };
            self.record(&process, kind, invoke, outcome);
        }
    }
}
