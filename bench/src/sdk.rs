//! The SDK driver: the official Rust SDK's worker (`temporalio-sdk`) runs each scenario's
//! workflow and activity, and its client (`temporalio-client`) starts, signals and awaits
//! the results, as a Temporal application would. Figures include the SDK's own cost.

use crate::raw::{RunOutcome, RunSpec, Scenario, TIMER};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, Url, WorkflowGetResultOptions,
    WorkflowSignalOptions, WorkflowStartOptions,
};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, Runtime, SyncWorkflowContext, Worker, WorkerOptions, WorkflowContext,
    WorkflowResult,
};
use tokio::sync::Semaphore;

pub struct Echo;

#[activities]
impl Echo {
    #[activity]
    pub async fn echo(_ctx: ActivityContext, s: String) -> Result<String, ActivityError> {
        Ok(s)
    }
}

fn activity_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30)).build()
}

/// hello and chain10: `n` activities one after another.
#[workflow]
#[derive(Default)]
pub struct Activities;

#[workflow_methods]
impl Activities {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, n: u32) -> WorkflowResult<String> {
        let mut last = String::new();
        for i in 0..n {
            last = ctx
                .execute_activity(Echo::echo, format!("a{i}"), activity_options())
                .await?;
        }
        Ok(last)
    }
}

#[workflow]
#[derive(Default)]
pub struct Sleep;

#[workflow_methods]
impl Sleep {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, ms: u64) -> WorkflowResult<()> {
        ctx.timer(Duration::from_millis(ms)).await;
        Ok(())
    }
}

/// signal: completes once signalled.
#[workflow]
#[derive(Default)]
pub struct AwaitSignal {
    signalled: bool,
}

#[workflow_methods]
impl AwaitSignal {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, _unit: ()) -> WorkflowResult<()> {
        ctx.wait_condition(|s| s.signalled).await?;
        Ok(())
    }

    #[signal]
    fn go(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _value: String) {
        self.signalled = true;
    }
}

async fn client(target: &str, namespace: &str) -> anyhow::Result<Client> {
    let options = ConnectionOptions::new(Url::from_str(&format!("http://{target}"))?).build();
    let connection = Connection::connect(options).await?;
    Ok(Client::new(
        connection,
        ClientOptions::new(namespace).build(),
    )?)
}

/// One workflow from start to result; returns the latency (signal: from the signal).
async fn one(client: &Client, spec: &RunSpec, queue: &str, id: String) -> anyhow::Result<f64> {
    let options = || {
        WorkflowStartOptions::new(queue, &id)
            .enable_eager_workflow_start(spec.eager_start)
            .build()
    };
    let began = Instant::now();
    match spec.scenario {
        Scenario::StartOnly => {
            client
                .start_workflow(Sleep::run, 3_600_000u64, options())
                .await?;
        }
        Scenario::Hello | Scenario::Chain10 => {
            let n = if spec.scenario == Scenario::Hello {
                1u32
            } else {
                10
            };
            let h = client.start_workflow(Activities::run, n, options()).await?;
            h.get_result(WorkflowGetResultOptions::default()).await?;
        }
        Scenario::Timer => {
            let h = client
                .start_workflow(Sleep::run, TIMER.as_millis() as u64, options())
                .await?;
            h.get_result(WorkflowGetResultOptions::default()).await?;
        }
        Scenario::Signal => {
            let h = client
                .start_workflow(AwaitSignal::run, (), options())
                .await?;
            let signalled = Instant::now();
            h.signal(
                AwaitSignal::go,
                "go".to_string(),
                WorkflowSignalOptions::default(),
            )
            .await?;
            h.get_result(WorkflowGetResultOptions::default()).await?;
            return Ok(signalled.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(began.elapsed().as_secs_f64() * 1e3)
}

pub async fn run(spec: RunSpec) -> anyhow::Result<RunOutcome> {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let queue = format!("bench-sdk-{}-{tag}", spec.scenario.name());
    let runtime = Runtime::from_current_tokio(Default::default())?;
    let options = WorkerOptions::new(queue.as_str())
        .register_workflow::<Activities>()?
        .register_workflow::<Sleep>()?
        .register_workflow::<AwaitSignal>()?
        .register_activities(Echo)
        .build();
    let client = client(&spec.target, &spec.namespace).await?;
    // Eager start hands the first task to a worker registered on the starting client's
    // connection; otherwise the worker has a connection of its own.
    let worker_client = if spec.eager_start {
        client.clone()
    } else {
        self::client(&spec.target, &spec.namespace).await?
    };
    let mut worker = Worker::new(&runtime, worker_client, options)?;
    let shutdown = worker.shutdown_handle();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(Semaphore::new(spec.concurrency.max(1)));
    let began = Instant::now();
    let deadline = tokio::time::Instant::now() + spec.cap;
    let body = async {
        let mut tasks = Vec::new();
        for i in 0..spec.workflows {
            let Ok(Ok(permit)) =
                tokio::time::timeout_at(deadline, in_flight.clone().acquire_owned()).await
            else {
                break;
            };
            let (client, spec, queue) = (client.clone(), spec.clone(), queue.clone());
            let (latencies, errors) = (latencies.clone(), errors.clone());
            let id = format!("bench-sdk-{tag}-{i}");
            tasks.push(tokio::spawn(async move {
                match tokio::time::timeout_at(deadline, one(&client, &spec, &queue, id)).await {
                    Ok(Ok(ms)) => latencies.lock().expect("lock").push(ms),
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(permit);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let elapsed = began.elapsed();
        shutdown();
        elapsed
    };
    let (worker_result, elapsed) = tokio::join!(worker.run(), body);
    worker_result?;
    let latencies_ms = std::mem::take(&mut *latencies.lock().expect("lock"));
    Ok(RunOutcome {
        completed: latencies_ms.len(),
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        latencies_ms,
        lateness_ms: Vec::new(),
    })
}
