//! Benchmark-only SDK interceptors: a fixed round trip per AWS call, and a meter of DynamoDB
//! write capacity.
//!
//! Interceptor hooks are synchronous, so a delay slept in one would block the runtime's thread and
//! serialize concurrent calls, which is exactly what the benchmark measures. Instead the
//! interceptor asks for the delay (`x-pb-latency-ms`) and the benchmark's emulator
//! (`scripts/moto_bench_server.py`) answers that much later, in the request's own thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

/// Adds `ms` of round trip to every call (0 for none).
#[derive(Debug, Clone, Default)]
pub struct RequestedLatency {
    ms: Arc<AtomicU64>,
}

impl RequestedLatency {
    pub fn set(&self, ms: u64) {
        self.ms.store(ms, Ordering::SeqCst);
    }
}

impl Intercept for RequestedLatency {
    fn name(&self) -> &'static str {
        "RequestedLatency"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ms = self.ms.load(Ordering::SeqCst);
        if ms > 0 {
            context
                .request_mut()
                .headers_mut()
                .insert("x-pb-latency-ms", ms.to_string());
        }
        Ok(())
    }
}

/// DynamoDB write requests and the write capacity units they are billed, estimated from the
/// request: an item's size is taken as its JSON size (an upper bound of DynamoDB's), an update's
/// as its request's; a transaction bills every item twice.
#[derive(Debug, Clone, Default)]
pub struct WriteMeter {
    requests: Arc<AtomicU64>,
    units: Arc<AtomicU64>,
}

impl WriteMeter {
    /// (write requests, write capacity units) since the last reset.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::SeqCst),
            self.units.load(Ordering::SeqCst),
        )
    }

    pub fn reset(&self) {
        self.requests.store(0, Ordering::SeqCst);
        self.units.store(0, Ordering::SeqCst);
    }
}

fn units(value: &Value) -> u64 {
    (value.to_string().len() as u64).div_ceil(1024).max(1)
}

fn write_units(operation: &str, body: &Value) -> Option<u64> {
    match operation {
        "PutItem" => Some(units(&body["Item"])),
        "UpdateItem" | "DeleteItem" => Some(units(body)),
        "TransactWriteItems" => Some(
            body["TransactItems"]
                .as_array()?
                .iter()
                .filter_map(|entry| entry.as_object()?.values().next())
                .map(|op| 2 * units(op.get("Item").unwrap_or(op)))
                .sum(),
        ),
        "BatchWriteItem" => Some(
            body["RequestItems"]
                .as_object()?
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .map(|request| units(&request["PutRequest"]["Item"]))
                .sum(),
        ),
        _ => None,
    }
}

impl Intercept for WriteMeter {
    fn name(&self) -> &'static str {
        "WriteMeter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        if metadata.service() != "DynamoDB" {
            return Ok(());
        }
        let body = context
            .request()
            .body()
            .bytes()
            .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
            .unwrap_or_default();
        if let Some(units) = write_units(metadata.name(), &body) {
            self.requests.fetch_add(1, Ordering::SeqCst);
            self.units.fetch_add(units, Ordering::SeqCst);
        }
        Ok(())
    }
}
