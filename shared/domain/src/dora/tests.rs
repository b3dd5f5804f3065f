use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::event::Trigger;
use crate::execution::{level_item, plan, plan_group, Context, GroupItems};
use crate::rollup::Facet;

const DAY_MS: i64 = 86_400_000;
/// 2026-11-01T00:00:00Z.
const EPOCH: i64 = 1_793_491_200_000;

/// One generated execution: when it started, the outcomes of its production stage's attempts in
/// order, how long each took, and the commit's author time if the trigger carries it.
#[derive(Debug, Clone)]
struct Run {
    start_ms: i64,
    attempts: Vec<(&'static str, i64)>,
    authored_before_ms: Option<i64>,
}

fn run() -> impl Strategy<Value = Run> {
    let outcome = prop_oneof![
        4 => Just("SUCCEEDED"),
        3 => Just("FAILED"),
        1 => Just("STOPPED"),
    ];
    (
        0..(5 * DAY_MS),
        prop::collection::vec((outcome, 1_000..(6 * 3_600_000i64)), 1..=3),
        prop::option::of(0..(3 * DAY_MS)),
    )
        .prop_map(|(offset, attempts, authored_before_ms)| Run {
            start_ms: EPOCH + offset,
            attempts,
            authored_before_ms,
        })
}

fn event(
    run: &Run,
    id: usize,
    state: &str,
    attempt: u32,
    time_ms: i64,
    scope: Scope,
) -> ExecutionEvent {
    ExecutionEvent {
        event_id: format!("{id}-{state}-{attempt}-{time_ms}"),
        pipeline_arn: "arn:aws:codepipeline:us-east-1:123456789012:pay".into(),
        pipeline_name: "pay".into(),
        execution_id: format!("exec-{id:03}"),
        attempt,
        state: state.into(),
        time_ms,
        execution_start_ms: matches!(scope, Scope::Pipeline).then_some(run.start_ms),
        trigger: matches!(scope, Scope::Pipeline).then(|| Trigger {
            commit_id: Some(format!("c{id}")),
            author_time_ms: run.authored_before_ms.map(|b| run.start_ms - b),
            ..Trigger::default()
        }),
        scope,
        result: None,
    }
}

fn stage(name: &str) -> Scope {
    Scope::Stage { stage: name.into() }
}

/// Every event of a run: the pipeline's start, a test stage that is not production, and each
/// attempt of the production stage (a retry is the next execution attempt).
fn events_of(run: &Run, id: usize) -> Vec<ExecutionEvent> {
    let mut events = vec![
        event(run, id, "STARTED", 1, run.start_ms, Scope::Pipeline),
        event(run, id, "STARTED", 1, run.start_ms + 10, stage("Test")),
        event(run, id, "SUCCEEDED", 1, run.start_ms + 500, stage("Test")),
    ];
    let mut clock = run.start_ms + 1_000;
    for (i, (outcome, took)) in run.attempts.iter().enumerate() {
        let attempt = i as u32 + 1;
        events.push(event(run, id, "STARTED", attempt, clock, stage("Prod")));
        events.push(event(
            run,
            id,
            outcome,
            attempt,
            clock + took,
            stage("Prod"),
        ));
        clock += took + 60_000;
    }
    events
}

/// The table as the ingest sees it: items, rollup counters per day, and the timeline.
#[derive(Default)]
struct Store {
    items: BTreeMap<String, ItemState>,
    rollups: BTreeMap<String, Counters>,
    timeline: Option<DeploymentTimeline>,
}

fn context(event: &ExecutionEvent) -> Context<'static> {
    Context {
        org_id: "acme",
        pipeline_id: "pl-1",
        retention_days: 90,
        plugin: None,
        production_stage: matches!(&event.scope, Scope::Stage { stage } if stage == "Prod"),
    }
}

