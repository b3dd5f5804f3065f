//! The HTTP API: one axum router, served by Lambda behind API Gateway or on a local
//! port.

pub mod app;
pub mod auth;
pub mod body;
pub mod cli;
pub mod endpoints;
pub mod keys;
pub mod openapi;
pub mod paging;
pub mod params;
pub mod problem;
pub mod request_id;
pub mod revocation;
pub mod routes;
pub mod rule_cache;
pub mod services;
pub mod state;
pub mod tokens;

pub use app::router;
pub use state::AppState;
