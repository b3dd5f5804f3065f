//! TransactWriteItems idioms every store shares.

use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use crate::AwsError;

/// Which writes of a canceled transaction failed their condition, by their position in it; all
/// `false` for any other error (the caller classifies that one).
pub fn failed_conditions<const N: usize>(error: Option<&TransactWriteItemsError>) -> [bool; N] {
    let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) = error else {
        return [false; N];
    };
    std::array::from_fn(|index| {
        canceled
            .cancellation_reasons()
            .get(index)
            .is_some_and(|reason| reason.code() == Some("ConditionalCheckFailed"))
    })
}

/// A transaction item that could not be built is a request AWS would reject: never retried.
pub fn invalid_transaction(error: BuildError) -> AwsError {
    AwsError::local("TransactWriteItems", "InvalidRequest", error)
}
