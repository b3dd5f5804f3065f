//! Lambda entry point: wires configuration and clients to the handler.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use pb_aws::clients::{load_sdk_config, SdkTimeouts};
use pb_aws::config::{sdk_timeouts_from_env, NotifyConfig};
use pb_aws::runtime::{self, LogStartupError as _};
use pb_aws::Clients;
use pb_notify::webhook::{AddressPolicy, TlsRoots, WebhookSender};
use pb_notify::Notify;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_lambda_logging();
    let config = NotifyConfig::from_env().log_startup_error("invalid configuration")?;
    let timeouts =
        sdk_timeouts_from_env(SdkTimeouts::NOTIFY).log_startup_error("invalid configuration")?;
    let clients = Clients::new(&load_sdk_config(timeouts).await, &[]);
    let webhooks = WebhookSender::new(AddressPolicy::public_only(), TlsRoots::Native)
        .log_startup_error("cannot build the webhook client")?;
    let notify = Notify::new(&clients, &config, webhooks);
    let function_name = runtime::function_name("notify");
    let notify = &notify;
    let function_name = function_name.as_str();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let span = tracing::info_span!("batch", request_id = %event.context.request_id, function = function_name);
        let remaining = event.context.deadline.saturating_sub(runtime::now_ms().max(0) as u64);
        let deadline = Instant::now() + Duration::from_millis(remaining);
        let (response, summary) = notify
            .handle(event.payload, deadline)
            .instrument(span.clone())
            .await;
        span.in_scope(|| summary.report(function_name, runtime::now_ms()));
        Ok::<SqsBatchResponse, Error>(response)
    }))
    .await
}
