//! The one router both hosts serve: Lambda behind API Gateway, and a local port.

use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::problem::ApiError;
use crate::state::AppState;
use crate::{endpoints, request_id};

pub fn router(state: AppState) -> Router {
    let (routes, _) = endpoints::api().split_for_parts();
    serve(routes, state)
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
