//! The plugin-lookup function against the emulator: real DynamoDB reads of a seeded catalog, and
//! custom-resource answers PUT to a real local HTTP server standing in for the pre-signed S3 URL
//! (reachable only because these tests widen the ResponseURL targets to loopback addresses; the
//! function itself answers CloudFormation's response bucket only).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use axum::body::Bytes;
use axum::extract::State;
use axum::Router;
use http::{HeaderMap, Method, StatusCode, Uri};
use pb_aws::plugins::{PluginCatalog, PluginRecord, StatusChange};
use pb_aws::public_versions::PublicVersionCache;
use pb_domain::plugin::{
    AccessModifier, LookupOutcome, PluginSpec, ResolvedFrom, MAX_LOOKUP_REFERENCES,
};
use pb_plugin_lookup::{
    https_client, Answer, CfnResponse, DeliveryError, HandlerError, PluginLookup, RefusedUrl,
    RequestError, ResponseSender, ResponseTargets, RetryPolicy, Status, ANSWER_RESERVE,
    RESPONSE_BODY_LIMIT,
};
use pb_tests::emulator::TestBed;
use pb_tests::events::sample;
use pb_tests::faults::{Fault, FaultInjector};
use pb_tests::request_counter::RequestCounter;
use pb_tests::resources::SourceBus;
use serde_json::{json, Value};

const ORG: &str = "acme";
const OTHER_ORG: &str = "globex";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/payments-pipeline/5b5a4f60-c5f4-11ef-9d5e-0affd4f1c2a3";
const CREATE_REQUEST_ID: &str = "3f2c8a91-6b7d-4e2a-9c1f-0d8e7b6a5c43";
const UPDATE_REQUEST_ID: &str = "8d1e4b7a-2c5f-4a8e-b3d6-9f0a1c2e4b6d";
const DELETE_REQUEST_ID: &str = "c4a7e1d2-9b3f-4e6a-8c5d-2f1b0a9e8d7c";
const SAMPLE_PHYSICAL_ID: &str = "pluginlookup-acme-build@^1.2";

// ---------------------------------------------------------------------------------------------
// The catalog

fn image(org: &str, name: &str, version: &str) -> String {
    format!("registry.example.com/{org}/{name}:{version}")
}

/// A valid build step; `lint` and the generated `step-*` plugins run SMALL with the default
/// timeout, `build` MEDIUM with 30 minutes, so the pinned attributes differ per plugin.
fn build_step(org: &str, name: &str, version: &str) -> PluginSpec {
    let (compute, timeout) = if name == "build" {
        ("MEDIUM", 30)
    } else {
        ("SMALL", 60)
    };
    serde_json::from_value(json!({
        "name": name,
        "version": version,
        "category": "build",
        "pluginType": "CodeBuildStep",
        "computeType": compute,
        "timeoutMinutes": timeout,
        "image": image(org, name, version),
        "commands": ["make ci"],
    }))
    .unwrap()
}

fn approval_step(name: &str, version: &str) -> PluginSpec {
    serde_json::from_value(json!({
        "name": name,
        "version": version,
        "category": "approval",
        "pluginType": "ManualApprovalStep",
    }))
    .unwrap()
}

fn public(mut spec: PluginSpec) -> PluginSpec {
    spec.access_modifier = AccessModifier::Public;
    spec
}

fn inactive(mut spec: PluginSpec) -> PluginSpec {
    spec.active = false;
    spec
}

async fn publish(catalog: &PluginCatalog, org: &str, spec: PluginSpec) {
    let record = PluginRecord {
        org: org.to_string(),
        spec,
        deprecated: false,
        deprecation_message: None,
        published_at: "2026-11-01T09:00:00Z".to_string(),
        published_by: "user-7".to_string(),
    };
    catalog.publish(&record).await.unwrap();
}

fn catalog(bed: &TestBed) -> PluginCatalog {
    PluginCatalog::new(bed.clients.dynamodb.clone(), &bed.stack.catalog_table)
}

/// acme's own `build` versions, a higher public `build` of globex, a prerelease and an inactive
/// version, a public `lint` of globex only, globex's private `secret-scan`, acme's `approve`.
async fn seed_catalog(bed: &TestBed) {
    let catalog = catalog(bed);
    for version in ["1.2.0", "1.4.1", "2.0.0", "1.5.0-rc.1"] {
        publish(&catalog, ORG, build_step(ORG, "build", version)).await;
    }
    publish(&catalog, ORG, inactive(build_step(ORG, "build", "1.4.2"))).await;
    publish(&catalog, ORG, approval_step("approve", "1.0.0")).await;
    publish(
        &catalog,
        OTHER_ORG,
        public(build_step(OTHER_ORG, "build", "1.9.0")),
    )
    .await;
    for version in ["3.1.0", "3.2.0"] {
        publish(
            &catalog,
            OTHER_ORG,
            public(build_step(OTHER_ORG, "lint", version)),
        )
        .await;
    }
    publish(
        &catalog,
        OTHER_ORG,
        build_step(OTHER_ORG, "secret-scan", "1.0.0"),
    )
    .await;
}

async fn seeded_bed(label: &str) -> TestBed {
    let bed = TestBed::new(label).await.unwrap();
    seed_catalog(&bed).await;
    bed
}

