//! The lean raw-gRPC driver: starts workflows with a bounded number in flight and runs
//! minimal workflow and activity workers written straight against the WorkflowService API
//! (full histories, no SDK), so the figures measure the server. Each scenario's workflow
//! logic is `decide`: the commands a workflow task answers with, given the history.

use keel_client::Credentials;
use keel_server::proto::workflowservice::workflow_service_client::WorkflowServiceClient;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use temporalio_protos::temporal::api::{
    command::v1::{
        command::Attributes, Command, CompleteWorkflowExecutionCommandAttributes,
        ScheduleActivityTaskCommandAttributes, StartTimerCommandAttributes,
    },
    common::v1::{ActivityType, Payload, Payloads, WorkflowExecution, WorkflowType},
    enums::v1::{CommandType, EventType},
    history::v1::HistoryEvent,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::*,
};
use tokio::sync::Semaphore;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    StartOnly,
    Hello,
    Chain10,
    Timer,
    Signal,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::StartOnly => "start-only",
            Scenario::Hello => "hello",
            Scenario::Chain10 => "chain10",
            Scenario::Timer => "timer",
            Scenario::Signal => "signal",
        }
    }

    fn activities(self) -> usize {
        match self {
            Scenario::Hello => 1,
            Scenario::Chain10 => 10,
            _ => 0,
        }
    }
}

pub const TIMER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct RunSpec {
    pub target: String,
    pub namespace: String,
    pub scenario: Scenario,
    pub workflows: usize,
    pub concurrency: usize,
    pub cap: Duration,
    pub security: ClientSecurity,
    /// Ask for eager workflow start (the SDK driver only).
    pub eager_start: bool,
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct RunOutcome {
    pub completed: usize,
    pub errors: u64,
    pub elapsed: Duration,
    /// Per workflow: start request to completion (start-only: the start call).
    pub latencies_ms: Vec<f64>,
    /// Timer scenario: how late TimerFired was, by the events' own times.
    pub lateness_ms: Vec<f64>,
}

struct Shared {
    spec: RunSpec,
    /// The first error seen, reported once at the end of the run.
    first_error: Mutex<Option<String>>,
    queue: String,
    started_at: Mutex<HashMap<String, Instant>>,
    latencies_ms: Mutex<Vec<f64>>,
    lateness_ms: Mutex<Vec<f64>>,
    errors: AtomicU64,
    stop: AtomicBool,
    in_flight: Arc<Semaphore>,
}

impl Shared {
    /// A workflow finished (start-only: its start returned): its latency counts and its
    /// place in flight is free.
    fn finished(&self, id: &str, lateness_ms: Option<f64>) {
        if let Some(began) = self.started_at.lock().expect("lock").remove(id) {
            let ms = began.elapsed().as_secs_f64() * 1e3;
            self.latencies_ms.lock().expect("lock").push(ms);
            if let Some(l) = lateness_ms {
                self.lateness_ms.lock().expect("lock").push(l);
            }
            self.in_flight.add_permits(1);
        }
    }

    /// A long poll's task, or `None` (nothing came, or the poll failed and was counted).
    async fn polled<T>(
        &self,
        what: &str,
        result: Result<tonic::Response<T>, tonic::Status>,
        token: impl Fn(&T) -> &[u8],
    ) -> Option<T> {
        match result {
            Ok(r) => Some(r.into_inner()).filter(|t| !token(t).is_empty()),
            Err(e) => {
                self.failed(what, &e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                None
            }
        }
    }

    fn failed(&self, what: &str, status: &tonic::Status) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().expect("lock");
        if first.is_none() {
            *first = Some(format!("{what}: {:?} {}", status.code(), status.message()));
        }
    }
}

/// How the driver reaches a server that wants TLS or credentials.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    pub tls: Option<Arc<keel_client::tls::ClientTls>>,
    pub credentials: Credentials,
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

pub type WorkflowClient = WorkflowServiceClient<InterceptedService<Channel, Credentials>>;

pub async fn connect(target: &str, security: &ClientSecurity) -> anyhow::Result<WorkflowClient> {
    let channel = keel_client::tls::channel(target, security.tls.clone(), None, |e| e)?;
    Ok(
        WorkflowServiceClient::with_interceptor(channel, security.credentials.clone())
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20),
    )
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

/// A long poll with the deadline SDKs give it (Temporal refuses polls without one).
fn long_poll<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(Duration::from_secs(70));
    request
}

fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.into(),
        ..Default::default()
    })
}

fn command(kind: CommandType, attributes: Attributes) -> Command {
    Command {
        command_type: kind as i32,
        attributes: Some(attributes),
        ..Default::default()
    }
}

fn ts_nanos(t: &Option<prost_wkt_types::Timestamp>) -> i128 {
    t.as_ref()
        .map(|t| t.seconds as i128 * 1_000_000_000 + t.nanos as i128)
        .unwrap_or(0)
}

