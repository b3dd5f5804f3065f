//! Compliance through the API, against the emulator: rule CRUD and validation with field paths,
//! the dry run, exemptions and their approval, the check pipeline and plugin writes run, and
//! cross-org isolation on every route.

use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use pb_api::services::compliance::check;
use pb_domain::compliance::Target;
use pb_tests::api::{sample_plugin, ApiBed, Reply};
use serde_json::{json, Value};

const ACME: &str = "acme";
const GLOBEX: &str = "globex";
const RULES: &str = "/api/compliance/rules";
const EXEMPTIONS: &str = "/api/compliance/exemptions";
const VALIDATE: &str = "/api/compliance/validate";

fn samples(kind: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../samples/{kind}"))
}

/// A pipeline over the sample plugins that every sample rule accepts.
fn compliant_pipeline() -> Value {
    json!({
        "name": "payments-service", "project": "payments",
        "source": {"type": "github", "repo": "acme/payments", "branch": "{{ vars.branch | default: 'main' }}",
                   "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/abc"},
        "stages": [
            {"name": "Build", "steps": [
                {"plugin": {"name": "node-build", "version": "^2"}},
                {"plugin": {"name": "unit-tests", "version": "1.0.0"}},
                {"name": "Scan", "plugin": {"name": "security-scan", "version": "~0.9"}}
            ]},
            {"name": "Prod", "environment": "production", "steps": [
                {"plugin": {"name": "manual-approval", "version": "1.0.0"}, "metadata": {"approverGroup": "leads"}},
                {"plugin": {"name": "cfn-deploy", "version": "1.1.0"}, "metadata": {"stackName": "payments"}}
            ]}
        ],
        "tags": {"cost-center": "cc-42"}
    })
}

fn stage_cap(limit: u64, severity: &str) -> Value {
    json!({"name": format!("At most {limit} stages"), "target": "pipeline", "severity": severity,
           "field": "stageCount", "operator": "lte", "value": limit})
}

