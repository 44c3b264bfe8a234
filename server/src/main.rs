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
    /// Back up a live cluster to a file, check a backup, restore one as a new cluster.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Stream a consistent backup of the whole state at one applied index from a live node
    /// (writes go on meanwhile) into FILE, checked before it is kept.
    Save {
        #[command(flatten)]
        connect: ConnectArgs,
        file: PathBuf,
    },
    /// Check a backup and print its index, size, checksum and record counts.
    Status { file: PathBuf },
    /// Make a new data directory from a backup, for one member of a new cluster (with a new
    /// cluster id: it can never join the cluster the backup came from). Restore every member
    /// of the new cluster from the same file with the same --initial-cluster, then start each
    /// with `keel server start` (or the one node with `keel server start-dev`).
    Restore {
        file: PathBuf,
        /// The new data directory (must be empty or absent).
        #[arg(long)]
        data_dir: PathBuf,
        /// This member's id in the new cluster.
        #[arg(long, default_value_t = 1)]
        node_id: u64,
        /// The new cluster's members' peer addresses, "1=HOST:PORT,2=HOST:PORT,3=HOST:PORT"
        /// as given to `keel server start`; without it, a single node for `start-dev`.
        #[arg(long)]
        initial_cluster: Option<String>,
    },
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
        /// Refuse writes while the data directory's filesystem has less free space than
        /// this ("512MiB", "2GB", bytes) [default: 5% of the filesystem, at least 16 MiB, at
        /// most 1 GiB].
        #[arg(long)]
        min_free_disk: Option<String>,
        #[command(flatten)]
        security: SecurityArgs,
    },
    /// A node of a replicated cluster (a new one with --initial-cluster, an existing one with
    /// --join).
    Start(Box<StartArgs>),
}

/// How a command reaches a cluster's client port.
#[derive(clap::Args)]
struct ConnectArgs {
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
}

#[derive(clap::Args)]
struct ClusterArgs {
    #[command(flatten)]
    connect: ConnectArgs,
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
    /// Compact every member's RocksDB, one node at a time.
    Compact,
}

/// SIGINT or SIGTERM. The handlers are installed now, before the node serves, so a signal
/// that comes right after "serving" is a clean stop and not the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// An admin client for `addrs` with the command line's TLS and credentials.
fn admin_client(args: &ConnectArgs, addrs: Vec<String>) -> anyhow::Result<AdminClient> {
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

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1 << 20) as f64)
}

async fn cluster(args: ClusterArgs) -> anyhow::Result<()> {
    let addresses = args.connect.addresses.clone();
    let client = admin_client(&args.connect, addresses.clone())?;
    match args.command {
        ClusterCommand::Status => {
            let members = client.cluster_status().await?;
            let cluster_id = members
                .iter()
                .find_map(|(_, s)| s.as_ref().ok().map(|s| s.cluster_id.clone()))
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| "-".into());
            let cluster_level = members
                .iter()
                .find_map(|(_, s)| s.as_ref().ok().and_then(|s| s.cluster_level));
            println!(
                "{:<5} {:<22} {:<22} {:<10} {:<6} {:>9} {:>9} {:>9} {:>9} {:>9} {:<8}  reachable",
                "id",
                "client",
                "peer",
                "role",
                "term",
                "last_log",
                "applied",
                "snapshot",
                "data_mib",
                "disk_mib",
                "version"
            );
            for (member, status) in members {
                match status {
                    Ok(s) => println!(
                        "{:<5} {:<22} {:<22} {:<10} {:<6} {:>9} {:>9} {:>9} {:>9} {:>9} {:<8}  yes",
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
                        opt(s.snapshot_index),
                        mib(s.data_size_bytes),
                        mib(s.disk_size_bytes),
                        format!("{}/f{}/l{}", s.version, s.storage_format, s.feature_level)
                    ),
                    Err(e) => println!(
                        "{:<5} {:<22} {:<22} {:<10} {:<6} {:>9} {:>9} {:>9} {:>9} {:>9} {:<8}  no ({e})",
                        member.node_id,
                        member.client_addr,
                        member.peer_addr,
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-"
                    ),
                }
            }
            println!(
                "cluster {cluster_id} feature level {}",
                cluster_level.map_or_else(|| "-".into(), |l| l.to_string())
            );
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
        ClusterCommand::Compact => {
            for (member, _) in client.cluster_status().await? {
                let r = client
                    .to(vec![member.client_addr.clone()])
                    .compact()
                    .await?;
                println!(
                    "node {}: {} MiB on disk before, {} MiB after",
                    member.node_id,
                    mib(r.disk_bytes_before),
                    mib(r.disk_bytes_after)
                );
            }
        }
        ClusterCommand::Checksum => {
            let c = client.to(addresses[..1].to_vec()).state_checksum().await?;
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
            min_free_disk,
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
                    min_free_disk: min_free_disk
                        .as_deref()
                        .map(keel_server::config::parse_size)
                        .transpose()?,
                },
                shutdown_signal(),
            )
            .await
        }
        Command::Server(ServerCommand::Start(args)) => {
            keel_server::run(args.into_setup()?, shutdown_signal()).await
        }
        Command::Cluster(args) => cluster(args).await,
        Command::Snapshot(command) => snapshot(command).await,
    }
}

