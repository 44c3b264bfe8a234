//! Temporal's JSON for its protos: proto3 JSON (camelCase names, 64-bit integers as strings,
//! enums by name, well-known types in their string forms) through `prost-reflect` and the
//! descriptor set of `temporalio-protos`, plus Temporal's *payload shorthand*, on unless a
//! request says `?noPayloadShorthand`:
//!
//! - a `Payload` whose only metadata is `encoding: json/plain` is its JSON value itself;
//!   `json/protobuf` with a `messageType` is the object with `_protoMessageType` added;
//!   `binary/null` is `{"metadata":{"encoding":"YmluYXJ5L251bGw="}}`; any other payload keeps
//!   its proto form (`{"metadata":{...base64},"data":"base64"}`);
//! - a `Payloads` is a JSON array of such values when every payload in it has a shorthand;
//! - on input, a plain JSON value becomes a `json/plain` payload, `null` a `binary/null` one,
//!   an object of exactly `metadata` and `data` (base64) the payload it spells, and an object
//!   with `_protoMessageType` a `json/protobuf` one; an array is a `Payloads`.
//!
//! Both directions are a walk of a `serde_json::Value` guided by the message descriptor: the
//! shorthand is rewritten to (or from) the proto form, and `prost-reflect` does the rest.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use prost::Message;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
    ReflectMessage, SerializeOptions,
};
use serde_json::{Map, Value};
use std::sync::OnceLock;

const PAYLOAD: &str = "temporal.api.common.v1.Payload";
const PAYLOADS: &str = "temporal.api.common.v1.Payloads";
const MESSAGE_TYPE_KEY: &str = "_protoMessageType";

/// Every message type of Temporal's API (and the well-known types it uses).
pub(crate) fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(
            &include_bytes!(concat!(env!("OUT_DIR"), "/temporal_descriptors.bin"))[..],
        )
        .expect("temporalio-protos' descriptor set decodes")
    })
}

pub(crate) fn message(name: &str) -> MessageDescriptor {
    pool()
        .get_message_by_name(name)
        .unwrap_or_else(|| panic!("{name} is in temporalio-protos' descriptor set"))
}

/// A request that cannot be turned into its message: INVALID_ARGUMENT with this text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BadJson(pub String);

/// The options of one request: `?pretty` and `?noPayloadShorthand`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Style {
    pub pretty: bool,
    pub shorthand: bool,
}

/// Finds a field by its proto name or its JSON name, as proto3 JSON parsers accept both.
fn field(desc: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    desc.get_field_by_name(name)
        .or_else(|| desc.get_field_by_json_name(name))
}

