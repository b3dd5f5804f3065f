//! The execution history through the API, against the emulator: executions stored by the
//! ingest's own store (with stage and action items), listed newest first in pages of exactly
//! `limit`, filtered by status, branch and start window, read one at a time with every stage and
//! action attempt, and never shown to another org.

use axum::http::StatusCode;
use pb_aws::executions::ExecutionStore;
use pb_aws::starters::Starter;
use pb_domain::event::{ActionType, ExecutionEvent, ExecutionResult, Scope, Trigger};
use pb_domain::execution::{level_item, plan_group, Context, PluginRef};
use pb_tests::api::{ApiBed, Reply};
use serde_json::{json, Value};

const ACME: &str = "acme";
const GLOBEX: &str = "globex";
const HOUR_MS: i64 = 3_600_000;
/// 2026-11-18T00:00:00Z.
const BASE_MS: i64 = 1_794_960_000_000;
const RUNS: usize = 30;

/// Run `i`: every 2.4 hours over three days; branches and outcomes mix; run 3 fails in Test.
struct Run {
    id: String,
    start_ms: i64,
    branch: &'static str,
    outcome: &'static str,
}

impl Run {
    fn of(i: usize) -> Run {
        Run {
            id: format!("{:08x}-0000-4000-8000-{i:012x}", (i * 7919) % 1000),
            start_ms: BASE_MS + i as i64 * 12 * HOUR_MS / 5,
            branch: ["main", "release/1.2"][i % 2],
            outcome: ["SUCCEEDED", "SUCCEEDED", "FAILED"][i % 3],
        }
    }

    fn event(&self, scope: Scope, state: &str, offset_ms: i64) -> ExecutionEvent {
        ExecutionEvent {
            event_id: format!("{}-{state}-{offset_ms}", self.id),
            pipeline_arn: "arn:aws:codepipeline:us-east-1:123456789012:pb-acme-history".into(),
            pipeline_name: "pb-acme-history".into(),
            execution_id: self.id.clone(),
            attempt: 1,
            state: state.into(),
            time_ms: self.start_ms + offset_ms,
            execution_start_ms: Some(self.start_ms),
            trigger: Some(Trigger {
                trigger_type: Some("CodeStarSourceConnection".into()),
                branch: Some(self.branch.into()),
                commit_id: Some("0123456789abcdef0123456789abcdef01234567".into()),
                ..Trigger::default()
            }),
            scope,
            result: None,
        }
    }

    fn action(&self, stage: &str, action: &str, category: &str) -> Scope {
        Scope::Action {
            stage: stage.into(),
            action: action.into(),
            action_type: Some(ActionType {
                owner: Some("AWS".into()),
                provider: Some("CodeBuild".into()),
                category: Some(category.into()),
            }),
            region: Some("us-east-1".into()),
        }
    }

    fn events(&self) -> Vec<ExecutionEvent> {
        let stage = |name: &str| Scope::Stage { stage: name.into() };
        let mut events = vec![
            self.event(Scope::Pipeline, "STARTED", 0),
            self.event(stage("Build"), "STARTED", 1_000),
            self.event(self.action("Build", "Compile", "Build"), "STARTED", 2_000),
            self.event(
                self.action("Build", "Compile", "Build"),
                "SUCCEEDED",
                60_000,
            ),
            self.event(stage("Build"), "SUCCEEDED", 61_000),
            self.event(stage("Test"), "STARTED", 62_000),
            self.event(self.action("Test", "UnitTests", "Test"), "STARTED", 63_000),
        ];
        let mut result = self.event(
            self.action("Test", "UnitTests", "Test"),
            if self.outcome == "FAILED" {
                "FAILED"
            } else {
                "SUCCEEDED"
            },
            90_000,
        );
        if self.outcome == "FAILED" {
            result.result = Some(ExecutionResult {
                summary: Some("Build failed for account 123456789012: 3 tests failed".into()),
                external_id: None,
                external_url: None,
                error_code: Some("JobFailed".into()),
            });
        }
        events.push(result);
        events.push(self.event(stage("Test"), self.outcome, 91_000));
        events.push(self.event(Scope::Pipeline, self.outcome, 92_000));
        events
    }
}