/// The commands a scenario's workflow answers a workflow task with, and (timer) how late
/// the timer fired.
fn decide(
    scenario: Scenario,
    queue_name: &str,
    events: &[HistoryEvent],
) -> (Vec<Command>, Option<f64>) {
    let count = |t: EventType| events.iter().filter(|e| e.event_type == t as i32).count();
    let complete = || {
        command(
            CommandType::CompleteWorkflowExecution,
            Attributes::CompleteWorkflowExecutionCommandAttributes(
                CompleteWorkflowExecutionCommandAttributes {
                    result: payloads("done"),
                },
            ),
        )
    };
    match scenario {
        Scenario::StartOnly => (vec![], None),
        Scenario::Hello | Scenario::Chain10 => {
            let done = count(EventType::ActivityTaskCompleted);
            let scheduled = count(EventType::ActivityTaskScheduled);
            if done >= scenario.activities() {
                (vec![complete()], None)
            } else if scheduled == done {
                let schedule = ScheduleActivityTaskCommandAttributes {
                    activity_id: format!("a{done}"),
                    activity_type: Some(ActivityType {
                        name: "echo".into(),
                    }),
                    task_queue: queue(queue_name),
                    input: payloads("hi"),
                    start_to_close_timeout: Some(prost_wkt_types::Duration {
                        seconds: 30,
                        nanos: 0,
                    }),
                    ..Default::default()
                };
                (
                    vec![command(
                        CommandType::ScheduleActivityTask,
                        Attributes::ScheduleActivityTaskCommandAttributes(schedule),
                    )],
                    None,
                )
            } else {
                (vec![], None)
            }
        }
        Scenario::Timer => {
            let find = |t: EventType| events.iter().find(|e| e.event_type == t as i32);
            match (find(EventType::TimerStarted), find(EventType::TimerFired)) {
                (Some(started), Some(fired)) => {
                    let late = ts_nanos(&fired.event_time)
                        - ts_nanos(&started.event_time)
                        - TIMER.as_nanos() as i128;
                    (vec![complete()], Some(late as f64 / 1e6))
                }
                (None, _) => {
                    let start = StartTimerCommandAttributes {
                        timer_id: "t".into(),
                        start_to_fire_timeout: Some(prost_wkt_types::Duration {
                            seconds: TIMER.as_secs() as i64,
                            nanos: 0,
                        }),
                    };
                    (
                        vec![command(
                            CommandType::StartTimer,
                            Attributes::StartTimerCommandAttributes(start),
                        )],
                        None,
                    )
                }
                _ => (vec![], None),
            }
        }
        Scenario::Signal => {
            if count(EventType::WorkflowExecutionSignaled) > 0 {
                (vec![complete()], None)
            } else {
                (vec![], None)
            }
        }
    }
}

async fn workflow_worker(shared: Arc<Shared>, mut client: WorkflowClient) {
    while !shared.stop.load(Ordering::Relaxed) {
        let polled = client
            .poll_workflow_task_queue(long_poll(PollWorkflowTaskQueueRequest {
                namespace: shared.spec.namespace.clone(),
                task_queue: queue(&shared.queue),
                identity: "keel-bench".into(),
                ..Default::default()
            }))
            .await;
        let Some(task) = shared
            .polled("poll workflow task", polled, |t| &t.task_token)
            .await
        else {
            continue;
        };
        let events = task.history.map(|h| h.events).unwrap_or_default();
        let (commands, lateness) = decide(shared.spec.scenario, &shared.queue, &events);
        let completes = commands
            .iter()
            .any(|c| c.command_type == CommandType::CompleteWorkflowExecution as i32);
        let answered = client
            .respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest {
                namespace: shared.spec.namespace.clone(),
                task_token: task.task_token,
                commands,
                identity: "keel-bench".into(),
                ..Default::default()
            })
            .await;
        if let Err(e) = answered {
            shared.failed("complete workflow task", &e);
            continue;
        }
        if completes {
            let id = task
                .workflow_execution
                .map(|e| e.workflow_id)
                .unwrap_or_default();
            shared.finished(&id, lateness);
        }
    }
}

async fn activity_worker(shared: Arc<Shared>, mut client: WorkflowClient) {
    while !shared.stop.load(Ordering::Relaxed) {
        let polled = client
            .poll_activity_task_queue(long_poll(PollActivityTaskQueueRequest {
                namespace: shared.spec.namespace.clone(),
                task_queue: queue(&shared.queue),
                identity: "keel-bench".into(),
                ..Default::default()
            }))
            .await;
        let Some(task) = shared
            .polled("poll activity task", polled, |t| &t.task_token)
            .await
        else {
            continue;
        };
        let answered = client
            .respond_activity_task_completed(RespondActivityTaskCompletedRequest {
                namespace: shared.spec.namespace.clone(),
                task_token: task.task_token,
                result: task.input,
                identity: "keel-bench".into(),
                ..Default::default()
            })
            .await;
        if let Err(e) = answered {
            shared.failed("complete activity task", &e);
        }
    }
}

