//! The notify function against the emulator: subscriptions in CatalogTable, secrets in Secrets
//! Manager, real SNS and SQS, and webhooks to a TLS receiver on a loopback port that checks
//! every request the way the README tells receivers to.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use pb_aws::config::NotifyConfig;
use pb_aws::notifications::SubscriptionStore;
use pb_aws::queue::{QueueConsumer, ReceivedMessage};
use pb_aws::secrets::Secrets;
use pb_domain::notify::{Channel, Delivery, Format, Outcome, Subscription};
use pb_notify::webhook::{AddressPolicy, TlsRoots, WebhookSender};
use pb_notify::{BatchSummary, Notify};
use pb_tests::emulator::TestBed;
use pb_tests::events::{put_events, sqs_batch};
use pb_tests::resources::SourceBus;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const ORG: &str = "acme";
const OTHER_ORG: &str = "globex";
const PIPELINE: &str = "pl-payments";
const CA: &[u8] = include_bytes!("../fixtures/webhook-tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("../fixtures/webhook-tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../fixtures/webhook-tls/server-key.pem");
/// How old a request's timestamp may be before a receiver refuses it.
const MAX_AGE_SECONDS: u64 = 300;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    delivery_id: String,
    body: Value,
    /// What the receiver decided: `ok`, `replay` (a delivery id it had seen), or why it refused.
    verdict: &'static str,
}

/// A webhook receiver on 127.0.0.1 over TLS. Paths starting `/fail` answer 500.
#[derive(Clone)]
struct Receiver {
    port: u16,
    secret: String,
    received: Arc<Mutex<Vec<Received>>>,
    seen: Arc<Mutex<HashSet<String>>>,
}

impl Receiver {
    async fn start(secret: &str) -> Receiver {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let receiver = Receiver {
            port: listener.local_addr().unwrap().port(),
            secret: secret.to_string(),
            received: Arc::default(),
            seen: Arc::default(),
        };
        let acceptor = TlsAcceptor::from(Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(
                    vec![CertificateDer::from_pem_slice(SERVER_CERT).unwrap()],
                    PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap(),
                )
                .unwrap(),
        ));
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, serving) = (acceptor.clone(), serving.clone());
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serving.serve(stream).await;
                    }
                });
            }
        });
        receiver
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// One HTTP/1.1 request per connection, read by hand: a head, then content-length bytes.
    async fn serve(&self, mut stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) {
        let mut data = Vec::new();
        let mut buffer = [0u8; 4096];
        let (head, body) = loop {
            let Ok(read) = stream.read(&mut buffer).await else {
                return;
            };
            if read == 0 {
                return;
            }
            data.extend_from_slice(&buffer[..read]);
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_string();
                let length = header(&head, "content-length")
                    .and_then(|l| l.parse::<usize>().ok())
                    .unwrap_or_default();
                while data.len() < end + 4 + length {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => data.extend_from_slice(&buffer[..read]),
                    }
                }
                break (head, String::from_utf8_lossy(&data[end + 4..]).to_string());
            }
        };
        let path = head.split(' ').nth(1).unwrap_or_default().to_string();
        let verdict = self.verify(&head, &body);
        let status = match verdict {
            "ok" | "replay" if path.starts_with("/fail") => "500 Internal Server Error",
            "ok" | "replay" => "200 OK",
            _ => "401 Unauthorized",
        };
        self.received.lock().unwrap().push(Received {
            path,
            delivery_id: header(&head, "x-pb-delivery").unwrap_or_default(),
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
            verdict,
        });
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    /// What the README asks of a receiver: the signature over `{timestamp}.{body}` with the
    /// secret, a timestamp under five minutes old, and a delivery id not seen before (a replay
    /// is acknowledged and not acted on).
    fn verify(&self, head: &str, body: &str) -> &'static str {
        let (Some(timestamp), Some(signature), Some(delivery)) = (
            header(head, "x-pb-timestamp"),
            header(head, "x-pb-signature"),
            header(head, "x-pb-delivery"),
        ) else {
            return "missing-headers";
        };
        verdict(&self.secret, &timestamp, &signature, body, now()).unwrap_or_else(|| {
            if self.seen.lock().unwrap().insert(delivery) {
                "ok"
            } else {
                "replay"
            }
        })
    }
}

