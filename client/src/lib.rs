//! keel-client: Keel's admin API (messages and gRPC stubs, served on the client port) and
//! `AdminClient`, which tries a cluster's endpoints in turn until one answers.

pub mod messages;
pub mod tls;

#[allow(clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/keel.admin.v1.KeelAdmin.rs"));
}

use messages::*;
use proto::keel_admin_client::KeelAdminClient;
use std::sync::Arc;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Methods every node answers itself; every other admin call is forwarded to the leader.
pub const LOCAL_METHODS: &[&str] = &[
    "/keel.admin.v1.KeelAdmin/NodeStatus",
    "/keel.admin.v1.KeelAdmin/StateChecksum",
    "/keel.admin.v1.KeelAdmin/Campaign",
    "/keel.admin.v1.KeelAdmin/SnapshotSave",
    "/keel.admin.v1.KeelAdmin/Compact",
];

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no Keel node answered at {addrs} (last error: {last})")]
    Unreachable { addrs: String, last: String },
    #[error("{0}")]
    Refused(String),
}

fn refused(s: Status) -> AdminError {
    AdminError::Refused(format!("{:?}: {}", s.code(), s.message()))
}

/// A client of Keel's admin API over one or more node addresses (`host:port`).
#[derive(Clone)]
pub struct AdminClient {
    addrs: Vec<String>,
    timeout: Duration,
    tls: Option<Arc<tls::ClientTls>>,
    credentials: Credentials,
}

/// The `authorization` header every call carries, when the cluster checks credentials.
#[derive(Clone, Default)]
pub struct Credentials(Option<MetadataValue<Ascii>>);

impl Credentials {
    /// Whether a header is sent.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// `Authorization: Bearer <token>`; `None` if the token cannot be a header value.
    pub fn bearer(token: &str) -> Option<Credentials> {
        MetadataValue::try_from(format!("Bearer {token}"))
            .ok()
            .map(|v| Credentials(Some(v)))
    }
}

impl Interceptor for Credentials {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

type Admin = KeelAdminClient<InterceptedService<Channel, Credentials>>;

impl AdminClient {
    pub fn new(addrs: Vec<String>) -> Self {
        AdminClient {
            addrs,
            timeout: Duration::from_secs(10),
            tls: None,
            credentials: Credentials::default(),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connect over TLS (the client port's `--tls-cert-file`).
    pub fn with_tls(mut self, tls: Arc<tls::ClientTls>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Send `Authorization: Bearer <token>` (an API key or a JWT).
    pub fn with_bearer(mut self, token: &str) -> Result<Self, AdminError> {
        self.credentials = Credentials::bearer(token)
            .ok_or_else(|| AdminError::Refused("the token is not a valid header value".into()))?;
        Ok(self)
    }

    /// The same settings for other addresses.
    pub fn to(&self, addrs: Vec<String>) -> Self {
        AdminClient {
            addrs,
            ..self.clone()
        }
    }

    fn channel(&self, addr: &str) -> Result<Channel, Status> {
        let timeout = self.timeout;
        tls::channel(addr, self.tls.clone(), None, |e| {
            e.connect_timeout(Duration::from_secs(2)).timeout(timeout)
        })
        .map_err(|e| Status::invalid_argument(format!("bad address {addr}: {e}")))
    }

    /// Runs `call` against each address until one answers; UNAVAILABLE (no leader yet, node
    /// down) moves on to the next address, any other error is the answer.
    async fn first_answer<T, F, Fut>(&self, call: F) -> Result<T, AdminError>
    where
        F: Fn(Admin) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut last = String::from("no address given");
        for addr in &self.addrs {
            let channel = match self.channel(addr) {
                Ok(c) => c,
                Err(s) => return Err(refused(s)),
            };
            match call(KeelAdminClient::with_interceptor(
                channel,
                self.credentials.clone(),
            ))
            .await
            {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) if matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded) => {
                    last = s.message().to_string();
                }
                Err(s) => return Err(refused(s)),
            }
        }
        Err(AdminError::Unreachable {
            addrs: self.addrs.join(", "),
            last,
        })
    }

    pub async fn node_status(&self) -> Result<NodeStatus, AdminError> {
        self.first_answer(|mut c| async move { c.node_status(NodeStatusRequest {}).await })
            .await
    }

    pub async fn state_checksum(&self) -> Result<StateChecksum, AdminError> {
        self.first_answer(|mut c| async move { c.state_checksum(StateChecksumRequest {}).await })
            .await
    }

    pub async fn campaign(&self) -> Result<(), AdminError> {
        self.first_answer(|mut c| async move { c.campaign(CampaignRequest {}).await })
            .await
            .map(drop)
    }

    pub async fn add_node(&self, request: AddNodeRequest) -> Result<(), AdminError> {
        self.first_answer(|mut c| {
            let r = request.clone();
            async move { c.add_node(r).await }
        })
        .await
        .map(drop)
    }

    pub async fn remove_node(&self, node_id: u64) -> Result<(), AdminError> {
        self.first_answer(|mut c| async move { c.remove_node(RemoveNodeRequest { node_id }).await })
            .await
            .map(drop)
    }

    /// Compacts the RocksDB of the node at the first address.
    pub async fn compact(&self) -> Result<CompactReply, AdminError> {
        self.to(self.addrs[..1.min(self.addrs.len())].to_vec())
            .with_timeout(Duration::from_secs(3600))
            .first_answer(|mut c| async move { c.compact(CompactRequest {}).await })
            .await
    }

    /// Streams a backup from the node at the first address that answers into `out`;
    /// the number of bytes written. The caller checks the file (`keel_raft::backup::verify`).
    pub async fn snapshot_save(&self, mut out: impl std::io::Write) -> Result<u64, AdminError> {
        let mut stream = self
            .clone()
            .with_timeout(Duration::from_secs(24 * 3600))
            .first_answer(|mut c| async move { c.snapshot_save(SnapshotSaveRequest {}).await })
            .await?;
        let mut written = 0u64;
        while let Some(chunk) = stream.message().await.map_err(refused)? {
            out.write_all(&chunk.data)
                .map_err(|e| AdminError::Refused(format!("writing the backup: {e}")))?;
            written += chunk.data.len() as u64;
        }
        out.flush()
            .map_err(|e| AdminError::Refused(format!("writing the backup: {e}")))?;
        Ok(written)
    }

    /// Every member's status as the members themselves report it; `Err` for those that do
    /// not answer. The membership comes from the first node that answers.
    pub async fn cluster_status(
        &self,
    ) -> Result<Vec<(Member, Result<NodeStatus, AdminError>)>, AdminError> {
        let first = self.node_status().await?;
        let mut out = Vec::new();
        for member in first.members {
            let status = self
                .to(vec![member.client_addr.clone()])
                .with_timeout(Duration::from_secs(2))
                .node_status()
                .await;
            out.push((member, status));
        }
        Ok(out)
    }
}
