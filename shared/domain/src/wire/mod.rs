//! The API's request and response bodies, shared by the server and the `pb` client so the two
//! cannot drift: the server builds them, the client reads them with the same definitions.

pub mod audit;
pub mod compliance;
pub mod deployments;
pub mod executions;
pub mod me;
pub mod pipelines;
pub mod plugins;
pub mod problem;
pub mod registry;
pub mod tokens;
