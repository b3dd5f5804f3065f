//! The `pb` binary, run as a user runs it, against `api serve` on the emulator: login, publish,
//! apply, validate, a stale update, reports, a stored token and the audit; then the bad inputs
//! and the exit status each one ends with.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pb_api::keys::KeySet;
use pb_api::tokens::mint;
use pb_aws::audit_runs::AuditRunStore;
use pb_domain::drift::{AuditRun, DriftReport, Finding, FindingType, RunScope};
use pb_tests::api::{audience, person_grant};
use pb_tests::emulator::TestBed;
use pb_tests::local_api::LocalApi;
use pb_tests::{describe, workspace_binary};
use serde_json::Value;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

/// The API on the emulator, its key set, and a config directory of its own for `pb`.
struct Bed {
    bed: TestBed,
    api: LocalApi,
    keys: String,
    home: PathBuf,
}

impl Bed {
    async fn new(label: &str) -> Bed {
        let bed = TestBed::new(label).await.unwrap();
        let (api, keys) = LocalApi::start_with_fresh_keys(&bed).await.unwrap();
        let home = std::env::temp_dir().join(format!("pb-cli-{}", bed.prefix));
        std::fs::create_dir_all(&home).unwrap();
        Bed {
            bed,
            api,
            keys: keys.to_string(),
            home,
        }
    }

