//! The workload, through real gRPC clients on the Temporal API (raw: every call is one
//! recorded operation, nothing retried behind the recorder's back). Clients start workflows
//! (new ids, and ids used before on purpose), signal them with unique payloads, send them
//! updates with unique ids and read their histories; workers run the workflow and its
//! activity, accept and complete every update they are given, and record every task
//! completion.
//!
//! The workflow: schedule one activity (start-to-close 2 s, retried), a 1 s timer and a Nexus
//! operation (see `nexus`); complete once the activity completed, the timer fired, the
//! operation completed and a "finish" signal arrived. Finish signals
//! are sent after the faults are healed, so no run closes while faults are injected. One
//! activity attempt in eight sleeps past its timeout before completing: that completion must
//! be refused.

use crate::checker::{
    ActivityCheck, FinalBatch, FinalState, FinalWorkflow, NexusCheck, TimerCheck,
};
use crate::nemesis::Rng;
use crate::op::{EventSummary, Op, OpKind, Outcome};
use keel_server::proto::workflowservice::workflow_service_client::WorkflowServiceClient;
use prost::Message as _;
pub use schedules::{SCHEDULED_WORKFLOW_ID, SCHEDULE_ID, TRIGGER_BASE_SECS};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use temporalio_protos::temporal::api::{
    batch::v1::BatchOperationSignal,
    command::v1::{
        command::Attributes, Command, CompleteWorkflowExecutionCommandAttributes,
        ProtocolMessageCommandAttributes, ScheduleActivityTaskCommandAttributes,
        StartTimerCommandAttributes,
    },
    common::v1::{
        ActivityType, Execution, Payload, Payloads, RetryPolicy, WorkflowExecution, WorkflowType,
    },
    enums::v1::{
        BatchOperationState, CommandType, EventType, UpdateWorkflowExecutionLifecycleStage,
        WorkflowExecutionStatus,
    },
    history::v1::{history_event::Attributes as Ev, HistoryEvent},
    protocol::v1::{message, Message as ProtocolMessage},
    taskqueue::v1::TaskQueue,
    update::v1 as update,
    workflowservice::v1::*,
};
use tonic::transport::Channel;
use tonic::{Code, Request};

mod nexus;
mod schedules;
mod standalone;
mod versioning;
pub use versioning::{BUILDS as VERSION_BUILDS, VERSIONED_PREFIX};

type Client = WorkflowServiceClient<Channel>;

const NAMESPACE: &str = "default";
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
const POLL_TIMEOUT: Duration = Duration::from_secs(5);
const ACTIVITY_TIMEOUT: Duration = Duration::from_secs(2);
const TIMER: Duration = Duration::from_secs(1);

/// What a sweep after healing does to every workflow.
#[derive(Clone, Copy)]
enum Sweep {
    Unpause,
    Finish,
}

impl Sweep {
    fn process(self) -> &'static str {
        match self {
            Sweep::Unpause => "unpauser",
            Sweep::Finish => "finisher",
        }
    }
}

/// Everything clients and workers share: connections, the recorded operations, the ids used.
pub struct Workload {
    /// One client per slot; a slot's client follows the node that joins in it.
    clients: RwLock<Vec<Client>>,
    queue: String,
    began: Instant,
    ops: Mutex<Vec<Op>>,
    ids: Mutex<Vec<String>>,
    /// The task tokens of the last activity completions acknowledged, for the garbage
    /// nemesis to replay.
    used_tokens: Mutex<std::collections::VecDeque<Vec<u8>>>,
}

fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(WorkflowServiceClient::new(channel))
}

fn request<T>(message: T, timeout: Duration) -> Request<T> {
    let mut r = Request::new(message);
    r.set_timeout(timeout);
    r
}

fn payloads(s: &str) -> Option<Payloads> {
    Some(Payloads {
        payloads: vec![Payload {
            metadata: HashMap::from([("encoding".to_string(), b"json/plain".to_vec())]),
            data: format!("\"{s}\"").into_bytes(),
            ..Default::default()
        }],
    })
}

fn payload_text(p: &Option<Payloads>) -> String {
    let data = p
        .as_ref()
        .and_then(|p| p.payloads.first())
        .map(|p| p.data.clone())
        .unwrap_or_default();
    String::from_utf8_lossy(&data).trim_matches('"').to_string()
}

fn millis(t: &Option<prost_wkt_types::Timestamp>) -> i64 {
    t.as_ref()
        .map_or(0, |t| t.seconds * 1000 + t.nanos as i64 / 1_000_000)
}

fn duration(d: Duration) -> Option<prost_wkt_types::Duration> {
    Some(prost_wkt_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    })
}

fn command(kind: CommandType, attributes: Attributes) -> Command {
    Command {
        command_type: kind as i32,
        attributes: Some(attributes),
        ..Default::default()
    }
}