impl Store {
    fn apply(&mut self, event: &ExecutionEvent) {
        let ctx = context(event);
        let production_stage = ctx.production_stage;
        let execution_key = event.execution_id.clone();
        let level_key = level_item(event).map(|l| format!("{}/{l:?}", event.execution_id));
        let planned = plan(
            ctx,
            event,
            self.items.get(&execution_key),
            level_key.as_ref().and_then(|k| self.items.get(k)),
            self.timeline.as_ref().filter(|_| production_stage),
        );
        if let Some(execution) = planned.execution {
            self.items.insert(execution_key, execution);
        }
        if let (Some(level), Some(key)) = (planned.level, level_key) {
            self.items.insert(key, level);
        }
        if let Some(timeline) = planned.timeline {
            self.timeline = Some(timeline);
        }
        self.add(planned.rollups);
    }

    /// Plans one execution's events together, as the ingest does within a batch.
    fn apply_group(&mut self, events: &[&ExecutionEvent]) {
        let execution_id = events[0].execution_id.clone();
        let level_key = |l: &crate::execution::LevelItem| format!("{execution_id}/{l:?}");
        let steps: Vec<_> = events.iter().map(|e| (context(e), *e)).collect();
        let read = GroupItems {
            execution: self.items.get(&execution_id).cloned(),
            levels: events
                .iter()
                .filter_map(|e| level_item(e))
                .filter_map(|l| {
                    self.items
                        .get(&level_key(&l))
                        .cloned()
                        .map(|item| (l, item))
                })
                .collect(),
            timeline: self
                .timeline
                .clone()
                .filter(|_| steps.iter().any(|(ctx, _)| ctx.production_stage)),
        };
        let planned = plan_group(&steps, &read);
        if let Some(execution) = planned.execution {
            self.items.insert(execution_id.clone(), execution);
        }
        for (level, item) in planned.levels {
            self.items.insert(level_key(&level), item);
        }
        if let Some(timeline) = planned.timeline {
            self.timeline = Some(timeline);
        }
        self.add(planned.rollups);
    }

    fn add(&mut self, rollups: Vec<crate::rollup::RollupChange>) {
        for change in rollups {
            let day = self.rollups.entry(change.day).or_default();
            for (name, value) in change.counters {
                *day.entry(name).or_default() += value;
            }
            day.retain(|_, v| *v != 0);
        }
    }

    fn deployment_counters(&self) -> BTreeMap<String, Counters> {
        self.rollups
            .iter()
            .map(|(day, counters)| {
                let dora: Counters = counters
                    .iter()
                    .filter(|(name, _)| {
                        Counter::parse(name).is_some_and(|c| c.facet() == Facet::Deployments)
                    })
                    .map(|(name, value)| (name.clone(), *value))
                    .collect();
                (day.clone(), dora)
            })
            .filter(|(_, counters)| !counters.is_empty())
            .collect()
    }
}

/// The four keys computed directly from the runs, as the definitions say, without the timeline.
fn exact(runs: &[Run]) -> BTreeMap<String, Counters> {
    let mut days: BTreeMap<String, Counters> = BTreeMap::new();
    let mut add = |day: String, counter: Counter<'_>, value: i64| {
        *days
            .entry(day)
            .or_default()
            .entry(counter.name())
            .or_default() += value;
    };
    let mut deployments = Vec::new();
    for (id, run) in runs.iter().enumerate() {
        let mut end = run.start_ms + 1_000;
        let mut last = None;
        for (outcome, took) in &run.attempts {
            end += took;
            last = Some((*outcome, end));
            end += 60_000;
        }
        let Some((outcome @ ("SUCCEEDED" | "FAILED"), end_ms)) = last else {
            continue;
        };
        let day = utc_day(end_ms);
        add(day.clone(), Counter::Deployments { outcome }, 1);
        if outcome == "SUCCEEDED" {
            let (basis, from) = match run.authored_before_ms {
                Some(before) => ("commit", run.start_ms - before),
                None => ("start", run.start_ms),
            };
            let lead = end_ms - from;
            add(day.clone(), Counter::LeadTimeCount, 1);
            add(day.clone(), Counter::LeadTimeSum, lead);
            add(
                day.clone(),
                Counter::LeadTimeBucket {
                    bucket: bucket_of(lead),
                },
                1,
            );
            add(day, Counter::LeadTimeBasis { basis }, 1);
        }
        deployments.push((end_ms, format!("exec-{id:03}"), outcome == "SUCCEEDED"));
    }
    deployments.sort();
    let mut first_failure = None;
    for (end_ms, _, succeeded) in deployments {
        match (succeeded, first_failure) {
            (false, None) => first_failure = Some(end_ms),
            (true, Some(failed_at)) => {
                let restore = end_ms - failed_at;
                let day = utc_day(end_ms);
                add(day.clone(), Counter::RestoreCount, 1);
                add(day.clone(), Counter::RestoreSum, restore);
                add(
                    day,
                    Counter::RestoreBucket {
                        bucket: bucket_of(restore),
                    },
                    1,
                );
                first_failure = None;
            }
            _ => {}
        }
    }
    days
}

