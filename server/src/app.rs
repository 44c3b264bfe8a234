//! A running Keel node: storage, Raft, the leader services fed by apply's notifications, and
//! the gRPC servers (client port: Temporal, health, admin, behind admission and forwarding to
//! the leader; peer port: Raft RPCs and forwarded requests; `transport` for their TLS).
//! `run` serves `keel server start` and `start-dev`.

use crate::admin::AdminService;
use crate::admission::AdmissionLayer;
use crate::batch::Batches;
use crate::config::Security;
use crate::errors;
use crate::forward::ForwardLayer;
use crate::frontend::{Frontend, HistoryRoutes};
use crate::health::HealthService;
use crate::http_api::HttpApi;
use crate::matching::Matching;
use crate::operator::Operator;
use crate::proto::health::health_server::HealthServer;
use crate::proto::operatorservice::operator_service_server::OperatorServiceServer;
use crate::queries::Queries;
use crate::timers::Timers;
use crate::transport::{client_server_builder, incoming, load_security};
use crate::updates::Updates;
use crate::watchers::Watchers;
use anyhow::Context;
use keel_client::proto::keel_admin_server::KeelAdminServer;
use keel_client::tls::ServerTls;
use keel_engine::mutation::{Kind, SuggestContinueAsNew};
use keel_engine::records::{CurrentRun, ExecutionRecord, NamespaceRecord};
use keel_engine::{keys, validate, Mutation, Notification, Outcome};
use keel_raft::peer::PeerService;
use keel_raft::{KeelNode, NodeId, NodeOptions, RaftNode};
use keel_storage::Store;
use prost::Message;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::Status;
use tower::Layer;

pub struct Keel {
    pub node: RaftNode,
    pub store: Store,
    pub matching: Matching,
    pub timers: Timers,
    pub watchers: Watchers,
    /// Long polls on standalone activities (describe, outcome), by activity id and run id.
    pub activity_watchers: Watchers,
    pub queries: Queries,
    pub updates: Updates,
    pub batches: Batches,
    pub cluster_id: String,
    /// The client address other nodes and clients reach this node at.
    pub client_addr: String,
    /// Whether this node's leader services are live (see `leadership`).
    pub leading: AtomicBool,
    /// Set when shutdown begins: health checks answer NOT_SERVING from then on.
    pub stopping: AtomicBool,
    pub metrics: crate::metrics::Metrics,
    /// Temporal's dynamic config settings this node was started with.
    pub dynamic: crate::dynamic_config::DynamicConfig,
}

impl Keel {
    /// Whether every member can apply what feature level `RELEASE_2` added (eager dispatch,
    /// continue-as-new suggestions, user metadata in history); until then this leader
    /// proposes none of it.
    pub fn cluster_at_release_2(&self) -> bool {
        self.node.cluster_level() >= keel_engine::feature_level::RELEASE_2
    }

    /// Whether a start asking for eager execution gets its first workflow task in the answer.
    pub fn eager_workflow_start(&self) -> bool {
        self.dynamic.eager_workflow_start && self.cluster_at_release_2()
    }

    /// Whether activities asking for eager execution start for the completing worker.
    pub fn eager_activities(&self) -> bool {
        self.dynamic.eager_activities && self.cluster_at_release_2()
    }

    /// The minimal interval between runs of a continue-as-new chain (nanoseconds), once every
    /// member can apply it (feature level `RELEASE_3`); 0 before.
    pub fn continue_as_new_min_interval(&self) -> i64 {
        if self.node.cluster_level() < keel_engine::feature_level::RELEASE_3 {
            return 0;
        }
        i64::try_from(self.dynamic.workflow_id_reuse_minimal_interval.as_nanos())
            .unwrap_or(i64::MAX)
    }

