//! The execution history against the emulator: executions written by the ingest's own store (with
//! their stage and action items, whose keys interleave with theirs), paged newest first through
//! the history indexes under every filter; and the backfill of items stored without the index
//! attributes, by its library and by its binary.

use aws_sdk_dynamodb::types::AttributeValue;
use pb_aws::attributes::Item;
use pb_aws::executions::ExecutionStore;
use pb_aws::history::{ExecutionHistory, HistoryError, HistoryFilter};
use pb_aws::keys::{execution_pk, execution_sk, HISTORY_INDEXES, HISTORY_START};
use pb_domain::event::{ExecutionEvent, Scope, Trigger};
use pb_domain::execution::{level_item, plan_group, Context, ItemState};
use pb_ingest::backfill::{Backfill, BackfillReport, Reindexed};
use pb_tests::emulator::TestBed;
use pb_tests::{describe, output_of, workspace_binary};
use tokio::task::JoinSet;

const ORG: &str = "acme";
const DAY_MS: i64 = 86_400_000;
/// 2026-11-18T00:00:00Z.
const BASE_MS: i64 = 1_795_046_400_000;
const EXECUTIONS: usize = 250;
const BRANCHES: [Option<&str>; 3] = [Some("main"), Some("feature/checkout"), None];
const STATUSES: [&str; 4] = ["SUCCEEDED", "FAILED", "CANCELED", "STARTED"];

fn context(pipeline_id: &str) -> Context<'_> {
    Context {
        org_id: ORG,
        pipeline_id,
        retention_days: 90,
        plugin: None,
        production_stage: false,
    }
}

/// How the seeded execution `i` goes: ids do not follow start order, two executions share each
/// start millisecond, a few events carry no start time (one of those never ends: it has no time at
/// all), and statuses and branches mix.
struct Script {
    execution_id: String,
    start_ms: i64,
    carries_start: bool,
    branch: Option<&'static str>,
    outcome: Option<&'static str>,
}

impl Script {
    fn of(i: usize) -> Self {
        let scrambled = (i * 7919) % 1000;
        Script {
            execution_id: format!("{scrambled:08x}-1b2c-4d3e-8f40-{i:012x}"),
            start_ms: BASE_MS + (i as i64 / 2) * (3 * DAY_MS / (EXECUTIONS as i64 / 2)),
            carries_start: i % 37 != 5,
            branch: BRANCHES[i % 3],
            outcome: match i % 5 {
                0 | 1 => Some("SUCCEEDED"),
                2 => Some("FAILED"),
                3 => Some("CANCELED"),
                _ => None,
            },
        }
    }

    fn event(&self, scope: Scope, state: &str, offset_ms: i64) -> ExecutionEvent {
        ExecutionEvent {
            event_id: format!("{}-{state}-{offset_ms}", self.execution_id),
            pipeline_arn: "arn:aws:codepipeline:us-east-1:123456789012:history".into(),
            pipeline_name: "history".into(),
            execution_id: self.execution_id.clone(),
            attempt: 1,
            state: state.into(),
            time_ms: self.start_ms + offset_ms,
            execution_start_ms: self.carries_start.then_some(self.start_ms),
            trigger: Some(Trigger {
                trigger_type: Some("CodeStarSourceConnection".into()),
                branch: self.branch.map(str::to_string),
                ..Trigger::default()
            }),
            scope,
            result: None,
        }
    }

    fn events(&self) -> Vec<ExecutionEvent> {
        let stage = || Scope::Stage {
            stage: "Build".into(),
        };
        let action = Scope::Action {
            stage: "Build".into(),
            action: "Compile".into(),
            action_type: None,
            region: None,
        };
        let action_state = if self.outcome == Some("FAILED") {
            "FAILED"
        } else {
            "SUCCEEDED"
        };
        let mut events = vec![
            self.event(Scope::Pipeline, "STARTED", 0),
            self.event(stage(), "STARTED", 1_000),
            self.event(action, action_state, 60_000),
        ];
        if let Some(outcome) = self.outcome {
            events.push(self.event(Scope::Pipeline, outcome, 120_000));
        }
        events
    }
}

/// Loads, plans and commits one event, as the ingest does.
async fn apply(store: &ExecutionStore, pipeline_id: &str, event: &ExecutionEvent) {
    let read = store
        .load(pipeline_id, &event.execution_id, level_item(event), false)
        .await
        .unwrap();
    let planned = plan_group(&[(context(pipeline_id), event)], &read);
    store.commit(&planned, &read).await.unwrap();
}

fn store(bed: &TestBed) -> ExecutionStore {
    ExecutionStore::new(bed.clients.dynamodb.clone(), &bed.stack.executions_table)
}

fn history(bed: &TestBed) -> ExecutionHistory {
    ExecutionHistory::new(bed.clients.dynamodb.clone(), &bed.stack.executions_table)
}

