//! The `keel` binary.

use clap::{Parser, Subcommand};
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

#[derive(Subcommand)]
enum Command {
    /// Run a Keel server.
    #[command(subcommand)]
    Server(ServerCommand),
}

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
    },
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Server(ServerCommand::StartDev {
            data_dir,
            listen,
            namespaces,
        }) => {
            keel_server::run_dev(
                keel_server::DevOptions {
                    data_dir,
                    listen,
                    namespaces,
                },
                shutdown_signal(),
            )
            .await
        }
    }
}
