//! Search attributes and memo: the namespace's custom attributes (OperatorService's
//! AddSearchAttributes / RemoveSearchAttributes), Temporal's system attributes, checking the
//! attributes a start or an UpsertWorkflowSearchAttributes command sets (registered, settable,
//! a value of the registered type), and merging upserts and memo updates into a run.

use crate::ctx::ApplyCtx;
use crate::error::{ApplyResult, Rejection};
use crate::keys;
use crate::outcome::Outcome;
use crate::records::NamespaceRecord;
use temporalio_protos::temporal::api::{
    common::v1::{Memo, Payload, SearchAttributes},
    enums::v1::{IndexedValueType as T, WorkflowTaskFailedCause},
    operatorservice::v1 as ops,
};

/// Temporal's system search attributes and their types. The first group is kept by the
/// server and may not be set by anyone; the second may be set like custom ones (the SDKs set
/// TemporalChangeVersion when a workflow is patched).
const RESERVED: &[(&str, T)] = &[
    ("WorkflowId", T::Keyword),
    ("RunId", T::Keyword),
    ("WorkflowType", T::Keyword),
    ("StartTime", T::Datetime),
    ("ExecutionTime", T::Datetime),
    ("CloseTime", T::Datetime),
    ("ExecutionStatus", T::Keyword),
    ("TaskQueue", T::Keyword),
    ("HistoryLength", T::Int),
    ("HistorySizeBytes", T::Int),
    ("ExecutionDuration", T::Int),
    ("StateTransitionCount", T::Int),
    ("ParentWorkflowId", T::Keyword),
    ("ParentRunId", T::Keyword),
    ("RootWorkflowId", T::Keyword),
    ("RootRunId", T::Keyword),
    ("TemporalExternalPayloadCount", T::Int),
    ("TemporalExternalPayloadSizeBytes", T::Int),
];
const PREDEFINED: &[(&str, T)] = &[
    ("TemporalChangeVersion", T::KeywordList),
    ("BinaryChecksums", T::KeywordList),
    ("BuildIds", T::KeywordList),
    ("BatcherNamespace", T::Keyword),
    ("BatcherUser", T::Keyword),
    ("TemporalScheduledStartTime", T::Datetime),
    ("TemporalScheduledById", T::Keyword),
    ("TemporalSchedulePaused", T::Bool),
    ("TemporalNamespaceDivision", T::Keyword),
    ("TemporalPauseInfo", T::KeywordList),
    ("TemporalReportedProblems", T::KeywordList),
    ("TemporalWorkerDeploymentVersion", T::Keyword),
    ("TemporalWorkflowVersioningBehavior", T::Keyword),
    ("TemporalWorkerDeployment", T::Keyword),
    ("TemporalUsedWorkerDeploymentVersions", T::KeywordList),
];

/// Temporal's default limit of custom search attributes per namespace.
const MAX_CUSTOM: usize = 100;

/// Every system attribute with its type, for ListSearchAttributes.
pub fn system_attributes() -> impl Iterator<Item = (&'static str, T)> {
    RESERVED.iter().chain(PREDEFINED).copied()
}

fn system_type(name: &str) -> Option<T> {
    system_attributes()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t)
}

/// AddSearchAttributes: registers custom attributes; adding one again with its type is a no-op.
pub(crate) fn add(
    ctx: &mut ApplyCtx,
    req: ops::AddSearchAttributesRequest,
) -> ApplyResult<Outcome> {
    let mut ns = ctx.namespace(&req.namespace)?;
    for (name, ty) in &req.search_attributes {
        let invalid = |m: String| Err(Rejection::InvalidArgument(m));
        if system_type(name).is_some() {
            return invalid(format!("Search attribute {name} is reserved by system."));
        }
        if !valid_name(name) {
            return invalid(format!("Search attribute name {name} is not valid."));
        }
        if matches!(T::try_from(*ty), Err(_) | Ok(T::Unspecified)) {
            return invalid(format!("Unknown search attribute type {ty} for {name}."));
        }
        match ns.search_attributes.get(name) {
            Some(existing) if existing == ty => {}
            Some(_) => return invalid(format!("Search attribute {name} already exists.")),
            None if ns.search_attributes.len() >= MAX_CUSTOM => {
                return invalid(format!(
                    "Unable to create search attributes: cannot have more than {MAX_CUSTOM} search attributes."
                ))
            }
            None => {
                ns.search_attributes.insert(name.clone(), *ty);
            }
        }
    }
    ctx.put(keys::namespace(&ns.name), &ns);
    Ok(Outcome::Done)
}