/// Seeds the executions (ten at a time) and returns their execution items as stored.
async fn seed(bed: &TestBed, pipeline_id: &str) -> Vec<ItemState> {
    let mut writers = JoinSet::new();
    for chunk in (0..EXECUTIONS).collect::<Vec<_>>().chunks(EXECUTIONS / 10) {
        let (store, pipeline_id, chunk) = (store(bed), pipeline_id.to_string(), chunk.to_vec());
        writers.spawn(async move {
            for i in chunk {
                for event in Script::of(i).events() {
                    apply(&store, &pipeline_id, &event).await;
                }
            }
        });
    }
    writers.join_all().await;
    let mut executions = Vec::new();
    for i in 0..EXECUTIONS {
        let items = store(bed)
            .execution_items(pipeline_id, &Script::of(i).execution_id)
            .await
            .unwrap();
        assert_eq!(items.len(), 3, "execution, stage and action of {i}");
        executions.push(items[0].1.clone());
    }
    executions
}

fn start_of(item: &ItemState) -> Option<i64> {
    item.execution_started_at.or(item.completed_at)
}

fn branch_of(item: &ItemState) -> Option<&str> {
    item.trigger.as_ref().and_then(|t| t.branch.as_deref())
}

/// What a listing must show, computed without the indexes: every execution with a known time
/// that the filter matches, latest start first, ties by execution id, descending.
fn expected(executions: &[ItemState], filter: &HistoryFilter) -> Vec<ItemState> {
    let mut matching: Vec<ItemState> = executions
        .iter()
        .filter(|item| {
            let Some(start) = start_of(item) else {
                return false;
            };
            (filter.status.is_none() || item.status == filter.status)
                && (filter.branch.is_none() || branch_of(item) == filter.branch.as_deref())
                && filter.from_ms.is_none_or(|from| start >= from)
                && filter.to_ms.is_none_or(|to| start <= to)
        })
        .cloned()
        .collect();
    matching.sort_by(|a, b| (start_of(b), &b.execution_id).cmp(&(start_of(a), &a.execution_id)));
    matching
}

/// Pages through a listing to its end, checking every page on the way.
async fn page_through(
    history: &ExecutionHistory,
    pipeline_id: &str,
    filter: &HistoryFilter,
    limit: usize,
) -> Vec<ItemState> {
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = history
            .page(pipeline_id, filter, limit, after.as_deref())
            .await
            .unwrap();
        assert!(
            page.items.iter().all(|item| item.stage.is_none()),
            "a stage or action item was listed under {filter:?}"
        );
        listed.extend(page.items.iter().cloned());
        match page.next {
            Some(next) => {
                assert_eq!(page.items.len(), limit, "a short page before the end");
                after = Some(next);
            }
            None => {
                assert!(page.items.len() <= limit);
                return listed;
            }
        }
    }
}

fn ids(items: &[ItemState]) -> Vec<&str> {
    items.iter().map(|i| i.execution_id.as_str()).collect()
}

/// Every status, branch and window combination (and none), each with a page size of its own.
fn filters(executions: &[ItemState]) -> Vec<(HistoryFilter, usize)> {
    let starts: Vec<i64> = executions.iter().filter_map(start_of).collect();
    let windows = [
        (None, None),
        (Some(BASE_MS + DAY_MS), Some(BASE_MS + 2 * DAY_MS - 1)),
        // Bounds that are exact starts, each shared by two executions: both ends inclusive.
        (Some(starts[60]), Some(starts[180])),
    ];
    let statuses = [None].into_iter().chain(STATUSES.map(Some));
    let mut filters = Vec::new();
    for (n, status) in statuses.enumerate() {
        for branch in [None, BRANCHES[0], BRANCHES[1]] {
            for (from_ms, to_ms) in windows {
                let filter = HistoryFilter {
                    status: status.map(str::to_string),
                    branch: branch.map(str::to_string),
                    from_ms,
                    to_ms,
                };
                filters.push((filter, [7, 25, 100][(n + filters.len()) % 3]));
            }
        }
    }
    filters
}

async fn assert_every_listing(bed: &TestBed, pipeline_id: &str, executions: &[ItemState]) {
    let history = history(bed);
    for (filter, limit) in filters(executions) {
        let want = expected(executions, &filter);
        let listed = page_through(&history, pipeline_id, &filter, limit).await;
        assert_eq!(ids(&listed), ids(&want), "{filter:?} by {limit}");
        assert_eq!(listed, want, "{filter:?}: the items as stored");
    }
}

/// Every item of the table, in key order, as stored.
async fn table_items(bed: &TestBed) -> Vec<Item> {
    let mut items: Vec<Item> = bed
        .clients
        .dynamodb
        .scan()
        .table_name(&bed.stack.executions_table)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    let key = |item: &Item| ["PK", "SK"].map(|k| item[k].as_s().cloned().unwrap_or_default());
    items.sort_by_key(key);
    items
}

