//! Temporal's HTTP API (`/api/v1/...` and the same paths without the prefix), as the dev
//! server serves it on `--http-port`: each binding of `routes.rs` turns a request's path,
//! query string and JSON body into the method's request message (`json`), calls the method
//! in-process through the same tower stack as the client port (forwarding to the leader
//! included, so every check of the gRPC path applies), and renders the answer or the error
//! status as Temporal's JSON. Unary methods only, as Temporal's.

pub(crate) mod json;
pub(crate) mod router;
mod routes;

pub(crate) use routes::GRPC_METHODS;

use crate::admission::Admission;
use crate::forward::Forward;
use crate::metrics::RequestMetrics;
use axum::body::Body as AxumBody;
use axum::response::{IntoResponse, Response};
use bytes::{Buf, BufMut, Bytes};
use http::{HeaderMap, Method, StatusCode, Uri};
use json::Style;
use keel_client::tls::{Accepted, PeerInfo, ServerTls};
use prost_reflect::{DynamicMessage, Value as ProtoValue};
use router::{Matched, NoRoute};
use std::sync::Arc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::service::Routes;
use tonic::{Code, Status};
use tracing::Instrument;

/// Temporal's cap on an HTTP API request body (`rpc.MaxHTTPAPIRequestBytes`).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Headers passed on to the gRPC method as metadata (Temporal's defaults), besides
/// `Grpc-Metadata-<name>` ones, which pass on as `<name>`.
const FORWARDED_HEADERS: &[&str] = &[
    "authorization",
    "authorization-extras",
    "x-forwarded-for",
    "client-name",
    "client-version",
];

/// The services of the client port, behind the same layers (request metrics, forwarding).
pub type ClientStack = RequestMetrics<Admission<Forward<Routes>>>;

/// The HTTP API over a node's client-port services.
#[derive(Clone)]
pub struct HttpApi {
    stack: ClientStack,
    /// Refuse every call that changes something (the console's `--ui-read-only`).
    read_only: bool,
}

/// Passes already-encoded messages through tonic's framing (also keel-jepsen's garbage).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// grpc-gateway's HTTP status for a gRPC code.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// An error as Temporal's JSON status: `{"code", "message", "details": [Any...]}`, the
/// details being those the gRPC status carries (the SDKs' `errordetails`).
pub(crate) fn error_response(status: &Status, style: Style) -> Response {
    let desc = json::message("google.rpc.Status");
    let mut message = (!status.details().is_empty())
        .then(|| DynamicMessage::decode(desc.clone(), status.details()).ok())
        .flatten()
        .unwrap_or_else(|| DynamicMessage::new(desc));
    message.set_field_by_name("code", ProtoValue::I32(status.code() as i32));
    message.set_field_by_name("message", ProtoValue::String(status.message().to_string()));
    let body = json::render(&message, style).unwrap_or_else(|e| {
        serde_json::to_vec(&serde_json::json!({"code": 13, "message": e})).unwrap_or_default()
    });
    json_response(http_status(status.code()), body)
}

