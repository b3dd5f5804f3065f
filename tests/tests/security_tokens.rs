//! Attacks on tokens and authentication, each performed through the real router against the
//! emulator: self-approval through a minted token, lifetime escalation, machine tokens minting,
//! revocation, platform secret overwrite, and the key-set cache under load and outage.

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pb_api::routes::tokens::{rfc3339, PLATFORM_PERMS, PLATFORM_SCOPE};
use pb_api::tokens::{verify, Claims, Grant};
use pb_tests::api::{audience, person_grant, ApiBed, Reply, AUDIENCE, ISSUER};
use pb_tests::request_counter::RequestCounter;
use serde_json::{json, Value};
use tower::ServiceExt;

const ACME: &str = "acme";
const GLOBEX: &str = "globex";
const TOKENS: &str = "/api/tokens";

/// A root token (as `api mint-token` makes them) for a named person.
async fn person(api: &ApiBed, sub: &str, org: &str, perms: &[&str], days: u32) -> String {
    api.sign(Grant {
        lifetime_days: days,
        ..person_grant(sub, org, perms)
    })
    .await
    .unwrap()
}

async fn claims_of(api: &ApiBed, token: &str) -> Claims {
    verify(token, &api.key_set().await.unwrap(), &audience()).unwrap()
}

async fn mint_machine(api: &ApiBed, minter: &str, request: Value) -> Reply {
    let reply = api.post_json(TOKENS, minter, &request).await.unwrap();
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply
}

fn token_of(reply: &Reply) -> String {
    reply.body["token"].as_str().unwrap().to_string()
}

async fn delete(api: &ApiBed, path: &str, token: &str) -> Reply {
    api.send(Method::DELETE, path, Some(token), None)
        .await
        .unwrap()
}

