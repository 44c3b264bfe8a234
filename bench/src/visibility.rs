//! `keel-bench visibility`: list and count latency with many closed and some running
//! workflows in one namespace, on a fresh Keel single node and a fresh Temporal dev server
//! (persisted SQLite), one after the other. The fill starts workflows (types `x` and `y`, a
//! custom keyword `BenchTeam` with 100 values) and terminates all but the running ones; then
//! each query is asked `--repeat` times, one at a time, and its latency (as the client sees
//! it over loopback) reported:
//! (a) `ExecutionStatus = 'Running'`, a page of 100;
//! (b) `WorkflowType = 'x' AND StartTime > <the fill's midpoint>`, a page of 100;
//! (c) Count `GROUP BY ExecutionStatus`;
//! (d) `BenchTeam = 'team-7'`, a page of 100.

use crate::raw::connect;
use crate::report::percentile;
use crate::servers::Server;
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use temporalio_protos::temporal::api::{
    common::v1::{Payload, SearchAttributes, WorkflowExecution, WorkflowType},
    enums::v1::IndexedValueType,
    operatorservice::v1::{
        operator_service_client::OperatorServiceClient, AddSearchAttributesRequest,
    },
    taskqueue::v1::TaskQueue,
    workflowservice::v1::*,
};

#[derive(clap::Args)]
pub struct VisibilityArgs {
    #[arg(long)]
    keel_bin: PathBuf,
    #[arg(long)]
    temporal_bin: PathBuf,
    /// Closed workflows in Keel's namespace.
    #[arg(long, default_value_t = 1_000_000)]
    closed: usize,
    /// Closed workflows in the dev server's (it fills at a few hundred a second).
    #[arg(long, default_value_t = 100_000)]
    temporal_closed: usize,
    /// Running workflows in both.
    #[arg(long, default_value_t = 10_000)]
    running: usize,
    /// Times each query is asked.
    #[arg(long, default_value_t = 200)]
    repeat: usize,
    /// Calls in flight while filling Keel, and the dev server (which sheds more at once).
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    #[arg(long, default_value_t = 50)]
    temporal_concurrency: usize,
    #[arg(long, value_delimiter = ',', default_value = "keel-1,temporal")]
    servers: Vec<String>,
}

#[derive(Debug, Serialize)]
struct QueryFigures {
    query: &'static str,
    p50_ms: f64,
    p99_ms: f64,
    /// Runs on the first page (or the count's groups).
    returned: usize,
    /// Calls the server shed (RESOURCE_EXHAUSTED) and that were asked again; only the
    /// answered attempt's latency is counted.
    shed: usize,
}

#[derive(Debug, Serialize)]
struct VisibilityReport {
    label: String,
    closed: usize,
    running: usize,
    fill_s: f64,
    queries: Vec<QueryFigures>,
}

fn keyword(value: &str) -> Payload {
    Payload {
        metadata: HashMap::from([
            ("encoding".to_string(), b"json/plain".to_vec()),
            ("type".to_string(), b"Keyword".to_vec()),
        ]),
        data: format!("\"{value}\"").into_bytes(),
        ..Default::default()
    }
}

async fn fill(
    server: &Server,
    args: &VisibilityArgs,
    closed: usize,
    concurrency: usize,
) -> anyhow::Result<i64> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.target))?
        .connect()
        .await?;
    let mut operator = OperatorServiceClient::new(channel);
    // The dev server sheds requests while it starts up (RESOURCE_EXHAUSTED): ask again.
    let mut attempts = 0;
    loop {
        let added = operator
            .add_search_attributes(AddSearchAttributesRequest {
                namespace: "default".into(),
                search_attributes: HashMap::from([(
                    "BenchTeam".to_string(),
                    IndexedValueType::Keyword as i32,
                )]),
            })
            .await;
        match added {
            Err(e) if e.code() == tonic::Code::ResourceExhausted && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            other => {
                other?;
                break;
            }
        }
    }
    let client = connect(&server.target, &Default::default()).await?;
    let total = closed + args.running;
    let mut midpoint = 0;
    let results = futures::stream::iter(0..total)
        .map(|i| {
            let client = client.clone();
            async move {
                let id = format!("vis-{i:07}");
                let start = StartWorkflowExecutionRequest {
                    namespace: "default".into(),
                    workflow_id: id.clone(),
                    workflow_type: Some(WorkflowType {
                        name: if i % 2 == 0 { "x" } else { "y" }.into(),
                    }),
                    task_queue: Some(TaskQueue {
                        name: "vis-nobody".into(),
                        ..Default::default()
                    }),
                    request_id: id.clone(),
                    search_attributes: Some(SearchAttributes {
                        indexed_fields: HashMap::from([(
                            "BenchTeam".to_string(),
                            keyword(&format!("team-{}", i % 100)),
                        )]),
                    }),
                    ..Default::default()
                };
                // Same request id: a retried start is answered with the same run.
                retrying(
                    || {
                        let (mut c, r) = (client.clone(), start.clone());
                        async move { c.start_workflow_execution(r).await }
                    },
                    |_| false,
                )
                .await?;
                if i < closed {
                    let terminate = TerminateWorkflowExecutionRequest {
                        namespace: "default".into(),
                        workflow_execution: Some(WorkflowExecution {
                            workflow_id: id,
                            run_id: String::new(),
                        }),
                        reason: "bench".into(),
                        ..Default::default()
                    };
                    retrying(
                        || {
                            let (mut c, r) = (client.clone(), terminate.clone());
                            async move { c.terminate_workflow_execution(r).await }
                        },
                        // Terminated by an earlier try whose answer was lost.
                        |s| s.code() == tonic::Code::NotFound,
                    )
                    .await?;
                }
                Ok::<_, tonic::Status>(i)
            }
        })
        .buffer_unordered(concurrency);
    tokio::pin!(results);
    while let Some(r) = results.next().await {
        if r? == total / 2 {
            midpoint = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64;
        }
    }
    Ok(midpoint)
}