/// The query string's pairs, percent-decoded (`+` is a space, as in forms).
fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    let Some(query) = uri.query() else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl HttpApi {
    pub fn new(stack: ClientStack, read_only: bool) -> Self {
        HttpApi { stack, read_only }
    }

    /// Answers one HTTP API request.
    pub async fn handle(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        extensions: http::Extensions,
        body: AxumBody,
    ) -> Response {
        let span = tracing::info_span!("http_api", %method, path = uri.path());
        // Who is connected (a verified client certificate counts as credentials).
        let peer =
            (extensions.get::<axum::extract::ConnectInfo<HttpPeer>>()).map(|c| c.0 .0.clone());
        self.answer(method, uri, headers, peer, body)
            .instrument(span)
            .await
    }

    async fn answer(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        peer: Option<PeerInfo>,
        body: AxumBody,
    ) -> Response {
        let query = query_pairs(&uri);
        let style = Style {
            pretty: query.iter().any(|(k, _)| k == "pretty"),
            shorthand: !query.iter().any(|(k, _)| k == "noPayloadShorthand"),
        };
        let matched = match router::find(method.as_str(), uri.path()) {
            Ok(m) => m,
            Err(NoRoute::NotFound) => {
                return error_response(&Status::not_found("Not Found"), style)
            }
            Err(NoRoute::MethodNotAllowed) => {
                return error_response(&Status::unimplemented("Method Not Allowed"), style)
            }
        };
        if method != Method::GET && !same_origin(&headers) {
            // A page elsewhere must not drive this API through a visitor's browser (a dev
            // server on a laptop takes requests without credentials).
            return error_response(
                &Status::permission_denied("cross-origin request refused"),
                style,
            );
        }
        if self.read_only && method != Method::GET && matched.route.rpc != "QueryWorkflow" {
            return error_response(
                &Status::permission_denied("write actions are disabled (--ui-read-only)"),
                style,
            );
        }
        let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return error_response(
                    &Status::invalid_argument("http: request body too large"),
                    style,
                )
            }
        };
        match self
            .call(&matched, &query, &headers, peer, body, style)
            .await
        {
            Ok(body) => json_response(StatusCode::OK, body),
            Err(status) => error_response(&status, style),
        }
    }

    async fn call(
        &self,
        matched: &Matched,
        query: &[(String, String)],
        headers: &HeaderMap,
        peer: Option<PeerInfo>,
        body: Bytes,
        style: Style,
    ) -> Result<Vec<u8>, Status> {
        let route = matched.route;
        let json_body = if route.body && !body.is_empty() {
            Some(
                serde_json::from_slice::<serde_json::Value>(&body)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?,
            )
        } else {
            None
        };
        // A binding with a body takes every field from it and the path, none from the query.
        let query = if route.body { &[][..] } else { query };
        let request = json::encode_request(
            &json::message(route.request),
            json_body,
            &matched.fields,
            query,
            style,
        )
        .map_err(|e| Status::invalid_argument(e.0))?;
        let mut grpc_request = tonic::Request::new(Bytes::from(request));
        for (name, value) in headers {
            let name = name.as_str();
            let key = match name.strip_prefix("grpc-metadata-") {
                Some(rest) => rest,
                None if FORWARDED_HEADERS.contains(&name) => name,
                None => continue,
            };
            if let (Ok(k), Ok(v)) = (
                tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
                tonic::metadata::MetadataValue::try_from(value.as_bytes()),
            ) {
                grpc_request.metadata_mut().insert(k, v);
            }
        }
        if let Some(peer) = peer {
            grpc_request.extensions_mut().insert(peer);
        }
        if !grpc_request.metadata().contains_key("client-name") {
            grpc_request.metadata_mut().insert(
                "client-name",
                tonic::metadata::MetadataValue::from_static("temporal-server-http"),
            );
        }
        let path = http::uri::PathAndQuery::try_from(route.grpc_path())
            .map_err(|e| Status::internal(e.to_string()))?;
        let mut grpc = tonic::client::Grpc::new(self.stack.clone());
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let response = grpc.unary(grpc_request, path, RawCodec).await?;
        json::decode_response(&json::message(route.response), response.get_ref(), style)
            .map_err(Status::internal)
    }
}

/// Whether a request comes from no browser page, or from one of this listener's own: a
/// browser names the page's origin (`Origin`) on every cross-site request that is not a GET,
/// and it must then be the scheme and authority the request was sent to (`Host`).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin_authority = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority);
    matches!((origin_authority, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// An axum router answering every path with the HTTP API.
pub fn router(api: HttpApi) -> axum::Router {
    axum::Router::new().fallback(
        move |method: Method,
              uri: Uri,
              headers: HeaderMap,
              extensions: http::Extensions,
              body: AxumBody| {
            let api = api.clone();
            async move { api.handle(method, uri, headers, extensions, body).await }
        },
    )
}

/// Serves `router` on `listener` until `stop` resolves.
/// Connections accepted (and TLS-terminated when the listener has TLS) for axum.
struct AcceptedListener {
    accepted: tokio::sync::mpsc::Receiver<Accepted>,
    local: std::net::SocketAddr,
}

impl axum::serve::Listener for AcceptedListener {
    type Io = Accepted;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Accepted, std::net::SocketAddr) {
        match self.accepted.recv().await {
            Some(conn) => {
                let remote = conn.peer_info().remote_addr.unwrap_or(self.local);
                (conn, remote)
            }
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        Ok(self.local)
    }
}

/// The connection's `PeerInfo`, as axum hands it to handlers (`ConnectInfo<HttpPeer>`).
#[derive(Clone)]
pub struct HttpPeer(pub PeerInfo);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, AcceptedListener>>
    for HttpPeer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, AcceptedListener>) -> Self {
        HttpPeer(stream.io().peer_info())
    }
}

