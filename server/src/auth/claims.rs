//! Who a caller is and what they may do: Temporal's roles and claims, and the three ways a
//! caller proves them: a JWT signed by a key of a JWKS file (Temporal's default claim
//! mapper: `Bearer <jwt>`, a `kid`, RS256 or ES256, a string `sub`, roles in the
//! `permissions` claim), a static API key (`Bearer <key>`, looked up by its SHA-256 in a
//! keys file), or a verified client certificate (its subject common name looked up in an
//! identities file). Every file is read again when it changes.

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Temporal's role bits (`roles.go`): a caller's roles in one scope, OR-ed together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Role(pub u8);

impl Role {
    pub const WORKER: Role = Role(1);
    pub const READER: Role = Role(2);
    pub const WRITER: Role = Role(4);
    pub const ADMIN: Role = Role(8);

    fn parse(name: &str) -> Option<Role> {
        match name.to_ascii_lowercase().as_str() {
            "worker" => Some(Role::WORKER),
            "read" => Some(Role::READER),
            "write" => Some(Role::WRITER),
            "admin" => Some(Role::ADMIN),
            _ => None,
        }
    }

    pub fn union(self, other: Role) -> Role {
        Role(self.0 | other.0)
    }

    pub fn has(self, bit: Role) -> bool {
        self.0 & bit.0 != 0
    }
}

/// The namespace whose roles hold in every namespace and for cluster-wide calls.
pub const SYSTEM_NAMESPACE: &str = "temporal-system";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub subject: String,
    pub system: Role,
    pub namespaces: HashMap<String, Role>,
}

impl Claims {
    /// Claims from `<namespace>:<role>` entries; malformed ones are logged and skipped.
    pub fn from_permissions<'a>(
        subject: &str,
        permissions: impl IntoIterator<Item = &'a str>,
    ) -> Claims {
        let mut claims = Claims {
            subject: subject.to_string(),
            ..Default::default()
        };
        for p in permissions {
            let Some((namespace, role)) = p.rsplit_once(':') else {
                tracing::warn!(
                    subject,
                    permission = p,
                    "permission is not NAMESPACE:ROLE; skipped"
                );
                continue;
            };
            let Some(role) = Role::parse(role) else {
                tracing::warn!(subject, permission = p, "unknown role; skipped");
                continue;
            };
            if namespace == SYSTEM_NAMESPACE {
                claims.system = claims.system.union(role);
            } else {
                let r = claims.namespaces.entry(namespace.to_string()).or_default();
                *r = r.union(role);
            }
        }
        claims
    }

    /// The caller's roles in `namespace`: its own there and its system ones.
    pub fn in_namespace(&self, namespace: &str) -> Role {
        self.system
            .union(self.namespaces.get(namespace).copied().unwrap_or_default())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Invalid(PathBuf, String),
}

/// A file parsed into `T`, parsed again when its modification time or length changes
/// (looked at no more than once a second). A change that does not parse keeps the last
/// good content and is logged.
struct Watched<T> {
    path: PathBuf,
    parse: fn(&Path, &[u8]) -> Result<T, AuthFileError>,
    state: Mutex<WatchState<T>>,
}

struct WatchState<T> {
    looked: Instant,
    stamp: Option<(SystemTime, u64)>,
    value: std::sync::Arc<T>,
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl<T> Watched<T> {
    fn load(
        path: &Path,
        parse: fn(&Path, &[u8]) -> Result<T, AuthFileError>,
    ) -> Result<Self, AuthFileError> {
        let stamp = file_stamp(path);
        let bytes = std::fs::read(path).map_err(|e| AuthFileError::Read(path.to_path_buf(), e))?;
        Ok(Watched {
            path: path.to_path_buf(),
            parse,
            state: Mutex::new(WatchState {
                looked: Instant::now(),
                stamp,
                value: std::sync::Arc::new(parse(path, &bytes)?),
            }),
        })
    }

    fn current(&self) -> std::sync::Arc<T> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.looked.elapsed() >= Duration::from_secs(1) {
            s.looked = Instant::now();
            let stamp = file_stamp(&self.path);
            if stamp != s.stamp {
                s.stamp = stamp;
                match std::fs::read(&self.path)
                    .map_err(|e| AuthFileError::Read(self.path.clone(), e))
                    .and_then(|b| (self.parse)(&self.path, &b))
                {
                    Ok(v) => {
                        tracing::info!(file = %self.path.display(), "reloaded");
                        s.value = std::sync::Arc::new(v);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "changed but does not load; keeping the previous content")
                    }
                }
            }
        }
        s.value.clone()
    }
}

