//! One invocation: a direct lookup, or a custom-resource request answered on its `ResponseURL`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::Diagnostic;
use pb_aws::plugins::PluginCatalog;
use pb_aws::AwsError;
use pb_domain::plugin::{names_to_load, resolve_batch, LookupOutcome};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use tracing::Instrument;

use crate::custom_resource::{
    catalog_failure_reason, is_custom_resource_request, pinned_data, resolved_reason,
    unresolved_reason, CfnRequest, CfnResponse, RequestType,
};
use crate::request::{LookupRequest, RequestError, ResourceProperties};
use crate::response_url::{DeliveryError, ResponseSender};

/// Kept back from the function's deadline to deliver the answer: a lookup still running then is
/// abandoned and the resource answered `FAILED`, rather than leaving CloudFormation to wait for
/// its own timeout (an hour) after Lambda kills the invocation.
pub const ANSWER_RESERVE: Duration = Duration::from_secs(8);

/// Lambda's deadline for the invocation (milliseconds since the epoch) as an [`Instant`].
pub fn deadline_from_epoch_millis(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// What the invocation returns to its caller.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// `{"resolved": […], "unresolved": […]}` for a direct invoke.
    Lookup(LookupOutcome),
    /// The response that was delivered to the `ResponseURL` (CloudFormation ignores the return
    /// value; it is there for logs and tests).
    CustomResource(CfnResponse),
}

