//! The `keel` binary: `keel server start-dev` (one node), `keel server start` (a cluster
//! node) and the `keel cluster` admin commands.

use anyhow::Context;
use clap::{Parser, Subcommand};
use keel_client::messages::AddNodeRequest;
use keel_client::AdminClient;
use keel_server::config::{SecurityArgs, StartArgs};
use keel_server::ExtraListener;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "keel",
    version,
    about = "Durable execution in one binary: Temporal's API on RocksDB and Raft"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a Keel server.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Inspect and change a running cluster.
    Cluster(ClusterArgs),
}

// Parsed once at start: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ServerCommand {
    /// A single node with its data in a local folder.
    StartDev {
        /// Where the node keeps its RocksDB.
        #[arg(long, default_value = "./keel-data")]
        data_dir: PathBuf,
        /// Client (Temporal gRPC) address.
        #[arg(long, default_value = "127.0.0.1:7233")]
        listen: SocketAddr,
        /// Namespaces to create at start, besides `default` (repeatable).
        #[arg(long = "namespace")]
        namespaces: Vec<String>,
        /// Temporal's HTTP API address [default: 127.0.0.1:7243, skipped with a warning if
        /// that port is taken].
        #[arg(long)]
        http_listen: Option<SocketAddr>,
        /// The web console's address [default: 127.0.0.1:8233, skipped with a warning if
        /// that port is taken].
        #[arg(long)]
        ui_listen: Option<SocketAddr>,
        /// No web console.
        #[arg(long)]
        headless: bool,
        /// The console shows no write action and its API refuses them.
        #[arg(long)]
        ui_read_only: bool,
        /// Prometheus metrics and health probes' address [default: 127.0.0.1:9233, skipped
        /// with a warning if that port is taken].
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
        #[command(flatten)]
        security: SecurityArgs,
    },
    /// A node of a replicated cluster (a new one with --initial-cluster, an existing one with
    /// --join).
    Start(Box<StartArgs>),
}

