//! SDK clients, built once per process and shared by the adapters.

use aws_config::{BehaviorVersion, SdkConfig};
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
}

/// Loads the standard AWS configuration chain (environment, profile, container and instance
/// credentials). `AWS_ENDPOINT_URL` is honoured, which is how local runs reach the emulator.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
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
        }
    }
}
