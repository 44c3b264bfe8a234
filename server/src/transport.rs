//! What the node's listeners speak: the TLS configs and the claim mapper loaded from the
//! security settings, accepted connections (TLS-terminated where configured), and the client
//! port's HTTP/2 limits.

use crate::auth::ClaimMapper;
use crate::config::Security;
use anyhow::Context;
use keel_client::tls::{ClientTls, ClientTlsFiles, ServerTls, ServerTlsFiles};
use std::sync::Arc;
use std::time::Duration;

/// Accepted connections (Nagle off: gRPC's small request/response frames must not wait for
/// delayed ACKs), after their TLS handshake when the listener has TLS.
pub(crate) fn incoming(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<ServerTls>>,
) -> impl tokio_stream::Stream<Item = std::io::Result<keel_client::tls::Accepted>> {
    use tokio_stream::StreamExt;
    tokio_stream::wrappers::ReceiverStream::new(keel_client::tls::accept(listener, tls)).map(Ok)
}

/// The client port's HTTP/2 limits: headers (a JWT included) of at most 64 KiB, 1,024
/// concurrent streams per connection (long polls included), and keep-alive pings that find
/// and close dead connections.
pub(crate) fn client_server_builder() -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .http2_max_header_list_size(64 * 1024)
        .max_concurrent_streams(1024)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .tcp_keepalive(Some(Duration::from_secs(60)))
}

/// The node's TLS configs and claim mapper, loaded from their files (a file that does not
/// load stops the start, naming it).
pub(crate) struct Loaded {
    pub(crate) client_tls: Option<Arc<ServerTls>>,
    pub(crate) peer_server_tls: Option<Arc<ServerTls>>,
    pub(crate) peer_client_tls: Option<Arc<ClientTls>>,
    pub(crate) mapper: Option<Arc<ClaimMapper>>,
}

pub(crate) fn load_security(security: &Security, clustered: bool) -> anyhow::Result<Loaded> {
    let client_tls = (security.client_tls.clone())
        .map(ServerTls::server)
        .transpose()
        .context("client TLS")?
        .map(Arc::new);
    let (peer_server_tls, peer_client_tls) = match &security.peer_tls {
        Some(p) => (
            Some(Arc::new(
                ServerTls::server(ServerTlsFiles {
                    cert: p.cert.clone(),
                    key: p.key.clone(),
                    client_ca: Some(p.ca.clone()),
                })
                .context("peer TLS")?,
            )),
            Some(Arc::new(
                ClientTls::client(ClientTlsFiles {
                    ca: p.ca.clone(),
                    cert: Some(p.cert.clone()),
                    key: Some(p.key.clone()),
                })
                .context("peer TLS")?,
            )),
        ),
        None => (None, None),
    };
    let mapper = if security.auth.enabled() {
        Some(Arc::new(
            ClaimMapper::load(&security.auth).context("authorization")?,
        ))
    } else {
        None
    };
    if mapper.is_some() && client_tls.is_none() {
        tracing::warn!("authorization is on without --tls-cert-file: credentials cross the network in the clear");
    }
    if mapper.is_some() && clustered && peer_server_tls.is_none() {
        tracing::warn!("authorization is on but the peer port has no mutual TLS: whoever reaches it can act as a member");
    }
    Ok(Loaded {
        client_tls,
        peer_server_tls,
        peer_client_tls,
        mapper,
    })
}
