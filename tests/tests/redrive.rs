//! The dead-letter re-drive against the emulator: records quarantined by the real ingest handler,
//! moved back to the ingest queue by reason and only once, and the `redrive` binary as an
//! operator runs it, with the queues from a stack's outputs.

use std::process::Output;

use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use pb_aws::queue::{QueueConsumer, ReceivedMessage, REASON_ATTRIBUTE};
use pb_aws::Clients;
use pb_ingest::redrive::{
    QueueUrls, Redrive, RedriveReport, Selection, DEAD_LETTER_QUEUE_OUTPUT, RETRIES_EXHAUSTED,
    SOURCE_QUEUE_OUTPUT,
};
use pb_ingest::{BatchSummary, Ingest};
use pb_tests::emulator::TestBed;
use pb_tests::events::{retarget, sample, sqs_batch};
use pb_tests::faults::{Fault, FaultInjector};
use pb_tests::poller::Poller;
use pb_tests::{describe, output_of, workspace_binary};
use serde_json::{json, Value};

const ORG: &str = "acme";

/// A test bed whose ingest quarantined three events of an unregistered pipeline and one
/// malformed body, and stored the event of a registered one.
struct Quarantine {
    bed: TestBed,
    /// The CodePipeline not registered yet, and the id its tag carries.
    unregistered: String,
    unregistered_id: String,
    events: Vec<Value>,
}

impl Quarantine {
    async fn new(label: &str) -> Self {
        let mut bed = TestBed::new(label).await.unwrap();
        bed.config.quarantine_unregistered = true;
        let registered = format!("{}-payments", bed.prefix);
        let registered_id = format!("pl-payments-{}", bed.prefix);
        bed.create_pipeline(&registered, Some(&registered_id))
            .await
            .unwrap();
        bed.register(&registered_id, ORG, &registered)
            .await
            .unwrap();
        let unregistered = format!("{}-ledger", bed.prefix);
        let unregistered_id = format!("pl-ledger-{}", bed.prefix);
        bed.create_pipeline(&unregistered, Some(&unregistered_id))
            .await
            .unwrap();
        let events: Vec<Value> = ["action-failed", "stage-failed", "pipeline-failed"]
            .iter()
            .map(|f| {
                retarget(
                    sample(&format!("eventbridge/{f}.json")).unwrap(),
                    &unregistered,
                )
            })
            .collect();
        let mut records: Vec<(String, String)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (format!("ledger-{i}"), e.to_string()))
            .collect();
        records.push(("poison".into(), "{not json".into()));
        let stored = retarget(
            sample("eventbridge/pipeline-started.json").unwrap(),
            &registered,
        );
        records.push(("payments".into(), stored.to_string()));
        let (_, summary) = Ingest::new(&bed.clients, &bed.config)
            .handle(sqs_batch(
                records.iter().map(|(id, b)| (id.as_str(), b.clone())),
            ))
            .await;
        assert_eq!((summary.quarantined, summary.stored), (4, 1));
        Quarantine {
            bed,
            unregistered,
            unregistered_id,
            events,
        }
    }

    fn queues(&self) -> QueueUrls {
        QueueUrls {
            source: self.bed.stack.queue_url.clone(),
            dead_letter: self.bed.stack.dead_letter_queue_url.clone(),
        }
    }

    fn redrive(&self) -> Redrive {
        Redrive::new(&self.bed.clients, &self.queues())
    }

    /// (reason, body) of every record in the dead-letter queue, sorted; nothing is hidden.
    async fn dead_letters(&self) -> Vec<(String, String)> {
        reasons_and_bodies(&peek(&self.bed, &self.bed.stack.dead_letter_queue_url).await)
    }

    /// Bodies of every message on the ingest queue, sorted.
    async fn ingest_queue(&self) -> Vec<String> {
        let mut bodies: Vec<String> = peek(&self.bed, &self.bed.stack.queue_url)
            .await
            .into_iter()
            .map(|m| m.body)
            .collect();
        bodies.sort();
        bodies
    }

    fn event_bodies(&self) -> Vec<String> {
        let mut bodies: Vec<String> = self.events.iter().map(Value::to_string).collect();
        bodies.sort();
        bodies
    }
}

