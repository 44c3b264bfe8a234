//! Nexus endpoints (OperatorService Create-, Update- and DeleteNexusEndpoint): cluster-wide
//! records naming where the requests of a Nexus operation go (a namespace's task queue, or an
//! external URL), unique by name, each with a version for optimistic concurrency, as
//! Temporal's. Stored as the API's `Endpoint` under its id (table 18), with its name's claim
//! (table 19) so names stay unique.
//!
//! The checks Temporal's frontend makes on a request (`spec_issues`, `id_issues`,
//! `page_size_issue`) live here too, pure, with Temporal's messages, for the frontend to run
//! before it proposes; apply decides what depends on state (a taken name, a stale version, a
//! missing namespace).

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::keys;
use crate::mutation::CreateNexusEndpoint;
use crate::outcome::Outcome;
use crate::records::NexusEndpointClaim;
use crate::time::timestamp;
use crate::validate::MAX_ID_LENGTH;
use prost::Message;
use temporalio_protos::temporal::api::nexus::v1::{endpoint_target, Endpoint, EndpointSpec};
use temporalio_protos::temporal::api::operatorservice::v1 as ops;

/// Temporal's `limit.endpointNameMaxLength`.
pub const MAX_NAME_LENGTH: usize = 200;
/// Temporal's `limit.endpointDescriptionMaxSize` (the encoded description payload).
pub const MAX_DESCRIPTION_BYTES: usize = 20_000;
/// Temporal's `limit.endpointExternalURLMaxLength`.
pub const MAX_URL_LENGTH: usize = 4 * 1024;
/// Temporal's `limit.endpointListDefaultPageSize` and `limit.endpointListMaxPageSize`.
pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;

/// The pattern Temporal's names must match, as its messages print it.
const NAME_PATTERN: &str = r"^[a-zA-Z][a-zA-Z0-9\-]*[a-zA-Z0-9]$";
/// Task queue names starting with this are Temporal's own.
const RESERVED_QUEUE_PREFIX: &str = "/_sys/";

/// The route under which the endpoint's operations are served, stable across renames.
pub fn url_prefix(id: &str) -> String {
    format!("/nexus/endpoints/{id}/services")
}

/// What is wrong with a spec, in Temporal's words and order (joined with ", " into one
/// INVALID_ARGUMENT). `namespace_exists` is asked about a worker target's namespace; its
/// `Err` is the answer on its own (FAILED_PRECONDITION in Temporal), as Temporal checks it
/// before the rest of the target.
pub fn spec_issues(
    spec: &EndpointSpec,
    namespace_exists: impl Fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, String> {
    let mut issues = name_issues(&spec.name);
    let Some(variant) = spec.target.as_ref().and_then(|t| t.variant.as_ref()) else {
        issues.push("empty target variant".into());
        return Ok(issues);
    };
    match variant {
        endpoint_target::Variant::Worker(worker) => {
            if worker.namespace.is_empty() {
                issues.push("target namespace not set".into());
            } else if let Err(e) = namespace_exists(&worker.namespace) {
                return Err(format!(
                    "could not verify namespace referenced by target exists: {e}"
                ));
            }
            if let Some(e) = task_queue_issue(&worker.task_queue) {
                issues.push(format!("invalid target task queue: {}", go_quote(&e)));
            }
        }
        endpoint_target::Variant::External(external) => {
            if let Some(e) = url_issue(&external.url) {
                issues.push(e);
            }
        }
    }
    if spec
        .description
        .as_ref()
        .is_some_and(|d| d.encoded_len() > MAX_DESCRIPTION_BYTES)
    {
        issues.push(format!(
            "description size exceeds limit of {MAX_DESCRIPTION_BYTES}"
        ));
    }
    Ok(issues)
}

fn name_issues(name: &str) -> Vec<String> {
    if name.is_empty() {
        return vec!["endpoint name not set".into()];
    }
    let mut issues = Vec::new();
    if name.len() > MAX_NAME_LENGTH {
        issues.push(format!(
            "endpoint name exceeds length limit of {MAX_NAME_LENGTH}"
        ));
    }
    let bytes = name.as_bytes();
    let well_formed = bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    if !well_formed {
        issues.push(format!(
            "endpoint name must match the regex: {}",
            go_quote(NAME_PATTERN)
        ));
    }
    issues
}

fn task_queue_issue(queue: &str) -> Option<String> {
    if queue.is_empty() {
        Some("taskQueue is not set".into())
    } else if queue.len() > MAX_ID_LENGTH {
        Some("taskQueue length exceeds limit".into())
    } else if queue.starts_with(RESERVED_QUEUE_PREFIX) {
        Some(format!(
            "task queue name cannot start with reserved prefix {RESERVED_QUEUE_PREFIX}"
        ))
    } else {
        None
    }
}

/// An external target's URL: set, not too long, http or https (the scheme as Go's URL
/// parser reads it: letters, digits, `+ - .` before the first colon, starting with a letter).
fn url_issue(url: &str) -> Option<String> {
    if url.is_empty() {
        return Some("empty target URL".into());
    }
    if url.len() > MAX_URL_LENGTH {
        return Some(format!(
            "target URL length exceeds limit of {MAX_URL_LENGTH}"
        ));
    }
    if url.starts_with(':') {
        return Some(format!(
            "invalid target URL: parse {}: missing protocol scheme",
            go_quote(url)
        ));
    }
    let scheme = match url.split_once(':') {
        Some((head, _))
            if head.starts_with(|c: char| c.is_ascii_alphabetic())
                && head
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            head.to_ascii_lowercase()
        }
        _ => String::new(),
    };
    (scheme != "http" && scheme != "https").then(|| {
        format!(
            "invalid target URL scheme: {}, expected http or https",
            go_quote(&scheme)
        )
    })
}