/// RemoveSearchAttributes: forgets custom attributes (values already stored stay in runs).
pub(crate) fn remove(
    ctx: &mut ApplyCtx,
    req: ops::RemoveSearchAttributesRequest,
) -> ApplyResult<Outcome> {
    let mut ns = ctx.namespace(&req.namespace)?;
    for name in &req.search_attributes {
        if system_type(name).is_some() {
            return Err(Rejection::InvalidArgument(format!(
                "Unable to remove non-custom search attributes: {name}."
            )));
        }
        ns.search_attributes.remove(name);
    }
    ctx.put(keys::namespace(&ns.name), &ns);
    Ok(Outcome::Done)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 255
}

/// A search attribute value as Temporal stores one: JSON, stamped with its type.
pub(crate) fn json_payload(json: impl Into<Vec<u8>>, ty: &str) -> Payload {
    Payload {
        metadata: [
            ("encoding".to_string(), b"json/plain".to_vec()),
            ("type".to_string(), ty.as_bytes().to_vec()),
        ]
        .into(),
        data: json.into(),
        ..Default::default()
    }
}

/// Whether a payload says "no value" (an upsert's way to remove an attribute or memo key).
pub(crate) fn is_null(p: &Payload) -> bool {
    p.data.is_empty()
        || p.metadata.get("encoding").map(Vec::as_slice) == Some(b"binary/null".as_slice())
}

/// Checks attributes a start or an upsert sets against the namespace (the error is
/// Temporal's) and stamps each value with its type, as Temporal does.
pub fn check(ns: &NamespaceRecord, attributes: &mut SearchAttributes) -> Result<(), String> {
    for (name, value) in &mut attributes.indexed_fields {
        if RESERVED.iter().any(|(n, _)| n == name) {
            return Err(format!("{name} attribute can't be set in SearchAttributes"));
        }
        let ty = match ns.search_attributes.get(name) {
            Some(ty) => T::try_from(*ty).unwrap_or(T::Unspecified),
            None => system_type(name).ok_or_else(|| {
                format!(
                    "Namespace {} has no mapping defined for search attribute {name}",
                    ns.name
                )
            })?,
        };
        value
            .metadata
            .insert("type".into(), type_name(ty).as_bytes().to_vec());
        if is_null(value) {
            continue;
        }
        if !json::is_of_type(&value.data, ty) {
            return Err(format!(
                "invalid value for search attribute {name} of type {}: {}",
                type_name(ty),
                json::display(&value.data)
            ));
        }
    }
    Ok(())
}

/// Checks the attributes a command gives a new run (child, continue-as-new); bad ones fail
/// the workflow task with BadSearchAttributes, as on Temporal.
pub(crate) fn check_command(
    ctx: &ApplyCtx,
    namespace: &str,
    attributes: &mut Option<SearchAttributes>,
) -> ApplyResult<()> {
    let Some(attributes) = attributes else {
        return Ok(());
    };
    check(&ctx.namespace(namespace)?, attributes).map_err(|message| Rejection::BadCommand {
        cause: WorkflowTaskFailedCause::BadSearchAttributes,
        message,
    })
}

/// The name Temporal gives a type in payload metadata and messages.
fn type_name(ty: T) -> &'static str {
    match ty {
        T::Text => "Text",
        T::Keyword => "Keyword",
        T::Int => "Int",
        T::Double => "Double",
        T::Bool => "Bool",
        T::Datetime => "Datetime",
        T::KeywordList => "KeywordList",
        T::Unspecified => "Unspecified",
    }
}

/// Merges an upsert into a run's attributes: null values remove keys.
pub(crate) fn merge_search_attributes(
    into: &mut Option<SearchAttributes>,
    update: &SearchAttributes,
) {
    let fields = &mut into.get_or_insert_with(Default::default).indexed_fields;
    merge_fields(fields, &update.indexed_fields);
    if fields.is_empty() {
        *into = None;
    }
}

/// Merges a memo update into a run's memo: null values remove keys.
pub(crate) fn merge_memo(into: &mut Option<Memo>, update: &Memo) {
    let fields = &mut into.get_or_insert_with(Default::default).fields;
    merge_fields(fields, &update.fields);
    if fields.is_empty() {
        *into = None;
    }
}

