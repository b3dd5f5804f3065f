//! AWS adapters for pipeline-builder: every AWS call the functions make goes through here.

pub mod attributes;
pub mod audit_runs;
pub mod cache;
pub mod clients;
pub mod conditional;
pub mod config;
pub mod deploy_tracking;
pub mod deployer;
pub mod deployments;
pub mod dora_settings;
pub mod emf;
pub mod error;
pub mod executions;
pub mod history;
pub mod keys;
pub mod notifications;
pub mod pipeline_control;
pub mod pipelines;
pub mod plugins;
pub mod public_versions;
pub mod publisher;
pub mod queue;
pub mod registry;
pub mod rollups;
pub mod rules;
pub mod runtime;
pub mod secrets;
pub mod stacks;
pub mod starters;
pub mod tags;
pub mod tokens;
pub mod topics;
pub mod transactions;

pub use clients::Clients;
pub use error::AwsError;