/// What is wrong with an endpoint id (Temporal's ids are UUIDs, parsed as Go's `uuid.Parse`:
/// 36 characters, or 32, 38 in braces, 45 as a URN).
pub fn id_issues(id: &str) -> Vec<String> {
    if id.is_empty() {
        return vec!["endpoint ID not set".into()];
    }
    let problem = if ![32, 36, 38, 45].contains(&id.len()) {
        Some(format!("invalid UUID length: {}", id.len()))
    } else if uuid_parses(id) {
        None
    } else {
        Some("invalid UUID format".into())
    };
    problem
        .map(|p| vec![format!("malformed endpoint ID: {}", go_quote(&p))])
        .unwrap_or_default()
}

fn uuid_parses(id: &str) -> bool {
    let hex = if let Some(rest) = id.strip_prefix("urn:uuid:") {
        rest
    } else if let Some(rest) = id.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        rest
    } else {
        id
    };
    let plain: String = if hex.len() == 36 {
        let dashes = [8, 13, 18, 23];
        if dashes.iter().any(|&i| hex.as_bytes()[i] != b'-') {
            return false;
        }
        hex.chars().filter(|c| *c != '-').collect()
    } else {
        hex.to_string()
    };
    plain.len() == 32 && plain.chars().all(|c| c.is_ascii_hexdigit())
}

/// A list request's page size: 0 is the default, a negative or too large one is refused.
pub fn page_size(requested: i32) -> Result<usize, String> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err("page_size is negative".into()),
        n if n as usize > MAX_PAGE_SIZE => {
            Err(format!("page_size exceeds limit of {MAX_PAGE_SIZE}"))
        }
        n => Ok(n as usize),
    }
}

/// Go's `%q` of a string of printable characters: quoted, with `"` and `\` escaped.
fn go_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn not_found_text(id: &str) -> String {
    format!("Nexus endpoint with ID `{id}` not found")
}

fn name_taken(name: &str, doing: &str) -> Rejection {
    Rejection::AlreadyExists(format!(
        "error {doing} Nexus endpoint. Endpoint with name {name} already registered"
    ))
}

/// A worker target's namespace must exist (the frontend checked too; this decides).
fn check_target(ctx: &ApplyCtx, spec: &EndpointSpec) -> ApplyResult<()> {
    if let Some(endpoint_target::Variant::Worker(worker)) =
        spec.target.as_ref().and_then(|t| t.variant.as_ref())
    {
        ctx.namespace(&worker.namespace).map_err(|e| {
            Rejection::FailedPrecondition(format!(
                "could not verify namespace referenced by target exists: {e}"
            ))
        })?;
    }
    Ok(())
}