fn lookup_on(bed: &TestBed, table: &str) -> PluginLookup {
    lookup_in(PluginCatalog::new(bed.clients.dynamodb.clone(), table))
}

fn lookup_in(catalog: PluginCatalog) -> PluginLookup {
    PluginLookup::new(
        catalog,
        ResponseSender::new(
            https_client().unwrap(),
            RetryPolicy::default(),
            ResponseTargets::LoopbackForTests,
        ),
    )
}

/// Far enough for every test here except those about the deadline.
fn deadline() -> Instant {
    Instant::now() + ANSWER_RESERVE + Duration::from_secs(60)
}

fn lookup(bed: &TestBed) -> PluginLookup {
    lookup_on(bed, &bed.stack.catalog_table)
}

fn missing_table(bed: &TestBed) -> String {
    format!("{}-no-such-table", bed.prefix)
}

// ---------------------------------------------------------------------------------------------
// Direct invoke

fn direct(references: &[(&str, &str)]) -> Value {
    let plugins: Vec<Value> = references
        .iter()
        .map(|(name, version)| json!({"name": name, "version": version}))
        .collect();
    json!({"orgId": ORG, "plugins": plugins})
}

async fn outcome_of(lookup: &PluginLookup, payload: Value) -> LookupOutcome {
    match lookup.handle(payload, deadline()).await.unwrap() {
        Answer::Lookup(outcome) => outcome,
        other => panic!("expected a lookup outcome, got {other:?}"),
    }
}

/// `(index, name, requested, version, from)` of every resolved reference.
fn pins(outcome: &LookupOutcome) -> Vec<(usize, &str, &str, &str, ResolvedFrom)> {
    outcome
        .resolved
        .iter()
        .map(|r| {
            (
                r.index,
                r.name.as_str(),
                r.requested.as_str(),
                r.version.as_str(),
                r.from,
            )
        })
        .collect()
}

#[tokio::test]
async fn direct_invoke_resolves_every_range_form_with_the_callers_own_versions_first() {
    let bed = seeded_bed("lookup-ranges").await;
    let references = [
        ("build", "^1.2"),
        ("build", "~1.2.0"),
        ("build", "2.0.0"),
        ("build", "latest"),
        ("build", "*"),
        ("build", ">=1.5.0-rc.1 <1.6"),
        ("build", "^1.5"),
        ("lint", "^3"),
        ("lint", "~3.1"),
        ("approve", "1.0.0"),
    ];
    let outcome = outcome_of(&lookup(&bed), direct(&references)).await;
    use ResolvedFrom::{CallerOrg, PublicCatalog};
    assert_eq!(
        pins(&outcome),
        vec![
            // 1.4.2 is inactive, 1.5.0-rc.1 a prerelease, globex's public 1.9.0 loses to acme's own.
            (0, "build", "^1.2", "1.4.1", CallerOrg),
            (1, "build", "~1.2.0", "1.2.0", CallerOrg),
            (2, "build", "2.0.0", "2.0.0", CallerOrg),
            (3, "build", "latest", "2.0.0", CallerOrg),
            (4, "build", "*", "2.0.0", CallerOrg),
            // A prerelease only when the range names one.
            (5, "build", ">=1.5.0-rc.1 <1.6", "1.5.0-rc.1", CallerOrg),
            // None of acme's versions matches, so the public catalog answers.
            (6, "build", "^1.5", "1.9.0", PublicCatalog),
            (7, "lint", "^3", "3.2.0", PublicCatalog),
            (8, "lint", "~3.1", "3.1.0", PublicCatalog),
            (9, "approve", "1.0.0", "1.0.0", CallerOrg),
        ]
    );
    assert_eq!(outcome.unresolved, vec![]);
    assert_eq!(
        outcome.resolved[6].spec,
        public(build_step(OTHER_ORG, "build", "1.9.0"))
    );
}

#[tokio::test]
async fn direct_invoke_explains_every_reference_it_cannot_resolve() {
    let bed = seeded_bed("lookup-unresolved").await;
    let references = [
        ("buil", "^1"),
        ("build-tools", "^1"),
        ("Build", "^1"),
        ("build", "^^1"),
        ("build", "^3"),
        ("secret-scan", "1.0.0"),
        ("lint", "latest"),
    ];
    let outcome = outcome_of(&lookup(&bed), direct(&references)).await;
    let unresolved: Vec<(usize, &str, &str)> = outcome
        .unresolved
        .iter()
        .map(|u| (u.index, u.code, u.reason.as_str()))
        .collect();
    let not_found = "plugin_not_found";
    assert_eq!(
        unresolved,
        vec![
            (0, not_found, "no active version of plugin 'buil' visible to this org matches '^1'"),
            (1, not_found, "no active version of plugin 'build-tools' visible to this org matches '^1'"),
            (2, not_found, "no active version of plugin 'Build' visible to this org matches '^1'"),
            (3, "invalid_range", "invalid version range '^^1': '^^1': unexpected character '^' while parsing major version number"),
            (4, not_found, "no active version of plugin 'build' visible to this org matches '^3'"),
            // globex's private plugin is invisible to acme.
            (5, not_found, "no active version of plugin 'secret-scan' visible to this org matches '1.0.0'"),
        ]
    );
    assert_eq!(
        pins(&outcome),
        vec![(6, "lint", "latest", "3.2.0", ResolvedFrom::PublicCatalog)]
    );
}