/// Removes the history attributes from every execution item, as items stored before the indexes
/// existed are; returns how many carried some.
async fn strip_history(bed: &TestBed, pipeline_id: &str, executions: &[ItemState]) -> usize {
    let names: Vec<&str> = HISTORY_INDEXES
        .iter()
        .map(|i| i.hash)
        .chain([HISTORY_START])
        .collect();
    let before = table_items(bed).await;
    let mut stripped = 0;
    for execution in executions {
        let key = (
            execution_pk(pipeline_id),
            execution_sk(&execution.execution_id),
        );
        let stored = before
            .iter()
            .find(|item| item["SK"].as_s().ok() == Some(&key.1))
            .unwrap();
        stripped += usize::from(names.iter().any(|n| stored.contains_key(*n)));
        let placeholders: Vec<String> = (0..names.len()).map(|i| format!("#h{i}")).collect();
        let mut update = bed
            .clients
            .dynamodb
            .update_item()
            .table_name(&bed.stack.executions_table)
            .key("PK", AttributeValue::S(key.0))
            .key("SK", AttributeValue::S(key.1))
            .update_expression(format!("REMOVE {}", placeholders.join(", ")));
        for (placeholder, name) in placeholders.iter().zip(&names) {
            update = update.expression_attribute_names(placeholder, *name);
        }
        update.send().await.unwrap();
    }
    stripped
}

async fn set_attribute(
    bed: &TestBed,
    pipeline_id: &str,
    execution_id: &str,
    name: &str,
    value: &str,
) {
    bed.clients
        .dynamodb
        .update_item()
        .table_name(&bed.stack.executions_table)
        .key("PK", AttributeValue::S(execution_pk(pipeline_id)))
        .key("SK", AttributeValue::S(execution_sk(execution_id)))
        .update_expression("SET #n = :v")
        .expression_attribute_names("#n", name)
        .expression_attribute_values(":v", AttributeValue::S(value.into()))
        .send()
        .await
        .unwrap();
}

fn listed_count(executions: &[ItemState]) -> usize {
    executions.iter().filter(|e| start_of(e).is_some()).count()
}

#[tokio::test]
async fn pages_list_every_execution_once_newest_first_under_every_filter() {
    let bed = TestBed::new("history").await.unwrap();
    let pipeline_id = format!("pl-{}", bed.prefix);
    let executions = seed(&bed, &pipeline_id).await;
    let unlisted = EXECUTIONS - listed_count(&executions);
    assert_eq!(unlisted, 1, "one execution never had a time");
    assert!(executions
        .iter()
        .any(|e| e.execution_started_at.is_none() && e.completed_at.is_some()));
    assert_every_listing(&bed, &pipeline_id, &executions).await;

    let history = history(&bed);
    let everything = HistoryFilter::default();
    let first = history
        .page(&pipeline_id, &everything, 100, None)
        .await
        .unwrap();
    let next = first.next.clone().unwrap();
    let second = history
        .page(&pipeline_id, &everything, 100, Some(&next))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 100);
    for bad in ["", "garbage", "1795046400000#e-1", &format!("{next}#STAGE")] {
        let refused = history.page(&pipeline_id, &everything, 10, Some(bad)).await;
        assert!(
            matches!(&refused, Err(HistoryError::InvalidPosition(p)) if p == bad),
            "{bad:?}: {refused:?}"
        );
    }
    let outside = HistoryFilter {
        to_ms: Some(BASE_MS),
        ..HistoryFilter::default()
    };
    assert!(matches!(
        history.page(&pipeline_id, &outside, 10, Some(&next)).await,
        Err(HistoryError::InvalidPosition(_))
    ));
    for limit in [0, 101] {
        assert!(matches!(
            history.page(&pipeline_id, &everything, limit, None).await,
            Err(HistoryError::InvalidLimit(l)) if l == limit
        ));
    }
    let other = history
        .page("pl-nobody", &everything, 10, None)
        .await
        .unwrap();
    assert_eq!((other.items.len(), other.next), (0, None));
}

