//! Audit runs in CatalogTable (`PK=AUDIT`, `SK=RUN#{startedAt}`, newest first), and the run's
//! `Stack Drift Detected` event on the platform bus.
//!
//! A run's findings travel as one JSON text. It stays in the run's item while it fits; a larger
//! one (thousands of findings would pass DynamoDB's 400 KB item limit) is split into parts in the
//! run's own partition, `PK=AUDIT#RUN#{startedAt}`, so the `AUDIT` partition holds only run
//! items and pages of runs are plain queries.

use crate::keys::{audit_run_sk, AUDIT_RUN_PK};
use pb_domain::drift::{
    AuditRun, DriftEvent, DriftSummary, ExpiringToken, Finding, RunError, RunStatus,
    TokenReadError, DRIFT_DETECTED, DRIFT_EVENT_SOURCE,
};
use serde::{Deserialize, Serialize};

use crate::attributes::{n, parse_item, query_items, s, to_item, Item};
use crate::AwsError;

/// Findings kept in the run item up to this size; the item limit is 400 KB.
const MAX_INLINE_FINDINGS_BYTES: usize = 300 * 1024;
const PART_BYTES: usize = 350 * 1024;

fn run_parts_pk(started_at: &str) -> String {
    format!("{AUDIT_RUN_PK}#{}", audit_run_sk(started_at))
}

fn run_part_sk(index: usize) -> String {
    format!("PART#{index:05}")
}

/// The run item: everything but the findings, which are in `findings` or in `findingParts`
/// part items.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRun {
    started_at: String,
    finished_at: String,
    status: RunStatus,
    trigger: String,
    #[serde(default)]
    org: Option<String>,
    regions: Vec<String>,
    errors: Vec<RunError>,
    summary: DriftSummary,
    #[serde(default)]
    findings: Option<String>,
    #[serde(default)]
    finding_parts: usize,
    /// One per org at most: small enough to stay in the run item.
    #[serde(default)]
    expiring_tokens: Vec<ExpiringToken>,
    #[serde(default)]
    token_errors: Vec<TokenReadError>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FindingsOut<'a> {
    findings: &'a [Finding],
    in_progress: &'a [Finding],
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FindingsIn {
    findings: Vec<Finding>,
    in_progress: Vec<Finding>,
}

