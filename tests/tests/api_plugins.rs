//! The plugin catalog and token routes against the emulator: publishing, listing, paging,
//! cross-org isolation, lookup, and tokens stored in Secrets Manager.

use axum::http::{Method, StatusCode};
use pb_tests::api::{sample_plugin, sample_plugins, ApiBed, Reply};
use serde_json::{json, Value};

const ACME: &str = "acme";
const GLOBEX: &str = "globex";

fn spec(name: &str, version: &str, access: &str) -> Value {
    json!({
        "name": name,
        "version": version,
        "description": format!("{name} {version}"),
        "keywords": ["build", name],
        "category": "build",
        "pluginType": "CodeBuildStep",
        "computeType": "SMALL",
        "image": "public.ecr.aws/docker/library/node:20",
        "commands": ["npm ci"],
        "accessModifier": access,
    })
}

async fn publish(api: &ApiBed, token: &str, body: Value) -> Reply {
    api.post_json("/api/plugins", token, &body).await.unwrap()
}

async fn publish_ok(api: &ApiBed, token: &str, body: Value) {
    let reply = publish(api, token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
}

#[tokio::test]
async fn json_and_yaml_publish_the_same_plugin() {
    let api = ApiBed::new("yaml").await.unwrap();
    let acme = api.token(ACME, &["*"]).await.unwrap();
    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let yaml = sample_plugin("rust-build").unwrap();
    let as_json: Value = pb_tests::yaml::body_yaml(&yaml);
    let from_yaml = api.publish_yaml(&acme, yaml).await.unwrap();
    assert_eq!(
        from_yaml.status,
        StatusCode::CREATED,
        "{:?}",
        from_yaml.body
    );
    assert_eq!(
        from_yaml.headers["location"],
        "/api/plugins/rust-build/1.2.0"
    );
    // The public name is acme's now, so globex publishes the same spec privately.
    let mut as_json = as_json;
    as_json["accessModifier"] = json!("private");
    let from_json = publish(&api, &globex, as_json).await;
    assert_eq!(from_json.status, StatusCode::CREATED);
    let mut expected = from_yaml.body["spec"].clone();
    expected["accessModifier"] = json!("private");
    assert_eq!(from_json.body["spec"], expected);
    assert_eq!(from_yaml.body["spec"]["timeoutMinutes"], 60);
    assert_eq!(from_yaml.body["spec"]["env"]["CARGO_TERM_COLOR"], "never");
    assert_eq!(from_yaml.body["publishedBy"], "user@acme");

    let stored = api
        .get("/api/plugins/rust-build/1.2.0", Some(&acme))
        .await
        .unwrap();
    assert_eq!(stored.body["spec"], from_yaml.body["spec"]);
    assert_eq!(stored.body["source"], "org");

    let bad_yaml = api
        .publish_yaml(&acme, b"name: x\nversion: [1\n".to_vec())
        .await
        .unwrap();
    assert_eq!(bad_yaml.code(), "malformed_body");
    assert!(bad_yaml.body["detail"].as_str().unwrap().contains("YAML"));
}

#[tokio::test]
async fn every_sample_plugin_publishes() {
    let api = ApiBed::new("samples").await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    let mut names = Vec::new();
    for (path, yaml) in sample_plugins().unwrap() {
        let reply = api.publish_yaml(&admin, yaml).await.unwrap();
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}: {:?}",
            path.display(),
            reply.body
        );
        names.push(reply.body["spec"]["name"].as_str().unwrap().to_string());
    }
    names.sort();
    assert_eq!(
        names,
        [
            "cfn-deploy",
            "integration-tests",
            "manual-approval",
            "node-build",
            "rust-build",
            "security-scan",
            "shell-script",
            "unit-tests"
        ]
    );
}

