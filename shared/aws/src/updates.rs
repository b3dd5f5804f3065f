//! UpdateItem idioms every store shares.

use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;

use crate::attributes::Item;
use crate::AwsError;

/// The item as a conditional `UpdateItem` (with `ReturnValue::AllNew`) left it, decoded; `None`
/// when the condition failed, i.e. the item is absent or not in the state the update needs.
pub fn updated_unless_condition_failed<T>(
    result: Result<UpdateItemOutput, SdkError<UpdateItemError, Response>>,
    decode: impl FnOnce(&Item) -> Result<T, AwsError>,
) -> Result<Option<T>, AwsError> {
    match result {
        Ok(output) => output.attributes.as_ref().map(decode).transpose(),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(None)
        }
        Err(error) => Err(AwsError::classify("UpdateItem", error)),
    }
}
