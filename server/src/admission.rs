//! Admission on the client port: a tower layer in front of forwarding that decides whether
//! the node takes a request at all. First authorization (`auth`: claims from the credentials,
//! the method's scope and access), then the per-namespace limits (`limits`). Both may need the
//! request's namespace; it is read from the body (`auth::namespace`) once, and only when one
//! of them needs it. Health checks and GetSystemInfo pass untouched. A refusal is answered
//! here, before anything is read or written.

use crate::auth::access::{self, Scope};
use crate::auth::{allows, namespace, required_role, ClaimMapper, UNAUTHORIZED};
use crate::limits::Limits;
use http_body_util::BodyExt;
use keel_client::tls::PeerInfo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::Body;
use tower::{Layer, Service};

/// The largest request body read to find its namespace (larger ones are refused; the
/// frontend's own limit is lower).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The layer; with neither a mapper (authorization off) nor limits it passes requests on.
#[derive(Clone, Default)]
pub struct AdmissionLayer {
    mapper: Option<Arc<ClaimMapper>>,
    limits: Option<Arc<Limits>>,
}

impl AdmissionLayer {
    pub fn new(mapper: Option<Arc<ClaimMapper>>, limits: Option<Arc<Limits>>) -> Self {
        AdmissionLayer { mapper, limits }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;
    fn layer(&self, inner: S) -> Admission<S> {
        Admission {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Admission<S> {
    inner: S,
    layer: AdmissionLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn unauthorized(path: &str, reason: &dyn std::fmt::Display) -> http::Response<Body> {
    tracing::info!(method = path, %reason, "request unauthorized");
    crate::errors::permission_denied(UNAUTHORIZED).into_http()
}

impl<S> Service<http::Request<Body>> for Admission<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let AdmissionLayer { mapper, limits } = self.layer.clone();
        if (mapper.is_none() && limits.is_none()) || access::is_open(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        // The service that was made ready serves this call; a fresh clone waits for the next.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            let path = request.uri().path().to_string();
            let rule = access::of(&path);
            let claims = match &mapper {
                None => None,
                Some(mapper) => {
                    if rule.is_none() {
                        return Ok(unauthorized(&path, &"method not in the access table"));
                    }
                    let authorization = request.headers().get(http::header::AUTHORIZATION);
                    let cn = (request.extensions().get::<PeerInfo>())
                        .and_then(|p| p.client_cert_cn.as_deref());
                    match mapper.claims(authorization.map(|v| v.as_bytes()), cn) {
                        Ok(c) => Some(c),
                        Err(reason) => return Ok(unauthorized(&path, &reason)),
                    }
                }
            };
            let namespaced = matches!(rule, Some((Scope::Namespace, _)));
            // A system role high enough decides without the namespace.
            let auth_needs_namespace = match (&claims, rule) {
                (Some(c), Some((scope, access))) => {
                    scope == Scope::Namespace && c.system < required_role(access)
                }
                _ => false,
            };
            let limits_need_namespace =
                namespaced && limits.as_ref().is_some_and(|l| l.applies_to(&path));
            let (request, namespace) = if auth_needs_namespace || limits_need_namespace {
                let (parts, body) = request.into_parts();
                let bytes = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(e) => return Ok(unauthorized(&path, &format!("unreadable body: {e}"))),
                };
                let encoding = (parts.headers.get("grpc-encoding")).and_then(|v| v.to_str().ok());
                let namespace = namespace::field_of(&path)
                    .and_then(|field| namespace::of_body(&bytes, encoding, field))
                    .unwrap_or_default();
                let body = Body::new(http_body_util::Full::new(bytes));
                (http::Request::from_parts(parts, body), namespace)
            } else {
                (request, String::new())
            };
            if let (Some(claims), Some((scope, access))) = (&claims, rule) {
                if !allows(claims, &path, scope, access, &namespace) {
                    let reason = format!("{} lacks the role in {namespace:?}", claims.subject);
                    return Ok(unauthorized(&path, &reason));
                }
            }
            let slot = match (&limits, namespaced) {
                (Some(limits), true) => match limits.admit(&namespace, &path) {
                    Ok(slot) => slot,
                    Err(status) => return Ok(status.into_http()),
                },
                _ => None,
            };
            let response = inner.call(request).await;
            drop(slot);
            response
        })
    }
}
