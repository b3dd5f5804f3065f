//! Compliance under attack, against the emulator through the real router: regex compile caps
//! (inline rules, compiled size per request, active rules per org), the compiled-rule cache on
//! plugin publish, and ETag / If-Match on rules.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{Method, StatusCode};
use pb_aws::keys::{rule_pk, rule_sk};
use pb_aws::rules::RuleRecord;
use pb_domain::compliance::{MAX_ACTIVE_RULES_PER_ORG, MAX_INLINE_RULES};
use pb_tests::api::{ApiBed, Reply};
use serde_json::{json, Value};

const ACME: &str = "acme";
const RULES: &str = "/api/compliance/rules";
const VALIDATE: &str = "/api/compliance/validate";
/// About 40 KB compiled, under the 64 KB cap per regex: a hundred fill a request's 4 MB.
const HEAVY: &str = "[a-zA-Z0-9]{400}";
const BUDGET_MESSAGE: &str = "the regexes compile to more than 4 MB in all, the cap per request";

fn plugin(name: &str) -> Value {
    json!({"name": name, "version": "1.0.0", "category": "build", "pluginType": "CodeBuildStep",
           "computeType": "SMALL", "image": "public.ecr.aws/docker/library/node:20",
           "commands": ["npm ci"]})
}

fn heavy_condition() -> Value {
    json!({"field": "image", "operator": "regex", "value": HEAVY})
}

fn heavy_plugin_rule(name: &str) -> Value {
    json!({"name": name, "target": "plugin", "severity": "warning",
           "field": "image", "operator": "regex", "value": HEAVY})
}

fn stage_cap(limit: u64) -> Value {
    json!({"name": format!("At most {limit} stages"), "target": "pipeline", "severity": "error",
           "field": "stageCount", "operator": "lte", "value": limit})
}

/// Stores rules directly, as they may have been stored before the caps existed.
async fn seed_rules(api: &ApiBed, specs: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut ids = Vec::new();
    for (index, spec) in specs.into_iter().enumerate() {
        let target = spec["target"].as_str().unwrap_or_default().to_string();
        let id = format!("rule-seed-{target}-{index:04}");
        let record = RuleRecord {
            org: ACME.into(),
            id: id.clone(),
            version: 1,
            spec: serde_json::from_value(spec).unwrap(),
            created_at: "2026-12-01T00:00:00Z".into(),
            created_by: "seed@acme".into(),
            updated_at: "2026-12-01T00:00:00Z".into(),
            updated_by: "seed@acme".into(),
        };
        api.state.rules.create(&record).await.unwrap();
        ids.push(id);
    }
    ids
}

fn error_fields(reply: &Reply) -> Vec<(String, String)> {
    reply.body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_string(),
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn rule_request(
    api: &ApiBed,
    method: Method,
    token: &str,
    id: &str,
    if_match: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(format!("{RULES}/{id}"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string())),
        None => request.body(axum::body::Body::empty()),
    };
    api.request(request.unwrap()).await.unwrap()
}