/// Stores every run's events as the ingest does, the Test action attributed to its plugin.
async fn seed(api: &ApiBed, pipeline_id: &str) {
    let store = ExecutionStore::new(
        api.bed.clients.dynamodb.clone(),
        &api.bed.stack.executions_table,
    );
    let plugin = PluginRef {
        name: "unit-tests".into(),
        version: "1.4.0".into(),
    };
    for i in 0..RUNS {
        for event in Run::of(i).events() {
            let is_test =
                matches!(&event.scope, Scope::Action { action, .. } if action == "UnitTests");
            let context = Context {
                org_id: ACME,
                pipeline_id,
                retention_days: 90,
                plugin: is_test.then_some(&plugin),
                production_stage: false,
            };
            let read = store
                .load(pipeline_id, &event.execution_id, level_item(&event), false)
                .await
                .unwrap();
            let planned = plan_group(&[(context, &event)], &read);
            store.commit(&planned, &read).await.unwrap();
        }
    }
}

async fn history(label: &str) -> (ApiBed, String, String) {
    let (api, admin) = ApiBed::with_sample_plugins(label, ACME).await.unwrap();
    let path = format!(
        "{}/../samples/pipelines/storefront-web.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut definition: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    definition["name"] = json!(label);
    let created = api
        .post_json("/api/pipelines", &admin, &definition)
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    seed(&api, &id).await;
    (api, admin, id)
}

/// Every page of a listing, following its cursors.
async fn pages(api: &ApiBed, token: &str, path: &str) -> Vec<Reply> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let reply = api.get(&url, Some(token)).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{url}: {:?}", reply.body);
        cursor = reply.body["nextCursor"].as_str().map(str::to_string);
        pages.push(reply);
        if cursor.is_none() {
            return pages;
        }
    }
}

fn ids(pages: &[Reply]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.body["items"].as_array().unwrap().clone())
        .map(|item| item["executionId"].as_str().unwrap().to_string())
        .collect()
}

