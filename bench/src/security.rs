//! `keel-bench security`: what TLS and authorization cost. The same keel binary twice,
//! fresh: plain, and with TLS on the client port and JWT authorization (every call carries an
//! ES256 token checked against a JWKS file; the token's role is in the namespace, so every
//! namespace call has its body read for the namespace, the dearer path). Hello workflows
//! through both with the raw driver, interleaved for several rounds; the table gives each
//! figure's median and the secured/plain ratio. Certificates and keys are made for the run.

use crate::raw::ClientSecurity;
use crate::servers::Server;
use crate::{tempfile_dir, Load};
use base64::Engine;
use keel_client::tls::{ClientTls, ClientTlsFiles};
use keel_client::Credentials;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct SecurityArgs {
    /// The keel binary (a release build).
    #[arg(long)]
    keel_bin: PathBuf,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[command(flatten)]
    load: Load,
    /// Where the servers keep their data (a temporary directory if not given).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// A CA, a server certificate for 127.0.0.1 signed by it, a JWKS file and a token signed by
/// its key, written under `dir`; returns the server's flags and what its clients need.
fn credentials(dir: &Path) -> anyhow::Result<(Vec<String>, ClientSecurity)> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let server_key = rcgen::KeyPair::generate()?;
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(
        &server_key,
        &ca,
        &ca_key,
    )?;
    let file = |name: &str, text: String| -> anyhow::Result<String> {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path.display().to_string())
    };
    let ca_path = file("ca.pem", ca.pem())?;
    let cert = file("server.pem", server.pem())?;
    let key = file("server-key.pem", server_key.serialize_pem())?;

    let signing = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let public = signing.public_key_raw(); // 0x04 || x || y
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "bench", "alg": "ES256",
        "x": b64(&public[1..33]), "y": b64(&public[33..65]),
    }]});
    let jwks = file("jwks.json", jwks.to_string())?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("bench".into());
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub": "bench", "permissions": ["default:write"]}),
        &jsonwebtoken::EncodingKey::from_ec_der(&signing.serialize_der()),
    )?;
    let tls = ClientTls::client(ClientTlsFiles {
        ca: ca_path.into(),
        cert: None,
        key: None,
    })?;
    let flags = [
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--auth-jwks-file",
        &jwks,
    ];
    Ok((
        flags.iter().map(|s| s.to_string()).collect(),
        ClientSecurity {
            tls: Some(Arc::new(tls)),
            credentials: Credentials::bearer(&token).expect("a JWT is a valid header value"),
        },
    ))
}

pub async fn run(args: SecurityArgs) -> anyhow::Result<()> {
    let tmp = tempfile_dir(args.work_dir)?;
    let dir = tmp.path.clone();
    let (flags, security) = credentials(&dir)?;
    let mut servers = vec![
        Server::keel_single_with(
            &args.keel_bin,
            &dir,
            "keel-plain",
            Vec::new(),
            Default::default(),
        )
        .await?,
        Server::keel_single_with(&args.keel_bin, &dir, "keel-secured", flags, security).await?,
    ];
    crate::hello_side_by_side(&servers[0], &servers[1], args.rounds, &args.load, |_| None).await?;
    for s in &mut servers {
        s.stop();
    }
    Ok(())
}
