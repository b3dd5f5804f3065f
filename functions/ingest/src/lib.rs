//! The ingest function: CodePipeline execution events from SQS into ExecutionsTable.

pub mod attribution;
pub mod handler;
pub mod poller;
pub mod summary;

pub use handler::{Ingest, Outcome};
pub use summary::BatchSummary;