fn save(ctx: &mut ApplyCtx, endpoint: &Endpoint) {
    let name = endpoint.spec.as_ref().map_or("", |s| s.name.as_str());
    ctx.put(
        keys::nexus_endpoint_name(name),
        &NexusEndpointClaim {
            id: endpoint.id.clone(),
        },
    );
    // The description's payload metadata is a map: encoded canonically, so every replica
    // writes the same bytes.
    ctx.state.put(
        keys::nexus_endpoint(&endpoint.id),
        crate::canonical::encode(endpoint, crate::canonical::NEXUS_ENDPOINT),
    );
}

fn load(ctx: &ApplyCtx, id: &str) -> ApplyResult<Option<Endpoint>> {
    ctx.get(&keys::nexus_endpoint(id))
}

/// The endpoint a name refers to now, if any (what a ScheduleNexusOperation command names).
pub(crate) fn by_name(ctx: &ApplyCtx, name: &str) -> ApplyResult<Option<Endpoint>> {
    match ctx.get::<NexusEndpointClaim>(&keys::nexus_endpoint_name(name))? {
        Some(claim) => load(ctx, &claim.id),
        None => Ok(None),
    }
}

pub(crate) fn create(ctx: &mut ApplyCtx, m: CreateNexusEndpoint) -> ApplyResult<Outcome> {
    let spec = m.spec.unwrap_or_default();
    if ctx
        .get_raw(&keys::nexus_endpoint_name(&spec.name))?
        .is_some()
        || load(ctx, &m.id)?.is_some()
    {
        return Err(name_taken(&spec.name, "creating"));
    }
    check_target(ctx, &spec)?;
    let endpoint = Endpoint {
        version: 1,
        url_prefix: url_prefix(&m.id),
        id: m.id,
        spec: Some(spec),
        created_time: timestamp(ctx.now),
        last_modified_time: None,
    };
    save(ctx, &endpoint);
    Ok(Outcome::NexusEndpoint(Box::new(endpoint)))
}

/// Updates an endpoint at its current version. Its created time stays (Temporal's update
/// drops it from the record, a difference kept on purpose), and a rename to a name another
/// endpoint has is refused (Temporal's lets two endpoints share a name).
pub(crate) fn update(
    ctx: &mut ApplyCtx,
    req: ops::UpdateNexusEndpointRequest,
) -> ApplyResult<Outcome> {
    let mut endpoint = load(ctx, &req.id)?.ok_or_else(|| {
        Rejection::NotFound(format!(
            "error updating Nexus endpoint. endpoint ID {} not found",
            req.id
        ))
    })?;
    if req.version != endpoint.version {
        return Err(Rejection::FailedPrecondition(format!(
            "nexus endpoint version mismatch. received: {} expected {}",
            req.version, endpoint.version
        )));
    }
    let spec = req.spec.unwrap_or_default();
    let old_name = endpoint.spec.as_ref().map_or("", |s| s.name.as_str());
    if spec.name != old_name {
        if ctx
            .get_raw(&keys::nexus_endpoint_name(&spec.name))?
            .is_some()
        {
            return Err(name_taken(&spec.name, "updating"));
        }
        ctx.delete(keys::nexus_endpoint_name(old_name));
    }
    check_target(ctx, &spec)?;
    endpoint.version += 1;
    endpoint.spec = Some(spec);
    // Temporal's comes from its hybrid logical clock: milliseconds.
    endpoint.last_modified_time = timestamp(ctx.now / 1_000_000 * 1_000_000);
    save(ctx, &endpoint);
    Ok(Outcome::NexusEndpoint(Box::new(endpoint)))
}

