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

    pub async fn execution_completed(&self, completion: &Completion) -> Result<(), AwsError> {
        let detail = serde_json::to_string(completion)
            .map_err(|e| AwsError::local("PutEvents", "Serialization", e))?;
        put_event(
            &self.client,
            &self.bus_name,
            SOURCE,
            EXECUTION_COMPLETED,
            detail,
        )
        .await
    }

    pub async fn approval_waiting(&self, approval: &ApprovalWaiting) -> Result<(), AwsError> {
        let detail = serde_json::to_string(approval)
            .map_err(|e| AwsError::local("PutEvents", "Serialization", e))?;
        put_event(
            &self.client,
            &self.bus_name,
            SOURCE,
            APPROVAL_WAITING,
            detail,
        )
        .await
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
    match output.entries().first() {
        Some(result) if result.error_code().is_some() => Err(AwsError::Rejected {
            operation: "PutEvents",
            code: result.error_code().unwrap_or_default().to_string(),
            message: result.error_message().unwrap_or_default().to_string(),
        }),
        _ if output.failed_entry_count > 0 => Err(AwsError::Rejected {
            operation: "PutEvents",
            code: "FailedEntry".into(),
            message: "the event bus did not accept the entry".into(),
        }),
        _ => Ok(()),
    }
}
