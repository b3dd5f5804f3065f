use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::event::parse_event;

const CTX: Context<'static> = Context {
    org_id: "acme",
    pipeline_id: "pl-1",
    retention_days: 90,
    plugin: None,
    production_stage: false,
};

macro_rules! retry_event {
    ($file:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/eventbridge/stage-retry/",
            $file
        ))
    };
}

fn stage_retry() -> Vec<ExecutionEvent> {
    [
        retry_event!("01-pipeline-started.json"),
        retry_event!("02-stage-deploy-started.json"),
        retry_event!("03-action-deploy-started.json"),
        retry_event!("04-action-deploy-failed.json"),
        retry_event!("05-stage-deploy-failed.json"),
        retry_event!("06-pipeline-failed.json"),
        retry_event!("07-pipeline-resumed.json"),
        retry_event!("08-stage-deploy-resumed.json"),
        retry_event!("09-stage-deploy-started.json"),
        retry_event!("10-action-deploy-started.json"),
        retry_event!("11-action-deploy-succeeded.json"),
        retry_event!("12-stage-deploy-succeeded.json"),
        retry_event!("13-pipeline-succeeded.json"),
    ]
    .iter()
    .map(|body| parse_event(body).expect("sample event parses"))
    .collect()
}

/// An in-memory stand-in for the table, applying plans the way the adapter does.
#[derive(Default, Debug, PartialEq)]
struct Store {
    items: BTreeMap<String, ItemState>,
    rollups: BTreeMap<String, BTreeMap<String, i64>>,
    samples: BTreeMap<String, crate::rollup::ErrorSample>,
    action_categories: BTreeMap<String, String>,
    published: Vec<String>,
    /// What attribution finds for every action event.
    plugin: Option<PluginRef>,
}

impl Store {
    fn key(item: &ItemState) -> String {
        match &item.stage {
            None => "execution".to_string(),
            Some(stage) => format!("{stage}/{:?}/{:?}", item.action, item.attempt),
        }
    }

    fn apply(&mut self, event: &ExecutionEvent) -> Plan {
        let level_key = level_item(event).map(|l| match l {
            LevelItem::Stage { stage, attempt } => format!("{stage}/None/{:?}", Some(attempt)),
            LevelItem::Action {
                stage,
                action,
                attempt,
            } => {
                format!("{stage}/{:?}/{:?}", Some(action), Some(attempt))
            }
        });
        let execution = self.items.get("execution").cloned();
        let level = level_key.and_then(|k| self.items.get(&k).cloned());
        let ctx = Context {
            plugin: self.plugin.as_ref(),
            ..CTX
        };
        let plan = plan(ctx, event, execution.as_ref(), level.as_ref(), None);
        for item in plan.execution.iter().chain(&plan.level) {
            let mut stored = item.clone();
            stored.expires_at = None;
            stored.rev = 0;
            self.items.insert(Self::key(&stored), stored);
        }
        for change in &plan.rollups {
            let rollup = self.rollups.entry(change.day.clone()).or_default();
            for (name, value) in &change.counters {
                *rollup.entry(name.clone()).or_default() += value;
            }
            rollup.retain(|_, v| *v != 0);
            self.samples.extend(change.samples.clone());
            self.action_categories
                .extend(change.action_categories.clone());
        }
        if let Some(completion) = &plan.completion {
            self.published.push(completion.status.clone());
            let execution = self
                .items
                .get_mut("execution")
                .expect("stored before publish");
            execution.published = Some(completion.fingerprint());
        }
        plan
    }
}

fn replay(events: &[ExecutionEvent]) -> Store {
    let mut store = Store::default();
    events.iter().for_each(|e| {
        store.apply(e);
    });
    store
}

