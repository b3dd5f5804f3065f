//! The API's authentication, authorisation, errors and route table, against the emulator (the
//! key set lives in moto's Secrets Manager).

use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pb_api::tokens::Claims;
use pb_tests::api::{key_set_json, ApiBed, AUDIENCE, ISSUER, MAX_BODY_BYTES};
use serde_json::{json, Value};

const ORG: &str = "acme";

fn claims(now: i64) -> Claims {
    Claims {
        sub: "user@acme".into(),
        org: ORG.into(),
        perms: vec!["plugins:read".into()],
        scope: None,
        principal: None,
        jti: "test-jti".into(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now,
        nbf: now,
        exp: now + 3600,
    }
}

fn sign(claims: &Claims, alg: Algorithm, kid: Option<&str>, key: &[u8]) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key)).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn status_with(api: &ApiBed, token: &str) -> (StatusCode, String) {
    let reply = api.get("/api/plugins", Some(token)).await.unwrap();
    (reply.status, reply.code().to_string())
}

#[tokio::test]
async fn jwt_matrix_accepts_only_well_formed_current_tokens() {
    let api = ApiBed::new("jwt").await.unwrap();
    let keys = api.key_set().await.unwrap();
    let key = keys.active_key().to_vec();
    let now = now();
    let good = sign(&claims(now), Algorithm::HS256, Some("k1"), &key);
    assert_eq!(
        status_with(&api, &good).await,
        (StatusCode::OK, String::new())
    );

    let header = |json: Value| URL_SAFE_NO_PAD.encode(json.to_string());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now)).unwrap());
    let none_alg = format!("{}.{payload}.", header(json!({"alg": "none", "kid": "k1"})));
    let mut expired = claims(now - 7200);
    expired.exp = now - 3600;
    let mut not_yet = claims(now);
    not_yet.nbf = now + 3600;
    let mut wrong_iss = claims(now);
    wrong_iss.iss = "someone-else".into();
    let mut blank_sub = claims(now);
    blank_sub.sub = String::new();
    let mut wrong_aud = claims(now);
    wrong_aud.aud = "another-api".into();
    let (_, other_keys) = key_set_json(&["k1"]).unwrap();
    let (_, signature) = good.rsplit_once('.').unwrap();
    let mut escalated = claims(now);
    escalated.perms = vec!["*".into()];
    let tampered = format!(
        "{}.{}.{signature}",
        good.split('.').next().unwrap(),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&escalated).unwrap())
    );
    let cases: Vec<(&str, String)> = vec![
        ("none algorithm", none_alg),
        // Algorithm confusion: HS512 with the right key is still not the pinned HS256.
        (
            "HS512",
            sign(&claims(now), Algorithm::HS512, Some("k1"), &key),
        ),
        (
            "wrong key",
            sign(
                &claims(now),
                Algorithm::HS256,
                Some("k1"),
                other_keys[0].as_bytes(),
            ),
        ),
        (
            "expired",
            sign(&expired, Algorithm::HS256, Some("k1"), &key),
        ),
        (
            "not yet valid",
            sign(&not_yet, Algorithm::HS256, Some("k1"), &key),
        ),
        (
            "wrong issuer",
            sign(&wrong_iss, Algorithm::HS256, Some("k1"), &key),
        ),
        (
            "wrong audience",
            sign(&wrong_aud, Algorithm::HS256, Some("k1"), &key),
        ),
        (
            "unknown kid",
            sign(&claims(now), Algorithm::HS256, Some("k9"), &key),
        ),
        ("no kid", sign(&claims(now), Algorithm::HS256, None, &key)),
        (
            "empty sub",
            sign(&blank_sub, Algorithm::HS256, Some("k1"), &key),
        ),
        ("tampered payload", tampered),
        ("garbage", "not.a.jwt".into()),
    ];
    for (case, token) in cases {
        let reply = api.get("/api/plugins", Some(&token)).await.unwrap();
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(reply.code(), "invalid_token", "{case}");
        assert_eq!(
            reply.headers["www-authenticate"], r#"Bearer error="invalid_token""#,
            "{case}"
        );
    }
    let missing = api.get("/api/plugins", None).await.unwrap();
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::UNAUTHORIZED, "missing_token")
    );
}

