//! keel-server: Keel's Temporal frontend (WorkflowService, health), the leader services
//! (matching, timers, watchers, the batch runner) fed by apply's notifications, the mapping of errors to gRPC
//! statuses, and the `keel` binary's runtime.

pub mod admin;
pub mod admission;
pub mod app;
pub mod auth;
pub mod batch;
pub mod config;
pub mod console;
pub mod disk;
pub mod dynamic_config;
pub mod errors;
pub mod forward;
pub mod frontend;
pub mod health;
pub mod http_api;
pub mod ids;
pub mod leadership;
pub mod limits;
pub mod matching;
pub mod metrics;
pub mod operator;
pub mod proto;
pub mod queries;
#[cfg(feature = "test-clock")]
pub mod test_clock;
pub mod timers;
pub mod transport;
pub mod updates;
pub mod watchers;

pub use app::{run, run_dev, DevOptions, ExtraListener, Membership, NodeSetup};
