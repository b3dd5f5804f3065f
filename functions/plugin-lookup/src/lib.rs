//! The plugin-lookup function: resolves plugin references (name + semver range) to
//! pinned versions, for a direct invoke and for the CloudFormation custom resource
//! `Custom::PluginLookup`. Resolution itself is `pb_domain::plugin::resolve_batch`, the same one
//! the API uses.

pub mod custom_resource;
pub mod handler;
pub mod request;
pub mod response_url;

pub use custom_resource::{CfnResponse, Status, RESPONSE_BODY_LIMIT};
pub use handler::{deadline_from_epoch_millis, Answer, HandlerError, PluginLookup, ANSWER_RESERVE};
pub use request::{LookupRequest, RequestError};
pub use response_url::{
    https_client, DeliveryError, RefusedUrl, ResponseSender, ResponseTargets, RetryPolicy,
};