#[tokio::test]
async fn publishing_checks_immutability_permissions_and_fields() {
    let api = ApiBed::new("publish").await.unwrap();
    let creator = api
        .token(ACME, &["plugins:create", "plugins:read"])
        .await
        .unwrap();
    publish_ok(&api, &creator, spec("node-build", "1.0.0", "private")).await;

    let again = publish(&api, &creator, spec("node-build", "1.0.0", "private")).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "conflict")
    );

    let public = publish(&api, &creator, spec("node-build", "1.1.0", "public")).await;
    assert_eq!(public.status, StatusCode::FORBIDDEN);
    assert!(public.body["detail"]
        .as_str()
        .unwrap()
        .contains("plugins:publish"));

    let mut invalid = spec("Node Build", "1.x", "private");
    invalid["timeoutMinutes"] = json!(100_000);
    let rejected = publish(&api, &creator, invalid).await;
    assert_eq!(
        (rejected.status, rejected.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(
        rejected.error_fields(),
        ["name", "version", "timeoutMinutes"]
    );

    let mut misspelt = spec("node-build", "1.2.0", "private");
    misspelt["timeout"] = json!(10);
    let unknown = publish(&api, &creator, misspelt).await;
    assert_eq!(unknown.code(), "malformed_body");
    assert!(unknown.body["detail"]
        .as_str()
        .unwrap()
        .contains("unknown field `timeout`"));

    let versions = api
        .get("/api/plugins/node-build", Some(&creator))
        .await
        .unwrap();
    let listed: Vec<&str> = versions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["spec"]["version"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["1.0.0"]);
}

/// acme: private node-build 1.0.0 + 2.0.0, public lint 1.0.0; globex: private secret-tool,
/// public node-build 9.0.0 (shadowed for acme), public scan 1.0.0 + 1.1.0.
async fn two_org_catalog(api: &ApiBed) -> (String, String) {
    let acme = api.token(ACME, &["*"]).await.unwrap();
    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    publish_ok(api, &acme, spec("node-build", "1.0.0", "private")).await;
    publish_ok(api, &acme, spec("node-build", "2.0.0", "private")).await;
    publish_ok(api, &acme, spec("lint", "1.0.0", "public")).await;
    publish_ok(api, &globex, spec("secret-tool", "1.0.0", "private")).await;
    publish_ok(api, &globex, spec("node-build", "9.0.0", "public")).await;
    publish_ok(api, &globex, spec("scan", "1.0.0", "public")).await;
    let mut scan = spec("scan", "1.1.0", "public");
    scan["category"] = json!("Security");
    scan["keywords"] = json!(["trivy"]);
    publish_ok(api, &globex, scan).await;
    (acme, globex)
}

fn names_and_versions(reply: &Reply) -> Vec<(String, String, String)> {
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["latestVersion"].as_str().unwrap().to_string(),
                s["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn triple(name: &str, version: &str, source: &str) -> (String, String, String) {
    (name.into(), version.into(), source.into())
}

#[tokio::test]
async fn listing_shows_own_and_public_latest_versions_with_filters() {
    let api = ApiBed::new("list").await.unwrap();
    let (acme, globex) = two_org_catalog(&api).await;
    let listed = api.get("/api/plugins", Some(&acme)).await.unwrap();
    assert_eq!(
        names_and_versions(&listed),
        [
            triple("lint", "1.0.0", "org"),
            triple("node-build", "2.0.0", "org"),
            triple("scan", "1.1.0", "public"),
        ]
    );
    assert!(listed.body.get("nextCursor").is_none());
    let for_globex = api.get("/api/plugins", Some(&globex)).await.unwrap();
    assert_eq!(
        names_and_versions(&for_globex),
        [
            triple("lint", "1.0.0", "public"),
            triple("node-build", "9.0.0", "org"),
            triple("scan", "1.1.0", "org"),
            triple("secret-tool", "1.0.0", "org"),
        ]
    );
    let security = api
        .get("/api/plugins?category=security", Some(&acme))
        .await
        .unwrap();
    assert_eq!(
        names_and_versions(&security),
        [triple("scan", "1.1.0", "public")]
    );
    let trivy = api
        .get("/api/plugins?keyword=TRIVY", Some(&acme))
        .await
        .unwrap();
    assert_eq!(
        names_and_versions(&trivy),
        [triple("scan", "1.1.0", "public")]
    );
}

#[tokio::test]
async fn cursors_page_and_refuse_tampering_or_reuse() {
    let api = ApiBed::new("paging").await.unwrap();
    let (acme, globex) = two_org_catalog(&api).await;
    let first = api.get("/api/plugins?limit=2", Some(&acme)).await.unwrap();
    assert_eq!(names_and_versions(&first).len(), 2);
    let cursor = first.body["nextCursor"].as_str().unwrap().to_string();
    let second = api
        .get(
            &format!("/api/plugins?limit=2&cursor={cursor}"),
            Some(&acme),
        )
        .await
        .unwrap();
    assert_eq!(
        names_and_versions(&second),
        [triple("scan", "1.1.0", "public")]
    );
    assert!(second.body.get("nextCursor").is_none());

    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (case, path, token) in [
        ("tampered", format!("/api/plugins?cursor={tampered}"), &acme),
        (
            "other org",
            format!("/api/plugins?cursor={cursor}"),
            &globex,
        ),
        (
            "other query",
            format!("/api/plugins?category=build&cursor={cursor}"),
            &acme,
        ),
        ("garbage", "/api/plugins?cursor=abc".to_string(), &acme),
    ] {
        let reply = api.get(&path, Some(token)).await.unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "invalid_cursor"),
            "{case}"
        );
    }
    let too_big = api
        .get("/api/plugins?limit=101", Some(&acme))
        .await
        .unwrap();
    assert_eq!(too_big.code(), "invalid_parameter");
}