/// Encodes a request: the JSON body (if any), then the fields the path and the query string
/// set (dotted proto paths; a query string's unknown names are ignored, as grpc-gateway does).
pub(crate) fn encode_request(
    desc: &MessageDescriptor,
    body: Option<Value>,
    path_fields: &[(&str, String)],
    query: &[(String, String)],
    style: Style,
) -> Result<Vec<u8>, BadJson> {
    let mut value = body.unwrap_or_else(|| Value::Object(Map::new()));
    if !value.is_object() {
        return Err(BadJson(format!(
            "the body must be a JSON object ({} given)",
            kind_of(&value)
        )));
    }
    if style.shorthand {
        expand_shorthand(desc, &mut value);
    }
    for (path, text) in path_fields {
        set_field(desc, &mut value, path, text, true)?;
    }
    for (path, text) in query {
        set_field(desc, &mut value, path, text, false)?;
    }
    let message = DynamicMessage::deserialize_with_options(
        desc.clone(),
        value,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|e| BadJson(e.to_string()))?;
    Ok(message.encode_to_vec())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Sets the field at a dotted path from its text in a URL: numbers and enums stay strings
/// (proto3 JSON accepts both), booleans become JSON booleans, a repeated field collects every
/// occurrence. A path that names no field is an error for the URL path (the binding is
/// wrong) and ignored for the query string.
fn set_field(
    desc: &MessageDescriptor,
    root: &mut Value,
    path: &str,
    text: &str,
    required: bool,
) -> Result<(), BadJson> {
    let mut desc = desc.clone();
    let mut node = root;
    let mut names = path.split('.').peekable();
    while let Some(name) = names.next() {
        let Some(f) = field(&desc, name) else {
            return if required {
                Err(BadJson(format!("no field {path} in {}", desc.full_name())))
            } else {
                Ok(())
            };
        };
        let Value::Object(object) = node else {
            return Err(BadJson(format!("{path}: {name} is not an object")));
        };
        // The body may spell the field either way; the path's value joins that spelling.
        let key = if object.contains_key(f.name()) {
            f.name().to_string()
        } else {
            f.json_name().to_string()
        };
        if names.peek().is_none() {
            let scalar = match f.kind() {
                Kind::Bool => match text {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => {
                        return Err(BadJson(format!(
                            "parsing field \"{}\": invalid boolean {text:?}",
                            f.name()
                        )))
                    }
                },
                Kind::Int32
                | Kind::Sint32
                | Kind::Sfixed32
                | Kind::Int64
                | Kind::Sint64
                | Kind::Sfixed64
                    if text.parse::<i64>().is_err() =>
                {
                    return Err(go_parse_error(&f, "ParseInt", text))
                }
                Kind::Uint32 | Kind::Fixed32 | Kind::Uint64 | Kind::Fixed64
                    if text.parse::<u64>().is_err() =>
                {
                    return Err(go_parse_error(&f, "ParseUint", text))
                }
                _ => Value::String(text.to_string()),
            };
            if f.is_list() {
                match object
                    .entry(key)
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    Value::Array(items) => items.push(scalar),
                    other => *other = Value::Array(vec![scalar]),
                }
            } else {
                object.insert(key, scalar);
            }
            return Ok(());
        }
        let Kind::Message(inner) = f.kind() else {
            return Err(BadJson(format!("{path}: {name} is not a message")));
        };
        if f.is_list() || f.is_map() {
            return Err(BadJson(format!("{path}: {name} is repeated")));
        }
        desc = inner;
        node = object
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

/// grpc-gateway's text for a query-string number that does not parse.
fn go_parse_error(f: &FieldDescriptor, func: &str, text: &str) -> BadJson {
    BadJson(format!(
        "parsing field \"{}\": strconv.{func}: parsing {text:?}: invalid syntax",
        f.name()
    ))
}

/// The descriptors whose JSON is not an object of their fields (well-known types).
fn is_well_known(desc: &MessageDescriptor) -> bool {
    desc.package_name() == "google.protobuf"
}

/// Calls `visit` with the descriptor and value of every message-typed value directly inside
/// `value` (fields, list items, map values) that is present in the JSON.
fn for_each_message(
    desc: &MessageDescriptor,
    value: &mut Value,
    mut visit: impl FnMut(&MessageDescriptor, &mut Value),
) {
    let Value::Object(object) = value else {
        return;
    };
    for (name, v) in object.iter_mut() {
        let Some(f) = field(desc, name) else { continue };
        let Kind::Message(inner) = f.kind() else {
            continue;
        };
        if f.is_map() {
            let value_field = inner.map_entry_value_field();
            if let (Kind::Message(value_desc), Value::Object(entries)) = (value_field.kind(), v) {
                for entry in entries.values_mut() {
                    visit(&value_desc, entry);
                }
            }
        } else if f.is_list() {
            if let Value::Array(items) = v {
                for item in items {
                    visit(&inner, item);
                }
            }
        } else {
            visit(&inner, v);
        }
    }
}

/// Rewrites payload shorthand in a request into the proto form.
fn expand_shorthand(desc: &MessageDescriptor, value: &mut Value) {
    match desc.full_name() {
        PAYLOAD => *value = payload_from_shorthand(std::mem::take(value)),
        PAYLOADS if value.is_array() => {
            let Value::Array(items) = std::mem::take(value) else {
                unreachable!("checked to be an array");
            };
            let payloads = items.into_iter().map(payload_from_shorthand).collect();
            *value = Value::Object(Map::from_iter([(
                "payloads".to_string(),
                Value::Array(payloads),
            )]));
        }
        _ if is_well_known(desc) => {}
        _ => for_each_message(desc, value, expand_shorthand),
    }
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(STANDARD.encode(bytes))
}

fn proto_payload(metadata: &[(&str, &[u8])], data: Option<&[u8]>) -> Value {
    let mut object = Map::new();
    object.insert(
        "metadata".into(),
        Value::Object(
            metadata
                .iter()
                .map(|(k, v)| (k.to_string(), b64(v)))
                .collect(),
        ),
    );
    if let Some(data) = data {
        object.insert("data".into(), b64(data));
    }
    Value::Object(object)
}

/// Whether an object already spells a payload in its proto form: exactly `metadata` (with an
/// `encoding`, every value a base64 string) and `data` (base64), or a binary/null payload's
/// lone `metadata`.
fn is_proto_payload(object: &Map<String, Value>) -> bool {
    let Some(Value::Object(metadata)) = object.get("metadata") else {
        return false;
    };
    let all_base64 = metadata
        .values()
        .all(|v| v.as_str().is_some_and(|s| decode_base64(s).is_some()));
    if !all_base64 || !metadata.contains_key("encoding") {
        return false;
    }
    match object.get("data") {
        Some(Value::String(data)) => object.len() == 2 && decode_base64(data).is_some(),
        None => object.len() == 1 && metadata.get("encoding") == Some(&b64(b"binary/null")),
        _ => false,
    }
}

/// Standard or URL-safe base64, padded or not (what Temporal's decoder accepts).
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let url = s.contains(['-', '_']);
    let padded = s.len().is_multiple_of(4);
    match (url, padded) {
        (false, true) => STANDARD.decode(s),
        (false, false) => STANDARD_NO_PAD.decode(s),
        (true, true) => URL_SAFE.decode(s),
        (true, false) => URL_SAFE_NO_PAD.decode(s),
    }
    .ok()
}

/// A JSON value as Go's encoder writes an `interface{}`: object keys sorted, no spaces.
fn go_json(value: &Value) -> Vec<u8> {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(object) => {
                let mut keys: Vec<&String> = object.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sort(&object[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_vec(&sort(value)).unwrap_or_default()
}

fn payload_from_shorthand(value: Value) -> Value {
    match value {
        Value::Null => proto_payload(&[("encoding", b"binary/null")], None),
        Value::Object(object) if is_proto_payload(&object) => Value::Object(object),
        Value::Object(mut object) if object.contains_key(MESSAGE_TYPE_KEY) => {
            let message_type = match object.remove(MESSAGE_TYPE_KEY) {
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
                None => unreachable!("checked to be there"),
            };
            let data = go_json(&Value::Object(object));
            proto_payload(
                &[
                    ("encoding", b"json/protobuf"),
                    ("messageType", message_type.as_bytes()),
                ],
                Some(&data),
            )
        }
        other => {
            let data = go_json(&other);
            proto_payload(&[("encoding", b"json/plain")], Some(&data))
        }
    }
}

/// Decodes a response message and renders it as Temporal's JSON.
pub(crate) fn decode_response(
    desc: &MessageDescriptor,
    bytes: &[u8],
    style: Style,
) -> Result<Vec<u8>, String> {
    let message = DynamicMessage::decode(desc.clone(), bytes).map_err(|e| e.to_string())?;
    render(&message, style)
}

/// Renders a decoded message as Temporal's JSON.
pub(crate) fn render(message: &DynamicMessage, style: Style) -> Result<Vec<u8>, String> {
    let mut value = message
        .serialize_with_options(
            serde_json::value::Serializer,
            &SerializeOptions::new().skip_default_fields(true),
        )
        .map_err(|e| e.to_string())?;
    if style.shorthand {
        collapse_shorthand(&message.descriptor(), &mut value);
    }
    let text = if style.pretty {
        serde_json::to_vec_pretty(&value)
    } else {
        serde_json::to_vec(&value)
    };
    text.map_err(|e| e.to_string())
}

/// Rewrites proto-form payloads in a response into their shorthand, where they have one.
fn collapse_shorthand(desc: &MessageDescriptor, value: &mut Value) {
    match desc.full_name() {
        PAYLOAD => {
            if let Some(short) = payload_shorthand(value) {
                *value = short;
            }
        }
        PAYLOADS => {
            let items = match value.get("payloads") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            let short: Option<Vec<Value>> = items.iter().map(payload_shorthand).collect();
            match short {
                Some(values) => *value = Value::Array(values),
                None => for_each_message(desc, value, collapse_shorthand),
            }
        }
        _ if is_well_known(desc) => {}
        _ => for_each_message(desc, value, collapse_shorthand),
    }
}

/// A proto-form payload's shorthand, if its encoding has one.
fn payload_shorthand(value: &Value) -> Option<Value> {
    let metadata: Vec<(String, Vec<u8>)> = match value.get("metadata") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| Some((k.clone(), decode_base64(v.as_str()?)?)))
            .collect::<Option<_>>()?,
        _ => Vec::new(),
    };
    let data = match value.get("data") {
        Some(Value::String(s)) => decode_base64(s)?,
        _ => Vec::new(),
    };
    let get = |key: &str| {
        metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    };
    match get("encoding")? {
        b"binary/null" => Some(proto_payload(&[("encoding", b"binary/null")], None)),
        b"json/plain" if metadata.len() == 1 => serde_json::from_slice(&data).ok(),
        b"json/protobuf" if metadata.len() == 2 => {
            let message_type = String::from_utf8(get("messageType")?.to_vec()).ok()?;
            let mut object: Map<String, Value> = serde_json::from_slice(&data).ok()?;
            object.insert(MESSAGE_TYPE_KEY.into(), Value::String(message_type));
            Some(Value::Object(object))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use temporalio_protos::temporal::api::common::v1::{Payload, Payloads};
    use temporalio_protos::temporal::api::workflowservice::v1::{
        SignalWorkflowExecutionRequest, StartWorkflowExecutionRequest,
    };

    fn json_payload(v: &str) -> Payload {
        Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data: v.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    const START: &str = "temporal.api.workflowservice.v1.StartWorkflowExecutionRequest";

    #[test]
    fn shorthand_input_becomes_json_plain_payloads() {
        let body = json!({
            "workflowType": {"name": "Hello"},
            "taskQueue": {"name": "q"},
            "input": ["world", {"n": 1, "a": [2]}, null],
            "memo": {"fields": {"owner": "team-a"}},
            "workflow_execution_timeout": "10s",
        });
        let bytes = encode_request(
            &message(START),
            Some(body),
            &[
                ("namespace", "default".into()),
                ("workflow_id", "w/1".into()),
            ],
            &[
                ("requestId".into(), "r-1".into()),
                ("unknown".into(), "x".into()),
            ],
            Style {
                shorthand: true,
                ..Style::default()
            },
        )
        .unwrap();
        let req = StartWorkflowExecutionRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(req.namespace, "default");
        assert_eq!(req.workflow_id, "w/1");
        assert_eq!(req.request_id, "r-1");
        assert_eq!(req.workflow_type.unwrap().name, "Hello");
        let input = req.input.unwrap().payloads;
        assert_eq!(input[0], json_payload("\"world\""));
        assert_eq!(input[1], json_payload("{\"a\":[2],\"n\":1}"));
        assert_eq!(input[2].metadata["encoding"], b"binary/null");
        assert_eq!(
            req.memo.unwrap().fields["owner"],
            json_payload("\"team-a\"")
        );
        assert_eq!(req.workflow_execution_timeout.unwrap().seconds, 10);
    }

    #[test]
    fn proto_form_payloads_are_taken_as_spelled() {
        let body = json!({"input": {"payloads": [
            {"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "AAE="},
        ]}});
        let bytes = encode_request(
            &message("temporal.api.workflowservice.v1.SignalWorkflowExecutionRequest"),
            Some(body),
            &[],
            &[],
            Style {
                shorthand: true,
                ..Style::default()
            },
        )
        .unwrap();
        let req = SignalWorkflowExecutionRequest::decode(bytes.as_slice()).unwrap();
        let p = &req.input.unwrap().payloads[0];
        assert_eq!(p.metadata["encoding"], b"binary/plain");
        assert_eq!(p.data, vec![0, 1]);
    }

    #[test]
    fn responses_collapse_payloads_that_have_a_shorthand() {
        let req = SignalWorkflowExecutionRequest {
            input: Some(Payloads {
                payloads: vec![json_payload("[1,2]"), json_payload("\"x\"")],
            }),
            header: Some(temporalio_protos::temporal::api::common::v1::Header {
                fields: [(
                    "bin".to_string(),
                    Payload {
                        metadata: [("encoding".to_string(), b"binary/plain".to_vec())].into(),
                        data: vec![7],
                        ..Default::default()
                    },
                )]
                .into(),
            }),
            ..Default::default()
        };
        let desc = message("temporal.api.workflowservice.v1.SignalWorkflowExecutionRequest");
        let style = Style {
            shorthand: true,
            ..Style::default()
        };
        let text = decode_response(&desc, &req.encode_to_vec(), style).unwrap();
        let value: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(value["input"], json!([[1, 2], "x"]));
        assert_eq!(
            value["header"]["fields"]["bin"],
            json!({"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "Bw=="})
        );
        let plain = decode_response(&desc, &req.encode_to_vec(), Style::default()).unwrap();
        let value: Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(
            value["input"]["payloads"][1],
            json!({"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "Ingi"})
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_a_reason() {
        let desc = message(START);
        for body in [
            json!([1]),
            json!({"noSuchField": 1}),
            json!({"workflowId": 5}),
        ] {
            let err = encode_request(&desc, Some(body.clone()), &[], &[], Style::default());
            assert!(err.is_err(), "{body} accepted");
        }
        let err = encode_request(
            &message("temporal.api.workflowservice.v1.ListWorkflowExecutionsRequest"),
            None,
            &[],
            &[("pageSize".into(), "abc".into())],
            Style::default(),
        );
        assert!(err.is_err());
    }
}

#[cfg(test)]
mod query_tests {
    use super::*;
    use temporalio_protos::temporal::api::workflowservice::v1::ListWorkflowExecutionsRequest;

    #[test]
    fn query_string_fields_are_set() {
        let bytes = encode_request(
            &message("temporal.api.workflowservice.v1.ListWorkflowExecutionsRequest"),
            None,
            &[("namespace", "default".into())],
            &[
                ("query".into(), "A = 1".into()),
                ("pageSize".into(), "5".into()),
            ],
            Style::default(),
        )
        .unwrap();
        let req = ListWorkflowExecutionsRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(req.query, "A = 1");
        assert_eq!(req.page_size, 5);
    }
}