/// Why a request is refused, if it is.
fn verdict(
    secret: &str,
    timestamp: &str,
    signature: &str,
    body: &str,
    now: u64,
) -> Option<&'static str> {
    let Ok(sent) = timestamp.parse::<u64>() else {
        return Some("bad-timestamp");
    };
    if now.abs_diff(sent) > MAX_AGE_SECONDS {
        return Some("stale");
    }
    let Some(tag) = signature.strip_prefix("v1=").and_then(from_hex) else {
        return Some("bad-signature");
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let signed = format!("{timestamp}.{body}");
    hmac::verify(&key, signed.as_bytes(), &tag)
        .err()
        .map(|_| "bad-signature")
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Records the SQS messages the function sends with a delay (its retries), as sent.
#[derive(Debug, Clone, Default)]
struct DelayedSends(Arc<Mutex<Vec<Value>>>);

impl Intercept for DelayedSends {
    fn name(&self) -> &'static str {
        "DelayedSends"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == "SendMessage")
        {
            let body = context.request().body().bytes().unwrap_or_default();
            if let Ok(request) = serde_json::from_slice::<Value>(body) {
                if request.get("DelaySeconds").is_some() {
                    self.0.lock().unwrap().push(request);
                }
            }
        }
        Ok(())
    }
}

struct Setup {
    bed: TestBed,
    notify: Notify,
    store: SubscriptionStore,
    receiver: Receiver,
    secret_id: String,
    retries: DelayedSends,
}

const SECRET: &str = "a-webhook-secret-of-at-least-32-characters";

/// A test bed, a receiver, its secret stored, and the handler with `policy`.
async fn setup(label: &str, policy: AddressPolicy) -> Setup {
    setup_allowing(label, policy, &[]).await
}

/// As [`setup`], with the platform's webhook allowlist.
async fn setup_allowing(label: &str, policy: AddressPolicy, allowed_hosts: &[String]) -> Setup {
    let retries = DelayedSends::default();
    let bed = TestBed::with_interceptors(
        label,
        &[SharedInterceptor::new(retries.clone())],
        SourceBus::Dedicated,
    )
    .await
    .unwrap();
    let receiver = Receiver::start(SECRET).await;
    let secret_id = format!("{}/{ORG}/webhooks/receiver", bed.prefix);
    Secrets::new(bed.clients.secretsmanager.clone())
        .write(&secret_id, SECRET)
        .await
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CA).unwrap())
        .unwrap();
    let webhooks = WebhookSender::new(policy, TlsRoots::Custom(roots)).unwrap();
    let config = NotifyConfig {
        catalog_table: bed.stack.catalog_table.clone(),
        queue_url: bed.stack.notify_queue_url.clone(),
        dead_letter_queue_url: bed.stack.notify_dead_letter_queue_url.clone(),
        secret_cache_ttl: Duration::from_secs(300),
        webhook_allowed_hosts: allowed_hosts.to_vec(),
    };
    Setup {
        notify: Notify::new(&bed.clients, &config, webhooks),
        store: SubscriptionStore::new(bed.clients.dynamodb.clone(), &bed.stack.catalog_table),
        bed,
        receiver,
        secret_id,
        retries,
    }
}

