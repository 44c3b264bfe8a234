//! A running Keel node: storage, Raft, the leader services fed by apply's notifications, and
//! the gRPC server. `run_dev` is `keel server start-dev`.

use crate::errors;
use crate::frontend::Frontend;
use crate::matching::Matching;
use crate::proto::health::health_server::{Health, HealthServer};
use crate::proto::workflowservice::workflow_service_server::WorkflowServiceServer;
use crate::queries::Queries;
use crate::timers::Timers;
use crate::watchers::Watchers;
use anyhow::Context;
use keel_engine::mutation::{Kind, RegisterNamespace};
use keel_engine::records::{CurrentRun, ExecutionRecord, NamespaceRecord};
use keel_engine::time::{duration, secs};
use keel_engine::{keys, validate, Mutation, Notification, Outcome};
use keel_raft::RaftNode;
use keel_storage::Store;
use prost::Message;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use temporalio_protos::grpc::health::v1::{
    health_check_response::ServingStatus, HealthCheckRequest, HealthCheckResponse,
};
use temporalio_protos::temporal::api::workflowservice::v1::RegisterNamespaceRequest;
use tokio::sync::mpsc::UnboundedReceiver;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

/// Namespaces created at bootstrap keep closed runs this long (Temporal's minimum).
const DEFAULT_RETENTION_SECS: i64 = 24 * 3600;
/// Largest gRPC message accepted (payload limit plus room for the envelope).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

pub struct Keel {
    pub node: RaftNode,
    pub store: Store,
    pub matching: Matching,
    pub timers: Timers,
    pub watchers: Watchers,
    pub queries: Queries,
    pub cluster_id: String,
}

impl Keel {
    /// Proposes a mutation; a rejection becomes its gRPC status.
    pub async fn propose(&self, kind: Kind) -> Result<Outcome, Status> {
        let mutation = Mutation {
            now: 0,
            kind: Some(kind),
        };
        self.node
            .propose(mutation)
            .await
            .map_err(errors::propose)?
            .map_err(errors::rejection)
    }

    pub fn namespace(&self, name: &str) -> Result<NamespaceRecord, Status> {
        validate::id("Namespace", name).map_err(errors::invalid_argument)?;
        match self
            .store
            .state_get(&keys::namespace(name))
            .map_err(errors::internal)?
        {
            Some(b) => NamespaceRecord::decode(b.as_slice()).map_err(errors::internal),
            None => Err(errors::namespace_not_found(name)),
        }
    }

    /// A run's state; an empty run id means the workflow id's current run.
    pub fn execution(
        &self,
        namespace: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> Result<ExecutionRecord, Status> {
        validate::id("WorkflowId", workflow_id).map_err(errors::invalid_argument)?;
        let not_found = || {
            errors::not_found(format!(
                "workflow execution not found for workflow ID \"{workflow_id}\" and run ID \"{run_id}\""
            ))
        };
        let run_id = if run_id.is_empty() {
            let current = self
                .store
                .state_get(&keys::current_run(namespace, workflow_id))
                .map_err(errors::internal)?
                .ok_or_else(not_found)?;
            CurrentRun::decode(current.as_slice())
                .map_err(errors::internal)?
                .run_id
        } else {
            run_id.to_string()
        };
        let bytes = self
            .store
            .state_get(&keys::execution(namespace, workflow_id, &run_id))
            .map_err(errors::internal)?
            .ok_or_else(not_found)?;
        ExecutionRecord::decode(bytes.as_slice()).map_err(errors::internal)
    }

    fn dispatch(&self, notifications: Vec<Notification>) {
        for n in notifications {
            match n {
                Notification::TaskAdded {
                    namespace,
                    queue,
                    kind,
                    task_key,
                } => self.matching.add(&namespace, &queue, kind, task_key),
                Notification::TimerAdded { fire_at, key } => self.timers.add(fire_at, key),
                Notification::HistoryAppended {
                    namespace,
                    workflow_id,
                    run_id,
                } => self.watchers.notify(&namespace, &workflow_id, &run_id),
            }
        }
    }
}

async fn dispatch_notifications(keel: Arc<Keel>, mut rx: UnboundedReceiver<Vec<Notification>>) {
    while let Some(batch) = rx.recv().await {
        keel.dispatch(batch);
    }
}

#[derive(Debug, Clone)]
pub struct DevOptions {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub namespaces: Vec<String>,
}

struct HealthService;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }
}

/// Runs a single-node Keel until `shutdown` resolves.
pub async fn run_dev(
    opts: DevOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let began = Instant::now();
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let local = listener.local_addr()?;
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("cannot create data directory {}", opts.data_dir.display()))?;
    let store = Store::open(&opts.data_dir)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let node = RaftNode::start_single(store.clone(), 1, local.to_string(), tx).await?;
    let keel = Arc::new(Keel {
        node: node.clone(),
        store: store.clone(),
        matching: Matching::default(),
        timers: Timers::default(),
        watchers: Watchers::default(),
        queries: Queries::default(),
        cluster_id: "keel".to_string(),
    });
    tokio::spawn(dispatch_notifications(keel.clone(), rx));
    // The log must be applied through the current term before loading the caches.
    keel.propose(Kind::Noop(keel_engine::mutation::Noop {}))
        .await?;
    let tasks = keel.matching.load(&store)?;
    let timers = keel.timers.load(&store)?;
    let timer_keel = keel.clone();
    let timer_task =
        tokio::spawn(async move { timer_keel.timers.run(timer_keel.node.clone()).await });

    let mut namespaces = vec!["default".to_string()];
    namespaces.extend(opts.namespaces.iter().cloned());
    for name in namespaces {
        keel.propose(Kind::RegisterNamespace(RegisterNamespace {
            request: Some(RegisterNamespaceRequest {
                namespace: name,
                workflow_execution_retention_period: duration(secs(DEFAULT_RETENTION_SECS)),
                ..Default::default()
            }),
            namespace_id: uuid::Uuid::new_v4().to_string(),
            if_absent: true,
        }))
        .await?;
    }

    let frontend = WorkflowServiceServer::new(Frontend { keel: keel.clone() })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let health = HealthServer::new(HealthService);
    tracing::info!(
        addr = %local,
        data_dir = %opts.data_dir.display(),
        ready_tasks = tasks,
        pending_timers = timers,
        startup_ms = began.elapsed().as_millis() as u64,
        "Keel is serving"
    );
    println!(
        "keel serving on {local} (data in {}), ready in {} ms",
        opts.data_dir.display(),
        began.elapsed().as_millis()
    );
    tonic::transport::Server::builder()
        .add_service(frontend)
        .add_service(health)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await?;
    timer_task.abort();
    node.shutdown().await;
    tracing::info!("Keel stopped");
    Ok(())
}
