//! Conditional writes: a failed condition is an answer (the item is absent, or not in the state
//! the write needs), not an error.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;

use crate::attributes::Item;
use crate::AwsError;

/// Whether a conditional `PutItem`, `DeleteItem` or `UpdateItem` took effect: `false` when its
/// condition failed; any other failure is classified under `operation`.
pub fn written<O, E>(
    operation: &'static str,
    result: Result<O, SdkError<E, Response>>,
) -> Result<bool, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if condition_failed(&error) => Ok(false),
        Err(error) => Err(AwsError::classify(operation, error)),
    }
}

/// The item as a conditional `UpdateItem` (with `ReturnValue::AllNew`) left it, decoded; `None`
/// when the condition failed.
pub fn updated_unless_condition_failed<T>(
    result: Result<UpdateItemOutput, SdkError<UpdateItemError, Response>>,
    decode: impl FnOnce(&Item) -> Result<T, AwsError>,
) -> Result<Option<T>, AwsError> {
    match result {
        Ok(output) => output.attributes.as_ref().map(decode).transpose(),
        Err(error) if condition_failed(&error) => Ok(None),
        Err(error) => Err(AwsError::classify("UpdateItem", error)),
    }
}

fn condition_failed<E: ProvideErrorMetadata>(error: &SdkError<E, Response>) -> bool {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}