#[tokio::test]
async fn the_backfill_indexes_old_items_once_and_a_second_run_changes_nothing() {
    let bed = TestBed::new("history-backfill").await.unwrap();
    let pipeline_id = format!("pl-{}", bed.prefix);
    let executions = seed(&bed, &pipeline_id).await;
    let indexed = table_items(&bed).await;
    let listed = listed_count(&executions);
    assert_eq!(strip_history(&bed, &pipeline_id, &executions).await, listed);
    let everything = HistoryFilter::default();
    let bare = history(&bed)
        .page(&pipeline_id, &everything, 10, None)
        .await
        .unwrap();
    assert!(
        bare.items.is_empty(),
        "the indexes hold only what carries the attributes"
    );
    // An item whose attributes disagree with it: its status moved on.
    let stale = &executions[0];
    set_attribute(
        &bed,
        &pipeline_id,
        &stale.execution_id,
        "histPipelineStatus",
        &format!("{pipeline_id}#STARTED"),
    )
    .await;
    let stripped = table_items(&bed).await;

    let backfill = Backfill::new(bed.clients.dynamodb.clone(), &bed.stack.executions_table);
    let dry = backfill.run(true).await;
    assert_eq!((dry.updated, dry.current), (listed, EXECUTIONS - listed));
    assert_eq!(
        table_items(&bed).await,
        stripped,
        "a dry run writes nothing"
    );

    let first = backfill.run(false).await;
    assert_eq!(
        first,
        BackfillReport {
            scanned: stripped.len(),
            executions: EXECUTIONS,
            updated: listed,
            current: EXECUTIONS - listed,
            skipped: 0,
            stopped_by: None,
        }
    );
    let backfilled = table_items(&bed).await;
    assert_eq!(
        backfilled, indexed,
        "the backfill writes what the ingest writes"
    );
    assert_every_listing(&bed, &pipeline_id, &executions).await;

    let second = backfill.run(false).await;
    assert_eq!((second.updated, second.current), (0, EXECUTIONS));
    assert_eq!(table_items(&bed).await, backfilled);

    // The command line, once: a dry run, then the run, with the table from the environment.
    strip_history(&bed, &pipeline_id, &executions).await;
    let binary = workspace_binary("backfill-history").unwrap();
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(&binary);
        command
            .args(args)
            .env("EXECUTIONS_TABLE", &bed.stack.executions_table)
            .env_remove("AWS_PROFILE")
            .env_remove("RUST_LOG");
        output_of(command)
    };
    let dry = run(&["--dry-run"]).await;
    assert!(dry.status.success(), "{}", describe(&dry));
    let summary = format!(
        "scanned {}, execution items {EXECUTIONS}, to update {listed}, already current {}, skipped 0",
        stripped.len(),
        EXECUTIONS - listed
    );
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains(&summary),
        "{}",
        describe(&dry)
    );
    let done = run(&[]).await;
    assert!(done.status.success(), "{}", describe(&done));
    assert!(
        String::from_utf8_lossy(&done.stdout).contains(&format!("updated {listed},")),
        "{}",
        describe(&done)
    );
    assert_eq!(table_items(&bed).await, indexed);
}

#[tokio::test]
async fn an_item_the_ingest_changed_since_it_was_read_is_read_again_not_overwritten() {
    let bed = TestBed::new("history-race").await.unwrap();
    let pipeline_id = format!("pl-{}", bed.prefix);
    let script = Script {
        outcome: None,
        ..Script::of(0)
    };
    let store = store(&bed);
    let history = history(&bed);
    let backfill = Backfill::new(bed.clients.dynamodb.clone(), &bed.stack.executions_table);
    let started = script.event(Scope::Pipeline, "STARTED", 0);
    apply(&store, &pipeline_id, &started).await;
    let executions = store
        .execution_items(&pipeline_id, &script.execution_id)
        .await
        .unwrap();
    let execution = executions[0].1.clone();
    strip_history(&bed, &pipeline_id, std::slice::from_ref(&execution)).await;
    let read = |history: &ExecutionHistory| {
        let history = history.clone();
        let (pipeline_id, execution_id) = (pipeline_id.clone(), script.execution_id.clone());
        async move {
            history
                .stored_execution(&pipeline_id, &execution_id)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let seen = read(&history).await;
    assert!(!seen.is_indexed());

    // The ingest stores the outcome (and its attributes) after the backfill read the item.
    apply(
        &store,
        &pipeline_id,
        &script.event(Scope::Pipeline, "SUCCEEDED", 120_000),
    )
    .await;
    assert_eq!(
        backfill.reindex(seen.clone(), false).await.unwrap(),
        Reindexed::Current
    );
    let now = read(&history).await;
    assert_eq!(
        now.history.get("histPipelineStatus").map(String::as_str),
        Some(format!("{pipeline_id}#SUCCEEDED").as_str()),
        "the stale read did not overwrite the ingest's attributes"
    );

    // Changed since it was read, and still lacking them: indexed from the second read.
    strip_history(&bed, &pipeline_id, std::slice::from_ref(&execution)).await;
    assert_eq!(
        backfill.reindex(seen, false).await.unwrap(),
        Reindexed::Updated
    );
    assert!(read(&history).await.is_indexed());
    let listed = history
        .page(
            &pipeline_id,
            &HistoryFilter {
                status: Some("SUCCEEDED".into()),
                ..HistoryFilter::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(ids(&listed.items), [script.execution_id.as_str()]);
}