#[tokio::test]
async fn a_rotated_out_key_is_accepted_while_listed_then_refused() {
    let api = ApiBed::new("rotation").await.unwrap();
    let old_key = api.key_set().await.unwrap().active_key().to_vec();
    let old_token = sign(&claims(now()), Algorithm::HS256, Some("k1"), &old_key);

    let (mut rotated, new_keys) = key_set_json(&["k2"]).unwrap();
    rotated["k1"] = json!(String::from_utf8(old_key.clone()).unwrap());
    api.secrets
        .write(&api.key_set_secret, &rotated.to_string())
        .await
        .unwrap();
    let new_token = api.token(ORG, &["plugins:read"]).await.unwrap();
    let kid = jsonwebtoken::decode_header(&new_token).unwrap().kid;
    assert_eq!(kid.as_deref(), Some("k2"));
    assert_eq!(status_with(&api, &old_token).await.0, StatusCode::OK);
    assert_eq!(status_with(&api, &new_token).await.0, StatusCode::OK);

    let retired = json!({"active": "k2", "k2": new_keys[0]});
    api.secrets
        .write(&api.key_set_secret, &retired.to_string())
        .await
        .unwrap();
    assert_eq!(
        status_with(&api, &old_token).await,
        (StatusCode::UNAUTHORIZED, "invalid_token".to_string())
    );
    assert_eq!(status_with(&api, &new_token).await.0, StatusCode::OK);
}

/// A concrete request path for a documented route.
fn concrete(path: &str) -> String {
    path.replace("{name}", "some-plugin")
        .replace("{version}", "1.0.0")
        .replace("{id}", "pl-0123")
        .replace("{pipelineId}", "pl-0123")
        .replace("{jti}", "0123456789abcdef0123456789abcdef")
}

/// A route as the document states it: method, OpenAPI path, and the permission its security
/// requirement names (`None` for the two unauthenticated routes).
#[derive(Debug)]
struct Route {
    method: String,
    path: String,
    permission: Option<String>,
}

fn documented_routes() -> Vec<Route> {
    let document = serde_json::to_value(pb_api::endpoints::document()).unwrap();
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let permission = operation["security"][0]["bearer"][0]
                .as_str()
                .map(str::to_string);
            routes.push(Route {
                method: method.to_uppercase(),
                path: path.clone(),
                permission,
            });
        }
    }
    routes
}

#[tokio::test]
async fn every_route_checks_its_permission() {
    let api = ApiBed::new("perms").await.unwrap();
    let powerless = api.token(ORG, &["nothing:none"]).await.unwrap();
    let routes = documented_routes();
    let checked: Vec<_> = routes.iter().filter(|r| r.permission.is_some()).collect();
    assert_eq!(
        checked.len(),
        routes.len() - 3,
        "only /health and /openapi.json are open, and /api/me takes any valid token"
    );
    for route in checked {
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let path = concrete(&route.path);
        let body = Some(("application/json", b"{}".to_vec()));
        let anonymous = api
            .send(method.clone(), &path, None, body.clone())
            .await
            .unwrap();
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{route:?}");
        let reply = api
            .send(method, &path, Some(&powerless), body)
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{route:?}");
        assert_eq!(reply.code(), "forbidden");
        assert!(reply.body["detail"]
            .as_str()
            .unwrap()
            .contains(route.permission.as_deref().unwrap()));
    }
}

#[tokio::test]
async fn me_describes_any_valid_token_and_refuses_none() {
    let api = ApiBed::new("me").await.unwrap();
    let powerless = api.token(ORG, &["nothing:none"]).await.unwrap();
    let me = api.get("/api/me", Some(&powerless)).await.unwrap();
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    assert_eq!(me.body["org"], ORG);
    assert_eq!(me.body["subject"], "user@acme");
    assert_eq!(me.body["principal"], "user@acme");
    assert_eq!(me.body["permissions"], json!(["nothing:none"]));
    assert!(me.body.get("scope").is_none());
    let expires = chrono::DateTime::parse_from_rfc3339(me.body["expiresAt"].as_str().unwrap());
    assert!(expires.unwrap().timestamp() > now());
    let anonymous = api.get("/api/me", None).await.unwrap();
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (StatusCode::UNAUTHORIZED, "missing_token")
    );
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let api = ApiBed::new("openapi").await.unwrap();
    let served = api.get("/openapi.json", None).await.unwrap();
    assert_eq!(served.status, StatusCode::OK);
    assert!(served.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        served.body,
        serde_json::to_value(pb_api::endpoints::document()).unwrap()
    );

    let admin = api.token(ORG, &["*"]).await.unwrap();
    for route in documented_routes() {
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let reply = api
            .send(
                method,
                &concrete(&route.path),
                Some(&admin),
                Some(("application/json", b"{}".to_vec())),
            )
            .await
            .unwrap();
        assert!(
            !matches!(reply.code(), "route_not_found" | "method_not_allowed"),
            "{route:?} is documented but not routed"
        );
    }
}

