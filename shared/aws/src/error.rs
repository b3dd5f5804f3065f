//! One classification of SDK failures for every adapter.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use pb_domain::causes::with_causes;
use pb_domain::scrub::scrub_message;
use thiserror::Error;

const THROTTLING_CODES: [&str; 8] = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

const ACCESS_CODES: [&str; 5] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
];

/// An AWS call that did not succeed, by what the caller can do about it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AwsError {
    #[error("{operation} was throttled ({code})")]
    Throttled {
        operation: &'static str,
        code: String,
    },
    #[error("{operation} was denied: {message}")]
    AccessDenied {
        operation: &'static str,
        message: String,
    },
    #[error("{operation} failed on the service side (HTTP {status})")]
    Unavailable {
        operation: &'static str,
        status: u16,
    },
    /// The SDK's operation, attempt or connect timeout ended the call.
    #[error("{operation} timed out: {message}")]
    TimedOut {
        operation: &'static str,
        message: String,
    },
    #[error("{operation} could not reach the service: {message}")]
    Network {
        operation: &'static str,
        message: String,
    },
    #[error("{operation} was rejected ({code}): {message}")]
    Rejected {
        operation: &'static str,
        code: String,
        message: String,
    },
}

impl AwsError {
    /// Short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            AwsError::Throttled { .. } => "throttled",
            AwsError::AccessDenied { .. } => "access-denied",
            AwsError::Unavailable { .. } => "unavailable",
            AwsError::TimedOut { .. } => "timeout",
            AwsError::Network { .. } => "network",
            AwsError::Rejected { .. } => "rejected",
        }
    }

    /// A request that could not even be built or encoded locally; as permanent as AWS's refusal.
    pub fn local(operation: &'static str, code: &str, error: impl std::fmt::Display) -> Self {
        AwsError::Rejected {
            operation,
            code: code.to_string(),
            message: error.to_string(),
        }
    }

    /// A request AWS will reject however often it is sent (an invalid or oversized item, a
    /// corrupt stored item): retrying only delays the dead-letter queue.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self.code(),
            Some(
                "ValidationException"
                    | "ItemCollectionSizeLimitExceededException"
                    | "CorruptItem"
                    | "Serialization"
                    | "InvalidRequest"
            )
        )
    }

    /// The AWS error code when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Throttled { code, .. } | AwsError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
        operation: &'static str,
        error: SdkError<E, Response>,
    ) -> Self {
        let status = error.raw_response().map(|r| r.status().as_u16());
        let code = error.code().unwrap_or_default().to_string();
        // AWS messages quote the caller's role ARN and account id: never keep them.
        let message = scrub_message(
            &error
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| with_causes(&error)),
        );
        match error {
            SdkError::TimeoutError(_) => AwsError::TimedOut { operation, message },
            SdkError::DispatchFailure(failure) if failure.is_timeout() => {
                AwsError::TimedOut { operation, message }
            }
            SdkError::DispatchFailure(_) => AwsError::Network { operation, message },
            _ if THROTTLING_CODES.contains(&code.as_str()) || status == Some(429) => {
                AwsError::Throttled { operation, code }
            }
            _ if ACCESS_CODES.contains(&code.as_str()) || status == Some(403) => {
                AwsError::AccessDenied { operation, message }
            }
            _ if status.is_some_and(|s| s >= 500) => AwsError::Unavailable {
                operation,
                status: status.unwrap_or(500),
            },
            _ => AwsError::Rejected {
                operation,
                code,
                message,
            },
        }
    }
}
