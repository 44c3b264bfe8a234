//! Canonical encoding: prost writes the API's `HashMap` fields (payload metadata, headers,
//! memos, search attributes, marker details) in per-process hash order, so two replicas that
//! apply the same mutation could write different bytes. Every record the engine writes goes
//! through `encode`, which re-emits map entries sorted by their encoded key, everywhere in
//! the message tree. The Temporal schema comes from the descriptor set temporalio-protos
//! publishes; the engine's own records that embed Temporal messages are listed in
//! `RECORD_FIELDS`. Everything else is copied through byte for byte.

use prost::Message;
use std::collections::BTreeMap;
use std::sync::OnceLock;

static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/temporal_descriptors.bin"));

/// The engine's records, with the fields that hold Temporal messages or other records.
/// (Record names are Keel's own; Temporal names are fully qualified.)
const RECORD_FIELDS: &[(&str, &[(u32, &str)])] = &[
    (
        "keel.BatchJobRecord",
        &[(
            3,
            "temporal.api.workflowservice.v1.StartBatchOperationRequest",
        )],
    ),
    (
        "keel.ExecutionRecord",
        &[
            (16, "keel.WorkflowTaskInfo"),
            (17, "keel.ActivityInfo"),
            (19, "temporal.api.history.v1.HistoryEvent"),
            (22, "temporal.api.common.v1.Memo"),
            (23, "temporal.api.common.v1.SearchAttributes"),
            (25, "temporal.api.common.v1.WorkerVersionStamp"),
            (44, "temporal.api.activity.v1.ActivityExecutionOutcome"),
            (48, "temporal.api.sdk.v1.UserMetadata"),
            (54, "keel.NexusOperationInfo"),
        ],
    ),
    (
        "keel.NexusOperationInfo",
        &[
            (7, "temporal.api.common.v1.Payload"),
            (16, "temporal.api.failure.v1.Failure"),
        ],
    ),
    (
        "keel.ScheduleRecord",
        &[
            (3, "temporal.api.schedule.v1.Schedule"),
            (4, "temporal.api.common.v1.Memo"),
            (5, "temporal.api.common.v1.SearchAttributes"),
            (17, "temporal.api.common.v1.Payloads"),
            (18, "temporal.api.failure.v1.Failure"),
        ],
    ),
    (
        "keel.WorkflowTaskInfo",
        &[(9, "temporal.api.common.v1.WorkerVersionStamp")],
    ),
    (
        "keel.ActivityInfo",
        &[
            (5, "temporal.api.common.v1.Header"),
            (6, "temporal.api.common.v1.Payloads"),
            (11, "temporal.api.common.v1.RetryPolicy"),
            (18, "temporal.api.common.v1.Payloads"),
            (20, "temporal.api.failure.v1.Failure"),
            (22, "temporal.api.common.v1.WorkerVersionStamp"),
        ],
    ),
];

pub(crate) const EXECUTION_RECORD: &str = "keel.ExecutionRecord";
pub(crate) const SCHEDULE_RECORD: &str = "keel.ScheduleRecord";
pub(crate) const BATCH_JOB_RECORD: &str = "keel.BatchJobRecord";
pub(crate) const NEXUS_ENDPOINT: &str = "temporal.api.nexus.v1.Endpoint";
pub(crate) const HISTORY_EVENT: &str = "temporal.api.history.v1.HistoryEvent";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field<'a> {
    Message(&'a str),
    /// A map field: its entries are messages of this (generated `…Entry`) type.
    Map(&'a str),
}

/// Message name -> field number -> how to treat the field. Only message-typed fields.
type Schema = BTreeMap<String, BTreeMap<u32, (bool, String)>>;

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = Schema::new();
        if let Ok(set) = descriptor::FileDescriptorSet::decode(DESCRIPTORS) {
            let entries: Vec<String> = set
                .file
                .iter()
                .flat_map(|f| map_entries(&f.package, &f.message_type))
                .collect();
            for f in &set.file {
                add_messages(&mut schema, &f.package, &f.message_type, &entries);
            }
        }
        for (record, fields) in RECORD_FIELDS {
            let fields = fields
                .iter()
                .map(|(n, t)| (*n, (false, t.to_string())))
                .collect();
            schema.insert(record.to_string(), fields);
        }
        schema
    })
}