/// A fill call, asked again (the dev server sheds load by closing connections or answering
/// RESOURCE_EXHAUSTED); `done` says which refusals mean the call already took effect.
async fn retrying<T, F, Fut>(
    mut call: F,
    done: fn(&tonic::Status) -> bool,
) -> Result<Option<T>, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Ok(r) => return Ok(Some(r.into_inner())),
            Err(s) if done(&s) => return Ok(None),
            Err(_) if tries < 20 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100 * tries)).await;
            }
            Err(s) => return Err(s),
        }
    }
}

/// One measured query: asked again after a RESOURCE_EXHAUSTED (counted in `shed`, after a
/// pause), the answered attempt's milliseconds and answer.
async fn timed_shed_retried<T, F, Fut>(shed: &mut usize, mut call: F) -> anyhow::Result<(f64, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    loop {
        let t = Instant::now();
        match call().await {
            Ok(r) => return Ok((t.elapsed().as_secs_f64() * 1000.0, r.into_inner())),
            Err(s) if s.code() == tonic::Code::ResourceExhausted && *shed < 10_000 => {
                *shed += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(s) => return Err(s.into()),
        }
    }
}

async fn measure(server: &Server, args: &VisibilityArgs) -> anyhow::Result<VisibilityReport> {
    let began = Instant::now();
    // The dev server fills far slower: fewer runs, fewer calls at once.
    let (closed, concurrency) = if server.label == "temporal" {
        (args.temporal_closed, args.temporal_concurrency)
    } else {
        (args.closed, args.concurrency)
    };
    let midpoint = fill(server, args, closed, concurrency).await?;
    let fill_s = began.elapsed().as_secs_f64();
    let since = keel_engine::time::format_rfc3339(midpoint * 1_000_000_000);
    let client = connect(&server.target, &Default::default()).await?;
    let lists = [
        (
            "(a) ExecutionStatus='Running', 100",
            "ExecutionStatus = 'Running'".to_string(),
        ),
        (
            "(b) WorkflowType='x' AND StartTime>t, 100",
            format!("WorkflowType = 'x' AND StartTime > '{since}'"),
        ),
        (
            "(d) BenchTeam='team-7', 100",
            "BenchTeam = 'team-7'".to_string(),
        ),
    ];
    let mut queries = Vec::new();
    for (name, query) in lists {
        let mut took = Vec::new();
        let mut returned = 0;
        let mut shed = 0;
        for _ in 0..args.repeat {
            let (ms, page) = timed_shed_retried(&mut shed, || {
                let mut c = client.clone();
                let query = query.clone();
                async move {
                    c.list_workflow_executions(ListWorkflowExecutionsRequest {
                        namespace: "default".into(),
                        page_size: 100,
                        query,
                        ..Default::default()
                    })
                    .await
                }
            })
            .await?;
            took.push(ms);
            returned = page.executions.len();
        }
        took.sort_by(f64::total_cmp);
        queries.push(QueryFigures {
            query: name,
            p50_ms: percentile(&took, 50.0),
            p99_ms: percentile(&took, 99.0),
            returned,
            shed,
        });
    }
    let mut took = Vec::new();
    let mut groups = 0;
    let mut shed = 0;
    for _ in 0..args.repeat {
        let (ms, counted) = timed_shed_retried(&mut shed, || {
            let mut c = client.clone();
            async move {
                c.count_workflow_executions(CountWorkflowExecutionsRequest {
                    namespace: "default".into(),
                    query: "GROUP BY ExecutionStatus".into(),
                })
                .await
            }
        })
        .await?;
        took.push(ms);
        groups = counted.groups.len();
    }
    took.sort_by(f64::total_cmp);
    queries.insert(
        2,
        QueryFigures {
            query: "(c) count GROUP BY ExecutionStatus",
            p50_ms: percentile(&took, 50.0),
            p99_ms: percentile(&took, 99.0),
            returned: groups,
            shed,
        },
    );
    Ok(VisibilityReport {
        label: server.label.clone(),
        closed,
        running: args.running,
        fill_s,
        queries,
    })
}

pub async fn run(args: VisibilityArgs) -> anyhow::Result<()> {
    let dir =
        std::env::temp_dir().join(format!("keel-bench-vis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut reports = Vec::new();
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
        "\nkeel-1: {} closed + {} running; temporal: {} closed + {} running",
        k.closed, k.running, t.closed, t.running
    );
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>10}",
        "query (ms)", "keel p50", "keel p99", "temp p50", "temp p99"
    );
    for (a, b) in k.queries.iter().zip(&t.queries) {
        println!(
            "{:<44} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            a.query, a.p50_ms, a.p99_ms, b.p50_ms, b.p99_ms
        );
    }
    println!("fill (s): keel {:.0}, temporal {:.0}", k.fill_s, t.fill_s);
    Ok(())
}
