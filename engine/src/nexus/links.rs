//! The links and completion callbacks of Nexus operations: the `temporal:///` URLs that
//! name workflow events in Nexus requests and answers (read back as the API's links), and
//! Keel's completion callback (Temporal's `temporal://system` URL and a token naming the
//! operation) with the targets a run's callbacks name.

use crate::records::{ExecutionRecord, NexusCallbackTarget, NexusOperationInfo};
use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{callback, link, Callback, Link},
    enums::v1::EventType,
    nexus::v1 as nexus,
};

/// The link type of a workflow event.
const WORKFLOW_EVENT_LINK_TYPE: &str = "temporal.api.common.v1.Link.WorkflowEvent";

/// The completion callback a handler gets, as Temporal's: a URL meaning "this cluster",
/// and a header whose token names the operation.
pub const SYSTEM_CALLBACK_URL: &str = "temporal://system";
pub const CALLBACK_TOKEN_HEADER: &str = "temporal-callback-token";
/// Marks Keel's tokens (hex of a `NexusCallbackTarget`), so a foreign one is ignored.
const CALLBACK_TOKEN_PREFIX: &str = "keel-nexus-1:";

pub(super) fn callback_token(exec: &ExecutionRecord, op: &NexusOperationInfo) -> String {
    let target = NexusCallbackTarget {
        namespace: exec.namespace.clone(),
        workflow_id: exec.workflow_id.clone(),
        run_id: exec.run_id.clone(),
        scheduled_event_id: op.scheduled_event_id,
        request_id: op.request_id.clone(),
    };
    let hex: String = target
        .encode_to_vec()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{CALLBACK_TOKEN_PREFIX}{hex}")
}

fn decode_callback_token(token: &str) -> Option<NexusCallbackTarget> {
    let hex = token.strip_prefix(CALLBACK_TOKEN_PREFIX)?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    NexusCallbackTarget::decode(bytes.as_slice()).ok()
}

/// The operations a new run's completion callbacks name: Keel's own (its URL and a token it
/// made); any other callback is not called (Keel makes no outbound requests).
pub(crate) fn callback_targets(callbacks: &[Callback]) -> Vec<NexusCallbackTarget> {
    callbacks
        .iter()
        .filter_map(|c| match &c.variant {
            Some(callback::Variant::Nexus(n)) if n.url == SYSTEM_CALLBACK_URL => n
                .header
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(CALLBACK_TOKEN_HEADER))
                .and_then(|(_, v)| decode_callback_token(v)),
            _ => None,
        })
        .collect()
}

/// A `temporal:///namespaces/{ns}/workflows/{id}/{run}/history?eventID=..&eventType=..`
/// link, as the SDKs write a workflow event into a Nexus link, read back as the API's link
/// (what Temporal puts on the caller's NexusOperationStarted event).
pub(super) fn workflow_event_link(l: &nexus::Link) -> Option<Link> {
    if l.r#type != WORKFLOW_EVENT_LINK_TYPE {
        return None;
    }
    let rest = l.url.strip_prefix("temporal:///namespaces/")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let parts: Vec<String> = path.split('/').map(percent_decoded).collect();
    let [namespace, kind, workflow_id, run_id, history] = parts.as_slice() else {
        return None;
    };
    if kind != "workflows" || history != "history" {
        return None;
    }
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decoded(v))
    };
    let event_type = param("eventType")
        .and_then(|t| {
            EventType::from_str_name(&t).or_else(|| EventType::from_str_name(&constant_case(&t)))
        })
        .unwrap_or(EventType::Unspecified) as i32;
    let reference = match param("referenceType").as_deref() {
        Some("RequestIdReference") => link::workflow_event::Reference::RequestIdRef(
            link::workflow_event::RequestIdReference {
                request_id: param("requestID").unwrap_or_default(),
                event_type,
            },
        ),
        _ => link::workflow_event::Reference::EventRef(link::workflow_event::EventReference {
            event_id: param("eventID").and_then(|i| i.parse().ok()).unwrap_or(0),
            event_type,
        }),
    };
    Some(Link {
        variant: Some(link::Variant::WorkflowEvent(link::WorkflowEvent {
            namespace: namespace.clone(),
            workflow_id: workflow_id.clone(),
            run_id: run_id.clone(),
            reference: Some(reference),
        })),
    })
}

/// `WorkflowExecutionStarted` as `EVENT_TYPE_WORKFLOW_EXECUTION_STARTED`.
fn constant_case(pascal: &str) -> String {
    let mut out = String::from("EVENT_TYPE");
    for c in pascal.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// A URL path segment: every byte but the unreserved ones as `%XX` (as Go's PathEscape).
fn percent_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `temporal:///` URL of the event that scheduled the operation, as Temporal links it.
pub(super) fn scheduled_event_link(exec: &ExecutionRecord, op: &NexusOperationInfo) -> nexus::Link {
    nexus::Link {
        url: format!(
            "temporal:///namespaces/{}/workflows/{}/{}/history?eventID={}&eventType=NexusOperationScheduled&referenceType=EventReference",
            percent_encoded(&exec.namespace),
            percent_encoded(&exec.workflow_id),
            percent_encoded(&exec.run_id),
            op.scheduled_event_id
        ),
        r#type: WORKFLOW_EVENT_LINK_TYPE.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_round_trip_through_their_urls_even_with_odd_ids() {
        let exec = ExecutionRecord {
            namespace: "default".into(),
            workflow_id: "order/7 ü?".into(),
            run_id: "run-1".into(),
            ..Default::default()
        };
        let op = NexusOperationInfo {
            scheduled_event_id: 5,
            ..Default::default()
        };
        let link = scheduled_event_link(&exec, &op);
        assert!(link.url.contains("/workflows/order%2F7%20%C3%BC%3F/run-1/"));
        let Some(link::Variant::WorkflowEvent(w)) =
            workflow_event_link(&link).and_then(|l| l.variant)
        else {
            panic!("a workflow event link")
        };
        assert_eq!(
            (w.workflow_id.as_str(), w.run_id.as_str()),
            ("order/7 ü?", "run-1")
        );
        assert_eq!(
            w.reference,
            Some(link::workflow_event::Reference::EventRef(
                link::workflow_event::EventReference {
                    event_id: 5,
                    event_type: EventType::NexusOperationScheduled as i32,
                }
            ))
        );
    }

    #[test]
    fn callback_tokens_round_trip_and_foreign_ones_are_ignored() {
        let exec = ExecutionRecord {
            namespace: "ns".into(),
            workflow_id: "wf".into(),
            run_id: "run".into(),
            ..Default::default()
        };
        let op = NexusOperationInfo {
            scheduled_event_id: 9,
            request_id: "req".into(),
            ..Default::default()
        };
        let target = decode_callback_token(&callback_token(&exec, &op)).unwrap();
        assert_eq!(
            (
                target.workflow_id.as_str(),
                target.scheduled_event_id,
                target.request_id.as_str()
            ),
            ("wf", 9, "req")
        );
        assert_eq!(decode_callback_token("{\"v\":1,\"d\":\"abc\"}"), None);
        assert_eq!(decode_callback_token("keel-nexus-1:zz"), None);
    }
}