fn map_entries(prefix: &str, messages: &[descriptor::DescriptorProto]) -> Vec<String> {
    let mut out = Vec::new();
    for m in messages {
        let name = format!("{prefix}.{}", m.name);
        if m.options.as_ref().is_some_and(|o| o.map_entry) {
            out.push(name.clone());
        }
        out.extend(map_entries(&name, &m.nested_type));
    }
    out
}

fn add_messages(
    schema: &mut Schema,
    prefix: &str,
    messages: &[descriptor::DescriptorProto],
    entries: &[String],
) {
    const TYPE_MESSAGE: i32 = 11;
    for m in messages {
        let name = format!("{prefix}.{}", m.name);
        let fields = m
            .field
            .iter()
            .filter(|f| f.r#type == TYPE_MESSAGE)
            .map(|f| {
                let type_name = f.type_name.trim_start_matches('.').to_string();
                let is_map = entries.contains(&type_name);
                (f.number as u32, (is_map, type_name))
            })
            .collect();
        schema.insert(name.clone(), fields);
        add_messages(schema, &name, &m.nested_type, entries);
    }
}

fn field_kind(message: &str, number: u32) -> Option<Field<'static>> {
    let (is_map, type_name) = schema().get(message)?.get(&number)?;
    Some(if *is_map {
        Field::Map(type_name)
    } else {
        Field::Message(type_name)
    })
}

/// `message` encoded with every map's entries in sorted order.
pub(crate) fn encode(message: &impl Message, type_name: &str) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    canonical(&bytes, type_name).unwrap_or(bytes)
}

/// Re-emits `bytes` (a `type_name` message) with map entries sorted; `None` if the bytes do
/// not parse (then the caller keeps them as they are).
fn canonical(bytes: &[u8], type_name: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    // Entries of each map field, gathered and written where the field first appeared.
    let mut maps: BTreeMap<u32, (usize, Vec<Vec<u8>>)> = BTreeMap::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let start = bytes.len() - rest.len();
        let key = varint(&mut rest)?;
        let (number, wire_type) = ((key >> 3) as u32, key & 7);
        match wire_type {
            0 => {
                varint(&mut rest)?;
            }
            1 => rest = rest.get(8..)?,
            5 => rest = rest.get(4..)?,
            2 => {
                let len = varint(&mut rest)? as usize;
                let body = rest.get(..len)?;
                rest = rest.get(len..)?;
                match field_kind(type_name, number) {
                    Some(Field::Message(t)) => {
                        let inner = canonical(body, t)?;
                        put_varint(&mut out, key);
                        put_varint(&mut out, inner.len() as u64);
                        out.extend_from_slice(&inner);
                        continue;
                    }
                    Some(Field::Map(entry)) => {
                        let inner = canonical(body, entry)?;
                        let mut encoded = Vec::with_capacity(inner.len() + 4);
                        put_varint(&mut encoded, key);
                        put_varint(&mut encoded, inner.len() as u64);
                        encoded.extend_from_slice(&inner);
                        maps.entry(number)
                            .or_insert_with(|| (out.len(), Vec::new()))
                            .1
                            .push(encoded);
                        continue;
                    }
                    None => {}
                }
            }
            _ => return None, // groups are not used by these schemas
        }
        let end = bytes.len() - rest.len();
        out.extend_from_slice(&bytes[start..end]);
    }
    // Insert each map's sorted entries where it first appeared; later positions first so the
    // earlier offsets stay valid.
    let mut maps: Vec<(usize, Vec<Vec<u8>>)> = maps.into_values().collect();
    maps.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    for (at, mut entries) in maps {
        entries.sort();
        out.splice(at..at, entries.concat());
    }
    Some(out)
}

