//! keel-engine: Temporal's semantics as a pure, deterministic state machine.
//!
//! `apply(view, mutation)` reads only the view of the `state` column family and the
//! mutation (which carries the leader's time and ids) and returns the writes, an outcome for
//! the proposer and notifications for the leader's in-memory services. No tokio, no RocksDB,
//! no Raft, no clock, no RNG: every replica that applies the same log ends byte-identical.
//!
//! Where things live: `start` (StartWorkflowExecution and the next run of a chain: retry,
//! continue-as-new), `workflow_task` (workflow tasks), `commands/` (one file per workflow
//! command), `children` (child workflows and parent close policies), `external` (signals
//! and cancellation requests to other workflows), `activity` (activity
//! tasks, retries, timeouts), `activity_ops` (pause, unpause, reset and new options of an activity), `timers` (every due time), `history` (events and buffering),
//! `reset_points` (auto-reset points), `cron` (cron schedules), `sticky` (sticky queues),
//! `search_attributes` (search attributes and memo), `query` (the visibility query language),
//! `visibility` (list rows, indexes and counts, and the List/Count reader), `batch` (batch
//! operations), `schedules` (schedules: specs, time zones, the engine loop), `keys` (key layout), `records` (stored values),
//! `validate` (request checks shared with the frontend), `canonical` (map-order-independent
//! encoding of everything written).

// Temporal still records some deprecated fields (use_workflow_build_id), so do we.
#![allow(deprecated)]

mod activity;
pub mod activity_ops;
mod apply;
pub mod batch;
mod cancel_terminate;
mod canonical;
mod children;
mod civil;
mod commands;
pub mod cron;
mod ctx;
mod delete;
pub mod deployments;
mod error;
mod execution;
mod external;
pub mod feature_level;
mod history;
pub mod keys;
pub mod mutation;
mod namespace;
pub mod nexus;
pub mod nexus_endpoints;
pub mod outcome;
pub mod priority;
pub mod query;
pub mod records;
mod reset;
mod reset_points;
mod retention;
mod retry;
pub mod schedules;
pub mod search_attributes;
mod signal;
pub mod standalone;
mod start;
mod sticky;
pub mod time;
mod timers;
pub mod token;
mod updates;
pub mod validate;
pub mod versioning;
pub mod view;
pub mod visibility;
mod workflow_options;
mod workflow_task;

pub use apply::{apply, Applied};
pub use error::{workflow_not_found_text, ApplyResult, Rejection};
pub use mutation::Mutation;
pub use outcome::{Notification, Outcome};
pub use token::TaskToken;
pub use view::{MemState, StateView, Writes};
pub use workflow_task::poll_response;
