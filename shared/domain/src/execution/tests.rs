use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::event::parse_event;

const CTX: Context<'static> = Context {
    org_id: "acme",
    pipeline_id: "pl-1",
    retention_days: 90,
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
    published: Vec<String>,
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
        let plan = plan(CTX, event, execution.as_ref(), level.as_ref());
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