    /// The continue-as-new thresholds a started workflow task is judged by, if the cluster
    /// can record suggestions.
    pub fn suggest_continue_as_new(&self) -> Option<SuggestContinueAsNew> {
        self.cluster_at_release_2().then_some(SuggestContinueAsNew {
            history_count: self.dynamic.history_count_suggest_continue_as_new,
            history_size_bytes: self.dynamic.history_size_suggest_continue_as_new,
        })
    }

    /// Proposes a mutation; a rejection becomes its gRPC status.
    pub async fn propose(&self, kind: Kind) -> Result<Outcome, Status> {
        let mutation = Mutation {
            now: 0,
            kind: Some(kind),
        };
        let m = &self.metrics;
        m.proposals_pending.inc();
        let began = Instant::now();
        let proposed = self.node.propose(mutation).await;
        m.proposals_pending.dec();
        match &proposed {
            Ok(_) => {
                m.proposals_committed.inc();
                m.proposal_latency.observe(began.elapsed().as_secs_f64());
            }
            Err(_) => m.proposals_failed.inc(),
        }
        proposed
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
        let not_found =
            || errors::not_found(keel_engine::workflow_not_found_text(workflow_id, run_id));
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

    /// A read that must reflect every write acknowledged before it, on any node.
    pub async fn linearizable(&self) -> Result<(), Status> {
        self.node.linearizable().await.map_err(errors::propose)
    }

    fn dispatch(self: &Arc<Self>, notifications: Vec<Notification>) {
        let leading = self.leading.load(Ordering::SeqCst);
        for n in notifications {
            match n {
                Notification::TaskAdded {
                    namespace,
                    queue,
                    kind,
                    task_key,
                    priority,
                    routing,
                } if leading => self
                    .matching
                    .add(&namespace, &queue, kind, task_key, &priority, routing),
                Notification::DeploymentChanged { namespace, .. } if leading => {
                    self.matching.deployment_changed(&namespace)
                }
                Notification::DeploymentChanged { .. } => {}
                Notification::TimerAdded { fire_at, key } if leading => {
                    self.timers.add(fire_at, key)
                }
                Notification::TaskAdded { .. } | Notification::TimerAdded { .. } => {}
                Notification::HistoryAppended {
                    namespace,
                    workflow_id,
                    run_id,
                } => self.watchers.notify(&namespace, &workflow_id, &run_id),
                Notification::ActivityExecutionChanged {
                    namespace,
                    activity_id,
                    run_id,
                } => self
                    .activity_watchers
                    .notify(&namespace, &activity_id, &run_id),
                Notification::BatchStarted { namespace, job_id } if leading => {
                    self.batches.spawn(self, &namespace, &job_id)
                }
                Notification::BatchStarted { .. } => {}
                Notification::RunClosed {
                    namespace, status, ..
                } => {
                    if let Some(outcome) = crate::metrics::RunOutcome::of_status(status) {
                        self.metrics.run_closed(&namespace, outcome);
                    }
                }
            }
        }
    }
}

async fn dispatch_notifications(keel: Arc<Keel>, mut rx: UnboundedReceiver<Vec<Notification>>) {
    while let Some(batch) = rx.recv().await {
        keel.dispatch(batch);
    }
}

/// How a node comes to belong to a cluster.
#[derive(Debug, Clone)]
pub enum Membership {
    /// A one-voter group of its own (`start-dev`).
    Single,
    /// One of an initial member set (ids and peer addresses), bootstrapped once all are up.
    Initial(BTreeMap<NodeId, String>),
    /// A new node joining the cluster reachable at these client addresses (peer addresses
    /// when `via_peer_port`: under the peer port's mutual TLS, past the client port's TLS and
    /// credentials).
    Join {
        seeds: Vec<String>,
        via_peer_port: bool,
    },
}

#[derive(Debug, Clone)]
pub struct NodeSetup {
    pub node_id: NodeId,
    pub data_dir: PathBuf,
    /// Client (Temporal gRPC and admin) address to listen on.
    pub listen: SocketAddr,
    /// Raft peer address to listen on (none for a single node).
    pub peer_listen: Option<SocketAddr>,
    /// Client address other nodes forward to, if not the bound `listen` address.
    pub advertise_addr: Option<String>,
    /// Peer address other nodes reach this one at, if not the bound `peer_listen` address
    /// (an initial member's is its `--initial-cluster` entry).
    pub advertise_peer_addr: Option<String>,
    /// Local address of outgoing connections to other nodes.
    pub source_ip: Option<std::net::IpAddr>,
    pub membership: Membership,
    /// Namespaces to create, besides `default`.
    pub namespaces: Vec<String>,
    pub snapshot_every: u64,
    /// Temporal's HTTP API (`http_api`), if wanted.
    pub http_listen: Option<ExtraListener>,
    /// The web console (`console`), if wanted.
    pub ui_listen: Option<ExtraListener>,
    /// The console hides and refuses every write action.
    pub ui_read_only: bool,
    /// Prometheus metrics and health probes (`metrics`), if wanted.
    pub metrics_listen: Option<ExtraListener>,
    /// TLS on the listeners and authorization.
    pub security: Security,
    /// The free-space reserve below which writes are refused (`disk`); none: the default.
    pub min_free_disk: Option<u64>,
}

/// A listener besides the client and peer ports.
#[derive(Debug, Clone, Copy)]
pub struct ExtraListener {
    pub addr: SocketAddr,
    /// A default nobody asked for: if the port is taken, the node warns and goes on without
    /// it (several dev servers on one machine), where an asked-for port stops the start.
    pub optional: bool,
}

impl ExtraListener {
    pub fn required(addr: SocketAddr) -> Self {
        ExtraListener {
            addr,
            optional: false,
        }
    }

