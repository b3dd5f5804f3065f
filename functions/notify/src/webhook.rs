//! Signed HTTPS webhooks. The host is resolved once, by a resolver that keeps only the addresses
//! the [`AddressPolicy`] admits, and the connection goes to those addresses: a name that
//! resolves to an internal address is refused after resolution, and a second resolution cannot
//! swap in another address between the check and the connection (DNS rebinding).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use pb_domain::notify::is_forbidden_address;
use thiserror::Error;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The whole request, connection and TLS included: a slow receiver must not hold the batch.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const DELIVERY_HEADER: &str = "x-pb-delivery";
pub const TIMESTAMP_HEADER: &str = "x-pb-timestamp";
pub const SIGNATURE_HEADER: &str = "x-pb-signature";

/// Which resolved addresses a webhook may reach. A value built in code, never read from the
/// environment: production uses [`AddressPolicy::public_only`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    also_admitted: Vec<IpAddr>,
}

impl AddressPolicy {
    /// Public addresses only: never loopback, private, link-local (metadata) or the like.
    pub fn public_only() -> Self {
        AddressPolicy::default()
    }

    /// Tests: public addresses and `address` too (a receiver on a loopback port).
    pub fn also_admitting(mut self, address: IpAddr) -> Self {
        self.also_admitted.push(address);
        self
    }

    pub fn admits(&self, address: IpAddr) -> bool {
        !is_forbidden_address(address) || self.also_admitted.contains(&address)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the webhook's host has no address the platform may reach")]
pub struct ForbiddenAddress;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connector's resolver: one lookup, the refused addresses dropped.
#[derive(Clone)]
pub struct CheckedResolver {
    policy: Arc<AddressPolicy>,
}

impl tower::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let admitted = admitted(&policy, resolved)?;
            Ok(admitted.into_iter())
        })
    }
}

fn admitted(
    policy: &AddressPolicy,
    resolved: impl Iterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, ForbiddenAddress> {
    let kept: Vec<SocketAddr> = resolved.filter(|a| policy.admits(a.ip())).collect();
    if kept.is_empty() {
        Err(ForbiddenAddress)
    } else {
        Ok(kept)
    }
}

/// Why one webhook request did not land. Never carries the URL: a chat webhook's URL is its
/// credential.
#[derive(Debug, Error)]
pub enum SendError {
    #[error("the URL is not https://host[:port]/path")]
    InvalidUrl,
    #[error(transparent)]
    Forbidden(#[from] ForbiddenAddress),
    #[error("the receiver answered HTTP {0}")]
    Status(u16),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("{0}")]
    Transport(String),
}

impl SendError {
    /// Worth another try later: the receiver or the network may recover. Other answers (a 4xx,
    /// a redirect, which is never followed) will be the same next time.
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Status(status) => matches!(status, 408 | 429 | 500..),
            SendError::TimedOut(_) | SendError::Transport(_) => true,
            SendError::InvalidUrl | SendError::Forbidden(_) => false,
        }
    }
}

/// The certificates receivers are verified with.
pub enum TlsRoots {
    /// The system's (Lambda's) root store.
    Native,
    /// Tests: a store holding their own test-only root.
    Custom(rustls::RootCertStore),
}

#[derive(Debug, Error)]
#[error("cannot load the system's root certificates: {0}")]
pub struct RootCertificatesError(#[source] std::io::Error);

type WebhookClient = Client<HttpsConnector<HttpConnector<CheckedResolver>>, Full<Bytes>>;

#[derive(Clone)]
pub struct WebhookSender {
    client: WebhookClient,
    policy: Arc<AddressPolicy>,
}

impl WebhookSender {
    pub fn new(policy: AddressPolicy, roots: TlsRoots) -> Result<Self, RootCertificatesError> {
        let policy = Arc::new(policy);
        let mut http = HttpConnector::new_with_resolver(CheckedResolver {
            policy: policy.clone(),
        });
        // The TLS layer needs the plain connector to accept https URIs; https_only() below
        // refuses every other scheme.
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let builder = match roots {
            TlsRoots::Native => HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(RootCertificatesError)?,
            TlsRoots::Custom(store) => HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder()
                    .with_root_certificates(store)
                    .with_no_client_auth(),
            ),
        };
        let https = builder.https_only().enable_http1().wrap_connector(http);
        Ok(WebhookSender {
            client: Client::builder(TokioExecutor::new()).build(https),
            policy,
        })
    }

    /// POSTs `body`, signed with `secret`; the response body is never read.
    pub async fn send(
        &self,
        url: &str,
        secret: &str,
        delivery_id: &str,
        body: String,
    ) -> Result<(), SendError> {
        let uri = self.checked_uri(url)?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            .to_string();
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, "pipeline-builder-notify")
            .header(DELIVERY_HEADER, delivery_id)
            .header(SIGNATURE_HEADER, signature(secret, &timestamp, &body))
            .header(TIMESTAMP_HEADER, timestamp)
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| SendError::InvalidUrl)?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| SendError::TimedOut(REQUEST_TIMEOUT))?
            .map_err(|error| transport_error(&error))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(SendError::Status(status.as_u16())),
        }
    }

    /// https with a host and no user info; an address literal is checked here, because the
    /// connector connects to literals without asking the resolver.
    fn checked_uri(&self, url: &str) -> Result<Uri, SendError> {
        let uri: Uri = url.parse().map_err(|_| SendError::InvalidUrl)?;
        let authority = uri.authority().ok_or(SendError::InvalidUrl)?;
        if uri.scheme_str() != Some("https") || authority.as_str().contains('@') {
            return Err(SendError::InvalidUrl);
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if let Ok(address) = host.parse::<IpAddr>() {
            if !self.policy.admits(address) {
                return Err(ForbiddenAddress.into());
            }
        }
        Ok(uri)
    }
}

