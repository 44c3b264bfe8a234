//! TLS for Keel's connections (rustls with ring). A listener's certificate, key and client CA
//! come from PEM files that are read again whenever one of them changes (looked at on every
//! new connection, as etcd does), so a certificate renewed on disk is served to the next
//! connection while open ones go on undisturbed. The client side (connections between nodes,
//! `keel cluster`) checks the server against a CA file and may present its own certificate.

use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpSocket, TcpStream};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
    #[error("TLS settings refused: {0}")]
    Rustls(String),
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> TlsError {
    TlsError::Invalid {
        path: path.to_path_buf(),
        what: what.to_string(),
    }
}

fn rustls_error(e: impl std::fmt::Display) -> TlsError {
    TlsError::Rustls(e.to_string())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file (a chain: leaf first).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, e))?;
    if certs.is_empty() {
        return Err(invalid(path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| invalid(path, e))
}

fn read_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert).map_err(|e| invalid(path, e))?;
    }
    Ok(Arc::new(roots))
}

/// A listener's TLS files: its certificate chain and key, and the CA that client
/// certificates must chain to (when given, a client without one is refused: mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

impl ServerTlsFiles {
    fn paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.cert.clone(), self.key.clone()];
        paths.extend(self.client_ca.clone());
        paths
    }

    fn build(&self) -> Result<ServerConfig, TlsError> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(rustls_error)?;
        let builder = match &self.client_ca {
            Some(ca) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(read_roots(ca)?, provider)
                    .build()
                    .map_err(|e| invalid(ca, e))?,
            ),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(read_certs(&self.cert)?, read_key(&self.key)?)
            .map_err(|e| invalid(&self.key, e))?;
        // gRPC needs HTTP/2; the HTTP API and the console also speak HTTP/1.1.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The CA a client checks servers against, and the certificate it presents, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsFiles {
    pub ca: PathBuf,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl ClientTlsFiles {
    fn paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.ca.clone()];
        paths.extend(self.cert.clone());
        paths.extend(self.key.clone());
        paths
    }

    fn build(&self) -> Result<ClientConfig, TlsError> {
        let provider = provider();
        let verifier =
            WebPkiServerVerifier::builder_with_provider(read_roots(&self.ca)?, provider.clone())
                .build()
                .map_err(|e| invalid(&self.ca, e))?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(rustls_error)?
            .with_webpki_verifier(verifier);
        let mut config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
                .map_err(|e| invalid(key, e))?,
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(TlsError::Rustls(
                    "a client certificate needs both its certificate and key files".into(),
                ))
            }
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

/// What identifies a file's content on disk: its modification time and length.
type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(paths: &[PathBuf]) -> Stamp {
    paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

/// A rustls config built from files and rebuilt when they change. A change that does not
/// parse (a renewal caught half-written) keeps the previous config and is logged once.
pub struct Reloading<C> {
    paths: Vec<PathBuf>,
    build: Box<dyn Fn() -> Result<C, TlsError> + Send + Sync>,
    state: Mutex<(Stamp, Arc<C>)>,
}

impl<C> Reloading<C> {
    fn new(
        paths: Vec<PathBuf>,
        build: impl Fn() -> Result<C, TlsError> + Send + Sync + 'static,
    ) -> Result<Self, TlsError> {
        let seen = stamp(&paths);
        let config = Arc::new(build()?);
        Ok(Reloading {
            paths,
            build: Box::new(build),
            state: Mutex::new((seen, config)),
        })
    }

    /// The config as the files are now.
    pub fn current(&self) -> Arc<C> {
        let now = stamp(&self.paths);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.0 != now {
            state.0 = now;
            match (self.build)() {
                Ok(config) => {
                    tracing::info!(files = ?self.paths, "TLS files changed: reloaded");
                    state.1 = Arc::new(config);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TLS files changed but do not load; keeping the previous ones")
                }
            }
        }
        state.1.clone()
    }
}

pub type ServerTls = Reloading<ServerConfig>;
pub type ClientTls = Reloading<ClientConfig>;

impl Reloading<ServerConfig> {
    pub fn server(files: ServerTlsFiles) -> Result<Self, TlsError> {
        Reloading::new(files.paths(), move || files.build())
    }
}

impl Reloading<ClientConfig> {
    pub fn client(files: ClientTlsFiles) -> Result<Self, TlsError> {
        Reloading::new(files.paths(), move || files.build())
    }
}

/// How long a TLS handshake may take, either side.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The name a server at `addr` ("host:port") must have in its certificate.
fn server_name(addr: &str) -> Result<ServerName<'static>, std::io::Error> {
    let host = match addr.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    };
    ServerName::try_from(host.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}")))
}