/// Every message of a queue, received with no hold so the next reader sees them too.
async fn peek(bed: &TestBed, queue_url: &str) -> Vec<ReceivedMessage> {
    QueueConsumer::new(bed.clients.sqs.clone(), queue_url)
        .receive(10, 1, Some(0))
        .await
        .unwrap()
}

fn reasons_and_bodies(messages: &[ReceivedMessage]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            let reason = m.message_attributes.get(REASON_ATTRIBUTE).cloned();
            (reason.unwrap_or_default(), m.body.clone())
        })
        .collect();
    pairs.sort();
    pairs
}

fn only(reason: &str) -> Selection {
    Selection {
        reason: Some(reason.into()),
        max: None,
    }
}

fn reasons(report: &RedriveReport) -> Vec<&str> {
    report.selected.iter().map(|r| r.reason.as_str()).collect()
}

#[tokio::test]
async fn a_dry_run_lists_the_selected_records_and_moves_nothing() {
    let q = Quarantine::new("redrive-dry").await;
    let before = q.dead_letters().await;
    assert_eq!(before.len(), 4);

    let report = q.redrive().run(&only("unregistered"), true).await;

    assert!(report.is_complete(), "{report:?}");
    assert_eq!(reasons(&report), ["unregistered"; 3]);
    assert_eq!(report.moved, 0);
    for record in &report.selected {
        assert_eq!(record.pipeline.as_deref(), Some(q.unregistered.as_str()));
        let sent = record.sent_at.as_deref().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(sent).is_ok(), "{sent}");
        assert!(!record.message_id.is_empty());
    }
    assert_eq!(
        q.dead_letters().await,
        before,
        "all visible again, none moved"
    );
    assert!(q.ingest_queue().await.is_empty());
}

#[tokio::test]
async fn after_the_fix_only_the_selected_reason_moves_and_only_once() {
    let q = Quarantine::new("redrive-fix").await;
    q.bed
        .register(&q.unregistered_id, ORG, &q.unregistered)
        .await
        .unwrap();

    let first = q.redrive().run(&only("unregistered"), false).await;

    assert!(first.is_complete(), "{first:?}");
    assert_eq!((first.moved, first.selected.len()), (3, 3));
    assert_eq!(q.ingest_queue().await, q.event_bodies());
    let left = q.dead_letters().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0], ("malformed".into(), "{not json".into()));

    let again = q.redrive().run(&only("unregistered"), false).await;
    assert_eq!((again.moved, again.selected.len()), (0, 0));
    assert_eq!(q.ingest_queue().await.len(), 3, "nothing moved twice");

    // The ingest takes the re-driven records like any others.
    let ingest = Ingest::new(&q.bed.clients, &q.bed.config);
    let poller = Poller::new(
        &ingest,
        QueueConsumer::new(q.bed.clients.sqs.clone(), &q.bed.stack.queue_url),
        1,
        None,
    );
    let mut total = BatchSummary::default();
    for _ in 0..10 {
        if total.received >= 3 {
            break;
        }
        total.add(&poller.poll_once().await.unwrap().summary);
    }
    assert_eq!((total.received, total.stored, total.quarantined), (3, 3, 0));
}

#[tokio::test]
async fn at_most_max_records_move() {
    let q = Quarantine::new("redrive-max").await;
    let report = q
        .redrive()
        .run(
            &Selection {
                reason: None,
                max: Some(2),
            },
            false,
        )
        .await;
    assert_eq!((report.moved, report.selected.len()), (2, 2));
    assert_eq!(q.ingest_queue().await.len(), 2);
    assert_eq!(q.dead_letters().await.len(), 2);
}

