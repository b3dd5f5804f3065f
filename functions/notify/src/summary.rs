//! The one summary line per batch, as a log line and as CloudWatch EMF metrics.

use pb_aws::emf::{self, FUNCTION_NAME_DIMENSION};

use crate::outcome::DeliveryOutcome;

pub const METRIC_NAMESPACE: &str = "PipelineBuilder/Notify";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    pub received: u64,
    pub delivered: u64,
    /// Deliveries sent back to the queue to be tried again later.
    pub retried: u64,
    pub dead_lettered: u64,
    /// Deliveries whose subscription was deleted before a retry.
    pub dropped: u64,
    /// Deliveries put back on the queue untried: the invocation's time ran out.
    pub deferred: u64,
    /// Records handed back to SQS (a queue write or a lookup failed).
    pub failed: u64,
}

impl BatchSummary {
    pub fn count(&mut self, outcome: &DeliveryOutcome) {
        match outcome {
            DeliveryOutcome::Delivered => self.delivered += 1,
            DeliveryOutcome::Retrying { .. } => self.retried += 1,
            DeliveryOutcome::DeadLettered { .. } => self.dead_lettered += 1,
            DeliveryOutcome::Dropped => self.dropped += 1,
            DeliveryOutcome::Deferred => self.deferred += 1,
        }
    }

    fn metrics(&self) -> [(&'static str, u64); 7] {
        [
            ("Received", self.received),
            ("Delivered", self.delivered),
            ("Retried", self.retried),
            ("DeadLettered", self.dead_lettered),
            ("Dropped", self.dropped),
            ("Deferred", self.deferred),
            ("Failed", self.failed),
        ]
    }

    pub fn emf(&self, function_name: &str, timestamp_ms: i64) -> serde_json::Value {
        emf::document(
            METRIC_NAMESPACE,
            &[(FUNCTION_NAME_DIMENSION, function_name)],
            &self.metrics(),
            timestamp_ms,
        )
    }

    pub fn report(&self, function_name: &str, timestamp_ms: i64) {
        tracing::info!(
            received = self.received,
            delivered = self.delivered,
            retried = self.retried,
            dead_lettered = self.dead_lettered,
            dropped = self.dropped,
            deferred = self.deferred,
            failed = self.failed,
            "batch processed"
        );
        emf::emit(self.emf(function_name, timestamp_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_counter_and_metric() {
        let mut summary = BatchSummary::default();
        summary.count(&DeliveryOutcome::Delivered);
        summary.count(&DeliveryOutcome::Retrying {
            attempt: 2,
            delay_seconds: 30,
        });
        summary.count(&DeliveryOutcome::DeadLettered { reason: "rejected" });
        summary.count(&DeliveryOutcome::Dropped);
        summary.count(&DeliveryOutcome::Deferred);
        let emf = summary.emf("notify", 1_700_000_000_000);
        for metric in [
            "Delivered",
            "Retried",
            "DeadLettered",
            "Dropped",
            "Deferred",
        ] {
            assert_eq!(emf[metric], 1, "{metric}");
        }
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            METRIC_NAMESPACE
        );
    }
}