/// The runs `keep` selects, newest first: what every listing must answer.
fn expected(keep: impl Fn(&Run) -> bool) -> Vec<String> {
    let mut runs: Vec<Run> = (0..RUNS).map(Run::of).filter(|r| keep(r)).collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.start_ms));
    runs.into_iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn executions_are_listed_newest_first_in_full_pages_under_every_filter() {
    let (api, admin, id) = history("exec-history-pages").await;
    let base = format!("/api/pipelines/{id}/executions");
    let all = pages(&api, &admin, &format!("{base}?limit=7")).await;
    assert_eq!(ids(&all), expected(|_| true));
    let sizes: Vec<usize> = all
        .iter()
        .map(|p| p.body["items"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [7, 7, 7, 7, 2]);
    assert_eq!(all[0].body["retentionDays"], 90);

    let failed = pages(&api, &admin, &format!("{base}?status=FAILED&limit=4")).await;
    assert_eq!(ids(&failed), expected(|r| r.outcome == "FAILED"));
    let main = pages(&api, &admin, &format!("{base}?branch=main&limit=5")).await;
    assert_eq!(ids(&main), expected(|r| r.branch == "main"));
    let both = pages(
        &api,
        &admin,
        &format!("{base}?branch=release%2F1.2&status=SUCCEEDED&limit=3"),
    )
    .await;
    assert_eq!(
        ids(&both),
        expected(|r| r.branch == "release/1.2" && r.outcome == "SUCCEEDED")
    );
    // The second day only: a date `to` covers its whole day.
    let day = pages(
        &api,
        &admin,
        &format!("{base}?from=2026-11-19&to=2026-11-19&limit=100"),
    )
    .await;
    assert_eq!(
        ids(&day),
        expected(|r| (BASE_MS + 24 * HOUR_MS..BASE_MS + 48 * HOUR_MS).contains(&r.start_ms))
    );
    let instant = pages(
        &api,
        &admin,
        &format!("{base}?from=2026-11-18T12:00:00Z&to=2026-11-18T21:36:00Z&limit=100"),
    )
    .await;
    assert_eq!(
        ids(&instant),
        expected(|r| (BASE_MS + 12 * HOUR_MS..=BASE_MS + 216 * HOUR_MS / 10).contains(&r.start_ms))
    );
}

#[tokio::test]
async fn bad_filters_and_cursors_are_refused_and_other_orgs_see_nothing() {
    let (api, admin, id) = history("exec-history-refusals").await;
    let base = format!("/api/pipelines/{id}/executions");
    for query in [
        "status=done",
        "from=2026-11-20&to=2026-11-19",
        "from=yesterday",
        "limit=0",
        "owner=me",
    ] {
        let reply = api
            .get(&format!("{base}?{query}"), Some(&admin))
            .await
            .unwrap();
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {:?}",
            reply.body
        );
    }
    let long_branch = format!("{base}?branch={}", "b".repeat(256));
    let reply = api.get(&long_branch, Some(&admin)).await.unwrap();
    assert_eq!(reply.code(), "invalid_parameter");

    let first = api
        .get(&format!("{base}?status=FAILED&limit=2"), Some(&admin))
        .await
        .unwrap();
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let replayed = api
        .get(
            &format!("{base}?status=SUCCEEDED&limit=2&cursor={cursor}"),
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(replayed.code(), "invalid_cursor");

    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let run = Run::of(3).id;
    for path in [base.clone(), format!("{base}/{run}")] {
        let reply = api.get(&path, Some(&globex)).await.unwrap();
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {:?}",
            reply.body
        );
    }
    let missing = api
        .get(
            &format!("{base}/00000000-0000-4000-8000-ffffffffffff"),
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let malformed = api
        .get(&format!("{base}/not-an-execution"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(malformed.code(), "invalid_parameter");
}

#[tokio::test]
async fn one_execution_shows_its_stages_actions_failure_plugin_and_starter() {
    let (api, admin, id) = history("exec-history-detail").await;
    let failed = Run::of(2);
    api.state
        .starters
        .record(
            ACME,
            &id,
            &failed.id,
            &Starter {
                principal: "alice@acme".into(),
                subject: "machine:ci".into(),
                started_at: "2026-11-18T04:48:00Z".into(),
                separation_of_duties: false,
                expires_at: 1_900_000_000,
            },
        )
        .await
        .unwrap();
    let reply = api
        .get(
            &format!("/api/pipelines/{id}/executions/{}", failed.id),
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let body = &reply.body;
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["startedBy"], "alice@acme");
    assert_eq!(body["startedAt"], "2026-11-18T04:48:00.000Z");
    assert_eq!(body["durationMs"], 92_000);
    assert_eq!(body["trigger"]["branch"], "main");
    assert_eq!(body["failure"]["stage"], "Test");
    assert_eq!(body["failure"]["action"], "UnitTests");
    assert_eq!(body["failure"]["error"]["category"], "test");
    let message = body["failure"]["error"]["message"].as_str().unwrap();
    assert!(!message.contains("123456789012"), "{message}");

    let stages: Vec<&str> = body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["Build", "Test"]);
    let test = &body["stages"][1]["attempts"][0];
    assert_eq!(test["status"], "FAILED");
    let action = &test["actions"][0];
    assert_eq!(action["action"], "UnitTests");
    assert_eq!(action["status"], "FAILED");
    assert_eq!(action["durationMs"], 27_000);
    assert_eq!(
        action["plugin"],
        json!({"name": "unit-tests", "version": "1.4.0"})
    );
    assert_eq!(action["provider"], "CodeBuild");
    assert_eq!(action["error"]["code"], "JobFailed");

    // The list shows the same starter; runs CodePipeline started show none.
    let list = api
        .get(
            &format!("/api/pipelines/{id}/executions?limit=100"),
            Some(&admin),
        )
        .await
        .unwrap();
    let items = list.body["items"].as_array().unwrap();
    let started_by: Vec<&Value> = items
        .iter()
        .filter(|i| i.get("startedBy").is_some())
        .collect();
    assert_eq!(started_by.len(), 1);
    assert_eq!(started_by[0]["executionId"], failed.id.as_str());
}
