//! Delivery of a custom-resource answer: an HTTP PUT of the body to the pre-signed `ResponseURL`.

use pb_domain::causes::with_causes;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

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

/// The client for `ResponseURL`s, built once per process. It can speak plain http so that tests
/// can answer to a local server; which URLs it is given is [`ResponseTargets`]' decision.
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
    #[error("ResponseURL refused, nothing was sent: {0}")]
    Refused(#[from] RefusedUrl),
    #[error("the ResponseURL did not take the response in {attempts} attempts; last: {last}")]
    GaveUp { attempts: u32, last: AttemptError },
}

/// Why a `ResponseURL` is not one CloudFormation would send. The host is named (it is not what
/// makes the URL a credential; the signature in the query is).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RefusedUrl {
    #[error("not an absolute URL")]
    NotAbsolute,
    #[error("the scheme must be https")]
    NotHttps,
    #[error("user info is not allowed")]
    UserInfo,
    #[error("only the scheme's default port is allowed")]
    Port,
    #[error("host '{host}' is not CloudFormation's response bucket on S3 in {region}")]
    NotCloudFormation { host: String, region: String },
    #[error("host '{0}' is not a loopback address")]
    NotLoopback(String),
}

/// Where answers may be PUT. Checked before any connection is made, so a crafted request cannot
/// make the function send anything to another host (the instance metadata service, an internal
/// endpoint, an attacker's server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseTargets {
    /// What Lambda runs with: https to CloudFormation's response bucket of the function's region
    /// (`cloudformation-custom-resource-response-{region without '-'}`, e.g. `…-useast1`), on
    /// S3's global, `s3-{region}` or `s3.{region}` endpoint (`amazonaws.com.cn` in China
    /// regions), default port, no user info. A custom resource's function runs in its stack's
    /// region, so no other region's bucket is ever expected.
    CloudFormation { region: String },
    /// Tests only: http or https to a loopback address, where a local server stands in for S3.
    LoopbackForTests,
}

/// A `ResponseURL` that passed [`ResponseTargets`]; only [`ResponseSender::target`] makes one.
#[derive(Clone)]
pub struct ResponseTarget(Uri);

impl fmt::Debug for ResponseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseTarget(<pre-signed, redacted>)")
    }
}

impl ResponseTargets {
    fn check(&self, url: &ResponseUrl) -> Result<Uri, RefusedUrl> {
        let uri: Uri = url.as_str().parse().map_err(|_| RefusedUrl::NotAbsolute)?;
        let authority = uri.authority().ok_or(RefusedUrl::NotAbsolute)?;
        if authority.as_str().contains('@') {
            return Err(RefusedUrl::UserInfo);
        }
        let host = authority.host();
        match self {
            ResponseTargets::CloudFormation { region } => {
                if uri.scheme_str() != Some("https") {
                    return Err(RefusedUrl::NotHttps);
                }
                if !matches!(uri.port_u16(), None | Some(443)) {
                    return Err(RefusedUrl::Port);
                }
                if !is_cloudformation_response_host(host, region) {
                    return Err(RefusedUrl::NotCloudFormation {
                        host: host.to_string(),
                        region: region.clone(),
                    });
                }
            }
            ResponseTargets::LoopbackForTests => {
                if !matches!(uri.scheme_str(), Some("http" | "https")) {
                    return Err(RefusedUrl::NotAbsolute);
                }
                let ip = host.trim_start_matches('[').trim_end_matches(']');
                if !ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
                    return Err(RefusedUrl::NotLoopback(host.to_string()));
                }
            }
        }
        Ok(uri)
    }
}

fn is_cloudformation_response_host(host: &str, region: &str) -> bool {
    let bucket = format!(
        "cloudformation-custom-resource-response-{}",
        region.replace('-', "")
    );
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let mut endpoints = vec![
        format!("s3-{region}.{domain}"),
        format!("s3.{region}.{domain}"),
    ];
    if domain == "amazonaws.com" {
        endpoints.push(format!("s3.{domain}"));
    }
    endpoints
        .iter()
        .any(|endpoint| host.eq_ignore_ascii_case(&format!("{bucket}.{endpoint}")))
}

#[derive(Debug, Clone)]
pub struct ResponseSender {
    client: HttpsClient,
    retry: RetryPolicy,
    targets: ResponseTargets,
}

impl ResponseSender {
    pub fn new(client: HttpsClient, retry: RetryPolicy, targets: ResponseTargets) -> Self {
        if targets == ResponseTargets::LoopbackForTests {
            tracing::warn!(
                "ResponseURL targets widened to loopback addresses over http: this is for tests \
                 and must never run in Lambda"
            );
        }
        ResponseSender {
            client,
            retry,
            targets,
        }
    }

    /// Checks `url` against the allowed targets; nothing is sent anywhere else.
    pub fn target(&self, url: &ResponseUrl) -> Result<ResponseTarget, RefusedUrl> {
        self.targets.check(url).map(ResponseTarget)
    }

