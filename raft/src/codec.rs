//! Byte formats of what keel-raft stores: log entries, votes, log ids and memberships, as
//! prost records (stable, evolvable: new fields get new tags).

use crate::types::{
    Entry, KeelNode, LogId, Membership, NodeId, Proposal, SnapshotMeta, StoredMembership,
    TypeConfig, Vote,
};
use keel_engine::Mutation;
use openraft::{CommittedLeaderId, EntryPayload, LeaderId};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, PartialEq, prost::Message)]
struct LogIdRecord {
    #[prost(uint64, tag = "1")]
    term: u64,
    #[prost(uint64, tag = "2")]
    node_id: u64,
    #[prost(uint64, tag = "3")]
    index: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EntryRecord {
    #[prost(message, optional, tag = "1")]
    log_id: Option<LogIdRecord>,
    #[prost(oneof = "Payload", tags = "2, 3, 4, 5")]
    payload: Option<Payload>,
}

/// Decoded once per entry and moved; see `keel_engine::mutation::Kind`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, prost::Oneof)]
enum Payload {
    #[prost(message, tag = "2")]
    Blank(Blank),
    #[prost(message, tag = "3")]
    Normal(Mutation),
    #[prost(message, tag = "4")]
    Membership(MembershipRecord),
    /// Several mutations in one entry (a single one is written as `Normal`).
    #[prost(message, tag = "5")]
    Batch(MutationBatch),
}

#[derive(Clone, PartialEq, prost::Message)]
struct MutationBatch {
    #[prost(message, repeated, tag = "1")]
    mutations: Vec<Mutation>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Blank {}

#[derive(Clone, PartialEq, prost::Message)]
struct NodeSet {
    #[prost(uint64, repeated, tag = "1")]
    ids: Vec<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MembershipRecord {
    #[prost(message, repeated, tag = "1")]
    configs: Vec<NodeSet>,
    /// Client addresses by node id.
    #[prost(btree_map = "uint64, string", tag = "2")]
    nodes: BTreeMap<u64, String>,
    /// Peer (Raft RPC) addresses by node id; absent for a `start-dev` node.
    #[prost(btree_map = "uint64, string", tag = "3")]
    peer_addrs: BTreeMap<u64, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StoredMembershipRecord {
    #[prost(message, optional, tag = "1")]
    log_id: Option<LogIdRecord>,
    #[prost(message, optional, tag = "2")]
    membership: Option<MembershipRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct VoteRecord {
    #[prost(uint64, tag = "1")]
    term: u64,
    #[prost(uint64, tag = "2")]
    node_id: u64,
    #[prost(bool, tag = "3")]
    committed: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SnapshotMetaRecord {
    #[prost(message, optional, tag = "1")]
    last_log_id: Option<LogIdRecord>,
    #[prost(message, optional, tag = "2")]
    membership: Option<StoredMembershipRecord>,
    #[prost(string, tag = "3")]
    snapshot_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("undecodable {what}: {detail}")]
pub struct DecodeError {
    what: &'static str,
    detail: String,
}

fn bad(what: &'static str) -> impl Fn(prost::DecodeError) -> DecodeError {
    move |e| DecodeError {
        what,
        detail: e.to_string(),
    }
}

fn log_id_record(id: &LogId) -> LogIdRecord {
    LogIdRecord {
        term: id.leader_id.term,
        node_id: id.leader_id.node_id,
        index: id.index,
    }
}

fn log_id_from(r: LogIdRecord) -> LogId {
    LogId::new(CommittedLeaderId::new(r.term, r.node_id), r.index)
}

fn membership_record(m: &Membership) -> MembershipRecord {
    MembershipRecord {
        configs: m
            .get_joint_config()
            .iter()
            .map(|set| NodeSet {
                ids: set.iter().copied().collect(),
            })
            .collect(),
        nodes: m
            .nodes()
            .map(|(id, n)| (*id, n.client_addr.clone()))
            .collect(),
        peer_addrs: m
            .nodes()
            .map(|(id, n)| (*id, n.peer_addr.clone()))
            .collect(),
    }
}

fn membership_from(mut r: MembershipRecord) -> Membership {
    let configs: Vec<BTreeSet<NodeId>> = r
        .configs
        .into_iter()
        .map(|s| s.ids.into_iter().collect())
        .collect();
    let nodes: BTreeMap<NodeId, KeelNode> = r
        .nodes
        .into_iter()
        .map(|(id, client_addr)| {
            let peer_addr = r.peer_addrs.remove(&id).unwrap_or_default();
            (
                id,
                KeelNode {
                    client_addr,
                    peer_addr,
                },
            )
        })
        .collect();
    Membership::new(configs, nodes)
}

pub fn encode_entry(e: &Entry) -> Vec<u8> {
    let payload = match &e.payload {
        EntryPayload::Blank => Payload::Blank(Blank {}),
        EntryPayload::Normal(p) => match p.mutations.as_slice() {
            [one] => Payload::Normal(one.clone()),
            many => Payload::Batch(MutationBatch {
                mutations: many.to_vec(),
            }),
        },
        EntryPayload::Membership(m) => Payload::Membership(membership_record(m)),
    };
    EntryRecord {
        log_id: Some(log_id_record(&e.log_id)),
        payload: Some(payload),
    }
    .encode_to_vec()
}

pub fn decode_entry(bytes: &[u8]) -> Result<Entry, DecodeError> {
    let r = EntryRecord::decode(bytes).map_err(bad("log entry"))?;
    let payload = match r.payload {
        Some(Payload::Normal(m)) => {
            EntryPayload::<TypeConfig>::Normal(Proposal { mutations: vec![m] })
        }
        Some(Payload::Batch(b)) => EntryPayload::Normal(Proposal {
            mutations: b.mutations,
        }),
        Some(Payload::Membership(m)) => EntryPayload::Membership(membership_from(m)),
        Some(Payload::Blank(_)) | None => EntryPayload::Blank,
    };
    Ok(Entry {
        log_id: log_id_from(r.log_id.unwrap_or_default()),
        payload,
    })
}

pub fn encode_log_id(id: &LogId) -> Vec<u8> {
    log_id_record(id).encode_to_vec()
}

pub fn decode_log_id(bytes: &[u8]) -> Result<LogId, DecodeError> {
    Ok(log_id_from(
        LogIdRecord::decode(bytes).map_err(bad("log id"))?,
    ))
}

pub fn encode_vote(v: &Vote) -> Vec<u8> {
    VoteRecord {
        term: v.leader_id.term,
        node_id: v.leader_id.node_id,
        committed: v.committed,
    }
    .encode_to_vec()
}

pub fn decode_vote(bytes: &[u8]) -> Result<Vote, DecodeError> {
    let r = VoteRecord::decode(bytes).map_err(bad("vote"))?;
    Ok(Vote {
        leader_id: LeaderId::new(r.term, r.node_id),
        committed: r.committed,
    })
}

fn stored_membership_record(m: &StoredMembership) -> StoredMembershipRecord {
    StoredMembershipRecord {
        log_id: m.log_id().as_ref().map(log_id_record),
        membership: Some(membership_record(m.membership())),
    }
}

fn stored_membership_from(r: StoredMembershipRecord) -> StoredMembership {
    StoredMembership::new(
        r.log_id.map(log_id_from),
        membership_from(r.membership.unwrap_or_default()),
    )
}

pub fn encode_membership(m: &StoredMembership) -> Vec<u8> {
    stored_membership_record(m).encode_to_vec()
}

pub fn decode_membership(bytes: &[u8]) -> Result<StoredMembership, DecodeError> {
    let r = StoredMembershipRecord::decode(bytes).map_err(bad("membership"))?;
    Ok(stored_membership_from(r))
}

pub fn encode_snapshot_meta(m: &SnapshotMeta) -> Vec<u8> {
    SnapshotMetaRecord {
        last_log_id: m.last_log_id.as_ref().map(log_id_record),
        membership: Some(stored_membership_record(&m.last_membership)),
        snapshot_id: m.snapshot_id.clone(),
    }
    .encode_to_vec()
}

pub fn decode_snapshot_meta(bytes: &[u8]) -> Result<SnapshotMeta, DecodeError> {
    let r = SnapshotMetaRecord::decode(bytes).map_err(bad("snapshot meta"))?;
    Ok(SnapshotMeta {
        last_log_id: r.last_log_id.map(log_id_from),
        last_membership: stored_membership_from(r.membership.unwrap_or_default()),
        snapshot_id: r.snapshot_id,
    })
}

/// Optional log ids travel as zero or one encoded record.
pub fn encode_opt_log_id(id: &Option<LogId>) -> Option<Vec<u8>> {
    id.as_ref().map(encode_log_id)
}

pub fn decode_opt_log_id(bytes: &Option<Vec<u8>>) -> Result<Option<LogId>, DecodeError> {
    bytes.as_deref().map(decode_log_id).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_votes_and_memberships_round_trip() {
        let id = LogId::new(CommittedLeaderId::new(3, 1), 42);
        let m = Mutation {
            now: 7,
            kind: Some(keel_engine::mutation::Kind::Noop(
                keel_engine::mutation::Noop {},
            )),
        };
        for count in [1, 3] {
            let e = Entry {
                log_id: id,
                payload: EntryPayload::Normal(Proposal {
                    mutations: vec![m.clone(); count],
                }),
            };
            let back = decode_entry(&encode_entry(&e)).unwrap();
            assert_eq!(back.log_id, id);
            assert!(matches!(back.payload, EntryPayload::Normal(ref p)
                if p.mutations.len() == count && p.mutations.iter().all(|m| m.now == 7)));
        }

        let v = Vote::new_committed(5, 2);
        assert_eq!(decode_vote(&encode_vote(&v)).unwrap(), v);

        let members = Membership::new(
            vec![BTreeSet::from([1, 2])],
            BTreeMap::from([
                (
                    1,
                    KeelNode {
                        client_addr: "a:1".into(),
                        peer_addr: "a:2".into(),
                    },
                ),
                (2, KeelNode::default()),
            ]),
        );
        let stored = StoredMembership::new(Some(id), members);
        assert_eq!(
            decode_membership(&encode_membership(&stored)).unwrap(),
            stored
        );
        assert!(decode_entry(b"\xff\xff").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// What a peer or a damaged log hands the codec: arbitrary bytes are decoded or
        /// refused, never a panic; a decoded entry encodes again to something that decodes.
        #[test]
        fn arbitrary_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(entry) = decode_entry(&bytes) {
                let again = encode_entry(&entry);
                proptest::prop_assert!(decode_entry(&again).is_ok());
            }
            let _ = decode_log_id(&bytes);
            let _ = decode_vote(&bytes);
            let _ = decode_membership(&bytes);
            let _ = decode_snapshot_meta(&bytes);
            let _ = decode_opt_log_id(&Some(bytes.clone()));
        }
    }
}
