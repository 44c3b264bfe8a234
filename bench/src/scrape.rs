//! `keel-bench scrape`: what being watched costs. The same keel binary twice, fresh; during
//! the runs of one of them a scraper fetches its `/metrics` every second (as Prometheus
//! would, at a short interval), the other is left alone. Hello workflows through both with
//! the raw driver, interleaved for several rounds; the table gives each figure's median and
//! the scraped/unscraped ratio (the goal: throughput within 5 %).

use crate::console::{get, HttpClient};
use crate::servers::Server;
use crate::{tempfile_dir, Load};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ScrapeArgs {
    /// The keel binary (a release build).
    #[arg(long)]
    keel_bin: PathBuf,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds between scrapes.
    #[arg(long, default_value_t = 1.0)]
    every_secs: f64,
    #[command(flatten)]
    load: Load,
    /// Where the servers keep their data (a temporary directory if not given).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

pub async fn run(args: ScrapeArgs) -> anyhow::Result<()> {
    let tmp = tempfile_dir(args.work_dir)?;
    let dir = tmp.path.clone();
    let metrics_addr = format!("127.0.0.1:{}", keel_tests::reserve_port());
    let plain = Server::keel_single_with(
        &args.keel_bin,
        &dir,
        "keel-unscraped",
        Vec::new(),
        Default::default(),
    )
    .await?;
    let scraped = Server::keel_single_with(
        &args.keel_bin,
        &dir,
        "keel-scraped",
        vec!["--metrics-listen".into(), metrics_addr.clone()],
        Default::default(),
    )
    .await?;
    let url = format!("http://{metrics_addr}/metrics");
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    get(&client, &url).await?;
    let every = Duration::from_secs_f64(args.every_secs.max(0.01));
    let scraped_label = scraped.label.clone();
    crate::hello_side_by_side(&plain, &scraped, args.rounds, &args.load, |label| {
        (label == scraped_label).then(|| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    if let Err(e) = get(&client, &url).await {
                        eprintln!("scrape failed: {e:#}");
                    }
                }
            })
        })
    })
    .await?;
    for mut s in [plain, scraped] {
        s.stop();
    }
    Ok(())
}
