//! The ingest function: CodePipeline execution events from SQS into ExecutionsTable; and the
//! operator's re-drive of its dead-letter queue (`redrive`) and execution history backfill
//! (`backfill-history`), binaries of their own.

pub mod attribution;
pub mod backfill;
pub mod handler;
pub mod outcome;
pub mod redrive;
pub mod summary;

pub use handler::Ingest;
pub use outcome::Outcome;
pub use summary::BatchSummary;