/// Opens a TCP connection (from `source_ip` if given, Nagle off) and, with `tls`, completes
/// a TLS handshake over it.
pub async fn connect(
    addr: &str,
    tls: Option<&ClientTls>,
    source_ip: Option<IpAddr>,
) -> std::io::Result<Connection> {
    let target: SocketAddr = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr} resolves to no address")))?;
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source_ip {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let tcp = socket.connect(target).await?;
    tcp.set_nodelay(true)?;
    let Some(tls) = tls else {
        return Ok(Connection::Plain(tcp));
    };
    let connector = tokio_rustls::TlsConnector::from(tls.current());
    let stream = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        connector.connect(server_name(addr)?, tcp),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    Ok(Connection::Tls(Box::new(stream)))
}

/// An outgoing connection, plain or TLS.
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

macro_rules! delegate_io {
    ($ty:ty) => {
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match self.get_mut() {
                    Self::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
                    Self::Tls(s) => std::pin::Pin::new(s).poll_read(cx, buf),
                }
            }
        }

        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                match self.get_mut() {
                    Self::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
                    Self::Tls(s) => std::pin::Pin::new(s).poll_write(cx, buf),
                }
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                match self.get_mut() {
                    Self::Plain(s) => std::pin::Pin::new(s).poll_write_vectored(cx, bufs),
                    Self::Tls(s) => std::pin::Pin::new(s).poll_write_vectored(cx, bufs),
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    Self::Plain(s) => s.is_write_vectored(),
                    Self::Tls(s) => s.is_write_vectored(),
                }
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match self.get_mut() {
                    Self::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
                    Self::Tls(s) => std::pin::Pin::new(s).poll_flush(cx),
                }
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match self.get_mut() {
                    Self::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
                    Self::Tls(s) => std::pin::Pin::new(s).poll_shutdown(cx),
                }
            }
        }
    };
}
delegate_io!(Connection);
delegate_io!(Accepted);

/// An accepted connection, plain or TLS (with the client's verified certificate chain).
pub enum Accepted {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Who is at the other end of an accepted connection: tonic puts it in every request's
/// extensions.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub remote_addr: Option<SocketAddr>,
    /// The client certificate's subject common name, when mutual TLS verified one.
    pub client_cert_cn: Option<String>,
}

impl Accepted {
    pub fn peer_info(&self) -> PeerInfo {
        match self {
            Accepted::Plain(s) => PeerInfo {
                remote_addr: s.peer_addr().ok(),
                client_cert_cn: None,
            },
            Accepted::Tls(s) => {
                let (tcp, session) = s.get_ref();
                PeerInfo {
                    remote_addr: tcp.peer_addr().ok(),
                    client_cert_cn: session
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|leaf| common_name(leaf)),
                }
            }
        }
    }
}

impl tonic::transport::server::Connected for Accepted {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        self.peer_info()
    }
}

/// The subject common name of a DER certificate.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// Connections accepted on `listener`, Nagle off; with `tls`, only those whose handshake
/// completes (each handshake runs on its own, bounded by `HANDSHAKE_TIMEOUT`, so a slow or
/// silent client holds up nobody). Ends when the receiver is dropped.
pub fn accept(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<ServerTls>>,
) -> tokio::sync::mpsc::Receiver<Accepted> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: pause, then go on.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = tx.closed() => return,
            };
            let _ = tcp.set_nodelay(true);
            let Some(tls) = &tls else {
                if tx.send(Accepted::Plain(tcp)).await.is_err() {
                    return;
                }
                continue;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Accepted::Tls(Box::new(stream))).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%remote, error = %e, "TLS handshake refused"),
                    Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                }
            });
        }
    });
    rx
}

