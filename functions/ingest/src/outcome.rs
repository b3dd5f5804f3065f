//! What became of one record: what the handler answers and the batch summary counts.

/// What became of one record. Every variant but `Retry` acknowledges the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    Duplicate,
    Untagged,
    Unregistered,
    /// The pipeline carries a registered id, but is not the CodePipeline registered for it
    /// (another org tagging its own pipeline with someone else's id): never written.
    Mismatched,
    Quarantined {
        reason: &'static str,
    },
    Retry {
        reason: String,
    },
}
