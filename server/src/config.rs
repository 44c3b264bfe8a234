//! `keel server start` settings: command-line flags, each of which may also come from a TOML
//! file (`--config keel.toml`, keys named like the flags with `_` for `-`). Flags given on the
//! command line win over the file.

use crate::app::{ExtraListener, Membership, NodeSetup};
use crate::auth::AuthSettings;
use crate::dynamic_config::DynamicConfig;
use crate::limits::LimitSettings;
use anyhow::{bail, Context};
use keel_client::tls::ServerTlsFiles;
use keel_raft::NodeId;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The settings `start-dev` and `start` share: TLS on the client-facing listeners,
/// authorization, per-namespace limits and Temporal's dynamic configuration.
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(default)]
pub struct SecurityArgs {
    /// TLS on the client port, the HTTP API and the console: this certificate chain (PEM),
    /// re-read when the file changes.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert-file`.
    #[arg(long)]
    pub tls_key_file: Option<PathBuf>,
    /// Require a client certificate signed by this CA (PEM): mutual TLS.
    #[arg(long)]
    pub tls_client_ca_file: Option<PathBuf>,
    /// Accept `Authorization: Bearer <JWT>` signed by a key of this JWKS file (RS256,
    /// ES256), with roles in its `permissions` claim.
    #[arg(long)]
    pub auth_jwks_file: Option<PathBuf>,
    /// A JWT must name this audience (`aud`).
    #[arg(long)]
    pub auth_jwt_audience: Option<String>,
    /// Accept `Authorization: Bearer <API key>` for the keys in this TOML file
    /// (`[[key]]` with `name`, `sha256`, `permissions`).
    #[arg(long)]
    pub auth_api_keys_file: Option<PathBuf>,
    /// Map verified client certificates to roles by subject common name (TOML:
    /// `[[identity]]` with `common_name`, `permissions`; needs `--tls-client-ca-file`).
    #[arg(long)]
    pub auth_cert_identities_file: Option<PathBuf>,
    /// Requests per second each namespace may make of this node (Temporal's
    /// `frontend.namespaceRPS`; a burst of twice as many) [default: no limit].
    #[arg(long)]
    pub namespace_rps: Option<f64>,
    /// Concurrent long polls (and queries, updates) per namespace and method (Temporal's
    /// `frontend.namespaceCount`) [default: 1200].
    #[arg(long)]
    pub namespace_long_poll_limit: Option<usize>,
    /// One of Temporal's dynamic config settings, KEY=VALUE, as `temporal server start-dev`
    /// takes it (repeatable): system.enableEagerWorkflowStart,
    /// system.enableActivityEagerExecution, limit.historyCount.suggestContinueAsNew,
    /// limit.historySize.suggestContinueAsNew, frontend.namespaceRPS,
    /// frontend.namespaceCount, history.workflowIdReuseMinimalInterval. Other keys are
    /// reported and ignored.
    #[arg(long = "dynamic-config-value", value_name = "KEY=VALUE")]
    pub dynamic_config_value: Vec<String>,
    /// The config file's `[dynamic_config]` table: the same keys, TOML values.
    #[arg(skip)]
    pub dynamic_config: BTreeMap<String, toml::Value>,
}

impl SecurityArgs {
    /// These settings, each filled from `file` where not given.
    fn or(self, file: SecurityArgs) -> SecurityArgs {
        SecurityArgs {
            tls_cert_file: self.tls_cert_file.or(file.tls_cert_file),
            tls_key_file: self.tls_key_file.or(file.tls_key_file),
            tls_client_ca_file: self.tls_client_ca_file.or(file.tls_client_ca_file),
            auth_jwks_file: self.auth_jwks_file.or(file.auth_jwks_file),
            auth_jwt_audience: self.auth_jwt_audience.or(file.auth_jwt_audience),
            auth_api_keys_file: self.auth_api_keys_file.or(file.auth_api_keys_file),
            auth_cert_identities_file: self
                .auth_cert_identities_file
                .or(file.auth_cert_identities_file),
            namespace_rps: self.namespace_rps.or(file.namespace_rps),
            namespace_long_poll_limit: self
                .namespace_long_poll_limit
                .or(file.namespace_long_poll_limit),
            dynamic_config_value: if self.dynamic_config_value.is_empty() {
                file.dynamic_config_value
            } else {
                self.dynamic_config_value
            },
            dynamic_config: file.dynamic_config,
        }
    }