/// A lazily connecting gRPC channel to `addr` ("host:port"), over TLS when `tls` is given.
pub fn channel(
    addr: &str,
    tls: Option<Arc<ClientTls>>,
    source_ip: Option<IpAddr>,
    configure: impl FnOnce(tonic::transport::Endpoint) -> tonic::transport::Endpoint,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let addr = addr.strip_prefix("http://").unwrap_or(addr).to_string();
    let endpoint = configure(tonic::transport::Endpoint::from_shared(format!(
        "http://{addr}"
    ))?);
    let connector = tower::service_fn(move |_: http::Uri| {
        let addr = addr.clone();
        let tls = tls.clone();
        async move {
            let conn = connect(&addr, tls.as_deref(), source_ip).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(conn))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn issue(ca: &rcgen::CertifiedKey, name: &str, dir: &Path, file: &str) -> (PathBuf, PathBuf) {
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca.cert, &ca.key_pair).unwrap();
        let cert_path = dir.join(format!("{file}.pem"));
        let key_path = dir.join(format!("{file}-key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    fn ca(dir: &Path, file: &str) -> rcgen::CertifiedKey {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, file);
        let key_pair = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key_pair).unwrap();
        std::fs::write(dir.join(format!("{file}.pem")), cert.pem()).unwrap();
        rcgen::CertifiedKey { cert, key_pair }
    }

    /// Echoes four bytes back, then the client certificate's common name, if any.
    async fn echo_server(tls: Arc<ServerTls>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = accept(listener, Some(tls));
        tokio::spawn(async move {
            while let Some(mut conn) = accepted.recv().await {
                tokio::spawn(async move {
                    let cn = conn.peer_info().client_cert_cn.unwrap_or_default();
                    let mut b = [0u8; 4];
                    if conn.read_exact(&mut b).await.is_ok() {
                        let _ = conn.write_all(&b).await;
                        let _ = conn.write_all(cn.as_bytes()).await;
                        let _ = conn.shutdown().await;
                    }
                });
            }
        });
        addr
    }

    /// The common name the server saw.
    async fn round_trip(addr: SocketAddr, client: &ClientTls) -> std::io::Result<String> {
        let mut conn = connect(&addr.to_string(), Some(client), None).await?;
        conn.write_all(b"ping").await?;
        let mut b = Vec::new();
        conn.read_to_end(&mut b).await?;
        let echoed = String::from_utf8_lossy(&b).to_string();
        match echoed.strip_prefix("ping") {
            Some(cn) => Ok(cn.to_string()),
            None => Err(std::io::Error::other(format!("no echo: {echoed:?}"))),
        }
    }

    #[tokio::test]
    async fn mutual_tls_admits_the_cas_clients_only_and_follows_renewed_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca1 = ca(d, "ca1");
        let other = ca(d, "other-ca");
        let (server_cert, server_key) = issue(&ca1, "127.0.0.1", d, "server");
        let (client_cert, client_key) = issue(&ca1, "client", d, "client");
        let (rogue_cert, rogue_key) = issue(&other, "rogue", d, "rogue");
        let server = Arc::new(
            ServerTls::server(ServerTlsFiles {
                cert: server_cert.clone(),
                key: server_key.clone(),
                client_ca: Some(d.join("ca1.pem")),
            })
            .unwrap(),
        );
        let addr = echo_server(server.clone()).await;
        let good = ClientTls::client(ClientTlsFiles {
            ca: d.join("ca1.pem"),
            cert: Some(client_cert),
            key: Some(client_key),
        })
        .unwrap();
        assert_eq!(round_trip(addr, &good).await.unwrap(), "client");
        // No client certificate, or one from another CA: refused.
        let anonymous = ClientTls::client(ClientTlsFiles {
            ca: d.join("ca1.pem"),
            cert: None,
            key: None,
        })
        .unwrap();
        assert!(round_trip(addr, &anonymous).await.is_err());
        let rogue = ClientTls::client(ClientTlsFiles {
            ca: d.join("ca1.pem"),
            cert: Some(rogue_cert),
            key: Some(rogue_key),
        })
        .unwrap();
        assert!(round_trip(addr, &rogue).await.is_err());
        // A client that trusts only the other CA refuses this server.
        let wrong_trust = ClientTls::client(ClientTlsFiles {
            ca: d.join("other-ca.pem"),
            cert: None,
            key: None,
        })
        .unwrap();
        assert!(round_trip(addr, &wrong_trust).await.is_err());

        // The server's certificate is replaced on disk by one from the other CA: the next
        // connection gets it (a client trusting only ca1 now refuses the server).
        let before = server.current();
        let (new_cert, new_key) = issue(&other, "127.0.0.1", d, "renewed");
        std::fs::write(&server_key, std::fs::read(new_key).unwrap()).unwrap();
        std::fs::write(&server_cert, std::fs::read(new_cert).unwrap()).unwrap();
        assert!(!Arc::ptr_eq(&before, &server.current()));
        assert!(round_trip(addr, &good).await.is_err());
        // A half-written file keeps the last good config.
        let current = server.current();
        std::fs::write(&server_cert, "-----BEGIN CERTIFICATE-----\nAAA").unwrap();
        assert!(Arc::ptr_eq(&current, &server.current()));
    }

    #[test]
    fn missing_and_malformed_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = ServerTls::server(ServerTlsFiles {
            cert: missing.clone(),
            key: missing.clone(),
            client_ca: None,
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("nope.pem"), "{err}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = read_certs(&junk).err().unwrap();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }
}