/// The maps are Temporal's message fields (hash maps); each key is set or removed on its
/// own, so the result does not depend on the order `update` is visited in.
#[allow(clippy::disallowed_types)]
fn merge_fields(
    into: &mut std::collections::HashMap<String, Payload>,
    update: &std::collections::HashMap<String, Payload>,
) {
    for (name, value) in update {
        if is_null(value) {
            into.remove(name);
        } else {
            into.insert(name.clone(), value.clone());
        }
    }
}

/// What kind of value a search attribute payload (JSON) holds, as Temporal decodes it: a
/// value of the attribute's type, or (Temporal's `system.visibilityAllowList`, on by
/// default) a list of such values; a keyword list is always a list of strings.
mod json {
    use super::T;
    use serde_json::Value;

    pub(super) fn is_of_type(data: &[u8], ty: T) -> bool {
        let Ok(value) = serde_json::from_slice::<Value>(data) else {
            return false;
        };
        match (ty, &value) {
            (T::KeywordList, Value::Array(items)) => items.iter().all(Value::is_string),
            (T::KeywordList, _) => false,
            // Go decodes a null in a list as the type's zero value, and so accepts it.
            (_, Value::Array(items)) => items.iter().all(|v| v.is_null() || one(v, ty)),
            (_, v) => one(v, ty),
        }
    }

    fn one(value: &Value, ty: T) -> bool {
        match ty {
            T::Text | T::Keyword => value.is_string(),
            T::Int => value.is_i64(),
            T::Double => value.is_number(),
            T::Bool => value.is_boolean(),
            // What Go's time.Time accepts: RFC 3339 with an offset or Z, any fraction.
            T::Datetime => value
                .as_str()
                .is_some_and(|s| crate::time::parse_rfc3339(s).is_some()),
            T::KeywordList | T::Unspecified => false,
        }
    }

    /// The value as Temporal prints it in messages: a string without its quotes.
    pub(super) fn display(data: &[u8]) -> String {
        match serde_json::from_slice::<Value>(data) {
            Ok(Value::String(s)) => s,
            _ => String::from_utf8_lossy(data).trim().to_string(),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn values_are_told_apart_by_their_json_kind() {
            assert!(is_of_type(br#""a \"quoted\" word""#, T::Keyword));
            assert!(is_of_type(b"-42", T::Int));
            assert!(!is_of_type(b"4.2", T::Int));
            assert!(is_of_type(b"4.2e3", T::Double));
            assert!(is_of_type(b"7", T::Double));
            assert!(is_of_type(b" true ", T::Bool));
            assert!(is_of_type(br#"["a","b"]"#, T::KeywordList));
            assert!(is_of_type(b"[]", T::KeywordList));
            assert!(!is_of_type(br#""a""#, T::KeywordList));
            assert!(!is_of_type(br#"["a",1]"#, T::KeywordList));
            assert!(!is_of_type(b"5", T::Keyword));
            assert!(!is_of_type(br#"{"a": 1}"#, T::Text));
            assert!(!is_of_type(b"\"unterminated", T::Text));
            assert!(!is_of_type(b"12 34", T::Int));
            assert_eq!(display(br#""v""#), "v");
            assert_eq!(display(b"3"), "3");
        }

        #[test]
        fn datetimes_in_the_forms_the_sdks_send() {
            for ok in [
                r#""2026-11-26T05:00:00Z""#,
                r#""2026-11-26T05:00:00+00:00""#, // Python isoformat()
                r#""2026-11-26T05:00:00.123456+01:00""#, // Python, microseconds
                r#""2026-11-26T05:00:00.000Z""#,  // TypeScript Date
                r#""2026-11-26T05:00:00.123456789-07:00""#, // Go RFC3339Nano
                r#"["2026-11-26T05:00:00.000Z"]"#, // the SDKs' list form
                r#"["2026-11-26T05:00:00Z","2026-11-27T05:00:00Z"]"#,
            ] {
                assert!(is_of_type(ok.as_bytes(), T::Datetime), "{ok}");
            }
            for bad in [
                r#""yesterday""#,
                r#""2026-11-26T05:00:00""#, // no offset: Go refuses it too
                r#""2026-13-26T05:00:00Z""#,
                r#"1764133200"#,
                r#"["2026-11-26T05:00:00Z", 5]"#,
            ] {
                assert!(!is_of_type(bad.as_bytes(), T::Datetime), "{bad}");
            }
            assert!(
                is_of_type(b"[1, 2]", T::Int),
                "lists of any type are allowed"
            );
            assert!(!is_of_type(b"[1, 2.5]", T::Int));
        }
    }
}