#[derive(clap::Args)]
struct ClusterArgs {
    /// Client address of any member (repeatable: tried in turn).
    #[arg(long = "address", default_value = "127.0.0.1:7233", global = true)]
    addresses: Vec<String>,
    /// Connect over TLS, checking the nodes' certificates against this CA (PEM).
    #[arg(long, global = true)]
    tls_ca_file: Option<PathBuf>,
    /// A client certificate (PEM) for nodes that require mutual TLS.
    #[arg(long, global = true, requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// The key (PEM) of `--tls-cert-file`.
    #[arg(long, global = true, requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// An API key or JWT sent as `Authorization: Bearer ...` (also `KEEL_API_KEY`).
    #[arg(long, global = true, env = "KEEL_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Every member: id, addresses, role, term, log, applied and snapshot indexes, reachability.
    Status,
    /// Add a node (it must be running, started with `keel server start --join`, or about to
    /// be): learner first, voter once caught up.
    AddNode {
        #[arg(long)]
        node_id: u64,
        #[arg(long)]
        client_addr: String,
        #[arg(long)]
        peer_addr: String,
    },
    /// Remove a node from the membership.
    RemoveNode {
        #[arg(long)]
        node_id: u64,
    },
    /// Make a voter the leader (it campaigns; it wins if its log is up to date).
    TransferLeader {
        #[arg(long)]
        node_id: u64,
    },
    /// A checksum of one node's state (the node at the first --address).
    Checksum,
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// An admin client for `addrs` with the command line's TLS and credentials.
fn admin_client(args: &ClusterArgs, addrs: Vec<String>) -> anyhow::Result<AdminClient> {
    let mut client = AdminClient::new(addrs);
    if let Some(ca) = &args.tls_ca_file {
        let tls = keel_client::tls::ClientTls::client(keel_client::tls::ClientTlsFiles {
            ca: ca.clone(),
            cert: args.tls_cert_file.clone(),
            key: args.tls_key_file.clone(),
        })?;
        client = client.with_tls(std::sync::Arc::new(tls));
    }
    if let Some(key) = &args.api_key {
        client = client.with_bearer(key)?;
    }
    Ok(client)
}

async fn cluster(args: ClusterArgs) -> anyhow::Result<()> {
    let client = admin_client(&args, args.addresses.clone())?;
    match args.command {
        ClusterCommand::Status => {
            let members = client.cluster_status().await?;
            println!(
                "{:<5} {:<22} {:<22} {:<10} {:<6} {:>9} {:>9} {:>9}  reachable",
                "id", "client", "peer", "role", "term", "last_log", "applied", "snapshot"
            );
            for (member, status) in members {
                match status {
                    Ok(s) => println!(
                        "{:<5} {:<22} {:<22} {:<10} {:<6} {:>9} {:>9} {:>9}  yes",
                        member.node_id,
                        member.client_addr,
                        member.peer_addr,
                        if member.voter {
                            s.role
                        } else {
                            format!("{} (learner)", s.role)
                        },
                        s.term,
                        opt(s.last_log_index),
                        opt(s.applied_index),
                        opt(s.snapshot_index)
                    ),
                    Err(e) => println!(
                        "{:<5} {:<22} {:<22} {:<10} {:<6} {:>9} {:>9} {:>9}  no ({e})",
                        member.node_id,
                        member.client_addr,
                        member.peer_addr,
                        "-",
                        "-",
                        "-",
                        "-",
                        "-"
                    ),
                }
            }
        }
        ClusterCommand::AddNode {
            node_id,
            client_addr,
            peer_addr,
        } => {
            client
                .add_node(AddNodeRequest {
                    node_id,
                    client_addr,
                    peer_addr,
                })
                .await?;
            println!("node {node_id} added as a voter");
        }
        ClusterCommand::RemoveNode { node_id } => {
            client.remove_node(node_id).await?;
            println!("node {node_id} removed");
        }
        ClusterCommand::TransferLeader { node_id } => {
            let status = client.node_status().await?;
            let member = status
                .members
                .iter()
                .find(|m| m.node_id == node_id)
                .with_context(|| format!("node {node_id} is not a member"))?;
            if !member.voter {
                anyhow::bail!("node {node_id} is a learner; only voters can lead");
            }
            client
                .to(vec![member.client_addr.clone()])
                .campaign()
                .await?;
            // Report who leads once the election settles.
            for _ in 0..50 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                if let Ok(s) = client
                    .to(vec![member.client_addr.clone()])
                    .node_status()
                    .await
                {
                    if s.leader_id == Some(node_id) {
                        println!("node {node_id} leads (term {})", s.term);
                        return Ok(());
                    }
                }
            }
            anyhow::bail!(
                "node {node_id} campaigned but does not lead yet; see `keel cluster status`"
            );
        }
        ClusterCommand::Checksum => {
            let c = client
                .to(args.addresses[..1].to_vec())
                .state_checksum()
                .await?;
            println!(
                "applied {} keys {} checksum {:016x}",
                opt(c.applied_index),
                c.keys,
                c.checksum
            );
        }
    }
    Ok(())
}

#[tokio::main]
pub(crate) async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Server(ServerCommand::StartDev {
            data_dir,
            listen,
            namespaces,
            http_listen,
            ui_listen,
            headless,
            ui_read_only,
            metrics_listen,
            security,
        }) => {
            let or_default = |asked: Option<SocketAddr>, port: u16| {
                Some(asked.map_or(
                    ExtraListener {
                        addr: SocketAddr::from(([127, 0, 0, 1], port)),
                        optional: true,
                    },
                    ExtraListener::required,
                ))
            };
            keel_server::run_dev(
                keel_server::DevOptions {
                    data_dir,
                    listen,
                    namespaces,
                    http_listen: or_default(http_listen, 7243),
                    ui_listen: if headless {
                        None
                    } else {
                        or_default(ui_listen, 8233)
                    },
                    ui_read_only,
                    metrics_listen: or_default(metrics_listen, 9233),
                    security: security.into_security(None)?,
                },
                shutdown_signal(),
            )
            .await
        }
        Command::Server(ServerCommand::Start(args)) => {
            keel_server::run(args.into_setup()?, shutdown_signal()).await
        }
        Command::Cluster(args) => cluster(args).await,
    }
}