    /// The checked settings (`peer`: the peer port's TLS, for a cluster node).
    pub fn into_security(self, peer: Option<PeerTlsFiles>) -> anyhow::Result<Security> {
        let client_tls = match (self.tls_cert_file, self.tls_key_file) {
            (Some(cert), Some(key)) => Some(ServerTlsFiles {
                cert,
                key,
                client_ca: self.tls_client_ca_file,
            }),
            (None, None) if self.tls_client_ca_file.is_some() => {
                bail!("--tls-client-ca-file needs --tls-cert-file and --tls-key-file")
            }
            (None, None) => None,
            _ => bail!("give both --tls-cert-file and --tls-key-file"),
        };
        if self.auth_cert_identities_file.is_some()
            && client_tls.as_ref().is_none_or(|t| t.client_ca.is_none())
        {
            bail!("--auth-cert-identities-file needs mutual TLS (--tls-client-ca-file)");
        }
        if self.auth_jwt_audience.is_some() && self.auth_jwks_file.is_none() {
            bail!("--auth-jwt-audience needs --auth-jwks-file");
        }
        if self
            .namespace_rps
            .is_some_and(|r| !(r.is_finite() && r > 0.0))
        {
            bail!("--namespace-rps must be a positive number");
        }
        let (dynamic, dynamic_notices) =
            DynamicConfig::from_settings(&self.dynamic_config_value, &self.dynamic_config)?;
        Ok(Security {
            limits: LimitSettings {
                namespace_rps: self.namespace_rps.or(dynamic.namespace_rps),
                long_poll_limit: (self.namespace_long_poll_limit)
                    .or(dynamic.namespace_count)
                    .unwrap_or(crate::limits::DEFAULT_LONG_POLL_LIMIT),
            },
            dynamic,
            dynamic_notices,
            client_tls,
            peer_tls: peer,
            auth: AuthSettings {
                jwks_file: self.auth_jwks_file,
                jwt_audience: self.auth_jwt_audience,
                api_keys_file: self.auth_api_keys_file,
                cert_identities_file: self.auth_cert_identities_file,
            },
        })
    }
}

/// The peer port's mutual TLS: this node's certificate and key, and the cluster's CA that
/// every member's certificate is signed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// A node's checked security settings.
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub limits: LimitSettings,
    pub dynamic: DynamicConfig,
    /// What the dynamic config settings ignored, for the log.
    pub dynamic_notices: Vec<String>,
    pub client_tls: Option<ServerTlsFiles>,
    pub peer_tls: Option<PeerTlsFiles>,
    pub auth: AuthSettings,
}

/// Every setting of a cluster node; all optional here, checked in `into_setup`.
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(default)]
pub struct StartArgs {
    /// TOML file with any of these settings.
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// This node's id (a positive integer, unique in the cluster, never reused).
    #[arg(long)]
    pub node_id: Option<NodeId>,
    /// Where the node keeps its RocksDB.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Client address: Temporal gRPC and the admin API.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Peer address: Raft RPCs between nodes.
    #[arg(long)]
    pub peer_listen: Option<SocketAddr>,
    /// The client address other nodes forward requests to, when it differs from `--listen`
    /// (listening on 0.0.0.0, NAT, a proxy in front).
    #[arg(long)]
    pub advertise_addr: Option<String>,
    /// The peer address other nodes reach this one at, when it differs from `--peer-listen`
    /// (for a node that joins; an initial member is reached at its `--initial-cluster` entry).
    #[arg(long)]
    pub advertise_peer_addr: Option<String>,
    /// The local IP address this node's outgoing connections to other nodes are made from.
    #[arg(long)]
    pub source_ip: Option<IpAddr>,
    /// The initial members' peer addresses: "1=HOST:PORT,2=HOST:PORT,3=HOST:PORT".
    #[arg(long)]
    pub initial_cluster: Option<String>,
    /// Join the cluster one of whose members serves clients at this address (repeatable).
    #[arg(long)]
    pub join: Vec<String>,
    /// Join the cluster one of whose members has this peer address (repeatable): the request
    /// goes over the peer port, under its mutual TLS, so it works when the client port needs
    /// TLS or credentials.
    #[arg(long)]
    pub join_peer: Vec<String>,
    /// Namespaces to create, besides `default` (repeatable).
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// Take a snapshot (and purge the log behind it) every this many log entries.
    #[arg(long)]
    pub snapshot_every: Option<u64>,
    /// Serve Temporal's HTTP API (`/api/v1/...`) on this address.
    #[arg(long)]
    pub http_listen: Option<SocketAddr>,
    /// Serve the web console on this address.
    #[arg(long)]
    pub ui_listen: Option<SocketAddr>,
    /// The console shows no write action and its API refuses them.
    #[arg(long)]
    #[serde(default)]
    pub ui_read_only: bool,
    /// Serve Prometheus metrics (`/metrics`) and health probes (`/livez`, `/readyz`) on this
    /// plain-HTTP address.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Mutual TLS on the peer port (Raft and forwarded requests): this node's certificate
    /// (PEM), which must be signed by `--peer-tls-ca-file`.
    #[arg(long)]
    pub peer_tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `--peer-tls-cert-file`.
    #[arg(long)]
    pub peer_tls_key_file: Option<PathBuf>,
    /// The cluster's CA (PEM): only nodes with a certificate it signed may connect.
    #[arg(long)]
    pub peer_tls_ca_file: Option<PathBuf>,
    /// Refuse writes while the data directory's filesystem has less free space than this
    /// ("512MiB", "2GB", bytes) [default: 5% of the filesystem, at least 16 MiB, at most
    /// 1 GiB].
    #[arg(long)]
    pub min_free_disk: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub security: SecurityArgs,
}

