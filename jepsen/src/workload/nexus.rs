//! The Nexus part of the workload: every workflow also calls one Nexus operation (sync, no
//! timeout) through the workload's endpoint, which targets a queue of its own; Nexus workers
//! answer each attempt with the operation's request id and the attempt as the result, one in
//! eight only after Keel's 10 s request timeout (that answer must be refused and the attempt
//! retried). The checker's rule: each operation's outcome is recorded once, never for an
//! operation that was not scheduled, and an acknowledged answer is the outcome recorded.

use super::{payloads, request, Workload, CALL_TIMEOUT, NAMESPACE, POLL_TIMEOUT};
use crate::nemesis::Rng;
use crate::op::{OpKind, Outcome};
use keel_server::proto::operatorservice::operator_service_client::OperatorServiceClient;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use temporalio_protos::temporal::api::{
    command::v1::{command::Attributes, Command, ScheduleNexusOperationCommandAttributes},
    common::v1::Payload,
    enums::v1::CommandType,
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

impl Workload {
    fn nexus_queue(&self) -> String {
        format!("{}-nexus", self.queue)
    }

    /// The workload's endpoint (a name Temporal accepts: letters, digits, hyphens).
    pub(super) fn nexus_endpoint(&self) -> String {
        format!("{}-endpoint", self.queue)
    }

    /// Creates the endpoint, retrying until the cluster has it (a retry that finds it made
    /// already counts).
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
            let mut operator = OperatorServiceClient::new(channel);
            let req = CreateNexusEndpointRequest {
                spec: Some(spec.clone()),
            };
            match operator
                .create_nexus_endpoint(request(req, CALL_TIMEOUT))
                .await
            {
                Ok(_) => return Ok(()),
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
            let work = self.clone();
            let (process, client) = (process.clone(), self.client(&mut rng));
            let answer = async move {
                if late {
                    tokio::time::sleep(LATE).await;
                }
                work.answer_nexus(&process, client, task).await;
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
    ) {
        let token = keel_engine::TaskToken::from_bytes(&task.task_token).unwrap_or_default();
        let request_id = match task.request.and_then(|r| r.variant) {
            Some(RequestVariant::StartOperation(start)) => start.request_id,
            _ => String::new(),
        };
        // Unique per attempt: an answer to a stale attempt, were it taken, would show.
        let result = format!("{request_id}/{}", token.attempt);
        let kind = OpKind::AnswerNexus {
            workflow_id: token.workflow_id.clone(),
            run_id: token.run_id.clone(),
            scheduled_event_id: token.target,
            result: result.clone(),
        };
        let invoke = self.now_ms();
        let done = RespondNexusTaskCompletedRequest {
            namespace: NAMESPACE.into(),
            identity: process.to_string(),
            task_token: task.task_token,
            response: Some(Response {
                variant: Some(response::Variant::StartOperation(StartOperationResponse {
                    variant: Some(start_operation_response::Variant::SyncSuccess(
                        start_operation_response::Sync {
                            payload: Some(Payload {
                                data: result.into_bytes(),
                                ..Default::default()
                            }),
                            links: Vec::new(),
                        },
                    )),
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
}
