//! Pipelines and the deployment registry through the API, against the emulator.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{Method, StatusCode};
use pb_aws::attributes::to_item;
use pb_aws::keys::{pipeline_pk, pipeline_sk};
use pb_aws::pipelines::PipelineRecord;
use pb_aws::registry::{Registry, RegistryEntry};
use pb_tests::api::{sample_plugin, ApiBed, Reply};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

const ACME: &str = "acme";
const GLOBEX: &str = "globex";

fn definition(name: &str) -> Value {
    json!({
        "name": name,
        "project": "payments",
        "description": "Deploys {{ vars.service }}",
        "source": {"type": "github", "repo": "acme/payments", "branch": "{{ vars.branch | default: 'main' }}",
                   "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/abc"},
        "stages": [
            {"name": "Build", "steps": [
                {"plugin": {"name": "node-build", "version": "^2"}},
                {"name": "Scan", "plugin": {"name": "security-scan", "version": "~0.9"}}
            ]},
            {"name": "Prod", "environment": "production", "steps": [
                {"plugin": {"name": "manual-approval", "version": "1.0.0"}, "metadata": {"approverGroup": "leads"}},
                {"plugin": {"name": "cfn-deploy", "version": "latest"}, "metadata": {"stackName": "payments"}}
            ]}
        ],
        "vars": {"service": "payments-api"}
    })
}

async fn create(api: &ApiBed, token: &str, body: &Value) -> Reply {
    api.post_json("/api/pipelines", token, body).await.unwrap()
}