fn print_summary(s: &keel_raft::backup::Summary) {
    let i = &s.info;
    println!("index      {} (term {})", i.applied_index, i.applied_term);
    println!("size       {} bytes", s.size);
    println!("sha256     {}", s.sha256);
    println!("records    {}", i.pairs);
    for (table, count) in &s.tables {
        println!("  {table:<15} {count}");
    }
    println!(
        "cluster    {}",
        if i.cluster_id.is_empty() {
            "-"
        } else {
            &i.cluster_id
        }
    );
    println!(
        "taken from node {} running Keel {}",
        i.node_id, i.keel_version
    );
    println!("format     {}", i.storage_format);
}

async fn snapshot(command: SnapshotCommand) -> anyhow::Result<()> {
    use keel_raft::backup;
    match command {
        SnapshotCommand::Save { connect, file } => {
            let client = admin_client(&connect, connect.addresses.clone())?;
            let partial = file.with_extension("part");
            let out = std::io::BufWriter::new(
                std::fs::File::create(&partial)
                    .with_context(|| format!("cannot create {}", partial.display()))?,
            );
            let saved = client.snapshot_save(out).await;
            let checked = saved
                .map_err(anyhow::Error::from)
                .and_then(|_| backup::verify(&partial).map_err(anyhow::Error::from));
            let summary = match checked {
                Ok(s) => s,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e.context("the backup was not saved"));
                }
            };
            std::fs::File::open(&partial)?.sync_all()?;
            std::fs::rename(&partial, &file)?;
            println!("saved {}", file.display());
            print_summary(&summary);
        }
        SnapshotCommand::Status { file } => print_summary(&backup::verify(&file)?),
        SnapshotCommand::Restore {
            file,
            data_dir,
            node_id,
            initial_cluster,
        } => {
            let members = match initial_cluster {
                Some(list) => keel_server::config::parse_initial_cluster(&list)?
                    .into_iter()
                    .map(|(id, peer_addr)| {
                        (
                            id,
                            keel_raft::KeelNode {
                                // Filled in by the leader once the member answers.
                                client_addr: String::new(),
                                peer_addr,
                            },
                        )
                    })
                    .collect(),
                None => std::collections::BTreeMap::from([(node_id, Default::default())]),
            };
            let restored = backup::restore(
                &file,
                &backup::RestoreTarget {
                    data_dir: data_dir.clone(),
                    node_id,
                    members,
                },
            )?;
            println!(
                "restored {} into {} as node {node_id} of the new cluster {}",
                file.display(),
                data_dir.display(),
                restored.cluster_id
            );
            print_summary(&restored.summary);
        }
    }
    Ok(())
}