/// The authorization settings (flags `--auth-*`, also in `keel.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSettings {
    pub jwks_file: Option<PathBuf>,
    /// When set, a JWT must name this audience.
    pub jwt_audience: Option<String>,
    pub api_keys_file: Option<PathBuf>,
    pub cert_identities_file: Option<PathBuf>,
}

impl AuthSettings {
    pub fn enabled(&self) -> bool {
        self.jwks_file.is_some()
            || self.api_keys_file.is_some()
            || self.cert_identities_file.is_some()
    }
}

/// `--auth-api-keys-file`: `[[key]]` tables of `name`, `sha256` (hex of the key) and
/// `permissions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: String,
    sha256: String,
    permissions: Vec<String>,
}

/// `--auth-cert-identities-file`: `[[identity]]` tables of `common_name` and `permissions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitiesFile {
    #[serde(default)]
    identity: Vec<IdentityEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityEntry {
    common_name: String,
    permissions: Vec<String>,
}

fn toml_file<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, AuthFileError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| AuthFileError::Invalid(path.to_path_buf(), e.to_string()))?;
    toml::from_str(text).map_err(|e| AuthFileError::Invalid(path.to_path_buf(), e.to_string()))
}

fn parse_keys(path: &Path, bytes: &[u8]) -> Result<HashMap<String, Claims>, AuthFileError> {
    let file: KeysFile = toml_file(path, bytes)?;
    let mut keys = HashMap::new();
    for k in file.key {
        let hash = k.sha256.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthFileError::Invalid(
                path.to_path_buf(),
                format!("key {:?}: sha256 is not 64 hex digits", k.name),
            ));
        }
        let claims = Claims::from_permissions(&k.name, k.permissions.iter().map(String::as_str));
        keys.insert(hash, claims);
    }
    Ok(keys)
}

fn parse_identities(path: &Path, bytes: &[u8]) -> Result<HashMap<String, Claims>, AuthFileError> {
    let file: IdentitiesFile = toml_file(path, bytes)?;
    Ok(file
        .identity
        .into_iter()
        .map(|i| {
            let claims =
                Claims::from_permissions(&i.common_name, i.permissions.iter().map(String::as_str));
            (i.common_name, claims)
        })
        .collect())
}

fn parse_jwks(path: &Path, bytes: &[u8]) -> Result<JwkSet, AuthFileError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AuthFileError::Invalid(path.to_path_buf(), e.to_string()))
}

/// How long a verified JWT is taken without checking its signature again (at most; never
/// past its `exp`).
const JWT_CACHE_TTL: Duration = Duration::from_secs(60);

/// Tokens the cache holds before it starts over.
const JWT_CACHE_SIZE: usize = 4096;

/// JWTs already verified, so a client sending the same token on every call costs one
/// signature check a minute rather than one a call. Emptied when the JWKS file changes: a key
/// taken out of it revokes its tokens at once.
#[derive(Default)]
struct JwtCache {
    /// The key set the entries were verified with.
    keys: Option<std::sync::Arc<JwkSet>>,
    entries: HashMap<String, (Claims, Instant)>,
}

/// Maps a request's credentials to claims.
pub struct ClaimMapper {
    jwks: Option<Watched<JwkSet>>,
    jwt_cache: Mutex<JwtCache>,
    audience: Option<String>,
    api_keys: Option<Watched<HashMap<String, Claims>>>,
    identities: Option<Watched<HashMap<String, Claims>>>,
}

/// Why a credential was not accepted: for the server log only (the caller hears
/// "Request unauthorized.").
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no credentials")]
    NoCredentials,
    #[error("authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("JWT: {0}")]
    Jwt(String),
    #[error("unknown API key")]
    UnknownKey,
    #[error("client certificate {0:?} is not in the identities file")]
    UnknownIdentity(String),
}

