//! Synthetic CodePipeline executions for the benchmarks: each execution's events as
//! EventBridge emits them (pipeline start, each stage and its action, the outcome), with the
//! timing a real run has: an action's, its stage's and the next stage's events within a second.

use pb_domain::event::{ACTION_DETAIL_TYPE, PIPELINE_DETAIL_TYPE, STAGE_DETAIL_TYPE};
use serde_json::{json, Value};

use crate::emulator::{ACCOUNT_ID, REGION};
use crate::rng::Rng;

pub const STAGES: [(&str, &str, &str); 4] = [
    ("Source", "Checkout", "Source"),
    ("Build", "Compile", "Build"),
    ("Test", "UnitTests", "Test"),
    ("Deploy", "Release", "Deploy"),
];
pub fn iso(ms: i64, with_millis: bool) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    if with_millis {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

fn event(id: usize, detail_type: &str, pipeline: &str, time_ms: i64, detail: Value) -> Value {
    json!({
        "version": "0", "id": format!("bench-{id:06}"), "detail-type": detail_type,
        "source": "aws.codepipeline", "account": ACCOUNT_ID, "time": iso(time_ms, false),
        "region": REGION, "resources": [format!("arn:aws:codepipeline:{REGION}:{ACCOUNT_ID}:{pipeline}")],
        "detail": detail,
    })
}

/// One execution's events in emission order: pipeline start, each stage and its action, outcome.
pub fn execution_events(
    rng: &mut Rng,
    pipeline: &str,
    execution: usize,
    start_ms: i64,
    next_id: &mut usize,
) -> Vec<Value> {
    let execution_id = format!("exec-{execution:06}");
    let start = iso(start_ms, true);
    let base = |state: &str| {
        json!({"pipeline": pipeline, "execution-id": execution_id, "start-time": start, "state": state,
               "version": 1.0, "pipeline-execution-attempt": 1.0})
    };
    let mut emit = |events: &mut Vec<Value>, detail_type: &str, time: i64, detail: Value| {
        *next_id += 1;
        events.push(event(*next_id, detail_type, pipeline, time, detail));
    };
    let mut events = Vec::new();
    let mut started = base("STARTED");
    started["execution-trigger"] = json!({"provider-type": "CodeStarSourceConnection",
        "full-repository-name": "acme/service", "commit-id": format!("{:040x}", rng.next_u64()), "branch-name": "main"});
    emit(&mut events, PIPELINE_DETAIL_TYPE, start_ms + 1_000, started);
    let failing_stage = (rng.below(10) == 0).then(|| 1 + rng.index(3));
    let mut time = start_ms + 2_000;
    for (index, (stage, action, category)) in STAGES.iter().enumerate() {
        let failed = failing_stage == Some(index);
        let outcome = if failed { "FAILED" } else { "SUCCEEDED" };
        let stage_detail = |state: &str| {
            let mut d = base(state);
            d["stage"] = json!(stage);
            d
        };
        let stage_started = stage_detail("STARTED");
        let stage_done = stage_detail(outcome);
        let action_detail = |state: &str| {
            let mut d = base(state);
            d["stage"] = json!(stage);
            d["action"] = json!(action);
            d["region"] = json!(REGION);
            d["type"] = json!({"owner": "AWS", "provider": "CodeBuild", "category": category, "version": "1"});
            d
        };
        let action_started = action_detail("STARTED");
        let mut action_done = action_detail(outcome);
        action_done["execution-result"] = if failed {
            json!({"external-execution-summary": format!("Build failed in {stage}: exit status 1"), "error-code": "JobFailed"})
        } else {
            json!({"external-execution-summary": "Succeeded", "external-execution-id": format!("{stage}:{execution}")})
        };
        let duration = 20_000 + rng.below(600_000) as i64;
        emit(&mut events, STAGE_DETAIL_TYPE, time, stage_started);
        emit(&mut events, ACTION_DETAIL_TYPE, time + 500, action_started);
        emit(
            &mut events,
            ACTION_DETAIL_TYPE,
            time + duration,
            action_done,
        );
        emit(
            &mut events,
            STAGE_DETAIL_TYPE,
            time + duration + 500,
            stage_done,
        );
        time += duration + 1_000;
        if failed {
            break;
        }
    }
    let outcome = if failing_stage.is_some() {
        "FAILED"
    } else {
        "SUCCEEDED"
    };
    emit(&mut events, PIPELINE_DETAIL_TYPE, time, base(outcome));
    events
}
