//! The handlers, by resource. Each handler's annotation names the permission its `Authorized<…>`
//! extractor checks; [`crate::endpoints`] lists them once for the router and the document.

pub mod audit;
pub mod compliance;
pub mod deployments;
pub mod executions;
pub mod me;
pub mod meta;
pub mod notifications;
pub mod pipelines;
pub mod plugins;
pub mod registry;
pub mod reports;
pub mod runs;
pub mod templates;
pub mod tokens;
