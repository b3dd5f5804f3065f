//! The sample events under `events/`, retargeted at a test's own pipeline, and their delivery
//! through EventBridge `PutEvents` (as CodePipeline would) or straight into an SQS batch; and the
//! capture of what the functions publish.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use pb_aws::executions::ExecutionStore;
use pb_aws::queue::QueueConsumer;
use pb_aws::Clients;
use pb_domain::event::ExecutionEvent;
use pb_domain::execution::{level_item, plan_group, Context as ExecutionContext};
use serde_json::{json, Value};

use crate::emulator::{ACCOUNT_ID, REGION};
use crate::resources::{queue_arn, route_to_queue};

pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// Reads a sample event, e.g. `eventbridge/stage-retry/01-pipeline-started.json`.
pub fn sample(relative: &str) -> anyhow::Result<Value> {
    let path = events_dir().join(relative);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Every sample event in a folder of `events/`, in file-name order.
pub fn samples_in(folder: &str) -> anyhow::Result<Vec<Value>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(events_dir().join(folder))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| sample(&p.strip_prefix(events_dir())?.to_string_lossy()))
        .collect()
}

/// Points a sample event at another pipeline (and so at another ARN).
pub fn retarget(mut event: Value, pipeline_name: &str) -> Value {
    event["detail"]["pipeline"] = Value::from(pipeline_name);
    event["resources"] = serde_json::json!([format!(
        "arn:aws:codepipeline:{REGION}:{ACCOUNT_ID}:{pipeline_name}"
    )]);
    event
}

/// Wraps event bodies into an SQS batch as Lambda would deliver it.
pub fn sqs_batch<'a>(bodies: impl IntoIterator<Item = (&'a str, String)>) -> SqsEvent {
    let mut batch = SqsEvent::default();
    batch.records = bodies
        .into_iter()
        .map(|(id, body)| {
            let mut record = SqsMessage::default();
            record.message_id = Some(id.to_string());
            record.body = Some(body);
            record.event_source = Some("aws:sqs".into());
            record
        })
        .collect();
    batch
}

/// Puts events on a bus the way CodePipeline does; EventBridge assigns new ids on delivery.
pub async fn put_events(
    client: &aws_sdk_eventbridge::Client,
    bus_name: &str,
    events: &[Value],
) -> anyhow::Result<()> {
    for chunk in events.chunks(10) {
        let entries = chunk
            .iter()
            .map(|event| {
                let time = event["time"].as_str().and_then(|t| {
                    DateTime::from_str(t, aws_sdk_eventbridge::primitives::DateTimeFormat::DateTime)
                        .ok()
                });
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus_name)
                    .source(event["source"].as_str().unwrap_or_default())
                    .detail_type(event["detail-type"].as_str().unwrap_or_default())
                    .detail(event["detail"].to_string())
                    .set_resources(event["resources"].as_array().map(|r| {
                        r.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    }))
                    .set_time(time)
                    .build()
            })
            .collect();
        let output = client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .context("PutEvents")?;
        anyhow::ensure!(
            output.failed_entry_count == 0,
            "PutEvents rejected entries: {output:?}"
        );
    }
    Ok(())
}

/// A queue subscribed to every event from one source on one bus: what a function published there.
pub struct EventCapture {
    queue: QueueConsumer,
}

impl EventCapture {
    /// Creates the queue and the rule, both called `name`; events published before are not seen.
    pub async fn subscribe(
        clients: &Clients,
        name: &str,
        bus_name: &str,
        source: &str,
    ) -> anyhow::Result<Self> {
        let url = clients
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .context("CreateQueue")?
            .queue_url
            .unwrap_or_default();
        let arn = queue_arn(&clients.sqs, &url).await?;
        let pattern = json!({ "source": [source] });
        route_to_queue(&clients.eventbridge, name, bus_name, &pattern, &arn).await?;
        Ok(EventCapture {
            queue: QueueConsumer::new(clients.sqs.clone(), url),
        })
    }

    /// The events captured since the last call, in the order SQS returned them.
    pub async fn drain(&self) -> anyhow::Result<Vec<Value>> {
        let mut events = Vec::new();
        loop {
            let messages = self.queue.receive(10, 1, None).await?;
            if messages.is_empty() {
                return Ok(events);
            }
            self.queue
                .delete(&messages.iter().collect::<Vec<_>>())
                .await?;
            for message in &messages {
                events.push(
                    serde_json::from_str(&message.body).context("a captured event is not JSON")?,
                );
            }
        }
    }
}

/// Loads, plans and commits one parsed event as the ingest does, without its tag, registry and
/// definition lookups (the caller's `context` stands for them).
pub async fn store_as_ingested(
    store: &ExecutionStore,
    context: ExecutionContext<'_>,
    event: &ExecutionEvent,
) -> anyhow::Result<()> {
    let read = store
        .load(
            context.pipeline_id,
            &event.execution_id,
            level_item(event),
            false,
        )
        .await?;
    let planned = plan_group(&[(context, event)], &read);
    store.commit(&planned, &read).await?;
    Ok(())
}