    /// `pb ARGS…` with `stdin`, its configuration under this bed's own directory.
    async fn pb_with_input(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = Command::new(workspace_binary("pb").unwrap());
        command
            .args(args)
            .env("XDG_CONFIG_HOME", &self.home)
            .env_remove("PB_TOKEN")
            .env_remove("PB_PROFILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let input = stdin.to_string();
        tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }

    async fn pb(&self, args: &[&str]) -> Output {
        self.pb_with_input(args, "").await
    }

    /// `pb ARGS… --json`, which must succeed, as JSON.
    async fn pb_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let output = self.pb(&all).await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            describe(&output)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// A token signed with the API's key whose lifetime ended `days_ago` days ago (when > 0).
    fn token(&self, perms: &[&str], days_ago: i64) -> String {
        let keys = KeySet::parse(&self.keys).unwrap();
        let issued = chrono::Utc::now().timestamp() - days_ago * 86_400 - 60;
        let issued = if days_ago > 0 { issued } else { issued + 60 };
        mint(
            &keys,
            &audience(),
            person_grant("dev@acme", "acme", perms),
            issued,
        )
        .unwrap()
        .token
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.home.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

#[tokio::test]
async fn a_developer_publishes_applies_validates_and_reads_reports_with_pb() {
    let bed = Bed::new("cli-walk").await;
    let root = repository();
    let admin = bed.api.mint_token("acme", "*").await.unwrap();

    let login = bed
        .pb_with_input(&["login", "--url", &bed.api.url()], &format!("{admin}\n"))
        .await;
    assert_eq!(code(&login), Some(0), "{}", describe(&login));
    assert!(
        text(&login.stdout).contains("as admin (org acme)"),
        "{}",
        describe(&login)
    );
    let config = bed.home.join("pb").join("config.json");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        !text(&login.stdout).contains(&admin),
        "the token is never echoed"
    );

    let me = bed.pb_json(&["whoami"]).await;
    assert_eq!(
        (me["org"].as_str(), me["subject"].as_str()),
        (Some("acme"), Some("admin"))
    );
    assert_eq!(me["permissions"], serde_json::json!(["*"]));

    let plugins = root.join("samples/plugins");
    let plugins = plugins.to_str().unwrap();
    let published = bed.pb_json(&["plugins", "publish", plugins]).await;
    let outcomes: Vec<&str> = published
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["new"; 8]);
    let again = bed.pb(&["plugins", "publish", plugins]).await;
    assert_eq!(code(&again), Some(0), "{}", describe(&again));
    let table = text(&again.stdout);
    assert!(table.starts_with("PLUGIN"), "{table}");
    assert_eq!(table.matches(" exists ").count(), 8, "{table}");
    let resolved = bed
        .pb(&["plugins", "lookup", "node-build@^2", "rust-build@~9"])
        .await;
    assert_eq!(
        code(&resolved),
        Some(1),
        "one range cannot resolve: {}",
        describe(&resolved)
    );
    assert!(
        text(&resolved.stdout).contains("unresolved"),
        "{}",
        describe(&resolved)
    );

    let rules = root.join("samples/rules");
    let applied = bed
        .pb_json(&["rules", "apply", "-f", rules.to_str().unwrap()])
        .await;
    assert!(applied
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] == "created"));
    let reapplied = bed
        .pb_json(&["rules", "apply", "-f", rules.to_str().unwrap()])
        .await;
    assert!(reapplied
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] == "unchanged"));

    let sample = root.join("samples/pipelines/payments-service.json");
    let sample = sample.to_str().unwrap();
    let created = bed.pb_json(&["pipelines", "apply", "-f", sample]).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["version"], 1);
    let unchanged = bed.pb(&["pipelines", "apply", "-f", sample]).await;
    assert!(
        text(&unchanged.stdout)
            .contains(&format!("payments-service unchanged (id {id}, version 1)")),
        "{}",
        describe(&unchanged)
    );
    let mut definition: Value =
        serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    definition["description"] = "Applied by pb".into();
    let edited = bed.write("payments-edited.json", &definition.to_string());
    let updated = bed
        .pb_json(&["pipelines", "apply", "-f", edited.to_str().unwrap()])
        .await;
    assert_eq!(
        (updated["id"].as_str(), updated["version"].as_u64()),
        (Some(id.as_str()), Some(2))
    );

    definition["description"] = "Written from a stale read".into();
    let stale = bed.write("payments-stale.json", &definition.to_string());
    let refused = bed
        .pb(&[
            "pipelines",
            "apply",
            "-f",
            stale.to_str().unwrap(),
            "--if-match",
            "1",
        ])
        .await;
    assert_eq!(code(&refused), Some(1), "{}", describe(&refused));
    assert!(
        text(&refused.stderr).contains("changed since it was read"),
        "{}",
        describe(&refused)
    );
    let shown = bed.pb_json(&["pipelines", "show", &id]).await;
    assert_eq!(
        shown["spec"]["description"], "Applied by pb",
        "nothing was overwritten"
    );

    definition["tags"] = serde_json::json!({});
    let untagged = bed.write("payments-untagged.json", &definition.to_string());
    let violating = bed
        .pb(&["pipelines", "validate", "-f", untagged.to_str().unwrap()])
        .await;
    assert_eq!(code(&violating), Some(1), "{}", describe(&violating));
    let shown = text(&violating.stdout);
    assert!(
        shown.contains("violation: rule 'Tag the cost center'"),
        "{shown}"
    );
    assert!(shown.ends_with("not compliant\n"), "{shown}");
    let compliant = bed.pb(&["pipelines", "validate", "-f", sample]).await;
    assert_eq!(code(&compliant), Some(0), "{}", describe(&compliant));

    let rule = applied
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Tag the cost center")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let until = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let requested = bed
        .pb_json(&[
            "exemptions",
            "request",
            "--rule",
            &rule,
            "--entity",
            &id,
            "--reason",
            "migrating",
            "--expires-at",
            &until,
        ])
        .await;
    assert_eq!(requested["status"], "pending", "{requested}");
    let listed = bed.pb(&["exemptions", "list"]).await;
    assert!(
        text(&listed.stdout).contains(" pending "),
        "{}",
        describe(&listed)
    );
    let own = bed
        .pb(&["exemptions", "approve", requested["id"].as_str().unwrap()])
        .await;
    assert_eq!(
        code(&own),
        Some(3),
        "no approving one's own request: {}",
        describe(&own)
    );

    let deployed = bed.pb_json(&["pipelines", "deploy", &id, "--wait"]).await;
    assert_eq!(deployed["status"], "SUCCEEDED", "{deployed}");
    assert_eq!(deployed["stackName"], "pb-acme-payments-service");
    let registered = bed.pb_json(&["registry", "show", &id]).await;
    assert_eq!(registered["definitionVersion"], 2, "{registered}");
    let again = bed.pb(&["pipelines", "deploy", &id]).await;
    assert_eq!(code(&again), Some(0), "{}", describe(&again));
    assert!(
        text(&again.stdout).contains("  UNCHANGED  "),
        "{}",
        describe(&again)
    );
    let template = bed.pb(&["pipelines", "template", &id, "--yaml"]).await;
    assert_eq!(code(&template), Some(0), "{}", describe(&template));
    assert!(
        text(&template.stdout).contains("Resources:"),
        "{}",
        describe(&template)
    );

    let report = bed
        .pb(&[
            "reports",
            "success-rate",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--interval",
            "month",
        ])
        .await;
    assert_eq!(code(&report), Some(0), "{}", describe(&report));
    assert!(
        text(&report.stdout).contains("overall: "),
        "{}",
        describe(&report)
    );
    let inventory = bed.pb_json(&["reports", "plugins-summary"]).await;
    assert!(inventory.is_object(), "{inventory}");
    let wrong_option = bed
        .pb(&["reports", "plugins-summary", "--from", "2026-11-01"])
        .await;
    assert_eq!(code(&wrong_option), Some(2), "{}", describe(&wrong_option));

    let minted = bed
        .pb(&[
            "tokens",
            "create",
            "--scope",
            "deploy:ci",
            "--perms",
            "plugins:read",
            "--days",
            "1",
        ])
        .await;
    assert_eq!(code(&minted), Some(0), "{}", describe(&minted));
    assert_eq!(
        text(&minted.stdout).trim().split('.').count(),
        3,
        "the token, alone on stdout"
    );
    let stored = bed.pb(&["tokens", "create", "--store"]).await;
    assert_eq!(code(&stored), Some(0), "{}", describe(&stored));
    let said = text(&stored.stdout);
    assert!(said.contains("pipeline-builder/acme/platform"), "{said}");
    assert!(
        !said.contains("eyJ"),
        "a stored token is not printed: {said}"
    );
    let stored_json = bed.pb_json(&["tokens", "create", "--store"]).await;
    assert!(stored_json.get("token").is_none(), "{stored_json}");
    assert_eq!(stored_json["stored"]["result"], "newVersion");
}