#[tokio::test]
async fn a_record_the_ingest_queue_refuses_stays_in_the_dead_letter_queue() {
    let q = Quarantine::new("redrive-refused").await;
    let before = q.dead_letters().await;
    let refusing = FaultInjector::new("SendMessage", "", Fault::ServiceUnavailable, None);
    let clients = Clients::new(
        &q.bed.sdk_config,
        &[SharedInterceptor::new(refusing.clone())],
    );

    let report = Redrive::new(&clients, &q.queues())
        .run(&only("malformed"), false)
        .await;

    assert!(refusing.injected() > 0);
    assert_eq!(report.moved, 0);
    assert_eq!(report.not_sent.len(), 1);
    assert!(!report.is_complete());
    assert_eq!(
        q.dead_letters().await,
        before,
        "nothing deleted, nothing lost"
    );
    assert!(q.ingest_queue().await.is_empty());
}

#[tokio::test]
async fn a_record_sqs_moved_after_its_deliveries_ran_out_has_its_own_reason() {
    let q = Quarantine::new("redrive-exhausted").await;
    let body = q.events[0].to_string();
    q.bed
        .clients
        .sqs
        .send_message()
        .queue_url(&q.bed.stack.dead_letter_queue_url)
        .message_body(&body)
        .send()
        .await
        .unwrap();

    let report = q.redrive().run(&only(RETRIES_EXHAUSTED), false).await;

    assert_eq!(reasons(&report), [RETRIES_EXHAUSTED]);
    assert_eq!(report.moved, 1);
    assert_eq!(q.ingest_queue().await, [body]);
    assert_eq!(q.dead_letters().await.len(), 4);
}

/// Runs the `redrive` binary with the emulator's environment (inherited from the test).
async fn run_binary(args: &[&str]) -> Output {
    let mut command = std::process::Command::new(workspace_binary("redrive").unwrap());
    command
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG");
    output_of(command).await
}

/// A stack whose outputs are the given (key, value) pairs.
async fn stack_with_outputs(bed: &TestBed, outputs: &[(&str, &str)]) -> String {
    let name = format!("{}-stack", bed.prefix);
    let outputs: serde_json::Map<String, Value> = outputs
        .iter()
        .map(|(key, value)| (key.to_string(), json!({ "Value": value })))
        .collect();
    let template = json!({
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": outputs,
    });
    bed.clients
        .cloudformation
        .create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    name
}

#[tokio::test]
async fn the_binary_reads_the_queues_from_the_stacks_outputs() {
    let q = Quarantine::new("redrive-cli").await;
    let stack = stack_with_outputs(
        &q.bed,
        &[
            (SOURCE_QUEUE_OUTPUT, &q.bed.stack.queue_url),
            (DEAD_LETTER_QUEUE_OUTPUT, &q.bed.stack.dead_letter_queue_url),
        ],
    )
    .await;

    let listed = run_binary(&["--stack", &stack, "--reason", "unregistered", "--dry-run"]).await;

    assert_eq!(listed.status.code(), Some(0), "{}", describe(&listed));
    let stdout = String::from_utf8_lossy(&listed.stdout);
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("unregistered "))
        .collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    assert!(
        rows.iter().all(|row| row.contains(&q.unregistered)),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("Dry run: 3 records would be re-driven; nothing was moved.\n"),
        "{stdout}"
    );
    assert_eq!(q.dead_letters().await.len(), 4);

    let moved = run_binary(&[
        "--queue-url",
        &q.bed.stack.queue_url,
        "--dlq-url",
        &q.bed.stack.dead_letter_queue_url,
        "--reason",
        "malformed",
    ])
    .await;
    assert_eq!(moved.status.code(), Some(0), "{}", describe(&moved));
    assert!(String::from_utf8_lossy(&moved.stdout)
        .ends_with("Re-drove 1 of 1 selected records to the ingest queue.\n"));
    assert_eq!(q.ingest_queue().await, ["{not json"]);
}

#[tokio::test]
async fn the_binary_exits_2_when_the_stack_does_not_name_the_queues() {
    let bed = TestBed::new("redrive-no-outputs").await.unwrap();
    let stack = stack_with_outputs(&bed, &[(SOURCE_QUEUE_OUTPUT, &bed.stack.queue_url)]).await;

    let output = run_binary(&["--stack", &stack, "--dry-run"]).await;

    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(DEAD_LETTER_QUEUE_OUTPUT), "{stderr}");
}