#[tokio::test]
async fn the_sample_direct_payload_resolves_to_full_specs() {
    let bed = seeded_bed("lookup-sample").await;
    let outcome = outcome_of(&lookup(&bed), sample("lookup/direct.json").unwrap()).await;
    assert_eq!(
        pins(&outcome),
        vec![
            (0, "build", "^1.2", "1.4.1", ResolvedFrom::CallerOrg),
            (1, "lint", "latest", "3.2.0", ResolvedFrom::PublicCatalog),
            (2, "approve", "1.0.0", "1.0.0", ResolvedFrom::CallerOrg),
        ]
    );
    let specs: Vec<&PluginSpec> = outcome.resolved.iter().map(|r| &r.spec).collect();
    assert_eq!(
        specs,
        vec![
            &build_step(ORG, "build", "1.4.1"),
            &public(build_step(OTHER_ORG, "lint", "3.2.0")),
            &approval_step("approve", "1.0.0"),
        ]
    );
    let wire = serde_json::to_value(Answer::Lookup(outcome)).unwrap();
    assert_eq!(wire["resolved"][0]["from"], "callerOrg");
    assert_eq!(wire["unresolved"], json!([]));
}

#[tokio::test]
async fn bad_direct_payloads_are_typed_errors_before_any_catalog_read() {
    let bed = TestBed::new("lookup-bad-input").await.unwrap();
    // Any catalog read would fail: the errors below come from the input alone.
    let lookup = lookup_on(&bed, &missing_table(&bed));
    let too_many: Vec<Value> = (0..=MAX_LOOKUP_REFERENCES)
        .map(|i| json!({"name": format!("step-{i}"), "version": "^1"}))
        .collect();
    let cases = [
        (
            json!({"plugins": [{"name": "build", "version": "^1"}]}),
            RequestError::Missing("orgId"),
        ),
        (
            json!({"orgId": ORG, "plugins": []}),
            RequestError::NoPlugins,
        ),
        (
            json!({"orgId": ORG, "plugins": too_many}),
            RequestError::TooManyPlugins { count: 101 },
        ),
        (
            json!({"orgId": ORG, "plugins": [{"name": "build", "range": "^1"}]}),
            RequestError::Malformed("unknown field `range`, expected `name` or `version`".into()),
        ),
        (
            json!("build@^1"),
            RequestError::Malformed("expected a JSON object, got a string".into()),
        ),
        (
            // A custom-resource payload without its ResponseURL is not one.
            json!({"RequestType": "Create", "ResourceProperties": {}}),
            RequestError::Malformed(
                "unknown field `RequestType`, expected `orgId` or `plugins`".into(),
            ),
        ),
    ];
    for (payload, expected) in cases {
        match lookup.handle(payload.clone(), deadline()).await {
            Err(HandlerError::InvalidRequest(error)) => assert_eq!(error, expected, "{payload}"),
            other => panic!("{payload}: expected InvalidRequest, got {other:?}"),
        }
    }
    let error = lookup
        .handle(json!({"orgId": ORG}), deadline())
        .await
        .unwrap_err();
    assert_eq!(
        (error.error_type(), error.to_string().as_str()),
        (
            "InvalidRequest",
            "invalid lookup request: no plugin reference given"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Requests per lookup, and the warm container's cache of public versions

const PUBLIC_CACHE_TTL: Duration = Duration::from_secs(30);

/// A clock the test moves by hand, so expiry is tested without waiting.
#[derive(Clone)]
struct ManualClock(Arc<Mutex<Instant>>);

impl ManualClock {
    fn new() -> Self {
        ManualClock(Arc::new(Mutex::new(Instant::now())))
    }

    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }

    fn cache(&self) -> PublicVersionCache {
        let time = self.0.clone();
        PublicVersionCache::with_clock(PUBLIC_CACHE_TTL, Arc::new(move || *time.lock().unwrap()))
    }
}

/// A seeded catalog whose every request is counted, and a lookup caching public versions as the
/// function does.
async fn counted_bed(label: &str) -> (TestBed, RequestCounter) {
    let counter = RequestCounter::default();
    let bed = TestBed::with_interceptors(
        label,
        &[SharedInterceptor::new(counter.clone())],
        SourceBus::Dedicated,
    )
    .await
    .unwrap();
    seed_catalog(&bed).await;
    counter.reset();
    (bed, counter)
}

fn caching_lookup(bed: &TestBed, clock: &ManualClock) -> PluginLookup {
    lookup_in(catalog(bed).with_public_version_cache(clock.cache()))
}

fn direct_for(org: &str, references: &[(&str, &str)]) -> Value {
    let mut payload = direct(references);
    payload["orgId"] = json!(org);
    payload
}

/// The requests sent since the last call, by operation.
fn requests_since_last(counter: &RequestCounter) -> Vec<(String, u64)> {
    let sent = counter.snapshot().into_iter().collect();
    counter.reset();
    sent
}

fn queries(count: u64) -> Vec<(String, u64)> {
    vec![("DynamoDB.Query".to_string(), count)]
}

#[tokio::test]
async fn a_lookup_reads_each_distinct_name_once_and_a_warm_one_only_the_callers_own_versions() {
    let (bed, counter) = counted_bed("lookup-requests").await;
    let lookup = caching_lookup(&bed, &ManualClock::new());
    // Seven references to three distinct names.
    let references = [
        ("build", "^1.2"),
        ("build", "2.0.0"),
        ("build", "latest"),
        ("lint", "^3"),
        ("lint", "~3.1"),
        ("lint", "*"),
        ("approve", "1.0.0"),
    ];

    let cold = outcome_of(&lookup, direct(&references)).await;
    // Per name: the org's own versions and the public ones, read together.
    assert_eq!(requests_since_last(&counter), queries(2 * 3));
    let warm = outcome_of(&lookup, direct(&references)).await;
    // Per name: only the org's own versions; the public ones come from the cache.
    assert_eq!(requests_since_last(&counter), queries(3));

    assert_eq!(warm, cold);
    assert_eq!(
        pins(&warm)
            .iter()
            .map(|(_, name, _, version, _)| format!("{name}@{version}"))
            .collect::<Vec<_>>(),
        [
            "build@1.4.1",
            "build@2.0.0",
            "build@2.0.0",
            "lint@3.2.0",
            "lint@3.1.0",
            "lint@3.2.0",
            "approve@1.0.0"
        ]
    );
}

#[tokio::test]
async fn public_versions_are_reused_within_the_ttl_and_read_again_after_it() {
    let (bed, counter) = counted_bed("lookup-cache-ttl").await;
    let clock = ManualClock::new();
    let lookup = caching_lookup(&bed, &clock);
    let latest_lint = direct(&[("lint", "latest")]);
    let resolved_lint = |outcome: &LookupOutcome| outcome.resolved[0].version.clone();
    assert_eq!(
        resolved_lint(&outcome_of(&lookup, latest_lint.clone()).await),
        "3.2.0"
    );
    publish(
        &catalog(&bed),
        OTHER_ORG,
        public(build_step(OTHER_ORG, "lint", "3.3.0")),
    )
    .await;
    counter.reset();

    clock.advance(PUBLIC_CACHE_TTL - Duration::from_secs(1));
    assert_eq!(
        resolved_lint(&outcome_of(&lookup, latest_lint.clone()).await),
        "3.2.0"
    );
    assert_eq!(requests_since_last(&counter), queries(1));

    clock.advance(Duration::from_secs(1));
    assert_eq!(
        resolved_lint(&outcome_of(&lookup, latest_lint).await),
        "3.3.0"
    );
    assert_eq!(requests_since_last(&counter), queries(2));
}

#[tokio::test]
async fn one_orgs_private_versions_never_reach_another_org_through_the_cache() {
    let (bed, _) = counted_bed("lookup-cache-tenancy").await;
    let lookup = caching_lookup(&bed, &ManualClock::new());
    // globex owns the public name `lint` and keeps a newer version of it private.
    publish(
        &catalog(&bed),
        OTHER_ORG,
        build_step(OTHER_ORG, "lint", "4.0.0"),
    )
    .await;
    let references = [("lint", "latest"), ("lint", "^4"), ("secret-scan", "1.0.0")];

    let globex = outcome_of(&lookup, direct_for(OTHER_ORG, &references)).await;
    let acme = outcome_of(&lookup, direct_for(ORG, &references)).await;

    use ResolvedFrom::{CallerOrg, PublicCatalog};
    assert_eq!(
        pins(&globex),
        vec![
            (0, "lint", "latest", "4.0.0", CallerOrg),
            (1, "lint", "^4", "4.0.0", CallerOrg),
            (2, "secret-scan", "1.0.0", "1.0.0", CallerOrg),
        ]
    );
    assert_eq!(
        pins(&acme),
        vec![(0, "lint", "latest", "3.2.0", PublicCatalog)]
    );
    let unresolved: Vec<usize> = acme.unresolved.iter().map(|u| u.index).collect();
    assert_eq!(unresolved, [1, 2]);
}

#[tokio::test]
async fn the_owner_of_a_public_name_always_resolves_its_own_current_versions() {
    let (bed, _) = counted_bed("lookup-cache-owner").await;
    let lookup = caching_lookup(&bed, &ManualClock::new());
    let latest_lint = [("lint", "latest")];
    outcome_of(&lookup, direct_for(OTHER_ORG, &latest_lint)).await;
    let deactivate = StatusChange {
        active: Some(false),
        ..StatusChange::default()
    };
    catalog(&bed)
        .set_status(OTHER_ORG, "lint", &"3.2.0".parse().unwrap(), &deactivate)
        .await
        .unwrap()
        .unwrap();

    let owner = outcome_of(&lookup, direct_for(OTHER_ORG, &latest_lint)).await;
    let other = outcome_of(&lookup, direct_for(ORG, &latest_lint)).await;

    // The owner's versions are read from its partition, never from the cached public copy.
    assert_eq!(owner.resolved[0].version, "3.1.0");
    // Other orgs see the change once the cached copy expires.
    assert_eq!(other.resolved[0].version, "3.2.0");
}

#[tokio::test]
async fn an_unreadable_catalog_is_an_error_with_its_kind() {
    let bed = TestBed::new("lookup-no-table").await.unwrap();
    let error = lookup_on(&bed, &missing_table(&bed))
        .handle(direct(&[("build", "^1")]), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, HandlerError::Catalog(aws) if aws.kind() == "rejected"),
        "{error:?}"
    );
    assert_eq!(
        (error.error_type(), error.to_string().as_str()),
        (
            "CatalogLookupFailed",
            "plugin catalog lookup failed (rejected): Query was rejected \
             (ResourceNotFoundException): Requested resource not found"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// The custom-resource protocol, against a real HTTP server

/// One request as the server received it.
#[derive(Debug, Clone)]
struct ReceivedPut {
    method: Method,
    path_and_query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl ReceivedPut {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

#[derive(Clone)]
struct EndpointState {
    received: Arc<Mutex<Vec<ReceivedPut>>>,
    /// Statuses to answer with, in order; the last one repeats.
    statuses: Arc<Mutex<VecDeque<StatusCode>>>,
}

/// Stands in for the pre-signed S3 URL: records every request and answers the scripted status.
struct ResponseEndpoint {
    origin: String,
    received: Arc<Mutex<Vec<ReceivedPut>>>,
}

impl ResponseEndpoint {
    async fn answering(statuses: &[u16]) -> Self {
        let state = EndpointState {
            received: Arc::default(),
            statuses: Arc::new(Mutex::new(
                statuses
                    .iter()
                    .map(|s| StatusCode::from_u16(*s).unwrap())
                    .collect(),
            )),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new().fallback(record).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        ResponseEndpoint {
            origin,
            received: state.received,
        }
    }

    async fn ok() -> Self {
        Self::answering(&[200]).await
    }

    fn received(&self) -> Vec<ReceivedPut> {
        self.received.lock().unwrap().clone()
    }

    fn only_put(&self) -> ReceivedPut {
        let received = self.received();
        assert_eq!(received.len(), 1, "{received:?}");
        received[0].clone()
    }

    /// A sample request whose ResponseURL keeps its pre-signed path and query but points here.
    fn request(&self, sample_name: &str) -> (Value, String) {
        let mut request = sample(&format!("cloudformation/{sample_name}")).unwrap();
        let presigned: Uri = request["ResponseURL"].as_str().unwrap().parse().unwrap();
        let path_and_query = presigned.path_and_query().unwrap().to_string();
        request["ResponseURL"] = json!(format!("{}{path_and_query}", self.origin));
        (request, path_and_query)
    }
}

async fn record(
    State(state): State<EndpointState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.received.lock().unwrap().push(ReceivedPut {
        method,
        path_and_query: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers,
        body: body.to_vec(),
    });
    let mut statuses = state.statuses.lock().unwrap();
    match statuses.len() {
        0 => StatusCode::OK,
        1 => statuses[0],
        _ => statuses.pop_front().unwrap_or(StatusCode::OK),
    }
}

async fn answer(lookup: &PluginLookup, request: Value) -> CfnResponse {
    match lookup.handle(request, deadline()).await.unwrap() {
        Answer::CustomResource(response) => response,
        other => panic!("expected a custom-resource answer, got {other:?}"),
    }
}

/// The sample Create with other `ResourceProperties`.
fn create_with(endpoint: &ResponseEndpoint, properties: Value) -> Value {
    let (mut request, _) = endpoint.request("create.json");
    request["ResourceProperties"] = properties;
    request
}

#[tokio::test]
async fn create_puts_success_with_the_pinned_reference_exactly_as_the_protocol_wants() {
    let bed = seeded_bed("cfn-create").await;
    let endpoint = ResponseEndpoint::ok().await;
    let (request, presigned_path) = endpoint.request("create.json");

    let response = answer(&lookup(&bed), request).await;

    let put = endpoint.only_put();
    assert_eq!(put.method, Method::PUT);
    assert_eq!(put.path_and_query, presigned_path);
    // The URL is signed without a content type: it must be sent, and empty.
    assert_eq!(put.header("content-type"), Some(""));
    assert_eq!(
        put.header("content-length"),
        Some(put.body.len().to_string().as_str())
    );
    assert_eq!(put.header("transfer-encoding"), None);
    assert_eq!(
        put.json(),
        json!({
            "Status": "SUCCESS",
            "Reason": "resolved 1 plugin reference",
            "PhysicalResourceId": SAMPLE_PHYSICAL_ID,
            "StackId": STACK_ID,
            "RequestId": CREATE_REQUEST_ID,
            "LogicalResourceId": "BuildStep",
            "NoEcho": false,
            "Data": {
                "Name": "build",
                "Version": "1.4.1",
                "Ref": "build@1.4.1",
                "Image": "registry.example.com/acme/build:1.4.1",
                "ComputeType": "MEDIUM",
                "TimeoutMinutes": "30",
                "PluginType": "CodeBuildStep",
                "Source": "callerOrg",
            },
        })
    );
    assert_eq!(response.to_json(), put.json());
}

#[tokio::test]
async fn create_fails_with_a_reason_naming_every_unresolved_reference() {
    let bed = seeded_bed("cfn-unresolved").await;
    let endpoint = ResponseEndpoint::ok().await;
    let request = create_with(
        &endpoint,
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:lookup",
            "OrgId": ORG,
            "Plugins": [
                {"Name": "build", "Version": "^1.2"},
                {"Name": "buil", "Version": "^1"},
                {"Name": "lint", "Version": "^^3"},
            ],
        }),
    );

    answer(&lookup(&bed), request).await;

    assert_eq!(
        endpoint.only_put().json(),
        json!({
            "Status": "FAILED",
            "Reason": "2 of 3 plugin references could not be resolved: \
                       buil@^1: no active version of plugin 'buil' visible to this org matches '^1'; \
                       lint@^^3: invalid version range '^^3': '^^3': unexpected character '^' \
                       while parsing major version number",
            "PhysicalResourceId": "pluginlookup-acme-buil@^1,build@^1.2,lint@^^3",
            "StackId": STACK_ID,
            "RequestId": CREATE_REQUEST_ID,
            "LogicalResourceId": "BuildStep",
            "NoEcho": false,
            "Data": {},
        })
    );
}

#[tokio::test]
async fn update_keeps_the_physical_id_and_pins_each_plugin_of_a_list() {
    let bed = seeded_bed("cfn-update").await;
    let endpoint = ResponseEndpoint::ok().await;
    let (request, _) = endpoint.request("update.json");

    answer(&lookup(&bed), request).await;

    assert_eq!(
        endpoint.only_put().json(),
        json!({
            "Status": "SUCCESS",
            "Reason": "resolved 2 plugin references",
            "PhysicalResourceId": SAMPLE_PHYSICAL_ID,
            "StackId": STACK_ID,
            "RequestId": UPDATE_REQUEST_ID,
            "LogicalResourceId": "BuildStep",
            "NoEcho": false,
            "Data": {
                "build.Version": "1.2.0",
                "build.Ref": "build@1.2.0",
                "build.Image": "registry.example.com/acme/build:1.2.0",
                "build.ComputeType": "MEDIUM",
                "build.TimeoutMinutes": "30",
                "build.PluginType": "CodeBuildStep",
                "build.Source": "callerOrg",
                "lint.Version": "3.2.0",
                "lint.Ref": "lint@3.2.0",
                "lint.Image": "registry.example.com/globex/lint:3.2.0",
                "lint.ComputeType": "SMALL",
                "lint.TimeoutMinutes": "60",
                "lint.PluginType": "CodeBuildStep",
                "lint.Source": "publicCatalog",
            },
        })
    );
}

#[tokio::test]
async fn delete_succeeds_without_reading_the_catalog() {
    let bed = TestBed::new("cfn-delete").await.unwrap();
    let lookup = lookup_on(&bed, &missing_table(&bed));
    let endpoint = ResponseEndpoint::ok().await;
    let (request, _) = endpoint.request("delete.json");

    answer(&lookup, request).await;

    assert_eq!(
        endpoint.only_put().json(),
        json!({
            "Status": "SUCCESS",
            "Reason": "nothing to delete",
            "PhysicalResourceId": SAMPLE_PHYSICAL_ID,
            "StackId": STACK_ID,
            "RequestId": DELETE_REQUEST_ID,
            "LogicalResourceId": "BuildStep",
            "NoEcho": false,
            "Data": {},
        })
    );

    // The same function fails a Create: the catalog really is unreadable.
    let endpoint = ResponseEndpoint::ok().await;
    let (request, _) = endpoint.request("create.json");
    answer(&lookup, request).await;
    let put = endpoint.only_put().json();
    assert_eq!(put["Status"], "FAILED");
    assert_eq!(
        put["Reason"],
        "plugin catalog lookup failed (rejected): Query was rejected \
         (ResourceNotFoundException): Requested resource not found"
    );
}

#[tokio::test]
async fn pinned_references_over_the_response_limit_fail_the_resource_naming_the_limit() {
    let bed = TestBed::new("cfn-4kb").await.unwrap();
    let catalog = catalog(&bed);
    let names: Vec<String> = (0..20).map(|i| format!("step-{i:02}")).collect();
    for name in &names {
        publish(&catalog, ORG, build_step(ORG, name, "1.0.0")).await;
    }
    let plugins: Vec<Value> = names
        .iter()
        .map(|name| json!({"Name": name, "Version": "^1"}))
        .collect();
    let endpoint = ResponseEndpoint::ok().await;
    let request = create_with(&endpoint, json!({"OrgId": ORG, "Plugins": plugins}));

    answer(&lookup(&bed), request).await;

    let put = endpoint.only_put();
    assert!(put.body.len() <= RESPONSE_BODY_LIMIT, "{}", put.body.len());
    let body = put.json();
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["Data"], json!({}));
    let reason = body["Reason"].as_str().unwrap();
    let size: usize = reason
        .strip_prefix("the pinned plugin references need a ")
        .and_then(|rest| rest.split_once("-byte response"))
        .map(|(size, _)| size.parse().unwrap())
        .unwrap_or_else(|| panic!("{reason}"));
    assert!(size > RESPONSE_BODY_LIMIT, "{reason}");
    assert!(
        reason.ends_with(
            "-byte response, over CloudFormation's 4096-byte limit; split Plugins across several \
             Custom::PluginLookup resources"
        ),
        "{reason}"
    );

    // Half the list fits, so the limit is the response's, not an arbitrary count.
    let endpoint = ResponseEndpoint::ok().await;
    let request = create_with(&endpoint, json!({"OrgId": ORG, "Plugins": &plugins[..10]}));
    answer(&lookup(&bed), request).await;
    assert_eq!(endpoint.only_put().json()["Status"], "SUCCESS");
}

#[tokio::test]
async fn malformed_requests_are_answered_failed_with_the_reason() {
    let bed = seeded_bed("cfn-malformed").await;
    let lookup = lookup(&bed);
    let cases = [
        (
            json!({"Name": "build", "Version": "^1"}),
            "invalid ResourceProperties: OrgId is required and must not be blank",
        ),
        (
            json!({"OrgId": ORG, "Name": "build", "Plugins": [{"Name": "lint", "Version": "^3"}]}),
            "invalid ResourceProperties: give either Name and Version, or Plugins, not both",
        ),
        (
            json!({"OrgId": ORG, "Name": "build", "Version": "^1", "Region": "eu-west-1"}),
            "invalid ResourceProperties: unknown field `Region`, expected one of \
             `ServiceToken`, `OrgId`, `Name`, `Version`, `Plugins`",
        ),
    ];
    for (properties, reason) in cases {
        let endpoint = ResponseEndpoint::ok().await;
        answer(&lookup, create_with(&endpoint, properties)).await;
        let put = endpoint.only_put().json();
        assert_eq!(
            (put["Status"].as_str(), put["Reason"].as_str()),
            (Some("FAILED"), Some(reason))
        );
        assert_eq!(
            put["PhysicalResourceId"],
            format!("pluginlookup-{CREATE_REQUEST_ID}")
        );
    }

    let endpoint = ResponseEndpoint::ok().await;
    let (mut request, _) = endpoint.request("update.json");
    request["RequestType"] = json!("Import");
    answer(&lookup, request).await;
    let put = endpoint.only_put().json();
    assert_eq!(put["Status"], "FAILED");
    assert_eq!(put["Reason"], "unsupported RequestType 'Import'");
    assert_eq!(put["PhysicalResourceId"], SAMPLE_PHYSICAL_ID);
}

#[tokio::test]
async fn a_response_url_that_fails_once_gets_the_same_answer_again() {
    let bed = seeded_bed("cfn-retry").await;
    let endpoint = ResponseEndpoint::answering(&[500, 200]).await;
    let (request, _) = endpoint.request("create.json");

    let response = answer(&lookup(&bed), request).await;

    let received = endpoint.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].body, received[1].body);
    assert_eq!(received[1].json(), response.to_json());
    assert_eq!(response.status, Status::Success);
}

#[tokio::test]
async fn a_response_url_that_keeps_failing_is_an_error_after_the_retries() {
    let bed = seeded_bed("cfn-undeliverable").await;
    let endpoint = ResponseEndpoint::answering(&[503]).await;
    let (request, _) = endpoint.request("create.json");

    let error = lookup(&bed).handle(request, deadline()).await.unwrap_err();

    assert_eq!(
        endpoint.received().len(),
        RetryPolicy::default().attempts as usize
    );
    // Never the URL: it is pre-signed.
    assert_eq!(
        (error.error_type(), error.to_string().as_str()),
        (
            "ResponseNotDelivered",
            "custom-resource response not delivered: the ResponseURL did not take the response \
             in 4 attempts; last: answered HTTP 503"
        )
    );
}

#[tokio::test]
async fn a_throttled_catalog_fails_the_resource_after_the_sdk_retries() {
    let faults = FaultInjector::new("Query", "#PLUGIN#build", Fault::Throttling, None);
    let bed = TestBed::with_interceptors(
        "cfn-throttled",
        &[SharedInterceptor::new(faults.clone())],
        SourceBus::Dedicated,
    )
    .await
    .unwrap();
    seed_catalog(&bed).await;
    let endpoint = ResponseEndpoint::ok().await;
    let (request, _) = endpoint.request("create.json");

    answer(&lookup(&bed), request).await;

    // The SDK's standard retry mode makes 3 attempts before giving up.
    assert_eq!(faults.injected(), 3);
    let put = endpoint.only_put().json();
    assert_eq!(put["Status"], "FAILED");
    assert_eq!(
        put["Reason"],
        "plugin catalog lookup failed (throttled): Query was throttled (ThrottlingException)"
    );
    assert_eq!(put["PhysicalResourceId"], SAMPLE_PHYSICAL_ID);
}

// ---------------------------------------------------------------------------------------------
// Where answers may go, answering twice, and the deadline

fn lookup_answering_to(bed: &TestBed, targets: ResponseTargets) -> PluginLookup {
    PluginLookup::new(
        catalog(bed),
        ResponseSender::new(https_client().unwrap(), RetryPolicy::default(), targets),
    )
}

fn in_us_east_1() -> ResponseTargets {
    ResponseTargets::CloudFormation {
        region: "us-east-1".into(),
    }
}

#[tokio::test]
async fn a_response_url_that_is_not_cloudformations_bucket_is_refused_before_anything_is_sent() {
    let bed = seeded_bed("cfn-refused").await;
    let lookup = lookup_answering_to(&bed, in_us_east_1());
    let endpoint = ResponseEndpoint::ok().await;
    let (request, presigned_path) = endpoint.request("create.json");
    let port = request["ResponseURL"]
        .as_str()
        .unwrap()
        .parse::<Uri>()
        .unwrap()
        .port_u16()
        .unwrap();
    let bucket = "cloudformation-custom-resource-response-useast1.s3.amazonaws.com";
    let cases = [
        // The endpoint's own address: plain http, and https on its port.
        (
            request["ResponseURL"].as_str().unwrap().to_string(),
            RefusedUrl::NotHttps,
        ),
        (
            format!("https://127.0.0.1:{port}{presigned_path}"),
            RefusedUrl::Port,
        ),
        (
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_string(),
            RefusedUrl::NotHttps,
        ),
        (
            "https://169.254.169.254/latest/meta-data/iam/security-credentials/".to_string(),
            RefusedUrl::NotCloudFormation {
                host: "169.254.169.254".into(),
                region: "us-east-1".into(),
            },
        ),
        (
            format!("https://hooks.evil.example{presigned_path}"),
            RefusedUrl::NotCloudFormation {
                host: "hooks.evil.example".into(),
                region: "us-east-1".into(),
            },
        ),
        (
            format!("https://{bucket}@hooks.evil.example{presigned_path}"),
            RefusedUrl::UserInfo,
        ),
    ];
    for (url, reason) in cases {
        let mut attack = request.clone();
        attack["ResponseURL"] = json!(url);
        match lookup.handle(attack, deadline()).await {
            Err(HandlerError::ResponseNotDelivered(DeliveryError::Refused(refused))) => {
                assert_eq!(refused, reason, "{url}")
            }
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(endpoint.received().len(), 0);
    let mut imds = request.clone();
    imds["ResponseURL"] = json!("https://169.254.169.254/latest/api/token");
    let error = lookup.handle(imds, deadline()).await.unwrap_err();
    assert_eq!(
        (error.error_type(), error.to_string().as_str()),
        (
            "ResponseNotDelivered",
            "custom-resource response not delivered: ResponseURL refused, nothing was sent: host \
             '169.254.169.254' is not CloudFormation's response bucket on S3 in us-east-1"
        )
    );
}

#[tokio::test]
async fn the_same_request_answered_twice_gets_the_same_answer() {
    let bed = seeded_bed("cfn-twice").await;
    let lookup = lookup(&bed);
    let endpoint = ResponseEndpoint::ok().await;
    let (request, _) = endpoint.request("create.json");

    answer(&lookup, request.clone()).await;
    answer(&lookup, request.clone()).await;

    let received = endpoint.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].body, received[1].body);
    assert_eq!(received[0].json()["PhysicalResourceId"], SAMPLE_PHYSICAL_ID);

    // A retry after the catalog changed pins the new version, under the same resource id: a
    // different id would make CloudFormation replace the resource.
    publish(&catalog(&bed), ORG, build_step(ORG, "build", "1.4.9")).await;
    answer(&lookup, request).await;
    let third = endpoint.received()[2].json();
    assert_eq!(
        (&third["PhysicalResourceId"], &third["Data"]["Version"]),
        (&json!(SAMPLE_PHYSICAL_ID), &json!("1.4.9"))
    );
}

/// Stands in for a DynamoDB endpoint that accepts connections and never answers.
struct SilentEndpoint {
    url: String,
    accepted: Arc<AtomicUsize>,
}

impl SilentEndpoint {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                open.push(socket);
            }
        });
        SilentEndpoint { url, accepted }
    }

    fn lookup(&self) -> PluginLookup {
        let dynamodb = aws_sdk_dynamodb::Client::new(&pb_tests::emulator::sdk_config(&self.url));
        PluginLookup::new(
            PluginCatalog::new(dynamodb, "catalog"),
            ResponseSender::new(
                https_client().unwrap(),
                RetryPolicy::default(),
                ResponseTargets::LoopbackForTests,
            ),
        )
    }
}