    /// PUTs `body`, retrying with backoff on any failure until `deadline`: the answer is the
    /// only way the stack learns the outcome, so a transient S3 error must not leave it waiting.
    pub async fn send(
        &self,
        target: &ResponseTarget,
        body: String,
        deadline: Instant,
    ) -> Result<(), DeliveryError> {
        let uri = &target.0;
        let body = Bytes::from(body);
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 1;
        loop {
            let problem = match self.put(uri, body.clone(), deadline).await {
                Ok(()) => return Ok(()),
                Err(problem) => problem,
            };
            tracing::warn!(attempt, error = %problem, "ResponseURL PUT failed");
            let out_of_time = Instant::now() + backoff >= deadline;
            if attempt >= self.retry.attempts || out_of_time {
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

    async fn put(&self, uri: &Uri, body: Bytes, deadline: Instant) -> Result<(), AttemptError> {
        let request = put_request(uri, body)?;
        let timeout = self
            .retry
            .attempt_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let response = tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| AttemptError::TimedOut(timeout))?
            .map_err(|error| AttemptError::Transport(with_causes(&error)))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> ResponseUrl {
        serde_json::from_value(serde_json::Value::String(text.into())).unwrap()
    }

    fn in_region(region: &str) -> ResponseTargets {
        ResponseTargets::CloudFormation {
            region: region.into(),
        }
    }

    const QUERY: &str = "/arn%3Aaws%3Acloudformation%7CStep%7Creq?X-Amz-Signature=abc";

    #[test]
    fn cloudformations_response_bucket_is_accepted_on_each_s3_endpoint_form() {
        let accepted = [
            (
                "us-east-1",
                "cloudformation-custom-resource-response-useast1.s3.amazonaws.com",
            ),
            (
                "eu-west-1",
                "cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com",
            ),
            (
                "eu-west-1",
                "cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com",
            ),
            (
                "eu-west-1",
                "cloudformation-custom-resource-response-euwest1.s3.amazonaws.com",
            ),
            (
                "us-gov-west-1",
                "cloudformation-custom-resource-response-usgovwest1.s3-us-gov-west-1.amazonaws.com",
            ),
            (
                "cn-north-1",
                "cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn",
            ),
            (
                "us-east-1",
                "CloudFormation-Custom-Resource-Response-USEast1.S3.amazonaws.com:443",
            ),
        ];
        for (region, host) in accepted {
            let checked = in_region(region).check(&url(&format!("https://{host}{QUERY}")));
            assert!(checked.is_ok(), "{region} {host}: {checked:?}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let bucket = "cloudformation-custom-resource-response-useast1";
        let refused = [
            (
                format!("http://{bucket}.s3.amazonaws.com{QUERY}"),
                RefusedUrl::NotHttps,
            ),
            (
                format!("https://user:pw@{bucket}.s3.amazonaws.com{QUERY}"),
                RefusedUrl::UserInfo,
            ),
            (
                format!("https://{bucket}.s3.amazonaws.com:8443{QUERY}"),
                RefusedUrl::Port,
            ),
            ("/relative/path".to_string(), RefusedUrl::NotAbsolute),
            ("not a url".to_string(), RefusedUrl::NotAbsolute),
        ];
        for (text, reason) in refused {
            assert_eq!(
                in_region("us-east-1").check(&url(&text)),
                Err(reason),
                "{text}"
            );
        }
        let foreign_hosts = [
            "169.254.169.254",
            "localhost",
            "cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example",
            "cloudformation-custom-resource-response-useast1evil.s3.amazonaws.com",
            "evil.cloudformation-custom-resource-response-useast1.s3.amazonaws.com",
            "cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com",
            "cloudformation-custom-resource-response-cnnorth1.s3.amazonaws.com.cn",
        ];
        for host in foreign_hosts {
            assert_eq!(
                in_region("us-east-1").check(&url(&format!("https://{host}{QUERY}"))),
                Err(RefusedUrl::NotCloudFormation {
                    host: host.into(),
                    region: "us-east-1".into()
                }),
                "{host}"
            );
        }
    }

    #[test]
    fn the_test_widening_reaches_loopback_addresses_only() {
        let loopback = ResponseTargets::LoopbackForTests;
        assert!(loopback.check(&url("http://127.0.0.1:8080/answer")).is_ok());
        assert!(loopback.check(&url("http://[::1]:8080/answer")).is_ok());
        for host in [
            "169.254.169.254",
            "10.0.0.1",
            "example.com",
            "localhost.evil.example",
        ] {
            assert_eq!(
                loopback.check(&url(&format!("http://{host}/answer"))),
                Err(RefusedUrl::NotLoopback(host.into()))
            );
        }
    }

    #[test]
    fn a_refusal_never_shows_the_signature() {
        let text = format!("https://169.254.169.254{QUERY}");
        let refusal = in_region("us-east-1").check(&url(&text)).unwrap_err();
        let shown = DeliveryError::from(refusal).to_string();
        assert!(!shown.contains("X-Amz-Signature"), "{shown}");
    }
}
