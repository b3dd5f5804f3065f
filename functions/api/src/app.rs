//! The one router both hosts serve: Lambda behind API Gateway, and a local port.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Router;
use pb_aws::audit_runs::AuditRunStore;
use pb_aws::config::ApiConfig;
use pb_aws::pipelines::PipelineStore;
use pb_aws::plugins::PluginCatalog;
use pb_aws::registry::Registry;
use pb_aws::rollups::RollupStore;
use pb_aws::rules::RuleStore;
use pb_aws::secrets::Secrets;
use pb_aws::tokens::TokenStore;
use pb_aws::Clients;
use tower_http::catch_panic::CatchPanicLayer;

use crate::keys::KeyStore;
use crate::problem::ApiError;
use crate::revocation::Revocations;
use crate::rule_cache::RuleCache;
use crate::tokens::Audience;
use crate::{request_id, routes};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ApiConfig>,
    pub audit_runs: AuditRunStore,
    pub catalog: PluginCatalog,
    pub pipelines: PipelineStore,
    pub rollups: RollupStore,
    pub registry: Arc<Registry>,
    pub rules: RuleStore,
    /// Compiled compliance rules, per rule version, for the container's lifetime.
    pub rule_cache: Arc<RuleCache>,
    pub secrets: Secrets,
    pub keys: Arc<KeyStore>,
    pub audience: Arc<Audience>,
    pub token_records: TokenStore,
    pub revocations: Arc<Revocations>,
}

impl AppState {
    pub fn new(clients: &Clients, config: ApiConfig) -> Self {
        let secrets = Secrets::new(clients.secretsmanager.clone());
        let keys = KeyStore::new(
            secrets.clone(),
            &config.tokens.key_set_secret_id,
            config.tokens.key_set_ttl,
            config.tokens.key_set_grace,
        );
        let token_records = TokenStore::new(clients.dynamodb.clone(), &config.catalog_table);
        AppState {
            audit_runs: AuditRunStore::new(clients.dynamodb.clone(), &config.catalog_table),
            catalog: PluginCatalog::new(clients.dynamodb.clone(), &config.catalog_table),
            pipelines: PipelineStore::new(clients.dynamodb.clone(), &config.catalog_table),
            rollups: RollupStore::new(clients.dynamodb.clone(), &config.executions_table),
            rules: RuleStore::new(clients.dynamodb.clone(), &config.catalog_table),
            rule_cache: Arc::new(RuleCache::default()),
            // Registry answers must be current: an entry written a moment ago decides a delete.
            registry: Arc::new(Registry::new(
                clients.dynamodb.clone(),
                &config.catalog_table,
                Duration::ZERO,
                Duration::ZERO,
            )),
            audience: Arc::new(Audience {
                issuer: config.tokens.issuer.clone(),
                audience: config.tokens.audience.clone(),
            }),
            keys: Arc::new(keys),
            revocations: Arc::new(Revocations::new(
                token_records.clone(),
                config.tokens.revocation_cache_ttl,
            )),
            token_records,
            secrets,
            config: Arc::new(config),
        }
    }
}

pub fn router(state: AppState) -> Router {
    serve(routes::routes(), state)
}

/// `routes` with the behaviour every route shares: problem answers for unknown routes and
/// methods, panics caught, request ids, no caching.
pub fn serve(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(request_id::assign))
        .layer(middleware::map_response(no_store))
}

/// A panic answers a plain 500 problem; what panicked stays in the log.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal.into_response()
}

/// Responses carry org data and tokens: no shared cache may keep them.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
