//! Servers under test, started fresh by `compare`: a Keel single node, a Keel three-node
//! cluster, and Temporal's dev server with a persisted (fsynced) SQLite database. Each is a
//! set of child processes; start-up time is launch to the first successful client call.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use temporalio_protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;

use keel_tests::reserve_port;

pub struct Server {
    pub label: String,
    /// Client address of the node the benchmark talks to.
    pub target: String,
    children: Vec<Child>,
    /// Launch to the first successful DescribeNamespace("default").
    pub startup: Duration,
    /// Base URL of Temporal's HTTP API on the node the benchmark talks to (Keel's console
    /// listener serves it too).
    pub http: String,
    restart: Vec<(PathBuf, Vec<String>)>,
    /// What clients of this server need (TLS, credentials).
    pub security: crate::raw::ClientSecurity,
}

impl Server {
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    fn spawn(bin: &Path, args: &[String]) -> anyhow::Result<Child> {
        Command::new(bin)
            .args(args)
            .env("KEEL_LOG", "error,openraft=off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))
    }

    fn launch(
        label: &str,
        target: String,
        http: String,
        commands: Vec<(PathBuf, Vec<String>)>,
        security: crate::raw::ClientSecurity,
    ) -> impl std::future::Future<Output = anyhow::Result<Server>> {
        let label = label.to_string();
        async move {
            let began = Instant::now();
            let mut children = Vec::new();
            for (bin, args) in &commands {
                children.push(Self::spawn(bin, args)?);
            }
            let mut server = Server {
                label,
                target,
                children,
                startup: Duration::ZERO,
                http,
                restart: commands,
                security,
            };
            server.wait_serving(began).await?;
            Ok(server)
        }
    }

    async fn wait_serving(&mut self, began: Instant) -> anyhow::Result<()> {
        let deadline = began + Duration::from_secs(120);
        loop {
            if let Ok(mut c) = crate::raw::connect(&self.target, &self.security).await {
                let ok = c
                    .describe_namespace(DescribeNamespaceRequest {
                        namespace: "default".into(),
                        ..Default::default()
                    })
                    .await
                    .is_ok();
                if ok {
                    self.startup = began.elapsed();
                    return Ok(());
                }
            }
            for c in &mut self.children {
                if let Some(status) = c.try_wait()? {
                    bail!(
                        "{}: process {} exited ({status}) before serving",
                        self.label,
                        c.id()
                    );
                }
            }
            if Instant::now() > deadline {
                bail!("{} did not serve within 120 s", self.label);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A fresh server by its label: `keel-1` or `temporal`.
    pub async fn fresh(
        label: &str,
        keel: &Path,
        temporal: &Path,
        dir: &Path,
    ) -> anyhow::Result<Server> {
        match label {
            "keel-1" => Self::keel_single(keel, dir).await,
            "temporal" => Self::temporal(temporal, dir).await,
            other => bail!("unknown server {other} (keel-1, temporal)"),
        }
    }

    pub async fn keel_single(bin: &Path, dir: &Path) -> anyhow::Result<Server> {
        Self::keel_single_with(bin, dir, "keel-1", Vec::new(), Default::default()).await
    }

    /// A Keel single node with more flags, and what its clients need.
    pub async fn keel_single_with(
        bin: &Path,
        dir: &Path,
        label: &str,
        extra_args: Vec<String>,
        security: crate::raw::ClientSecurity,
    ) -> anyhow::Result<Server> {
        let port = reserve_port();
        let ui = format!("127.0.0.1:{}", reserve_port());
        let mut args = vec![
            "server".into(),
            "start-dev".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--data-dir".into(),
            dir.join(label).display().to_string(),
            "--ui-listen".into(),
            ui.clone(),
            "--http-listen".into(),
            format!("127.0.0.1:{}", reserve_port()),
        ];
        args.extend(extra_args);
        Self::launch(
            label,
            format!("127.0.0.1:{port}"),
            format!("http://{ui}"),
            vec![(bin.to_path_buf(), args)],
            security,
        )
        .await
    }

    pub async fn keel_cluster(bin: &Path, dir: &Path) -> anyhow::Result<Server> {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (reserve_port(), reserve_port())).collect();
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("{}=127.0.0.1:{peer}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let commands = ports
            .iter()
            .enumerate()
            .map(|(i, (client, peer))| {
                let id = i + 1;
                let args = vec![
                    "server".into(),
                    "start".into(),
                    "--node-id".into(),
                    id.to_string(),
                    "--listen".into(),
                    format!("127.0.0.1:{client}"),
                    "--peer-listen".into(),
                    format!("127.0.0.1:{peer}"),
                    "--initial-cluster".into(),
                    initial.clone(),
                    "--data-dir".into(),
                    dir.join(format!("keel-node{id}")).display().to_string(),
                ];
                (bin.to_path_buf(), args)
            })
            .collect();
        // The lowest id bootstraps and usually leads; clients may use any node.
        // No HTTP listener on the cluster nodes: the benchmarks that use it run single nodes.
        Self::launch(
            "keel-3",
            format!("127.0.0.1:{}", ports[0].0),
            String::new(),
            commands,
            Default::default(),
        )
        .await
    }

    pub async fn temporal(bin: &Path, dir: &Path) -> anyhow::Result<Server> {
        let port = reserve_port();
        let http_port = reserve_port();
        let args = vec![
            "server".into(),
            "start-dev".into(),
            "--headless".into(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--http-port".into(),
            http_port.to_string(),
            "--metrics-port".into(),
            reserve_port().to_string(),
            "--db-filename".into(),
            dir.join("temporal.db").display().to_string(),
            "--log-level".into(),
            "error".into(),
        ];
        Self::launch(
            "temporal",
            format!("127.0.0.1:{port}"),
            format!("http://127.0.0.1:{http_port}"),
            vec![(bin.to_path_buf(), args)],
            Default::default(),
        )
        .await
    }

    /// Stops every process (SIGTERM, then SIGKILL after 20 s).
    pub fn stop(&mut self) {
        self.signal_and_wait("-TERM");
    }

    /// Ends every process at once with SIGKILL: a crash, nothing flushed.
    pub fn kill9(&mut self) {
        self.signal_and_wait("-KILL");
    }

    fn signal_and_wait(&mut self, signal: &str) {
        for c in &mut self.children {
            let _ = Command::new("kill")
                .args([signal, &c.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for c in &mut self.children {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }

    /// Stops (cleanly, or by kill -9 when `crash`) and starts again on the same data; returns
    /// the new start-up time.
    pub async fn restart(&mut self, crash: bool) -> anyhow::Result<Duration> {
        if crash {
            self.kill9();
        } else {
            self.stop();
        }
        let began = Instant::now();
        for (bin, args) in &self.restart {
            self.children.push(Self::spawn(bin, args)?);
        }
        self.wait_serving(began).await?;
        Ok(self.startup)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
