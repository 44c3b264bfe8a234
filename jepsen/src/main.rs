//! `keel-jepsen run`: starts a real Keel cluster behind fault-injecting proxies, runs the
//! workload while the nemesis injects the seed's faults, heals everything, lets the cluster
//! settle, checks the recorded history against the final state, and writes the report.
//! Exits non-zero on any anomaly.

mod checker;
mod cluster;
mod garbage;
mod nemesis;
mod netns;
mod op;
mod proxy;
mod report;
mod workload;

use anyhow::Context;
use clap::{Parser, Subcommand};
use cluster::{Cluster, Network};
use nemesis::{blocked_pairs, Family, Fault, Target};
use netns::Netns;
use op::FaultRecord;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use workload::Workload;

#[derive(Parser)]
#[command(
    name = "keel-jepsen",
    about = "Fault-injection testing of a real Keel cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One run: cluster, workload, faults, heal, check, report.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Seconds of workload under faults.
    #[arg(long, default_value_t = 60)]
    time: u64,
    /// Fault families: partition, kill, pause, all (comma-separated).
    #[arg(long, default_value = "all")]
    nemesis: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the report, the recorded history and the nodes' data and logs go.
    #[arg(long)]
    out: PathBuf,
    /// Concurrent clients.
    #[arg(long, default_value_t = 12)]
    clients: usize,
    /// The keel binary (default: `keel` beside this one).
    #[arg(long)]
    keel_bin: Option<PathBuf>,
    /// The faulty network: TCP proxies on loopback, or network namespaces with nftables
    /// packet drops (root only; needs iproute2 and nftables).
    #[arg(long, value_enum, default_value_t = NetKind::Proxy)]
    net: NetKind,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NetKind {
    Proxy,
    Netns,
}

/// Set (to the namespaces' prefix) in the copy of keel-jepsen that runs inside the clients'
/// namespace.
const NETNS_ENV: &str = "KEEL_JEPSEN_NETNS";

