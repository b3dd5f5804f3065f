//! Unauthenticated routes: the load balancer's health check and the API description.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::openapi::document;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

/// Liveness only: answers without touching AWS, so a dependency outage does not recycle hosts.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The OpenAPI 3.1 document of this API, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}
