//! Lambda entry point: wires configuration and clients to the handler.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use pb_aws::clients::{load_sdk_config, SdkTimeouts};
use pb_aws::config::{sdk_timeouts_from_env, IngestConfig};
use pb_aws::runtime::{self, LogStartupError as _};
use pb_aws::Clients;
use pb_ingest::Ingest;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_lambda_logging();
    let config = IngestConfig::from_env().log_startup_error("invalid configuration")?;
    let timeouts =
        sdk_timeouts_from_env(SdkTimeouts::INGEST).log_startup_error("invalid configuration")?;
    let clients = Clients::new(&load_sdk_config(timeouts).await, &[]);
    let ingest = Ingest::new(&clients, &config);
    let function_name = runtime::function_name("ingest");
    let ingest = &ingest;
    let function_name = function_name.as_str();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let span = tracing::info_span!("batch", request_id = %event.context.request_id, function = function_name);
        let (response, summary) = ingest.handle(event.payload).instrument(span.clone()).await;
        span.in_scope(|| summary.report(function_name, runtime::now_ms()));
        Ok::<SqsBatchResponse, Error>(response)
    }))
    .await
}
