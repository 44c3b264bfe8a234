//! keel-server: Keel's Temporal frontend (WorkflowService, health), the leader services
//! (matching, timers, watchers) fed by apply's notifications, the mapping of errors to gRPC
//! statuses, and the `keel` binary's runtime.

pub mod app;
pub mod errors;
pub mod frontend;
pub mod matching;
pub mod proto;
pub mod queries;
pub mod timers;
pub mod watchers;

pub use app::{run_dev, DevOptions};