impl StartArgs {
    /// Fills what the command line left out from the config file, if any.
    pub fn with_file(self) -> anyhow::Result<StartArgs> {
        let Some(path) = &self.config else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        // Keys are the flags' names; anything else is a mistake worth stopping for.
        let mut known: Vec<String> =
            <StartArgs as clap::Args>::augment_args(clap::Command::new("keel"))
                .get_arguments()
                .map(|a| a.get_id().to_string())
                .collect();
        known.push("dynamic_config".into());
        if let Some(unknown) = table.keys().find(|k| !known.contains(k) || *k == "config") {
            bail!(
                "invalid config file {}: unknown setting `{unknown}`",
                path.display()
            );
        }
        let file: StartArgs = table
            .try_into()
            .with_context(|| format!("invalid config file {}", path.display()))?;
        Ok(StartArgs {
            config: self.config,
            node_id: self.node_id.or(file.node_id),
            data_dir: self.data_dir.or(file.data_dir),
            listen: self.listen.or(file.listen),
            peer_listen: self.peer_listen.or(file.peer_listen),
            advertise_addr: self.advertise_addr.or(file.advertise_addr),
            advertise_peer_addr: self.advertise_peer_addr.or(file.advertise_peer_addr),
            source_ip: self.source_ip.or(file.source_ip),
            initial_cluster: self.initial_cluster.or(file.initial_cluster),
            join: if self.join.is_empty() {
                file.join
            } else {
                self.join
            },
            join_peer: if self.join_peer.is_empty() {
                file.join_peer
            } else {
                self.join_peer
            },
            namespaces: if self.namespaces.is_empty() {
                file.namespaces
            } else {
                self.namespaces
            },
            snapshot_every: self.snapshot_every.or(file.snapshot_every),
            http_listen: self.http_listen.or(file.http_listen),
            ui_listen: self.ui_listen.or(file.ui_listen),
            ui_read_only: self.ui_read_only || file.ui_read_only,
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            peer_tls_cert_file: self.peer_tls_cert_file.or(file.peer_tls_cert_file),
            peer_tls_key_file: self.peer_tls_key_file.or(file.peer_tls_key_file),
            peer_tls_ca_file: self.peer_tls_ca_file.or(file.peer_tls_ca_file),
            min_free_disk: self.min_free_disk.or(file.min_free_disk),
            security: self.security.or(file.security),
        })
    }

