//! The stack audit against the emulator: real stacks in two regions, a real registry, the Lambda
//! handler's stored run and published event, and the `audit` binary run as a process.
//!
//! CloudFormation stacks are per account and region, and the audit lists every stack of a
//! region, so each test works in an emulator account of its own (moto keys an access key to the
//! account it was created in) and parallel tests never see each other's stacks.

use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::types::{ChangeSetType, Tag};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use pb_audit::{AuditFunction, AuditRequest, Auditor, ScheduledAudit};
use pb_aws::audit_runs::AuditRunStore;
use pb_aws::config::{AuditConfig, RegionConfig};
use pb_aws::registry::{Registry, RegistryEntry};
use pb_aws::stacks::{COMPONENT_TAG, ORG_TAG, PLATFORM_TAG};
use pb_aws::tags::PIPELINE_ID_TAG;
use pb_aws::tokens::{TokenRecord, TokenStore};
use pb_aws::Clients;
use pb_domain::drift::{
    AuditRun, DriftReport, Finding, FindingType, RunScope, RunStatus, DRIFT_DETECTED,
    DRIFT_EVENT_SOURCE,
};
use pb_tests::emulator::{endpoint, unique_prefix};
use pb_tests::events::EventCapture;
use pb_tests::faults::{Fault, FaultInjector};
use pb_tests::request_counter::RequestCounter;
use pb_tests::resources::{create_local_stack, SourceBus};
use pb_tests::{describe, output_of};
use serde_json::{json, Value};

const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";
const TEMPLATE: &str =
    r#"{"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}"#;
/// moto's DescribeStacks page size.
const EMULATOR_PAGE: usize = 50;

/// Adds moto's account header, so IAM creates the test's user in the test's own account.
#[derive(Debug)]
struct InAccount(String);

impl Intercept for InAccount {
    fn name(&self) -> &'static str {
        "InAccount"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// A fresh 12-digit account id for every call.
fn unique_account_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let seed = u64::from(std::process::id()) * 1_000_003
        + u64::from(nanos / 1_000) * 97
        + u64::from(NEXT.fetch_add(1, Ordering::Relaxed));
    format!("3{:011}", seed % 100_000_000_000)
}

