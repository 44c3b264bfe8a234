//! The cluster under test: real `keel server start` processes, each behind the run's
//! fault-injecting network — proxies on loopback (see `proxy`) or network namespaces (see
//! `netns`) — that the nemesis kills, restarts, pauses, resumes and replaces. Nodes sit in
//! fixed slots (1..=n, their ports and data directory); a replaced slot gets a new node id.
//! The harness observes nodes through their admin API on their own ports, never through the
//! proxies.

use crate::netns::Netns;
use crate::proxy::{source_ip, Net, Pairs, CLIENT};
use anyhow::Context;
use keel_client::AdminClient;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Node {
    pub slot: u64,
    pub id: u64,
    /// Where the node listens.
    pub client: SocketAddr,
    pub peer: SocketAddr,
    /// Where others reach it: its proxies, or its own addresses in a namespace.
    pub client_reach: SocketAddr,
    pub peer_reach: SocketAddr,
    data_dir: PathBuf,
    log: PathBuf,
    /// `--initial-cluster ...`, or `--join ...` for a replacement.
    membership_args: Vec<String>,
    child: Option<Child>,
    pub paused: bool,
}

/// The network faults are injected into.
pub enum Network {
    Proxy(Net),
    Netns(Netns),
}

impl Network {
    /// Where a slot's node listens and where the others reach it.
    async fn addresses(
        &self,
        id: u64,
        slot: u64,
    ) -> anyhow::Result<(SocketAddr, SocketAddr, SocketAddr, SocketAddr)> {
        Ok(match self {
            Network::Proxy(net) => {
                let (client, peer) = (port(), port());
                let (client_reach, peer_reach) =
                    (net.proxy(id, client).await?, net.proxy(id, peer).await?);
                (client, peer, client_reach, peer_reach)
            }
            Network::Netns(_) => {
                let ip = Netns::addr(slot);
                let (client, peer) = (SocketAddr::from((ip, 7233)), SocketAddr::from((ip, 7234)));
                (client, peer, client, peer)
            }
        })
    }

    /// Blocks the (from, to) pairs of slots (or `CLIENT`); `id_of` gives a slot's node id.
    pub fn block(&self, slot_pairs: Pairs, id_of: impl Fn(u64) -> u64) -> anyhow::Result<()> {
        match self {
            Network::Proxy(net) => {
                let id = |end: u64| if end == CLIENT { CLIENT } else { id_of(end) };
                net.block(
                    slot_pairs
                        .into_iter()
                        .map(|(a, b)| (id(a), id(b)))
                        .collect(),
                );
                Ok(())
            }
            Network::Netns(ns) => ns.block(&slot_pairs),
        }
    }

    pub fn heal(&self) -> anyhow::Result<()> {
        match self {
            Network::Proxy(net) => {
                net.heal();
                Ok(())
            }
            Network::Netns(ns) => ns.heal(),
        }
    }

    /// `bin server start` for node `id` in `slot`, as this network wants it run.
    fn server_start(&self, bin: &Path, id: u64, slot: u64) -> Command {
        let mut c = match self {
            Network::Proxy(_) => Command::new(bin),
            Network::Netns(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.slot_ns(slot)]).arg(bin);
                c
            }
        };
        c.args(["server", "start", "--node-id", &id.to_string()]);
        if let Network::Proxy(_) = self {
            c.args(["--source-ip", &source_ip(id).to_string()]);
        }
        c
    }
}

pub struct Cluster {
    /// By slot: `nodes[slot - 1]`.
    pub nodes: Vec<Node>,
    pub network: Network,
    keel_bin: PathBuf,
    next_id: u64,
}

fn port() -> SocketAddr {
    keel_tests::reserve_addr()
}

impl Node {
    pub fn admin(&self) -> AdminClient {
        AdminClient::new(vec![self.client.to_string()]).with_timeout(Duration::from_secs(2))
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn signal(&self, signal: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args([signal, &c.id().to_string()])
                .status();
        }
    }
}