    /// Binds the port; `None` for an optional one that is taken.
    async fn bind(self, what: &str) -> anyhow::Result<Option<tokio::net::TcpListener>> {
        match bind(self.addr, what).await {
            Ok(l) => Ok(Some(l)),
            Err(e) if self.optional => {
                tracing::warn!(error = %format!("{e:#}"), "{what} not started");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// The single-node default: `keel server start-dev`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub namespaces: Vec<String>,
    pub http_listen: Option<ExtraListener>,
    pub ui_listen: Option<ExtraListener>,
    pub ui_read_only: bool,
    pub metrics_listen: Option<ExtraListener>,
    pub security: Security,
    pub min_free_disk: Option<u64>,
}

/// Runs a single-node Keel until `shutdown` resolves.
pub async fn run_dev(
    opts: DevOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run(
        NodeSetup {
            node_id: 1,
            data_dir: opts.data_dir,
            listen: opts.listen,
            peer_listen: None,
            advertise_addr: None,
            advertise_peer_addr: None,
            source_ip: None,
            membership: Membership::Single,
            namespaces: opts.namespaces,
            snapshot_every: 20_000,
            http_listen: opts.http_listen,
            ui_listen: opts.ui_listen,
            ui_read_only: opts.ui_read_only,
            metrics_listen: opts.metrics_listen,
            security: opts.security,
            min_free_disk: opts.min_free_disk,
        },
        shutdown,
    )
    .await
}

/// The services of the client port (also served on the peer port, for forwarded requests).
fn client_routes(keel: &Arc<Keel>) -> Routes {
    let frontend = HistoryRoutes::new(Frontend { keel: keel.clone() });
    // Health checks come compressed like every other call (the temporal CLI sends gzip).
    let health = HealthServer::new(HealthService { keel: keel.clone() })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip);
    let admin = KeelAdminServer::new(AdminService { keel: keel.clone() });
    // The SDKs compress requests as they do for WorkflowService.
    let operator = OperatorServiceServer::new(Operator { keel: keel.clone() })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip);
    Routes::new(frontend)
        .add_service(health)
        .add_service(admin)
        .add_service(operator)
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({what})"))
}

/// Runs a Keel node until `shutdown` resolves.
pub async fn run(
    setup: NodeSetup,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let began = Instant::now();
    let loaded = load_security(&setup.security, setup.peer_listen.is_some())?;
    let listener = bind(setup.listen, "client port").await?;
    let local = listener.local_addr()?;
    let peer_listener = match setup.peer_listen {
        Some(addr) => Some(bind(addr, "peer port").await?),
        None => None,
    };
    let http_listener = match setup.http_listen {
        Some(l) => l.bind("HTTP API").await?,
        None => None,
    };
    let ui_listener = match setup.ui_listen {
        Some(l) => l.bind("console").await?,
        None => None,
    };
    let metrics_listener = match setup.metrics_listen {
        Some(l) => l.bind("metrics").await?,
        None => None,
    };
    let peer_local = match &peer_listener {
        Some(l) => l.local_addr()?.to_string(),
        None => String::new(),
    };
    std::fs::create_dir_all(&setup.data_dir)
        .with_context(|| format!("cannot create data directory {}", setup.data_dir.display()))?;
    let store = Store::open(&setup.data_dir)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let initial_entry = match &setup.membership {
        Membership::Initial(peers) => peers.get(&setup.node_id).cloned(),
        _ => None,
    };
    let addrs = KeelNode {
        client_addr: setup.advertise_addr.clone().unwrap_or(local.to_string()),
        peer_addr: (setup.advertise_peer_addr.clone())
            .or(initial_entry)
            .unwrap_or(peer_local.clone()),
    };
    #[cfg(feature = "test-clock")]
    tokio::spawn(crate::test_clock::follow_offset_file(
        setup.data_dir.clone(),
    ));
    let node = RaftNode::start(
        store.clone(),
        NodeOptions {
            node_id: setup.node_id,
            addrs: addrs.clone(),
            snapshot_every: setup.snapshot_every,
            transport: keel_raft::PeerTransport {
                source_ip: setup.source_ip,
                tls: loaded.peer_client_tls.clone(),
            },
        },
        tx,
    )
    .await?;
    let keel = Arc::new(Keel {
        node: node.clone(),
        store: store.clone(),
        matching: Matching::new(setup.security.dynamic.dispatch_policy(), store.clone()),
        timers: Timers::default(),
        watchers: Watchers::default(),
        activity_watchers: Watchers::default(),
        updates: Updates::default(),
        batches: Batches::default(),
        queries: Queries::default(),
        cluster_id: "keel".to_string(),
        client_addr: addrs.client_addr.clone(),
        leading: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        metrics: crate::metrics::Metrics::new(),
        dynamic: setup.security.dynamic.clone(),
    });
    for notice in &setup.security.dynamic_notices {
        tracing::warn!("dynamic config: {notice}");
    }
    crate::disk::measure_once(&node.disk, &setup.data_dir, setup.min_free_disk);
    tokio::spawn(crate::disk::watch(
        node.disk.clone(),
        setup.data_dir.clone(),
        setup.min_free_disk,
    ));
    tokio::spawn(crate::metrics::count_leader_changes(keel.clone()));
    tokio::spawn(exit_on_raft_fatal(keel.clone()));
    tokio::spawn(dispatch_notifications(keel.clone(), rx));
    let mut namespaces = vec!["default".to_string()];
    namespaces.extend(setup.namespaces.iter().cloned());
    let (ready_tx, mut ready) = tokio::sync::watch::channel(false);
    tokio::spawn(crate::leadership::follow(
        keel.clone(),
        namespaces,
        ready_tx,
    ));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let limits = crate::limits::Limits::new(setup.security.limits);
    let admission = AdmissionLayer::new(loaded.mapper.clone(), Some(limits));
    let peer_server = peer_listener.map(|l| {
        let service = PeerService::server(
            node.raft.clone(),
            setup.node_id,
            local.to_string(),
            node.cluster_id.clone(),
        );
        // Requests forwarded by members were admitted where they arrived; without peer TLS
        // anyone could send one, so they are authorized again here.
        let peer_admission = match loaded.peer_server_tls {
            Some(_) => AdmissionLayer::default(),
            None => AdmissionLayer::new(loaded.mapper.clone(), None),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(peer_admission)
                .layer(ForwardLayer::peer_side(node.clone()))
                .add_routes(client_routes(&keel).add_service(service).prepare())
                .serve_with_incoming_shutdown(
                    incoming(l, loaded.peer_server_tls.clone()),
                    stopped(&stop_rx),
                ),
        )
    });

    match &setup.membership {
        Membership::Single => {
            node.bootstrap_single().await?;
            // Announce only once the leader services are up.
            let _ = ready.wait_for(|r| *r).await;
        }
        Membership::Initial(members) => {
            let bootstrap_node = node.clone();
            let members = members.clone();
            tokio::spawn(async move {
                if let Err(e) = bootstrap_node.bootstrap_cluster(members).await {
                    tracing::error!(error = %e, "bootstrapping the cluster failed");
                }
            });
        }
        Membership::Join {
            seeds,
            via_peer_port,
        } => {
            let in_cluster = node
                .metrics()
                .membership_config
                .membership()
                .get_node(&setup.node_id)
                .is_some();
            if !in_cluster {
                let mut client = keel_client::AdminClient::new(seeds.clone())
                    .with_timeout(Duration::from_secs(600));
                if let (true, Some(tls)) = (via_peer_port, &loaded.peer_client_tls) {
                    client = client.with_tls(tls.clone());
                }
                tokio::spawn(join(client, setup.node_id, addrs.clone()));
            }
        }
    }

    let routes = client_routes(&keel).prepare();
    let forward = ForwardLayer::new(node.clone());
    let measured = crate::metrics::RequestMetricsLayer::new(keel.clone());
    let client_stack = || measured.layer(admission.layer(forward.layer(routes.clone())));
    let mut extras = String::new();
    let mut extra_servers = Vec::new();
    let mut serve_extra = |l: tokio::net::TcpListener,
                           what: &str,
                           router: axum::Router,
                           tls: Option<Arc<ServerTls>>| {
        let scheme = if tls.is_some() { "https" } else { "http" };
        extras.push_str(&format!(", {what} {scheme}://{}", l.local_addr()?));
        extra_servers.push(tokio::spawn(crate::http_api::serve(
            l,
            tls,
            router,
            stopped(&stop_rx),
        )));
        anyhow::Ok(())
    };
    // The HTTP API and the console take the client port's TLS; metrics stay plain, so
    // probes work whatever the client port needs.
    if let Some(l) = http_listener {
        let api = HttpApi::new(client_stack(), false);
        let router = crate::http_api::router(api);
        serve_extra(l, "HTTP API on", router, loaded.client_tls.clone())?;
    }
    if let Some(l) = ui_listener {
        let api = HttpApi::new(client_stack(), setup.ui_read_only);
        let console =
            crate::console::router(keel.clone(), api, setup.ui_read_only, loaded.mapper.clone());
        serve_extra(l, "console on", console, loaded.client_tls.clone())?;
    }
    if let Some(l) = metrics_listener {
        serve_extra(l, "metrics on", crate::metrics::router(keel.clone()), None)?;
    }
    tracing::info!(
        node = setup.node_id,
        addr = %local,
        peer_addr = %peer_local,
        data_dir = %setup.data_dir.display(),
        startup_ms = began.elapsed().as_millis() as u64,
        "Keel is serving"
    );
    let peers = if peer_local.is_empty() {
        String::new()
    } else {
        format!("node {}, peers on {peer_local}, ", setup.node_id)
    };
    println!(
        "keel serving on {local} ({peers}data in {}{extras}), ready in {} ms",
        setup.data_dir.display(),
        began.elapsed().as_millis()
    );
    let (draining_tx, draining) = tokio::sync::oneshot::channel::<()>();
    let server = client_server_builder()
        .layer(measured)
        .layer(admission)
        .layer(forward)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener, loaded.client_tls.clone()), {
            let keel = keel.clone();
            async move {
                shutdown.await;
                graceful_stop(&keel).await;
                let _ = draining_tx.send(());
            }
        });
    tokio::select! {
        served = server => served?,
        _ = async {
            let _ = draining.await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => tracing::warn!(
            secs = DRAIN_TIMEOUT.as_secs(),
            "requests still in flight after the drain timeout; stopping anyway"
        ),
    }
    // The peer port and the other listeners finish their requests (forwarded long polls
    // among them) within the same bound.
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    if let Some(server) = peer_server {
        finish_by(server, deadline, "the peer port").await;
    }
    for server in extra_servers {
        finish_by(server, deadline, "a listener").await;
    }
    node.shutdown().await;
    if let Err(e) = store.flush() {
        tracing::warn!(error = %e, "flushing memtables at shutdown failed");
    }
    tracing::info!("Keel stopped");
    Ok(())
}

/// A Raft core stopped by a fatal error (a storage write that failed: a full disk, an I/O
/// error) serves nothing again; the process exits non-zero so a supervisor restarts it,
/// rather than staying up answering UNAVAILABLE to everything.
async fn exit_on_raft_fatal(keel: Arc<Keel>) {
    let mut metrics = keel.node.raft.metrics();
    let fatal = match metrics.wait_for(|m| m.running_state.is_err()).await {
        Ok(m) => m.running_state.as_ref().err().map(|f| f.to_string()),
        Err(_) => None, // the node was dropped: a shutdown
    };
    if keel.stopping.load(Ordering::SeqCst) {
        return;
    }
    if let Some(fatal) = fatal {
        tracing::error!(
            error = %fatal,
            "Raft stopped on a fatal error; exiting so a supervisor can restart this node \
             (everything acknowledged is in the log)"
        );
        std::process::exit(70);
    }
}

/// Waits for a listener's server task until `deadline`, then aborts it.
async fn finish_by<T>(
    mut server: tokio::task::JoinHandle<T>,
    deadline: tokio::time::Instant,
    what: &str,
) {
    if tokio::time::timeout_at(deadline, &mut server)
        .await
        .is_err()
    {
        tracing::warn!("{what} still busy after the drain timeout; stopping anyway");
        server.abort();
    }
}

/// How long a stopping node lets in-flight requests finish (forwarded long polls included)
/// before it exits anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The first steps of a stop (SIGTERM, Ctrl-C): readiness and the health service turn
/// NOT_SERVING, and a leader hands leadership to an up-to-date follower, which ends this
/// node's waiting polls (their SDKs poll again, and are forwarded to the new leader).
async fn graceful_stop(keel: &Keel) {
    keel.stopping.store(true, Ordering::SeqCst);
    let began = std::time::Instant::now();
    if let Some(asked) = keel.node.hand_off_leadership(Duration::from_secs(2)).await {
        tracing::info!(
            campaigning = asked,
            ms = began.elapsed().as_millis() as u64,
            "handed leadership over before stopping"
        );
    }
}

/// Resolves once the node is stopping.
fn stopped(stop: &tokio::sync::watch::Receiver<bool>) -> impl std::future::Future<Output = ()> {
    let mut stop = stop.clone();
    async move {
        let _ = stop.wait_for(|s| *s).await;
    }
}

/// Asks the cluster (any member; the request reaches the leader) to add this node, retrying
/// until it is added: as a learner first, a voter once caught up.
async fn join(client: keel_client::AdminClient, node_id: NodeId, addrs: KeelNode) {
    let request = keel_client::messages::AddNodeRequest {
        node_id,
        client_addr: addrs.client_addr,
        peer_addr: addrs.peer_addr,
    };
    loop {
        match client.add_node(request.clone()).await {
            Ok(()) => {
                tracing::info!(node = node_id, "joined the cluster as a voter");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "joining the cluster failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