#[tokio::test]
async fn another_orgs_private_plugins_answer_404_and_stay_unchanged() {
    let api = ApiBed::new("crossorg").await.unwrap();
    let (acme, globex) = two_org_catalog(&api).await;
    for path in ["/api/plugins/secret-tool", "/api/plugins/secret-tool/1.0.0"] {
        let reply = api.get(path, Some(&acme)).await.unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let patch = api
        .send_json(
            Method::PATCH,
            "/api/plugins/secret-tool/1.0.0",
            &acme,
            &json!({"active": false}),
        )
        .await
        .unwrap();
    assert_eq!(patch.status, StatusCode::NOT_FOUND);
    // A public plugin of another org is readable but not changeable.
    let public_patch = api
        .send_json(
            Method::PATCH,
            "/api/plugins/scan/1.0.0",
            &acme,
            &json!({"active": false}),
        )
        .await
        .unwrap();
    assert_eq!(public_patch.status, StatusCode::NOT_FOUND);
    let lookup = api
        .post_json(
            "/api/plugins/lookup",
            &acme,
            &json!({"plugins": [{"name": "secret-tool", "version": "*"}]}),
        )
        .await
        .unwrap();
    assert_eq!(lookup.body["unresolved"][0]["code"], "plugin_not_found");

    let owner_view = api
        .get("/api/plugins/secret-tool/1.0.0", Some(&globex))
        .await
        .unwrap();
    assert_eq!(owner_view.body["spec"]["active"], true);
    let scan = api
        .get("/api/plugins/scan/1.0.0", Some(&globex))
        .await
        .unwrap();
    assert_eq!(scan.body["spec"]["active"], true);
    let public_view = api
        .get("/api/plugins/scan/1.0.0", Some(&acme))
        .await
        .unwrap();
    assert_eq!(public_view.body["source"], "public");
    assert!(public_view.body.get("publishedBy").is_none());
}

#[tokio::test]
async fn versions_list_newest_first_and_patch_changes_lookup() {
    let api = ApiBed::new("patch").await.unwrap();
    let (acme, _) = two_org_catalog(&api).await;
    let versions = api
        .get("/api/plugins/node-build?limit=1", Some(&acme))
        .await
        .unwrap();
    assert_eq!(versions.body["items"][0]["spec"]["version"], "2.0.0");
    let cursor = versions.body["nextCursor"].as_str().unwrap();
    let older = api
        .get(
            &format!("/api/plugins/node-build?limit=1&cursor={cursor}"),
            Some(&acme),
        )
        .await
        .unwrap();
    assert_eq!(older.body["items"][0]["spec"]["version"], "1.0.0");
    assert!(older.body.get("nextCursor").is_none());

    let lookup_body = json!({"plugins": [
        {"name": "node-build", "version": "latest"},
        {"name": "node-build", "version": "^1"},
        {"name": "scan", "version": "~1.0.0"},
        {"name": "node", "version": "*"},
        {"name": "lint", "version": "not a range"},
    ]});
    let before = api
        .post_json("/api/plugins/lookup", &acme, &lookup_body)
        .await
        .unwrap();
    assert_eq!(before.status, StatusCode::OK);
    let resolved: Vec<(u64, &str, &str)> = before.body["resolved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["version"].as_str().unwrap(),
                r["from"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        resolved,
        [
            (0, "2.0.0", "callerOrg"),
            (1, "1.0.0", "callerOrg"),
            (2, "1.0.0", "publicCatalog")
        ]
    );
    let unresolved: Vec<(u64, &str)> = before.body["unresolved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["index"].as_u64().unwrap(), u["code"].as_str().unwrap()))
        .collect();
    assert_eq!(unresolved, [(3, "plugin_not_found"), (4, "invalid_range")]);

    let deactivated = api
        .send_json(
            Method::PATCH,
            "/api/plugins/node-build/2.0.0",
            &acme,
            &json!({"active": false, "deprecated": true, "deprecationMessage": "use 1.x"}),
        )
        .await
        .unwrap();
    assert_eq!(deactivated.status, StatusCode::OK);
    assert_eq!(deactivated.body["spec"]["active"], false);
    assert_eq!(deactivated.body["deprecationMessage"], "use 1.x");
    let after = api
        .post_json("/api/plugins/lookup", &acme, &lookup_body)
        .await
        .unwrap();
    assert_eq!(after.body["resolved"][0]["version"], "1.0.0");

    let empty_patch = api
        .send_json(
            Method::PATCH,
            "/api/plugins/node-build/1.0.0",
            &acme,
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(empty_patch.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_version = api
        .get("/api/plugins/node-build/v1", Some(&acme))
        .await
        .unwrap();
    assert_eq!(bad_version.code(), "invalid_parameter");
    let too_many = json!({"plugins": vec![json!({"name": "lint", "version": "*"}); 101]});
    let refused = api
        .post_json("/api/plugins/lookup", &acme, &too_many)
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn tokens_are_minted_within_the_callers_rights_and_stored() {
    let api = ApiBed::new("tokens").await.unwrap();
    let minter = api
        .token(ACME, &["tokens:create", "tokens:store", "plugins:read"])
        .await
        .unwrap();
    let request = json!({"scope": "events:ingest", "perms": ["plugins:read"], "expiresInDays": 7, "store": true});
    let minted = api
        .post_json("/api/tokens", &minter, &request)
        .await
        .unwrap();
    assert_eq!(minted.status, StatusCode::CREATED, "{:?}", minted.body);
    assert_eq!(
        minted.body["stored"]["secretName"],
        api.platform_secret("acme").as_str()
    );
    assert_eq!(minted.body["stored"]["result"], "created");
    assert_eq!(minted.body["subject"], "machine:events:ingest");
    let token = minted.body["token"].as_str().unwrap();
    let works = api.get("/api/plugins", Some(token)).await.unwrap();
    assert_eq!(works.status, StatusCode::OK);
    let cannot_mint = api.post_json("/api/tokens", token, &request).await.unwrap();
    assert_eq!(cannot_mint.status, StatusCode::FORBIDDEN);

    let secret: Value = serde_json::from_str(
        &api.secrets
            .read(&api.platform_secret("acme"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(secret["username"], "acme");
    assert_eq!(secret["password"], token);
    assert_eq!(secret["expiresAt"], minted.body["expiresAt"]);
    let issued =
        chrono::DateTime::parse_from_rfc3339(minted.body["issuedAt"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(minted.body["expiresAt"].as_str().unwrap()).unwrap();
    // Seven days asked, capped at the one-day minter's own expiry.
    assert!(expires - issued <= chrono::Duration::days(1));
    assert!(expires - issued > chrono::Duration::hours(23));

    let again = api
        .post_json("/api/tokens", &minter, &request)
        .await
        .unwrap();
    assert_eq!(again.body["stored"]["result"], "newVersion");
    let rewritten: Value = serde_json::from_str(
        &api.secrets
            .read(&api.platform_secret("acme"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rewritten["password"], again.body["token"]);
    assert_ne!(rewritten["password"], secret["password"]);

    let escalation = json!({"scope": "x", "perms": ["plugins:publish"]});
    let refused = api
        .post_json("/api/tokens", &minter, &escalation)
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("plugins:publish"));
    let invalid = json!({"scope": "", "perms": ["Plugins"], "expiresInDays": 366});
    let rejected = api
        .post_json("/api/tokens", &minter, &invalid)
        .await
        .unwrap();
    assert_eq!(
        rejected.error_fields(),
        ["scope", "perms[0]", "expiresInDays"]
    );
}
