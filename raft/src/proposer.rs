//! The proposer: merges concurrent proposals into one log entry (one append, one fsync, one
//! replication round), so the cost of durability is shared when the node is busy and not
//! paid twice when it is idle. While `MAX_IN_FLIGHT` entries are on their way through Raft,
//! new proposals wait in the queue and leave together as the next entry, in arrival order;
//! each caller gets its own mutation's outcome.

use crate::node::{write_error, ProposeError, PROPOSE_TIMEOUT};
use crate::types::{Proposal, Raft};
use keel_engine::{ApplyResult, Mutation, Outcome};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Entries proposed and not yet applied, at most.
const MAX_IN_FLIGHT: usize = 2;
/// Mutations in one entry, at most.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<ApplyResult<Outcome>, ProposeError>>;

#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::UnboundedSender<(Mutation, Reply)>,
}

impl Proposer {
    pub fn start(raft: Raft) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        Proposer { queue: tx }
    }

    /// Proposes a (stamped) mutation and waits for its applied outcome.
    pub async fn propose(&self, mutation: Mutation) -> Result<ApplyResult<Outcome>, ProposeError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((mutation, reply))
            .map_err(|_| ProposeError::Fatal("the proposer stopped".into()))?;
        answer
            .await
            .map_err(|_| ProposeError::Fatal("the proposer stopped".into()))?
    }
}

async fn run(raft: Raft, mut queue: mpsc::UnboundedReceiver<(Mutation, Reply)>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        // Everything that queued while the permit was awaited goes in this entry.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            let (mutations, replies): (Vec<Mutation>, Vec<Reply>) = batch.into_iter().unzip();
            let written =
                tokio::time::timeout(PROPOSE_TIMEOUT, raft.client_write(Proposal { mutations }))
                    .await;
            drop(permit);
            match written {
                Ok(Ok(response)) => {
                    let outcomes = response.data.0;
                    if outcomes.len() != replies.len() {
                        let e = ProposeError::Fatal("an entry's outcomes do not match it".into());
                        replies
                            .into_iter()
                            .for_each(|r| drop(r.send(Err(e.clone()))));
                        return;
                    }
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Ok(Err(e)) => {
                    let e = write_error(e);
                    replies
                        .into_iter()
                        .for_each(|r| drop(r.send(Err(e.clone()))));
                }
                Err(_) => {
                    let e = ProposeError::Timeout(PROPOSE_TIMEOUT);
                    replies
                        .into_iter()
                        .for_each(|r| drop(r.send(Err(e.clone()))));
                }
            }
        });
    }
}