fn jwt_refused(e: impl std::fmt::Display) -> Refusal {
    Refusal::Jwt(e.to_string())
}

impl ClaimMapper {
    pub fn load(s: &AuthSettings) -> Result<ClaimMapper, AuthFileError> {
        Ok(ClaimMapper {
            jwt_cache: Mutex::default(),
            jwks: s
                .jwks_file
                .as_deref()
                .map(|p| Watched::load(p, parse_jwks))
                .transpose()?,
            audience: s.jwt_audience.clone(),
            api_keys: s
                .api_keys_file
                .as_deref()
                .map(|p| Watched::load(p, parse_keys))
                .transpose()?,
            identities: (s.cert_identities_file.as_deref())
                .map(|p| Watched::load(p, parse_identities))
                .transpose()?,
        })
    }

    /// The caller's claims from its `authorization` header, or else from its verified
    /// client certificate's common name.
    pub fn claims(
        &self,
        authorization: Option<&[u8]>,
        cert_common_name: Option<&str>,
    ) -> Result<Claims, Refusal> {
        if let Some(header) = authorization {
            let token = std::str::from_utf8(header)
                .ok()
                .and_then(|h| {
                    h.strip_prefix("Bearer ")
                        .or_else(|| h.strip_prefix("bearer "))
                })
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or(Refusal::NotBearer)?;
            let looks_like_jwt = token.split('.').count() == 3;
            return match (&self.jwks, &self.api_keys) {
                (Some(jwks), _) if looks_like_jwt => self.cached_jwt(token, jwks.current()),
                (_, Some(keys)) => {
                    let hash = hex(&sha2::Sha256::digest(token.as_bytes()));
                    keys.current()
                        .get(&hash)
                        .cloned()
                        .ok_or(Refusal::UnknownKey)
                }
                (Some(_), None) => Err(jwt_refused("not a JWT")),
                (None, None) => Err(Refusal::UnknownKey),
            };
        }
        match (cert_common_name, &self.identities) {
            (Some(cn), Some(ids)) => ids
                .current()
                .get(cn)
                .cloned()
                .ok_or_else(|| Refusal::UnknownIdentity(cn.to_string())),
            _ => Err(Refusal::NoCredentials),
        }
    }

    fn cached_jwt(&self, token: &str, keys: std::sync::Arc<JwkSet>) -> Result<Claims, Refusal> {
        {
            let mut cache = self.jwt_cache.lock().unwrap_or_else(|p| p.into_inner());
            if !cache
                .keys
                .as_ref()
                .is_some_and(|k| std::sync::Arc::ptr_eq(k, &keys))
            {
                cache.keys = Some(keys.clone());
                cache.entries.clear();
            }
            if let Some((claims, until)) = cache.entries.get(token) {
                if Instant::now() < *until {
                    return Ok(claims.clone());
                }
            }
        }
        let (claims, expires) = self.jwt(token, &keys)?;
        let mut until = Instant::now() + JWT_CACHE_TTL;
        if let Some(exp) = expires {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            until = until.min(Instant::now() + Duration::from_secs(exp.saturating_sub(now)));
        }
        let mut cache = self.jwt_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache
            .keys
            .as_ref()
            .is_some_and(|k| std::sync::Arc::ptr_eq(k, &keys))
        {
            if cache.entries.len() >= JWT_CACHE_SIZE {
                cache.entries.clear();
            }
            cache
                .entries
                .insert(token.to_string(), (claims.clone(), until));
        }
        Ok(claims)
    }

