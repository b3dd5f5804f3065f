//! The notify function: platform events (failed and successful runs, approvals waiting, failed
//! deployments, drift) delivered to the SNS topics and signed HTTPS webhooks orgs subscribe.

pub mod handler;
pub mod outcome;
pub mod secrets;
pub mod summary;
pub mod webhook;

pub use handler::Notify;
pub use outcome::DeliveryOutcome;
pub use summary::BatchSummary;