fn config_with(endpoint: &str, credentials: Credentials, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

/// One test's emulator account: registry table, platform bus, and clients for both regions.
struct AuditBed {
    endpoint: String,
    access_key_id: String,
    secret_access_key: String,
    sdk_config: SdkConfig,
    clients: Clients,
    config: AuditConfig,
    prefix: String,
}

impl AuditBed {
    async fn new(label: &str) -> Self {
        Self::with_interceptors(label, &[]).await
    }

    async fn with_interceptors(label: &str, interceptors: &[SharedInterceptor]) -> Self {
        let endpoint = endpoint().unwrap();
        let account = unique_account_id();
        let base = config_with(
            &endpoint,
            Credentials::new("testing", "testing", None, None, "emulator"),
            EAST,
        );
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&base)
                .interceptor(InAccount(account))
                .build(),
        );
        iam.create_user().user_name("auditor").send().await.unwrap();
        let key = iam
            .create_access_key()
            .user_name("auditor")
            .send()
            .await
            .unwrap()
            .access_key
            .unwrap();
        let credentials = Credentials::new(
            &key.access_key_id,
            &key.secret_access_key,
            None,
            None,
            "audit-test-account",
        );
        let sdk_config = config_with(&endpoint, credentials, EAST);
        let clients = Clients::new(&sdk_config, interceptors);
        let prefix = unique_prefix(label);
        let local_iam = aws_sdk_iam::Client::new(&sdk_config);
        let local = create_local_stack(&clients, &local_iam, &prefix, SourceBus::Dedicated)
            .await
            .unwrap();
        AuditBed {
            endpoint,
            access_key_id: key.access_key_id,
            secret_access_key: key.secret_access_key,
            sdk_config,
            clients,
            config: AuditConfig {
                catalog_table: local.catalog_table,
                event_bus_name: Some(local.event_bus_name),
                regions: Vec::new(),
                deploy_regions: RegionConfig::default(),
            },
            prefix,
        }
    }

    fn bus(&self) -> &str {
        self.config.event_bus_name.as_deref().unwrap()
    }

    fn cloudformation(&self, region: &str) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::config::Builder::from(&self.sdk_config)
                .region(Region::new(region.to_string()))
                .build(),
        )
    }

    async fn register(&self, pipeline_id: &str, org: &str, stack_name: &str, region: &str) {
        Registry::new(
            self.clients.dynamodb.clone(),
            &self.config.catalog_table,
            std::time::Duration::ZERO,
            std::time::Duration::ZERO,
        )
        .put(&RegistryEntry {
            pipeline_id: pipeline_id.into(),
            org_id: org.into(),
            pipeline_name: format!("{stack_name}-pipeline"),
            stack_name: stack_name.into(),
            region: region.into(),
            last_deployed: "2026-11-01T00:00:00Z".into(),
            stack_id: None,
            account: None,
            definition_version: None,
        })
        .await
        .unwrap();
    }

    async fn create_stack(&self, region: &str, name: &str, tags: &[(&str, &str)]) {
        self.cloudformation(region)
            .create_stack()
            .stack_name(name)
            .template_body(TEMPLATE)
            .set_tags(Some(stack_tags(tags)))
            .send()
            .await
            .with_context(|| format!("CreateStack {name} in {region}"))
            .unwrap();
    }

    /// A platform stack of `org` carrying `pipeline_id`.
    async fn deploy(&self, region: &str, name: &str, org: &str, pipeline_id: &str) {
        let tags = [
            (PLATFORM_TAG, "true"),
            (ORG_TAG, org),
            (PIPELINE_ID_TAG, pipeline_id),
        ];
        self.create_stack(region, name, &tags).await;
    }

    /// REVIEW_IN_PROGRESS: a stack whose creating change set was never executed.
    async fn stack_in_review(&self, region: &str, name: &str, org: &str, pipeline_id: &str) {
        let tags = [
            (PLATFORM_TAG, "true"),
            (ORG_TAG, org),
            (PIPELINE_ID_TAG, pipeline_id),
        ];
        self.cloudformation(region)
            .create_change_set()
            .stack_name(name)
            .change_set_name("review")
            .change_set_type(ChangeSetType::Create)
            .template_body(TEMPLATE)
            .set_tags(Some(stack_tags(&tags)))
            .send()
            .await
            .unwrap();
    }

    async fn delete_stack(&self, region: &str, name: &str) {
        self.cloudformation(region)
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .unwrap();
    }

    fn auditor(&self) -> Auditor {
        Auditor::new(&self.clients, &self.config)
    }

    fn runs(&self) -> AuditRunStore {
        AuditRunStore::new(self.clients.dynamodb.clone(), &self.config.catalog_table)
    }

    /// Runs the `audit` binary as an operator would, in this test's account.
    async fn run_cli(&self, args: &[&str]) -> Output {
        self.run_cli_at(&self.endpoint.clone(), args).await
    }

    async fn run_cli_at(&self, endpoint: &str, args: &[&str]) -> Output {
        let mut command = std::process::Command::new(audit_binary());
        command
            .args(args)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", &self.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_access_key)
            .env("AWS_REGION", EAST)
            .env("CATALOG_TABLE", &self.config.catalog_table)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("RUST_LOG")
            .env_remove("AUDIT_REGIONS")
            .env_remove("EVENT_BUS_NAME")
            .env_remove("AWS_LAMBDA_RUNTIME_API");
        output_of(command).await
    }
}