async fn create_rule(api: &ApiBed, token: &str, rule: &Value) -> String {
    let reply = api.post_json(RULES, token, rule).await.unwrap();
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

/// Replaces a rule; `etag` goes in If-Match.
async fn put_rule(api: &ApiBed, token: &str, id: &str, etag: &str, rule: &Value) -> Reply {
    let request = axum::http::Request::builder()
        .method(Method::PUT)
        .uri(format!("{RULES}/{id}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("if-match", etag)
        .body(axum::body::Body::from(rule.to_string()))
        .unwrap();
    api.request(request).await.unwrap()
}

async fn validate(api: &ApiBed, token: &str, body: &Value) -> Reply {
    api.post_json(VALIDATE, token, body).await.unwrap()
}

fn fields_of(items: &Value, member: &str) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[member].as_str().unwrap_or_default().to_string())
        .collect()
}

fn in_a_week() -> String {
    (chrono::Utc::now() + chrono::Duration::days(7))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn rules_are_created_read_listed_replaced_and_deleted() {
    let api = ApiBed::new("rules-crud").await.unwrap();
    let author = api
        .token_for(
            "author@acme",
            ACME,
            &["compliance:write", "compliance:read"],
        )
        .await
        .unwrap();
    let editor = api
        .token_for(
            "editor@acme",
            ACME,
            &["compliance:write", "compliance:read"],
        )
        .await
        .unwrap();

    let reply = api
        .post_json(RULES, &author, &stage_cap(8, "warning"))
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("rule-"), "{id}");
    assert_eq!(reply.headers["location"], format!("{RULES}/{id}").as_str());
    assert_eq!(
        reply.body["spec"],
        json!({"name": "At most 8 stages", "description": "", "target": "pipeline",
               "severity": "warning", "field": "stageCount", "operator": "lte", "value": 8,
               "active": true})
    );
    assert_eq!(reply.body["createdBy"], "author@acme");

    let read = api
        .get(&format!("{RULES}/{id}"), Some(&author))
        .await
        .unwrap();
    assert_eq!((read.status, &read.body), (StatusCode::OK, &reply.body));

    let mut changed = stage_cap(6, "error");
    changed["active"] = json!(false);
    assert_eq!(read.headers["etag"], "\"1\"");
    let replaced = put_rule(&api, &editor, &id, "\"1\"", &changed).await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    assert_eq!(replaced.headers["etag"], "\"2\"");
    assert_eq!(replaced.body["spec"]["value"], 6);
    assert_eq!(replaced.body["spec"]["active"], false);
    assert_eq!(
        (&replaced.body["createdBy"], &replaced.body["createdAt"]),
        (&reply.body["createdBy"], &reply.body["createdAt"])
    );
    assert_eq!(replaced.body["updatedBy"], "editor@acme");
    let read = api
        .get(&format!("{RULES}/{id}"), Some(&author))
        .await
        .unwrap();
    assert_eq!(read.body, replaced.body);

    let deleted = api
        .send(
            Method::DELETE,
            &format!("{RULES}/{id}"),
            Some(&editor),
            None,
        )
        .await
        .unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    for method in [Method::GET, Method::DELETE] {
        let gone = api
            .send(
                method.clone(),
                &format!("{RULES}/{id}"),
                Some(&editor),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            (gone.status, gone.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method}"
        );
    }
    let put_gone = put_rule(&api, &editor, &id, "*", &changed).await;
    assert_eq!(put_gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rule_lists_page_through_every_rule_once_and_filter() {
    let api = ApiBed::new("rules-list").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    let mut created = Vec::new();
    for limit in 1..=5 {
        created.push(create_rule(&api, &admin, &stage_cap(limit, "error")).await);
    }
    let plugin_rule = json!({"name": "Describe plugins", "target": "plugin", "severity": "warning",
        "field": "$length(description)", "operator": "gte", "value": 20, "active": false});
    created.push(create_rule(&api, &admin, &plugin_rule).await);
    created.sort();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("{RULES}?limit=2&cursor={c}"),
            None => format!("{RULES}?limit=2"),
        };
        let reply = api.get(&path, Some(&admin)).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        seen.extend(fields_of(&reply.body["items"], "id"));
        pages += 1;
        match reply.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (created.clone(), 3));

    let plugins = api
        .get(&format!("{RULES}?target=plugin"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(fields_of(&plugins.body["items"], "id").len(), 1);
    assert_eq!(plugins.body["items"][0]["spec"]["target"], "plugin");
    let inactive = api
        .get(&format!("{RULES}?active=false"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(inactive.body["items"], plugins.body["items"]);
    let active = api
        .get(
            &format!("{RULES}?target=pipeline&active=true&limit=4"),
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(fields_of(&active.body["items"], "id").len(), 4);
    let rest = api
        .get(
            &format!(
                "{RULES}?target=pipeline&active=true&limit=4&cursor={}",
                active.body["nextCursor"].as_str().unwrap()
            ),
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(fields_of(&rest.body["items"], "id").len(), 1);
    assert_eq!(rest.body.get("nextCursor"), None);

    // A cursor is bound to its query and org.
    let first = api
        .get(&format!("{RULES}?limit=1"), Some(&admin))
        .await
        .unwrap();
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let other_query = api
        .get(
            &format!("{RULES}?limit=1&target=plugin&cursor={cursor}"),
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(other_query.code(), "invalid_cursor");
    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let other_org = api
        .get(&format!("{RULES}?limit=1&cursor={cursor}"), Some(&globex))
        .await
        .unwrap();
    assert_eq!(other_org.code(), "invalid_cursor");
    for bad in ["target=stage", "active=yes", "colour=red"] {
        let reply = api
            .get(&format!("{RULES}?{bad}"), Some(&admin))
            .await
            .unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "invalid_parameter"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn invalid_rules_are_refused_with_400_and_every_field_path() {
    let api = ApiBed::new("rules-invalid").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    let unknown = json!({"name": "Approvals", "target": "pipeline", "severity": "error",
        "field": "requiresApproval", "operator": "eq", "value": true});
    let reply = api.post_json(RULES, &admin, &unknown).await.unwrap();
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::BAD_REQUEST, "invalid_rule")
    );
    assert_eq!(reply.body["errors"][0]["field"], "field");
    assert!(reply.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("'requiresApproval' is not an attribute of a pipeline"));

    let several = json!({"name": "", "target": "pipeline", "severity": "error", "mode": "any",
        "conditions": [
            {"field": "stageCount", "operator": "contains", "value": "x"},
            {"field": "$count(name)", "operator": "gt", "value": 1},
            {"field": "stageNames", "operator": "regex", "value": "(unclosed"},
            {"field": "environments", "operator": "in", "value": []}
        ],
        "effectiveFrom": "tomorrow"});
    let reply = api.post_json(RULES, &admin, &several).await.unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.error_fields(),
        [
            "name",
            "effectiveFrom",
            "conditions[0].operator",
            "conditions[1].field",
            "conditions[2].value",
            "conditions[3].value"
        ]
    );

    let unknown_operator = json!({"name": "r", "target": "pipeline", "severity": "error",
        "field": "stageCount", "operator": "equals", "value": 3});
    let reply = api
        .post_json(RULES, &admin, &unknown_operator)
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::BAD_REQUEST, "malformed_body")
    );
    assert!(reply.body["detail"].as_str().unwrap().contains("equals"));

    // An invalid replacement leaves the stored rule as it was.
    let id = create_rule(&api, &admin, &stage_cap(5, "error")).await;
    let before = api
        .get(&format!("{RULES}/{id}"), Some(&admin))
        .await
        .unwrap();
    let reply = put_rule(&api, &admin, &id, "\"1\"", &unknown).await;
    assert_eq!(reply.code(), "invalid_rule");
    let after = api
        .get(&format!("{RULES}/{id}"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(after.body, before.body);
    let listed = api.get(RULES, Some(&admin)).await.unwrap();
    assert_eq!(fields_of(&listed.body["items"], "id"), [id]);
}

#[tokio::test]
async fn every_sample_rule_is_accepted_and_judges_pipelines_and_plugins() {
    let (api, admin) = ApiBed::with_sample_plugins("rules-samples", ACME)
        .await
        .unwrap();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(samples("rules")).unwrap() {
        let path = entry.unwrap().path();
        let rule: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        names.push(rule["name"].as_str().unwrap().to_string());
        create_rule(&api, &admin, &rule).await;
    }
    assert!(names.len() >= 14);

    let compliant = validate(&api, &admin, &json!({"pipeline": compliant_pipeline()})).await;
    assert_eq!(compliant.status, StatusCode::OK, "{:?}", compliant.body);
    assert_eq!(
        (
            &compliant.body["compliant"],
            &compliant.body["violations"],
            &compliant.body["warnings"]
        ),
        (&json!(true), &json!([]), &json!([]))
    );

    let mut violating = compliant_pipeline();
    violating["stages"][0]["steps"][0]["plugin"]["version"] = json!("latest");
    violating["stages"][0]["name"] = json!("build_and_test");
    violating["vars"] = json!({"branch": "develop"});
    violating["tags"] = json!({});
    let reply = validate(&api, &admin, &json!({"pipeline": violating})).await;
    assert_eq!(reply.body["compliant"], false);
    let mut blocked = fields_of(&reply.body["violations"], "ruleName");
    blocked.sort();
    assert_eq!(
        blocked,
        [
            "Block floating plugin versions",
            "Production deploys from main",
            "Production deploys from main",
            "Tag the cost center"
        ]
    );
    assert_eq!(
        fields_of(&reply.body["warnings"], "ruleName"),
        ["Stage names are PascalCase"]
    );
    assert_eq!(reply.body["attributes"]["sourceBranch"], "develop");

    // The sample plugins are public but tag-pinned: the digest rule blocks them.
    let scan: Value = pb_tests::yaml::body_yaml(&sample_plugin("security-scan").unwrap());
    let reply = validate(&api, &admin, &json!({"plugin": scan})).await;
    assert_eq!(reply.body["target"], "plugin");
    assert_eq!(
        fields_of(&reply.body["violations"], "field"),
        ["accessModifier", "image", "imageIsDigestPinned"]
    );
    let approval: Value = pb_tests::yaml::body_yaml(&sample_plugin("manual-approval").unwrap());
    let reply = validate(&api, &admin, &json!({"plugin": approval})).await;
    assert_eq!(reply.body["compliant"], true, "{:?}", reply.body);
}

#[tokio::test]
async fn the_dry_run_reports_without_storing_and_checks_the_definition() {
    let (api, admin) = ApiBed::with_sample_plugins("rules-dry-run", ACME)
        .await
        .unwrap();
    let reader = api.token(ACME, &["compliance:read"]).await.unwrap();
    create_rule(&api, &admin, &stage_cap(1, "critical")).await;
    create_rule(
        &api,
        &admin,
        &json!({"name": "Run tests", "target": "pipeline", "severity": "warning",
                "field": "hasTestStep", "operator": "eq", "value": true}),
    )
    .await;
    let mut definition = compliant_pipeline();
    definition["stages"][0]["steps"]
        .as_array_mut()
        .unwrap()
        .remove(1);

    let reply = validate(&api, &reader, &json!({"pipeline": definition})).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["compliant"], false);
    let violation = &reply.body["violations"][0];
    assert_eq!(
        (
            &violation["field"],
            &violation["operator"],
            &violation["expected"],
            &violation["actual"],
            &violation["severity"]
        ),
        (
            &json!("stageCount"),
            &json!("lte"),
            &json!(1),
            &json!(2),
            &json!("critical")
        )
    );
    assert_eq!(fields_of(&reply.body["warnings"], "field"), ["hasTestStep"]);
    assert_eq!(reply.body["attributes"]["stepCount"], 4);
    assert_eq!(
        reply.body["attributes"]["pluginVersions"][0],
        "node-build@2.0.1"
    );
    let stored = api.get("/api/pipelines", Some(&admin)).await.unwrap();
    assert_eq!(stored.body["items"], json!([]));

    // Rules given inline replace the stored ones.
    let inline = json!({"pipeline": definition, "rules": [
        {"name": "Scan", "target": "pipeline", "severity": "error",
         "field": "hasSecurityScan", "operator": "eq", "value": true}]});
    let reply = validate(&api, &reader, &inline).await;
    assert_eq!(
        (&reply.body["compliant"], &reply.body["warnings"]),
        (&json!(true), &json!([]))
    );
    let broken_inline = json!({"pipeline": definition, "rules": [
        stage_cap(3, "error"),
        {"name": "Old", "target": "pipeline", "severity": "error",
         "field": "timeoutInMinutes", "operator": "lte", "value": 60}]});
    let reply = validate(&api, &reader, &broken_inline).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::BAD_REQUEST, "invalid_rule")
    );
    assert_eq!(reply.error_fields(), ["rules[1].field"]);

    let mut unresolved = definition.clone();
    unresolved["stages"][0]["steps"][0]["plugin"]["name"] = json!("no-such-plugin");
    let reply = validate(&api, &reader, &json!({"pipeline": unresolved})).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unresolved_plugins")
    );
    assert_eq!(reply.error_fields(), ["stages[0].steps[0].plugin"]);
    let mut invalid = definition.clone();
    invalid["stages"][1]["name"] = json!("Build");
    let reply = validate(&api, &reader, &json!({"pipeline": invalid})).await;
    assert_eq!(reply.code(), "validation_failed");
    for body in [json!({}), json!({"pipeline": definition, "plugin": {}})] {
        let reply = validate(&api, &reader, &body).await;
        assert!(
            matches!(reply.code(), "validation_failed" | "malformed_body"),
            "{body}: {:?}",
            reply.body
        );
        assert_ne!(reply.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn check_answers_403_with_every_violation_or_the_warnings() {
    let api = ApiBed::new("rules-check").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    let cap = create_rule(&api, &admin, &stage_cap(2, "error")).await;
    create_rule(
        &api,
        &admin,
        &json!({"name": "Tag the team", "target": "pipeline", "severity": "critical",
                "field": "tags.team", "operator": "exists"}),
    )
    .await;
    create_rule(
        &api,
        &admin,
        &json!({"name": "Short names", "target": "pipeline", "severity": "warning",
                "field": "$length(name)", "operator": "lt", "value": 10}),
    )
    .await;
    let attributes = json!({"name": "payments-service", "stageCount": 3, "tags": {}});

    let error = check(&api.state, ACME, Target::Pipeline, "pl-1", &attributes)
        .await
        .unwrap_err();
    let response = error.into_response();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["code"], "compliance_violation");
    let mut violations: Vec<(String, Value, Value)> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["field"].as_str().unwrap().to_string(),
                v["expected"].clone(),
                v["actual"].clone(),
            )
        })
        .collect();
    violations.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        violations,
        [
            ("stageCount".to_string(), json!(2), json!(3)),
            ("tags.team".to_string(), Value::Null, Value::Null)
        ]
    );
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("At most 2 stages: stageCount lte 2 does not hold; found 3"));

    let fine = json!({"name": "payments-service", "stageCount": 2, "tags": {"team": "pay"}});
    let warnings = check(&api.state, ACME, Target::Pipeline, "pl-1", &fine)
        .await
        .unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].rule_name, "Short names");
    // Rules of another target or org do not apply.
    assert_eq!(
        check(&api.state, ACME, Target::Plugin, "node-build", &attributes)
            .await
            .unwrap(),
        []
    );
    assert_eq!(
        check(&api.state, GLOBEX, Target::Pipeline, "pl-1", &attributes)
            .await
            .unwrap(),
        []
    );

    // An approved exemption of the cap for pl-1 leaves only the tag rule blocking.
    let requester = api
        .token_for("dev@acme", ACME, &["compliance:write"])
        .await
        .unwrap();
    let approver = api
        .token_for("lead@acme", ACME, &["compliance:approve"])
        .await
        .unwrap();
    let exemption = api
        .post_json(
            EXEMPTIONS,
            &requester,
            &json!({"ruleId": cap, "entity": "pl-1", "reason": "splitting next sprint", "expiresAt": in_a_week()}),
        )
        .await
        .unwrap();
    let exemption_id = exemption.body["id"].as_str().unwrap();
    api.post_json(
        &format!("{EXEMPTIONS}/{exemption_id}/approve"),
        &approver,
        &json!({}),
    )
    .await
    .unwrap();
    let with_team = json!({"name": "payments-service", "stageCount": 3, "tags": {"team": "pay"}});
    assert_eq!(
        check(&api.state, ACME, Target::Pipeline, "pl-1", &with_team)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        check(&api.state, ACME, Target::Pipeline, "pl-2", &with_team)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn exemptions_take_effect_only_when_someone_else_approves_them() {
    let (api, admin) = ApiBed::with_sample_plugins("rules-exemptions", ACME)
        .await
        .unwrap();
    let cap = create_rule(&api, &admin, &stage_cap(1, "error")).await;
    // The requester also holds compliance:approve: the permission is not what stops them.
    let requester = api
        .token_for("dev@acme", ACME, &["compliance:*"])
        .await
        .unwrap();
    let approver = api
        .token_for(
            "lead@acme",
            ACME,
            &["compliance:approve", "compliance:read"],
        )
        .await
        .unwrap();

    let request = json!({"ruleId": cap, "entity": "pl-1", "reason": "legacy layout", "expiresAt": in_a_week()});
    let created = api
        .post_json(EXEMPTIONS, &requester, &request)
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(
        (&created.body["status"], &created.body["requestedBy"]),
        (&json!("pending"), &json!("dev@acme"))
    );
    let id = created.body["id"].as_str().unwrap().to_string();
    let approve_path = format!("{EXEMPTIONS}/{id}/approve");

    let dry_run = json!({"pipeline": compliant_pipeline(), "entity": "pl-1"});
    let pending = validate(&api, &approver, &dry_run).await;
    assert_eq!(pending.body["compliant"], false);

    let own = api
        .post_json(&approve_path, &requester, &json!({}))
        .await
        .unwrap();
    assert_eq!(
        (own.status, own.code()),
        (StatusCode::FORBIDDEN, "self_approval")
    );
    let approved = api
        .post_json(&approve_path, &approver, &json!({}))
        .await
        .unwrap();
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    assert_eq!(
        (&approved.body["status"], &approved.body["approvedBy"]),
        (&json!("approved"), &json!("lead@acme"))
    );
    let again = api
        .post_json(&approve_path, &approver, &json!({}))
        .await
        .unwrap();
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "conflict")
    );

    let exempted = validate(&api, &approver, &dry_run).await;
    assert_eq!(exempted.body["compliant"], true, "{:?}", exempted.body);
    assert_eq!(exempted.body["exempted"][0]["ruleId"], cap.as_str());
    assert_eq!(exempted.body["exempted"][0]["exemptionId"], id.as_str());
    let other_entity = validate(
        &api,
        &approver,
        &json!({"pipeline": compliant_pipeline(), "entity": "pl-2"}),
    )
    .await;
    assert_eq!(other_entity.body["compliant"], false);

    let second = api
        .post_json(
            EXEMPTIONS,
            &requester,
            &json!({"ruleId": cap, "entity": "pl-2", "reason": "later", "expiresAt": in_a_week()}),
        )
        .await
        .unwrap();
    let listed = api
        .get(&format!("{EXEMPTIONS}?status=approved"), Some(&approver))
        .await
        .unwrap();
    assert_eq!(
        fields_of(&listed.body["items"], "id"),
        std::slice::from_ref(&id)
    );
    let listed = api
        .get(&format!("{EXEMPTIONS}?entity=pl-2"), Some(&approver))
        .await
        .unwrap();
    assert_eq!(
        fields_of(&listed.body["items"], "id"),
        [second.body["id"].as_str().unwrap()]
    );
    let listed = api
        .get(
            &format!("{EXEMPTIONS}?ruleId={cap}&limit=1"),
            Some(&approver),
        )
        .await
        .unwrap();
    assert_eq!(fields_of(&listed.body["items"], "id").len(), 1);
    assert!(listed.body["nextCursor"].is_string());

    let bad = json!({"ruleId": "rule-missing", "entity": "pl 1", "reason": "", "expiresAt": "2000-01-01T00:00:00Z"});
    let reply = api.post_json(EXEMPTIONS, &requester, &bad).await.unwrap();
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(reply.error_fields(), ["entity", "reason", "expiresAt"]);
    let no_rule = json!({"ruleId": "rule-missing", "entity": "pl-1", "reason": "r", "expiresAt": in_a_week()});
    let reply = api
        .post_json(EXEMPTIONS, &requester, &no_rule)
        .await
        .unwrap();
    assert_eq!(reply.error_fields(), ["ruleId"]);
    let missing = api
        .post_json(
            &format!("{EXEMPTIONS}/exm-missing/approve"),
            &approver,
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_orgs_rules_and_exemptions_answer_404_and_stay_unchanged() {
    let (api, acme) = ApiBed::with_sample_plugins("rules-crossorg", ACME)
        .await
        .unwrap();
    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let requester = api
        .token_for("dev@acme", ACME, &["compliance:write"])
        .await
        .unwrap();
    let rule = create_rule(&api, &acme, &stage_cap(1, "error")).await;
    let exemption = api
        .post_json(
            EXEMPTIONS,
            &requester,
            &json!({"ruleId": rule, "entity": "pl-1", "reason": "r", "expiresAt": in_a_week()}),
        )
        .await
        .unwrap();
    let exemption_id = exemption.body["id"].as_str().unwrap();
    let rule_path = format!("{RULES}/{rule}");
    let before = api.get(&rule_path, Some(&acme)).await.unwrap();

    let get = api.get(&rule_path, Some(&globex)).await.unwrap();
    let put = put_rule(&api, &globex, &rule, "*", &stage_cap(50, "warning")).await;
    let delete = api
        .send(Method::DELETE, &rule_path, Some(&globex), None)
        .await
        .unwrap();
    let approve = api
        .post_json(
            &format!("{EXEMPTIONS}/{exemption_id}/approve"),
            &globex,
            &json!({}),
        )
        .await
        .unwrap();
    for (route, reply) in [
        ("get", &get),
        ("put", &put),
        ("delete", &delete),
        ("approve", &approve),
    ] {
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{route}"
        );
    }
    let foreign_rule = api
        .post_json(
            EXEMPTIONS,
            &globex,
            &json!({"ruleId": rule, "entity": "pl-9", "reason": "r", "expiresAt": in_a_week()}),
        )
        .await
        .unwrap();
    assert_eq!(foreign_rule.error_fields(), ["ruleId"]);
    let rules = api.get(RULES, Some(&globex)).await.unwrap();
    assert_eq!(rules.body["items"], json!([]));
    let exemptions = api.get(EXEMPTIONS, Some(&globex)).await.unwrap();
    assert_eq!(exemptions.body["items"], json!([]));
    // acme's rules do not judge globex's plugins or pipelines (built from acme's public plugins).
    let plugin = json!({"name": "tiny", "version": "1.0.0", "category": "build",
        "pluginType": "CodeBuildStep", "image": "node:20", "commands": ["true"]});
    let reply = validate(&api, &globex, &json!({"plugin": plugin})).await;
    assert_eq!(reply.body["compliant"], true);
    let mut public_only = compliant_pipeline();
    public_only["stages"][1]["steps"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    let reply = validate(&api, &globex, &json!({"pipeline": public_only})).await;
    assert_eq!(
        (&reply.body["compliant"], &reply.body["violations"]),
        (&json!(true), &json!([])),
        "{:?}",
        reply.body
    );

    let after = api.get(&rule_path, Some(&acme)).await.unwrap();
    assert_eq!(after.body, before.body);
    let still = api.get(EXEMPTIONS, Some(&acme)).await.unwrap();
    assert_eq!(still.body["items"][0]["status"], "pending");
    assert_eq!(still.body["items"][0]["id"], exemption_id);
}