/// Failures reported to Lambda's caller. A custom-resource lookup that fails is not one of them:
/// it is answered `FAILED` on the `ResponseURL`.
#[derive(Debug, Error)]
pub enum HandlerError {
    #[error("invalid lookup request: {0}")]
    InvalidRequest(#[from] RequestError),
    #[error("plugin catalog lookup failed ({kind}): {error}", kind = .0.kind(), error = .0)]
    Catalog(#[source] AwsError),
    #[error("plugin lookup did not finish before the function's deadline")]
    DeadlineExceeded,
    #[error("malformed custom-resource request: {0}")]
    MalformedCustomResource(String),
    #[error("custom-resource response not delivered: {0}")]
    ResponseNotDelivered(#[from] DeliveryError),
}

impl HandlerError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::InvalidRequest(_) => "InvalidRequest",
            HandlerError::Catalog(_) => "CatalogLookupFailed",
            HandlerError::DeadlineExceeded => "DeadlineExceeded",
            HandlerError::MalformedCustomResource(_) => "MalformedCustomResource",
            HandlerError::ResponseNotDelivered(_) => "ResponseNotDelivered",
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}

pub struct PluginLookup {
    catalog: PluginCatalog,
    responder: ResponseSender,
}

impl PluginLookup {
    pub fn new(catalog: PluginCatalog, responder: ResponseSender) -> Self {
        PluginLookup { catalog, responder }
    }

    /// Answers one invocation that Lambda ends at `deadline`; a lookup must be done
    /// [`ANSWER_RESERVE`] before it.
    pub async fn handle(&self, payload: Value, deadline: Instant) -> Result<Answer, HandlerError> {
        let answer = if is_custom_resource_request(&payload) {
            self.answer_custom_resource(payload, deadline)
                .await
                .map(Answer::CustomResource)
        } else {
            self.lookup_direct(&payload, lookup_deadline(deadline))
                .await
                .map(Answer::Lookup)
        };
        answer.inspect_err(|error| {
            tracing::error!(error = %error, error_type = error.error_type(), "invocation failed");
        })
    }

    /// Resolves every reference against the org's own and the public catalog entries.
    pub async fn resolve(&self, request: &LookupRequest) -> Result<LookupOutcome, AwsError> {
        let names = names_to_load(&request.plugins);
        let candidates = self.catalog.candidates(&request.org_id, &names).await?;
        let outcome = resolve_batch(&request.plugins, &request.org_id, &candidates);
        tracing::info!(
            resolved = outcome.resolved.len(),
            unresolved = outcome.unresolved.len(),
            "lookup resolved"
        );
        Ok(outcome)
    }

    async fn lookup_direct(
        &self,
        payload: &Value,
        lookup_by: Instant,
    ) -> Result<LookupOutcome, HandlerError> {
        let request = LookupRequest::from_direct(payload)?;
        let span = tracing::info_span!("lookup", org = %request.org_id);
        let lookup = self.resolve(&request).instrument(span);
        tokio::time::timeout_at(lookup_by.into(), lookup)
            .await
            .map_err(|_| HandlerError::DeadlineExceeded)?
            .map_err(HandlerError::Catalog)
    }

    async fn answer_custom_resource(
        &self,
        payload: Value,
        deadline: Instant,
    ) -> Result<CfnResponse, HandlerError> {
        let request: CfnRequest = serde_json::from_value(payload)
            .map_err(|error| HandlerError::MalformedCustomResource(error.to_string()))?;
        let target = self
            .responder
            .target(&request.response_url)
            .map_err(DeliveryError::from)?;
        let response = self
            .respond_to(&request, lookup_deadline(deadline))
            .await
            .within_size_limit();
        tracing::info!(
            request_type = %request.request_type,
            logical_resource_id = %request.logical_resource_id,
            status = response.status.as_str(),
            reason = %response.reason,
            "answering CloudFormation"
        );
        self.responder
            .send(&target, response.body(), deadline)
            .await?;
        Ok(response)
    }

    async fn respond_to(&self, request: &CfnRequest, lookup_by: Instant) -> CfnResponse {
        match request.request_type() {
            None => request.failed(
                request.physical_id(None),
                format!("unsupported RequestType '{}'", request.request_type),
            ),
            // A lookup creates nothing, so there is nothing to remove; not reading the catalog
            // also lets a stack be deleted when the catalog is gone.
            Some(RequestType::Delete) => request.succeeded(
                request.physical_id(None),
                "nothing to delete",
                BTreeMap::new(),
            ),
            Some(RequestType::Create | RequestType::Update) => self.pin(request, lookup_by).await,
        }
    }

    /// Create/Update: every reference must resolve, or the resource fails and with it the stack,
    /// rather than deploying a step that references a plugin that is not there.
    async fn pin(&self, request: &CfnRequest, lookup_by: Instant) -> CfnResponse {
        let properties = match ResourceProperties::parse(&request.resource_properties) {
            Ok(properties) => properties,
            Err(error) => {
                return request.failed(
                    request.physical_id(None),
                    format!("invalid ResourceProperties: {error}"),
                )
            }
        };
        let lookup = &properties.lookup;
        let physical_id = request.physical_id(Some(lookup));
        let span = tracing::info_span!("lookup", org = %lookup.org_id);
        let resolved = self.resolve(lookup).instrument(span);
        let Ok(resolved) = tokio::time::timeout_at(lookup_by.into(), resolved).await else {
            tracing::warn!(org = %lookup.org_id, "lookup abandoned at the answer deadline");
            return request.failed(physical_id, deadline_reason());
        };
        match resolved {
            Err(error) => {
                tracing::warn!(
                    error = %error,
                    kind = error.kind(),
                    org = %lookup.org_id,
                    "catalog lookup failed"
                );
                request.failed(physical_id, catalog_failure_reason(&error))
            }
            Ok(outcome) if !outcome.unresolved.is_empty() => {
                request.failed(physical_id, unresolved_reason(&outcome))
            }
            Ok(outcome) => request.succeeded(
                physical_id,
                resolved_reason(&outcome),
                pinned_data(properties.form, &outcome.resolved),
            ),
        }
    }
}

fn lookup_deadline(deadline: Instant) -> Instant {
    deadline
        .checked_sub(ANSWER_RESERVE)
        .unwrap_or_else(Instant::now)
}

fn deadline_reason() -> String {
    format!(
        "the plugin lookup did not finish in time; answered {}s before the function's deadline \
         instead of leaving the stack waiting",
        ANSWER_RESERVE.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambdas_deadline_becomes_an_instant_that_far_ahead() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let before = Instant::now();
        let deadline = deadline_from_epoch_millis(now_ms + 30_000);
        let ahead = deadline - before;
        // Whole seconds: the clocks are read a moment apart, and milliseconds are truncated.
        assert_eq!(ahead.as_secs_f64().round(), 30.0, "{ahead:?}");
        // A deadline already past is now: the lookup gets no time, the answer is still sent.
        assert!(deadline_from_epoch_millis(now_ms - 5_000) <= Instant::now());
        assert_eq!(
            lookup_deadline(before + Duration::from_secs(30)),
            before + Duration::from_secs(30) - ANSWER_RESERVE
        );
    }

    #[test]
    fn lambda_reports_the_error_type_and_message() {
        let error = HandlerError::Catalog(AwsError::Throttled {
            operation: "Query",
            code: "ThrottlingException".into(),
        });
        assert_eq!(
            Diagnostic::from(error),
            Diagnostic {
                error_type: "CatalogLookupFailed".into(),
                error_message: "plugin catalog lookup failed (throttled): Query was throttled \
                                (ThrottlingException)"
                    .into(),
            }
        );
    }
}
