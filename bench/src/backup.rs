//! `keel-bench backup`: what a backup and a restore of a loaded node take. A fresh start-dev
//! node is loaded with completed hello workflows (the raw driver); `keel snapshot save` takes
//! a backup of it (timed, with the file's size), `keel snapshot restore` makes a new data
//! directory from it (timed), and the restored node is started (timed until it serves) and
//! asked how many completed workflows it holds, which must be every one that was loaded.

use crate::raw::Scenario;
use crate::servers::Server;
use crate::{measured_run, tempfile_dir, Load};
use std::path::{Path, PathBuf};
use std::time::Instant;
use temporalio_protos::temporal::api::workflowservice::v1::CountWorkflowExecutionsRequest;

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The keel binary (a release build).
    #[arg(long)]
    keel_bin: PathBuf,
    #[command(flatten)]
    load: Load,
    /// Where the servers keep their data (a temporary directory if not given).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// Runs `keel ARGS`, failing with its stderr; the seconds it took.
fn keel(bin: &Path, args: &[&str]) -> anyhow::Result<f64> {
    let began = Instant::now();
    let out = std::process::Command::new(bin).args(args).output()?;
    if !out.status.success() {
        anyhow::bail!(
            "keel {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(began.elapsed().as_secs_f64())
}

async fn completed(target: &str) -> anyhow::Result<i64> {
    let mut client = crate::raw::connect(target, &Default::default()).await?;
    Ok(client
        .count_workflow_executions(CountWorkflowExecutionsRequest {
            namespace: "default".into(),
            query: "ExecutionStatus = 'Completed'".into(),
        })
        .await?
        .into_inner()
        .count)
}

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    let tmp = tempfile_dir(args.work_dir)?;
    let dir = tmp.path.clone();
    let mut source = Server::keel_single_with(
        &args.keel_bin,
        &dir,
        "keel-source",
        Vec::new(),
        Default::default(),
    )
    .await?;
    let loaded = measured_run(
        &source.label,
        &source.target,
        "default",
        Scenario::Hello,
        &args.load,
        &source.pids(),
        &Default::default(),
    )
    .await?;
    let on_source = completed(&source.target).await?;
    eprintln!(
        "loaded {} completed workflows in {:.1} s",
        on_source, loaded.elapsed_s
    );
    let file = dir.join("bench.backup");
    let file_arg = file.display().to_string();
    let save_s = keel(
        &args.keel_bin,
        &["snapshot", "save", "--address", &source.target, &file_arg],
    )?;
    let size = std::fs::metadata(&file)?.len();
    let source_disk = keel_storage::disk_usage(&dir.join("keel-source"));
    source.stop();
    let restored_dir = dir.join("keel-restored");
    let restore_s = keel(
        &args.keel_bin,
        &[
            "snapshot",
            "restore",
            &file_arg,
            "--data-dir",
            &restored_dir.display().to_string(),
        ],
    )?;
    let began = Instant::now();
    let mut restored = Server::keel_single_with(
        &args.keel_bin,
        &dir,
        "keel-restored",
        Vec::new(),
        Default::default(),
    )
    .await?;
    let start_s = began.elapsed().as_secs_f64();
    let on_restored = completed(&restored.target).await?;
    restored.stop();
    println!(
        "backup of {on_source} completed workflows (source data directory {:.1} MB):",
        source_disk as f64 / 1e6
    );
    println!(
        "  snapshot save     {save_s:>8.2} s   {:>8.1} MB   {:>6.0} bytes/workflow",
        size as f64 / 1e6,
        size as f64 / on_source.max(1) as f64
    );
    println!("  snapshot restore  {restore_s:>8.2} s");
    println!("  restored start    {start_s:>8.2} s until serving");
    println!("  restored node counts {on_restored} completed workflows");
    if on_restored != on_source {
        anyhow::bail!("the restored node holds {on_restored} completed workflows, not {on_source}");
    }
    Ok(())
}
