//! Histories served as stored. Each HistoryEvent is kept in RocksDB as its protobuf bytes, and
//! the two responses that carry a history — GetWorkflowExecutionHistory and
//! PollWorkflowTaskQueue — write those bytes straight into the response body instead of
//! decoding every event and having prost encode it again.
//!
//! `WithHistory` is the response message: the typed response without its `history` field,
//! followed by that field built from the stored bytes (a `History` is `repeated HistoryEvent
//! events = 1`, so each stored event becomes one length-delimited field 1). The bytes on the
//! wire are the ones the typed response would have produced. `HistoryRoutes` sits in front of
//! the generated WorkflowService server and answers those two methods with it; every other
//! method goes to the generated server.

use super::{history, tasks, Frontend};
use crate::proto::workflowservice::workflow_service_server::WorkflowServiceServer;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::{DecodeError, Message};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use temporalio_protos::temporal::api::history::v1::HistoryEvent;
use temporalio_protos::temporal::api::workflowservice::v1::*;
use tonic::body::Body;
use tonic::codec::CompressionEncoding;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;
use tracing::Instrument;

/// Largest gRPC message accepted or sent (payload limit plus room for the envelope).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

const POLL_WORKFLOW_TASK: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/PollWorkflowTaskQueue";
const GET_HISTORY: &str =
    "/temporal.api.workflowservice.v1.WorkflowService/GetWorkflowExecutionHistory";

/// The field number of `history` in each response that carries one.
const POLL_RESPONSE_HISTORY: u32 = 8;
const HISTORY_RESPONSE_HISTORY: u32 = 1;
/// `History.events`.
const HISTORY_EVENTS: u32 = 1;

/// A run of consecutive history events, each as its stored protobuf bytes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StoredEvents(pub Vec<Vec<u8>>);

impl StoredEvents {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The events decoded, for a response that carries a typed history (an eager start's).
    pub fn decode(&self) -> Result<Vec<HistoryEvent>, DecodeError> {
        self.0
            .iter()
            .map(|bytes| HistoryEvent::decode(bytes.as_slice()))
            .collect()
    }

    /// Appends an event that is not stored (a transient workflow task's events).
    pub fn push(&mut self, event: &HistoryEvent) {
        self.0.push(event.encode_to_vec());
    }

    /// The encoded length of the `History` message these events make.
    fn history_len(&self) -> usize {
        self.0
            .iter()
            .map(|e| key_len(HISTORY_EVENTS) + encoded_len_varint(e.len() as u64) + e.len())
            .sum()
    }
}

/// A response message whose `history` field is written from stored event bytes.
#[derive(Debug, Default)]
pub struct WithHistory<M> {
    /// Private: the constructors clear its `history`, which must stay empty.
    message: M,
    tag: u32,
    history: Option<StoredEvents>,
}

impl WithHistory<PollWorkflowTaskQueueResponse> {
    /// A poll response carrying `history` (an empty poll has none).
    pub fn poll(mut message: PollWorkflowTaskQueueResponse, history: Option<StoredEvents>) -> Self {
        message.history = None;
        WithHistory {
            message,
            tag: POLL_RESPONSE_HISTORY,
            history,
        }
    }
}

impl WithHistory<GetWorkflowExecutionHistoryResponse> {
    pub fn page(mut message: GetWorkflowExecutionHistoryResponse, history: StoredEvents) -> Self {
        message.history = None;
        WithHistory {
            message,
            tag: HISTORY_RESPONSE_HISTORY,
            history: Some(history),
        }
    }
}

impl<M: Message> Message for WithHistory<M> {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        self.message.encode_raw(buf);
        if let Some(history) = &self.history {
            encode_key(self.tag, WireType::LengthDelimited, buf);
            encode_varint(history.history_len() as u64, buf);
            for event in &history.0 {
                encode_key(HISTORY_EVENTS, WireType::LengthDelimited, buf);
                encode_varint(event.len() as u64, buf);
                buf.put_slice(event);
            }
        }
    }

    /// Decoding (used by tests only) reads everything into the typed message.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), DecodeError> {
        self.message.merge_field(tag, wire_type, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        let history = self.history.as_ref().map_or(0, |h| {
            let len = h.history_len();
            key_len(self.tag) + encoded_len_varint(len as u64) + len
        });
        self.message.encoded_len() + history
    }

    fn clear(&mut self) {
        self.message.clear();
        self.history = None;
    }
}

/// The generated WorkflowService server with the two history-carrying methods answered here.
#[derive(Clone)]
pub struct HistoryRoutes {
    inner: WorkflowServiceServer<Frontend>,
    frontend: Frontend,
}

