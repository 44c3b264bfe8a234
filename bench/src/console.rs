//! `keel-bench console`: the server time of the console's pages, on a fresh Keel single node
//! and (for the calls it shares, over its own `--http-port`) a fresh Temporal dev server. The
//! fill starts `--workflows` runs and one run with a 10,000-event history (signals). Each
//! page's HTTP API calls are made as the console's script makes them (at once, over one
//! keep-alive connection each) `--repeat` times, and the time until the last answer is in is
//! reported:
//! - list: namespaces, the count grouped by status, a page of 100 runs;
//! - history: describe and the first page (200 events) of the 10,000-event history;
//! - cluster (Keel only): `/api/keel/cluster`;
//! - shell (Keel only): the page, its script and stylesheet.

use crate::raw::connect;
use crate::report::percentile;
use crate::servers::Server;
use anyhow::{bail, Context};
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;
use temporalio_protos::temporal::api::{
    common::v1::{WorkflowExecution, WorkflowType},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::*,
};

#[derive(clap::Args)]
pub struct ConsoleArgs {
    #[arg(long)]
    keel_bin: PathBuf,
    #[arg(long)]
    temporal_bin: PathBuf,
    /// Runs in the list (besides the long one).
    #[arg(long, default_value_t = 500)]
    workflows: usize,
    /// Events in the long history.
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    #[arg(long, default_value_t = 200)]
    repeat: usize,
    #[arg(long, value_delimiter = ',', default_value = "keel-1,temporal")]
    servers: Vec<String>,
}

#[derive(Debug, Serialize)]
struct PageFigures {
    page: &'static str,
    p50_ms: f64,
    p99_ms: f64,
    bytes: usize,
}

pub(crate) type HttpClient =
    Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

pub(crate) async fn get(client: &HttpClient, url: &str) -> anyhow::Result<usize> {
    let response = client
        .get(url.parse().with_context(|| format!("bad url {url}"))?)
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body.len())
}

/// Starts the runs of the list and the long run; returns the long run's id.
async fn fill(target: &str, workflows: usize, events: usize) -> anyhow::Result<String> {
    let client = connect(target, &Default::default()).await?;
    let start = |id: String| {
        let mut c = client.clone();
        async move {
            c.start_workflow_execution(StartWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_id: id,
                workflow_type: Some(WorkflowType {
                    name: "console-bench".into(),
                }),
                task_queue: Some(TaskQueue {
                    name: "console-bench-nobody".into(),
                    ..Default::default()
                }),
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            })
            .await
        }
    };
    let results: Vec<_> = futures::stream::iter((0..workflows).map(|i| start(format!("run-{i}"))))
        .buffer_unordered(50)
        .collect()
        .await;
    for r in results {
        r?;
    }
    let long = "long-history".to_string();
    start(long.clone()).await?;
    // Started + first workflow task scheduled, then one event per signal.
    let signals = events.saturating_sub(2);
    let signal = |i: usize| {
        let mut c = client.clone();
        let id = long.clone();
        async move {
            loop {
                let r = c
                    .signal_workflow_execution(SignalWorkflowExecutionRequest {
                        namespace: "default".into(),
                        workflow_execution: Some(WorkflowExecution {
                            workflow_id: id.clone(),
                            ..Default::default()
                        }),
                        signal_name: format!("s{i}"),
                        request_id: uuid::Uuid::new_v4().to_string(),
                        ..Default::default()
                    })
                    .await;
                match r {
                    // The dev server sheds load now and then: ask again.
                    Err(e)
                        if e.code() == tonic::Code::ResourceExhausted
                            || e.code() == tonic::Code::Unavailable =>
                    {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await
                    }
                    other => return other.map(|_| ()),
                }
            }
        }
    };
    let results: Vec<_> = futures::stream::iter((0..signals).map(signal))
        .buffer_unordered(20)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(long)
}

async fn measure(
    client: &HttpClient,
    page: &'static str,
    urls: &[String],
    repeat: usize,
) -> anyhow::Result<PageFigures> {
    let mut ms = Vec::with_capacity(repeat);
    let mut bytes = 0;
    for _ in 0..repeat {
        let began = Instant::now();
        let sizes = futures::future::join_all(urls.iter().map(|u| get(client, u))).await;
        ms.push(began.elapsed().as_secs_f64() * 1000.0);
        bytes = sizes
            .into_iter()
            .collect::<anyhow::Result<Vec<_>>>()?
            .iter()
            .sum();
    }
    ms.sort_by(f64::total_cmp);
    Ok(PageFigures {
        page,
        p50_ms: percentile(&ms, 50.0),
        p99_ms: percentile(&ms, 99.0),
        bytes,
    })
}

pub async fn run(args: ConsoleArgs) -> anyhow::Result<()> {
    for label in &args.servers {
        let dir = crate::tempfile_dir(None)?;
        let mut server =
            Server::fresh(label, &args.keel_bin, &args.temporal_bin, &dir.path).await?;
        let long = fill(&server.target, args.workflows, args.events).await?;
        let base = server.http.clone();
        let ns = format!("{base}/api/v1/namespaces/default");
        let count = "GROUP%20BY%20ExecutionStatus";
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        // The dev server's list lags its writes: wait until it shows every run.
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while get(&client, &format!("{ns}/workflow-count")).await.is_err()
            && Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let mut pages = vec![
            (
                "list (namespaces, count by status, 100 runs)",
                vec![
                    format!("{base}/api/v1/namespaces?pageSize=100"),
                    format!("{ns}/workflow-count?query={count}"),
                    format!("{ns}/workflows?pageSize=100&query="),
                ],
            ),
            (
                "history (describe, first 200 of 10,000 events)",
                vec![
                    format!("{ns}/workflows/{long}"),
                    format!("{ns}/workflows/{long}/history?maximumPageSize=200"),
                ],
            ),
        ];
        if label.starts_with("keel") {
            pages.push(("cluster", vec![format!("{base}/api/keel/cluster")]));
            pages.push((
                "shell (page, script, stylesheet)",
                vec![
                    format!("{base}/namespaces/default/workflows"),
                    format!("{base}/assets/console.js"),
                    format!("{base}/assets/console.css"),
                ],
            ));
        }
        let mut figures = Vec::new();
        for (page, urls) in &pages {
            figures.push(measure(&client, page, urls, args.repeat).await?);
        }
        for f in &figures {
            println!(
                "{label:<9} {:<48} p50 {:>7.2} ms  p99 {:>7.2} ms  {:>8} bytes",
                f.page, f.p50_ms, f.p99_ms, f.bytes
            );
        }
        println!(
            "{}",
            serde_json::json!({"label": label, "workflows": args.workflows, "events": args.events, "pages": figures})
        );
        server.stop();
    }
    Ok(())
}