/// Serves `router` on `listener` (over TLS with `tls`) until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<ServerTls>>,
    router: axum::Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let listener = AcceptedListener {
        accepted: keel_client::tls::accept(listener, tls),
        local,
    };
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<HttpPeer>(),
    )
    .with_graceful_shutdown(stop)
    .await
}

#[cfg(test)]
mod hostile_input {
    //! Arbitrary paths, query strings and bodies: matching and transcoding never panic, and
    //! what they refuse they refuse with a reason.
    use super::*;

    #[test]
    fn cross_origin_writes_are_told_apart_from_the_consoles_own() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, http::HeaderValue::from_static(v));
            }
            h
        };
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8233")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8233"),
            ("origin", "http://127.0.0.1:8233")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8233"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8233"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:8233"
        )])));
    }

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.next() as usize % items.len()]
        }
    }

    const SEGMENTS: &[&str] = &[
        "api",
        "v1",
        "namespaces",
        "default",
        "workflows",
        "w",
        "history",
        "signal",
        "%2F",
        "%zz",
        "%",
        "",
        "schedules",
        "batch-operations",
        "task-queues",
        "query",
        "..",
        "\u{1F600}",
        "x%00y",
    ];
    const FRAGMENTS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"input\"",
        "\"memo\"",
        "\"fields\"",
        "\"payloads\"",
        "null",
        "true",
        "1e999",
        "-1",
        "\"\\u0000\"",
        "\"metadata\"",
        "\"data\"",
        "\"_protoMessageType\"",
        "\"workflowType\"",
        "\"name\"",
        "\"x\"",
        "{\"a\":",
        "\"header\"",
        "\"AAEC\"",
        "\"workflowExecutionTimeout\"",
        "\"-5s\"",
        "\"99999999999999999999s\"",
    ];

    #[test]
    fn arbitrary_requests_never_panic() {
        let mut rng = Lcg(7);
        let methods = ["GET", "POST", "DELETE", "PUT", "PATCH"];
        for _ in 0..20_000 {
            let depth = 1 + rng.next() as usize % 8;
            let path: String = (0..depth)
                .map(|_| format!("/{}", rng.pick(SEGMENTS)))
                .collect();
            let method = methods[rng.next() as usize % methods.len()];
            let Ok(matched) = router::find(method, &path) else {
                continue;
            };
            let body: String = (0..rng.next() as usize % 12)
                .map(|_| rng.pick(FRAGMENTS))
                .collect();
            let json = serde_json::from_str::<serde_json::Value>(&body).ok();
            let query = vec![(
                rng.pick(SEGMENTS).to_string(),
                rng.pick(FRAGMENTS).to_string(),
            )];
            for shorthand in [true, false] {
                let _ = json::encode_request(
                    &json::message(matched.route.request),
                    json.clone(),
                    &matched.fields,
                    &query,
                    json::Style {
                        pretty: false,
                        shorthand,
                    },
                );
            }
        }
    }

    #[test]
    fn arbitrary_response_bytes_never_panic() {
        let mut rng = Lcg(11);
        let desc =
            json::message("temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse");
        for _ in 0..5_000 {
            let bytes: Vec<u8> = (0..rng.next() % 64).map(|_| rng.next() as u8).collect();
            let _ = json::decode_response(&desc, &bytes, json::Style::default());
        }
        let status =
            Status::with_details(Code::NotFound, "gone", Bytes::from_static(b"\xff\x00junk"));
        let response = error_response(&status, json::Style::default());
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