impl Cluster {
    /// Starts `n` nodes (ids 1..=n) as one new cluster under `root`.
    pub async fn start(
        keel_bin: &Path,
        root: &Path,
        n: u64,
        network: Network,
    ) -> anyhow::Result<Cluster> {
        let mut nodes = Vec::new();
        for id in 1..=n {
            let (client, peer, client_reach, peer_reach) = network.addresses(id, id).await?;
            nodes.push(Node {
                slot: id,
                id,
                client,
                peer,
                client_reach,
                peer_reach,
                data_dir: root.join(format!("slot{id}")),
                log: root.join(format!("slot{id}.log")),
                membership_args: Vec::new(),
                child: None,
                paused: false,
            });
        }
        let initial = nodes
            .iter()
            .map(|n| format!("{}={}", n.id, n.peer_reach))
            .collect::<Vec<_>>()
            .join(",");
        for node in &mut nodes {
            node.membership_args = vec!["--initial-cluster".into(), initial.clone()];
        }
        let mut cluster = Cluster {
            nodes,
            network,
            keel_bin: keel_bin.to_path_buf(),
            next_id: n + 1,
        };
        for id in 1..=n {
            cluster.start_node(id)?;
        }
        Ok(cluster)
    }

    pub fn node(&self, id: u64) -> &Node {
        self.nodes.iter().find(|n| n.id == id).expect("node id")
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.id == id).expect("node id")
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    pub fn id_of(&self, slot: u64) -> u64 {
        self.nodes[slot as usize - 1].id
    }

    pub fn slot_of(&self, id: u64) -> Option<u64> {
        self.nodes.iter().find(|n| n.id == id).map(|n| n.slot)
    }

    /// The first half of replacing a slot's node: remove it from the cluster (through the
    /// other nodes), kill it and wipe its data. Returns the removed id.
    pub async fn remove_and_wipe(&mut self, slot: u64) -> anyhow::Result<u64> {
        let id = self.id_of(slot);
        let others: Vec<String> = (self.nodes.iter())
            .filter(|n| n.slot != slot && n.is_running() && !n.paused)
            .map(|n| n.client.to_string())
            .collect();
        AdminClient::new(others)
            .with_timeout(Duration::from_secs(10))
            .remove_node(id)
            .await
            .with_context(|| format!("remove node {id}"))?;
        self.kill9(id);
        let node = &self.nodes[slot as usize - 1];
        std::fs::remove_dir_all(&node.data_dir)
            .with_context(|| format!("wipe {}", node.data_dir.display()))?;
        Ok(id)
    }

