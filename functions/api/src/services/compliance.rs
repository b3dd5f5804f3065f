//! The org's compliance rules applied to a definition about to be written.

use pb_domain::compliance::{evaluate, CompileBudget, Evaluation, Rule, Target, Violation};
use serde_json::Value;

use crate::problem::ApiError;
use crate::state::AppState;

/// Evaluates the org's rules for `target` against `attributes` of `entity` (a pipeline id or a
/// plugin name, which selects the exemptions that apply). The warnings when the write may go
/// ahead; a `403 compliance_violation` problem listing every violation when an `error` or
/// `critical` rule fails.
pub async fn check(
    state: &AppState,
    org: &str,
    target: Target,
    entity: &str,
    attributes: &Value,
) -> Result<Vec<Violation>, ApiError> {
    let evaluation = evaluate_stored(state, org, target, Some(entity), attributes).await?;
    if evaluation.blocks() {
        Err(ApiError::ComplianceViolation(evaluation.violations))
    } else {
        Ok(evaluation.warnings)
    }
}

pub async fn evaluate_stored(
    state: &AppState,
    org: &str,
    target: Target,
    entity: Option<&str>,
    attributes: &Value,
) -> Result<Evaluation, ApiError> {
    // Both reads are on the path of every pipeline and plugin write: run them together.
    let exemptions = async {
        match entity {
            Some(entity) => state.rules.exemptions_for(org, entity).await,
            None => Ok(Vec::new()),
        }
    };
    let (records, exemptions) =
        tokio::try_join!(state.rules.active_rules(org, target), exemptions)?;
    // A stored rule that no longer validates reports itself instead of failing the request.
    let mut budget = CompileBudget::per_request();
    let rules: Vec<Rule> = records
        .iter()
        .map(|r| state.rule_cache.compiled(r, &mut budget))
        .collect();
    Ok(evaluate(
        &rules,
        target,
        entity.unwrap_or_default(),
        attributes,
        chrono::Utc::now(),
        &exemptions,
    ))
}
