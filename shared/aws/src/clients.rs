//! SDK clients, built once per process and shared by the adapters.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

/// The AWS clients the functions use. Interceptors (request counting in the benchmark, fault
/// injection in tests) are attached to every client; production passes none.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
}

/// Bounds on every SDK call. Without them a connection that stays silent holds the invocation
/// until Lambda kills it, and the record or request fails with no error of ours to classify.
/// The operation timeout covers all attempts and retries of one call, so each function's stays
/// well under its Lambda timeout (template.yaml) to leave room for the calls around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkTimeouts {
    pub operation: Duration,
    pub attempt: Duration,
    pub connect: Duration,
}

impl SdkTimeouts {
    /// The API's Lambda timeout is 10 s and a request makes a few calls in sequence.
    pub const API: SdkTimeouts = SdkTimeouts::millis(4_000, 1_500, 1_000);
    /// The ingest's Lambda timeout is 30 s for a batch of 10 records.
    pub const INGEST: SdkTimeouts = SdkTimeouts::millis(8_000, 3_000, 1_000);
    /// The plugin-lookup's Lambda timeout is 30 s, and a custom resource must still answer.
    pub const PLUGIN_LOOKUP: SdkTimeouts = SdkTimeouts::millis(5_000, 2_000, 1_000);
    /// The audit's Lambda timeout is 300 s; DescribeStacks pages wait out throttling retries.
    pub const AUDIT: SdkTimeouts = SdkTimeouts::millis(60_000, 15_000, 3_000);
    /// The notify's Lambda timeout is 120 s for a batch of 5 records; a webhook's own request
    /// has its own 10 s bound, so the SDK's calls stay short.
    pub const NOTIFY: SdkTimeouts = SdkTimeouts::millis(5_000, 2_000, 1_000);
    /// An operator's command line (the dead-letter re-drive): someone waits for each call.
    pub const OPERATOR: SdkTimeouts = SdkTimeouts::millis(15_000, 5_000, 2_000);

    pub const fn millis(operation: u64, attempt: u64, connect: u64) -> Self {
        SdkTimeouts {
            operation: Duration::from_millis(operation),
            attempt: Duration::from_millis(attempt),
            connect: Duration::from_millis(connect),
        }
    }

    fn timeout_config(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .operation_timeout(self.operation)
            .operation_attempt_timeout(self.attempt)
            .connect_timeout(self.connect)
            .build()
    }
}

/// The standard AWS configuration chain (environment, profile, container and instance
/// credentials) with `timeouts` on every client built from it. `AWS_ENDPOINT_URL` is honoured,
/// which is how local runs reach the emulator.
pub fn sdk_config_loader(timeouts: SdkTimeouts) -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts.timeout_config())
}

pub async fn load_sdk_config(timeouts: SdkTimeouts) -> SdkConfig {
    sdk_config_loader(timeouts).load().await
}

impl Clients {
    pub fn new(config: &SdkConfig, interceptors: &[SharedInterceptor]) -> Self {
        macro_rules! client {
            ($sdk:ident) => {{
                let mut builder = $sdk::config::Builder::from(config);
                for interceptor in interceptors {
                    builder.push_interceptor(interceptor.clone());
                }
                $sdk::Client::from_conf(builder.build())
            }};
        }
        Clients {
            dynamodb: client!(aws_sdk_dynamodb),
            sqs: client!(aws_sdk_sqs),
            eventbridge: client!(aws_sdk_eventbridge),
            codepipeline: client!(aws_sdk_codepipeline),
            cloudformation: client!(aws_sdk_cloudformation),
            secretsmanager: client!(aws_sdk_secretsmanager),
            s3: client!(aws_sdk_s3),
            sns: client!(aws_sdk_sns),
        }
    }
}