#[tokio::test]
async fn the_audit_exits_by_what_the_latest_run_found() {
    let bed = Bed::new("cli-audit").await;
    let admin = bed.token(&["*"], 0);
    let login = bed
        .pb(&["login", "--url", &bed.api.url(), "--token", &admin])
        .await;
    assert_eq!(code(&login), Some(0), "{}", describe(&login));
    let none = bed.pb(&["audit", "latest"]).await;
    assert_eq!(code(&none), Some(4), "no run yet: {}", describe(&none));

    let finding = Finding {
        kind: FindingType::MissingStack,
        org: Some("acme".into()),
        pipeline_id: Some("pl-pay".into()),
        stack_name: "pb-acme-payments-service".into(),
        region: "us-east-1".into(),
        status: None,
        detail: "the registry names a stack that does not exist".into(),
        remediation: "Redeploy the pipeline".into(),
    };
    let run = AuditRun::new(
        "2026-11-20T02:00:00.000Z".into(),
        "2026-11-20T02:00:01.000Z".into(),
        RunScope {
            trigger: "nightly".into(),
            org: None,
            regions: vec!["us-east-1".into()],
        },
        DriftReport {
            findings: vec![finding],
            ..DriftReport::default()
        },
        vec![],
    );
    AuditRunStore::new(
        bed.bed.clients.dynamodb.clone(),
        &bed.bed.stack.catalog_table,
    )
    .save(&run)
    .await
    .unwrap();
    let drift = bed.pb(&["audit", "latest"]).await;
    assert_eq!(code(&drift), Some(1), "{}", describe(&drift));
    let shown = text(&drift.stdout);
    assert!(shown.contains("status drift"), "{shown}");
    assert!(
        shown.contains("missing-stack  us-east-1  pb-acme-payments-service"),
        "{shown}"
    );
}