async fn put(api: &ApiBed, token: &str, id: &str, etag: Option<&str>, body: &Value) -> Reply {
    let mut request = axum::http::Request::builder()
        .method(Method::PUT)
        .uri(format!("/api/pipelines/{id}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(etag) = etag {
        request = request.header("if-match", etag);
    }
    api.request(
        request
            .body(axum::body::Body::from(body.to_string()))
            .unwrap(),
    )
    .await
    .unwrap()
}

async fn delete(api: &ApiBed, token: &str, path: &str, etag: Option<&str>) -> Reply {
    let mut request = axum::http::Request::builder()
        .method(Method::DELETE)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    if let Some(etag) = etag {
        request = request.header("if-match", etag);
    }
    api.request(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_pipeline_is_stored_with_its_steps_pinned_and_resolvable() {
    let (api, admin) = ApiBed::with_sample_plugins("pl-create", ACME)
        .await
        .unwrap();
    let created = create(&api, &admin, &definition("payments")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.headers["etag"], "\"1\"");
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.headers["location"],
        format!("/api/pipelines/{id}").as_str()
    );
    let pinned: Vec<String> = created.body["pinned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}/{}={}@{}",
                p["stage"].as_str().unwrap(),
                p["step"].as_str().unwrap(),
                p["plugin"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        pinned,
        [
            "Build/node-build=node-build@2.0.1",
            "Build/Scan=security-scan@0.9.0",
            "Prod/manual-approval=manual-approval@1.0.0",
            "Prod/cfn-deploy=cfn-deploy@1.1.0",
        ]
    );
    assert_eq!(
        created.body["spec"]["description"],
        "Deploys {{ vars.service }}"
    );
    let resolved = api
        .get(&format!("/api/pipelines/{id}?resolve=true"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(
        resolved.body["resolved"]["description"],
        "Deploys payments-api"
    );
    assert_eq!(resolved.body["resolved"]["source"]["branch"], "main");
    assert_eq!(resolved.headers["etag"], "\"1\"");
    let plain = api
        .get(&format!("/api/pipelines/{id}"), Some(&admin))
        .await
        .unwrap();
    assert!(plain.body.get("resolved").is_none());
}

#[tokio::test]
async fn bad_definitions_are_refused_with_every_problem_named() {
    let (api, admin) = ApiBed::with_sample_plugins("pl-invalid", ACME)
        .await
        .unwrap();
    let mut unresolved = definition("payments");
    unresolved["stages"][0]["steps"][0]["plugin"] = json!({"name": "node", "version": "*"});
    unresolved["stages"][1]["steps"][1]["plugin"] = json!({"name": "cfn-deploy", "version": "^7"});
    let reply = create(&api, &admin, &unresolved).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unresolved_plugins")
    );
    assert_eq!(
        reply.error_fields(),
        ["stages[0].steps[0].plugin", "stages[1].steps[1].plugin"]
    );
    assert!(reply.body["errors"][1]["message"]
        .as_str()
        .unwrap()
        .starts_with("cfn-deploy@^7: "));

    let mut cyclic = definition("payments");
    cyclic["vars"] = json!({"service": "{{ vars.name }}", "name": "{{ vars.service }}"});
    let reply = create(&api, &admin, &cyclic).await;
    assert_eq!(reply.code(), "validation_failed");
    assert_eq!(
        reply.error_fields(),
        ["vars.name", "vars.service", "description"]
    );

    let mut token = definition("payments");
    token["source"] =
        json!({"type": "github", "repo": "acme/payments", "branch": "main", "token": "ghp_abc"});
    token["stages"][0]["steps"][1]["name"] = json!("node-build");
    let reply = create(&api, &admin, &token).await;
    assert_eq!(
        reply.error_fields(),
        ["source.token", "source", "stages[0].steps[1].name"]
    );

    let mut public = definition("payments");
    public["accessModifier"] = json!("public");
    let creator = api
        .token(ACME, &["pipelines:create", "plugins:read"])
        .await
        .unwrap();
    let reply = create(&api, &creator, &public).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body["detail"]
        .as_str()
        .unwrap()
        .contains("pipelines:publish"));
    let listed = api.get("/api/pipelines", Some(&admin)).await.unwrap();
    assert_eq!(listed.body["items"], json!([]));
}

#[tokio::test]
async fn concurrent_edits_with_one_etag_leave_exactly_one_winner() {
    let (api, admin) = ApiBed::with_sample_plugins("pl-etag", ACME).await.unwrap();
    let created = create(&api, &admin, &definition("payments")).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let mut first = definition("payments");
    first["description"] = json!("first");
    let mut second = definition("payments");
    second["description"] = json!("second");
    let (a, b) = tokio::join!(
        put(&api, &admin, &id, Some("\"1\""), &first),
        put(&api, &admin, &id, Some("\"1\""), &second)
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let winner = if a.status == StatusCode::OK { &a } else { &b };
    assert_eq!(winner.headers["etag"], "\"2\"");
    let stored = api
        .get(&format!("/api/pipelines/{id}"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(stored.body["version"], 2);
    assert_eq!(
        stored.body["spec"]["description"],
        winner.body["spec"]["description"]
    );

    let missing = put(&api, &admin, &id, None, &first).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::PRECONDITION_REQUIRED, "precondition_required")
    );
    let stale = put(&api, &admin, &id, Some("\"1\""), &first).await;
    assert_eq!(stale.code(), "precondition_failed");
    let weak = put(&api, &admin, &id, Some("W/\"2\""), &first).await;
    assert_eq!(weak.status, StatusCode::PRECONDITION_FAILED);
    let any = put(&api, &admin, &id, Some("*"), &first).await;
    assert_eq!(any.headers["etag"], "\"3\"");
    let stale_delete = delete(&api, &admin, &format!("/api/pipelines/{id}"), Some("\"2\"")).await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
    let deleted = delete(&api, &admin, &format!("/api/pipelines/{id}"), Some("\"3\"")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = api
        .get(&format!("/api/pipelines/{id}"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lists_filter_and_page_and_other_orgs_see_only_public_pipelines() {
    let (api, admin) = ApiBed::with_sample_plugins("pl-list", ACME).await.unwrap();
    let mut ids = Vec::new();
    for (name, project, public) in [
        ("alpha", "payments", false),
        ("beta", "payments", true),
        ("gamma", "ledger", false),
    ] {
        let mut body = definition(name);
        body["project"] = json!(project);
        if public {
            body["accessModifier"] = json!("public");
        }
        if name == "gamma" {
            body["stages"][1]["environment"] = json!("staging");
        }
        let reply = create(&api, &admin, &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        ids.push(reply.body["id"].as_str().unwrap().to_string());
    }
    let names = |reply: &Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = api.get("/api/pipelines", Some(&admin)).await.unwrap();
    assert_eq!(names(&all), ["alpha", "beta", "gamma"]);
    let payments = api
        .get("/api/pipelines?project=payments", Some(&admin))
        .await
        .unwrap();
    assert_eq!(names(&payments), ["alpha", "beta"]);
    let named = api
        .get("/api/pipelines?name=gamma", Some(&admin))
        .await
        .unwrap();
    assert_eq!(names(&named), ["gamma"]);
    assert_eq!(named.body["items"][0]["id"], ids[2].as_str());
    let production = api
        .get("/api/pipelines?environment=production", Some(&admin))
        .await
        .unwrap();
    assert_eq!(names(&production), ["alpha", "beta"]);
    let scans = api
        .get("/api/pipelines?plugin=security-scan", Some(&admin))
        .await
        .unwrap();
    assert_eq!(names(&scans), ["alpha", "beta", "gamma"]);
    let first = api
        .get("/api/pipelines?limit=2", Some(&admin))
        .await
        .unwrap();
    assert_eq!(names(&first), ["alpha", "beta"]);
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let rest = api
        .get(
            &format!("/api/pipelines?limit=2&cursor={cursor}"),
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(names(&rest), ["gamma"]);

    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let seen = api.get("/api/pipelines", Some(&globex)).await.unwrap();
    assert_eq!(names(&seen), ["beta"]);
    let not_theirs = api
        .get("/api/pipelines?name=alpha", Some(&globex))
        .await
        .unwrap();
    assert_eq!(names(&not_theirs), Vec::<String>::new());
    assert_eq!(seen.body["items"][0]["source"], "public");
    let private = api
        .get(&format!("/api/pipelines/{}", ids[0]), Some(&globex))
        .await
        .unwrap();
    assert_eq!(private.status, StatusCode::NOT_FOUND);
    let public = api
        .get(&format!("/api/pipelines/{}", ids[1]), Some(&globex))
        .await
        .unwrap();
    assert_eq!(public.status, StatusCode::OK);
    assert!(public.body.get("createdBy").is_none());
    for id in &ids[..2] {
        let changed = put(&api, &globex, id, Some("*"), &definition("hijack")).await;
        assert_eq!(changed.status, StatusCode::NOT_FOUND);
        let removed = delete(&api, &globex, &format!("/api/pipelines/{id}"), None).await;
        assert_eq!(removed.status, StatusCode::NOT_FOUND);
    }
    let unchanged = api.get("/api/pipelines", Some(&admin)).await.unwrap();
    assert_eq!(names(&unchanged), ["alpha", "beta", "gamma"]);
    assert!(unchanged.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["version"] == 1));
}

#[tokio::test]
async fn the_registry_enforces_ownership_and_keeps_left_out_fields() {
    let (api, admin) = ApiBed::with_sample_plugins("registry", ACME).await.unwrap();
    let created = create(&api, &admin, &definition("payments")).await;
    let id = created.body["id"].as_str().unwrap().to_string();

    let incomplete = api
        .post_json("/api/registry", &admin, &json!({"pipelineId": id}))
        .await
        .unwrap();
    assert_eq!(incomplete.error_fields(), ["stackName", "region"]);
    let registered = api
        .post_json(
            "/api/registry",
            &admin,
            &json!({"pipelineId": id, "stackName": "payments-pipeline", "region": "eu-west-1"}),
        )
        .await
        .unwrap();
    assert_eq!(registered.status, StatusCode::OK, "{:?}", registered.body);
    assert_eq!(registered.body["pipelineName"], "payments");
    let moved = api
        .post_json(
            "/api/registry",
            &admin,
            &json!({"pipelineId": id, "region": "us-west-2"}),
        )
        .await
        .unwrap();
    assert_eq!(moved.body["stackName"], "payments-pipeline");
    assert_eq!(moved.body["region"], "us-west-2");

    let registry = Registry::new(
        api.bed.clients.dynamodb.clone(),
        &api.bed.stack.catalog_table,
        Duration::ZERO,
        Duration::ZERO,
    );
    assert_eq!(registry.org_of(&id).await.unwrap().as_deref(), Some(ACME));

    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let foreign = api
        .post_json(
            "/api/registry",
            &globex,
            &json!({"pipelineId": id, "stackName": "x", "region": "us-east-1"}),
        )
        .await
        .unwrap();
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    for path in [format!("/api/registry/{id}")] {
        assert_eq!(
            api.get(&path, Some(&globex)).await.unwrap().status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            delete(&api, &globex, &path, None).await.status,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        api.get("/api/registry", Some(&globex)).await.unwrap().body["items"],
        json!([])
    );

    let blocked = delete(&api, &admin, &format!("/api/pipelines/{id}"), None).await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (StatusCode::CONFLICT, "conflict")
    );

    let other = create(&api, &admin, &definition("ledger")).await;
    let other_id = other.body["id"].as_str().unwrap().to_string();
    registry
        .put(&RegistryEntry {
            pipeline_id: other_id.clone(),
            org_id: GLOBEX.into(),
            pipeline_name: "ledger".into(),
            stack_name: "ledger".into(),
            region: "us-east-1".into(),
            last_deployed: "2026-11-01T00:00:00Z".into(),
            stack_id: None,
            account: None,
            definition_version: None,
        })
        .await
        .unwrap();
    let taken = api
        .post_json(
            "/api/registry",
            &admin,
            &json!({"pipelineId": other_id, "stackName": "ledger", "region": "us-east-1"}),
        )
        .await
        .unwrap();
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(
        registry.org_of(&other_id).await.unwrap().as_deref(),
        Some(GLOBEX)
    );

    let page = api
        .get("/api/registry?limit=1", Some(&admin))
        .await
        .unwrap();
    assert_eq!(page.body["items"][0]["pipelineId"], id.as_str());
    assert!(page.body.get("nextCursor").is_none());
    assert_eq!(
        delete(&api, &admin, &format!("/api/registry/{id}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(registry.org_of(&id).await.unwrap(), None);
    let forced = delete(
        &api,
        &admin,
        &format!("/api/pipelines/{other_id}?force=true"),
        None,
    )
    .await;
    assert_eq!(forced.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_registry_pages_past_any_fixed_cap() {
    let (api, admin) = ApiBed::with_sample_plugins("registry-pages", ACME)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..12 {
        let created = create(&api, &admin, &definition(&format!("p{i:02}"))).await;
        let id = created.body["id"].as_str().unwrap().to_string();
        let reply = api
            .post_json("/api/registry", &admin, &json!({"pipelineId": id, "stackName": format!("stack-{i}"), "region": "us-east-1"}))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        ids.push(id);
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut path = "/api/registry?limit=5".to_string();
    loop {
        let page = api.get(&path, Some(&admin)).await.unwrap();
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["pipelineId"].as_str().unwrap().to_string()),
        );
        match page.body["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/registry?limit=5&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn compliance_rules_block_or_warn_on_pipeline_and_plugin_writes() {
    let (api, admin) = ApiBed::with_sample_plugins("pl-compliance", ACME)
        .await
        .unwrap();
    let rule = |name: &str,
                target: &str,
                severity: &str,
                field: &str,
                operator: &str,
                value: Value| {
        json!({"name": name, "target": target, "severity": severity, "field": field, "operator": operator, "value": value})
    };
    for body in [
        rule(
            "two stages at most",
            "pipeline",
            "error",
            "stageCount",
            "lte",
            json!(1),
        ),
        rule(
            "tag the team",
            "pipeline",
            "warning",
            "$keys(tags)",
            "contains",
            json!("team"),
        ),
        rule(
            "pin plugin images",
            "plugin",
            "critical",
            "imageIsDigestPinned",
            "eq",
            json!(true),
        ),
    ] {
        let created = api
            .post_json("/api/compliance/rules", &admin, &body)
            .await
            .unwrap();
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    }

    let blocked = create(&api, &admin, &definition("payments")).await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (StatusCode::FORBIDDEN, "compliance_violation")
    );
    let violation = &blocked.body["violations"][0];
    assert_eq!(violation["field"], "stageCount");
    assert_eq!(violation["actual"], 2);
    assert_eq!(
        api.get("/api/pipelines", Some(&admin)).await.unwrap().body["items"],
        json!([])
    );

    let mut small = definition("payments");
    small["stages"] = json!([small["stages"][0].clone()]);
    let warned = create(&api, &admin, &small).await;
    assert_eq!(warned.status, StatusCode::CREATED, "{:?}", warned.body);
    let warnings = warned.body["complianceWarnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0]["ruleName"], "tag the team");

    let mut plugin: Value = pb_tests::yaml::body_yaml(&sample_plugin("node-build").unwrap());
    plugin["version"] = json!("2.1.0");
    let refused = api
        .post_json("/api/plugins", &admin, &plugin)
        .await
        .unwrap();
    assert_eq!(refused.code(), "compliance_violation");
    plugin["image"] = json!("public.ecr.aws/docker/library/node@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    let accepted = api
        .post_json("/api/plugins", &admin, &plugin)
        .await
        .unwrap();
    assert_eq!(accepted.status, StatusCode::CREATED, "{:?}", accepted.body);
}

/// A refused name: 409 naming the name and the pipeline that holds it.
fn assert_name_taken(reply: &Reply, name: &str, holder: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::CONFLICT, "conflict"),
        "{:?}",
        reply.body
    );
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("'{name}'")) && detail.contains(holder),
        "{detail}"
    );
}

fn id_of(reply: &Reply) -> String {
    assert!(reply.status.is_success(), "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

/// The org's own pipelines as `(name, id)`, sorted.
async fn own_pipelines(api: &ApiBed, token: &str) -> Vec<(String, String)> {
    let listed = api.get("/api/pipelines", Some(token)).await.unwrap();
    let mut pipelines: Vec<(String, String)> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"] == "org")
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pipelines.sort();
    pipelines
}

fn named(name: &str, description: &str) -> Value {
    let mut body = definition(name);
    body["description"] = json!(description);
    body
}

#[tokio::test]
async fn a_name_belongs_to_one_pipeline_of_an_org_and_a_clash_writes_nothing() {
    let (api, admin) = ApiBed::with_sample_plugins("names-create", ACME)
        .await
        .unwrap();
    let first = id_of(&create(&api, &admin, &definition("payments")).await);
    let clash = create(&api, &admin, &named("payments", "a second one")).await;
    assert_name_taken(&clash, "payments", &first);
    assert_eq!(
        own_pipelines(&api, &admin).await,
        [("payments".to_string(), first.clone())]
    );

    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let private_plugin = api
        .publish_yaml(&globex, sample_plugin("cfn-deploy").unwrap())
        .await
        .unwrap();
    assert_eq!(private_plugin.status, StatusCode::CREATED);
    let theirs = id_of(&create(&api, &globex, &definition("payments")).await);
    assert_ne!(theirs, first);
    assert_eq!(
        own_pipelines(&api, &globex).await,
        [("payments".to_string(), theirs)]
    );
}

#[tokio::test]
async fn renames_move_the_claim_and_deletes_free_the_name() {
    let (api, admin) = ApiBed::with_sample_plugins("names-rename", ACME)
        .await
        .unwrap();
    let alpha = id_of(&create(&api, &admin, &definition("alpha")).await);
    let beta = id_of(&create(&api, &admin, &definition("beta")).await);

    let renamed = put(&api, &admin, &alpha, Some("\"1\""), &definition("gamma")).await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    let reused = id_of(&create(&api, &admin, &definition("alpha")).await);
    assert_name_taken(
        &create(&api, &admin, &definition("gamma")).await,
        "gamma",
        &alpha,
    );

    let onto_taken = put(&api, &admin, &beta, Some("\"1\""), &definition("gamma")).await;
    assert_name_taken(&onto_taken, "gamma", &alpha);
    let unchanged = api
        .get(&format!("/api/pipelines/{beta}"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(
        (
            unchanged.body["version"].clone(),
            unchanged.body["spec"]["name"].clone()
        ),
        (json!(1), json!("beta"))
    );
    assert_name_taken(
        &create(&api, &admin, &definition("beta")).await,
        "beta",
        &beta,
    );

    let same_name = put(
        &api,
        &admin,
        &alpha,
        Some("\"2\""),
        &named("gamma", "edited"),
    )
    .await;
    assert_eq!(same_name.status, StatusCode::OK, "{:?}", same_name.body);
    assert_eq!(
        delete(
            &api,
            &admin,
            &format!("/api/pipelines/{alpha}"),
            Some("\"3\"")
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let gamma = id_of(&create(&api, &admin, &definition("gamma")).await);
    assert_eq!(
        delete(&api, &admin, &format!("/api/pipelines/{reused}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let alpha_again = id_of(&create(&api, &admin, &definition("alpha")).await);
    assert_eq!(
        own_pipelines(&api, &admin).await,
        [
            ("alpha".to_string(), alpha_again),
            ("beta".to_string(), beta),
            ("gamma".to_string(), gamma),
        ]
    );
}

/// A definition as stored before names were claimed: the pipeline item alone.
async fn store_unclaimed(api: &ApiBed, id: &str, name: &str) {
    let record = PipelineRecord {
        id: id.into(),
        org: ACME.into(),
        version: 1,
        spec: serde_json::from_value(definition(name)).unwrap(),
        pinned: vec![],
        created_at: "2026-11-01T00:00:00Z".into(),
        created_by: "user@acme".into(),
        updated_at: "2026-11-01T00:00:00Z".into(),
        updated_by: "user@acme".into(),
    };
    let mut item = to_item(&record).unwrap();
    item.insert("PK".into(), AttributeValue::S(pipeline_pk(ACME)));
    item.insert("SK".into(), AttributeValue::S(pipeline_sk(id)));
    api.bed
        .clients
        .dynamodb
        .put_item()
        .table_name(&api.bed.stack.catalog_table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_name_shared_before_names_were_claimed_goes_to_the_first_pipeline_updated() {
    let (api, admin) = ApiBed::with_sample_plugins("names-legacy", ACME)
        .await
        .unwrap();
    for id in ["pl-legacy-a", "pl-legacy-b", "pl-legacy-c"] {
        store_unclaimed(&api, id, "legacy").await;
    }
    store_unclaimed(&api, "pl-legacy-d", "solo").await;

    let first = put(
        &api,
        &admin,
        "pl-legacy-a",
        Some("\"1\""),
        &definition("legacy"),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let second = put(
        &api,
        &admin,
        "pl-legacy-b",
        Some("\"1\""),
        &definition("legacy"),
    )
    .await;
    assert_name_taken(&second, "legacy", "pl-legacy-a");
    let renamed = put(
        &api,
        &admin,
        "pl-legacy-b",
        Some("\"1\""),
        &definition("legacy-b"),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    let deleted = delete(&api, &admin, "/api/pipelines/pl-legacy-c", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    // Neither leaving the name nor being deleted freed the claim they did not hold.
    assert_name_taken(
        &create(&api, &admin, &definition("legacy")).await,
        "legacy",
        "pl-legacy-a",
    );
    assert_name_taken(
        &create(&api, &admin, &definition("legacy-b")).await,
        "legacy-b",
        "pl-legacy-b",
    );

    let moved = put(
        &api,
        &admin,
        "pl-legacy-d",
        Some("\"1\""),
        &definition("solo-2"),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let solo = id_of(&create(&api, &admin, &definition("solo")).await);
    assert_eq!(
        own_pipelines(&api, &admin).await,
        [
            ("legacy".to_string(), "pl-legacy-a".to_string()),
            ("legacy-b".to_string(), "pl-legacy-b".to_string()),
            ("solo".to_string(), solo),
            ("solo-2".to_string(), "pl-legacy-d".to_string()),
        ]
    );
}

#[tokio::test]
async fn of_concurrent_creates_with_one_name_exactly_one_is_stored() {
    let (api, admin) = ApiBed::with_sample_plugins("names-race", ACME)
        .await
        .unwrap();
    let api = Arc::new(api);
    let mut creates = JoinSet::new();
    for i in 0..8 {
        let (api, admin) = (api.clone(), admin.clone());
        creates.spawn(async move {
            create(&api, &admin, &named("payments", &format!("attempt {i}"))).await
        });
    }
    let replies = creates.join_all().await;
    let winners: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    let winner = id_of(winners[0]);
    for reply in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_name_taken(reply, "payments", &winner);
    }
    assert_eq!(
        own_pipelines(&api, &admin).await,
        [("payments".to_string(), winner)]
    );
}

#[tokio::test]
async fn of_concurrent_renames_with_one_etag_only_the_winner_claims_its_name() {
    let (api, admin) = ApiBed::with_sample_plugins("names-rename-race", ACME)
        .await
        .unwrap();
    let id = id_of(&create(&api, &admin, &definition("original")).await);
    let api = Arc::new(api);
    let mut renames = JoinSet::new();
    for i in 0..8 {
        let (api, admin, id) = (api.clone(), admin.clone(), id.clone());
        renames.spawn(async move {
            let name = format!("renamed-{i}");
            (
                name.clone(),
                put(&api, &admin, &id, Some("\"1\""), &definition(&name)).await,
            )
        });
    }
    let replies = renames.join_all().await;
    let (won, lost): (Vec<_>, Vec<_>) = replies
        .iter()
        .partition(|(_, reply)| reply.status == StatusCode::OK);
    assert_eq!(won.len(), 1, "{replies:?}");
    assert!(lost
        .iter()
        .all(|(_, reply)| reply.status == StatusCode::PRECONDITION_FAILED));
    let winning_name = &won[0].0;
    assert_name_taken(
        &create(&api, &admin, &definition(winning_name)).await,
        winning_name,
        &id,
    );
    let freed = lost
        .iter()
        .map(|(name, _)| name.as_str())
        .chain(["original"]);
    for name in freed {
        let reply = create(&api, &admin, &definition(name)).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{name}: {:?}",
            reply.body
        );
    }
}
