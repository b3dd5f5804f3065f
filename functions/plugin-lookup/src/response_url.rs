//! Delivery of a custom-resource answer: an HTTP PUT of the body to the pre-signed `ResponseURL`.

use std::time::Duration;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Uri};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use thiserror::Error;

use crate::custom_resource::ResponseUrl;

pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

#[derive(Debug, Error)]
pub enum HttpsClientError {
    #[error("cannot load the system's root CA certificates for HTTPS ResponseURLs: {0}")]
    RootCertificates(#[source] std::io::Error),
}

/// The client for `ResponseURL`s, built once per process. CloudFormation's URLs are https; plain
/// http is accepted too so that tests can answer to a local server.
pub fn https_client() -> Result<HttpsClient, HttpsClientError> {
    let connector = HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(HttpsClientError::RootCertificates)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// How hard to try before giving up on a `ResponseURL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// Doubled after every failed attempt.
    pub first_backoff: Duration,
    /// One PUT of a few KB to S3; a connection that hangs longer is abandoned and retried.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_backoff: Duration::from_millis(250),
            attempt_timeout: Duration::from_secs(5),
        }
    }
}

/// Why one PUT did not land.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttemptError {
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("{0}")]
    Transport(String),
}

/// Errors never include the URL: it is pre-signed, so it works as a credential.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeliveryError {
    #[error("ResponseURL is not an absolute http(s) URL")]
    InvalidUrl,
    #[error("the ResponseURL did not take the response in {attempts} attempts; last: {last}")]
    GaveUp { attempts: u32, last: AttemptError },
}

#[derive(Debug, Clone)]
pub struct ResponseSender {
    client: HttpsClient,
    retry: RetryPolicy,
}

impl ResponseSender {
    pub fn new(client: HttpsClient, retry: RetryPolicy) -> Self {
        ResponseSender { client, retry }
    }

    /// PUTs `body`, retrying with backoff on any failure: the answer is the only way the stack
    /// learns the outcome, so a transient S3 error must not leave it waiting.
    pub async fn send(&self, url: &ResponseUrl, body: String) -> Result<(), DeliveryError> {
        let uri = absolute_uri(url)?;
        let body = Bytes::from(body);
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 1;
        loop {
            let problem = match self.put(&uri, body.clone()).await {
                Ok(()) => return Ok(()),
                Err(problem) => problem,
            };
            tracing::warn!(attempt, error = %problem, "ResponseURL PUT failed");
            if attempt >= self.retry.attempts {
                return Err(DeliveryError::GaveUp {
                    attempts: attempt,
                    last: problem,
                });
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }

    async fn put(&self, uri: &Uri, body: Bytes) -> Result<(), AttemptError> {
        let request = put_request(uri, body)?;
        let response =
            tokio::time::timeout(self.retry.attempt_timeout, self.client.request(request))
                .await
                .map_err(|_| AttemptError::TimedOut(self.retry.attempt_timeout))?
                .map_err(|error| AttemptError::Transport(describe(&error)))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(AttemptError::Status(status.as_u16())),
        }
    }
}

/// The URL is signed for a PUT without a content type, so any `content-type` but the empty one
/// breaks the signature; S3 also needs the length up front (no chunked upload).
fn put_request(uri: &Uri, body: Bytes) -> Result<Request<Full<Bytes>>, AttemptError> {
    Request::builder()
        .method(Method::PUT)
        .uri(uri.clone())
        .header(CONTENT_TYPE, "")
        .header(CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .map_err(|error| AttemptError::Transport(error.to_string()))
}

fn absolute_uri(url: &ResponseUrl) -> Result<Uri, DeliveryError> {
    let uri: Uri = url
        .as_str()
        .parse()
        .map_err(|_| DeliveryError::InvalidUrl)?;
    let is_http = matches!(uri.scheme_str(), Some("https" | "http"));
    if is_http && uri.host().is_some() {
        Ok(uri)
    } else {
        Err(DeliveryError::InvalidUrl)
    }
}

fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