fn loopback_policy() -> AddressPolicy {
    AddressPolicy::public_only().also_admitting(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn subscription(id: &str, org: &str, outcomes: &[Outcome], channel: Channel) -> Subscription {
    Subscription {
        id: id.into(),
        org: org.into(),
        name: id.into(),
        pipeline_id: None,
        project: None,
        outcomes: outcomes.iter().copied().collect::<BTreeSet<_>>(),
        channel,
        created_at: "2026-01-01T00:00:00Z".into(),
        created_by: "test".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
    }
}

impl Setup {
    fn webhook(&self, path: &str, format: Format) -> Channel {
        Channel::Webhook {
            url: self.receiver.url("127.0.0.1", path),
            format,
            secret_id: self.secret_id.clone(),
        }
    }

    /// A subscription of `org` to `outcomes` by a JSON webhook to the receiver's `path`.
    async fn subscribe_webhook(&self, id: &str, org: &str, outcomes: &[Outcome], path: &str) {
        let channel = self.webhook(path, Format::Json);
        self.subscribe(subscription(id, org, outcomes, channel))
            .await;
    }

    async fn subscribe(&self, subscription: Subscription) {
        assert!(self.store.put(&subscription, true).await.unwrap());
    }

    async fn handle(&self, bodies: &[Value]) -> (Vec<String>, BatchSummary) {
        self.handle_by(bodies, Instant::now() + Duration::from_secs(120))
            .await
    }

    async fn handle_by(&self, bodies: &[Value], deadline: Instant) -> (Vec<String>, BatchSummary) {
        let ids: Vec<String> = (0..bodies.len()).map(|i| format!("m{i}")).collect();
        let batch = sqs_batch(
            ids.iter()
                .map(String::as_str)
                .zip(bodies.iter().map(Value::to_string)),
        );
        let (response, summary) = self.notify.handle(batch, deadline).await;
        let failed = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        (failed, summary)
    }

    async fn dead_letters(&self) -> Vec<ReceivedMessage> {
        QueueConsumer::new(
            self.bed.clients.sqs.clone(),
            &self.bed.stack.notify_dead_letter_queue_url,
        )
        .receive(10, 1, None)
        .await
        .unwrap()
    }

    fn retried(&self) -> Vec<(Delivery, i64)> {
        self.retries
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let body = r["MessageBody"].as_str().unwrap();
                (
                    serde_json::from_str(body).unwrap(),
                    r["DelaySeconds"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

fn envelope(source: &str, detail_type: &str, detail: Value) -> Value {
    json!({
        "version": "0", "id": "5a0e-test", "source": source, "detail-type": detail_type,
        "account": "123456789012", "time": "2026-11-20T11:06:33Z", "region": "us-east-1",
        "resources": [], "detail": detail
    })
}

fn failed_run(org: &str) -> Value {
    envelope(
        "pipeline-builder.ingest",
        "Execution Completed",
        json!({
            "pipelineId": PIPELINE, "orgId": org, "executionId": "ex-1", "status": "FAILED",
            "attempt": 1, "durationMs": 1000, "failedStage": "Deploy", "failedAction": "Apply",
            "errorCategory": "deployment", "outcomeKey": "0003#FAILED"
        }),
    )
}

/// A topic with an SQS queue subscribed to it: what SNS delivers, read back.
async fn topic_with_queue(bed: &TestBed) -> (String, QueueConsumer) {
    let topic_arn = bed
        .clients
        .sns
        .create_topic()
        .name(format!("{}-alerts", bed.prefix))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_url = bed
        .clients
        .sqs
        .create_queue()
        .queue_name(format!("{}-alerts-inbox", bed.prefix))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = pb_tests::resources::queue_arn(&bed.clients.sqs, &queue_url)
        .await
        .unwrap();
    bed.clients
        .sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    (
        topic_arn,
        QueueConsumer::new(bed.clients.sqs.clone(), queue_url),
    )
}

fn attribute<'a>(message: &'a ReceivedMessage, name: &str) -> &'a str {
    message
        .message_attributes
        .get(name)
        .map(String::as_str)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_failed_run_reaches_the_matching_webhooks_and_topic_only() {
    let setup = setup("notify-fanout", loopback_policy()).await;
    let (topic_arn, inbox) = topic_with_queue(&setup.bed).await;
    let failed = [Outcome::ExecutionFailed];
    setup.subscribe_webhook("json", ORG, &failed, "/json").await;
    let mut slack = subscription(
        "slack",
        ORG,
        &failed,
        setup.webhook("/slack", Format::Slack),
    );
    slack.pipeline_id = Some(PIPELINE.into());
    setup.subscribe(slack).await;
    setup
        .subscribe(subscription(
            "topic",
            ORG,
            &failed,
            Channel::Sns { topic_arn },
        ))
        .await;
    let mut other_pipeline = subscription(
        "other-pipeline",
        ORG,
        &failed,
        setup.webhook("/other-pipeline", Format::Json),
    );
    other_pipeline.pipeline_id = Some("pl-ledger".into());
    setup.subscribe(other_pipeline).await;
    setup
        .subscribe_webhook("drift-only", ORG, &[Outcome::DriftFound], "/drift-only")
        .await;
    setup
        .subscribe_webhook("other-org", OTHER_ORG, &failed, "/other-org")
        .await;

    let (failures, summary) = setup.handle(&[failed_run(ORG)]).await;

    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!((summary.received, summary.delivered), (1, 3), "{summary:?}");
    let received = setup.receiver.received();
    let paths: BTreeSet<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, BTreeSet::from(["/json", "/slack"]));
    assert!(received.iter().all(|r| r.verdict == "ok"), "{received:?}");
    let json = received.iter().find(|r| r.path == "/json").unwrap();
    assert_eq!(json.body["outcome"], "execution-failed");
    assert_eq!(json.body["org"], ORG);
    assert_eq!(json.body["pipelineId"], PIPELINE);
    assert_eq!(json.body["deliveryId"], json.delivery_id);
    assert_eq!(json.body["detail"]["failedStage"], "Deploy");
    assert_eq!(json.body["test"], false);
    let slack = received.iter().find(|r| r.path == "/slack").unwrap();
    assert!(slack.body["text"]
        .as_str()
        .unwrap()
        .contains("failed at Deploy/Apply"));
    assert_eq!(slack.body["blocks"][0]["type"], "section");

    let published = inbox.receive(10, 1, None).await.unwrap();
    assert_eq!(published.len(), 1);
    let notification: Value = serde_json::from_str(&published[0].body).unwrap();
    let message: Value = serde_json::from_str(notification["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["outcome"], "execution-failed");
    assert_eq!(message["org"], ORG);
    assert_eq!(
        notification["MessageAttributes"]["outcome"]["Value"],
        "execution-failed"
    );
    assert_eq!(
        notification["MessageAttributes"]["deliveryId"]["Value"],
        message["deliveryId"]
    );
    assert!(setup.dead_letters().await.is_empty());
}

#[tokio::test]
async fn the_platform_bus_rule_brings_exactly_the_subscribable_events_to_the_notify_queue() {
    let setup = setup("notify-rule", loopback_policy()).await;
    setup
        .subscribe_webhook("json", ORG, &[Outcome::ExecutionFailed], "/json")
        .await;
    let unrelated = envelope(
        "pipeline-builder.deployments",
        "Execution Completed",
        failed_run(ORG)["detail"].clone(),
    );
    put_events(
        &setup.bed.clients.eventbridge,
        &setup.bed.stack.event_bus_name,
        &[failed_run(ORG), unrelated],
    )
    .await
    .unwrap();

    let queued = QueueConsumer::new(
        setup.bed.clients.sqs.clone(),
        &setup.bed.stack.notify_queue_url,
    )
    .receive(10, 2, None)
    .await
    .unwrap();
    assert_eq!(queued.len(), 1, "only the subscribable pair is routed");
    let body: Value = serde_json::from_str(&queued[0].body).unwrap();
    let (failures, summary) = setup.handle(&[body]).await;

    assert!(failures.is_empty());
    assert_eq!(summary.delivered, 1, "{summary:?}");
    assert_eq!(
        setup.receiver.received()[0].body["outcome"],
        "execution-failed"
    );
}

#[tokio::test]
async fn a_project_filter_follows_the_stored_pipelines_project() {
    let setup = setup("notify-project", loopback_policy()).await;
    let failed = [Outcome::ExecutionFailed];
    for (id, project) in [("payments", "payments"), ("ledger", "ledger")] {
        let mut filtered = subscription(
            id,
            ORG,
            &failed,
            setup.webhook(&format!("/{id}"), Format::Json),
        );
        filtered.project = Some(project.into());
        setup.subscribe(filtered).await;
    }

    setup.handle(&[failed_run(ORG)]).await;
    assert!(
        setup.receiver.received().is_empty(),
        "no stored pipeline, no project"
    );

    setup
        .bed
        .store_definition(PIPELINE, "payments-service", ORG)
        .await
        .unwrap();
    setup.handle(&[failed_run(ORG)]).await;
    let paths: Vec<String> = setup
        .receiver
        .received()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(paths, ["/payments"]);
}

#[tokio::test]
async fn a_republished_event_is_the_same_delivery_and_the_receiver_sees_a_replay() {
    let setup = setup("notify-dedupe", loopback_policy()).await;
    setup
        .subscribe_webhook("json", ORG, &[Outcome::ExecutionFailed], "/json")
        .await;

    setup.handle(&[failed_run(ORG)]).await;
    let mut again = failed_run(ORG);
    again["id"] = json!("another-envelope-id");
    setup.handle(&[again]).await;

    let received = setup.receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].delivery_id, received[1].delivery_id);
    assert_eq!(received[0].delivery_id.len(), 32);
    assert_eq!((received[0].verdict, received[1].verdict), ("ok", "replay"));
}

#[tokio::test]
async fn a_failing_receiver_is_retried_later_then_dead_lettered_without_holding_up_others() {
    let setup = setup("notify-retry", loopback_policy()).await;
    let failed = [Outcome::ExecutionFailed];
    setup.subscribe_webhook("down", ORG, &failed, "/fail").await;
    setup.subscribe_webhook("up", ORG, &failed, "/ok").await;

    let (failures, summary) = setup.handle(&[failed_run(ORG)]).await;

    assert!(failures.is_empty());
    assert_eq!((summary.delivered, summary.retried), (1, 1), "{summary:?}");
    let paths: Vec<String> = setup
        .receiver
        .received()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(paths.iter().filter(|p| *p == "/ok").count(), 1);
    let retried = setup.retried();
    assert_eq!(retried.len(), 1);
    let (second, delay) = retried[0].clone();
    assert_eq!((second.attempt, delay), (2, 30));
    assert_eq!(second.subscription_id, "down");

    // The retried delivery fails again: attempt 3, after twice the delay.
    let (failures, _) = setup
        .handle(&[serde_json::to_value(&second).unwrap()])
        .await;
    assert!(failures.is_empty());
    let (third, delay) = setup.retried()[1].clone();
    assert_eq!((third.attempt, delay), (3, 60));
    assert_eq!(third.delivery_id, second.delivery_id);

    let last = Delivery {
        attempt: 5,
        ..third
    };
    let (failures, summary) = setup.handle(&[serde_json::to_value(&last).unwrap()]).await;
    assert!(failures.is_empty());
    assert_eq!(summary.dead_lettered, 1, "{summary:?}");
    assert_eq!(setup.retried().len(), 2, "no sixth attempt");
    let dead = setup.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(attribute(&dead[0], "reason"), "attempts-exhausted");
    assert_eq!(attribute(&dead[0], "deliveryId"), last.delivery_id);
    assert_eq!(attribute(&dead[0], "subscriptionId"), "down");
    let parked: Delivery = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(parked.attempt, 5);
}

#[tokio::test]
async fn deliveries_the_invocation_has_no_time_for_go_back_on_the_queue_untried() {
    let setup = setup("notify-deadline", loopback_policy()).await;
    setup
        .subscribe_webhook("json", ORG, &[Outcome::ExecutionFailed], "/json")
        .await;

    let (failures, summary) = setup.handle_by(&[failed_run(ORG)], Instant::now()).await;

    assert!(failures.is_empty());
    assert_eq!((summary.deferred, summary.delivered), (1, 0), "{summary:?}");
    assert!(setup.receiver.received().is_empty());
    let (deferred, delay) = setup.retried()[0].clone();
    assert_eq!((deferred.attempt, delay), (1, 0));
    let (_, summary) = setup
        .handle(&[serde_json::to_value(&deferred).unwrap()])
        .await;
    assert_eq!(summary.delivered, 1, "{summary:?}");
    assert_eq!(
        setup.receiver.received()[0].delivery_id,
        deferred.delivery_id
    );
}

#[tokio::test]
async fn a_deleted_subscription_drops_its_pending_retry() {
    let setup = setup("notify-dropped", loopback_policy()).await;
    setup
        .subscribe_webhook("down", ORG, &[Outcome::ExecutionFailed], "/fail")
        .await;
    setup.handle(&[failed_run(ORG)]).await;
    let (pending, _) = setup.retried()[0].clone();
    assert!(setup.store.delete(ORG, "down").await.unwrap());

    let (failures, summary) = setup
        .handle(&[serde_json::to_value(&pending).unwrap()])
        .await;

    assert!(failures.is_empty());
    assert_eq!(summary.dropped, 1, "{summary:?}");
    assert_eq!(
        setup.receiver.received().len(),
        1,
        "only the first attempt was sent"
    );
    assert!(setup.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_host_resolving_to_a_forbidden_address_is_refused_after_resolution() {
    let setup = setup("notify-forbidden", AddressPolicy::public_only()).await;
    let local = Channel::Webhook {
        url: setup.receiver.url("localhost", "/"),
        format: Format::Json,
        secret_id: setup.secret_id.clone(),
    };
    setup
        .subscribe(subscription(
            "local",
            ORG,
            &[Outcome::ExecutionFailed],
            local,
        ))
        .await;

    let (failures, summary) = setup.handle(&[failed_run(ORG)]).await;

    assert!(failures.is_empty());
    assert_eq!(summary.dead_lettered, 1, "{summary:?}");
    assert!(
        setup.receiver.received().is_empty(),
        "nothing reached the receiver"
    );
    assert!(setup.retried().is_empty());
    let dead = setup.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(attribute(&dead[0], "reason"), "forbidden-address");
    assert_eq!(attribute(&dead[0], "subscriptionId"), "local");
}

#[tokio::test]
async fn a_webhook_without_its_secret_is_dead_lettered() {
    let setup = setup("notify-no-secret", loopback_policy()).await;
    let channel = Channel::Webhook {
        url: setup.receiver.url("127.0.0.1", "/json"),
        format: Format::Json,
        secret_id: format!("{}/{ORG}/webhooks/never-written", setup.bed.prefix),
    };
    setup
        .subscribe(subscription(
            "secretless",
            ORG,
            &[Outcome::ExecutionFailed],
            channel,
        ))
        .await;

    setup.handle(&[failed_run(ORG)]).await;

    assert!(setup.receiver.received().is_empty());
    let dead = setup.dead_letters().await;
    assert_eq!(attribute(&dead[0], "reason"), "missing-secret");
}

#[tokio::test]
async fn drift_notices_never_carry_another_orgs_findings() {
    let setup = setup("notify-drift", loopback_policy()).await;
    let drift = [Outcome::DriftFound];
    setup
        .subscribe_webhook("acme-drift", ORG, &drift, "/acme")
        .await;
    setup
        .subscribe_webhook("globex-drift", OTHER_ORG, &drift, "/globex")
        .await;
    let finding = |org: &str, stack: &str| {
        json!({"type": "orphaned-stack", "org": org, "pipelineId": null, "stackName": stack,
               "region": "us-east-1", "status": "CREATE_COMPLETE", "detail": "d", "remediation": "r"})
    };
    let run = envelope(
        "pipeline-builder.audit",
        "Stack Drift Detected",
        json!({
            "startedAt": "2026-11-20T02:00:00.000Z", "finishedAt": "2026-11-20T02:01:00.000Z",
            "status": "drift", "trigger": "nightly", "org": null, "regions": ["us-east-1"],
            "errors": [], "summary": {}, "findingsTrimmed": 0,
            "findings": [finding(ORG, "pb-acme-a"), finding(OTHER_ORG, "pb-globex-g"), finding(ORG, "pb-acme-b")]
        }),
    );

    let (failures, summary) = setup.handle(&[run]).await;

    assert!(failures.is_empty());
    assert_eq!(summary.delivered, 2, "{summary:?}");
    let received: HashMap<String, Value> = setup
        .receiver
        .received()
        .into_iter()
        .map(|r| (r.path, r.body))
        .collect();
    let acme = received["/acme"].to_string();
    let globex = received["/globex"].to_string();
    assert!(
        acme.contains("pb-acme-a") && acme.contains("pb-acme-b"),
        "{acme}"
    );
    assert!(!acme.contains(OTHER_ORG), "{acme}");
    assert!(globex.contains("pb-globex-g"), "{globex}");
    assert!(!globex.contains("pb-acme"), "{globex}");
}

#[test]
fn the_receiver_refuses_stale_or_forged_requests() {
    let body = r#"{"a":1}"#;
    let sign = |timestamp: &str| {
        let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
        let tag = hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("v1={hex}")
    };
    let now = 1_800_000_000;
    assert_eq!(
        verdict(SECRET, "1800000000", &sign("1800000000"), body, now),
        None
    );
    assert_eq!(
        pb_notify::webhook::signature(SECRET, "1800000000", body),
        sign("1800000000")
    );
    assert_eq!(
        verdict(SECRET, "1799999000", &sign("1799999000"), body, now),
        Some("stale")
    );
    assert_eq!(
        verdict(SECRET, "1800000000", &sign("1800000001"), body, now),
        Some("bad-signature")
    );
    assert_eq!(
        verdict(
            "another-secret",
            "1800000000",
            &sign("1800000000"),
            body,
            now
        ),
        Some("bad-signature")
    );
}

#[tokio::test]
async fn a_pending_retry_is_dropped_once_its_subscription_no_longer_wants_it() {
    let setup = setup("notify-unwanted", loopback_policy()).await;
    setup
        .subscribe_webhook("down", ORG, &[Outcome::ExecutionFailed], "/fail")
        .await;
    setup.handle(&[failed_run(ORG)]).await;
    let (pending, _) = setup.retried()[0].clone();
    // The subscription now asks for successes only (and points elsewhere).
    let changed = subscription(
        "down",
        ORG,
        &[Outcome::ExecutionSucceeded],
        setup.webhook("/ok", Format::Json),
    );
    assert!(setup.store.put(&changed, false).await.unwrap());

    let (failures, summary) = setup
        .handle(&[serde_json::to_value(&pending).unwrap()])
        .await;

    assert!(failures.is_empty());
    assert_eq!(summary.dropped, 1, "{summary:?}");
    assert_eq!(
        setup.receiver.received().len(),
        1,
        "only the first attempt was sent"
    );
}

#[tokio::test]
async fn a_host_taken_off_the_allowlist_is_dead_lettered_not_called() {
    let allowed = ["hooks.example.com".to_string()];
    let setup = setup_allowing("notify-allowlist", loopback_policy(), &allowed).await;
    setup
        .subscribe_webhook("written-before", ORG, &[Outcome::ExecutionFailed], "/ok")
        .await;

    let (failures, summary) = setup.handle(&[failed_run(ORG)]).await;

    assert!(failures.is_empty());
    assert_eq!(summary.dead_lettered, 1, "{summary:?}");
    assert!(setup.receiver.received().is_empty());
    let dead = setup.dead_letters().await;
    assert_eq!(dead[0].message_attributes["reason"], "host-not-allowed");
}
