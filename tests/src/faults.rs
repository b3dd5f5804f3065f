//! Fault injection between the SDK and the emulator: an interceptor that replaces the service's
//! answer with a throttling, access-denied or 5xx response for the requests it matches, in the
//! error format of the service's protocol (JSON, or the XML of the query protocol).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 with the awsJson `ThrottlingException` error type.
    Throttling,
    /// HTTP 503 ServiceUnavailable.
    ServiceUnavailable,
    /// HTTP 400 `AccessDeniedException`: the role lacks a permission.
    AccessDenied,
}

/// Fails every request of `operation` whose body contains `needle` (and, with `in_region`, that is
/// signed for that region), `times` times (all if `None`).
#[derive(Debug, Clone)]
pub struct FaultInjector {
    operation: &'static str,
    needle: String,
    region: Option<&'static str>,
    fault: Fault,
    remaining: Option<Arc<AtomicUsize>>,
    injected: Arc<AtomicUsize>,
}

#[derive(Debug, Clone, Copy)]
enum Protocol {
    Json,
    Query,
}

#[derive(Debug)]
struct Inject(Fault, Protocol);

impl Storable for Inject {
    type Storer = StoreReplace<Self>;
}

impl FaultInjector {
    pub fn new(
        operation: &'static str,
        needle: impl Into<String>,
        fault: Fault,
        times: Option<usize>,
    ) -> Self {
        FaultInjector {
            operation,
            needle: needle.into(),
            region: None,
            fault,
            remaining: times.map(|t| Arc::new(AtomicUsize::new(t))),
            injected: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Matches only requests signed for `region`.
    pub fn in_region(mut self, region: &'static str) -> Self {
        self.region = Some(region);
        self
    }

    /// How many responses were replaced so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    /// The signature's scope names the region: `.../20261120/eu-west-1/cloudformation/aws4_request`.
    fn signed_for_region(&self, request: &HttpRequest) -> bool {
        self.region.is_none_or(|region| {
            request
                .headers()
                .get("authorization")
                .is_some_and(|h| h.contains(&format!("/{region}/")))
        })
    }

    fn take_one(&self) -> bool {
        match &self.remaining {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

impl Intercept for FaultInjector {
    fn name(&self) -> &'static str {
        "FaultInjector"
    }

    /// A matched request is emptied before it leaves, so the emulator rejects it without
    /// applying anything, and its answer is replaced below: the call fails as a whole.
    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let is_operation = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == self.operation);
        let request = context.request();
        let body = request.body().bytes().unwrap_or_default();
        let matches =
            String::from_utf8_lossy(body).contains(&self.needle) && self.signed_for_region(request);
        if is_operation && matches && self.take_one() {
            let protocol = protocol_of(request);
            let request = context.request_mut();
            *request.body_mut() = SdkBody::from("{}");
            request.headers_mut().insert("content-length", "2");
            cfg.interceptor_state()
                .store_put(Inject(self.fault, protocol));
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(&Inject(fault, protocol)) = cfg.load::<Inject>() else {
            return Ok(());
        };
        let response = match protocol {
            Protocol::Json => json_error(fault)?,
            Protocol::Query => query_error(fault)?,
        };
        *context.response_mut() = response;
        cfg.interceptor_state().unset::<Inject>();
        self.injected.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Query-protocol services (CloudFormation, IAM) send forms; the JSON ones send JSON.
fn protocol_of(request: &HttpRequest) -> Protocol {
    let form = request
        .headers()
        .get("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form {
        Protocol::Query
    } else {
        Protocol::Json
    }
}

fn json_error(fault: Fault) -> Result<HttpResponse, BoxError> {
    let (status, body) = match fault {
        Fault::Throttling => (
            400,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        ),
        Fault::ServiceUnavailable => (
            503,
            r#"{"__type":"ServiceUnavailable","message":"injected"}"#,
        ),
        Fault::AccessDenied => (
            400,
            r#"{"__type":"AccessDeniedException","message":"not authorized to perform this action"}"#,
        ),
    };
    let mut response = HttpResponse::new(StatusCode::try_from(status)?, SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    Ok(response)
}

fn query_error(fault: Fault) -> Result<HttpResponse, BoxError> {
    let (status, code, message) = match fault {
        Fault::Throttling => (400, "Throttling", "Rate exceeded"),
        Fault::ServiceUnavailable => (503, "ServiceUnavailable", "injected"),
        Fault::AccessDenied => (403, "AccessDenied", "not authorized to perform this action"),
    };
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>\
         </Error><RequestId>injected</RequestId></ErrorResponse>"
    );
    let mut response = HttpResponse::new(StatusCode::try_from(status)?, SdkBody::from(body));
    response.headers_mut().insert("content-type", "text/xml");
    Ok(response)
}
