//! The request id every log line and problem document carries: API Gateway's own id in Lambda
//! (so it matches the access log), a random one when served locally.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use tracing::Instrument;

use crate::tokens::random_id;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, or empty outside of one.
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Middleware: assigns the id, runs the request in a span that carries it (and later the
/// caller's org), and logs one line per request.
pub async fn assign(request: Request, next: Next) -> Response {
    let id = gateway_request_id(&request)
        .or_else(random_id)
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        org = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "request completed"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

fn gateway_request_id(request: &Request) -> Option<String> {
    match request.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => context.request_id.clone(),
        _ => None,
    }
}
