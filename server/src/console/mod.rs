//! The web console (`--ui-listen`): a page shell and its hand-written script and stylesheet,
//! embedded in the binary, that render every page in the browser from the HTTP API served on
//! the same listener (`/api/v1/...`, `http_api`), plus two reads of Keel's own:
//! `/api/keel/settings` and `/api/keel/cluster` (each member's Raft status, asked of the
//! member itself). Page routes follow the Temporal UI's, so pasted links keep working.
//! With `--ui-read-only` the script hides write actions and the API here refuses them. With
//! authorization on, the script sends the token a person gives it (kept for the browser tab
//! only) with every call, and the cluster page needs a system reader's.

use crate::admin::node_status;
use crate::app::Keel;
use crate::auth::{ClaimMapper, Role};
use crate::http_api::HttpApi;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{header, HeaderMap, Method, StatusCode, Uri};
use keel_client::messages::NodeStatus;
use keel_client::AdminClient;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const SHELL: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

/// How long the cluster page waits for one member's status.
const MEMBER_TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Clone)]
struct Console {
    keel: Arc<Keel>,
    api: HttpApi,
    read_only: bool,
    /// Authorization's claim mapper, when it is on.
    mapper: Option<Arc<ClaimMapper>>,
}

/// Whether a path is one of the console's pages (rendered by the script from the URL).
fn is_page(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["namespaces"] | ["cluster"] => true,
        ["namespaces", ns, section, rest @ ..] if !ns.is_empty() => matches!(
            (*section, rest.len()),
            ("workflows", 0..=3)
                | ("schedules", 0..=1)
                | ("batch-operations", 0..=1)
                | ("task-queues", 1)
        ),
        _ => false,
    }
}

fn shell(status: StatusCode) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SHELL,
    )
        .into_response()
}

async fn page(uri: Uri) -> Response {
    if is_page(uri.path()) {
        shell(StatusCode::OK)
    } else {
        // The script says "page not found" for any URL it has no page for.
        shell(StatusCode::NOT_FOUND)
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn settings(State(c): State<Console>) -> Response {
    axum::Json(json!({
        "readOnly": c.read_only,
        "authorization": c.mapper.is_some(),
        "version": env!("CARGO_PKG_VERSION"),
        "nodeId": c.keel.node.node_id,
    }))
    .into_response()
}

fn opt(v: Option<u64>) -> Value {
    v.map_or(Value::Null, |v| json!(v))
}

fn status_json(s: &NodeStatus) -> Value {
    json!({
        "role": s.role,
        "term": s.term,
        "lastLogIndex": opt(s.last_log_index),
        "appliedIndex": opt(s.applied_index),
        "snapshotIndex": opt(s.snapshot_index),
        "purgedIndex": opt(s.purged_index),
        "leaderId": opt(s.leader_id),
    })
}

/// Every member as this node knows the membership, each with the status it reports itself
/// (asked concurrently; a member that does not answer in time is unreachable), and, when this
/// node leads, the log index each follower has matched.
async fn cluster(State(c): State<Console>, headers: HeaderMap) -> Response {
    if let Some(mapper) = &c.mapper {
        let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
        // Keel's admin reads: a system reader's, as `keel cluster status` needs.
        let allowed = mapper
            .claims(authorization, None)
            .is_ok_and(|claims| claims.system >= Role::READER);
        if !allowed {
            let body = json!({"code": 7, "message": crate::auth::UNAUTHORIZED, "details": []});
            return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        }
    }
    let own = node_status(&c.keel);
    let matched: std::collections::BTreeMap<u64, Option<u64>> = c
        .keel
        .node
        .metrics()
        .replication
        .as_ref()
        .map(|r| r.iter().map(|(id, l)| (*id, l.map(|l| l.index))).collect())
        .unwrap_or_default();
    let asks = own.members.iter().map(|m| {
        let is_self = m.node_id == own.node_id;
        let addr = m.client_addr.clone();
        let own = own.clone();
        async move {
            if is_self {
                return Ok(own);
            }
            AdminClient::new(vec![addr])
                .with_timeout(MEMBER_TIMEOUT)
                .node_status()
                .await
                .map_err(|e| e.to_string())
        }
    });
    // Spawned so that the members are asked at once: the slowest decides the wait.
    let handles: Vec<_> = asks.map(tokio::spawn).collect();
    let mut answers = Vec::with_capacity(handles.len());
    for h in handles {
        answers.push(h.await.unwrap_or_else(|e| Err(e.to_string())));
    }
    let newest_log = answers
        .iter()
        .filter_map(|a| a.as_ref().ok()?.last_log_index)
        .max();
    let members: Vec<Value> = own
        .members
        .iter()
        .zip(answers)
        .map(|(m, answer)| {
            let mut v = json!({
                "nodeId": m.node_id,
                "clientAddr": m.client_addr,
                "peerAddr": m.peer_addr,
                "voter": m.voter,
                "self": m.node_id == own.node_id,
                "matchedIndex": matched.get(&m.node_id).copied().flatten(),
            });
            match answer {
                Ok(s) => {
                    v["reachable"] = json!(true);
                    v["status"] = status_json(&s);
                    v["lag"] = match (newest_log, s.applied_index) {
                        (Some(n), Some(a)) => json!(n.saturating_sub(a)),
                        (Some(n), None) => json!(n),
                        _ => Value::Null,
                    };
                }
                Err(e) => {
                    v["reachable"] = json!(false);
                    v["error"] = json!(e);
                }
            }
            v
        })
        .collect();
    axum::Json(json!({
        "nodeId": own.node_id,
        "leaderId": opt(own.leader_id),
        "term": own.term,
        "members": members,
    }))
    .into_response()
}

async fn api_call(
    State(c): State<Console>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    extensions: http::Extensions,
    body: Body,
) -> Response {
    c.api.handle(method, uri, headers, extensions, body).await
}

/// The console's router: assets, Keel's own reads, the HTTP API and every page route.
pub fn router(
    keel: Arc<Keel>,
    api: HttpApi,
    read_only: bool,
    mapper: Option<Arc<ClaimMapper>>,
) -> axum::Router {
    let console = Console {
        keel,
        api,
        read_only,
        mapper,
    };
    axum::Router::new()
        .route(
            "/",
            get(|| async { Redirect::to("/namespaces/default/workflows") }),
        )
        .route(
            "/assets/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/assets/console.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/api/keel/settings", get(settings))
        .route("/api/keel/cluster", get(cluster))
        .route("/api/v1/{*rest}", axum::routing::any(api_call))
        .fallback(page)
        .with_state(console)
}

#[cfg(test)]
mod tests {
    use super::is_page;

    #[test]
    fn page_routes_follow_the_temporal_ui() {
        for p in [
            "/namespaces",
            "/namespaces/default/workflows",
            "/namespaces/default/workflows/w",
            "/namespaces/default/workflows/w/r",
            "/namespaces/default/workflows/w/r/history",
            "/namespaces/default/schedules",
            "/namespaces/default/schedules/s",
            "/namespaces/default/batch-operations/j",
            "/namespaces/default/task-queues/q",
            "/cluster",
        ] {
            assert!(is_page(p), "{p}");
        }
        for p in [
            "/nope",
            "/namespaces//workflows",
            "/namespaces/d/nope",
            "/namespaces/d/task-queues",
        ] {
            assert!(!is_page(p), "{p}");
        }
    }
}