async fn create_rule(api: &ApiBed, token: &str) -> String {
    let rule = json!({"name": "At most 3 stages", "target": "pipeline", "severity": "error",
                      "field": "stageCount", "operator": "lte", "value": 3});
    let reply = api
        .post_json("/api/compliance/rules", token, &rule)
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

async fn request_exemption(api: &ApiBed, token: &str, rule_id: &str) -> Reply {
    let expires = (chrono::Utc::now() + chrono::Duration::days(7))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let request =
        json!({"ruleId": rule_id, "entity": "pl-1", "reason": "legacy", "expiresAt": expires});
    let reply = api
        .post_json("/api/compliance/exemptions", token, &request)
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply
}

async fn approve(api: &ApiBed, token: &str, exemption: &Reply) -> Reply {
    let id = exemption.body["id"].as_str().unwrap();
    let path = format!("/api/compliance/exemptions/{id}/approve");
    api.post_json(&path, token, &json!({})).await.unwrap()
}

#[tokio::test]
async fn a_requester_cannot_approve_through_a_token_they_minted() {
    let api = ApiBed::new("sec-four-eyes").await.unwrap();
    let alice = person(
        &api,
        "alice@acme",
        ACME,
        &["compliance:*", "tokens:create"],
        1,
    )
    .await;
    let rule_id = create_rule(&api, &alice).await;
    let exemption = request_exemption(&api, &alice, &rule_id).await;
    assert_eq!(exemption.body["requestedBy"], "alice@acme");

    let minted = mint_machine(
        &api,
        &alice,
        json!({"scope": "ci:approve", "perms": ["compliance:approve"], "expiresInDays": 1}),
    )
    .await;
    assert_eq!(minted.body["subject"], "machine:ci:approve");
    assert_eq!(minted.body["principal"], "alice@acme");
    let machine = token_of(&minted);
    let own = approve(&api, &machine, &exemption).await;
    assert_eq!(
        (own.status, own.code()),
        (StatusCode::FORBIDDEN, "self_approval")
    );

    // Requested through the machine token, the request is still Alice's.
    let requester_machine = token_of(
        &mint_machine(
            &api,
            &alice,
            json!({"scope": "ci:request", "perms": ["compliance:write"], "expiresInDays": 1}),
        )
        .await,
    );
    let via_machine = request_exemption(&api, &requester_machine, &rule_id).await;
    assert_eq!(via_machine.body["requestedBy"], "alice@acme");
    let by_alice = approve(&api, &alice, &via_machine).await;
    assert_eq!(
        (by_alice.status, by_alice.code()),
        (StatusCode::FORBIDDEN, "self_approval")
    );

    let bob = person(&api, "bob@acme", ACME, &["compliance:approve"], 1).await;
    let approved = approve(&api, &bob, &exemption).await;
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    assert_eq!(approved.body["approvedBy"], "bob@acme");
}

#[tokio::test]
async fn a_minted_token_never_outlives_its_minter() {
    let api = ApiBed::new("sec-lifetime").await.unwrap();
    let one_day = person(
        &api,
        "alice@acme",
        ACME,
        &["tokens:create", "plugins:read"],
        1,
    )
    .await;
    let minter_expiry = claims_of(&api, &one_day).await.exp;

    let minted = mint_machine(
        &api,
        &one_day,
        json!({"scope": "ci", "perms": ["plugins:read"], "expiresInDays": 365}),
    )
    .await;
    assert_eq!(minted.body["expiresAt"], rfc3339(minter_expiry));
    let machine = token_of(&minted);
    let claims = claims_of(&api, &machine).await;
    assert_eq!(claims.exp, minter_expiry);
    assert_eq!(claims.principal.as_deref(), Some("alice@acme"));

    // The 365-day token cannot mint the next link of the chain at all.
    let next = api
        .post_json(
            TOKENS,
            &machine,
            &json!({"scope": "ci2", "perms": ["plugins:read"], "expiresInDays": 365}),
        )
        .await
        .unwrap();
    assert_eq!(
        (next.status, next.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
}

#[tokio::test]
async fn machine_tokens_never_carry_tokens_create() {
    let api = ApiBed::new("sec-no-minting").await.unwrap();
    let admin = person(&api, "admin", ACME, &["*"], 1).await;
    for (perm, named) in [
        ("tokens:create", "tokens:create"),
        ("tokens:*", "tokens:*"),
        ("*", "'*'"),
    ] {
        let refused = api
            .post_json(TOKENS, &admin, &json!({"scope": "ci", "perms": [perm]}))
            .await
            .unwrap();
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{perm}"
        );
        let detail = refused.body["detail"].as_str().unwrap();
        assert!(
            detail.contains("machine token cannot carry 'tokens:create'") && detail.contains(named),
            "{detail}"
        );
    }
    let listed = api.get(TOKENS, Some(&admin)).await.unwrap();
    assert_eq!(listed.body["items"], json!([]));

    // A machine token minted before this rule, listing '*', still cannot mint.
    let grant = Grant {
        sub: "machine:legacy".into(),
        org: ACME.into(),
        perms: vec!["*".into()],
        scope: Some("legacy".into()),
        lifetime_days: 30,
    };
    let legacy = api.sign(grant).await.unwrap();
    let reads = api.get("/api/plugins", Some(&legacy)).await.unwrap();
    assert_eq!(reads.status, StatusCode::OK);
    let mints = api
        .post_json(
            TOKENS,
            &legacy,
            &json!({"scope": "x", "perms": ["plugins:read"]}),
        )
        .await
        .unwrap();
    assert_eq!(
        (mints.status, mints.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(mints.body["detail"]
        .as_str()
        .unwrap()
        .contains("tokens:create"));
}

#[tokio::test]
async fn a_revoked_token_is_refused_on_its_next_request() {
    let api = ApiBed::new("sec-revoke").await.unwrap();
    let admin = person(&api, "admin", ACME, &["*"], 1).await;
    let minted = mint_machine(
        &api,
        &admin,
        json!({"scope": "ci", "perms": ["plugins:read"]}),
    )
    .await;
    let machine = token_of(&minted);
    let jti = minted.body["jti"].as_str().unwrap();
    assert_eq!(
        api.get("/api/plugins", Some(&machine))
            .await
            .unwrap()
            .status,
        StatusCode::OK
    );

    let revoked = delete(&api, &format!("{TOKENS}/{jti}"), &admin).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{:?}", revoked.body);
    let refused = api.get("/api/plugins", Some(&machine)).await.unwrap();
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert_eq!(refused.body["detail"], "the token has been revoked");

    // A second container that never saw the revocation reads it from the record.
    let other_container = pb_api::router(pb_api::AppState::new(
        &api.bed.clients,
        (*api.state.config).clone(),
    ));
    let request = Request::get("/api/plugins")
        .header("authorization", format!("Bearer {machine}"))
        .body(Body::empty())
        .unwrap();
    let response = other_container.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let again = delete(&api, &format!("{TOKENS}/{jti}"), &admin).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let listed = api.get(TOKENS, Some(&admin)).await.unwrap();
    assert_eq!(listed.body["items"][0]["jti"], jti);
    assert_eq!(listed.body["items"][0]["revokedBy"], "admin");
    assert!(listed.body["items"][0]["revokedAt"].is_string());
}

#[tokio::test]
async fn another_orgs_tokens_cannot_be_revoked_or_seen() {
    let api = ApiBed::new("sec-cross-org").await.unwrap();
    let acme_admin = person(&api, "admin", ACME, &["*"], 1).await;
    let globex_admin = person(&api, "admin", GLOBEX, &["*"], 1).await;
    let minted = mint_machine(
        &api,
        &acme_admin,
        json!({"scope": "ci", "perms": ["plugins:read"]}),
    )
    .await;
    let jti = minted.body["jti"].as_str().unwrap();

    let cross = delete(&api, &format!("{TOKENS}/{jti}"), &globex_admin).await;
    assert_eq!(
        (cross.status, cross.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let unknown = delete(
        &api,
        &format!("{TOKENS}/0123456789abcdef0123456789abcdef"),
        &acme_admin,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let still_works = api
        .get("/api/plugins", Some(&token_of(&minted)))
        .await
        .unwrap();
    assert_eq!(still_works.status, StatusCode::OK);
    let globex_list = api.get(TOKENS, Some(&globex_admin)).await.unwrap();
    assert_eq!(globex_list.status, StatusCode::OK);
    assert_eq!(globex_list.body["items"], json!([]));
}

#[tokio::test]
async fn the_token_list_pages_through_metadata_and_never_shows_a_token() {
    let api = ApiBed::new("sec-list").await.unwrap();
    let admin = person(&api, "admin", ACME, &["*"], 1).await;
    let first = mint_machine(
        &api,
        &admin,
        json!({"scope": "ci", "perms": ["plugins:read", "pipelines:read"]}),
    )
    .await;
    let second = mint_machine(&api, &admin, json!({"store": true})).await;
    let reader = person(&api, "auditor", ACME, &["tokens:read"], 1).await;

    let page_one = api.get("/api/tokens?limit=1", Some(&reader)).await.unwrap();
    assert_eq!(page_one.status, StatusCode::OK, "{:?}", page_one.body);
    let cursor = page_one.body["nextCursor"].as_str().unwrap();
    let page_two = api
        .get(
            &format!("/api/tokens?limit=1&cursor={cursor}"),
            Some(&reader),
        )
        .await
        .unwrap();
    assert!(page_two.body.get("nextCursor").is_none());
    let mut listed: Vec<Value> = [&page_one, &page_two]
        .iter()
        .flat_map(|page| page.body["items"].as_array().unwrap().clone())
        .collect();
    listed.sort_by_key(|item| item["scope"].as_str().unwrap().to_string());
    assert_eq!(
        listed[0],
        json!({"jti": first.body["jti"], "subject": "machine:ci", "principal": "admin",
               "scope": "ci", "perms": ["plugins:read", "pipelines:read"],
               "issuedAt": first.body["issuedAt"], "expiresAt": first.body["expiresAt"],
               "mintedBy": "admin", "stored": false})
    );
    assert_eq!(listed[1]["jti"], second.body["jti"]);
    assert_eq!(listed[1]["stored"], true);
    for page in [&page_one, &page_two] {
        let text = page.body.to_string();
        for minted in [&first, &second] {
            let token = token_of(minted);
            let signature = token.rsplit('.').next().unwrap();
            assert!(!text.contains(signature));
        }
        assert!(!text.contains("\"token\""));
    }
    let without_permission = api.get(TOKENS, Some(&token_of(&first))).await.unwrap();
    assert_eq!(without_permission.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn storing_the_platform_token_needs_tokens_store_and_a_fixed_grant() {
    let api = ApiBed::new("sec-store").await.unwrap();
    let admin = person(&api, "admin", ACME, &["*"], 30).await;
    let legit = mint_machine(&api, &admin, json!({"store": true, "expiresInDays": 30})).await;
    assert_eq!(legit.body["scope"], PLATFORM_SCOPE);
    assert_eq!(legit.body["perms"], json!(PLATFORM_PERMS));
    let before = api.secrets.read(&api.platform_secret(ACME)).await.unwrap();
    let stored: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(stored["password"], legit.body["token"]);

    let attacker = person(
        &api,
        "mallory@acme",
        ACME,
        &["tokens:create", "plugins:read"],
        1,
    )
    .await;
    let overwrite = json!({"scope": "events:ingest", "perms": ["plugins:read"], "store": true});
    let refused = api.post_json(TOKENS, &attacker, &overwrite).await.unwrap();
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("tokens:store"));
    assert_eq!(
        api.secrets.read(&api.platform_secret(ACME)).await.unwrap(),
        before
    );

    // Holding tokens:store does not let the request choose what the stored token may do.
    let storer = person(
        &api,
        "ops@acme",
        ACME,
        &["tokens:create", "tokens:store", "plugins:*", "pipelines:*"],
        1,
    )
    .await;
    let widened =
        json!({"scope": "deploy", "perms": ["plugins:read", "pipelines:delete"], "store": true});
    let rejected = api.post_json(TOKENS, &storer, &widened).await.unwrap();
    assert_eq!(rejected.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = rejected.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["scope", "perms"]);
    assert_eq!(
        api.secrets.read(&api.platform_secret(ACME)).await.unwrap(),
        before
    );

    let replaced = mint_machine(&api, &storer, overwrite).await;
    assert_eq!(replaced.body["stored"]["result"], "newVersion");
    let now_stored: Value =
        serde_json::from_str(&api.secrets.read(&api.platform_secret(ACME)).await.unwrap()).unwrap();
    let claims = claims_of(&api, now_stored["password"].as_str().unwrap()).await;
    assert_eq!(claims.perms, PLATFORM_PERMS);
    assert_eq!(claims.scope.as_deref(), Some(PLATFORM_SCOPE));
    assert_eq!(claims.principal.as_deref(), Some("ops@acme"));
}

/// A token for `kid` signed with a key no key set holds.
fn token_for_unknown_kid(kid: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": "user@acme", "org": ACME, "perms": ["plugins:read"], "jti": "x",
                        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 600});
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_secret(b"an attacker's key of at least thirty-two bytes");
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// The statuses of `count` concurrent `GET /api/plugins` with `token`.
async fn concurrent_reads(api: &ApiBed, token: &str, count: usize) -> Vec<StatusCode> {
    let token: Arc<str> = Arc::from(token);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..count {
        let router = api.router.clone();
        let token = token.clone();
        requests.spawn(async move {
            let request = Request::get("/api/plugins")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        });
    }
    requests.join_all().await
}

fn key_set_reads(counter: &RequestCounter) -> u64 {
    counter
        .snapshot()
        .iter()
        .filter(|(operation, _)| operation.ends_with(".GetSecretValue"))
        .map(|(_, count)| count)
        .sum()
}

#[tokio::test]
async fn concurrent_requests_with_an_unknown_kid_read_the_key_set_once() {
    let counter = RequestCounter::default();
    let api = ApiBed::configured(
        "sec-single-flight",
        &[SharedInterceptor::new(counter.clone())],
        |config| {
            config.tokens.key_set_ttl = Duration::from_secs(300);
        },
    )
    .await
    .unwrap();
    counter.reset();
    let statuses = concurrent_reads(&api, &token_for_unknown_kid("k9"), 20).await;
    assert_eq!(statuses, vec![StatusCode::UNAUTHORIZED; 20]);
    assert_eq!(key_set_reads(&counter), 1, "{:?}", counter.snapshot());
}

#[tokio::test]
async fn requests_waiting_on_a_failed_key_set_read_share_its_failure() {
    let (api, token, counter) = bed_losing_its_key_set("sec-shared-failure", Duration::ZERO).await;
    let statuses = concurrent_reads(&api, &token, 20).await;
    assert_eq!(statuses, vec![StatusCode::INTERNAL_SERVER_ERROR; 20]);
    // Requests that arrived while a read was failing took its answer; only those that arrived
    // after it ended ask again, so the reads are far fewer than the requests.
    let reads = key_set_reads(&counter);
    assert!((1..=3).contains(&reads), "{reads} reads for 20 requests");
}

/// A bed whose key set cache was filled by one request, after which the secret disappears:
/// every later read of it fails.
async fn bed_losing_its_key_set(label: &str, grace: Duration) -> (ApiBed, String, RequestCounter) {
    let counter = RequestCounter::default();
    let api = ApiBed::configured(
        label,
        &[SharedInterceptor::new(counter.clone())],
        |config| {
            config.tokens.key_set_grace = grace;
        },
    )
    .await
    .unwrap();
    let token = person(&api, "user@acme", ACME, &["plugins:read"], 1).await;
    let primed = api.get("/api/plugins", Some(&token)).await.unwrap();
    assert_eq!(primed.status, StatusCode::OK);
    api.bed
        .clients
        .secretsmanager
        .delete_secret()
        .secret_id(&api.key_set_secret)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    counter.reset();
    (api, token, counter)
}

#[tokio::test]
async fn a_secrets_manager_error_within_the_grace_period_still_verifies() {
    // The bed's TTL is zero: every request needs a fresh read, and the read fails.
    let (api, token, counter) = bed_losing_its_key_set("sec-grace", Duration::from_secs(900)).await;
    for _ in 0..3 {
        let reply = api.get("/api/plugins", Some(&token)).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
    // One failed read; the next requests served the cached set without asking again.
    assert_eq!(key_set_reads(&counter), 1, "{:?}", counter.snapshot());

    let (no_grace, token, _) = bed_losing_its_key_set("sec-no-grace", Duration::ZERO).await;
    let refused = no_grace.get("/api/plugins", Some(&token)).await.unwrap();
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
    );
}
