//! Lambda entry point: wires configuration and clients to the handler.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use pb_aws::clients::{load_sdk_config, SdkTimeouts};
use pb_aws::config::{sdk_timeouts_from_env, IngestConfig};
use pb_aws::Clients;
use pb_ingest::Ingest;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .init();
    let config = IngestConfig::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
    })?;
    let timeouts = sdk_timeouts_from_env(SdkTimeouts::INGEST).inspect_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
    })?;
    let clients = Clients::new(&load_sdk_config(timeouts).await, &[]);
    let ingest = Ingest::new(&clients, &config);
    let function_name =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "ingest".to_string());
    let ingest = &ingest;
    let function_name = function_name.as_str();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let span = tracing::info_span!("batch", request_id = %event.context.request_id, function = function_name);
        let (response, summary) = ingest.handle(event.payload).instrument(span.clone()).await;
        span.in_scope(|| summary.report(function_name, now_ms()));
        Ok::<SqsBatchResponse, Error>(response)
    }))
    .await
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