    /// The second half: a new node (a new id, new proxies, the slot's ports and directory)
    /// starts and joins through the other nodes. Returns its id.
    pub async fn join_new(&mut self, slot: u64) -> anyhow::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let mut join = Vec::new();
        for n in self.nodes.iter().filter(|n| n.slot != slot) {
            join.push("--join".to_string());
            join.push(n.client.to_string());
        }
        let (client, peer, client_reach, peer_reach) = self.network.addresses(id, slot).await?;
        join.push("--advertise-peer-addr".into());
        join.push(peer_reach.to_string());
        let node = &mut self.nodes[slot as usize - 1];
        node.id = id;
        node.client = client;
        node.peer = peer;
        node.client_reach = client_reach;
        node.peer_reach = peer_reach;
        node.membership_args = join;
        tokio::task::block_in_place(|| self.start_node(id))?;
        Ok(id)
    }

    /// Starts (or restarts, on its data) node `id`; returns once it serves.
    pub fn start_node(&mut self, id: u64) -> anyhow::Result<()> {
        let i = (self.nodes.iter().position(|n| n.id == id)).context("no node with this id")?;
        let (bin, network, node) = (&self.keel_bin, &self.network, &mut self.nodes[i]);
        let slot = node.slot;
        if node.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        let mut child = network
            .server_start(bin, id, slot)
            .args(["--listen", &node.client.to_string()])
            .args(["--peer-listen", &node.peer.to_string()])
            .args(["--advertise-addr", &node.client_reach.to_string()])
            .args(&node.membership_args)
            .args(["--snapshot-every", "2000"])
            .arg("--data-dir")
            .arg(&node.data_dir)
            .env("KEEL_LOG", "warn,openraft=error")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        keel_tests::cluster::wait_serving(&mut child, node.client)?;
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Sets node `id`'s clock skew (0 heals) and waits until the node says it took it: a
    /// `keel` built without the `test-clock` feature never does.
    pub async fn set_clock_offset(&self, id: u64, offset_ms: i64) -> anyhow::Result<()> {
        let node = self.node(id);
        std::fs::write(
            node.data_dir.join("test-clock-offset-ms"),
            offset_ms.to_string(),
        )?;
        let said = format!("test clock offset set offset_ms={offset_ms}");
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(3) {
            let log = std::fs::read_to_string(&node.log).unwrap_or_default();
            if log
                .lines()
                .rev()
                .take(50)
                .any(|l| l.trim_end().ends_with(&said))
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!(
            "node {id} did not apply a clock offset: the clock nemesis needs a keel built with \
             `--features test-clock` (the keel-test binary)"
        )
    }

    /// SIGTERM, then waits up to `grace` for a clean exit; a node that exits with an error or
    /// is still running then (killed) is the `Err`.
    pub fn stop(&mut self, id: u64, grace: Duration) -> Result<Duration, String> {
        let began = std::time::Instant::now();
        self.node(id).signal("-TERM");
        let node = self.node_mut(id);
        let Some(mut child) = node.child.take() else {
            return Err(format!("node {id} was not running"));
        };
        node.paused = false;
        while began.elapsed() < grace {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(began.elapsed()),
                Ok(Some(status)) => {
                    return Err(format!("node {id} exited with {status} on SIGTERM"))
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!("node {id} still ran {grace:?} after SIGTERM"))
    }

    pub fn kill9(&mut self, id: u64) {
        let node = self.node_mut(id);
        if let Some(mut c) = node.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        node.paused = false;
    }

    /// If node `id`'s process ended without being told to, its exit status (and the node
    /// counts as stopped from then on).
    pub fn exited_by_itself(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let node = self.node_mut(id);
        let status = node.child.as_mut()?.try_wait().ok()??;
        node.child = None;
        Some(status)
    }

    pub fn pause(&mut self, id: u64) {
        self.node(id).signal("-STOP");
        self.node_mut(id).paused = true;
    }

    pub fn resume(&mut self, id: u64) {
        self.node(id).signal("-CONT");
        self.node_mut(id).paused = false;
    }

    /// The leader as the first running, unpaused node that knows one says.
    pub async fn leader(&self) -> Option<u64> {
        for n in self.nodes.iter().filter(|n| n.is_running() && !n.paused) {
            if let Ok(Ok(s)) =
                tokio::time::timeout(Duration::from_secs(2), n.admin().node_status()).await
            {
                if s.leader_id.is_some() {
                    return s.leader_id;
                }
            }
        }
        None
    }

    /// Heals everything: the network, paused and killed nodes.
    pub fn heal_all(&mut self) -> anyhow::Result<()> {
        self.network.heal()?;
        for id in self.ids() {
            if self.node(id).paused {
                self.resume(id);
            }
            self.start_node(id)?;
        }
        Ok(())
    }

    /// Waits until every node agrees on one leader.
    pub async fn wait_leader(&self, within: Duration) -> anyhow::Result<(u64, Duration)> {
        let began = Instant::now();
        loop {
            let mut leaders = Vec::new();
            for n in &self.nodes {
                leaders.push(n.admin().node_status().await.ok().and_then(|s| s.leader_id));
            }
            if let Some(Some(l)) = leaders.first() {
                if leaders.iter().all(|x| *x == Some(*l)) {
                    return Ok((*l, began.elapsed()));
                }
            }
            anyhow::ensure!(
                began.elapsed() < within,
                "no agreed leader within {within:?}: {leaders:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every node's state checksum once they agree (or what they say at the deadline).
    pub async fn checksums(&self, within: Duration) -> Vec<(u64, String)> {
        let deadline = Instant::now() + within;
        loop {
            let mut sums = Vec::new();
            for n in &self.nodes {
                let sum = match n.admin().state_checksum().await {
                    Ok(c) => format!(
                        "{:016x} ({} keys, applied {:?})",
                        c.checksum, c.keys, c.applied_index
                    ),
                    Err(e) => format!("unreadable: {e}"),
                };
                sums.push((n.id, sum));
            }
            let same = sums.windows(2).all(|w| w[0].1 == w[1].1);
            if same || Instant::now() > deadline {
                return sums;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in self.ids() {
            self.resume(id);
            self.kill9(id);
        }
    }
}