#[tokio::main]
async fn main() {
    let Cmd::Run(args) = Cli::parse().command;
    if args.net == NetKind::Netns && std::env::var_os(NETNS_ENV).is_none() {
        std::process::exit(run_in_namespaces(args.nodes).await);
    }
    // Interrupted, the run is dropped, and with it the cluster: its nodes are killed.
    let outcome = tokio::select! {
        outcome = run(args) => outcome,
        _ = interrupted() => Err(anyhow::anyhow!("interrupted")),
    };
    match outcome {
        Ok(0) => {}
        Ok(anomalies) => {
            eprintln!("keel-jepsen: {anomalies} anomalies");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("keel-jepsen: error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// `--net netns`: creates the namespaces, runs this same command again inside the clients'
/// namespace, and removes the namespaces whatever happens to it. Returns its exit status.
async fn run_in_namespaces(nodes: u64) -> i32 {
    let prefix = format!("kj{}", std::process::id());
    let namespaces = match Netns::create(&prefix, nodes) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("keel-jepsen: error: creating network namespaces: {e:#}");
            return 2;
        }
    };
    let status = match std::env::current_exe() {
        Ok(exe) => tokio::process::Command::new("ip")
            .args(["netns", "exec", &namespaces.clients_ns()])
            .arg(exe)
            .args(std::env::args_os().skip(1))
            .env(NETNS_ENV, &prefix)
            .status(),
        Err(e) => {
            eprintln!("keel-jepsen: error: {e}");
            namespaces.destroy();
            return 2;
        }
    };
    tokio::pin!(status);
    // Ctrl-C reaches the inner run too; this one waits for it and cleans up.
    let code = loop {
        tokio::select! {
            s = &mut status => break s.ok().and_then(|s| s.code()).unwrap_or(2),
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    namespaces.destroy();
    code
}

async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn default_keel_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name("keel"))
}

async fn run(args: RunArgs) -> anyhow::Result<usize> {
    anyhow::ensure!((1..=9).contains(&args.nodes), "--nodes must be 1 to 9");
    let families = Family::parse_list(&args.nemesis)?;
    let keel_bin = match args.keel_bin {
        Some(p) => p,
        None => default_keel_bin()?,
    };
    let root = args.out.join("cluster");
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(&root).with_context(|| format!("create {}", root.display()))?;

    let network = match std::env::var(NETNS_ENV) {
        Ok(prefix) => Network::Netns(Netns::attach(&prefix, args.nodes)),
        Err(_) => Network::Proxy(proxy::Net::default()),
    };
    let mut cluster = Cluster::start(&keel_bin, &root, args.nodes, network).await?;
    cluster.wait_leader(Duration::from_secs(30)).await?;
    let slots = cluster.ids();
    let total_ms = args.time * 1000;
    let plan = nemesis::schedule(args.seed, &slots, &families, total_ms);
    println!(
        "keel-jepsen: {} nodes, {} s, {} faults planned (seed {})",
        args.nodes,
        args.time,
        plan.len(),
        args.seed
    );

    let client_addrs: Vec<_> = cluster.nodes.iter().map(|n| n.client_reach).collect();
    let work = Workload::new(&client_addrs, args.seed)?;
    work.create_schedule().await?;
    work.create_nexus_endpoint(&client_addrs).await?;
    let (stop_clients, stop_workers) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    // The versioned workers poll first: their polls register the deployment's versions.
    let mut workers = Vec::new();
    for (i, build) in workload::VERSION_BUILDS
        .iter()
        .flat_map(|b| [b, b])
        .enumerate()
    {
        workers.push(tokio::spawn(work.clone().workflow_worker(
            i,
            args.seed,
            stop_workers.clone(),
            Some(build),
        )));
    }
    work.set_up_deployment().await?;
    let router = tokio::spawn(work.clone().router(args.seed, stop_clients.clone()));
    let mut clients = Vec::new();
    for i in 0..args.clients {
        clients.push(tokio::spawn(work.clone().client_loop(
            i,
            args.seed,
            stop_clients.clone(),
        )));
    }
    for i in 0..4 {
        workers.push(tokio::spawn(work.clone().workflow_worker(
            i,
            args.seed,
            stop_workers.clone(),
            None,
        )));
        workers.push(tokio::spawn(work.clone().activity_worker(
            i,
            args.seed,
            stop_workers.clone(),
            false,
        )));
        if i < 2 {
            workers.push(tokio::spawn(work.clone().nexus_worker(
                i,
                args.seed,
                stop_workers.clone(),
            )));
            workers.push(tokio::spawn(work.clone().nexus_handler_workflow_worker(
                i,
                args.seed,
                stop_workers.clone(),
            )));
            // Two workers of the standalone activities.
            workers.push(tokio::spawn(work.clone().activity_worker(
                i,
                args.seed,
                stop_workers.clone(),
                true,
            )));
        }
    }

    let mut faults = Vec::new();
    let mut recovery_ms = Vec::new();
    // Nodes the garbage nemesis brought down, nodes that did not stop cleanly on SIGTERM.
    let mut crashes: Vec<(&'static str, String)> = Vec::new();
    for step in &plan {
        sleep_until(&work, step.at_ms).await;
        let mut injected = Vec::new();
        for fault in &step.faults {
            let (record, undo) = inject(&mut cluster, fault, &slots, work.now_ms(), &work).await?;
            println!(
                "  {:6.1} s  {} {:?}",
                work.now_ms() as f64 / 1000.0,
                record.fault,
                record.nodes
            );
            injected.push((record, undo));
        }
        sleep_until(&work, step.heal_ms).await;
        while let Some((record, undo)) = injected.pop() {
            if let Some(crash) = heal(&mut cluster, &work, undo).await? {
                println!("           {}: {}", crash.0, crash.1);
                crashes.push(crash);
            }
            faults.push(FaultRecord {
                end_ms: work.now_ms(),
                ..record
            });
        }
        if let Ok((_, took)) = cluster.wait_leader(Duration::from_secs(30)).await {
            recovery_ms.push(took.as_millis() as u64);
        }
    }
    sleep_until(&work, total_ms).await;
    stop_clients.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let _ = router.await;

    // Heal everything, let the cluster settle, finish every workflow, check liveness.
    cluster.heal_all()?;
    let (leader, _) = cluster.wait_leader(Duration::from_secs(60)).await?;
    let settle_began = work.now_ms();
    work.unpause_all(Duration::from_secs(60)).await;
    work.finish_all(Duration::from_secs(60)).await;
    work.wait_closed(Duration::from_secs(60)).await;
    work.wait_standalone_closed(cluster.node(leader).client_reach, Duration::from_secs(60))
        .await;
    let settle_ms = work.now_ms() - settle_began;
    stop_workers.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let mut end = work.final_state(cluster.node(leader).client_reach).await?;
    end.checksums = cluster.checksums(Duration::from_secs(30)).await;

    let ops = work.ops();
    let mut anomalies = checker::check(&ops, &end);
    anomalies.extend(crashes.into_iter().map(|(kind, detail)| checker::Anomaly {
        kind,
        workflow_id: String::new(),
        detail,
        ops: Vec::new(),
    }));
    let anomaly_ops = anomalies
        .iter()
        .flat_map(|a| a.ops.iter())
        .map(|i| (*i, ops[*i].clone()))
        .collect();
    let report = report::Report {
        seed: args.seed,
        nodes: args.nodes as usize,
        seconds: args.time,
        nemeses: families
            .iter()
            .map(|f| format!("{f:?}").to_lowercase())
            .collect(),
        operations: report::count(&ops),
        faults,
        recovery_ms,
        settle_ms,
        latency: report::latency(&ops),
        workflows: end.workflows.len(),
        checksums: end.checksums.clone(),
        listed: end.listed.len(),
        counted: end.counted,
        schedule_actions: end
            .schedule
            .as_ref()
            .map(|s| (s.action_count, s.runs.len())),
        versioned: (
            end.workflows
                .iter()
                .filter(|(id, _)| id.starts_with(workload::VERSIONED_PREFIX))
                .fold(BTreeMap::new(), |mut by, (_, w)| {
                    *by.entry(w.completed_builds.join("+")).or_insert(0) += 1;
                    by
                }),
            end.deployment_current.clone(),
        ),
        anomalies,
        anomaly_ops,
    };
    report.write(&ops, &args.out)?;
    print!("{}", report.text());
    println!("report: {}", args.out.join("report.txt").display());
    Ok(report.anomalies.len())
}

async fn sleep_until(work: &Workload, at_ms: u64) {
    let now = work.now_ms();
    if at_ms > now {
        tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
    }
}

/// What healing a fault takes.
enum Undo {
    Nothing,
    Network,
    Restart(u64),
    Resume(u64),
    /// A new node joins in this slot.
    Join(u64),
    /// The slot's clock back to true time.
    Clock(u64),
    /// The barrage at the slot's node stopped; the node must still be running.
    Garbage(u64, garbage::Garbage),
    /// Start the slot's node again, reporting that it did not stop cleanly.
    RestartUnclean(u64, String),
}

/// How long a node may take to exit after SIGTERM (its drain is 5 s, its hand-off 2 s).
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Injects one planned fault; its slots become the node ids they hold now. A fault that
/// cannot be injected (a removal with no quorum) is recorded as such and undoes nothing.
async fn inject(
    cluster: &mut Cluster,
    fault: &Fault,
    slots: &[u64],
    now_ms: u64,
    work: &Workload,
) -> anyhow::Result<(FaultRecord, Undo)> {
    let leader = cluster.leader().await;
    let leader_slot = leader.and_then(|id| cluster.slot_of(id));
    let slot = |t: &Target| match t {
        Target::Leader => leader_slot.unwrap_or(slots[0]),
        Target::Node(s) => *s,
    };
    let mut name = fault.name().to_string();
    let (named_slots, undo) = match fault {
        Fault::Kill(t) => {
            let s = slot(t);
            cluster.kill9(cluster.id_of(s));
            (vec![s], Undo::Restart(s))
        }
        Fault::Stop(t) => {
            let s = slot(t);
            let id = cluster.id_of(s);
            match tokio::task::block_in_place(|| cluster.stop(id, STOP_GRACE)) {
                Ok(took) => {
                    name = format!("{name} ({} ms)", took.as_millis());
                    (vec![s], Undo::Restart(s))
                }
                Err(e) => (vec![s], Undo::RestartUnclean(s, e)),
            }
        }
        Fault::Pause(t) => {
            let s = slot(t);
            cluster.pause(cluster.id_of(s));
            (vec![s], Undo::Resume(s))
        }
        Fault::ClockSkew { target, offset_ms } => {
            let s = slot(target);
            cluster
                .set_clock_offset(cluster.id_of(s), *offset_ms)
                .await?;
            name = format!("{name} {offset_ms:+} ms");
            (vec![s], Undo::Clock(s))
        }
        Fault::Garbage(t) => {
            let s = slot(t);
            let node = cluster.node(cluster.id_of(s));
            let barrage = garbage::Garbage::spawn(
                node.client_reach,
                node.peer_reach,
                now_ms ^ s,
                work.workflow_ids(),
                work.used_tokens(),
            );
            (vec![s], Undo::Garbage(s, barrage))
        }
        Fault::Replace(t) => {
            let s = slot(t);
            match cluster.remove_and_wipe(s).await {
                Ok(_) => (vec![s], Undo::Join(s)),
                Err(e) => {
                    name = format!("{name} (not injected: {e:#})");
                    (vec![s], Undo::Nothing)
                }
            }
        }
        partition => {
            let pairs = blocked_pairs(partition, slots, leader_slot);
            cluster.network.block(pairs, |s| cluster.id_of(s))?;
            let named = match partition {
                Fault::Halves { side } => side.clone(),
                Fault::IsolateLeader => leader_slot.into_iter().collect(),
                Fault::Bridge { bridge } => vec![*bridge],
                Fault::Ring { order } => order.clone(),
                Fault::OneWay { from } => vec![*from],
                Fault::ClientsCut { node } => vec![*node],
                _ => unreachable!("process faults matched above"),
            };
            (named, Undo::Network)
        }
    };
    let record = FaultRecord {
        fault: name,
        nodes: named_slots.iter().map(|s| cluster.id_of(*s)).collect(),
        start_ms: now_ms,
        end_ms: now_ms,
    };
    Ok((record, undo))
}

/// Heals a fault; says what went wrong on the way (a node a barrage brought down, a node that
/// did not stop cleanly on SIGTERM), with the anomaly kind, after starting the node again.
async fn heal(
    cluster: &mut Cluster,
    work: &Workload,
    undo: Undo,
) -> anyhow::Result<Option<(&'static str, String)>> {
    match undo {
        Undo::Garbage(s, barrage) => {
            let sent = barrage.stop().await;
            let id = cluster.id_of(s);
            if let Some(status) = cluster.exited_by_itself(id) {
                tokio::task::block_in_place(|| cluster.start_node(id))?;
                return Ok(Some((
                    "garbage-crash",
                    format!("node {id} exited ({status}) under {sent} hostile requests"),
                )));
            }
            println!("           node {id} took {sent} hostile requests");
        }
        Undo::Nothing => {}
        Undo::Network => cluster.network.heal()?,
        Undo::Restart(s) => {
            let id = cluster.id_of(s);
            tokio::task::block_in_place(|| cluster.start_node(id))?
        }
        Undo::RestartUnclean(s, problem) => {
            let id = cluster.id_of(s);
            tokio::task::block_in_place(|| cluster.start_node(id))?;
            return Ok(Some(("unclean-stop", problem)));
        }
        Undo::Resume(s) => cluster.resume(cluster.id_of(s)),
        Undo::Clock(s) => cluster.set_clock_offset(cluster.id_of(s), 0).await?,
        Undo::Join(s) => {
            let id = cluster.join_new(s).await?;
            work.slot_moved(s, cluster.node(id).client_reach)?;
            println!("           node {id} joined in slot {s}");
        }
    }
    Ok(None)
}