#[tokio::test]
async fn errors_are_problem_documents_with_the_request_id() {
    let api = ApiBed::new("problems").await.unwrap();
    let admin = api.token(ORG, &["*"]).await.unwrap();

    let unknown = api.get("/api/nothing-here", Some(&admin)).await.unwrap();
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "route_not_found")
    );
    assert_eq!(unknown.headers["content-type"], "application/problem+json");
    let request_id = unknown.headers["x-request-id"].to_str().unwrap();
    assert_eq!(request_id.len(), 32);
    assert_eq!(unknown.body["requestId"], request_id);
    assert_eq!(
        unknown.body["type"],
        "urn:pipeline-builder:problem:route_not_found"
    );
    assert_eq!(unknown.body["status"], 404);

    let wrong_method = api
        .send(Method::DELETE, "/api/plugins", Some(&admin), None)
        .await
        .unwrap();
    assert_eq!(
        (wrong_method.status, wrong_method.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );

    let malformed = api
        .send(
            Method::POST,
            "/api/plugins",
            Some(&admin),
            Some((
                "application/json",
                b"{\n  \"name\": \"x\",\n  oops\n}".to_vec(),
            )),
        )
        .await
        .unwrap();
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::BAD_REQUEST, "malformed_body")
    );
    let detail = malformed.body["detail"].as_str().unwrap();
    assert!(detail.contains("line 3, column 3"), "{detail}");

    let too_large = api
        .send(
            Method::POST,
            "/api/plugins",
            Some(&admin),
            Some(("application/json", vec![b' '; MAX_BODY_BYTES + 1])),
        )
        .await
        .unwrap();
    assert_eq!(
        (too_large.status, too_large.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );

    let text = api
        .send(
            Method::POST,
            "/api/plugins",
            Some(&admin),
            Some(("text/plain", b"name: x".to_vec())),
        )
        .await
        .unwrap();
    assert_eq!(
        (text.status, text.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );

    let bad_limit = api
        .get("/api/plugins?limit=lots", Some(&admin))
        .await
        .unwrap();
    assert_eq!(
        (bad_limit.status, bad_limit.code()),
        (StatusCode::BAD_REQUEST, "invalid_parameter")
    );
    assert!(bad_limit.body["detail"].as_str().unwrap().contains("limit"));
    let unknown_param = api
        .get("/api/plugins?colour=red", Some(&admin))
        .await
        .unwrap();
    assert!(unknown_param.body["detail"]
        .as_str()
        .unwrap()
        .contains("colour"));

    let health = api.get("/health", None).await.unwrap();
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    assert_eq!(health.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn a_missing_key_set_is_a_500_without_internals() {
    let api = ApiBed::new("nokeys").await.unwrap();
    let token = api.token(ORG, &["plugins:read"]).await.unwrap();
    api.bed
        .clients
        .secretsmanager
        .delete_secret()
        .secret_id(&api.key_set_secret)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let reply = api.get("/api/plugins", Some(&token)).await.unwrap();
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.code(), "internal_error");
    let detail = reply.body["detail"].as_str().unwrap();
    assert_eq!(detail, "the request could not be completed");
    assert!(!reply.body.to_string().contains(&api.key_set_secret));
}

#[tokio::test]
async fn a_panicking_handler_answers_a_plain_500_problem() {
    use axum::routing::get;
    use tower::ServiceExt;
    let api = ApiBed::new("panic").await.unwrap();
    let routes = axum::Router::new().route(
        "/boom",
        get(|| async {
            let secret_detail: Option<&str> = std::hint::black_box(None);
            secret_detail.expect("internal invariant with secret detail")
        }),
    );
    let router = pb_api::app::serve(routes, api.state.clone());
    let request = axum::http::Request::get("/boom")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["code"], "internal_error");
    assert!(!body.to_string().contains("secret detail"));
}