/// Deletes an endpoint. Temporal's checks only that the version is positive, not that it
/// is the current one; so does this.
pub(crate) fn delete(
    ctx: &mut ApplyCtx,
    req: ops::DeleteNexusEndpointRequest,
) -> ApplyResult<Outcome> {
    let endpoint = load(ctx, &req.id)?.ok_or_else(|| {
        Rejection::NotFound(format!("error deleting nexus endpoint with ID: {}", req.id))
    })?;
    let name = endpoint.spec.as_ref().map_or("", |s| s.name.as_str());
    ctx.delete(keys::nexus_endpoint_name(name));
    ctx.delete(keys::nexus_endpoint(&endpoint.id));
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_protos::temporal::api::nexus::v1::EndpointTarget;

    fn spec(name: &str, target: endpoint_target::Variant) -> EndpointSpec {
        EndpointSpec {
            name: name.into(),
            description: None,
            target: Some(EndpointTarget {
                variant: Some(target),
            }),
        }
    }

    fn worker(namespace: &str, queue: &str) -> endpoint_target::Variant {
        endpoint_target::Variant::Worker(endpoint_target::Worker {
            namespace: namespace.into(),
            task_queue: queue.into(),
        })
    }

    fn external(url: &str) -> endpoint_target::Variant {
        endpoint_target::Variant::External(endpoint_target::External { url: url.into() })
    }

    fn issues(s: &EndpointSpec) -> Result<Vec<String>, String> {
        spec_issues(s, |ns| {
            if ns == "default" {
                Ok(())
            } else {
                Err(format!("Namespace {ns} is not found."))
            }
        })
    }

    #[test]
    fn names_follow_temporals_pattern() {
        for good in ["ab", "my-endpoint", "A1", "x-y-z9"] {
            assert_eq!(
                issues(&spec(good, worker("default", "q"))),
                Ok(vec![]),
                "{good}"
            );
        }
        let pattern =
            r#"endpoint name must match the regex: "^[a-zA-Z][a-zA-Z0-9\\-]*[a-zA-Z0-9]$""#;
        for bad in ["a", "1ab", "ab-", "a_b", "a b", "é1"] {
            assert_eq!(
                issues(&spec(bad, worker("default", "q"))),
                Ok(vec![pattern.to_string()]),
                "{bad}"
            );
        }
        assert_eq!(
            issues(&spec("", worker("default", "q"))),
            Ok(vec!["endpoint name not set".to_string()])
        );
        let long = "a".repeat(201);
        assert_eq!(
            issues(&spec(&long, worker("default", "q"))),
            Ok(vec!["endpoint name exceeds length limit of 200".to_string()])
        );
    }

    #[test]
    fn targets_are_checked_as_temporal_checks_them() {
        assert_eq!(
            issues(&spec("ab", worker("default", ""))),
            Ok(vec![
                r#"invalid target task queue: "taskQueue is not set""#.to_string()
            ])
        );
        assert_eq!(
            issues(&spec("ab", worker("default", "/_sys/q"))),
            Ok(vec![
                r#"invalid target task queue: "task queue name cannot start with reserved prefix /_sys/""#
                    .to_string()
            ])
        );
        assert_eq!(
            issues(&spec("ab", worker("", "q"))),
            Ok(vec!["target namespace not set".to_string()])
        );
        // The namespace is looked up before anything else of the target is reported.
        assert_eq!(
            issues(&spec("a", worker("nope", ""))),
            Err("could not verify namespace referenced by target exists: Namespace nope is not found.".to_string())
        );
        let mut no_target = spec("ab", external("http://x"));
        no_target.target = None;
        assert_eq!(
            issues(&no_target),
            Ok(vec!["empty target variant".to_string()])
        );
        for good in ["http://localhost:7243/x", "HTTPS://example"] {
            assert_eq!(issues(&spec("ab", external(good))), Ok(vec![]), "{good}");
        }
        assert_eq!(
            issues(&spec("ab", external("ftp://x"))),
            Ok(vec![
                r#"invalid target URL scheme: "ftp", expected http or https"#.to_string()
            ])
        );
        assert_eq!(
            issues(&spec("ab", external("localhost"))),
            Ok(vec![
                r#"invalid target URL scheme: "", expected http or https"#.to_string()
            ])
        );
        assert_eq!(
            issues(&spec("ab", external(""))),
            Ok(vec!["empty target URL".to_string()])
        );
    }

    #[test]
    fn ids_must_be_uuids() {
        assert!(id_issues("6d4c9d3e-2e0c-4e39-9f4f-2c1d1c7a9b10").is_empty());
        assert!(id_issues("6d4c9d3e2e0c4e399f4f2c1d1c7a9b10").is_empty());
        assert_eq!(id_issues(""), vec!["endpoint ID not set".to_string()]);
        assert_eq!(
            id_issues("abc"),
            vec![r#"malformed endpoint ID: "invalid UUID length: 3""#.to_string()]
        );
        assert_eq!(
            id_issues("6d4c9d3e-2e0c-4e39-9f4f-2c1d1c7a9bzz"),
            vec![r#"malformed endpoint ID: "invalid UUID format""#.to_string()]
        );
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0), Ok(100));
        assert_eq!(page_size(7), Ok(7));
        assert_eq!(page_size(-1), Err("page_size is negative".into()));
        assert_eq!(
            page_size(1001),
            Err("page_size exceeds limit of 1000".into())
        );
    }
}