    pub fn into_setup(self) -> anyhow::Result<NodeSetup> {
        let args = self.with_file()?;
        let Some(node_id) = args.node_id.filter(|id| *id > 0) else {
            bail!("--node-id is required (a positive integer)");
        };
        let Some(peer_listen) = args.peer_listen else {
            bail!("--peer-listen is required");
        };
        if !args.join.is_empty() && !args.join_peer.is_empty() {
            bail!("give either --join or --join-peer, not both");
        }
        let via_peer_port = !args.join_peer.is_empty();
        let seeds = if via_peer_port {
            args.join_peer
        } else {
            args.join
        };
        let membership = match (args.initial_cluster, seeds.is_empty()) {
            (Some(_), false) => bail!("give either --initial-cluster or --join, not both"),
            (None, true) => {
                bail!("give --initial-cluster (a new cluster) or --join (an existing one)")
            }
            (Some(list), true) => {
                let peers = parse_initial_cluster(&list)?;
                let Some(own) = peers.get(&node_id) else {
                    bail!("--initial-cluster does not list this node's id {node_id}");
                };
                if args.advertise_peer_addr.as_ref().is_some_and(|a| a != own) {
                    bail!("--advertise-peer-addr differs from this node's --initial-cluster entry");
                }
                Membership::Initial(peers)
            }
            (None, false) => Membership::Join {
                seeds,
                via_peer_port,
            },
        };
        let peer_tls = match (args.peer_tls_cert_file, args.peer_tls_key_file, args.peer_tls_ca_file) {
            (Some(cert), Some(key), Some(ca)) => Some(PeerTlsFiles { cert, key, ca }),
            (None, None, None) => None,
            _ => bail!("peer TLS needs all of --peer-tls-cert-file, --peer-tls-key-file and --peer-tls-ca-file"),
        };
        let security = args.security.into_security(peer_tls)?;
        Ok(NodeSetup {
            node_id,
            security,
            min_free_disk: args.min_free_disk.as_deref().map(parse_size).transpose()?,
            data_dir: args
                .data_dir
                .unwrap_or_else(|| PathBuf::from(format!("./keel-data-{node_id}"))),
            listen: args
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7233))),
            peer_listen: Some(peer_listen),
            advertise_addr: args.advertise_addr,
            advertise_peer_addr: args.advertise_peer_addr,
            source_ip: args.source_ip,
            membership,
            namespaces: args.namespaces,
            snapshot_every: args.snapshot_every.unwrap_or(20_000).max(1),
            http_listen: args.http_listen.map(ExtraListener::required),
            ui_listen: args.ui_listen.map(ExtraListener::required),
            ui_read_only: args.ui_read_only,
            metrics_listen: args.metrics_listen.map(ExtraListener::required),
        })
    }
}

/// "1=HOST:PORT,2=HOST:PORT" into ids and peer addresses.
/// A size in bytes: a number with an optional unit (B, KB, MB, GB, TB in powers of 1000;
/// KiB, MiB, GiB, TiB in powers of 1024; case-insensitive).
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .with_context(|| format!("{text:?} is not a size (like 512MiB or 2GB)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => bail!("{text:?}: unknown size unit {other:?} (B, KB, MB, GB, KiB, MiB, GiB)"),
    };
    n.checked_mul(scale)
        .with_context(|| format!("{text:?} is too large"))
}