impl Workload {
    pub fn new(nodes: &[SocketAddr], seed: u64) -> anyhow::Result<Arc<Workload>> {
        Ok(Arc::new(Workload {
            clients: RwLock::new(
                nodes
                    .iter()
                    .map(|a| connect(*a))
                    .collect::<Result<_, _>>()?,
            ),
            queue: format!("jepsen-{seed}"),
            began: Instant::now(),
            ops: Mutex::default(),
            ids: Mutex::default(),
            used_tokens: Mutex::default(),
        }))
    }

    pub fn now_ms(&self) -> u64 {
        self.began.elapsed().as_millis() as u64
    }

    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().expect("ops").clone()
    }

    pub fn workflow_ids(&self) -> Vec<String> {
        self.ids.lock().expect("ids").clone()
    }

    /// Task tokens whose completion the server acknowledged (the last 64).
    pub fn used_tokens(&self) -> Vec<Vec<u8>> {
        self.used_tokens
            .lock()
            .expect("tokens")
            .iter()
            .cloned()
            .collect()
    }

    fn task_queue(&self) -> Option<TaskQueue> {
        Some(TaskQueue {
            name: self.queue.clone(),
            ..Default::default()
        })
    }

    fn client(&self, rng: &mut Rng) -> Client {
        rng.pick(&self.clients.read().expect("clients")).clone()
    }

    /// A new node serves slot `slot` (1-based) at `addr`: clients reach it there from now on.
    pub fn slot_moved(&self, slot: u64, addr: SocketAddr) -> anyhow::Result<()> {
        let client = connect(addr)?;
        self.clients.write().expect("clients")[slot as usize - 1] = client;
        Ok(())
    }

    /// Records an operation; returns its outcome.
    fn record(&self, process: &str, kind: OpKind, invoke_ms: u64, outcome: Outcome) -> Outcome {
        let op = Op {
            process: process.to_string(),
            kind,
            invoke_ms,
            complete_ms: self.now_ms(),
            outcome: outcome.clone(),
        };
        self.ops.lock().expect("ops").push(op);
        outcome
    }

    /// One client: operations one after another until `stop`.
    pub async fn client_loop(self: Arc<Self>, index: usize, seed: u64, stop: Arc<AtomicBool>) {
        let mut rng = Rng::new(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9));
        let process = format!("client-{index}");
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let known = self.workflow_ids();
            let roll = rng.range(0, 100);
            let outcome = if known.is_empty() || roll < 8 {
                // One new workflow in four runs on the versioned queue.
                let prefix = if n.is_multiple_of(4) {
                    versioning::VERSIONED_PREFIX
                } else {
                    "jw-"
                };
                let id = format!("{prefix}{index}-{n}");
                self.ids.lock().expect("ids").push(id.clone());
                self.start(&mut rng, &process, id, false).await
            } else {
                // Recent workflows get most of the traffic.
                let recent = &known[known.len().saturating_sub(20)..];
                let id = rng.pick(recent).clone();
                match roll {
                    8..=11 => self.start(&mut rng, &process, id, true).await,
                    12..=59 => {
                        let payload = format!("s-{index}-{n}");
                        self.signal(&mut rng, &process, &id, "sig", payload).await
                    }
                    60..=62 => {
                        let targets = (0..3).map(|_| rng.pick(recent).clone()).collect();
                        self.batch_signal(&mut rng, &process, format!("b-{index}-{n}"), targets)
                            .await
                    }
                    63..=69 => {
                        let update_id = format!("u-{index}-{n}");
                        self.update(&mut rng, &process, &id, update_id).await
                    }
                    70..=71 => {
                        let unique = index as i64 * 1_000_000 + n as i64;
                        self.trigger_schedule(&mut rng, &process, unique).await
                    }
                    72..=73 => {
                        let request_id = format!("p-{index}-{n}");
                        self.pause_then_unpause(&mut rng, &process, &id, request_id)
                            .await
                    }
                    74..=77 => {
                        let activity_id = format!("ja-{index}-{n}");
                        self.start_standalone(&mut rng, &process, activity_id).await
                    }
                    _ => self.read(&mut rng, &process, &id).await,
                }
            };
            // A client that got no answer backs off a little, as SDK clients do.
            if matches!(outcome, Outcome::Unknown(_)) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    async fn start(&self, rng: &mut Rng, process: &str, id: String, repeat: bool) -> Outcome {
        let invoke = self.now_ms();
        let req = StartWorkflowExecutionRequest {
            namespace: NAMESPACE.into(),
            workflow_id: id.clone(),
            workflow_type: Some(WorkflowType {
                name: "jepsen".into(),
            }),
            task_queue: self.queue_of(&id),
            request_id: format!("{process}-{invoke}-{}", rng.next_u64()),
            ..Default::default()
        };
        let r = self
            .client(rng)
            .start_workflow_execution(request(req, CALL_TIMEOUT))
            .await;
        let (run_id, outcome) = match r {
            Ok(r) => (Some(r.into_inner().run_id), Outcome::Ok),
            Err(s) => (None, Outcome::from_status(&s)),
        };
        let kind = OpKind::Start {
            workflow_id: id,
            repeat,
            run_id,
        };
        self.record(process, kind, invoke, outcome)
    }

    /// One signal; returns how it ended.
    pub async fn signal(
        &self,
        rng: &mut Rng,
        process: &str,
        id: &str,
        name: &str,
        payload: String,
    ) -> Outcome {
        let invoke = self.now_ms();
        let req = SignalWorkflowExecutionRequest {
            namespace: NAMESPACE.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: id.into(),
                run_id: String::new(),
            }),
            signal_name: name.into(),
            input: payloads(&payload),
            request_id: format!("{process}-{payload}"),
            ..Default::default()
        };
        let outcome = match self
            .client(rng)
            .signal_workflow_execution(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(_) => Outcome::Ok,
            Err(s) => Outcome::from_status(&s),
        };
        let kind = OpKind::Signal {
            workflow_id: id.into(),
            payload,
        };
        self.record(process, kind, invoke, outcome)
    }

    /// A batch job signalling a few workflows (the same one may be named twice: the job acts
    /// on it twice, each signal with the job's own request id, so it is delivered once).
    async fn batch_signal(
        &self,
        rng: &mut Rng,
        process: &str,
        job_id: String,
        targets: Vec<String>,
    ) -> Outcome {
        let invoke = self.now_ms();
        let req = StartBatchOperationRequest {
            namespace: NAMESPACE.into(),
            job_id: job_id.clone(),
            reason: "jepsen".into(),
            target_executions: targets
                .iter()
                .map(|id| Execution {
                    business_id: id.clone(),
                    ..Default::default()
                })
                .collect(),
            operation: Some(start_batch_operation_request::Operation::SignalOperation(
                BatchOperationSignal {
                    signal: "sig".into(),
                    input: payloads(&job_id),
                    identity: process.into(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        let outcome = match self
            .client(rng)
            .start_batch_operation(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(_) => Outcome::Ok,
            Err(s) => Outcome::from_status(&s),
        };
        self.record(
            process,
            OpKind::BatchSignal { job_id, targets },
            invoke,
            outcome,
        )
    }

    /// One update, waiting for its outcome; the update id doubles as its payload.
    async fn update(&self, rng: &mut Rng, process: &str, id: &str, update_id: String) -> Outcome {
        let invoke = self.now_ms();
        let req = UpdateWorkflowExecutionRequest {
            namespace: NAMESPACE.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: id.into(),
                run_id: String::new(),
            }),
            wait_policy: Some(update::WaitPolicy {
                lifecycle_stage: UpdateWorkflowExecutionLifecycleStage::Completed as i32,
            }),
            request: Some(update::Request {
                meta: Some(update::Meta {
                    update_id: update_id.clone(),
                    identity: process.into(),
                }),
                input: Some(update::Input {
                    name: "add".into(),
                    args: payloads(&update_id),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (result, outcome) = match self
            .client(rng)
            .update_workflow_execution(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(r) => match r.into_inner().outcome.and_then(|o| o.value) {
                Some(update::outcome::Value::Success(p)) => {
                    (Some(payload_text(&Some(p))), Outcome::Ok)
                }
                Some(update::outcome::Value::Failure(f)) => (None, Outcome::Fail(f.message)),
                None => (None, Outcome::Unknown("not completed in time".into())),
            },
            Err(s) => (None, Outcome::from_status(&s)),
        };
        let kind = OpKind::Update {
            workflow_id: id.into(),
            update_id,
            result,
        };
        self.record(process, kind, invoke, outcome)
    }

    async fn read(&self, rng: &mut Rng, process: &str, id: &str) -> Outcome {
        let invoke = self.now_ms();
        let (events, outcome) = match read_history(&self.client(rng), id).await {
            Ok(events) => (events, Outcome::Ok),
            Err(s) => (Vec::new(), Outcome::from_status(&s)),
        };
        let kind = OpKind::Read {
            workflow_id: id.into(),
            run_id: run_of(&events),
            events: events.iter().map(summary).collect(),
        };
        self.record(process, kind, invoke, outcome)
    }

    /// One workflow worker: poll, decide, complete, until `stop`.
    /// One workflow worker; with `build`, a versioned one of that build on the versioned
    /// queue (see `versioning`), declaring its runs pinned.
    pub async fn workflow_worker(
        self: Arc<Self>,
        index: usize,
        seed: u64,
        stop: Arc<AtomicBool>,
        build: Option<&'static str>,
    ) {
        let mut rng = Rng::new(seed ^ 0x5757 ^ index as u64 ^ (build.is_some() as u64) << 8);
        let (process, task_queue, deployment_options) = match build {
            Some(b) => (
                format!("versioned-worker-{b}-{index}"),
                self.versioned_queue(),
                versioning::deployment_options(b),
            ),
            None => (format!("workflow-worker-{index}"), self.task_queue(), None),
        };
        while !stop.load(Ordering::Relaxed) {
            let poll = PollWorkflowTaskQueueRequest {
                namespace: NAMESPACE.into(),
                task_queue: task_queue.clone(),
                identity: process.clone(),
                deployment_options: deployment_options.clone(),
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
            let events = task.history.map(|h| h.events).unwrap_or_default();
            let execution = task.workflow_execution.unwrap_or_default();
            let invoke = self.now_ms();
            let (mut commands, messages) = answer_updates(&task.messages);
            commands.extend(self.decide(&events));
            let done = RespondWorkflowTaskCompletedRequest {
                namespace: NAMESPACE.into(),
                task_token: task.task_token,
                commands,
                messages,
                identity: process.clone(),
                deployment_options: deployment_options.clone(),
                versioning_behavior: if build.is_some() {
                    versioning::PINNED
                } else {
                    0
                },
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

    fn decide(&self, events: &[HistoryEvent]) -> Vec<Command> {
        let has = |t: EventType| events.iter().any(|e| e.event_type == t as i32);
        let finish = events.iter().any(|e| {
            matches!(&e.attributes, Some(Ev::WorkflowExecutionSignaledEventAttributes(a))
                if a.signal_name == "finish")
        });
        let mut commands = Vec::new();
        if !has(EventType::ActivityTaskScheduled) {
            let schedule = ScheduleActivityTaskCommandAttributes {
                activity_id: "a".into(),
                activity_type: Some(ActivityType {
                    name: "record".into(),
                }),
                task_queue: self.task_queue(),
                input: payloads("work"),
                start_to_close_timeout: duration(ACTIVITY_TIMEOUT),
                retry_policy: Some(RetryPolicy {
                    initial_interval: duration(Duration::from_millis(500)),
                    backoff_coefficient: 1.0,
                    ..Default::default()
                }),
                ..Default::default()
            };
            commands.push(command(
                CommandType::ScheduleActivityTask,
                Attributes::ScheduleActivityTaskCommandAttributes(schedule),
            ));
            let timer = StartTimerCommandAttributes {
                timer_id: "t".into(),
                start_to_fire_timeout: duration(TIMER),
            };
            commands.push(command(
                CommandType::StartTimer,
                Attributes::StartTimerCommandAttributes(timer),
            ));
            commands.push(self.schedule_nexus_operation());
        }
        if has(EventType::ActivityTaskCompleted)
            && has(EventType::TimerFired)
            && has(EventType::NexusOperationCompleted)
            && finish
        {
            commands.push(command(
                CommandType::CompleteWorkflowExecution,
                Attributes::CompleteWorkflowExecutionCommandAttributes(
                    CompleteWorkflowExecutionCommandAttributes {
                        result: payloads("done"),
                    },
                ),
            ));
        }
        commands
    }

    /// One activity worker: poll, (sometimes outlive the timeout), complete, until `stop`;
    /// of the workflows' activities, or with `standalone` of the standalone activities' queue.
    pub async fn activity_worker(
        self: Arc<Self>,
        index: usize,
        seed: u64,
        stop: Arc<AtomicBool>,
        standalone: bool,
    ) {
        let (process, queue, salt) = if standalone {
            let queue = standalone::queue();
            (format!("standalone-worker-{index}"), queue, 0x57A1)
        } else {
            (
                format!("activity-worker-{index}"),
                self.task_queue(),
                0xAC71,
            )
        };
        let mut rng = Rng::new(seed ^ salt ^ index as u64);
        while !stop.load(Ordering::Relaxed) {
            let poll = PollActivityTaskQueueRequest {
                namespace: NAMESPACE.into(),
                task_queue: queue.clone(),
                identity: process.clone(),
                ..Default::default()
            };
            let Ok(task) = self
                .client(&mut rng)
                .poll_activity_task_queue(request(poll, POLL_TIMEOUT))
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
            let complete = async move {
                if late {
                    tokio::time::sleep(ACTIVITY_TIMEOUT + Duration::from_millis(800)).await;
                }
                if standalone {
                    work.complete_standalone(&process, client, task).await;
                } else {
                    work.complete_activity(&process, client, task).await;
                }
            };
            if late {
                tokio::spawn(complete);
            } else {
                complete.await;
            }
        }
    }

    async fn complete_activity(
        &self,
        process: &str,
        mut client: Client,
        task: PollActivityTaskQueueResponse,
    ) {
        let execution = task.workflow_execution.unwrap_or_default();
        let kind = OpKind::CompleteActivity {
            workflow_id: execution.workflow_id,
            run_id: execution.run_id,
            scheduled_event_id: scheduled_id_of(&task.task_token),
            attempt: task.attempt,
        };
        let invoke = self.now_ms();
        let token = task.task_token.clone();
        let done = RespondActivityTaskCompletedRequest {
            namespace: NAMESPACE.into(),
            task_token: task.task_token,
            result: payloads(&format!("attempt {}", task.attempt)),
            identity: process.to_string(),
            ..Default::default()
        };
        let outcome = match client
            .respond_activity_task_completed(request(done, CALL_TIMEOUT))
            .await
        {
            Ok(_) => {
                let mut used = self.used_tokens.lock().expect("tokens");
                if used.len() >= 64 {
                    used.pop_front();
                }
                used.push_back(token);
                Outcome::Ok
            }
            Err(s) => Outcome::from_status(&s),
        };
        self.record(process, kind, invoke, outcome);
    }

    /// After healing: a "finish" signal to every workflow that exists (see `sweep`).
    pub async fn finish_all(self: &Arc<Self>, within: Duration) {
        self.sweep(within, Sweep::Finish).await
    }

    /// After healing, before the finish signals: every workflow's activities unpaused (a
    /// client's unpause may have been lost with its answer), see `sweep`.
    pub async fn unpause_all(self: &Arc<Self>, within: Duration) {
        self.sweep(within, Sweep::Unpause).await
    }

    /// One operation on every workflow that exists, retried (each try its own recorded
    /// operation) until it is acknowledged or refused. Eight sweepers share the ids.
    async fn sweep(self: &Arc<Self>, within: Duration, what: Sweep) {
        const SWEEPERS: usize = 8;
        let deadline = Instant::now() + within;
        let ids = Arc::new(self.workflow_ids());
        let mut tasks = Vec::new();
        for f in 0..SWEEPERS {
            let (work, ids) = (self.clone(), ids.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng::new(0xF1 + f as u64);
                let process = format!("{}-{f}", what.process());
                for id in ids.iter().skip(f).step_by(SWEEPERS) {
                    for attempt in 0.. {
                        let outcome = match what {
                            Sweep::Finish => {
                                let payload = format!("finish-{id}-{attempt}");
                                work.signal(&mut rng, &process, id, "finish", payload).await
                            }
                            Sweep::Unpause => work.unpause(&mut rng, &process, id, true).await,
                        };
                        // An unpause is refused with FAILED_PRECONDITION while the leader
                        // has not yet seen every member back at this build's feature level
                        // (it surveys them every few seconds): that passes, so it is retried.
                        let not_yet = matches!(
                            (&what, &outcome),
                            (Sweep::Unpause, Outcome::Fail(why)) if why.starts_with("FailedPrecondition")
                        );
                        match outcome {
                            _ if Instant::now() > deadline => break,
                            Outcome::Fail(_) if not_yet => {
                                tokio::time::sleep(Duration::from_millis(500)).await
                            }
                            Outcome::Ok | Outcome::Fail(_) => break,
                            Outcome::Unknown(_) => {
                                tokio::time::sleep(Duration::from_millis(200)).await
                            }
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// PauseActivity of the workflow's activity, then (after a moment, whatever the pause's
    /// answer) UnpauseActivity; returns how the unpause ended.
    async fn pause_then_unpause(
        &self,
        rng: &mut Rng,
        process: &str,
        id: &str,
        request_id: String,
    ) -> Outcome {
        let invoke = self.now_ms();
        let req = PauseActivityRequest {
            namespace: NAMESPACE.into(),
            execution: Some(WorkflowExecution {
                workflow_id: id.into(),
                run_id: String::new(),
            }),
            identity: process.into(),
            reason: "jepsen".into(),
            request_id: request_id.clone(),
            activity: Some(pause_activity_request::Activity::Id("a".into())),
        };
        let outcome = match self
            .client(rng)
            .pause_activity(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(_) => Outcome::Ok,
            Err(s) => Outcome::from_status(&s),
        };
        let kind = OpKind::PauseActivity {
            workflow_id: id.into(),
            request_id,
        };
        self.record(process, kind, invoke, outcome);
        tokio::time::sleep(Duration::from_millis(rng.range(0, 500))).await;
        self.unpause(rng, process, id, false).await
    }

    /// UnpauseActivity of the workflow's activity, or of all its activities.
    async fn unpause(&self, rng: &mut Rng, process: &str, id: &str, all: bool) -> Outcome {
        let invoke = self.now_ms();
        let activity = if all {
            unpause_activity_request::Activity::UnpauseAll(true)
        } else {
            unpause_activity_request::Activity::Id("a".into())
        };
        let req = UnpauseActivityRequest {
            namespace: NAMESPACE.into(),
            execution: Some(WorkflowExecution {
                workflow_id: id.into(),
                run_id: String::new(),
            }),
            identity: process.into(),
            activity: Some(activity),
            ..Default::default()
        };
        let outcome = match self
            .client(rng)
            .unpause_activity(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(_) => Outcome::Ok,
            Err(s) => Outcome::from_status(&s),
        };
        let kind = OpKind::UnpauseActivity {
            workflow_id: id.into(),
            all,
        };
        self.record(process, kind, invoke, outcome)
    }

    /// Waits until every workflow that exists is closed, or `within` passes; returns how
    /// long it took.
    pub async fn wait_closed(&self, within: Duration) -> Duration {
        let began = Instant::now();
        let mut rng = Rng::new(0xC1);
        let mut open = self.workflow_ids();
        while !open.is_empty() && began.elapsed() < within {
            let mut still = Vec::new();
            for id in open {
                let req = DescribeWorkflowExecutionRequest {
                    namespace: NAMESPACE.into(),
                    execution: Some(WorkflowExecution {
                        workflow_id: id.clone(),
                        run_id: String::new(),
                    }),
                };
                let status = self
                    .client(&mut rng)
                    .describe_workflow_execution(request(req, CALL_TIMEOUT))
                    .await
                    .map(|r| {
                        r.into_inner()
                            .workflow_execution_info
                            .unwrap_or_default()
                            .status
                    });
                match status {
                    Err(s) if s.code() == Code::NotFound => {}
                    Ok(s) if s != WorkflowExecutionStatus::Running as i32 => {}
                    _ => still.push(id),
                }
            }
            open = still;
            if !open.is_empty() {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        began.elapsed()
    }

    /// The final state of every workflow, read through `via` after healing.
    pub async fn final_state(&self, via: SocketAddr) -> anyhow::Result<FinalState> {
        let client = connect(via)?;
        let mut end = FinalState::default();
        for id in self.workflow_ids() {
            let mut tries = 0;
            let events = loop {
                match read_history(&client, &id).await {
                    Ok(events) => break Some(events),
                    Err(s) if s.code() == Code::NotFound => break None,
                    Err(s) if tries >= 20 => anyhow::bail!("reading {id} at the end: {s}"),
                    Err(_) => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            };
            if let Some(events) = events {
                let mut w = final_workflow(&events);
                if !w.closed {
                    w.paused_activities = paused_activities(&client, &id).await?;
                }
                end.workflows.insert(id, w);
            }
        }
        let ops = self.ops.lock().expect("ops").clone();
        for op in ops {
            if let (OpKind::BatchSignal { job_id, .. }, Outcome::Ok | Outcome::Unknown(_)) =
                (&op.kind, &op.outcome)
            {
                if let Some(job) = settled_batch(&client, job_id).await? {
                    end.batches.insert(job_id.clone(), job);
                }
            }
        }
        end.schedule = schedules::final_schedule(via).await?;
        end.deployment_current = versioning::final_current(&client).await?;
        let mut standalone_client = client.clone();
        (end.standalone, end.standalone_listed) =
            standalone::final_standalone(&mut standalone_client, &self.standalone_ids()).await?;
        let mut tries = 0;
        loop {
            match list_all(&client).await {
                Ok((listed, counted)) => {
                    (end.listed, end.counted) = (listed, counted);
                    return Ok(end);
                }
                Err(s) if tries >= 20 => anyhow::bail!("listing workflows at the end: {s}"),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
}

/// How many of an open workflow's pending activities Describe shows paused.
async fn paused_activities(client: &Client, id: &str) -> anyhow::Result<usize> {
    let mut tries = 0;
    loop {
        let req = DescribeWorkflowExecutionRequest {
            namespace: NAMESPACE.into(),
            execution: Some(WorkflowExecution {
                workflow_id: id.into(),
                run_id: String::new(),
            }),
        };
        match client
            .clone()
            .describe_workflow_execution(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(r) => {
                let pending = r.into_inner().pending_activities;
                return Ok(pending.iter().filter(|a| a.paused).count());
            }
            Err(s) if tries >= 20 => anyhow::bail!("describing {id} at the end: {s}"),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// A batch job once it is no longer running (up to 30 s after healing), or `None` if the
/// cluster has no such job.
async fn settled_batch(client: &Client, job_id: &str) -> anyhow::Result<Option<FinalBatch>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let req = DescribeBatchOperationRequest {
            namespace: NAMESPACE.into(),
            job_id: job_id.into(),
        };
        match client
            .clone()
            .describe_batch_operation(request(req, CALL_TIMEOUT))
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                let job = FinalBatch {
                    completed: r.state == BatchOperationState::Completed as i32,
                    done: r.complete_operation_count,
                    failed: r.failure_operation_count,
                };
                if r.state != BatchOperationState::Running as i32 || Instant::now() > deadline {
                    return Ok(Some(job));
                }
            }
            Err(s) if s.code() == Code::NotFound => return Ok(None),
            Err(s) if Instant::now() > deadline => {
                anyhow::bail!("describing batch {job_id} at the end: {s}")
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every run ListWorkflowExecutions shows (pages of 100): (workflow id, run id, open), and
/// what CountWorkflowExecutions says.
async fn list_all(client: &Client) -> Result<(Vec<(String, String, bool)>, i64), tonic::Status> {
    let mut listed = Vec::new();
    let mut token = Vec::new();
    loop {
        let req = ListWorkflowExecutionsRequest {
            namespace: NAMESPACE.into(),
            page_size: 100,
            next_page_token: token,
            ..Default::default()
        };
        let page = client
            .clone()
            .list_workflow_executions(request(req, CALL_TIMEOUT))
            .await?
            .into_inner();
        for e in page.executions {
            let ex = e.execution.unwrap_or_default();
            let open = e.status == WorkflowExecutionStatus::Running as i32;
            listed.push((ex.workflow_id, ex.run_id, open));
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let counted = client
        .clone()
        .count_workflow_executions(request(
            CountWorkflowExecutionsRequest {
                namespace: NAMESPACE.into(),
                ..Default::default()
            },
            CALL_TIMEOUT,
        ))
        .await?
        .into_inner()
        .count;
    Ok((listed, counted))
}

/// The activity's scheduled event id, which Keel's task token carries (the API does not).
fn scheduled_id_of(token: &[u8]) -> i64 {
    keel_engine::TaskToken::from_bytes(token).map_or(0, |t| t.target)
}

async fn read_history(client: &Client, id: &str) -> Result<Vec<HistoryEvent>, tonic::Status> {
    let mut events = Vec::new();
    let mut token = Vec::new();
    loop {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: NAMESPACE.into(),
            execution: Some(WorkflowExecution {
                workflow_id: id.into(),
                run_id: String::new(),
            }),
            next_page_token: token,
            ..Default::default()
        };
        let page = client
            .clone()
            .get_workflow_execution_history(request(req, CALL_TIMEOUT))
            .await?
            .into_inner();
        events.extend(page.history.map(|h| h.events).unwrap_or_default());
        if page.next_page_token.is_empty() {
            return Ok(events);
        }
        token = page.next_page_token;
    }
}

/// Accepts and completes every update request a workflow task carries (the result is the
/// update's own payload): the protocol messages, and the commands that place them first.
fn answer_updates(requests: &[ProtocolMessage]) -> (Vec<Command>, Vec<ProtocolMessage>) {
    let mut commands = Vec::new();
    let mut messages = Vec::new();
    for m in requests {
        let Some(request) = m
            .body
            .as_ref()
            .and_then(|b| update::Request::decode(b.value.as_slice()).ok())
        else {
            continue;
        };
        let id = &m.protocol_instance_id;
        let args = request.input.as_ref().and_then(|i| i.args.clone());
        let acceptance = update::Acceptance {
            accepted_request_message_id: m.id.clone(),
            accepted_request_sequencing_event_id: match m.sequencing_id {
                Some(message::SequencingId::EventId(e)) => e,
                _ => 0,
            },
            accepted_request: Some(request.clone()),
        };
        let response = update::Response {
            meta: request.meta.clone(),
            outcome: Some(update::Outcome {
                value: args.map(update::outcome::Value::Success),
            }),
        };
        for (suffix, type_name, value) in [
            ("accept", "Acceptance", acceptance.encode_to_vec()),
            ("complete", "Response", response.encode_to_vec()),
        ] {
            let message_id = format!("{id}/{suffix}");
            commands.push(command(
                CommandType::ProtocolMessage,
                Attributes::ProtocolMessageCommandAttributes(ProtocolMessageCommandAttributes {
                    message_id: message_id.clone(),
                }),
            ));
            messages.push(ProtocolMessage {
                id: message_id,
                protocol_instance_id: id.clone(),
                body: Some(prost_wkt_types::Any {
                    type_url: format!("type.googleapis.com/temporal.api.update.v1.{type_name}"),
                    value,
                }),
                sequencing_id: None,
            });
        }
    }
    (commands, messages)
}

fn summary(e: &HistoryEvent) -> EventSummary {
    EventSummary {
        event_id: e.event_id,
        event_type: e.event_type,
    }
}

/// The run id, from the first event.
fn run_of(events: &[HistoryEvent]) -> Option<String> {
    match events.first().and_then(|e| e.attributes.as_ref()) {
        Some(Ev::WorkflowExecutionStartedEventAttributes(a)) => {
            Some(a.original_execution_run_id.clone())
        }
        _ => None,
    }
}

fn final_workflow(events: &[HistoryEvent]) -> FinalWorkflow {
    let mut w = FinalWorkflow {
        run_id: run_of(events).unwrap_or_default(),
        events: events.iter().map(summary).collect(),
        ..Default::default()
    };
    let mut timer_started: HashMap<i64, usize> = HashMap::new();
    for e in events {
        match &e.attributes {
            Some(Ev::WorkflowExecutionSignaledEventAttributes(a)) => {
                w.signals.push(payload_text(&a.input));
            }
            Some(Ev::WorkflowTaskCompletedEventAttributes(a)) => {
                let build = a
                    .deployment_version
                    .as_ref()
                    .map(|v| v.build_id.clone())
                    .unwrap_or_default();
                if !w.completed_builds.contains(&build) {
                    w.completed_builds.push(build);
                }
            }
            Some(Ev::WorkflowExecutionUpdateAcceptedEventAttributes(a)) => {
                w.updates_accepted.push(a.protocol_instance_id.clone());
            }
            Some(Ev::WorkflowExecutionUpdateCompletedEventAttributes(a)) => {
                let id = a
                    .meta
                    .as_ref()
                    .map(|m| m.update_id.clone())
                    .unwrap_or_default();
                w.updates_completed.push(id);
            }
            Some(Ev::TimerStartedEventAttributes(a)) => {
                let fire_after = a
                    .start_to_fire_timeout
                    .as_ref()
                    .map_or(0, |d| d.seconds * 1000 + d.nanos as i64 / 1_000_000);
                timer_started.insert(e.event_id, w.timers.len());
                w.timers.push(TimerCheck {
                    timer_id: a.timer_id.clone(),
                    started_ms: millis(&e.event_time),
                    fire_after_ms: fire_after,
                    fired_ms: None,
                });
            }
            Some(Ev::TimerFiredEventAttributes(a)) => {
                if let Some(i) = timer_started.get(&a.started_event_id) {
                    w.timers[*i].fired_ms = Some(millis(&e.event_time));
                }
            }
            Some(Ev::ActivityTaskScheduledEventAttributes(_)) => {
                w.activities.push(ActivityCheck {
                    scheduled_event_id: e.event_id,
                    started_attempt: None,
                    completed: false,
                    timed_out: false,
                });
            }
            Some(Ev::ActivityTaskStartedEventAttributes(a)) => {
                activity(&mut w, a.scheduled_event_id).started_attempt = Some(a.attempt);
            }
            Some(Ev::ActivityTaskCompletedEventAttributes(a)) => {
                activity(&mut w, a.scheduled_event_id).completed = true;
            }
            Some(Ev::ActivityTaskTimedOutEventAttributes(a)) => {
                activity(&mut w, a.scheduled_event_id).timed_out = true;
            }
            Some(Ev::NexusOperationScheduledEventAttributes(_)) => {
                nexus_operation(&mut w, e.event_id).scheduled = true;
            }
            Some(Ev::NexusOperationStartedEventAttributes(a)) => {
                nexus_operation(&mut w, a.scheduled_event_id).started += 1;
            }
            Some(Ev::NexusOperationCompletedEventAttributes(a)) => {
                let result = a
                    .result
                    .as_ref()
                    .map(|p| String::from_utf8_lossy(&p.data).into_owned());
                nexus_operation(&mut w, a.scheduled_event_id)
                    .outcomes
                    .push(result.unwrap_or_default());
            }
            Some(Ev::NexusOperationFailedEventAttributes(a)) => {
                let cause = a.failure.as_ref().and_then(|f| f.cause.as_ref());
                let why = cause.map(|c| c.message.clone()).unwrap_or_default();
                nexus_operation(&mut w, a.scheduled_event_id)
                    .outcomes
                    .push(format!("<failed: {why}>"));
            }
            Some(Ev::NexusOperationCanceledEventAttributes(a)) => {
                nexus_operation(&mut w, a.scheduled_event_id)
                    .outcomes
                    .push("<canceled>".into());
            }
            Some(Ev::NexusOperationTimedOutEventAttributes(a)) => {
                nexus_operation(&mut w, a.scheduled_event_id)
                    .outcomes
                    .push("<timed out>".into());
            }
            _ => {}
        }
    }
    w.closed = events.last().is_some_and(|e| {
        [
            EventType::WorkflowExecutionCompleted,
            EventType::WorkflowExecutionFailed,
            EventType::WorkflowExecutionTimedOut,
            EventType::WorkflowExecutionTerminated,
            EventType::WorkflowExecutionCanceled,
            EventType::WorkflowExecutionContinuedAsNew,
        ]
        .iter()
        .any(|t| e.event_type == *t as i32)
    });
    w
}

fn nexus_operation(w: &mut FinalWorkflow, scheduled_event_id: i64) -> &mut NexusCheck {
    if let Some(i) = w
        .nexus
        .iter()
        .position(|n| n.scheduled_event_id == scheduled_event_id)
    {
        return &mut w.nexus[i];
    }
    w.nexus.push(NexusCheck {
        scheduled_event_id,
        ..Default::default()
    });
    w.nexus.last_mut().expect("pushed")
}

fn activity(w: &mut FinalWorkflow, scheduled_event_id: i64) -> &mut ActivityCheck {
    if let Some(i) = w
        .activities
        .iter()
        .position(|a| a.scheduled_event_id == scheduled_event_id)
    {
        return &mut w.activities[i];
    }
    w.activities.push(ActivityCheck {
        scheduled_event_id,
        started_attempt: None,
        completed: false,
        timed_out: false,
    });
    w.activities.last_mut().expect("pushed")
}