#[test]
fn a_stage_retry_ends_succeeded_with_the_failed_attempt_in_the_heatmap() {
    let store = replay(&stage_retry());
    let execution = &store.items["execution"];
    assert_eq!(execution.status.as_deref(), Some("SUCCEEDED"));
    assert_eq!(execution.attempt, Some(2));
    assert_eq!(
        execution.trigger.as_ref().and_then(|t| t.tag.as_deref()),
        Some("v2.14.0")
    );
    let start = execution.execution_started_at.unwrap();
    assert_eq!(
        execution.duration_ms,
        Some(execution.completed_at.unwrap() - start)
    );
    let rollup = &store.rollups["2026-11-20"];
    let duration = execution.duration_ms.unwrap();
    let expected: BTreeMap<String, i64> = [
        ("n#SUCCEEDED".to_string(), 1),
        // Started 14:00:00.250.
        ("m#1400".into(), 1),
        ("dn".into(), 1),
        ("ds".into(), duration),
        (format!("d#{}", bucket_of(duration)), 1),
        ("st#Deploy".into(), 2),
        ("sf#Deploy".into(), 1),
        // Stage attempts: 14:06:10 → 14:09:56 and RESUMED 14:31:20 → 14:36:49.
        ("sdn#Deploy".into(), 2),
        ("sds#Deploy".into(), 226_000 + 329_000),
        (format!("sd#{}#Deploy", bucket_of(226_000)), 1),
        (format!("sd#{}#Deploy", bucket_of(329_000)), 1),
        ("at#Deploy/Deploy".into(), 2),
        ("af#Deploy/Deploy".into(), 1),
        // Action attempts: 14:06:11 → 14:09:55 and 14:31:22 → 14:36:48.
        ("adn#Deploy/Deploy".into(), 2),
        ("ads#Deploy/Deploy".into(), 224_000 + 326_000),
        (format!("ad#{}#Deploy/Deploy", bucket_of(224_000)), 1),
        (format!("ad#{}#Deploy/Deploy", bucket_of(326_000)), 1),
        ("ec#deploy".into(), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(rollup, &expected);
    assert_eq!(store.published, vec!["FAILED", "SUCCEEDED"]);
}

#[test]
fn the_failed_attempt_reports_its_failing_stage_and_action() {
    let events = stage_retry();
    let store = replay(&events[..6]);
    let execution = &store.items["execution"];
    let failure = execution.failure.as_ref().unwrap();
    assert_eq!(
        (failure.stage.as_str(), failure.action.as_deref()),
        ("Deploy", Some("Deploy"))
    );
    let mut store = Store::default();
    let completions: Vec<_> = events[..6]
        .iter()
        .filter_map(|e| store.apply(e).completion)
        .collect();
    assert_eq!(completions.len(), 1);
    assert_eq!(completions[0].failed_stage.as_deref(), Some("Deploy"));
    assert_eq!(completions[0].error_category, Some(ErrorCategory::Deploy));
}

#[test]
fn a_failing_action_that_arrives_after_the_outcome_is_published_again() {
    let events = stage_retry();
    let mut store = Store::default();
    let first = store
        .apply(&events[5])
        .completion
        .expect("FAILED is published");
    assert_eq!(first.failed_action, None);
    let late = store
        .apply(&events[3])
        .completion
        .expect("the late failure adds detail");
    assert_eq!(late.outcome_key, first.outcome_key);
    assert_eq!(late.failed_action.as_deref(), Some("Deploy"));
    assert_eq!(late.error_category, Some(ErrorCategory::Deploy));
    assert_eq!(
        store.apply(&events[4]).completion,
        None,
        "the stage adds nothing new"
    );
}

#[test]
fn duplicates_change_nothing() {
    let events = stage_retry();
    let mut store = replay(&events);
    for event in &events {
        let plan = store.apply(event);
        assert!(!plan.writes_anything(), "{} rewrote state", event.state);
        assert_eq!(plan.completion, None);
    }
}

#[test]
fn an_outcome_is_never_overwritten_by_an_earlier_state() {
    let events = stage_retry();
    let mut store = Store::default();
    store.apply(&events[12]);
    let plan = store.apply(&events[6]);
    assert_eq!(
        plan.execution, None,
        "RESUMED must not reopen a later outcome"
    );
    let plan = store.apply(&events[5]);
    assert_eq!(
        plan.execution, None,
        "attempt-1 FAILED must not replace attempt-2 SUCCEEDED"
    );
    assert_eq!(
        store.items["execution"].status.as_deref(),
        Some("SUCCEEDED")
    );
}

#[test]
fn unknown_states_are_kept_verbatim_and_not_counted() {
    let mut event = stage_retry().remove(0);
    event.state = "PAUSED_FOR_REVIEW".into();
    let store = replay(&[event]);
    assert_eq!(
        store.items["execution"].status.as_deref(),
        Some("PAUSED_FOR_REVIEW")
    );
    assert!(store.rollups.is_empty());
}

fn shuffled_with_duplicates() -> impl Strategy<Value = Vec<ExecutionEvent>> {
    let events = stage_retry();
    let n = events.len();
    (Just(events), proptest::collection::vec(0..n, 0..6)).prop_flat_map(|(events, dupes)| {
        let mut all = events.clone();
        all.extend(dupes.into_iter().map(|i| events[i].clone()));
        Just(all).prop_shuffle()
    })
}

proptest! {
    #[test]
    fn any_order_with_duplicates_ends_in_the_in_order_state(events in shuffled_with_duplicates()) {
        let in_order = replay(&stage_retry());
        let shuffled = replay(&events);
        prop_assert_eq!(&shuffled.items, &in_order.items);
        prop_assert_eq!(&shuffled.rollups, &in_order.rollups);
        prop_assert_eq!(shuffled.published.last(), Some(&"SUCCEEDED".to_string()));
    }
}

fn node_deploy() -> PluginRef {
    PluginRef {
        name: "cfn-deploy".into(),
        version: "1.4.0".into(),
    }
}

#[test]
fn an_attributed_action_counts_for_its_plugin_version_per_attempt() {
    let mut store = Store {
        plugin: Some(node_deploy()),
        ..Store::default()
    };
    stage_retry().iter().for_each(|e| {
        store.apply(e);
    });
    let rollup = &store.rollups["2026-11-20"];
    let plugin_counters: BTreeMap<&str, i64> = rollup
        .iter()
        .filter(|(name, _)| name.starts_with('p'))
        .map(|(name, value)| (name.as_str(), *value))
        .collect();
    let bucket = |ms: i64| format!("pd#{}#cfn-deploy@1.4.0", bucket_of(ms));
    let (first, second) = (bucket(224_000), bucket(326_000));
    let expected: BTreeMap<&str, i64> = [
        ("pt#cfn-deploy@1.4.0", 2),
        ("ps#cfn-deploy@1.4.0", 1),
        ("pf#cfn-deploy@1.4.0", 1),
        ("pec#deploy#cfn-deploy@1.4.0", 1),
        ("pdn#cfn-deploy@1.4.0", 2),
        ("pds#cfn-deploy@1.4.0", 224_000 + 326_000),
        (first.as_str(), 1),
        (second.as_str(), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(plugin_counters, expected);
    let action = &store.items["Deploy/Some(\"Deploy\")/Some(1)"];
    assert_eq!(action.plugin, Some(node_deploy()));
    assert_eq!(store.items["execution"].plugin, None);
}

#[test]
fn without_attribution_no_plugin_counter_is_written() {
    let store = replay(&stage_retry());
    assert!(store.rollups["2026-11-20"]
        .keys()
        .all(|name| !name.starts_with('p')));
}

#[test]
fn a_counted_failure_leaves_its_message_and_the_action_category() {
    let events = stage_retry();
    let mut store = Store::default();
    store.apply(&events[3]);
    assert_eq!(
        store.samples.get("deploy"),
        Some(&crate::rollup::ErrorSample {
            at: events[3].time_ms,
            action: "Deploy/Deploy".into(),
            message: "Deployment d-7KQ2X9ABC failed: HealthConstraints: too many unhealthy \
                      instances (2 of 3)"
                .into(),
        })
    );
    assert_eq!(
        store.action_categories,
        [("Deploy/Deploy".to_string(), "Deploy".to_string())]
            .into_iter()
            .collect()
    );
    let duplicate = store.apply(&events[3]);
    assert!(duplicate.rollups.is_empty(), "a duplicate sets no note");
    let success = store.apply(&events[10]);
    assert!(success.rollups.iter().all(|c| c.samples.is_empty()));
}

#[test]
fn the_start_minute_moves_with_the_start_learned_later() {
    let events = stage_retry();
    let mut outcome_first = events[12].clone();
    outcome_first.execution_start_ms = None;
    let mut store = Store::default();
    store.apply(&outcome_first);
    assert_eq!(store.rollups["2026-11-20"]["m#1436"], 1);
    store.apply(&events[0]);
    assert_eq!(store.rollups["2026-11-20"].get("m#1436"), None);
    assert_eq!(store.rollups["2026-11-20"]["m#1400"], 1);
}

fn replay_attributed(events: &[ExecutionEvent]) -> Store {
    let mut store = Store {
        plugin: Some(node_deploy()),
        ..Store::default()
    };
    events.iter().for_each(|e| {
        store.apply(e);
    });
    store
}

proptest! {
    #[test]
    fn attribution_and_start_minutes_do_not_depend_on_delivery_order(
        events in shuffled_with_duplicates()
    ) {
        let in_order = replay_attributed(&stage_retry());
        let shuffled = replay_attributed(&events);
        prop_assert_eq!(&shuffled.items, &in_order.items);
        prop_assert_eq!(&shuffled.rollups, &in_order.rollups);
        prop_assert_eq!(&shuffled.action_categories, &in_order.action_categories);
        prop_assert_eq!(in_order.rollups["2026-11-20"]["m#1400"], 1);
    }
}
