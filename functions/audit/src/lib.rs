//! The nightly stack audit: the registry against the live CloudFormation stacks, as a
//! scheduled Lambda (`handler`) and as a command line (`cli`), one binary.

pub mod audit;
pub mod cli;
pub mod handler;
pub mod metrics;

pub use audit::{AuditRequest, Auditor};
pub use handler::{AuditError, AuditFunction, AuditResponse, ScheduledAudit};
pub use metrics::RunMetrics;
