//! Publishes normalized platform events to the platform event bus.

use pb_domain::execution::{ApprovalWaiting, Completion};

use crate::AwsError;

pub const SOURCE: &str = "pipeline-builder.ingest";
pub const EXECUTION_COMPLETED: &str = "Execution Completed";
pub const APPROVAL_WAITING: &str = "Approval Waiting";

#[derive(Debug, Clone)]
pub struct Publisher {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl Publisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        Publisher {
            client,
            bus_name: bus_name.into(),
        }
    }

    /// Publishes completions in as few `PutEvents` calls as the API allows (10 entries each);
    /// one result per completion, in order, so the records behind a refused entry can be retried.
    pub async fn executions_completed(
        &self,
        completions: &[Completion],
    ) -> Vec<Result<(), AwsError>> {
        let mut results = Vec::with_capacity(completions.len());
        for chunk in completions.chunks(PUT_EVENTS_ENTRIES) {
            results.extend(self.put_chunk(EXECUTION_COMPLETED, chunk).await);
        }
        results
    }

    /// Announces approvals that started waiting; all or nothing, since the records that carried
    /// them are retried together and receivers dedupe on the approval id.
    pub async fn approvals_waiting(&self, approvals: &[ApprovalWaiting]) -> Result<(), AwsError> {
        for chunk in approvals.chunks(PUT_EVENTS_ENTRIES) {
            for result in self.put_chunk(APPROVAL_WAITING, chunk).await {
                result?;
            }
        }
        Ok(())
    }

    async fn put_chunk<T: serde::Serialize>(
        &self,
        detail_type: &str,
        details: &[T],
    ) -> Vec<Result<(), AwsError>> {
        let mut entries = Vec::with_capacity(details.len());
        for detail in details {
            match serde_json::to_string(detail) {
                Ok(detail) => entries.push(
                    aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(SOURCE)
                        .detail_type(detail_type)
                        .detail(detail)
                        .build(),
                ),
                Err(e) => {
                    let error = AwsError::local("PutEvents", "Serialization", e);
                    return details.iter().map(|_| Err(error.clone())).collect();
                }
            }
        }
        let output = match self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                let error = AwsError::classify("PutEvents", e);
                return details.iter().map(|_| Err(error.clone())).collect();
            }
        };
        (0..details.len())
            .map(|i| entry_result(output.entries().get(i), output.failed_entry_count))
            .collect()
    }
}

/// PutEvents' limit on entries per call.
const PUT_EVENTS_ENTRIES: usize = 10;

/// An entry the bus refused is an error, not a silent success; so is a missing result when the
/// call reports failed entries.
fn entry_result(
    entry: Option<&aws_sdk_eventbridge::types::PutEventsResultEntry>,
    failed_entry_count: i32,
) -> Result<(), AwsError> {
    match entry {
        Some(result) if result.error_code().is_some() => Err(AwsError::Rejected {
            operation: "PutEvents",
            code: result.error_code().unwrap_or_default().to_string(),
            message: result.error_message().unwrap_or_default().to_string(),
        }),
        None if failed_entry_count > 0 => Err(AwsError::Rejected {
            operation: "PutEvents",
            code: "FailedEntry".into(),
            message: "the event bus did not accept the entry".into(),
        }),
        _ => Ok(()),
    }
}

/// Puts one event on `bus_name`; an entry the bus refuses is an error, not a silent success.
pub async fn put_event(
    client: &aws_sdk_eventbridge::Client,
    bus_name: &str,
    source: &str,
    detail_type: &str,
    detail: String,
) -> Result<(), AwsError> {
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus_name)
        .source(source)
        .detail_type(detail_type)
        .detail(detail)
        .build();
    let output = client
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| AwsError::classify("PutEvents", e))?;
    entry_result(output.entries().first(), output.failed_entry_count)
}