#[tokio::test]
async fn more_than_20_inline_rules_are_refused_before_any_compiles() {
    let api = ApiBed::new("sec-inline").await.unwrap();
    // The dry run needs only compliance:read.
    let reader = api.token(ACME, &["compliance:read"]).await.unwrap();
    let mut rules: Vec<Value> = (0..=MAX_INLINE_RULES)
        .map(|i| heavy_plugin_rule(&format!("r{i}")))
        .collect();
    // Had anything compiled, this invalid pattern would be reported as `rules[5].value`.
    rules[5]["value"] = json!("(");
    let reply = api
        .post_json(
            VALIDATE,
            &reader,
            &json!({"plugin": plugin("probe"), "rules": rules}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(reply.code(), "invalid_rule");
    assert_eq!(
        error_fields(&reply),
        [(
            "rules".to_string(),
            "at most 20 rules per request, the cap; 21 given".to_string()
        )]
    );
}

#[tokio::test]
async fn inline_regexes_stop_compiling_once_a_request_spent_4_mb() {
    let api = ApiBed::new("sec-budget").await.unwrap();
    let reader = api.token(ACME, &["compliance:read"]).await.unwrap();
    // 20 rules × 20 heavy conditions: 400 regexes, 16 MB if all compiled.
    let mut rules: Vec<Value> = (0..MAX_INLINE_RULES)
        .map(|i| {
            json!({"name": format!("r{i}"), "target": "plugin", "severity": "warning",
                   "conditions": vec![heavy_condition(); 20]})
        })
        .collect();
    // The last condition of the last rule is not even a regex: only compiling it would say so.
    rules[19]["conditions"][19]["value"] = json!("(");
    let reply = api
        .post_json(
            VALIDATE,
            &reader,
            &json!({"plugin": plugin("probe"), "rules": rules}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    let errors = error_fields(&reply);
    assert!(
        errors.iter().all(|(_, message)| message == BUDGET_MESSAGE),
        "{errors:?}"
    );
    let refused_per_rule: Vec<usize> = (0..MAX_INLINE_RULES)
        .map(|rule| {
            let prefix = format!("rules[{rule}].");
            errors
                .iter()
                .filter(|(field, _)| field.starts_with(&prefix))
                .count()
        })
        .collect();
    // About a hundred regexes fit: the rules before the one where the budget ran out compiled
    // entirely, every condition of the rules after it was refused without compiling.
    let first_refused = refused_per_rule.iter().position(|&n| n > 0).unwrap();
    assert!((3..=6).contains(&first_refused), "{refused_per_rule:?}");
    assert!(
        refused_per_rule[first_refused + 1..]
            .iter()
            .all(|&n| n == 20),
        "{refused_per_rule:?}"
    );
    assert!(errors.contains(&(
        "rules[19].conditions[19].value".into(),
        BUDGET_MESSAGE.into()
    )));
}

#[tokio::test]
async fn a_regex_over_64_kb_compiled_is_refused_with_the_cap() {
    let api = ApiBed::new("sec-regex").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    let mut rule = heavy_plugin_rule("unicode words");
    rule["value"] = json!(r"\w\w");
    let reply = api.post_json(RULES, &admin, &rule).await.unwrap();
    assert_eq!(reply.code(), "invalid_rule", "{:?}", reply.body);
    assert_eq!(
        error_fields(&reply),
        [(
            "value".to_string(),
            "the regex compiles to more than 64 KB, the cap per regex".to_string()
        )]
    );
}

/// Found by `make fuzz`: a number DynamoDB cannot hold (over 1e125, or under 1e-130 but not 0)
/// passed validation and failed the PutItem with a 500.
#[tokio::test]
async fn a_number_the_store_cannot_hold_is_refused_before_the_write() {
    let api = ApiBed::new("sec-number").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    for value in [json!(1e200), json!(-1e-200), json!([3, 1e130])] {
        let mut rule = stage_cap(0);
        rule["value"] = value.clone();
        if value.is_array() {
            rule["operator"] = json!("in");
        }
        let reply = api.post_json(RULES, &admin, &rule).await.unwrap();
        assert_eq!(reply.code(), "invalid_rule", "{value}: {:?}", reply.body);
        assert_eq!(error_fields(&reply)[0].0, "value");
    }
    let mut largest = stage_cap(0);
    largest["value"] = json!(1e125);
    let stored = api.post_json(RULES, &admin, &largest).await.unwrap();
    assert_eq!(stored.status, StatusCode::CREATED, "{:?}", stored.body);
}

#[tokio::test]
async fn an_org_holds_at_most_200_active_rules() {
    let api = ApiBed::new("sec-count").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    seed_rules(&api, (0..MAX_ACTIVE_RULES_PER_ORG as u64).map(stage_cap)).await;

    let refused = api.post_json(RULES, &admin, &stage_cap(9)).await.unwrap();
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(refused.code(), "too_many_rules");
    assert_eq!(
        refused.body["detail"],
        "the org already has 200 active rules, the cap; deactivate or delete one first"
    );

    // An inactive rule may be stored, but not activated while 200 are active.
    let mut inactive = stage_cap(9);
    inactive["active"] = json!(false);
    let created = api.post_json(RULES, &admin, &inactive).await.unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let activate = rule_request(
        &api,
        Method::PUT,
        &admin,
        id,
        Some("\"1\""),
        Some(&stage_cap(9)),
    )
    .await;
    assert_eq!(activate.code(), "too_many_rules", "{:?}", activate.body);
}

#[tokio::test]
async fn writes_compile_stored_rules_once_per_rule_version() {
    let api = ApiBed::new("sec-cache").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    let ids = seed_rules(
        &api,
        (0..50).map(|i| heavy_plugin_rule(&format!("heavy {i}"))),
    )
    .await;

    let first = api
        .post_json("/api/plugins", &admin, &plugin("first"))
        .await
        .unwrap();
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(
        first.body["complianceWarnings"].as_array().unwrap().len(),
        50
    );
    assert_eq!(api.state.rule_cache.compilations(), 50);

    // The issue's 25.7 s per publish came from compiling every rule every time.
    let second = api
        .post_json("/api/plugins", &admin, &plugin("second"))
        .await
        .unwrap();
    assert_eq!(
        second.body["complianceWarnings"].as_array().unwrap().len(),
        50
    );
    assert_eq!(api.state.rule_cache.compilations(), 50);

    // A replaced rule is a new version: it alone compiles again.
    let mut lighter = heavy_plugin_rule("heavy 0");
    lighter["value"] = json!("^public\\.ecr\\.aws/");
    let replaced = rule_request(
        &api,
        Method::PUT,
        &admin,
        &ids[0],
        Some("\"1\""),
        Some(&lighter),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    let third = api
        .post_json("/api/plugins", &admin, &plugin("third"))
        .await
        .unwrap();
    assert_eq!(
        third.body["complianceWarnings"].as_array().unwrap().len(),
        49
    );
    assert_eq!(api.state.rule_cache.compilations(), 51);

    // Pipeline writes evaluate through the same cache.
    let heavy_pipeline_rules = (0..10).map(|i| {
        json!({"name": format!("pipeline {i}"), "target": "pipeline", "severity": "warning",
               "field": "name", "operator": "regex", "value": HEAVY})
    });
    seed_rules(&api, heavy_pipeline_rules).await;
    for name in ["one", "two"] {
        let pipeline = json!({"name": name, "project": "sec",
            "source": {"type": "s3", "bucket": "acme-sources", "key": "k.zip"},
            "stages": [{"name": "Build", "steps": [{"plugin": {"name": "first", "version": "1.0.0"}}]}]});
        let created = api
            .post_json("/api/pipelines", &admin, &pipeline)
            .await
            .unwrap();
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        assert_eq!(
            created.body["complianceWarnings"].as_array().unwrap().len(),
            10
        );
        assert_eq!(api.state.rule_cache.compilations(), 61);
    }
}

#[tokio::test]
async fn an_orgs_active_rules_of_a_target_must_compile_within_4_mb() {
    let api = ApiBed::new("sec-org-budget").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    // 110 heavy rules stored before the cap: about 4.4 MB compiled.
    seed_rules(
        &api,
        (0..110).map(|i| heavy_plugin_rule(&format!("heavy {i}"))),
    )
    .await;

    // A cold container's publish compiles at most 4 MB of them; the rules past it report
    // themselves (as warnings here, their severity) instead of passing unchecked.
    let published = api
        .post_json("/api/plugins", &admin, &plugin("p"))
        .await
        .unwrap();
    assert_eq!(
        published.status,
        StatusCode::CREATED,
        "{:?}",
        published.body
    );
    let warnings = published.body["complianceWarnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 110);
    let unevaluated = warnings
        .iter()
        .filter(|w| {
            w["message"]
                .as_str()
                .unwrap_or_default()
                .contains(BUDGET_MESSAGE)
        })
        .count();
    assert!(
        (1..=46).contains(&unevaluated),
        "{unevaluated} not evaluated"
    );

    // No further active plugin rule is accepted while they exceed 4 MB together.
    let mut tiny = heavy_plugin_rule("tiny");
    tiny["value"] = json!("^a");
    let refused = api.post_json(RULES, &admin, &tiny).await.unwrap();
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        refused.body
    );
    assert_eq!(
        error_fields(&refused),
        [(
            "active".to_string(),
            "the org's active plugin rules would compile to more than 4 MB in all, the cap per \
             request; deactivate or simplify a rule"
                .to_string()
        )]
    );
    // A rule of the other target is not evaluated with them, and is accepted.
    let created = api.post_json(RULES, &admin, &stage_cap(9)).await.unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
}

#[tokio::test]
async fn rules_carry_etags_and_writes_need_the_current_one() {
    let api = ApiBed::new("sec-etag").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    let created = api.post_json(RULES, &admin, &stage_cap(8)).await.unwrap();
    assert_eq!(created.headers["etag"], "\"1\"");
    let id = created.body["id"].as_str().unwrap().to_string();
    let read = api
        .get(&format!("{RULES}/{id}"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(read.headers["etag"], "\"1\"");
    assert_eq!(read.body["version"], 1);

    let unconditional =
        rule_request(&api, Method::PUT, &admin, &id, None, Some(&stage_cap(7))).await;
    assert_eq!(
        (unconditional.status, unconditional.code()),
        (StatusCode::PRECONDITION_REQUIRED, "precondition_required")
    );
    assert_only_version_1_is_replaced(&api, &admin, &id, "\"7\"").await;

    // Two editors holding ETag 2: exactly one wins.
    let (six, five) = (stage_cap(6), stage_cap(5));
    let (a, b) = tokio::join!(
        rule_request(&api, Method::PUT, &admin, &id, Some("\"2\""), Some(&six)),
        rule_request(&api, Method::PUT, &admin, &id, Some("\"2\""), Some(&five)),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let winner = if a.status == StatusCode::OK { &a } else { &b };
    let read = api
        .get(&format!("{RULES}/{id}"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(read.body["spec"], winner.body["spec"]);
    assert_eq!(read.headers["etag"], "\"3\"");

    let stale_delete = rule_request(&api, Method::DELETE, &admin, &id, Some("\"2\""), None).await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
    let deleted = rule_request(&api, Method::DELETE, &admin, &id, Some("\"3\""), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = rule_request(&api, Method::DELETE, &admin, &id, Some("\"3\""), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

/// A PUT naming the `stale` ETag is refused with 412; one naming version 1 replaces the rule,
/// which becomes version 2.
async fn assert_only_version_1_is_replaced(api: &ApiBed, token: &str, id: &str, stale: &str) {
    let refused = rule_request(
        api,
        Method::PUT,
        token,
        id,
        Some(stale),
        Some(&stage_cap(7)),
    )
    .await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    let replaced = rule_request(
        api,
        Method::PUT,
        token,
        id,
        Some("\"1\""),
        Some(&stage_cap(7)),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    assert_eq!(replaced.headers["etag"], "\"2\"");
}

#[tokio::test]
async fn a_rule_stored_before_versions_is_version_1() {
    let api = ApiBed::new("sec-etag-old").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    let id = seed_rules(&api, [stage_cap(8)]).await.remove(0);
    api.bed
        .clients
        .dynamodb
        .update_item()
        .table_name(&api.bed.stack.catalog_table)
        .key("PK", AttributeValue::S(rule_pk(ACME)))
        .key("SK", AttributeValue::S(rule_sk(&id)))
        .update_expression("REMOVE version")
        .send()
        .await
        .unwrap();
    let read = api
        .get(&format!("{RULES}/{id}"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(read.headers["etag"], "\"1\"");
    assert_only_version_1_is_replaced(&api, &admin, &id, "\"2\"").await;
}