/// `v1={hex HMAC-SHA256(secret, "{timestamp}.{body}")}`: what a receiver recomputes to know
/// the request is the platform's and was not changed.
pub fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.as_bytes());
    context.update(b".");
    context.update(body.as_bytes());
    let tag = context.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// The resolver's refusal travels inside the client's error; it is found by walking the causes.
fn transport_error(error: &(dyn std::error::Error + 'static)) -> SendError {
    let mut cause = Some(error);
    let mut text = Vec::new();
    while let Some(current) = cause {
        if current.downcast_ref::<ForbiddenAddress>().is_some() {
            return SendError::Forbidden(ForbiddenAddress);
        }
        text.push(current.to_string());
        cause = current.source();
    }
    SendError::Transport(text.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(ip: [u8; 4]) -> SocketAddr {
        SocketAddr::from((ip, 443))
    }

    #[test]
    fn only_admitted_addresses_are_kept_and_none_is_an_error() {
        let public = AddressPolicy::public_only();
        let kept = admitted(
            &public,
            [socket([127, 0, 0, 1]), socket([93, 184, 216, 34])].into_iter(),
        );
        assert_eq!(kept, Ok(vec![socket([93, 184, 216, 34])]));
        let internal = [socket([169, 254, 169, 254]), socket([10, 0, 0, 1])];
        assert_eq!(
            admitted(&public, internal.into_iter()),
            Err(ForbiddenAddress)
        );
        let widened = public.also_admitting(IpAddr::from([127, 0, 0, 1]));
        assert!(widened.admits(IpAddr::from([127, 0, 0, 1])));
        assert!(!widened.admits(IpAddr::from([127, 0, 0, 2])));
        assert!(!widened.admits(IpAddr::from([169, 254, 169, 254])));
    }

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_and_body() {
        // Python: hmac.new(b"Jefe", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature("Jefe", "1700000000", r#"{"a":1}"#),
            "v1=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
    }

    #[test]
    fn retries_are_for_what_may_recover() {
        for status in [408, 429, 500, 503] {
            assert!(SendError::Status(status).is_retryable(), "{status}");
        }
        for status in [301, 400, 401, 404, 410] {
            assert!(!SendError::Status(status).is_retryable(), "{status}");
        }
        assert!(SendError::TimedOut(REQUEST_TIMEOUT).is_retryable());
        assert!(!SendError::Forbidden(ForbiddenAddress).is_retryable());
        assert!(!SendError::InvalidUrl.is_retryable());
    }

    #[tokio::test]
    async fn literal_and_plain_http_urls_are_refused_before_connecting() {
        let sender = WebhookSender::new(
            AddressPolicy::public_only(),
            TlsRoots::Custom(rustls::RootCertStore::empty()),
        )
        .unwrap();
        let send = |url: &'static str| sender.send(url, "secret", "d", "{}".into());
        assert!(matches!(
            send("https://169.254.169.254/latest").await,
            Err(SendError::Forbidden(_))
        ));
        assert!(matches!(
            send("https://[::1]:8443/").await,
            Err(SendError::Forbidden(_))
        ));
        assert!(matches!(
            send("http://example.com/").await,
            Err(SendError::InvalidUrl)
        ));
        assert!(matches!(
            send("https://user@example.com/").await,
            Err(SendError::InvalidUrl)
        ));
    }
}