fn stack_tags(tags: &[(&str, &str)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect()
}

fn audit_binary() -> PathBuf {
    pb_tests::workspace_binary("audit").unwrap()
}

/// (type, pipeline id, stack name, region, status) of each finding, in report order.
fn rows(findings: &[Finding]) -> Vec<(&'static str, String, String, String, String)> {
    findings
        .iter()
        .map(|f| {
            (
                f.kind.as_str(),
                f.pipeline_id.clone().unwrap_or_default(),
                f.stack_name.clone(),
                f.region.clone(),
                f.status.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn row(
    kind: &'static str,
    id: &str,
    stack: &str,
    region: &str,
    status: &str,
) -> (&'static str, String, String, String, String) {
    (kind, id.into(), stack.into(), region.into(), status.into())
}

fn request(org: Option<&str>) -> AuditRequest {
    AuditRequest {
        trigger: "test".into(),
        org: org.map(str::to_string),
        regions: Vec::new(),
    }
}

/// A fleet with one case of everything, over both regions, the east one past a page.
async fn drifted_fleet(bed: &AuditBed) {
    for n in 0..EMULATOR_PAGE + 5 {
        let (id, name) = (format!("pl-fleet-{n:02}"), format!("fleet-{n:02}"));
        bed.register(&id, "acme", &name, EAST).await;
        bed.deploy(EAST, &name, "acme", &id).await;
    }
    // Not the platform's: no stack-level pipeline-builder tag.
    bed.create_stack(
        EAST,
        "bystander",
        &[(PIPELINE_ID_TAG, "pl-x"), ("team", "data")],
    )
    .await;
    bed.deploy(EAST, "stray", "acme", "pl-stray").await;
    bed.register("pl-unbuilt", "acme", "unbuilt", EAST).await;
    bed.register("pl-moved", "acme", "moved", EAST).await;
    bed.deploy(WEST, "moved", "acme", "pl-moved").await;
    bed.register("pl-renamed", "acme", "old-name", WEST).await;
    bed.deploy(WEST, "new-name", "acme", "pl-renamed").await;
    bed.register("pl-deleted", "acme", "deleted", WEST).await;
    bed.deploy(WEST, "deleted", "acme", "pl-deleted").await;
    bed.delete_stack(WEST, "deleted").await;
    bed.register("pl-by-name", "acme", "by-name", WEST).await;
    bed.create_stack(
        WEST,
        "by-name",
        &[(PLATFORM_TAG, "true"), (ORG_TAG, "acme")],
    )
    .await;
    bed.register("pl-review", "acme", "review", EAST).await;
    bed.stack_in_review(EAST, "review", "acme", "pl-review")
        .await;
    bed.create_stack(
        WEST,
        "acme-eks-network",
        &[
            (PLATFORM_TAG, "true"),
            (ORG_TAG, "acme"),
            (COMPONENT_TAG, "eks"),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_audit_finds_each_kind_of_drift_over_two_regions_and_every_page() {
    let counter = RequestCounter::default();
    let bed =
        AuditBed::with_interceptors("audit-fleet", &[SharedInterceptor::new(counter.clone())])
            .await;
    drifted_fleet(&bed).await;
    counter.reset();

    let run = bed.auditor().run(&request(None)).await;

    assert_eq!(run.status, RunStatus::Drift, "{:?}", run.errors);
    assert_eq!(run.regions, [WEST, EAST]);
    assert_eq!(
        rows(&run.findings),
        [
            row(
                "orphaned-stack",
                "pl-stray",
                "stray",
                EAST,
                "CREATE_COMPLETE"
            ),
            row("missing-stack", "pl-deleted", "deleted", WEST, ""),
            row("missing-stack", "pl-unbuilt", "unbuilt", EAST, ""),
            row(
                "region-mismatch",
                "pl-moved",
                "moved",
                WEST,
                "CREATE_COMPLETE"
            ),
            row(
                "name-mismatch",
                "pl-renamed",
                "new-name",
                WEST,
                "CREATE_COMPLETE"
            ),
        ]
    );
    assert_eq!(
        rows(&run.in_progress),
        [row(
            "in-progress",
            "pl-review",
            "review",
            EAST,
            "REVIEW_IN_PROGRESS"
        )]
    );
    let summary = &run.summary;
    assert_eq!(summary.registry_entries, EMULATOR_PAGE + 5 + 6);
    // The fleet, moved, new-name, by-name, review and stray.
    assert_eq!(summary.pipeline_stacks, EMULATOR_PAGE + 5 + 5);
    assert_eq!(summary.matched, EMULATOR_PAGE + 5 + 4);
    assert_eq!(summary.infrastructure_stacks, 1);
    assert_eq!(summary.findings, 5);
    // Pages, not a call per stack: two east pages, one west page.
    let requests = counter.snapshot();
    let describe: u64 = requests
        .iter()
        .filter(|(op, _)| op.ends_with(".DescribeStacks"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(describe, 3, "{requests:?}");
}

#[tokio::test]
async fn an_org_filter_narrows_entries_and_stacks_alike() {
    let bed = AuditBed::new("audit-org").await;
    bed.register("pl-acme-ok", "acme", "acme-ok", EAST).await;
    bed.deploy(EAST, "acme-ok", "acme", "pl-acme-ok").await;
    bed.register("pl-acme-gone", "acme", "acme-gone", WEST)
        .await;
    bed.deploy(WEST, "acme-stray", "acme", "pl-acme-stray")
        .await;
    bed.register("pl-globex-gone", "globex", "globex-gone", WEST)
        .await;
    bed.deploy(EAST, "globex-stray", "globex", "pl-globex-stray")
        .await;

    let acme = bed.auditor().run(&request(Some("acme"))).await;
    assert_eq!(
        rows(&acme.findings),
        [
            row(
                "orphaned-stack",
                "pl-acme-stray",
                "acme-stray",
                WEST,
                "CREATE_COMPLETE"
            ),
            row("missing-stack", "pl-acme-gone", "acme-gone", WEST, ""),
        ]
    );
    assert_eq!(acme.org.as_deref(), Some("acme"));
    assert_eq!(acme.regions, [WEST, EAST]);
    assert_eq!(acme.summary.registry_entries, 2);
    assert_eq!(acme.summary.pipeline_stacks, 2);

    let everyone = bed.auditor().run(&request(None)).await;
    assert_eq!(
        rows(&everyone.findings),
        [
            row(
                "orphaned-stack",
                "pl-acme-stray",
                "acme-stray",
                WEST,
                "CREATE_COMPLETE"
            ),
            row(
                "orphaned-stack",
                "pl-globex-stray",
                "globex-stray",
                EAST,
                "CREATE_COMPLETE"
            ),
            row("missing-stack", "pl-acme-gone", "acme-gone", WEST, ""),
            row("missing-stack", "pl-globex-gone", "globex-gone", WEST, ""),
        ]
    );
    assert_eq!(everyone.summary.registry_entries, 3);
}

/// A queue subscribed to everything the audit publishes on the platform bus.
async fn capture_audit_events(bed: &AuditBed) -> EventCapture {
    EventCapture::subscribe(
        &bed.clients,
        &format!("{}-capture", bed.prefix),
        bed.bus(),
        DRIFT_EVENT_SOURCE,
    )
    .await
    .unwrap()
}

fn function(bed: &AuditBed) -> AuditFunction {
    AuditFunction::new(&bed.clients, &bed.config, bed.bus())
}

fn nightly() -> ScheduledAudit {
    serde_json::from_str(include_str!("../../events/schedule/nightly.json")).unwrap()
}

#[tokio::test]
async fn the_lambda_stores_the_run_and_publishes_one_drift_event() {
    let bed = AuditBed::new("audit-lambda").await;
    let events = capture_audit_events(&bed).await;
    bed.register("pl-ok", "acme", "ok", EAST).await;
    bed.deploy(EAST, "ok", "acme", "pl-ok").await;
    bed.register("pl-gone", "acme", "gone", WEST).await;
    bed.deploy(EAST, "stray", "globex", "pl-stray").await;

    let (result, metrics) = function(&bed).handle(nightly()).await;

    let response = result.unwrap();
    assert_eq!(response.status, RunStatus::Drift);
    assert_eq!(response.findings, 2);
    assert_eq!(response.event_findings_trimmed, 0);
    assert_eq!(metrics.findings, 2);
    assert_eq!(metrics.missing, 1);
    assert_eq!(metrics.orphaned, 1);
    assert_eq!(metrics.run_failed, 0);

    let stored = bed.runs().latest().await.unwrap().expect("a stored run");
    assert_eq!(stored.started_at, response.started_at);
    assert_eq!(stored.trigger, "nightly");
    assert_eq!(stored.status, RunStatus::Drift);
    assert_eq!(
        rows(&stored.findings),
        [
            row(
                "orphaned-stack",
                "pl-stray",
                "stray",
                EAST,
                "CREATE_COMPLETE"
            ),
            row("missing-stack", "pl-gone", "gone", WEST, ""),
        ]
    );
    assert_eq!(stored.findings[0].org.as_deref(), Some("globex"));

    let published = events.drain().await.unwrap();
    assert_eq!(published.len(), 1, "{published:?}");
    let event = &published[0];
    assert_eq!(event["source"], DRIFT_EVENT_SOURCE);
    assert_eq!(event["detail-type"], DRIFT_DETECTED);
    let detail = &event["detail"];
    assert_eq!(detail["startedAt"], stored.started_at.as_str());
    assert_eq!(detail["status"], "drift");
    assert_eq!(detail["findingsTrimmed"], 0);
    assert_eq!(detail["summary"]["findings"], 2);
    assert_eq!(detail["summary"]["byType"]["missing-stack"], 1);
    assert_eq!(detail["summary"]["byType"]["orphaned-stack"], 1);
    assert_eq!(
        detail["findings"],
        serde_json::to_value(&stored.findings).unwrap()
    );
}

#[tokio::test]
async fn runs_are_listed_newest_first_a_page_at_a_time() {
    let bed = AuditBed::new("audit-list").await;
    bed.register("pl-gone", "acme", "gone", EAST).await;
    let function = function(&bed);
    let (first, _) = function.handle(nightly()).await;
    let first = first.unwrap();
    bed.deploy(EAST, "gone", "acme", "pl-gone").await;
    let (second, _) = function.handle(nightly()).await;
    let second = second.unwrap();
    assert!(second.started_at > first.started_at);
    assert_eq!(second.status, RunStatus::Clean);

    let runs = bed.runs();
    let page = runs.list(1, None).await.unwrap();
    assert_eq!(page.runs.len(), 1);
    assert_eq!(page.runs[0].started_at, second.started_at);
    assert_eq!(page.next_after.as_deref(), Some(second.started_at.as_str()));
    let next = runs.list(1, page.next_after.as_deref()).await.unwrap();
    assert_eq!(next.runs.len(), 1);
    assert_eq!(next.runs[0].started_at, first.started_at);
    assert_eq!(next.runs[0].status, RunStatus::Drift);
    assert_eq!(next.next_after, None);
    let both = runs.list(10, None).await.unwrap();
    assert_eq!(both.runs.len(), 2);
    assert_eq!(both.next_after, None);
    assert_eq!(
        runs.get(&first.started_at)
            .await
            .unwrap()
            .unwrap()
            .summary
            .findings,
        1
    );
}

#[tokio::test]
async fn a_region_that_cannot_be_scanned_fails_only_the_part_of_the_orgs_registered_there() {
    let bed = AuditBed::with_interceptors(
        "audit-denied",
        &[SharedInterceptor::new(
            FaultInjector::new("DescribeStacks", "", Fault::AccessDenied, None).in_region(WEST),
        )],
    )
    .await;
    let events = capture_audit_events(&bed).await;
    bed.register("pl-east", "acme", "east", EAST).await;
    bed.register("pl-ok", "acme", "ok", EAST).await;
    bed.deploy(EAST, "ok", "acme", "pl-ok").await;
    bed.register("pl-west", "globex", "west", WEST).await;
    bed.deploy(WEST, "west", "globex", "pl-west").await;

    let (result, metrics) = function(&bed).handle(nightly()).await;

    let response = result.expect("one org's failed region does not fail the run");
    assert_eq!(response.status, RunStatus::Partial);
    assert_eq!(metrics.run_failed, 0);
    assert_eq!(metrics.org_parts_failed, 1);
    assert_eq!(metrics.read_failures, 1);
    assert_eq!(metrics.regions_scanned, 1);
    let stored = bed
        .runs()
        .latest()
        .await
        .unwrap()
        .expect("the run is stored");
    assert_eq!(stored.status, RunStatus::Partial);
    assert_eq!(stored.errors.len(), 1);
    assert_eq!(stored.errors[0].region.as_deref(), Some(WEST));
    assert_eq!(stored.errors[0].kind, "access-denied");
    assert_eq!(stored.errors[0].orgs, ["globex"]);
    assert!(stored.errors[0].concerns("globex"));
    assert!(!stored.errors[0].concerns("acme"));
    // acme's part is judged whole; globex's west entry is not called missing on a failed scan.
    assert_eq!(
        rows(&stored.findings),
        [row("missing-stack", "pl-east", "east", EAST, "")]
    );
    assert_eq!(stored.summary.matched, 1);
    assert_eq!(stored.summary.unchecked_entries, 1);
    let published = events.drain().await.unwrap();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["detail"]["status"], "partial");
    assert_eq!(published[0]["detail"]["errors"][0]["region"], WEST);
    assert_eq!(
        published[0]["detail"]["errors"][0]["orgs"],
        json!(["globex"])
    );
}

#[tokio::test]
async fn a_registry_entry_in_a_made_up_region_fails_its_orgs_part_without_a_scan() {
    let bed = AuditBed::new("audit-bogus-region").await;
    bed.register("pl-ok", "acme", "ok", EAST).await;
    bed.deploy(EAST, "ok", "acme", "pl-ok").await;
    bed.register("pl-gone", "acme", "gone", EAST).await;
    // Written before the API checked regions.
    bed.register("pl-bogus", "globex", "bogus", "zz-fake-9")
        .await;

    let run = bed.auditor().run(&request(None)).await;

    assert_eq!(run.status, RunStatus::Partial);
    assert_eq!(run.regions, ["us-east-1", "zz-fake-9"]);
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    let refused = &run.errors[0];
    assert_eq!(refused.region.as_deref(), Some("zz-fake-9"));
    // Refused before any client was built for it: not a network or DNS failure.
    assert_eq!(refused.kind, "invalid-region");
    assert_eq!(refused.orgs, ["globex"]);
    assert!(
        refused.message.starts_with(
            "\"zz-fake-9\" is not a region the platform deploys to; allowed: af-south-1,"
        ),
        "{}",
        refused.message
    );
    assert_eq!(
        rows(&run.findings),
        [row("missing-stack", "pl-gone", "gone", EAST, "")]
    );
    assert_eq!(run.summary.unchecked_entries, 1);
}

#[tokio::test]
async fn a_run_too_large_for_one_item_is_stored_in_parts_and_read_back_whole() {
    let bed = AuditBed::new("audit-parts").await;
    let findings: Vec<Finding> = (0..3_000)
        .map(|n| Finding {
            kind: FindingType::OrphanedStack,
            org: Some("acme".into()),
            pipeline_id: Some(format!("pl-{n:05}")),
            stack_name: format!("stack-{n:05}-é"),
            region: EAST.into(),
            status: Some("CREATE_COMPLETE".into()),
            detail: format!("the stack carries pipeline id pl-{n:05}, which has no registry entry"),
            remediation: "Register the pipeline if it is still in use; otherwise delete the stack."
                .into(),
        })
        .collect();
    let run = AuditRun::new(
        "2026-11-20T02:00:00.000Z".into(),
        "2026-11-20T02:00:09.000Z".into(),
        RunScope {
            trigger: "nightly".into(),
            org: None,
            regions: vec![EAST.into()],
        },
        DriftReport {
            findings,
            ..DriftReport::default()
        },
        Vec::new(),
    );
    assert!(serde_json::to_string(&run.findings).unwrap().len() > 400 * 1024);
    let runs = bed.runs();
    runs.save(&run).await.unwrap();
    assert_eq!(runs.get(&run.started_at).await.unwrap(), Some(run.clone()));
    assert_eq!(runs.list(5, None).await.unwrap().runs, [run]);
}

fn stdout_document(output: &Output) -> Value {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let documents: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"));
    assert_eq!(documents.len(), 1, "{stdout}");
    documents.into_iter().next().unwrap()
}

#[tokio::test]
async fn the_cli_exits_0_when_there_is_no_drift() {
    let bed = AuditBed::new("audit-cli-clean").await;
    bed.register("pl-ok", "acme", "ok", EAST).await;
    bed.deploy(EAST, "ok", "acme", "pl-ok").await;

    let output = bed.run_cli(&["--region", WEST]).await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("(all orgs; eu-west-1, us-east-1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 registry entries, 1 pipeline stacks, 1 matched"),
        "{stdout}"
    );
    assert!(stdout.ends_with("\nNo drift.\n"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("region scanned"), "{stderr}");
}

#[tokio::test]
async fn the_cli_prints_exactly_one_json_document_and_exits_1_on_drift() {
    let bed = AuditBed::new("audit-cli-json").await;
    bed.register("pl-ok", "acme", "acme-ok", EAST).await;
    bed.deploy(EAST, "acme-ok", "acme", "pl-ok").await;
    bed.register("pl-gone", "acme", "acme-gone", WEST).await;
    bed.deploy(WEST, "acme-stray", "acme", "pl-stray").await;
    bed.register("pl-globex", "globex", "globex-gone", EAST)
        .await;
    bed.deploy(EAST, "globex-stray", "globex", "pl-globex-stray")
        .await;

    let output = bed
        .run_cli(&["--json", "--org", "acme", "--region", EAST])
        .await;

    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let mut document = stdout_document(&output);
    for stamp in ["startedAt", "finishedAt"] {
        let value = document[stamp].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(value).is_ok() && value.ends_with('Z'),
            "{stamp} {value}"
        );
        document[stamp] = json!("(time)");
    }
    assert_eq!(
        document,
        json!({
            "startedAt": "(time)",
            "finishedAt": "(time)",
            "status": "drift",
            "trigger": "cli",
            "org": "acme",
            "regions": [WEST, EAST],
            "errors": [],
            "summary": {
                "registryEntries": 2,
                "pipelineStacks": 2,
                "infrastructureStacks": 0,
                "matched": 1,
                "uncheckedEntries": 0,
                "findings": 2,
                "inProgress": 0,
                "byType": {
                    "orphaned-stack": 1,
                    "missing-stack": 1,
                    "region-mismatch": 0,
                    "name-mismatch": 0,
                    "unhealthy-stack": 0
                }
            },
            "findings": [
                {
                    "type": "orphaned-stack",
                    "org": "acme",
                    "pipelineId": "pl-stray",
                    "stackName": "acme-stray",
                    "region": WEST,
                    "status": "CREATE_COMPLETE",
                    "detail": "the stack carries pipeline id pl-stray, which has no registry entry",
                    "remediation": "Register the pipeline if it is still in use; otherwise delete the stack."
                },
                {
                    "type": "missing-stack",
                    "org": "acme",
                    "pipelineId": "pl-gone",
                    "stackName": "acme-gone",
                    "region": WEST,
                    "status": null,
                    "detail": "the registry names stack acme-gone in eu-west-1, but no stack with this pipeline id or name exists in the scanned regions",
                    "remediation": "Redeploy the pipeline, or remove its registry entry if the pipeline was retired."
                }
            ],
            "inProgress": [],
            "expiringTokens": [],
            "tokenErrors": []
        })
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("region scanned"), "{stderr}");
}

#[tokio::test]
async fn the_cli_exits_2_when_aws_cannot_be_reached() {
    let bed = AuditBed::new("audit-cli-down").await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);

    let output = bed
        .run_cli_at(&format!("http://127.0.0.1:{port}"), &["--json"])
        .await;

    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let document = stdout_document(&output);
    assert_eq!(document["status"], "failed");
    assert_eq!(document["errors"][0]["region"], Value::Null);
    assert_eq!(document["errors"][0]["kind"], "network");
    assert_eq!(document["findings"], json!([]));
}

#[tokio::test]
async fn the_cli_exits_2_on_bad_usage_and_prints_nothing_on_stdout() {
    let bed = AuditBed::new("audit-cli-usage").await;
    let output = bed.run_cli(&["--region"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a value is required for '--region <REGION>'"),
        "{stderr}"
    );
    assert!(stderr.contains("try '--help'"), "{stderr}");
    let help = bed.run_cli(&["--help"]).await;
    assert_eq!(help.status.code(), Some(0), "{}", describe(&help));
    assert!(String::from_utf8_lossy(&help.stdout).contains("exit status: 0 no drift"));
}

#[test]
fn the_audit_configuration_reads_the_table_bus_and_extra_regions() {
    let env = |name: &str| match name {
        "CATALOG_TABLE" => Some("catalog".to_string()),
        "AUDIT_REGIONS" => Some(" us-west-2, ap-southeast-2 ,".to_string()),
        _ => None,
    };
    let config = AuditConfig::from_lookup(env).unwrap();
    assert_eq!(config.catalog_table, "catalog");
    assert_eq!(config.regions, ["us-west-2", "ap-southeast-2"]);
    assert_eq!(config.event_bus_name, None);
    assert!(config.required_event_bus().is_err());
    let bad = |name: &str| match name {
        "CATALOG_TABLE" => Some("catalog".to_string()),
        "AUDIT_REGIONS" => Some("us-east-1;eu-west-1".to_string()),
        _ => None,
    };
    assert!(AuditConfig::from_lookup(bad).is_err());
}

#[tokio::test]
async fn another_orgs_stack_named_like_an_entry_does_not_hide_its_missing_stack() {
    let bed = AuditBed::new("audit-name-squat").await;
    bed.register("pl-pay", "acme", "pay", EAST).await;
    // globex deploys a stack with acme's registered stack name and no pipeline id.
    bed.create_stack(EAST, "pay", &[(PLATFORM_TAG, "true"), (ORG_TAG, "globex")])
        .await;

    let run = bed.auditor().run(&request(None)).await;

    assert_eq!(
        rows(&run.findings),
        [
            row("orphaned-stack", "", "pay", EAST, "CREATE_COMPLETE"),
            row("missing-stack", "pl-pay", "pay", EAST, ""),
        ]
    );
    assert_eq!(run.findings[0].org.as_deref(), Some("globex"));
    assert_eq!(run.findings[1].org.as_deref(), Some("acme"));
    assert_eq!(run.summary.matched, 0);
}

const DAY: i64 = 86_400;

/// A token record as `POST /api/tokens` writes it, `days` days from expiring.
async fn mint_record(
    bed: &AuditBed,
    org: &str,
    jti: &str,
    issued_days_ago: i64,
    days: i64,
    stored: bool,
) {
    let now = chrono::Utc::now().timestamp();
    TokenStore::new(bed.clients.dynamodb.clone(), &bed.config.catalog_table)
        .record(&TokenRecord {
            org: org.into(),
            jti: jti.into(),
            sub: "machine:events:ingest".into(),
            principal: "ops@example.com".into(),
            scope: Some("events:ingest".into()),
            perms: vec!["plugins:read".into()],
            issued_at: now - issued_days_ago * DAY,
            expires_at: now + days * DAY,
            minted_by: "ops@example.com".into(),
            stored,
            revoked_at: None,
            revoked_by: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_run_reports_each_orgs_stored_token_that_expires_within_fourteen_days() {
    let bed = AuditBed::new("audit-tokens").await;
    for (org, stack) in [("acme", "a"), ("globex", "g"), ("initech", "i")] {
        bed.register(&format!("pl-{stack}"), org, stack, EAST).await;
        bed.deploy(EAST, stack, org, &format!("pl-{stack}")).await;
    }
    // acme's newest stored token expires in 3 days; its older one is no longer in the secret.
    mint_record(&bed, "acme", "acme-old", 300, 60, true).await;
    mint_record(&bed, "acme", "acme-current", 87, 3, true).await;
    // globex replaced its expiring token: nothing to report.
    mint_record(&bed, "globex", "globex-old", 355, 10, true).await;
    mint_record(&bed, "globex", "globex-new", 1, 364, true).await;
    // initech's only expiring token was handed out, not stored; hooli has no registry entry.
    mint_record(&bed, "initech", "initech-ci", 29, 1, false).await;
    mint_record(&bed, "hooli", "hooli-current", 360, 5, true).await;

    let (result, metrics) = function(&bed).handle(nightly()).await;

    assert_eq!(result.unwrap().status, RunStatus::Clean);
    assert_eq!(metrics.stored_tokens_expiring_soon, 1);
    assert_eq!((metrics.run_succeeded, metrics.read_failures), (1, 0));
    let stored = bed.runs().latest().await.unwrap().expect("a stored run");
    assert_eq!(
        stored.expiring_tokens.len(),
        1,
        "{:?}",
        stored.expiring_tokens
    );
    let token = &stored.expiring_tokens[0];
    assert_eq!(
        (token.org.as_str(), token.jti.as_str()),
        ("acme", "acme-current")
    );
    assert!(!token.expired);
    let expiry = chrono::DateTime::parse_from_rfc3339(&token.expires_at).unwrap();
    let days_left = (expiry.timestamp() - chrono::Utc::now().timestamp()) / DAY;
    assert!((2..=3).contains(&days_left), "{}", token.expires_at);
    assert!(stored.token_errors.is_empty());

    let org_only = bed.auditor().run(&request(Some("globex"))).await;
    assert!(org_only.expiring_tokens.is_empty());
}

#[tokio::test]
async fn an_org_whose_tokens_cannot_be_read_is_a_read_failure_and_the_others_are_checked() {
    let denied = FaultInjector::new("Query", "ORG#globex", Fault::AccessDenied, None);
    let bed =
        AuditBed::with_interceptors("audit-tokens-denied", &[SharedInterceptor::new(denied)]).await;
    bed.register("pl-a", "acme", "a", EAST).await;
    bed.deploy(EAST, "a", "acme", "pl-a").await;
    bed.register("pl-g", "globex", "g", EAST).await;
    bed.deploy(EAST, "g", "globex", "pl-g").await;
    mint_record(&bed, "acme", "acme-current", 350, 10, true).await;

    let (result, metrics) = function(&bed).handle(nightly()).await;

    assert_eq!(result.unwrap().status, RunStatus::Clean);
    assert_eq!(metrics.read_failures, 1);
    assert_eq!(metrics.stored_tokens_expiring_soon, 1);
    assert_eq!(metrics.run_succeeded, 1);
    let stored = bed.runs().latest().await.unwrap().expect("a stored run");
    assert_eq!(stored.token_errors.len(), 1);
    assert_eq!(stored.token_errors[0].org, "globex");
    assert_eq!(stored.token_errors[0].kind, "access-denied");
    assert_eq!(stored.expiring_tokens[0].org, "acme");
}

#[tokio::test]
async fn a_run_that_cannot_be_stored_did_not_succeed() {
    let unavailable = FaultInjector::new("PutItem", "RUN#", Fault::ServiceUnavailable, None);
    let bed = AuditBed::with_interceptors(
        "audit-unstored",
        &[SharedInterceptor::new(unavailable.clone())],
    )
    .await;
    bed.register("pl-a", "acme", "a", EAST).await;
    bed.deploy(EAST, "a", "acme", "pl-a").await;

    let (result, metrics) = function(&bed).handle(nightly()).await;

    assert!(result.is_err());
    assert!(unavailable.injected() > 0);
    assert_eq!((metrics.run_failed, metrics.run_succeeded), (0, 0));
}