    /// A JWT's claims and its `exp` (unix seconds), once its signature and times check out.
    fn jwt(&self, token: &str, jwks: &JwkSet) -> Result<(Claims, Option<u64>), Refusal> {
        let header = jsonwebtoken::decode_header(token).map_err(jwt_refused)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(jwt_refused(format!(
                "algorithm {:?} is not RS256 or ES256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| jwt_refused("no kid in the header"))?;
        let jwk = jwks
            .find(&kid)
            .ok_or_else(|| jwt_refused(format!("no key {kid:?} in the JWKS file")))?;
        let key = DecodingKey::from_jwk(jwk).map_err(jwt_refused)?;
        let mut validation = Validation::new(header.alg);
        // As Temporal's mapper: `exp` and `nbf` are checked when present, not required.
        validation.required_spec_claims.clear();
        validation.validate_nbf = true;
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map_err(jwt_refused)?;
        let subject = data
            .claims
            .get("sub")
            .and_then(|s| s.as_str())
            .ok_or_else(|| jwt_refused("sub is not a string"))?;
        let permissions = data
            .claims
            .get("permissions")
            .and_then(|p| p.as_array())
            .map(|p| p.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>())
            .unwrap_or_default();
        let expires = data.claims.get("exp").and_then(|e| e.as_u64());
        Ok((Claims::from_permissions(subject, permissions), expires))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_become_roles_and_bad_entries_are_skipped() {
        let c = Claims::from_permissions(
            "alice",
            [
                "temporal-system:read",
                "default:WRITE",
                "default:worker",
                "b:admin",
                "nonsense",
                "x:owner",
            ],
        );
        assert_eq!(c.system, Role::READER);
        assert_eq!(c.in_namespace("default"), Role(2 | 4 | 1));
        assert_eq!(c.in_namespace("b"), Role(2 | 8));
        assert_eq!(c.in_namespace("elsewhere"), Role::READER);
        assert_eq!(c.namespaces.len(), 2);
    }

    #[test]
    fn api_keys_and_certificate_identities_map_to_their_claims() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys.toml");
        let hash = hex(&sha2::Sha256::digest(b"s3cret"));
        std::fs::write(
            &keys,
            format!(
                "[[key]]\nname = \"ci\"\nsha256 = \"{hash}\"\npermissions = [\"default:write\"]\n"
            ),
        )
        .unwrap();
        let ids = dir.path().join("ids.toml");
        std::fs::write(
            &ids,
            "[[identity]]\ncommon_name = \"worker-1\"\npermissions = [\"default:worker\"]\n",
        )
        .unwrap();
        let mapper = ClaimMapper::load(&AuthSettings {
            api_keys_file: Some(keys.clone()),
            cert_identities_file: Some(ids),
            ..Default::default()
        })
        .unwrap();
        let c = mapper.claims(Some(b"Bearer s3cret"), None).unwrap();
        assert_eq!(
            (c.subject.as_str(), c.in_namespace("default")),
            ("ci", Role::WRITER)
        );
        assert!(matches!(
            mapper.claims(Some(b"Bearer nope"), None),
            Err(Refusal::UnknownKey)
        ));
        assert!(matches!(
            mapper.claims(Some(b"Basic s3cret"), None),
            Err(Refusal::NotBearer)
        ));
        assert!(matches!(
            mapper.claims(None, None),
            Err(Refusal::NoCredentials)
        ));
        let w = mapper.claims(None, Some("worker-1")).unwrap();
        assert_eq!(w.in_namespace("default"), Role::WORKER);
        assert!(matches!(
            mapper.claims(None, Some("mallory")),
            Err(Refusal::UnknownIdentity(_))
        ));
        // A bad hash is refused at load, naming the key.
        std::fs::write(
            &keys,
            "[[key]]\nname = \"ci\"\nsha256 = \"abc\"\npermissions = []\n",
        )
        .unwrap();
        let err = ClaimMapper::load(&AuthSettings {
            api_keys_file: Some(keys),
            ..Default::default()
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("\"ci\""), "{err}");
    }

    #[test]
    fn jwts_need_a_known_kid_a_good_signature_and_an_allowed_algorithm() {
        use jsonwebtoken::{encode, EncodingKey, Header};
        // An EC P-256 key made for this test; its JWK below is its public half.
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let public = key_pair.public_key_raw(); // 0x04 || x || y
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": b64(&public[1..33]), "y": b64(&public[33..65]),
        }]});
        let dir = tempfile::tempdir().unwrap();
        let jwks_path = dir.path().join("jwks.json");
        std::fs::write(&jwks_path, jwks.to_string()).unwrap();
        let mapper = ClaimMapper::load(&AuthSettings {
            jwks_file: Some(jwks_path.clone()),
            jwt_audience: Some("keel".into()),
            ..Default::default()
        })
        .unwrap();
        let signing = EncodingKey::from_ec_der(&key_pair.serialize_der());
        let token = |kid: Option<&str>, claims: serde_json::Value| {
            let mut h = Header::new(Algorithm::ES256);
            h.kid = kid.map(str::to_string);
            format!("Bearer {}", encode(&h, &claims, &signing).unwrap())
        };
        let good = serde_json::json!({"sub": "bob", "aud": "keel", "permissions": ["a:read"]});
        let c = mapper
            .claims(Some(token(Some("k1"), good.clone()).as_bytes()), None)
            .unwrap();
        assert_eq!(
            (c.subject.as_str(), c.in_namespace("a")),
            ("bob", Role::READER)
        );
        let refused = |t: String| mapper.claims(Some(t.as_bytes()), None).is_err();
        assert!(refused(token(None, good.clone())), "no kid");
        assert!(refused(token(Some("k2"), good.clone())), "unknown kid");
        assert!(refused(token(
            Some("k1"),
            serde_json::json!({"sub": "bob", "aud": "other"})
        )));
        assert!(refused(token(
            Some("k1"),
            serde_json::json!({"sub": 7, "aud": "keel"})
        )));
        assert!(
            refused(token(
                Some("k1"),
                serde_json::json!({"sub": "bob", "aud": "keel", "exp": 1000})
            )),
            "expired"
        );
        // A tampered payload fails the signature.
        let t = token(Some("k1"), good.clone());
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        parts[1] = b64(br#"{"sub":"bob","aud":"keel","permissions":["temporal-system:admin"]}"#);
        assert!(refused(parts.join(".")));
        // HS256 with the public key as secret (the classic confusion): refused.
        let hs = encode(
            &{
                let mut h = Header::new(Algorithm::HS256);
                h.kid = Some("k1".into());
                h
            },
            &serde_json::json!({"sub": "bob", "aud": "keel"}),
            &EncodingKey::from_secret(b"k1"),
        )
        .unwrap();
        assert!(refused(format!("Bearer {hs}")));
        // A verified token is remembered, until its key leaves the JWKS file.
        let good_token = token(Some("k1"), good.clone());
        assert!(!refused(good_token.clone()));
        assert!(!refused(good_token.clone()), "from the cache");
        std::thread::sleep(std::time::Duration::from_millis(1100)); // a later mtime, a later look
        std::fs::write(&jwks_path, r#"{"keys":[]}"#).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(refused(good_token), "revoked with its key");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Arbitrary authorization headers and certificate names: refused or mapped, never a
        /// panic, and never more than the credentials on file grant.
        #[test]
        fn arbitrary_credentials_never_panic(
            header in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            jwt_parts in proptest::collection::vec("[A-Za-z0-9_-]{0,60}", 3),
            cn in "\\PC{0,40}",
        ) {
            use base64::Engine;
            let dir = tempfile::tempdir().unwrap();
            let jwks = dir.path().join("jwks.json");
            std::fs::write(&jwks, r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"AAAA","y":"AAAA"}]}"#).unwrap();
            let keys = dir.path().join("keys.toml");
            std::fs::write(&keys, "").unwrap();
            let mapper = ClaimMapper::load(&AuthSettings {
                jwks_file: Some(jwks),
                api_keys_file: Some(keys),
                ..Default::default()
            })
            .unwrap();
            proptest::prop_assert!(mapper.claims(Some(&header), Some(&cn)).is_err());
            let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            let forged = format!(
                "Bearer {}.{}.{}",
                b64(&format!(r#"{{"alg":"ES256","kid":"k","x":"{}"}}"#, jwt_parts[0])),
                b64(&format!(r#"{{"sub":"{}","permissions":["temporal-system:admin"]}}"#, jwt_parts[1])),
                jwt_parts[2]
            );
            proptest::prop_assert!(mapper.claims(Some(forged.as_bytes()), None).is_err());
        }
    }
}