/// Answers every connection with `status` and a problem document, as a failing server would.
fn failing_server(status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = format!(
                r#"{{"type":"urn:pipeline-builder:problem:internal","title":"Internal error","status":{status},"detail":"the request could not be completed","code":"internal","requestId":"r-5xx"}}"#
            );
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Oops\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[tokio::test]
async fn bad_input_ends_with_a_reason_and_the_documented_exit_status() {
    let bed = Bed::new("cli-bad").await;
    let url = bed.api.url();

    let expired = bed.token(&["*"], 3);
    let refused = bed.pb(&["login", "--url", &url, "--token", &expired]).await;
    assert_eq!(code(&refused), Some(3), "{}", describe(&refused));
    assert!(
        text(&refused.stderr).contains("expired"),
        "{}",
        describe(&refused)
    );
    assert!(
        !bed.home.join("pb").join("config.json").exists(),
        "nothing stored"
    );

    let closed = format!("http://127.0.0.1:{}", free_port());
    let unreachable = bed
        .pb(&["login", "--url", &closed, "--token", &bed.token(&["*"], 0)])
        .await;
    assert_eq!(code(&unreachable), Some(5), "{}", describe(&unreachable));
    assert!(
        text(&unreachable.stderr).contains("could not reach"),
        "{}",
        describe(&unreachable)
    );
    let not_a_url = bed
        .pb(&["login", "--url", "127.0.0.1:3000", "--token", "t"])
        .await;
    assert_eq!(code(&not_a_url), Some(2), "{}", describe(&not_a_url));

    let broken = failing_server(500);
    let server_error = bed
        .pb(&["login", "--url", &broken, "--token", &bed.token(&["*"], 0)])
        .await;
    assert_eq!(code(&server_error), Some(5), "{}", describe(&server_error));
    assert!(
        text(&server_error.stderr)
            .contains("Internal error (500 internal): the request could not be completed"),
        "{}",
        describe(&server_error)
    );

    let no_profile = bed.pb(&["pipelines", "list"]).await;
    assert_eq!(code(&no_profile), Some(2), "{}", describe(&no_profile));
    assert!(
        text(&no_profile.stderr).contains("pb login --url URL"),
        "{}",
        describe(&no_profile)
    );

    let reader = bed.token(&["plugins:read"], 0);
    let login = bed.pb(&["login", "--url", &url, "--token", &reader]).await;
    assert_eq!(code(&login), Some(0), "{}", describe(&login));
    let forbidden = bed.pb(&["pipelines", "list"]).await;
    assert_eq!(code(&forbidden), Some(3), "{}", describe(&forbidden));
    assert!(
        text(&forbidden.stderr).contains("pipelines:read"),
        "{}",
        describe(&forbidden)
    );

    let admin = bed.token(&["*"], 0);
    bed.pb(&["login", "--url", &url, "--token", &admin]).await;
    let missing = bed.pb(&["pipelines", "show", "pl-nothing"]).await;
    assert_eq!(code(&missing), Some(4), "{}", describe(&missing));

    let unreadable = bed
        .pb(&["pipelines", "apply", "-f", "/no/such/pipeline.yaml"])
        .await;
    assert_eq!(code(&unreadable), Some(2), "{}", describe(&unreadable));
    assert!(text(&unreadable.stderr).contains("cannot read /no/such/pipeline.yaml"));

    let malformed = bed.write("broken.yaml", "name: broken\nstages:\n  - name: [Build\n");
    let parsed = bed
        .pb(&["pipelines", "apply", "-f", malformed.to_str().unwrap()])
        .await;
    assert_eq!(code(&parsed), Some(2), "{}", describe(&parsed));
    let said = text(&parsed.stderr);
    assert!(
        said.contains(&format!("{}:4:", malformed.display())),
        "line and column: {said}"
    );

    let misshapen = bed.write(
        "steps.yaml",
        "name: odd\nstages:\n  - name: Build\n    steps: 7\n",
    );
    let typed = bed
        .pb(&["pipelines", "apply", "-f", misshapen.to_str().unwrap()])
        .await;
    assert_eq!(code(&typed), Some(2), "{}", describe(&typed));
    assert!(
        text(&typed.stderr).contains("stages[0].steps"),
        "{}",
        describe(&typed)
    );

    let sample = repository().join("samples/pipelines/payments-service.json");
    let mut definition: Value =
        serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    definition["name"] = "".into();
    let invalid = bed.write("invalid.json", &definition.to_string());
    let problem = bed
        .pb(&["pipelines", "apply", "-f", invalid.to_str().unwrap()])
        .await;
    assert_eq!(code(&problem), Some(1), "{}", describe(&problem));
    let said = text(&problem.stderr);
    assert!(said.contains("(422 "), "{said}");
    assert!(
        said.lines().any(|l| l.starts_with("  name: ")),
        "field paths: {said}"
    );

    let usage = bed.pb(&["pipelines", "apply"]).await;
    assert_eq!(code(&usage), Some(2), "{}", describe(&usage));
    let version = bed.pb(&["--version"]).await;
    assert_eq!(
        text(&version.stdout),
        format!("pb {}\n", env!("CARGO_PKG_VERSION"))
    );
    let completions = bed.pb(&["completions", "bash"]).await;
    assert!(
        text(&completions.stdout).contains("_pb()"),
        "{}",
        describe(&completions)
    );
}
