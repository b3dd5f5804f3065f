//! The one summary line per batch, as a log line and as CloudWatch EMF metrics.

use pb_aws::emf::{self, FUNCTION_NAME_DIMENSION};

use crate::outcome::Outcome;

pub const METRIC_NAMESPACE: &str = "PipelineBuilder/Ingest";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    pub received: u64,
    pub stored: u64,
    pub duplicate: u64,
    pub untagged: u64,
    pub unregistered: u64,
    /// Events whose pipeline carries a registered id but is not the CodePipeline registered.
    pub mismatched: u64,
    pub quarantined: u64,
    pub retried: u64,
    /// Action events of pipelines without a stored definition: counted, but for no plugin.
    pub unattributed: u64,
    /// Writes refused because another writer changed an item first, then read and planned again.
    pub conflict_retries: u64,
}

impl BatchSummary {
    pub fn count(&mut self, outcome: &Outcome) {
        self.received += 1;
        match outcome {
            Outcome::Stored => self.stored += 1,
            Outcome::Duplicate => self.duplicate += 1,
            Outcome::Untagged => self.untagged += 1,
            Outcome::Unregistered => self.unregistered += 1,
            Outcome::Mismatched => self.mismatched += 1,
            Outcome::Quarantined { .. } => self.quarantined += 1,
            Outcome::Retry { .. } => self.retried += 1,
        }
    }

    pub fn add(&mut self, other: &BatchSummary) {
        self.received += other.received;
        self.stored += other.stored;
        self.duplicate += other.duplicate;
        self.untagged += other.untagged;
        self.unregistered += other.unregistered;
        self.mismatched += other.mismatched;
        self.quarantined += other.quarantined;
        self.retried += other.retried;
        self.unattributed += other.unattributed;
        self.conflict_retries += other.conflict_retries;
    }

    fn metrics(&self) -> [(&'static str, u64); 10] {
        [
            ("Received", self.received),
            ("Stored", self.stored),
            ("Duplicate", self.duplicate),
            ("Untagged", self.untagged),
            ("Unregistered", self.unregistered),
            ("Mismatched", self.mismatched),
            ("Quarantined", self.quarantined),
            ("Retried", self.retried),
            ("Unattributed", self.unattributed),
            ("ConflictRetries", self.conflict_retries),
        ]
    }

    /// A CloudWatch Embedded Metric Format document: CloudWatch turns this log line into metrics.
    pub fn emf(&self, function_name: &str, timestamp_ms: i64) -> serde_json::Value {
        emf::document(
            METRIC_NAMESPACE,
            &[(FUNCTION_NAME_DIMENSION, function_name)],
            &self.metrics(),
            timestamp_ms,
        )
    }

    /// Logs the summary line and prints the EMF document on stdout, where Lambda collects it.
    pub fn report(&self, function_name: &str, timestamp_ms: i64) {
        tracing::info!(
            received = self.received,
            stored = self.stored,
            duplicate = self.duplicate,
            untagged = self.untagged,
            unregistered = self.unregistered,
            mismatched = self.mismatched,
            quarantined = self.quarantined,
            retried = self.retried,
            unattributed = self.unattributed,
            conflict_retries = self.conflict_retries,
            "batch processed"
        );
        emf::emit(self.emf(function_name, timestamp_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_counter() {
        let mut summary = BatchSummary::default();
        summary.count(&Outcome::Stored);
        summary.count(&Outcome::Quarantined {
            reason: "malformed",
        });
        summary.count(&Outcome::Mismatched);
        summary.unattributed = 1;
        let emf = summary.emf("ingest", 1_700_000_000_000);
        assert_eq!(emf["Received"], 3);
        assert_eq!(emf["Mismatched"], 1);
        assert_eq!(emf["Unattributed"], 1);
        assert_eq!(emf["Stored"], 1);
        assert_eq!(emf["Quarantined"], 1);
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            10
        );
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            METRIC_NAMESPACE
        );
    }
}
