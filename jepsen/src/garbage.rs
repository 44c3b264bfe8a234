//! The garbage nemesis: hostile traffic at every port of one node while the workload runs.
//! On raw TCP, random bytes and HTTP/2 cut off mid-frame, to the client and the peer port;
//! as well-formed gRPC, calls carrying junk: replayed task tokens (of completions the server
//! already acknowledged) and forged ones (Keel's format, naming the run's real workflow ids)
//! for every completion, undecodable and foreign page tokens, absurd
//! queries, and Raft messages of random bytes on the peer port. The node must take it all:
//! keep running (a node the garbage brought down is an anomaly, `garbage-crash`), and every
//! checker rule still holds, as nothing of it may be applied.

use crate::nemesis::Rng;
use bytes::Bytes;
use keel_server::http_api::RawCodec;
use keel_server::proto::workflowservice::workflow_service_client::WorkflowServiceClient;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use temporalio_protos::temporal::api::workflowservice::v1 as ws;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

/// A running barrage; `stop` ends it and says how many hostile requests it made.
pub struct Garbage {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Garbage {
    pub fn spawn(
        client: SocketAddr,
        peer: SocketAddr,
        seed: u64,
        workflow_ids: Vec<String>,
        used_tokens: Vec<Vec<u8>>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let known = Known {
            workflow_ids,
            used_tokens,
        };
        let task = tokio::spawn(barrage(
            client,
            peer,
            Rng::new(seed),
            known,
            stop.clone(),
            sent.clone(),
        ));
        Garbage { stop, sent, task }
    }

    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.sent.load(Ordering::Relaxed)
    }
}

fn junk(rng: &mut Rng, max: u64) -> Vec<u8> {
    (0..rng.range(0, max))
        .map(|_| rng.next_u64() as u8)
        .collect()
}

/// Random bytes, or an HTTP/2 preface followed by a frame cut off, on a fresh connection.
async fn raw_tcp(addr: SocketAddr, rng: &mut Rng) {
    let Ok(Ok(mut conn)) =
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await
    else {
        return;
    };
    let mut bytes = Vec::new();
    if rng.range(0, 2) == 0 {
        bytes.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        // A frame header announcing more than follows.
        bytes.extend_from_slice(&[0, 0x40, 0, rng.range(0, 10) as u8, 0, 0, 0, 0, 1]);
    }
    bytes.extend(junk(rng, 2_000));
    let _ = conn.write_all(&bytes).await;
    let mut answer = [0u8; 256];
    let _ = tokio::time::timeout(Duration::from_millis(200), conn.read(&mut answer)).await;
}

/// What the barrage knows of the run: its workflow ids and tokens already used.
struct Known {
    workflow_ids: Vec<String>,
    used_tokens: Vec<Vec<u8>>,
}

/// A task token in Keel's format naming a real workflow, with a made-up run and attempt.
fn forged_token(rng: &mut Rng, workflow_ids: &[String]) -> Vec<u8> {
    let workflow_id = if workflow_ids.is_empty() {
        "wf".to_string()
    } else {
        rng.pick(workflow_ids).clone()
    };
    keel_engine::TaskToken {
        namespace: "default".into(),
        workflow_id,
        run_id: format!("{:032x}", rng.next_u64()),
        target: rng.range(0, 50) as i64,
        attempt: rng.range(0, 5) as i32,
        // Workflow, activity, query and Nexus tokens.
        kind: rng.range(0, 5) as i32,
        activity_id: rng.range(0, 10).to_string(),
        // Now and then one naming a standalone activity of the same id, or a Nexus
        // cancellation.
        standalone: rng.range(0, 4) == 0,
        nexus_cancel: rng.range(0, 4) == 0,
    }
    .to_bytes()
}

/// One junk call on the client port's WorkflowService.
async fn junk_call(client: &mut WorkflowServiceClient<Channel>, rng: &mut Rng, known: &Known) {
    let ids = &known.workflow_ids;
    let token = match rng.range(0, 3) {
        0 if !known.used_tokens.is_empty() => rng.pick(&known.used_tokens).clone(),
        0 | 1 => forged_token(rng, ids),
        _ => junk(rng, 200),
    };
    let namespace = "default".to_string();
    let _ = match rng.range(0, 6) {
        0 => client
            .respond_activity_task_completed(ws::RespondActivityTaskCompletedRequest {
                namespace,
                task_token: token,
                ..Default::default()
            })
            .await
            .map(drop),
        1 => client
            .respond_workflow_task_completed(ws::RespondWorkflowTaskCompletedRequest {
                namespace,
                task_token: token,
                ..Default::default()
            })
            .await
            .map(drop),
        2 => client
            .respond_activity_task_failed(ws::RespondActivityTaskFailedRequest {
                namespace,
                task_token: token,
                ..Default::default()
            })
            .await
            .map(drop),
        3 => client
            .record_activity_task_heartbeat(ws::RecordActivityTaskHeartbeatRequest {
                namespace,
                task_token: token,
                ..Default::default()
            })
            .await
            .map(drop),
        4 => client
            .list_workflow_executions(ws::ListWorkflowExecutionsRequest {
                namespace,
                page_size: rng.range(0, 1000) as i32,
                next_page_token: token,
                query: String::from_utf8_lossy(&junk(rng, 60)).to_string(),
            })
            .await
            .map(drop),
        _ => client
            .get_workflow_execution_history(ws::GetWorkflowExecutionHistoryRequest {
                namespace,
                execution: Some(
                    temporalio_protos::temporal::api::common::v1::WorkflowExecution {
                        workflow_id: ids.first().cloned().unwrap_or_default(),
                        run_id: String::new(),
                    },
                ),
                next_page_token: token,
                ..Default::default()
            })
            .await
            .map(drop),
    };
}

/// A Raft RPC of random bytes on the peer port.
async fn junk_raft(peer: &Channel, rng: &mut Rng) {
    let method = *rng.pick(&[
        "AppendEntries",
        "Vote",
        "InstallSnapshot",
        "Hello",
        "ReadIndex",
        "NoSuchMethod",
    ]);
    let mut grpc = tonic::client::Grpc::new(peer.clone());
    if grpc.ready().await.is_err() {
        return;
    }
    let Ok(path) = format!("/keel.raft.v1.RaftPeer/{method}").parse() else {
        return;
    };
    let body = Bytes::from(junk(rng, 600));
    let _ = grpc.unary(tonic::Request::new(body), path, RawCodec).await;
}

async fn barrage(
    client: SocketAddr,
    peer: SocketAddr,
    mut rng: Rng,
    known: Known,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    let channel = |addr: SocketAddr| {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}")).map(|e| {
            e.connect_timeout(Duration::from_secs(1))
                .timeout(Duration::from_secs(2))
                .connect_lazy()
        })
    };
    let (Ok(client_channel), Ok(peer_channel)) = (channel(client), channel(peer)) else {
        return;
    };
    let mut workflow = WorkflowServiceClient::new(client_channel);
    while !stop.load(Ordering::Relaxed) {
        match rng.range(0, 4) {
            0 => raw_tcp(if rng.range(0, 2) == 0 { client } else { peer }, &mut rng).await,
            1 | 2 => junk_call(&mut workflow, &mut rng, &known).await,
            _ => junk_raft(&peer_channel, &mut rng).await,
        }
        sent.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
