//! The scheduled Lambda: run the audit, store the run, publish its `Stack Drift Detected` event,
//! and fail the invocation when the run could not read the registry. A region that could not be
//! scanned fails only its orgs' part: the run is stored `partial` and alarmed through its
//! metrics, and retrying the whole run would not judge the other orgs any better.

use pb_aws::audit_runs::{AuditRunStore, DriftEvents};
use pb_aws::config::AuditConfig;
use pb_aws::{AwsError, Clients};
use pb_domain::drift::{drift_event, AuditRun, DriftEvent, RunStatus};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::audit::{AuditRequest, Auditor};
use crate::metrics::RunMetrics;

/// The EventBridge Scheduler payload (`events/schedule/nightly.json`). Every field is optional,
/// so any JSON object starts a platform-wide run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ScheduledAudit {
    /// Recorded in the run; `nightly` when absent.
    pub trigger: Option<String>,
    /// Scanned besides the registry's regions and `AUDIT_REGIONS`.
    pub regions: Vec<String>,
}

impl ScheduledAudit {
    fn request(&self) -> AuditRequest {
        AuditRequest {
            trigger: self.trigger.clone().unwrap_or_else(|| "nightly".into()),
            org: None,
            regions: self.regions.clone(),
        }
    }
}

/// What the invocation returns when the run is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditResponse {
    pub started_at: String,
    pub status: RunStatus,
    pub findings: usize,
    pub in_progress: usize,
    pub event_findings_trimmed: usize,
}

#[derive(Debug, Error)]
pub enum AuditError {
    #[error("audit run {started_at} is incomplete (stored as failed): {unread}")]
    Incomplete { started_at: String, unread: String },
    #[error("could not store audit run {started_at}: {source}")]
    Store {
        started_at: String,
        source: AwsError,
    },
    #[error("could not encode the drift event of audit run {started_at}: {source}")]
    Encode {
        started_at: String,
        source: serde_json::Error,
    },
    #[error("could not publish the drift event of audit run {started_at}: {source}")]
    Publish {
        started_at: String,
        source: AwsError,
    },
}

pub struct AuditFunction {
    auditor: Auditor,
    runs: AuditRunStore,
    events: DriftEvents,
}

impl AuditFunction {
    pub fn new(clients: &Clients, config: &AuditConfig, event_bus_name: &str) -> Self {
        AuditFunction {
            auditor: Auditor::new(clients, config),
            runs: AuditRunStore::new(clients.dynamodb.clone(), &config.catalog_table),
            events: DriftEvents::new(clients.eventbridge.clone(), event_bus_name),
        }
    }

    /// Audit, store the run, publish one event. The metrics describe the run whatever
    /// becomes of storing and publishing it.
    pub async fn handle(
        &self,
        request: ScheduledAudit,
    ) -> (Result<AuditResponse, AuditError>, RunMetrics) {
        let run = self.auditor.run(&request.request()).await;
        let event = drift_event(&run);
        let trimmed = event.as_ref().map_or(0, |e| e.findings_trimmed);
        let metrics = RunMetrics::of(&run, trimmed);
        let result = self.record(&run, event).await;
        let metrics = if result.is_ok() {
            metrics
        } else {
            metrics.not_recorded()
        };
        (result, metrics)
    }

    async fn record(
        &self,
        run: &AuditRun,
        event: Result<DriftEvent, serde_json::Error>,
    ) -> Result<AuditResponse, AuditError> {
        let started_at = || run.started_at.clone();
        self.runs
            .save(run)
            .await
            .map_err(|source| AuditError::Store {
                started_at: started_at(),
                source,
            })?;
        let event = event.map_err(|source| AuditError::Encode {
            started_at: started_at(),
            source,
        })?;
        self.events
            .publish(&event)
            .await
            .map_err(|source| AuditError::Publish {
                started_at: started_at(),
                source,
            })?;
        if event.findings_trimmed > 0 {
            tracing::warn!(
                trimmed = event.findings_trimmed,
                "findings left out of the drift event to fit EventBridge's entry limit; the stored run has them all"
            );
        }
        if run.status == RunStatus::Partial {
            tracing::error!(
                unread = unread(run),
                "regions could not be scanned; their orgs' part of the run failed"
            );
        }
        if run.status == RunStatus::Failed {
            return Err(AuditError::Incomplete {
                started_at: started_at(),
                unread: unread(run),
            });
        }
        Ok(AuditResponse {
            started_at: started_at(),
            status: run.status,
            findings: run.findings.len(),
            in_progress: run.in_progress.len(),
            event_findings_trimmed: event.findings_trimmed,
        })
    }
}

/// "registry (network), eu-west-1 (access-denied)".
fn unread(run: &AuditRun) -> String {
    run.errors
        .iter()
        .map(|e| format!("{} ({})", e.region.as_deref().unwrap_or("registry"), e.kind))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_object_is_a_scheduled_audit() {
        let nightly: ScheduledAudit =
            serde_json::from_str(include_str!("../../../events/schedule/nightly.json")).unwrap();
        assert_eq!(nightly.request().trigger, "nightly");
        let empty: ScheduledAudit = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.request().trigger, "nightly");
        assert!(empty.request().regions.is_empty());
        let extra: ScheduledAudit =
            serde_json::from_str(r#"{"trigger": "manual", "regions": ["us-west-2"], "x": 1}"#)
                .unwrap();
        assert_eq!(
            extra.request(),
            AuditRequest {
                trigger: "manual".into(),
                org: None,
                regions: vec!["us-west-2".into()],
            }
        );
    }
}