fn delivery() -> impl Strategy<Value = (Vec<Run>, Vec<ExecutionEvent>)> {
    prop::collection::vec(run(), 1..14)
        .prop_flat_map(|runs| {
            let events: Vec<ExecutionEvent> = runs
                .iter()
                .enumerate()
                .flat_map(|(id, run)| events_of(run, id))
                .collect();
            let n = events.len();
            (
                Just(runs),
                Just(events).prop_shuffle(),
                prop::collection::vec(0..n, 0..n),
            )
        })
        .prop_map(|(runs, mut events, repeats)| {
            let copies: Vec<ExecutionEvent> = repeats.iter().map(|i| events[*i].clone()).collect();
            events.extend(copies);
            (runs, events)
        })
}

/// Splits a delivery into batches and each batch by execution, in the order executions first
/// appear, as the ingest's handler does.
fn batched<'a>(events: &'a [ExecutionEvent], sizes: &[usize]) -> Vec<Vec<&'a ExecutionEvent>> {
    let mut groups = Vec::new();
    let mut rest = events;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, after) = rest.split_at((*size).min(rest.len()));
        rest = after;
        let mut by_execution: Vec<Vec<&ExecutionEvent>> = Vec::new();
        for event in batch {
            match by_execution
                .iter_mut()
                .find(|g| g[0].execution_id == event.execution_id)
            {
                Some(group) => group.push(event),
                None => by_execution.push(vec![event]),
            }
        }
        groups.extend(by_execution);
    }
    groups
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn any_delivery_order_counts_exactly_what_the_definitions_say((runs, events) in delivery()) {
        let mut store = Store::default();
        for event in &events {
            store.apply(event);
        }
        prop_assert_eq!(store.deployment_counters(), exact(&runs));
    }

    #[test]
    fn batches_planned_together_store_what_one_by_one_stores(
        (_, events) in delivery(),
        sizes in prop::collection::vec(1usize..=12, 1..5),
    ) {
        let mut one_by_one = Store::default();
        for event in &events {
            one_by_one.apply(event);
        }
        let mut together = Store::default();
        for group in batched(&events, &sizes) {
            together.apply_group(&group);
        }
        prop_assert_eq!(&together.items, &one_by_one.items);
        prop_assert_eq!(&together.rollups, &one_by_one.rollups);
        prop_assert_eq!(&together.timeline, &one_by_one.timeline);
    }
}

fn deployed(id: usize, end_ms: i64, succeeded: bool) -> (String, Option<Deployment>) {
    (
        format!("exec-{id:04}"),
        Some(Deployment { succeeded, end_ms }),
    )
}

fn timeline_of(deployments: &[(String, Option<Deployment>)]) -> DeploymentTimeline {
    deployments
        .iter()
        .fold(DeploymentTimeline::default(), |t, (id, d)| t.with(id, *d))
}