pub fn parse_initial_cluster(list: &str) -> anyhow::Result<BTreeMap<NodeId, String>> {
    let mut peers = BTreeMap::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((id, addr)) = item.split_once('=') else {
            bail!("--initial-cluster item {item:?} is not ID=HOST:PORT");
        };
        let id: NodeId = id
            .trim()
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .with_context(|| format!("--initial-cluster: {id:?} is not a positive node id"))?;
        if peers.insert(id, addr.trim().to_string()).is_some() {
            bail!("--initial-cluster lists node {id} twice");
        }
    }
    if peers.is_empty() {
        bail!("--initial-cluster is empty");
    }
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_bad_ones_are_refused() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("2 GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("1gib").unwrap(), 1 << 30);
        for bad in [
            "",
            "MiB",
            "12 parsecs",
            "-1",
            "99999999999999999999",
            "20000000TiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} refused");
        }
    }

    #[test]
    fn initial_cluster_lists_parse_and_bad_ones_are_refused() {
        let peers = parse_initial_cluster("1=127.0.0.1:1, 2=127.0.0.1:2,3=h:3").unwrap();
        assert_eq!(peers.len(), 3);
        assert_eq!(peers[&2], "127.0.0.1:2");
        assert!(parse_initial_cluster("").is_err());
        assert!(parse_initial_cluster("1=a:1,1=b:2").is_err());
        assert!(parse_initial_cluster("0=a:1").is_err());
        assert!(parse_initial_cluster("a:1").is_err());
    }

    #[test]
    fn advertised_addresses_are_taken_and_checked() {
        let args = |advertise_peer: &str| StartArgs {
            node_id: Some(2),
            peer_listen: Some("127.0.0.1:7402".parse().unwrap()),
            initial_cluster: Some("1=127.0.0.1:9401,2=127.0.0.1:9402".into()),
            advertise_addr: Some("proxy:9302".into()),
            advertise_peer_addr: Some(advertise_peer.into()),
            source_ip: Some("127.0.1.2".parse().unwrap()),
            ..Default::default()
        };
        let setup = args("127.0.0.1:9402").into_setup().unwrap();
        assert_eq!(setup.advertise_addr.as_deref(), Some("proxy:9302"));
        assert_eq!(setup.source_ip, Some("127.0.1.2".parse().unwrap()));
        // An initial member is reached at its --initial-cluster entry: nothing else will do.
        let err = args("127.0.0.1:7402").into_setup().unwrap_err();
        assert!(
            format!("{err:#}").contains("--advertise-peer-addr"),
            "{err:#}"
        );
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keel.toml");
        std::fs::write(
            &path,
            "node_id = 2\npeer_listen = \"127.0.0.1:7402\"\ninitial_cluster = \"1=127.0.0.1:7401,2=127.0.0.1:7402\"\nlisten = \"127.0.0.1:7302\"\n",
        )
        .unwrap();
        let setup = StartArgs {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:9999".parse().unwrap()),
            ..Default::default()
        }
        .into_setup()
        .unwrap();
        assert_eq!(setup.node_id, 2);
        assert_eq!(setup.listen.port(), 9999);
        assert!(matches!(setup.membership, Membership::Initial(ref p) if p.len() == 2));
        std::fs::write(&path, "node_idd = 2\n").unwrap();
        let err = StartArgs {
            config: Some(path.clone()),
            ..Default::default()
        }
        .into_setup()
        .unwrap_err();
        assert!(format!("{err:#}").contains("node_idd"), "{err:#}");
        // Security settings come from the file too, and are checked.
        std::fs::write(
            &path,
            "node_id = 2\npeer_listen = \"127.0.0.1:7402\"\ninitial_cluster = \"2=127.0.0.1:7402\"\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\nauth_api_keys_file = \"keys.toml\"\n",
        )
        .unwrap();
        let setup = StartArgs {
            config: Some(path.clone()),
            ..Default::default()
        }
        .into_setup()
        .unwrap();
        let tls = setup.security.client_tls.unwrap();
        assert_eq!((tls.cert.to_str(), tls.client_ca), (Some("c.pem"), None));
        assert!(setup.security.auth.enabled());
        std::fs::write(
            &path,
            "node_id = 2\npeer_listen = \"127.0.0.1:7402\"\ninitial_cluster = \"2=127.0.0.1:7402\"\ntls_cert_file = \"c.pem\"\npeer_tls_ca_file = \"ca.pem\"\n",
        )
        .unwrap();
        let err = StartArgs {
            config: Some(path),
            ..Default::default()
        }
        .into_setup()
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("--tls-key-file")
                || format!("{err:#}").contains("peer TLS"),
            "{err:#}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// A config file of arbitrary text, or of known keys with arbitrary values, is read
        /// or refused with a message, never a panic.
        #[test]
        fn arbitrary_config_files_never_panic(
            text in "\\PC{0,200}",
            key in proptest::sample::select(vec!["node_id", "listen", "peer_listen", "join",
                "namespace_rps", "tls_cert_file", "snapshot_every", "initial_cluster", "ui_read_only"]),
            value in proptest::prelude::prop_oneof![
                proptest::prelude::Just("-1".to_string()), proptest::prelude::Just("1e400".to_string()),
                proptest::prelude::Just("[]".to_string()), proptest::prelude::Just("{}".to_string()),
                proptest::prelude::Just("nan".to_string()), "\"\\PC{0,30}\"", "[0-9]{1,25}",
            ],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("keel.toml");
            for body in [text.clone(), format!("{key} = {value}\n")] {
                std::fs::write(&path, &body).unwrap();
                let args = StartArgs { config: Some(path.clone()), ..Default::default() };
                if let Err(e) = args.into_setup() {
                    let message = format!("{e:#}");
                    proptest::prop_assert!(!message.is_empty());
                }
            }
        }
    }

    #[test]
    fn the_config_files_dynamic_config_table_reaches_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keel.toml");
        std::fs::write(
            &path,
            "node_id = 1\n[dynamic_config]\n\"limit.historyCount.suggestContinueAsNew\" = 50\n\"frontend.namespaceRPS\" = 20\n",
        )
        .unwrap();
        let args = StartArgs {
            config: Some(path),
            ..Default::default()
        }
        .with_file()
        .unwrap();
        let security = args.security.into_security(None).unwrap();
        assert_eq!(security.dynamic.history_count_suggest_continue_as_new, 50);
        assert_eq!(security.limits.namespace_rps, Some(20.0));
    }
}
