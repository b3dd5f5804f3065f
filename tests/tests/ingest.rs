//! The ingest function against the emulator: real SDK calls, real queues, real tables.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use pb_aws::executions::ExecutionStore;
use pb_aws::queue::QueueConsumer;
use pb_aws::rollups::RollupStore;
use pb_domain::execution::{ItemState, PluginRef};
use pb_domain::histogram::bucket_of;
use pb_domain::rollup::Facet;
use pb_ingest::{BatchSummary, Ingest};
use pb_tests::emulator::TestBed;
use pb_tests::events::{put_events, retarget, sample, samples_in, sqs_batch, EventCapture};
use pb_tests::faults::{Fault, FaultInjector};
use pb_tests::poller::Poller;
use pb_tests::resources::SourceBus;
use serde_json::{json, Value};

const ORG: &str = "acme";
const DAY: &str = "2026-11-20";
const RETRY_EXECUTION: &str = "e5c3a1f9-7b2d-4e60-8a4c-1d9f3b5e7a02";
const FAILED_EXECUTION: &str = "b7d40e52-8f1a-4c3b-a6e9-0d2c5f7a9e13";
/// 14:36:50.000 (pipeline SUCCEEDED) − 14:00:00.250 (start-time).
const RETRY_DURATION_MS: i64 = 2_209_750;
/// 11:06:33.000 (pipeline FAILED) − 11:02:10.456 (start-time).
const FAILED_DURATION_MS: i64 = 262_544;

/// A test bed whose every AWS client passes through `faults`.
async fn bed_with_faults(label: &str, faults: &FaultInjector) -> TestBed {
    TestBed::with_interceptors(
        label,
        &[SharedInterceptor::new(faults.clone())],
        SourceBus::Dedicated,
    )
    .await
    .unwrap()
}

struct Pipeline {
    name: String,
    id: String,
}

async fn registered_pipeline(bed: &TestBed, label: &str) -> Pipeline {
    let name = format!("{}-{label}", bed.prefix);
    let id = format!("pl-{label}-{}", bed.prefix);
    bed.create_pipeline(&name, Some(&id))
        .await
        .expect("pipeline created");
    bed.register(&id, ORG, &name)
        .await
        .expect("pipeline registered");
    Pipeline { name, id }
}

fn failed_execution_events(pipeline: &str) -> Vec<Value> {
    ["action-failed", "stage-failed", "pipeline-failed"]
        .iter()
        .map(|f| retarget(sample(&format!("eventbridge/{f}.json")).unwrap(), pipeline))
        .collect()
}

fn retry_events(pipeline: &str) -> Vec<Value> {
    samples_in("eventbridge/stage-retry")
        .unwrap()
        .into_iter()
        .map(|e| retarget(e, pipeline))
        .collect()
}

/// What the function quarantined so far (one receive is enough: tests quarantine a few records).
async fn dead_letters(bed: &TestBed) -> Vec<pb_aws::queue::ReceivedMessage> {
    QueueConsumer::new(bed.clients.sqs.clone(), &bed.stack.dead_letter_queue_url)
        .receive(10, 1, None)
        .await
        .unwrap()
}

fn record(id: &str, event: &Value) -> (String, String) {
    (id.to_string(), event.to_string())
}

fn bodies(events: &[Value], id_prefix: &str) -> Vec<(String, String)> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("{id_prefix}-{i}"), e.to_string()))
        .collect()
}

async fn deliver(ingest: &Ingest, records: &[(String, String)]) -> (Vec<String>, BatchSummary) {
    let mut failures = Vec::new();
    let mut total = BatchSummary::default();
    for chunk in records.chunks(10) {
        let batch = sqs_batch(chunk.iter().map(|(id, body)| (id.as_str(), body.clone())));
        let (response, summary) = ingest.handle(batch).await;
        failures.extend(
            response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier),
        );
        total.add(&summary);
    }
    (failures, total)
}

fn store(bed: &TestBed) -> ExecutionStore {
    ExecutionStore::new(bed.clients.dynamodb.clone(), &bed.stack.executions_table)
}

async fn items(bed: &TestBed, pipeline_id: &str, execution_id: &str) -> Vec<(String, ItemState)> {
    store(bed)
        .execution_items(pipeline_id, execution_id)
        .await
        .unwrap()
}

async fn rollup(bed: &TestBed, pipeline_id: &str) -> BTreeMap<String, i64> {
    store(bed).rollup(ORG, DAY, pipeline_id).await.unwrap()
}