/// One page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRunPage {
    pub runs: Vec<AuditRun>,
    /// `startedAt` of the last run, to pass as `after` for the next page; `None` on the last.
    pub next_after: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuditRunStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl AuditRunStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        AuditRunStore {
            client,
            table: table.into(),
        }
    }

    /// Stores a run. Parts are written before the run item, so a reader never finds a run whose
    /// findings are not all there.
    pub async fn save(&self, run: &AuditRun) -> Result<(), AwsError> {
        let findings = serde_json::to_string(&FindingsOut {
            findings: &run.findings,
            in_progress: &run.in_progress,
        })
        .map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
        let parts = if findings.len() <= MAX_INLINE_FINDINGS_BYTES {
            Vec::new()
        } else {
            split_at_char_boundaries(&findings, PART_BYTES)
        };
        for (index, part) in parts.iter().enumerate() {
            self.put_part(&run.started_at, index, part).await?;
        }
        let stored = StoredRun {
            started_at: run.started_at.clone(),
            finished_at: run.finished_at.clone(),
            status: run.status,
            trigger: run.trigger.clone(),
            org: run.org.clone(),
            regions: run.regions.clone(),
            errors: run.errors.clone(),
            summary: run.summary.clone(),
            finding_parts: parts.len(),
            findings: parts.is_empty().then_some(findings),
            expiring_tokens: run.expiring_tokens.clone(),
            token_errors: run.token_errors.clone(),
        };
        let mut item =
            to_item(&stored).map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
        item.insert("PK".into(), s(AUDIT_RUN_PK));
        item.insert("SK".into(), s(audit_run_sk(&run.started_at)));
        self.put(item).await
    }

    async fn put_part(&self, started_at: &str, index: usize, text: &str) -> Result<(), AwsError> {
        let item = Item::from([
            ("PK".to_string(), s(run_parts_pk(started_at))),
            ("SK".to_string(), s(run_part_sk(index))),
            ("index".to_string(), n(index)),
            ("text".to_string(), s(text)),
        ]);
        self.put(item).await
    }

    async fn put(&self, item: Item) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| AwsError::classify("PutItem", e))?;
        Ok(())
    }

    /// The run that started at `started_at`.
    pub async fn get(&self, started_at: &str) -> Result<Option<AuditRun>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(AUDIT_RUN_PK))
            .key("SK", s(audit_run_sk(started_at)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        match output.item {
            Some(item) => Ok(Some(self.run_from(&item).await?)),
            None => Ok(None),
        }
    }

    pub async fn latest(&self) -> Result<Option<AuditRun>, AwsError> {
        Ok(self.list(1, None).await?.runs.into_iter().next())
    }

    /// Up to `limit` runs, newest first, started before `after` when given.
    pub async fn list(&self, limit: usize, after: Option<&str>) -> Result<AuditRunPage, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .scan_index_forward(false)
            // One more than asked tells whether another page exists.
            .limit(i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX))
            .expression_attribute_values(":pk", s(AUDIT_RUN_PK));
        // The AUDIT partition holds only run items, so "before `after`" needs no prefix.
        let query = match after {
            Some(after) => query
                .key_condition_expression("PK = :pk AND SK < :after")
                .expression_attribute_values(":after", s(audit_run_sk(after))),
            None => query
                .key_condition_expression("PK = :pk AND begins_with(SK, :run)")
                .expression_attribute_values(":run", s(audit_run_sk(""))),
        };
        let output = query
            .send()
            .await
            .map_err(|e| AwsError::classify("Query", e))?;
        let items = output.items.unwrap_or_default();
        // A page can also end early at DynamoDB's 1 MB response limit.
        let more = items.len() > limit || output.last_evaluated_key.is_some();
        let mut runs = Vec::with_capacity(limit.min(items.len()));
        for item in items.iter().take(limit) {
            runs.push(self.run_from(item).await?);
        }
        let next_after = if more {
            runs.last().map(|r| r.started_at.clone())
        } else {
            None
        };
        Ok(AuditRunPage { runs, next_after })
    }

    async fn run_from(&self, item: &Item) -> Result<AuditRun, AwsError> {
        let stored: StoredRun = parse_item(item, "audit run")?;
        let text = match stored.findings {
            Some(text) => text,
            None => self.parts(&stored.started_at, stored.finding_parts).await?,
        };
        let findings: FindingsIn =
            serde_json::from_str(&text).map_err(|e| corrupt(&stored.started_at, e))?;
        Ok(AuditRun {
            started_at: stored.started_at,
            finished_at: stored.finished_at,
            status: stored.status,
            trigger: stored.trigger,
            org: stored.org,
            regions: stored.regions,
            errors: stored.errors,
            summary: stored.summary,
            findings: findings.findings,
            in_progress: findings.in_progress,
            expiring_tokens: stored.expiring_tokens,
            token_errors: stored.token_errors,
        })
    }

    async fn parts(&self, started_at: &str, expected: usize) -> Result<String, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(run_parts_pk(started_at)));
        let items = query_items(query).await?;
        if items.len() != expected {
            return Err(corrupt(
                started_at,
                format!("{} of {expected} finding parts found", items.len()),
            ));
        }
        items
            .iter()
            .map(|item| {
                item.get("text")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    .ok_or_else(|| corrupt(started_at, "a finding part has no text"))
            })
            .collect()
    }
}

fn corrupt(started_at: &str, error: impl std::fmt::Display) -> AwsError {
    AwsError::Rejected {
        operation: "Query",
        code: "CorruptItem".into(),
        message: format!("stored audit run {started_at}: {error}"),
    }
}

/// Splits `text` into pieces of at most `max_bytes`, never inside a UTF-8 character.
fn split_at_char_boundaries(text: &str, max_bytes: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = max_bytes.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            // A limit below one character's width still makes progress.
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (part, tail) = rest.split_at(cut);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// Publishes a run's `Stack Drift Detected` event to the platform bus.
#[derive(Debug, Clone)]
pub struct DriftEvents {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl DriftEvents {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        DriftEvents {
            client,
            bus_name: bus_name.into(),
        }
    }

    pub async fn publish(&self, event: &DriftEvent) -> Result<(), AwsError> {
        crate::publisher::put_event(
            &self.client,
            &self.bus_name,
            DRIFT_EVENT_SOURCE,
            DRIFT_DETECTED,
            event.detail.clone(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_without_cutting_a_character_and_joins_back() {
        let text = "ab€cd€€e";
        let parts = split_at_char_boundaries(text, 4);
        assert_eq!(parts, ["ab", "€c", "d€", "€e"]);
        assert_eq!(parts.concat(), text);
        assert!(split_at_char_boundaries("", 4).is_empty());
    }

    #[test]
    fn parts_live_outside_the_audit_partition() {
        assert_eq!(
            run_parts_pk("2026-11-20T02:00:00.000Z"),
            "AUDIT#RUN#2026-11-20T02:00:00.000Z"
        );
        assert_eq!(run_part_sk(3), "PART#00003");
    }
}
