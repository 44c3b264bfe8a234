//! Support for Keel's integration tests: start the real `keel` binary as a child process on a
//! reserved loopback port (see `ports`), kill it with SIGKILL, restart it on the same data directory, and
//! connect the official Rust SDK client or a raw gRPC client to it.

use anyhow::{bail, Context};
use keel_server::proto::workflowservice::workflow_service_client::WorkflowServiceClient;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, Url};
use tonic::transport::Channel;

/// The `keel` binary next to this test executable (`target/<profile>/keel`).
pub fn keel_binary() -> PathBuf {
    if let Ok(p) = std::env::var("KEEL_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    profile_dir.join("keel")
}

pub use ports::{reserve_addr, reserve_port};

/// A `keel server start-dev` child process.
pub struct KeelProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Milliseconds from spawn to the "serving" line.
    pub startup: Duration,
}

impl KeelProcess {
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        Self::start_at(data_dir, reserve_addr())
    }

    /// Starts Keel and returns once it prints that it is serving.
    pub fn start_at(data_dir: &Path, addr: SocketAddr) -> anyhow::Result<Self> {
        Self::spawn(keel_binary(), data_dir, addr)
    }

    /// Starts the test build `keel-test` (next to `keel`), whose clock follows
    /// `<data-dir>/test-clock-offset-ms` (see `set_clock_offset`).
    pub fn start_with_test_clock(data_dir: &Path) -> anyhow::Result<Self> {
        Self::spawn(
            keel_binary().with_file_name("keel-test"),
            data_dir,
            reserve_addr(),
        )
    }

    /// Moves a `keel-test` node's clock by `offset` from real time.
    pub fn set_clock_offset(&self, offset: Duration) -> anyhow::Result<()> {
        std::fs::write(
            self.data_dir.join("test-clock-offset-ms"),
            offset.as_millis().to_string(),
        )?;
        Ok(())
    }

    fn spawn(bin: PathBuf, data_dir: &Path, addr: SocketAddr) -> anyhow::Result<Self> {
        if !bin.exists() {
            bail!(
                "{} not found: build it first (cargo build --bin keel; keel-test needs --features test-clock)",
                bin.display()
            );
        }
        let began = Instant::now();
        let mut child = Command::new(&bin)
            .args([
                "server",
                "start-dev",
                "--listen",
                &addr.to_string(),
                "--data-dir",
            ])
            .arg(data_dir)
            .env(
                "KEEL_LOG",
                std::env::var("KEEL_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        cluster::wait_serving(&mut child, addr)?;
        Ok(KeelProcess {
            child: Some(child),
            addr,
            data_dir: data_dir.to_path_buf(),
            startup: began.elapsed(),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        false
    }

    /// Kills (SIGKILL) and starts again on the same data directory and address.
    pub fn restart_after_kill9(&mut self) -> anyhow::Result<()> {
        self.kill9();
        let next = KeelProcess::start_at(&self.data_dir, self.addr)?;
        *self = next;
        Ok(())
    }
}

impl Drop for KeelProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The official Rust SDK client for a namespace.
pub async fn sdk_client(url: &str, namespace: &str) -> anyhow::Result<Client> {
    let options = ConnectionOptions::new(Url::from_str(url)?).build();
    let connection = Connection::connect(options).await?;
    Ok(Client::new(
        connection,
        ClientOptions::new(namespace).build(),
    )?)
}

/// A raw WorkflowService client (requests exactly as written, no SDK help).
pub async fn raw_client(url: &str) -> anyhow::Result<WorkflowServiceClient<Channel>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match WorkflowServiceClient::connect(url.to_string()).await {
            Ok(c) => {
                return Ok(c
                    .max_decoding_message_size(64 << 20)
                    .max_encoding_message_size(64 << 20))
            }
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

pub mod cluster;
pub mod history;
pub mod ports;
pub mod sdk;
pub mod workflows;
