//! Fault injection between the SDK and the emulator: an interceptor that replaces the service's
//! answer with a throttling or 5xx response for the requests it matches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
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

/// Fails every request of `operation` whose body contains `needle`, `times` times (all if `None`).
#[derive(Debug, Clone)]
pub struct FaultInjector {
    operation: &'static str,
    needle: String,
    fault: Fault,
    remaining: Option<Arc<AtomicUsize>>,
    injected: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct Inject(Fault);

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
            fault,
            remaining: times.map(|t| Arc::new(AtomicUsize::new(t))),
            injected: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many responses were replaced so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
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
        let body = context.request().body().bytes().unwrap_or_default();
        let matches = String::from_utf8_lossy(body).contains(&self.needle);
        if is_operation && matches && self.take_one() {
            let request = context.request_mut();
            *request.body_mut() = SdkBody::from("{}");
            request.headers_mut().insert("content-length", "2");
            cfg.interceptor_state().store_put(Inject(self.fault));
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Inject(fault)) = cfg.load::<Inject>() else {
            return Ok(());
        };
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
        *context.response_mut() = response;
        cfg.interceptor_state().unset::<Inject>();
        self.injected.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