#[test]
fn a_run_of_failures_is_one_incident_from_the_first_failure() {
    let timeline = timeline_of(&[
        deployed(1, EPOCH, true),
        deployed(2, EPOCH + 1_000, false),
        deployed(3, EPOCH + 5_000, false),
        deployed(4, EPOCH + 65_000, true),
        deployed(5, EPOCH + 70_000, false),
    ]);
    assert_eq!(
        timeline.restores(),
        vec![Restore {
            day: "2026-11-01".into(),
            duration_ms: 64_000
        }]
    );
}

#[test]
fn trimming_keeps_the_incidents_that_end_in_what_is_kept_and_freezes_the_rest() {
    let mut deployments: Vec<_> = (0..MAX_TIMELINE_DEPLOYMENTS + 10)
        .map(|i| deployed(i, EPOCH + i as i64 * 1_000, i % 4 == 0))
        .collect();
    // Failures 5‥11 straddle the cut at 10: the kept timeline must start at success 4.
    for (_, deployment) in &mut deployments[5..12] {
        *deployment = deployment.map(|d| Deployment {
            succeeded: false,
            ..d
        });
    }
    let full = timeline_of(&deployments);
    let trimmed = full.clone().trimmed();
    assert_eq!(trimmed.entries.len(), MAX_TIMELINE_DEPLOYMENTS + 6);
    assert_eq!(trimmed.entries[0], full.entries[4]);
    assert_eq!(trimmed.floor.as_deref(), Some("001793491204000#exec-0004"));
    let kept_restores = trimmed.restores();
    assert_eq!(kept_restores, full.restores()[1..].to_vec());
    assert_eq!(kept_restores[0].duration_ms, 12_000 - 5_000);
    let (old_id, _) = &deployments[2];
    let late = trimmed.with(
        old_id,
        Some(Deployment {
            succeeded: true,
            end_ms: EPOCH + 2_000,
        }),
    );
    assert_eq!(late, trimmed, "a change behind the floor is not applied");
    let new = trimmed.with(
        "exec-late",
        Some(Deployment {
            succeeded: false,
            end_ms: EPOCH + 99_999_999,
        }),
    );
    assert_eq!(new.entries.len(), trimmed.entries.len() + 1);
}

#[test]
fn production_environments_are_bounded_and_compared_without_case() {
    let envs =
        ProductionEnvironments::new(vec!["Prod".into(), "live".into(), "prod".into()]).unwrap();
    assert_eq!(envs.names(), ["live", "prod"]);
    assert!(envs.contains("PROD"));
    assert_eq!(
        envs.production_stages([
            ("Deploy", Some("LIVE")),
            ("Test", Some("staging")),
            ("Build", None)
        ]),
        vec!["Deploy".to_string()]
    );
    assert_eq!(
        ProductionEnvironments::new(vec![]),
        Err(EnvironmentsError::Count(0))
    );
    assert_eq!(
        ProductionEnvironments::new(vec!["x".into(); 21]),
        Err(EnvironmentsError::Count(21))
    );
    assert_eq!(
        ProductionEnvironments::new(vec!["prod".into(), "pr od".into()]),
        Err(EnvironmentsError::Name { index: 1 })
    );
    assert_eq!(
        ProductionEnvironments::new(vec!["p".repeat(65)]),
        Err(EnvironmentsError::Name { index: 0 })
    );
    assert!(ProductionEnvironments::default().contains("Production"));
}

#[test]
fn a_commit_authored_after_the_deployment_falls_back_to_the_start() {
    let item = ItemState {
        execution_started_at: Some(EPOCH),
        trigger: Some(Trigger {
            author_time_ms: Some(EPOCH + 10_000),
            ..Trigger::default()
        }),
        ..ItemState::default()
    };
    let deployment = Deployment {
        succeeded: true,
        end_ms: EPOCH + 5_000,
    };
    assert_eq!(
        lead_time(&item, deployment),
        Some((LeadBasis::Start, 5_000))
    );
    assert_eq!(
        lead_time(
            &item,
            Deployment {
                succeeded: false,
                ..deployment
            }
        ),
        None
    );
}
