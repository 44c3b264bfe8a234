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

/// Just enough JSON to tell what kind of value a search attribute payload holds.
mod json {
    use super::T;

    #[derive(Debug, PartialEq)]
    enum Value {
        String(String),
        Integer,
        Number,
        Bool,
        Null,
        Array(Vec<Value>),
        Object,
    }

    pub(super) fn is_of_type(data: &[u8], ty: T) -> bool {
        let Some(value) = parse(data) else {
            return false;
        };
        match (ty, &value) {
            (T::Text | T::Keyword, Value::String(_)) => true,
            (T::Int, Value::Integer) => true,
            (T::Double, Value::Integer | Value::Number) => true,
            (T::Bool, Value::Bool) => true,
            (T::Datetime, Value::String(s)) => looks_like_rfc3339(s),
            (T::KeywordList, Value::Array(items)) => {
                items.iter().all(|v| matches!(v, Value::String(_)))
            }
            _ => false,
        }
    }

    /// The value as Temporal prints it in messages: a string without its quotes.
    pub(super) fn display(data: &[u8]) -> String {
        match parse(data) {
            Some(Value::String(s)) => s,
            _ => String::from_utf8_lossy(data).trim().to_string(),
        }
    }

    fn looks_like_rfc3339(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() >= 20
            && b[4] == b'-'
            && b[7] == b'-'
            && (b[10] == b'T' || b[10] == b't')
            && b[13] == b':'
            && b[16] == b':'
            && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
                .iter()
                .all(|&i| b[i].is_ascii_digit())
    }

    fn parse(data: &[u8]) -> Option<Value> {
        let mut p = Parser { s: data, i: 0 };
        let v = p.value()?;
        p.ws();
        (p.i == data.len()).then_some(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }

        fn literal(&mut self, word: &[u8], v: Value) -> Option<Value> {
            self.s[self.i..].starts_with(word).then(|| {
                self.i += word.len();
                v
            })
        }

        fn value(&mut self) -> Option<Value> {
            self.ws();
            match self.peek()? {
                b'"' => self.string().map(Value::String),
                b't' => self.literal(b"true", Value::Bool),
                b'f' => self.literal(b"false", Value::Bool),
                b'n' => self.literal(b"null", Value::Null),
                b'[' => self.array(),
                b'{' => self.object(),
                b'-' | b'0'..=b'9' => self.number(),
                _ => None,
            }
        }

        fn string(&mut self) -> Option<String> {
            self.i += 1; // the opening quote
            let mut out = Vec::new();
            loop {
                match self.peek()? {
                    b'"' => {
                        self.i += 1;
                        return String::from_utf8(out).ok();
                    }
                    b'\\' => {
                        let escaped = *self.s.get(self.i + 1)?;
                        self.i += 2;
                        match escaped {
                            b'u' => {
                                let hex =
                                    std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
                                let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)
                                    .unwrap_or('\u{fffd}');
                                self.i += 4;
                                out.extend(c.to_string().as_bytes());
                            }
                            b'n' => out.push(b'\n'),
                            b't' => out.push(b'\t'),
                            b'r' => out.push(b'\r'),
                            b'b' => out.push(8),
                            b'f' => out.push(12),
                            other => out.push(other),
                        }
                    }
                    c => {
                        out.push(c);
                        self.i += 1;
                    }
                }
            }
        }

        fn number(&mut self) -> Option<Value> {
            let start = self.i;
            if self.peek() == Some(b'-') {
                self.i += 1;
            }
            let digits = |p: &mut Self| {
                let from = p.i;
                while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                    p.i += 1;
                }
                p.i > from
            };
            if !digits(self) {
                return None;
            }
            let mut integer = true;
            if self.peek() == Some(b'.') {
                self.i += 1;
                integer = false;
                if !digits(self) {
                    return None;
                }
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                self.i += 1;
                integer = false;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.i += 1;
                }
                if !digits(self) {
                    return None;
                }
            }
            let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
            Some(if integer && text.parse::<i64>().is_ok() {
                Value::Integer
            } else {
                Value::Number
            })
        }

        fn array(&mut self) -> Option<Value> {
            self.i += 1;
            let mut items = Vec::new();
            self.ws();
            if self.peek() == Some(b']') {
                self.i += 1;
                return Some(Value::Array(items));
            }
            loop {
                items.push(self.value()?);
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        return Some(Value::Array(items));
                    }
                    _ => return None,
                }
            }
        }

        fn object(&mut self) -> Option<Value> {
            self.i += 1;
            self.ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Some(Value::Object);
            }
            loop {
                self.ws();
                if self.peek()? != b'"' {
                    return None;
                }
                self.string()?;
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.i += 1;
                self.value()?;
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        return Some(Value::Object);
                    }
                    _ => return None,
                }
            }
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
            assert!(is_of_type(br#""2026-11-26T05:00:00Z""#, T::Datetime));
            assert!(!is_of_type(br#""yesterday""#, T::Datetime));
            assert!(!is_of_type(b"5", T::Keyword));
            assert!(!is_of_type(br#"{"a": 1}"#, T::Text));
            assert!(!is_of_type(b"\"unterminated", T::Text));
            assert!(!is_of_type(b"12 34", T::Int));
            assert_eq!(display(br#""v""#), "v");
            assert_eq!(display(b"3"), "3");
        }
    }
}