fn counters(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn duration_bucket(ms: i64) -> String {
    format!("d#{}", bucket_of(ms))
}

/// A queue subscribed to everything the ingest function publishes on the platform bus.
async fn capture_platform_events(bed: &TestBed) -> EventCapture {
    EventCapture::subscribe(
        &bed.clients,
        &format!("{}-capture", bed.prefix),
        &bed.stack.event_bus_name,
        pb_aws::publisher::SOURCE,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn events_flow_from_eventbridge_through_the_queue_into_exact_items_and_rollups() {
    let bed = TestBed::new("e2e").await.unwrap();
    let pipeline = registered_pipeline(&bed, "payments").await;
    let published = capture_platform_events(&bed).await;
    let mut events = failed_execution_events(&pipeline.name);
    events.extend(retry_events(&pipeline.name));
    put_events(
        &bed.clients.eventbridge,
        &bed.stack.source_bus_name,
        &events,
    )
    .await
    .unwrap();

    let ingest = Ingest::new(&bed.clients, &bed.config);
    let poller = Poller::new(
        &ingest,
        QueueConsumer::new(bed.clients.sqs.clone(), &bed.stack.queue_url),
        1,
        None,
    );
    let mut total = BatchSummary::default();
    for _ in 0..30 {
        if total.received as usize >= events.len() {
            break;
        }
        total.add(&poller.poll_once().await.unwrap().summary);
    }
    assert_eq!(total.received, 16);
    assert_eq!(total.stored, 16);
    assert_eq!(
        total.unattributed, 5,
        "every action event of a pipeline without a stored definition"
    );

    let retry = items(&bed, &pipeline.id, RETRY_EXECUTION).await;
    let shape: Vec<(&str, Option<&str>, Option<u32>)> = retry
        .iter()
        .map(|(sk, item)| (sk.as_str(), item.status.as_deref(), item.attempt))
        .collect();
    let sk = |suffix: &str| format!("EXEC#{RETRY_EXECUTION}{suffix}");
    assert_eq!(
        shape,
        vec![
            (sk("").as_str(), Some("SUCCEEDED"), Some(2)),
            (
                sk("#ACTION#Deploy#Deploy#00001").as_str(),
                Some("FAILED"),
                Some(1)
            ),
            (
                sk("#ACTION#Deploy#Deploy#00002").as_str(),
                Some("SUCCEEDED"),
                Some(2)
            ),
            (sk("#STAGE#Deploy#00001").as_str(), Some("FAILED"), Some(1)),
            (
                sk("#STAGE#Deploy#00002").as_str(),
                Some("SUCCEEDED"),
                Some(2)
            ),
        ]
    );
    let execution = &retry[0].1;
    assert_eq!(execution.duration_ms, Some(RETRY_DURATION_MS));
    assert_eq!(execution.org_id, ORG);
    assert_eq!(
        execution.trigger.as_ref().and_then(|t| t.tag.as_deref()),
        Some("v2.14.0")
    );
    let failed_action = &retry[1].1;
    assert_eq!(
        failed_action.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("JobFailed")
    );
    assert_eq!(failed_action.duration_ms, Some(224_000));

    let failed = items(&bed, &pipeline.id, FAILED_EXECUTION).await;
    assert_eq!(failed[0].1.status.as_deref(), Some("FAILED"));
    assert_eq!(failed[0].1.duration_ms, Some(FAILED_DURATION_MS));
    let failure = failed[0].1.failure.as_ref().unwrap();
    assert_eq!(
        (failure.stage.as_str(), failure.action.as_deref()),
        ("Build", Some("UnitTests"))
    );
    let error = failed[1].1.error.as_ref().unwrap();
    assert_eq!(
        error.message.as_deref(),
        Some(
            "Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, Message: \
             Error while executing command: ./gradlew test. Reason: exit status 1. Build <arn> (account \
             <account>) last output: DB_PASSWORD=<redacted> psql: FATAL: password authentication failed \
             for user \"payments\""
        )
    );

    assert_eq!(
        rollup(&bed, &pipeline.id).await,
        counters(&[
            ("n#SUCCEEDED", 1),
            ("n#FAILED", 1),
            ("dn", 2),
            ("ds", RETRY_DURATION_MS + FAILED_DURATION_MS),
            (&duration_bucket(RETRY_DURATION_MS), 1),
            (&duration_bucket(FAILED_DURATION_MS), 1),
            ("st#Deploy", 2),
            ("sf#Deploy", 1),
            ("sdn#Deploy", 2),
            ("sds#Deploy", 226_000 + 329_000),
            (&format!("sd#{}#Deploy", bucket_of(226_000)), 1),
            (&format!("sd#{}#Deploy", bucket_of(329_000)), 1),
            ("at#Deploy/Deploy", 2),
            ("af#Deploy/Deploy", 1),
            ("adn#Deploy/Deploy", 2),
            ("ads#Deploy/Deploy", 224_000 + 326_000),
            (&format!("ad#{}#Deploy/Deploy", bucket_of(224_000)), 1),
            (&format!("ad#{}#Deploy/Deploy", bucket_of(326_000)), 1),
            ("ec#deploy", 1),
            ("st#Build", 1),
            ("sf#Build", 1),
            ("at#Build/UnitTests", 1),
            ("af#Build/UnitTests", 1),
            ("ec#test", 1),
            // The minutes the two executions started in: 11:02:10.456 and 14:00:00.250.
            ("m#1102", 1),
            ("m#1400", 1),
        ])
    );

    let completions = published.drain().await.unwrap();
    let summary: Vec<(String, String, String)> = {
        let mut s: Vec<_> = completions
            .iter()
            .map(|e| {
                let d = &e["detail"];
                (
                    d["executionId"].as_str().unwrap().to_string(),
                    d["status"].as_str().unwrap().to_string(),
                    e["detail-type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        s.sort();
        s
    };
    assert_eq!(
        summary,
        vec![
            (
                FAILED_EXECUTION.to_string(),
                "FAILED".to_string(),
                "Execution Completed".to_string()
            ),
            (
                RETRY_EXECUTION.to_string(),
                "FAILED".to_string(),
                "Execution Completed".to_string()
            ),
            (
                RETRY_EXECUTION.to_string(),
                "SUCCEEDED".to_string(),
                "Execution Completed".to_string()
            ),
        ]
    );
    let failed_completion = completions
        .iter()
        .find(|e| e["detail"]["executionId"] == FAILED_EXECUTION)
        .unwrap();
    assert_eq!(
        failed_completion["detail"],
        json!({
            "pipelineId": pipeline.id, "orgId": ORG, "executionId": FAILED_EXECUTION, "status": "FAILED",
            "attempt": 1, "durationMs": FAILED_DURATION_MS, "failedStage": "Build", "failedAction": "UnitTests",
            "errorCategory": "test", "outcomeKey": failed[0].1.order.clone().unwrap(),
        })
    );
    for completion in &completions {
        let text = completion["detail"].to_string();
        assert!(
            !text.contains("arn:aws") && !text.contains("123456789012"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn every_event_delivered_twice_leaves_the_counts_unchanged() {
    let bed = TestBed::new("dupes").await.unwrap();
    let pipeline = registered_pipeline(&bed, "payments").await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let mut events = failed_execution_events(&pipeline.name);
    events.extend(retry_events(&pipeline.name));
    let records = bodies(&events, "first");
    let (failures, first) = deliver(&ingest, &records).await;
    assert!(failures.is_empty());
    assert_eq!(first.stored, 16);
    let rollup_once = rollup(&bed, &pipeline.id).await;
    let items_once = items(&bed, &pipeline.id, RETRY_EXECUTION).await;

    let (failures, second) = deliver(&ingest, &bodies(&events, "again")).await;
    assert!(failures.is_empty());
    assert_eq!(
        (second.received, second.duplicate, second.stored),
        (16, 16, 0)
    );
    assert_eq!(rollup(&bed, &pipeline.id).await, rollup_once);
    assert_eq!(items(&bed, &pipeline.id, RETRY_EXECUTION).await, items_once);
    assert_eq!(rollup_once["n#SUCCEEDED"], 1);
    assert_eq!(rollup_once["n#FAILED"], 1);
}

#[tokio::test]
async fn a_poison_body_is_quarantined_with_its_reason_and_the_rest_is_stored() {
    let bed = TestBed::new("poison").await.unwrap();
    let pipeline = registered_pipeline(&bed, "payments").await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let malformed = sample("sqs/malformed-body.json").unwrap()["Records"][0]["body"]
        .as_str()
        .unwrap()
        .to_string();
    let events = failed_execution_events(&pipeline.name);
    let records = vec![
        record("ok-1", &events[0]),
        ("poison".to_string(), malformed.clone()),
        record("ok-2", &events[1]),
        (
            "wrong-source".to_string(),
            events[2]
                .to_string()
                .replace("aws.codepipeline", "aws.codebuild"),
        ),
    ];
    let (failures, summary) = deliver(&ingest, &records).await;
    assert!(
        failures.is_empty(),
        "quarantined records are acknowledged: {failures:?}"
    );
    assert_eq!((summary.stored, summary.quarantined), (2, 2));
    assert_eq!(items(&bed, &pipeline.id, FAILED_EXECUTION).await.len(), 3);

    let dead = dead_letters(&bed).await;
    let mut quarantined: Vec<(String, String, String)> = dead
        .iter()
        .map(|m| {
            (
                m.message_attributes["sourceMessageId"].clone(),
                m.message_attributes["reason"].clone(),
                m.body.clone(),
            )
        })
        .collect();
    quarantined.sort();
    assert_eq!(
        quarantined[0],
        ("poison".to_string(), "malformed".to_string(), malformed)
    );
    assert_eq!(quarantined[1].0, "wrong-source");
    assert_eq!(quarantined[1].1, "unexpected-source");
}

/// Two registered pipelines, one event each, with `fault` injected into every tag lookup of the
/// one labelled "faulty"; returns the batch's failures and counts and what each pipeline stored.
async fn tag_lookup_fault_for_one_of_two(
    label: &str,
    fault: Fault,
) -> (Vec<String>, BatchSummary, usize, [usize; 2]) {
    let faults = FaultInjector::new("ListTagsForResource", "-faulty", fault, None);
    let bed = bed_with_faults(label, &faults).await;
    let healthy = registered_pipeline(&bed, "healthy").await;
    let faulty = registered_pipeline(&bed, "faulty").await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let records = vec![
        record("healthy", &failed_execution_events(&healthy.name)[0]),
        record("faulty", &failed_execution_events(&faulty.name)[0]),
        record("faulty-again", &failed_execution_events(&faulty.name)[1]),
    ];
    let (failures, summary) = deliver(&ingest, &records).await;
    let stored = [
        items(&bed, &healthy.id, FAILED_EXECUTION).await.len(),
        items(&bed, &faulty.id, FAILED_EXECUTION).await.len(),
    ];
    (failures, summary, faults.injected(), stored)
}

#[tokio::test]
async fn a_throttled_tag_lookup_fails_only_its_own_record() {
    let (failures, summary, injected, stored) =
        tag_lookup_fault_for_one_of_two("throttle", Fault::Throttling).await;
    assert_eq!(
        failures,
        vec!["faulty".to_string(), "faulty-again".to_string()]
    );
    assert_eq!((summary.stored, summary.retried), (1, 2));
    assert_eq!(
        injected, 3,
        "throttling is retried by the SDK before the record is given back"
    );
    assert_eq!(stored, [2, 0]);
}

#[tokio::test]
async fn a_dynamodb_5xx_fails_only_its_record_and_the_redelivery_stores_it() {
    let faults = FaultInjector::new(
        "TransactWriteItems",
        FAILED_EXECUTION,
        Fault::ServiceUnavailable,
        None,
    );
    let bed = bed_with_faults("unavailable", &faults).await;
    let pipeline = registered_pipeline(&bed, "payments").await;
    let faulty = Ingest::new(&bed.clients, &bed.config);
    let records = vec![
        record("started", &retry_events(&pipeline.name)[0]),
        record("failed-action", &failed_execution_events(&pipeline.name)[0]),
    ];
    let (failures, _) = deliver(&faulty, &records).await;
    assert_eq!(failures, vec!["failed-action".to_string()]);
    assert!(faults.injected() >= 1);
    assert!(items(&bed, &pipeline.id, FAILED_EXECUTION).await.is_empty());
    assert_eq!(items(&bed, &pipeline.id, RETRY_EXECUTION).await.len(), 1);

    let healthy_clients = pb_aws::Clients::new(&bed.sdk_config, &[]);
    let healthy = Ingest::new(&healthy_clients, &bed.config);
    let (failures, summary) = deliver(&healthy, &records[1..]).await;
    assert!(failures.is_empty());
    assert_eq!(summary.stored, 1);
    assert_eq!(items(&bed, &pipeline.id, FAILED_EXECUTION).await.len(), 2);
}

#[tokio::test]
async fn a_failed_write_of_one_executions_events_gives_back_every_record_it_carried() {
    let faults = FaultInjector::new(
        "TransactWriteItems",
        FAILED_EXECUTION,
        Fault::ServiceUnavailable,
        None,
    );
    let bed = bed_with_faults("coalesced", &faults).await;
    let pipeline = registered_pipeline(&bed, "payments").await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let failed = failed_execution_events(&pipeline.name);
    let records = vec![
        record("retry-started", &retry_events(&pipeline.name)[0]),
        record("action-failed", &failed[0]),
        record("stage-failed", &failed[1]),
        record("pipeline-failed", &failed[2]),
    ];
    let (failures, summary) = deliver(&ingest, &records).await;
    assert_eq!(
        failures,
        ["action-failed", "stage-failed", "pipeline-failed"].map(String::from)
    );
    assert_eq!((summary.stored, summary.retried), (1, 3));
    assert!(items(&bed, &pipeline.id, FAILED_EXECUTION).await.is_empty());
    assert_eq!(
        faults.injected(),
        3,
        "one write for the three events, tried three times by the SDK, not one write per event"
    );
}

#[tokio::test]
async fn untagged_and_unregistered_pipelines_are_acknowledged_and_counted() {
    let mut bed = TestBed::new("strangers").await.unwrap();
    let untagged = format!("{}-untagged", bed.prefix);
    bed.create_pipeline(&untagged, None).await.unwrap();
    let unregistered = format!("{}-unregistered", bed.prefix);
    let unregistered_id = format!("pl-unregistered-{}", bed.prefix);
    bed.create_pipeline(&unregistered, Some(&unregistered_id))
        .await
        .unwrap();
    let records = vec![
        (
            "untagged".to_string(),
            retarget(
                sample("eventbridge/untagged-pipeline.json").unwrap(),
                &untagged,
            )
            .to_string(),
        ),
        record("unregistered", &retry_events(&unregistered)[0]),
    ];
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let (failures, summary) = deliver(&ingest, &records).await;
    assert!(failures.is_empty());
    assert_eq!(
        (summary.untagged, summary.unregistered, summary.stored),
        (1, 1, 0)
    );
    assert!(items(&bed, &unregistered_id, RETRY_EXECUTION)
        .await
        .is_empty());

    bed.config.quarantine_unregistered = true;
    let quarantining = Ingest::new(&bed.clients, &bed.config);
    let (failures, summary) = deliver(&quarantining, &records[1..]).await;
    assert!(failures.is_empty());
    assert_eq!(summary.quarantined, 1);
    let dead = dead_letters(&bed).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_attributes["reason"], "unregistered");
}

#[tokio::test]
async fn an_unknown_state_is_stored_verbatim_and_not_counted() {
    let bed = TestBed::new("unknown").await.unwrap();
    let pipeline = registered_pipeline(&bed, "payments").await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let event = retarget(
        sample("eventbridge/unknown-state.json").unwrap(),
        &pipeline.name,
    );
    let execution_id = event["detail"]["execution-id"]
        .as_str()
        .unwrap()
        .to_string();
    let (failures, summary) = deliver(&ingest, &[record("unknown", &event)]).await;
    assert!(failures.is_empty());
    assert_eq!(summary.stored, 1);
    let stored = items(&bed, &pipeline.id, &execution_id).await;
    assert_eq!(stored[0].1.status.as_deref(), Some("PAUSED_FOR_REVIEW"));
    assert!(rollup(&bed, &pipeline.id).await.is_empty());
}

#[tokio::test]
async fn an_oversized_error_message_is_scrubbed_and_capped() {
    let bed = TestBed::new("oversized").await.unwrap();
    let pipeline = registered_pipeline(&bed, "payments").await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let mut event = failed_execution_events(&pipeline.name).remove(0);
    let log = "AccessDenied: arn:aws:iam::123456789012:role/deployer; ".repeat(2_000);
    event["detail"]["execution-result"]["external-execution-summary"] = Value::from(log);
    assert!(event.to_string().len() > 90_000);
    let (failures, summary) = deliver(&ingest, &[record("big", &event)]).await;
    assert!(failures.is_empty());
    assert_eq!(summary.stored, 1);
    let action = &items(&bed, &pipeline.id, FAILED_EXECUTION).await[1].1;
    let error = action.error.as_ref().unwrap();
    let message = error.message.as_deref().unwrap();
    assert_eq!(
        message.chars().count(),
        pb_domain::scrub::MAX_MESSAGE_CHARS + 1
    );
    assert!(message.starts_with("AccessDenied: <arn>; AccessDenied: <arn>;"));
    assert!(!message.contains("123456789012"));
    assert_eq!(
        error.category,
        pb_domain::errors::ErrorCategory::Permissions
    );
}

#[tokio::test]
async fn the_poll_loop_redelivers_a_failed_record_and_deletes_a_succeeded_one_once() {
    let faults = FaultInjector::new(
        "TransactWriteItems",
        FAILED_EXECUTION,
        Fault::Throttling,
        Some(3),
    );
    let bed = bed_with_faults("poller", &faults).await;
    let pipeline = registered_pipeline(&bed, "payments").await;
    let events = vec![
        retry_events(&pipeline.name)[0].clone(),
        failed_execution_events(&pipeline.name)[0].clone(),
    ];
    put_events(
        &bed.clients.eventbridge,
        &bed.stack.source_bus_name,
        &events,
    )
    .await
    .unwrap();
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let consumer = QueueConsumer::new(bed.clients.sqs.clone(), &bed.stack.queue_url);
    let poller = Poller::new(&ingest, consumer, 1, Some(2));

    let first = poller.poll_once().await.unwrap();
    assert_eq!(
        (first.received, first.deleted, first.left_for_redelivery),
        (2, 1, 1)
    );
    assert_eq!(
        faults.injected(),
        3,
        "the SDK's own retries were exhausted first"
    );
    assert!(items(&bed, &pipeline.id, FAILED_EXECUTION).await.is_empty());

    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let mut redelivered = poller.poll_once().await.unwrap();
    if redelivered.received == 0 {
        redelivered = poller.poll_once().await.unwrap();
    }
    assert_eq!((redelivered.received, redelivered.deleted), (1, 1));
    assert_eq!(redelivered.summary.stored, 1);
    assert_eq!(items(&bed, &pipeline.id, FAILED_EXECUTION).await.len(), 2);

    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let after = poller.poll_once().await.unwrap();
    assert_eq!(after.received, 0, "deleted records never come back");
}

#[tokio::test]
async fn a_missing_permission_is_retried_not_dropped() {
    let (failures, summary, injected, stored) =
        tag_lookup_fault_for_one_of_two("permissions", Fault::AccessDenied).await;
    assert_eq!(
        failures,
        vec!["faulty".to_string(), "faulty-again".to_string()],
        "fixing the role must let SQS redeliver them"
    );
    assert_eq!(
        (summary.retried, summary.stored, summary.untagged),
        (2, 1, 0)
    );
    assert_eq!(injected, 1, "access denied is not retried by the SDK");
    assert_eq!(stored, [2, 0]);
}

#[tokio::test]
async fn a_dead_letter_queue_that_refuses_the_poison_record_leaves_it_for_redelivery() {
    let faults = FaultInjector::new("SendMessage", "not json", Fault::AccessDenied, None);
    let bed = bed_with_faults("dlq-denied", &faults).await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let (failures, summary) = deliver(
        &ingest,
        &[("poison".to_string(), "not json at all".to_string())],
    )
    .await;
    assert_eq!(failures, vec!["poison".to_string()]);
    assert_eq!((summary.retried, summary.quarantined), (1, 0));
}

#[tokio::test]
async fn an_oversized_body_is_quarantined_truncated_and_acknowledged() {
    let bed = TestBed::new("oversized-body").await.unwrap();
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let body = format!("{{\"padding\": \"{}\"}}", "x".repeat(300 * 1024));
    let (failures, summary) = deliver(&ingest, &[("huge".to_string(), body.clone())]).await;
    assert!(failures.is_empty());
    assert_eq!(summary.quarantined, 1);
    let dead = dead_letters(&bed).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_attributes["reason"], "oversized");
    assert_eq!(dead[0].message_attributes["truncated"], "true");
    assert_eq!(dead[0].message_attributes["sourceMessageId"], "huge");
    assert!(body.starts_with(&dead[0].body) && dead[0].body.len() == 250 * 1024);
}

#[tokio::test]
async fn a_registry_entry_without_an_org_quarantines_instead_of_dropping() {
    let bed = TestBed::new("broken-registry").await.unwrap();
    let name = format!("{}-payments", bed.prefix);
    let id = format!("pl-broken-{}", bed.prefix);
    bed.create_pipeline(&name, Some(&id)).await.unwrap();
    bed.clients
        .dynamodb
        .put_item()
        .table_name(&bed.stack.catalog_table)
        .item(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("REG#{id}")),
        )
        .item(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("REG".into()),
        )
        .item(
            "stackName",
            aws_sdk_dynamodb::types::AttributeValue::S("stack".into()),
        )
        .send()
        .await
        .unwrap();
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let record = record("broken", &failed_execution_events(&name)[0]);
    let (failures, summary) = deliver(&ingest, &[record]).await;
    assert!(failures.is_empty());
    assert_eq!((summary.quarantined, summary.unregistered), (1, 0));
    let dead = dead_letters(&bed).await;
    assert_eq!(dead[0].message_attributes["reason"], "rejected");
    assert!(dead[0].message_attributes["detail"].contains("has no orgId"));
}

fn plugin_counters(rollup: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    rollup
        .iter()
        .filter(|(name, _)| name.starts_with('p'))
        .map(|(name, value)| (name.clone(), *value))
        .collect()
}

#[tokio::test]
async fn actions_count_for_the_plugin_version_their_step_is_pinned_to() {
    let bed = TestBed::new("attribution").await.unwrap();
    let defined = registered_pipeline(&bed, "defined").await;
    bed.store_definition(&defined.id, &defined.name, ORG)
        .await
        .unwrap();
    let undefined = registered_pipeline(&bed, "undefined").await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let mut records = bodies(&retry_events(&defined.name), "defined");
    records.extend(bodies(
        &failed_execution_events(&undefined.name),
        "undefined",
    ));
    let (failures, summary) = deliver(&ingest, &records).await;
    assert!(failures.is_empty());
    assert_eq!((summary.stored, summary.unattributed), (16, 1));

    let bucket = |ms: i64| format!("pd#{}#cfn-deploy@1.1.0", bucket_of(ms));
    assert_eq!(
        plugin_counters(&rollup(&bed, &defined.id).await),
        counters(&[
            ("pt#cfn-deploy@1.1.0", 2),
            ("ps#cfn-deploy@1.1.0", 1),
            ("pf#cfn-deploy@1.1.0", 1),
            ("pec#deploy#cfn-deploy@1.1.0", 1),
            ("pdn#cfn-deploy@1.1.0", 2),
            ("pds#cfn-deploy@1.1.0", 224_000 + 326_000),
            (&bucket(224_000), 1),
            (&bucket(326_000), 1),
        ])
    );
    assert!(plugin_counters(&rollup(&bed, &undefined.id).await).is_empty());
    let cfn_deploy = Some(PluginRef {
        name: "cfn-deploy".into(),
        version: "1.1.0".into(),
    });
    let attributed: Vec<(String, Option<PluginRef>)> = items(&bed, &defined.id, RETRY_EXECUTION)
        .await
        .into_iter()
        .filter(|(sk, _)| sk.contains("#ACTION#"))
        .map(|(sk, item)| (sk, item.plugin))
        .collect();
    assert_eq!(
        attributed,
        vec![
            (
                format!("EXEC#{RETRY_EXECUTION}#ACTION#Deploy#Deploy#00001"),
                cfn_deploy.clone()
            ),
            (
                format!("EXEC#{RETRY_EXECUTION}#ACTION#Deploy#Deploy#00002"),
                cfn_deploy
            ),
        ]
    );

    let (_, again) = deliver(&ingest, &records).await;
    assert_eq!((again.duplicate, again.stored), (16, 0));
    assert_eq!(
        plugin_counters(&rollup(&bed, &defined.id).await)["pt#cfn-deploy@1.1.0"],
        2
    );
}

#[tokio::test]
async fn a_counted_failure_leaves_its_scrubbed_message_and_action_category_on_the_rollup() {
    let bed = TestBed::new("samples").await.unwrap();
    let pipeline = registered_pipeline(&bed, "payments").await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let (failures, _) = deliver(
        &ingest,
        &bodies(&failed_execution_events(&pipeline.name), "f"),
    )
    .await;
    assert!(failures.is_empty());
    let rollups = RollupStore::new(bed.clients.dynamodb.clone(), &bed.stack.executions_table)
        .read(ORG, &[DAY.to_string()], &Facet::ALL)
        .await
        .unwrap();
    assert_eq!(rollups.len(), 1);
    assert_eq!(rollups[0].pipeline_id, pipeline.id);
    let sample = &rollups[0].samples["test"];
    assert_eq!(sample.action, "Build/UnitTests");
    assert_eq!(sample.at, 1_795_172_791_000, "2026-11-20T11:06:31Z");
    assert!(sample.message.contains("DB_PASSWORD=<redacted>"));
    assert!(!sample.message.contains("123456789012"));
    assert_eq!(
        rollups[0].action_categories["Build/UnitTests"],
        "Test".to_string()
    );
    assert_eq!(rollups[0].counters["ec#test"], 1);

    let store = RollupStore::new(bed.clients.dynamodb.clone(), &bed.stack.executions_table);
    let actions_only = store
        .read(ORG, &[DAY.to_string()], &[Facet::Actions])
        .await
        .unwrap();
    let names: Vec<&str> = actions_only[0]
        .counters
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        ["af#Build/UnitTests", "at#Build/UnitTests", "ec#test"],
        "other counts, durations and start minutes live in their own facet items"
    );
    assert_eq!(actions_only[0].samples.len(), 1);
    let executions_only = store
        .read(ORG, &[DAY.to_string()], &[Facet::Executions])
        .await
        .unwrap();
    assert_eq!(executions_only[0].counters, counters(&[("n#FAILED", 1)]));
}

#[tokio::test]
async fn a_definition_stored_after_the_first_events_attributes_the_later_ones() {
    let mut bed = TestBed::new("late-definition").await.unwrap();
    bed.config.negative_cache_ttl = Duration::ZERO;
    let pipeline = registered_pipeline(&bed, "payments").await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let events = retry_events(&pipeline.name);
    let (_, before) = deliver(&ingest, &bodies(&events[..3], "before")).await;
    assert_eq!(before.unattributed, 1, "the action STARTED event");
    bed.store_definition(&pipeline.id, &pipeline.name, ORG)
        .await
        .unwrap();
    let (_, after) = deliver(&ingest, &bodies(&events[3..], "after")).await;
    assert_eq!(after.unattributed, 0);
    let plugins = plugin_counters(&rollup(&bed, &pipeline.id).await);
    assert_eq!(plugins["pt#cfn-deploy@1.1.0"], 2);
    assert_eq!(plugins["pf#cfn-deploy@1.1.0"], 1);
}

#[tokio::test]
async fn an_unreadable_definition_leaves_the_events_counted_but_unattributed() {
    let bed = TestBed::new("corrupt-definition").await.unwrap();
    let pipeline = registered_pipeline(&bed, "payments").await;
    bed.clients
        .dynamodb
        .put_item()
        .table_name(&bed.stack.catalog_table)
        .item(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ORG#{ORG}")),
        )
        .item(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("PIPELINE#{}", pipeline.id)),
        )
        .item(
            "pinned",
            aws_sdk_dynamodb::types::AttributeValue::S("not a list".into()),
        )
        .send()
        .await
        .unwrap();
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let (failures, summary) = deliver(
        &ingest,
        &bodies(&failed_execution_events(&pipeline.name), "f"),
    )
    .await;
    assert!(failures.is_empty());
    assert_eq!(
        (summary.stored, summary.quarantined, summary.unattributed),
        (3, 0, 1)
    );
    assert_eq!(rollup(&bed, &pipeline.id).await["af#Build/UnitTests"], 1);
}

#[tokio::test]
async fn a_pipeline_tagged_with_another_orgs_id_never_reaches_that_orgs_executions_or_rollups() {
    let mut bed = TestBed::new("borrowed-id").await.unwrap();
    let victim = registered_pipeline(&bed, "victim").await;
    // Another org's CodePipeline, tagged with acme's pipeline id.
    let attacker = format!("{}-attacker", bed.prefix);
    bed.create_pipeline(&attacker, Some(&victim.id))
        .await
        .unwrap();
    let forged = bodies(&failed_execution_events(&attacker), "forged");

    let ingest = Ingest::new(&bed.clients, &bed.config);
    let (failures, summary) = deliver(&ingest, &forged).await;

    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!((summary.mismatched, summary.stored), (3, 0));
    assert!(items(&bed, &victim.id, FAILED_EXECUTION).await.is_empty());
    assert!(rollup(&bed, &victim.id).await.is_empty());

    bed.config.quarantine_unregistered = true;
    let quarantining = Ingest::new(&bed.clients, &bed.config);
    let (failures, summary) = deliver(&quarantining, &forged[..1]).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!((summary.quarantined, summary.stored), (1, 0));
    let dead = dead_letters(&bed).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_attributes["reason"], "mismatched");

    // The registered pipeline itself is still recorded under the same id.
    let (failures, summary) = deliver(
        &ingest,
        &bodies(&failed_execution_events(&victim.name), "own"),
    )
    .await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!((summary.stored, summary.mismatched), (3, 0));
    assert_eq!(items(&bed, &victim.id, FAILED_EXECUTION).await.len(), 3);
    assert_eq!(rollup(&bed, &victim.id).await["n#FAILED"], 1);
}

#[tokio::test]
async fn a_manual_approval_that_starts_waiting_is_announced_once_and_a_decided_one_never() {
    let bed = TestBed::new("approval-waiting").await.unwrap();
    let pipeline = registered_pipeline(&bed, "approvals").await;
    let published = capture_platform_events(&bed).await;
    let ingest = Ingest::new(&bed.clients, &bed.config);
    let started = retarget(
        sample("eventbridge/manual-approval/action-started.json").unwrap(),
        &pipeline.name,
    );
    let succeeded = retarget(
        sample("eventbridge/manual-approval/action-succeeded.json").unwrap(),
        &pipeline.name,
    );
    let (failures, _) = deliver(
        &ingest,
        &[record("start", &started), record("again", &started)],
    )
    .await;
    assert!(failures.is_empty(), "{failures:?}");
    let waiting: Vec<Value> = published
        .drain()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e["detail-type"] == "Approval Waiting")
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(
        waiting[0]["detail"],
        json!({
            "orgId": ORG, "pipelineId": pipeline.id,
            "executionId": "3f6b1c9e-2d4a-4e8b-9c71-5a0e8d2f4b61",
            "stage": "Approve", "action": "ApproveRelease", "attempt": 1,
            "approvalId": "3f6b1c9e-2d4a-4e8b-9c71-5a0e8d2f4b61/Approve/ApproveRelease/1"
        })
    );

    // Decided before its start arrived (out of order): nothing is waiting.
    let late = TestBed::new("approval-decided").await.unwrap();
    let other = registered_pipeline(&late, "decided").await;
    let published = capture_platform_events(&late).await;
    let ingest = Ingest::new(&late.clients, &late.config);
    let (failures, _) = deliver(
        &ingest,
        &[
            record("decided", &retarget(succeeded.clone(), &other.name)),
            record("started", &retarget(started.clone(), &other.name)),
        ],
    )
    .await;
    assert!(failures.is_empty(), "{failures:?}");
    let announced = published.drain().await.unwrap();
    assert!(
        announced
            .iter()
            .all(|e| e["detail-type"] != "Approval Waiting"),
        "{announced:?}"
    );
}