fn varint(b: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (first, rest) = b.split_first()?;
        *b = rest;
        value |= u64::from(first & 0x7f) << shift;
        if first & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Just enough of `google/protobuf/descriptor.proto` to find message and map fields.
mod descriptor {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FileDescriptorSet {
        #[prost(message, repeated, tag = "1")]
        pub file: Vec<FileDescriptorProto>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FileDescriptorProto {
        #[prost(string, tag = "2")]
        pub package: String,
        #[prost(message, repeated, tag = "4")]
        pub message_type: Vec<DescriptorProto>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DescriptorProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, repeated, tag = "2")]
        pub field: Vec<FieldDescriptorProto>,
        #[prost(message, repeated, tag = "3")]
        pub nested_type: Vec<DescriptorProto>,
        #[prost(message, optional, tag = "7")]
        pub options: Option<MessageOptions>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FieldDescriptorProto {
        #[prost(int32, tag = "3")]
        pub number: i32,
        #[prost(int32, tag = "5")]
        pub r#type: i32,
        #[prost(string, tag = "6")]
        pub type_name: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MessageOptions {
        #[prost(bool, tag = "7")]
        pub map_entry: bool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ActivityInfo, ExecutionRecord};
    // The API's own map type, whose hash order this module neutralises.
    #[allow(clippy::disallowed_types)]
    use std::collections::HashMap;
    use temporalio_protos::temporal::api::{
        common::v1::{Payload, Payloads},
        history::v1::{
            history_event::Attributes, HistoryEvent, WorkflowExecutionSignaledEventAttributes,
        },
    };

    #[allow(clippy::disallowed_types)]
    fn payloads(order: &[usize]) -> Payloads {
        let mut metadata = HashMap::new();
        for i in order {
            metadata.insert(format!("key-{i}"), vec![*i as u8; *i + 1]);
        }
        Payloads {
            payloads: vec![Payload {
                metadata,
                data: b"data".to_vec(),
                ..Default::default()
            }],
        }
    }

    #[test]
    fn maps_encode_the_same_whatever_their_hash_order() {
        let orders: Vec<Vec<usize>> = (0..12)
            .map(|r| (0..8).map(|i| (i * 5 + r) % 8).collect())
            .collect();
        let events: Vec<HistoryEvent> = orders
            .iter()
            .map(|o| HistoryEvent {
                event_id: 7,
                attributes: Some(Attributes::WorkflowExecutionSignaledEventAttributes(
                    WorkflowExecutionSignaledEventAttributes {
                        signal_name: "s".into(),
                        input: Some(payloads(o)),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            })
            .collect();
        let raw: std::collections::BTreeSet<Vec<u8>> =
            events.iter().map(|e| e.encode_to_vec()).collect();
        let canonical: std::collections::BTreeSet<Vec<u8>> =
            events.iter().map(|e| encode(e, HISTORY_EVENT)).collect();
        assert_eq!(canonical.len(), 1, "one encoding for equal events");
        println!("{} raw encodings of 12 equal events", raw.len());
        let back = HistoryEvent::decode(canonical.iter().next().unwrap().as_slice()).unwrap();
        assert_eq!(back, events[0]);
    }

    #[test]
    fn records_that_embed_temporal_messages_are_canonical_too() {
        let record = |o: &[usize]| ExecutionRecord {
            workflow_id: "wf".into(),
            activities: vec![ActivityInfo {
                activity_id: "a".into(),
                input: Some(payloads(o)),
                ..Default::default()
            }],
            ..Default::default()
        };
        let a = encode(&record(&[0, 1, 2, 3, 4, 5]), EXECUTION_RECORD);
        let b = encode(&record(&[5, 4, 3, 2, 1, 0]), EXECUTION_RECORD);
        assert_eq!(a, b);
        assert_eq!(
            ExecutionRecord::decode(a.as_slice()).unwrap(),
            record(&[0, 1, 2, 3, 4, 5])
        );
    }

    #[test]
    fn the_schema_knows_temporal_map_fields() {
        assert!(matches!(
            field_kind("temporal.api.common.v1.Payload", 1),
            Some(Field::Map(_))
        ));
        assert!(matches!(
            field_kind(HISTORY_EVENT, 26),
            Some(Field::Message(_))
        ));
        assert!(matches!(
            field_kind(EXECUTION_RECORD, 17),
            Some(Field::Message("keel.ActivityInfo"))
        ));
    }
}