async fn start_one(
    shared: &Shared,
    client: &mut WorkflowClient,
    id: String,
) -> Result<(), tonic::Status> {
    let began = Instant::now();
    shared
        .started_at
        .lock()
        .expect("lock")
        .insert(id.clone(), began);
    client
        .start_workflow_execution(StartWorkflowExecutionRequest {
            namespace: shared.spec.namespace.clone(),
            workflow_id: id.clone(),
            workflow_type: Some(WorkflowType {
                name: format!("bench-{}", shared.spec.scenario.name()),
            }),
            task_queue: queue(&shared.queue),
            request_id: uuid::Uuid::new_v4().to_string(),
            identity: "keel-bench".into(),
            ..Default::default()
        })
        .await?;
    match shared.spec.scenario {
        Scenario::StartOnly => shared.finished(&id, None),
        Scenario::Signal => {
            // Signal-to-completion: the clock restarts at the signal.
            shared
                .started_at
                .lock()
                .expect("lock")
                .insert(id.clone(), Instant::now());
            client
                .signal_workflow_execution(SignalWorkflowExecutionRequest {
                    namespace: shared.spec.namespace.clone(),
                    workflow_execution: Some(WorkflowExecution {
                        workflow_id: id,
                        run_id: String::new(),
                    }),
                    signal_name: "go".into(),
                    input: payloads("go"),
                    identity: "keel-bench".into(),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    ..Default::default()
                })
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Runs one scenario to completion (or the cap) and reports what it measured.
pub async fn run(spec: RunSpec) -> anyhow::Result<RunOutcome> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let shared = Arc::new(Shared {
        queue: format!("bench-{}-{}", spec.scenario.name(), &run_id[..8]),
        spec: spec.clone(),
        first_error: Mutex::default(),
        started_at: Mutex::default(),
        latencies_ms: Mutex::default(),
        lateness_ms: Mutex::default(),
        errors: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        in_flight: Arc::new(Semaphore::new(spec.concurrency.max(1))),
    });
    let mut workers = Vec::new();
    if spec.scenario != Scenario::StartOnly {
        // Enough pollers that a task never waits long for one.
        let pollers = (spec.concurrency / 8).clamp(2, 16);
        for _ in 0..pollers {
            workers.push(tokio::spawn(workflow_worker(
                shared.clone(),
                connect(&spec.target, &spec.security).await?,
            )));
            if spec.scenario.activities() > 0 {
                workers.push(tokio::spawn(activity_worker(
                    shared.clone(),
                    connect(&spec.target, &spec.security).await?,
                )));
            }
        }
    }
    let began = Instant::now();
    let deadline = began + spec.cap;
    let starters = spec.concurrency.clamp(1, 32);
    let next = Arc::new(AtomicU64::new(0));
    let mut start_tasks = Vec::new();
    for _ in 0..starters {
        let shared = shared.clone();
        let next = next.clone();
        let mut client = connect(&spec.target, &spec.security).await?;
        let run_id = run_id.clone();
        start_tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= shared.spec.workflows || Instant::now() > deadline {
                    break;
                }
                let permit = tokio::time::timeout_at(
                    deadline.into(),
                    shared.in_flight.clone().acquire_owned(),
                )
                .await;
                let Ok(Ok(permit)) = permit else {
                    break;
                };
                // Returned by the completion (add_permits), not by dropping.
                permit.forget();
                let id = format!("bench-{}-{i}", &run_id[..8]);
                if let Err(e) = start_one(&shared, &mut client, id.clone()).await {
                    shared.failed("start or signal", &e);
                    shared.started_at.lock().expect("lock").remove(&id);
                    shared.in_flight.add_permits(1);
                }
            }
        }));
    }
    for t in start_tasks {
        let _ = t.await;
    }
    // Wait for the workflows in flight.
    while Instant::now() < deadline && !shared.started_at.lock().expect("lock").is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = began.elapsed();
    shared.stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.abort();
    }
    let latencies_ms = std::mem::take(&mut *shared.latencies_ms.lock().expect("lock"));
    let lateness_ms = std::mem::take(&mut *shared.lateness_ms.lock().expect("lock"));
    if let Some(e) = shared.first_error.lock().expect("lock").take() {
        eprintln!("{}: first error: {e}", spec.scenario.name());
    }
    Ok(RunOutcome {
        completed: latencies_ms.len(),
        errors: shared.errors.load(Ordering::Relaxed),
        elapsed,
        latencies_ms,
        lateness_ms,
    })
}
