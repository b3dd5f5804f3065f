//! From a platform bus event to the notices it means for each org.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Notice, Outcome};
use crate::drift::{DRIFT_DETECTED, DRIFT_EVENT_SOURCE};

pub const INGEST_SOURCE: &str = "pipeline-builder.ingest";
pub const EXECUTION_COMPLETED: &str = "Execution Completed";
pub const APPROVAL_WAITING: &str = "Approval Waiting";
pub const DEPLOYMENT_SOURCE: &str = "pipeline-builder.deployments";
pub const DEPLOYMENT_COMPLETED: &str = "Deployment Completed";
/// A drift notice carries at most this many of its org's findings: the audit's run holds them
/// all, and a notice must fit an SNS message and a chat post.
pub const MAX_NOTICE_FINDINGS: usize = 50;
/// A summary is one line a person reads first.
pub const MAX_SUMMARY_CHARS: usize = 300;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionCompleted {
    org_id: String,
    pipeline_id: String,
    execution_id: String,
    status: String,
    outcome_key: String,
    #[serde(default)]
    failed_stage: Option<String>,
    #[serde(default)]
    failed_action: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalWaiting {
    org_id: String,
    pipeline_id: String,
    execution_id: String,
    stage: String,
    action: String,
    approval_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentCompleted {
    org: String,
    pipeline_id: String,
    deployment_id: String,
    status: String,
    stack_name: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DriftDetected {
    started_at: String,
    #[serde(default)]
    finished_at: Option<String>,
    #[serde(default)]
    trigger: Option<String>,
    #[serde(default)]
    findings: Vec<Value>,
}

/// The notices one platform event means; none for an event nobody subscribes to (a stopped
/// run, a successful deployment) or a detail that is not the event's shape. `time` is the
/// event's own time (RFC 3339).
pub fn notices_of(source: &str, detail_type: &str, time: &str, detail: &Value) -> Vec<Notice> {
    match (source, detail_type) {
        (INGEST_SOURCE, EXECUTION_COMPLETED) => parse(detail)
            .and_then(|e| execution_notice(e, time, detail))
            .into_iter()
            .collect(),
        (INGEST_SOURCE, APPROVAL_WAITING) => parse(detail)
            .map(|e| approval_notice(e, time, detail))
            .into_iter()
            .collect(),
        (DEPLOYMENT_SOURCE, DEPLOYMENT_COMPLETED) => parse(detail)
            .and_then(|e| deployment_notice(e, time, detail))
            .into_iter()
            .collect(),
        (DRIFT_EVENT_SOURCE, DRIFT_DETECTED) => parse(detail)
            .map(|e| drift_notices(e, time))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(detail: &Value) -> Option<T> {
    T::deserialize(detail).ok()
}

fn execution_notice(event: ExecutionCompleted, time: &str, detail: &Value) -> Option<Notice> {
    let (outcome, what) = match event.status.as_str() {
        "FAILED" => (Outcome::ExecutionFailed, "failed"),
        "SUCCEEDED" => (Outcome::ExecutionSucceeded, "succeeded"),
        _ => return None,
    };
    let place = match (&event.failed_stage, &event.failed_action) {
        (Some(stage), Some(action)) => format!(" at {stage}/{action}"),
        (Some(stage), None) => format!(" at {stage}"),
        _ => String::new(),
    };
    Some(Notice {
        // The outcome key changes only with the outcome, so a republished completion that
        // learned more (a late failing action) is the same notice.
        event_id: format!("{}/{}", event.execution_id, event.outcome_key),
        summary: summary(format!(
            "Pipeline {} execution {} {what}{place}",
            event.pipeline_id, event.execution_id
        )),
        org: event.org_id,
        outcome,
        pipeline_id: Some(event.pipeline_id),
        occurred_at: time.to_string(),
        detail: detail.clone(),
    })
}

fn approval_notice(event: ApprovalWaiting, time: &str, detail: &Value) -> Notice {
    Notice {
        summary: summary(format!(
            "Pipeline {} waits for approval of {}/{} (execution {})",
            event.pipeline_id, event.stage, event.action, event.execution_id
        )),
        event_id: event.approval_id,
        org: event.org_id,
        outcome: Outcome::ApprovalWaiting,
        pipeline_id: Some(event.pipeline_id),
        occurred_at: time.to_string(),
        detail: detail.clone(),
    }
}

fn deployment_notice(event: DeploymentCompleted, time: &str, detail: &Value) -> Option<Notice> {
    if event.status != "FAILED" {
        return None;
    }
    let reason = event
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    Some(Notice {
        summary: summary(format!(
            "Deployment {} of pipeline {} failed (stack {}){reason}",
            event.deployment_id, event.pipeline_id, event.stack_name
        )),
        event_id: event.deployment_id,
        org: event.org,
        outcome: Outcome::DeploymentFailed,
        pipeline_id: Some(event.pipeline_id),
        occurred_at: time.to_string(),
        detail: detail.clone(),
    })
}

/// One notice per org with findings. The run's detail covers every org (its summary counts and
/// errors name them all), so each notice's detail is rebuilt from that org's findings alone.
fn drift_notices(event: DriftDetected, time: &str) -> Vec<Notice> {
    let mut by_org: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for finding in event.findings {
        if let Some(org) = finding.get("org").and_then(Value::as_str) {
            by_org.entry(org.to_string()).or_default().push(finding);
        }
    }
    by_org
        .into_iter()
        .map(|(org, mut findings)| {
            let count = findings.len();
            findings.truncate(MAX_NOTICE_FINDINGS);
            Notice {
                event_id: format!("{}/{org}", event.started_at),
                summary: summary(format!(
                    "Drift audit {} found {count} finding{} for org {org}",
                    event.started_at,
                    if count == 1 { "" } else { "s" }
                )),
                outcome: Outcome::DriftFound,
                pipeline_id: None,
                occurred_at: time.to_string(),
                detail: json!({
                    "startedAt": event.started_at,
                    "finishedAt": event.finished_at,
                    "trigger": event.trigger,
                    "org": org,
                    "findingCount": count,
                    "findings": findings,
                }),
                org,
            }
        })
        .collect()
}

fn summary(text: String) -> String {
    bounded(&text, MAX_SUMMARY_CHARS)
}

/// `text` cut to `max` characters, an ellipsis marking the cut.
pub(super) fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The id a receiver dedupes on: the same notice to the same subscription has the same id,
/// across retries and a republished event.
pub fn delivery_id(event_id: &str, subscription_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(event_id.as_bytes())
        .chain_update([0])
        .chain_update(subscription_id.as_bytes())
        .finalize();
    digest
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>()[..32]
        .to_string()
}
