//! Real multi-node Keel clusters for tests: `keel server start` child processes on loopback
//! ports, each with its own data directory, that can be killed with SIGKILL, restarted,
//! paused, joined and removed; and the admin API to see who leads and whether replicas agree.

use crate::{keel_binary, reserve_addr};
use anyhow::{bail, Context};
use keel_client::messages::{NodeStatus, StateChecksum};
use keel_client::AdminClient;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One node's fixed identity: id, ports, data directory, and how it first starts.
pub struct ClusterNode {
    pub id: u64,
    pub client: SocketAddr,
    pub peer: SocketAddr,
    pub data_dir: PathBuf,
    /// `--initial-cluster ...` or `--join ...`.
    membership_args: Vec<String>,
    snapshot_every: u64,
    child: Option<Child>,
}

impl ClusterNode {
    pub fn url(&self) -> String {
        format!("http://{}", self.client)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the node and returns once it prints that it is serving.
    pub fn start(&mut self) -> anyhow::Result<()> {
        let bin = keel_binary();
        let mut child = Command::new(&bin)
            .args([
                "server",
                "start",
                "--node-id",
                &self.id.to_string(),
                "--listen",
                &self.client.to_string(),
                "--peer-listen",
                &self.peer.to_string(),
                "--snapshot-every",
                &self.snapshot_every.to_string(),
                "--data-dir",
            ])
            .arg(&self.data_dir)
            .args(&self.membership_args)
            .env(
                "KEEL_LOG",
                // openraft logs every RPC to a killed node; the tests' own output matters here.
                std::env::var("KEEL_LOG").unwrap_or_else(|_| "warn,openraft=off".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        wait_serving(&mut child, self.client)?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn admin(&self) -> AdminClient {
        AdminClient::new(vec![self.client.to_string()]).with_timeout(Duration::from_secs(5))
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits for the "keel serving on" line a starting node prints; fails at once, with its exit
/// status, if the process exits first (its stderr, inherited, says why), and after 60 s if it
/// neither serves nor exits.
pub fn wait_serving(child: &mut Child, addr: SocketAddr) -> anyhow::Result<()> {
    let stdout = child.stdout.take().context("child stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("keel serving on") {
                let _ = tx.send(true);
            }
        }
        // End of stdout: the process has exited (or closed it, which it never does).
        let _ = tx.send(false);
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(true) => Ok(()),
        Ok(false) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let status = child.wait().context("wait for keel")?;
            bail!("keel exited ({status}) before serving on {addr}; its stderr is above")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("keel neither served on {addr} nor exited within 60 s")
        }
    }
}

pub struct Cluster {
    pub nodes: Vec<ClusterNode>,
    root: PathBuf,
    snapshot_every: u64,
}

impl Cluster {
    /// Starts `n` nodes (ids 1..=n) as one new cluster under `root`.
    pub fn start(root: &Path, n: u64, snapshot_every: u64) -> anyhow::Result<Self> {
        let addrs: Vec<(u64, SocketAddr, SocketAddr)> = (1..=n)
            .map(|id| (id, reserve_addr(), reserve_addr()))
            .collect();
        let initial = addrs
            .iter()
            .map(|(id, _, peer)| format!("{id}={peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            nodes: Vec::new(),
            root: root.to_path_buf(),
            snapshot_every,
        };
        for (id, client, peer) in addrs {
            cluster.nodes.push(ClusterNode {
                id,
                client,
                peer,
                data_dir: root.join(format!("node{id}")),
                membership_args: vec!["--initial-cluster".into(), initial.clone()],
                snapshot_every,
                child: None,
            });
        }
        for node in &mut cluster.nodes {
            node.start()?;
        }
        Ok(cluster)
    }

    /// Starts a new node that joins through the existing members.
    pub fn join_new(&mut self, id: u64) -> anyhow::Result<()> {
        let mut args = Vec::new();
        for n in &self.nodes {
            args.push("--join".to_string());
            args.push(n.client.to_string());
        }
        let mut node = ClusterNode {
            id,
            client: reserve_addr(),
            peer: reserve_addr(),
            data_dir: self.root.join(format!("node{id}")),
            membership_args: args,
            snapshot_every: self.snapshot_every,
            child: None,
        };
        node.start()?;
        self.nodes.push(node);
        Ok(())
    }

    pub fn node(&mut self, id: u64) -> &mut ClusterNode {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("a node with this id")
    }

    pub fn running(&self) -> impl Iterator<Item = &ClusterNode> {
        self.nodes.iter().filter(|n| n.is_running())
    }

    /// Admin client over every running node.
    pub fn admin(&self) -> AdminClient {
        AdminClient::new(self.running().map(|n| n.client.to_string()).collect())
            .with_timeout(Duration::from_secs(5))
    }

    /// Waits until every running node agrees on one leader that is running and serves the
    /// `default` namespace (a new cluster's leader registers it with its first entries);
    /// returns it.
    pub async fn wait_leader(&self, within: Duration) -> anyhow::Result<u64> {
        let deadline = Instant::now() + within;
        loop {
            let mut leaders = Vec::new();
            for n in self.running() {
                leaders.push(n.admin().node_status().await.ok().and_then(|s| s.leader_id));
            }
            if let Some(Some(id)) = leaders.first() {
                let agreed = leaders.iter().all(|l| *l == Some(*id));
                let leader = self.nodes.iter().find(|n| n.id == *id && n.is_running());
                if let (true, Some(leader)) = (agreed, leader) {
                    if serves_default(&leader.url()).await {
                        return Ok(*id);
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("no agreed leader within {within:?}: {leaders:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn statuses(&self) -> Vec<(u64, anyhow::Result<NodeStatus>)> {
        let mut out = Vec::new();
        for n in self.running() {
            out.push((n.id, n.admin().node_status().await.map_err(Into::into)));
        }
        out
    }

    /// Waits until every running node has applied the same index and holds the same state
    /// checksum; returns the checksums.
    pub async fn wait_identical(
        &self,
        within: Duration,
    ) -> anyhow::Result<Vec<(u64, StateChecksum)>> {
        let deadline = Instant::now() + within;
        loop {
            let mut sums = Vec::new();
            for n in self.running() {
                if let Ok(c) = n.admin().state_checksum().await {
                    sums.push((n.id, c));
                }
            }
            let all = sums.len() == self.running().count();
            if all && sums.windows(2).all(|w| w[0].1 == w[1].1) {
                return Ok(sums);
            }
            if Instant::now() > deadline {
                bail!("replicas differ after {within:?}: {sums:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Whether the node at `url` answers DescribeNamespace for `default`.
async fn serves_default(url: &str) -> bool {
    let Ok(mut raw) = crate::raw_client(url).await else {
        return false;
    };
    let request = temporalio_protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest {
        namespace: "default".into(),
        ..Default::default()
    };
    raw.describe_namespace(request).await.is_ok()
}
