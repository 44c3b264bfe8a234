//! Keel's task tokens: prost-encoded, naming the task precisely enough that a stale or
//! repeated completion is recognised by `apply` and rejected with NOT_FOUND.

use crate::records::{ActivityInfo, ExecutionRecord, TaskKind};
use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskToken {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    /// Workflow task: its sequence number within the run. Activity: scheduled event id.
    #[prost(int64, tag = "4")]
    pub target: i64,
    #[prost(int32, tag = "5")]
    pub attempt: i32,
    #[prost(enumeration = "crate::records::TaskKind", tag = "6")]
    pub kind: i32,
    #[prost(string, tag = "7")]
    pub activity_id: String,
    /// A standalone activity's task (`workflow_id` is its activity id).
    #[prost(bool, tag = "8")]
    pub standalone: bool,
    /// A Nexus task delivering a cancellation request (`attempt` is its attempt).
    #[prost(bool, tag = "9")]
    pub nexus_cancel: bool,
}

impl TaskToken {
    /// The token of a Nexus operation's current attempt (`target` its scheduled event id).
    pub fn for_nexus(exec: &ExecutionRecord, op: &crate::records::NexusOperationInfo) -> Self {
        TaskToken {
            namespace: exec.namespace.clone(),
            workflow_id: exec.workflow_id.clone(),
            run_id: exec.run_id.clone(),
            target: op.scheduled_event_id,
            attempt: op.attempt,
            kind: TaskKind::Nexus as i32,
            activity_id: String::new(),
            standalone: false,
            nexus_cancel: false,
        }
    }
}

/// A token prefix that marks Keel's format, so foreign bytes fail fast and clearly.
const MAGIC: &[u8] = b"kt1";

impl TaskToken {
    /// The token of an activity's current attempt.
    pub fn for_activity(exec: &ExecutionRecord, a: &ActivityInfo) -> Self {
        TaskToken {
            namespace: exec.namespace.clone(),
            workflow_id: exec.workflow_id.clone(),
            run_id: exec.run_id.clone(),
            target: a.scheduled_event_id,
            attempt: a.attempt,
            kind: TaskKind::Activity as i32,
            activity_id: a.activity_id.clone(),
            standalone: exec.standalone,
            nexus_cancel: false,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        self.encode(&mut out).expect("Vec has room");
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let body = bytes.strip_prefix(MAGIC)?;
        let token = TaskToken::decode(body).ok()?;
        (!token.namespace.is_empty() && !token.workflow_id.is_empty() && !token.run_id.is_empty())
            .then_some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_and_rejects_garbage() {
        let t = TaskToken {
            namespace: "default".into(),
            workflow_id: "wf".into(),
            run_id: "run".into(),
            target: 5,
            attempt: 2,
            kind: crate::records::TaskKind::Activity as i32,
            activity_id: "1".into(),
            standalone: false,
            nexus_cancel: false,
        };
        assert_eq!(TaskToken::from_bytes(&t.to_bytes()), Some(t));
        assert_eq!(TaskToken::from_bytes(b""), None);
        assert_eq!(TaskToken::from_bytes(b"not a token"), None);
        assert_eq!(TaskToken::from_bytes(b"kt1\xff\xff\xff"), None);
    }
}
