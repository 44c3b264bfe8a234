//! Matching a request's method and path against the HTTP bindings of `routes.rs`, as
//! Temporal's grpc-gateway does: a template's `{field.path}` segment matches one path segment
//! (percent-decoded, so a workflow id may hold `/` as `%2F`), literal segments must be equal,
//! and when several templates match, the one with the most literal segments wins.

use super::routes::ROUTES;
use std::sync::OnceLock;

/// One HTTP binding of a gRPC method (`google.api.http` in Temporal's service protos).
#[derive(Debug)]
pub(crate) struct Route {
    pub method: &'static str,
    pub template: &'static str,
    /// The gRPC service's full name.
    pub service: &'static str,
    pub rpc: &'static str,
    /// Full names of the request and response messages.
    pub request: &'static str,
    pub response: &'static str,
    /// Whether the request body is the request message (`body: "*"`); if not, fields come
    /// from the path and the query string only.
    pub body: bool,
}

impl Route {
    /// The gRPC path of the method this binding calls.
    pub fn grpc_path(&self) -> String {
        format!("/{}/{}", self.service, self.rpc)
    }
}

enum Segment {
    Literal(&'static str),
    /// A request field, by its dotted proto path.
    Field(&'static str),
}

struct Compiled {
    route: &'static Route,
    segments: Vec<Segment>,
    literals: usize,
}

fn compiled() -> &'static [Compiled] {
    static TABLE: OnceLock<Vec<Compiled>> = OnceLock::new();
    TABLE.get_or_init(|| {
        ROUTES
            .iter()
            .map(|route| {
                let segments: Vec<Segment> = route
                    .template
                    .trim_start_matches('/')
                    .split('/')
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(field) => Segment::Field(field),
                            None => Segment::Literal(s),
                        },
                    )
                    .collect();
                let literals = segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count();
                Compiled {
                    route,
                    segments,
                    literals,
                }
            })
            .collect()
    })
}

/// A binding that matched, with the request fields its path sets.
#[derive(Debug)]
pub(crate) struct Matched {
    pub route: &'static Route,
    pub fields: Vec<(&'static str, String)>,
}

/// Why no binding matched; grpc-gateway's answers for each.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoRoute {
    /// No template matches the path (404, code 5 "Not Found").
    NotFound,
    /// Templates match the path, none with this method (501, code 12 "Method Not Allowed").
    MethodNotAllowed,
}

/// Percent-decodes one path segment; `None` if it is not valid UTF-8 or a `%` is malformed.
fn decode_segment(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Finds the binding for `method` and `path` (the path without its query string).
pub(crate) fn find(method: &str, path: &str) -> Result<Matched, NoRoute> {
    let Some(parts) = path
        .strip_prefix('/')
        .map(|p| p.split('/').map(decode_segment).collect::<Option<Vec<_>>>())
        .and_then(|p| p)
    else {
        return Err(NoRoute::NotFound);
    };
    let mut best: Option<&Compiled> = None;
    let mut path_matched = false;
    for c in compiled() {
        if c.segments.len() != parts.len() {
            continue;
        }
        let fits = c.segments.iter().zip(&parts).all(|(s, p)| match s {
            Segment::Literal(l) => l == p,
            Segment::Field(_) => !p.is_empty(),
        });
        if !fits {
            continue;
        }
        path_matched = true;
        if c.route.method == method && best.is_none_or(|b| c.literals > b.literals) {
            best = Some(c);
        }
    }
    match best {
        Some(c) => Ok(Matched {
            route: c.route,
            fields: c
                .segments
                .iter()
                .zip(parts)
                .filter_map(|(s, p)| match s {
                    Segment::Field(f) => Some((*f, p)),
                    Segment::Literal(_) => None,
                })
                .collect(),
        }),
        None if path_matched => Err(NoRoute::MethodNotAllowed),
        None => Err(NoRoute::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_prefixes_reach_the_same_method() {
        for path in [
            "/namespaces/default/workflows",
            "/api/v1/namespaces/default/workflows",
        ] {
            let m = find("GET", path).unwrap();
            assert_eq!(m.route.rpc, "ListWorkflowExecutions");
            assert_eq!(m.fields, vec![("namespace", "default".to_string())]);
        }
    }

    #[test]
    fn path_fields_are_percent_decoded_and_nested() {
        let m = find(
            "POST",
            "/api/v1/namespaces/ns/workflows/a%2Fb%20c/signal/go%21",
        )
        .unwrap();
        assert_eq!(m.route.rpc, "SignalWorkflowExecution");
        assert_eq!(
            m.fields,
            vec![
                ("namespace", "ns".to_string()),
                ("workflow_execution.workflow_id", "a/b c".to_string()),
                ("signal_name", "go!".to_string()),
            ]
        );
    }

    #[test]
    fn literal_segments_win_over_fields() {
        let m = find("GET", "/api/v1/namespaces/ns/workflows/w/history").unwrap();
        assert_eq!(m.route.rpc, "GetWorkflowExecutionHistory");
        let m = find("GET", "/api/v1/namespaces/ns/workflows/w").unwrap();
        assert_eq!(m.route.rpc, "DescribeWorkflowExecution");
        let m = find("POST", "/api/v1/namespaces/ns/workflows/w").unwrap();
        assert_eq!(m.route.rpc, "StartWorkflowExecution");
    }

    #[test]
    fn unknown_paths_and_methods_are_told_apart() {
        assert_eq!(find("GET", "/api/v1/nope").unwrap_err(), NoRoute::NotFound);
        assert_eq!(
            find("PUT", "/api/v1/namespaces").unwrap_err(),
            NoRoute::MethodNotAllowed
        );
        assert_eq!(
            find("GET", "/api/v1/namespaces/%zz/workflows").unwrap_err(),
            NoRoute::NotFound
        );
        assert_eq!(
            find("GET", "/api/v1/namespaces//workflows").unwrap_err(),
            NoRoute::NotFound
        );
    }
}