impl HistoryRoutes {
    pub fn new(frontend: Frontend) -> Self {
        let inner = WorkflowServiceServer::new(frontend.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        HistoryRoutes { inner, frontend }
    }
}

impl NamedService for HistoryRoutes {
    const NAME: &'static str = <WorkflowServiceServer<Frontend> as NamedService>::NAME;
}

/// The same compression and size settings as the generated server.
fn grpc<T, U>() -> Grpc<ProstCodec<T, U>>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    Grpc::new(ProstCodec::default())
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl tower::Service<http::Request<Body>> for HistoryRoutes {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let frontend = self.frontend.clone();
        match req.uri().path() {
            POLL_WORKFLOW_TASK => {
                Box::pin(async move { Ok(grpc().unary(PollWorkflowTask(frontend), req).await) })
            }
            GET_HISTORY => {
                Box::pin(async move { Ok(grpc().unary(GetHistory(frontend), req).await) })
            }
            _ => self.inner.call(req),
        }
    }
}

struct PollWorkflowTask(Frontend);

impl UnaryService<PollWorkflowTaskQueueRequest> for PollWorkflowTask {
    type Response = WithHistory<PollWorkflowTaskQueueResponse>;
    type Future = BoxFuture<Result<Response<Self::Response>, Status>>;

    fn call(&mut self, request: Request<PollWorkflowTaskQueueRequest>) -> Self::Future {
        let frontend = self.0.clone();
        let span = tracing::info_span!("poll_workflow_task_queue");
        Box::pin(
            async move { tasks::poll_workflow_task(&frontend, request).await }.instrument(span),
        )
    }
}

struct GetHistory(Frontend);

impl UnaryService<GetWorkflowExecutionHistoryRequest> for GetHistory {
    type Response = WithHistory<GetWorkflowExecutionHistoryResponse>;
    type Future = BoxFuture<Result<Response<Self::Response>, Status>>;

    fn call(&mut self, request: Request<GetWorkflowExecutionHistoryRequest>) -> Self::Future {
        let frontend = self.0.clone();
        let span = tracing::info_span!("get_workflow_execution_history");
        Box::pin(async move { history::get(&frontend, request).await }.instrument(span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_protos::temporal::api::common::v1::WorkflowExecution;
    use temporalio_protos::temporal::api::history::v1::History;

    fn events() -> Vec<HistoryEvent> {
        (1..=3)
            .map(|id| HistoryEvent {
                event_id: id,
                task_id: id * 7,
                ..Default::default()
            })
            .collect()
    }

    fn stored(events: &[HistoryEvent]) -> StoredEvents {
        let mut stored = StoredEvents::default();
        for e in events {
            stored.push(e);
        }
        stored
    }

    #[test]
    fn poll_response_bytes_equal_the_typed_encoding() {
        let typed = PollWorkflowTaskQueueResponse {
            task_token: vec![1, 2, 3],
            workflow_execution: Some(WorkflowExecution {
                workflow_id: "wf".into(),
                run_id: "run".into(),
            }),
            started_event_id: 3,
            attempt: 1,
            history: Some(History { events: events() }),
            ..Default::default()
        };
        let raw = WithHistory::poll(typed.clone(), Some(stored(&events())));
        let bytes = raw.encode_to_vec();
        assert_eq!(bytes.len(), raw.encoded_len());
        assert_eq!(
            PollWorkflowTaskQueueResponse::decode(bytes.as_slice()).unwrap(),
            typed
        );
        // Field order differs from prost's (history last), the content does not.
        assert_eq!(bytes.len(), typed.encoded_len());
    }

    #[test]
    fn empty_and_missing_histories_stay_distinct() {
        let empty = WithHistory::page(Default::default(), StoredEvents::default());
        let decoded =
            GetWorkflowExecutionHistoryResponse::decode(empty.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.history, Some(History::default()));

        let none = WithHistory::poll(Default::default(), None);
        assert!(none.encode_to_vec().is_empty());
    }

    #[test]
    fn a_typed_history_is_never_written_twice() {
        let typed = GetWorkflowExecutionHistoryResponse {
            history: Some(History { events: events() }),
            next_page_token: vec![9],
            ..Default::default()
        };
        let raw = WithHistory::page(typed.clone(), stored(&events()[..1]));
        let decoded =
            GetWorkflowExecutionHistoryResponse::decode(raw.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.history.unwrap().events, events()[..1].to_vec());
        assert_eq!(decoded.next_page_token, vec![9]);
    }
}
