//! Lambda entry point: wires configuration and clients to the handler.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use pb_aws::clients::{load_sdk_config, SdkTimeouts};
use pb_aws::config::{sdk_timeouts_from_env, LookupConfig};
use pb_aws::plugins::PluginCatalog;
use pb_aws::public_versions::PublicVersionCache;
use pb_aws::runtime::{self, LogStartupError as _};
use pb_aws::Clients;
use pb_plugin_lookup::{
    deadline_from_epoch_millis, https_client, PluginLookup, ResponseSender, ResponseTargets,
    RetryPolicy,
};
use serde_json::Value;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_lambda_logging();
    let config = LookupConfig::from_env().log_startup_error("invalid configuration")?;
    let https = https_client().log_startup_error("cannot build the ResponseURL client")?;
    let timeouts = sdk_timeouts_from_env(SdkTimeouts::PLUGIN_LOOKUP)
        .log_startup_error("invalid configuration")?;
    let sdk_config = load_sdk_config(timeouts).await;
    let Some(region) = sdk_config.region().map(|region| region.to_string()) else {
        tracing::error!("no AWS region configured: the ResponseURL allowlist needs it");
        return Err("no AWS region configured".into());
    };
    let clients = Clients::new(&sdk_config, &[]);
    let lookup = PluginLookup::new(
        PluginCatalog::new(clients.dynamodb.clone(), config.catalog_table)
            .with_public_version_cache(PublicVersionCache::new(config.public_cache_ttl)),
        ResponseSender::new(
            https,
            RetryPolicy::default(),
            ResponseTargets::CloudFormation { region },
        ),
    );
    let function_name = runtime::function_name("plugin-lookup");
    let lookup = &lookup;
    let function_name = function_name.as_str();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let span = tracing::info_span!(
            "invocation",
            request_id = %event.context.request_id,
            function = function_name
        );
        let deadline = deadline_from_epoch_millis(event.context.deadline);
        lookup
            .handle(event.payload, deadline)
            .instrument(span)
            .await
    }))
    .await
}