#[tokio::test]
async fn a_lookup_still_running_at_the_answer_deadline_is_answered_failed() {
    let catalog = SilentEndpoint::start().await;
    let endpoint = ResponseEndpoint::ok().await;
    let (request, _) = endpoint.request("create.json");
    // The lookup gets 300 ms; the reserve after it is left for the answer.
    let deadline = Instant::now() + ANSWER_RESERVE + Duration::from_millis(300);

    let answered =
        tokio::time::timeout_at(deadline.into(), catalog.lookup().handle(request, deadline))
            .await
            .expect("no answer by the invocation's deadline")
            .unwrap();

    // The lookup was really in flight against the silent catalog when it was abandoned.
    assert!(catalog.accepted.load(Ordering::SeqCst) >= 1);
    let Answer::CustomResource(response) = answered else {
        panic!("expected a custom-resource answer, got {answered:?}");
    };
    let put = endpoint.only_put().json();
    assert_eq!(
        (&put["Status"], &put["Reason"], &put["PhysicalResourceId"]),
        (
            &json!("FAILED"),
            &json!(
                "the plugin lookup did not finish in time; answered 8s before the function's \
                 deadline instead of leaving the stack waiting"
            ),
            &json!(SAMPLE_PHYSICAL_ID)
        )
    );
    assert_eq!(response.to_json(), put);

    let direct = catalog
        .lookup()
        .handle(direct(&[("build", "^1")]), Instant::now() + ANSWER_RESERVE)
        .await
        .unwrap_err();
    assert_eq!(direct.error_type(), "DeadlineExceeded");
}
