//! Evaluation of rules against an entity's attributes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::exemption::Exemption;
use super::operator::{failing_elements, holds, Operator};
use super::rule::{Body, Condition, Mode, Rule, RuleConditionSpec, Severity, Target};

/// One condition of one rule that the entity does not satisfy.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Severity,
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Operator>,
    /// The rule's value (null for operators that take none).
    pub expected: Value,
    /// The entity's value; null when absent. For `regex`, `in` and `notIn` on a list, only the
    /// elements that fail.
    pub actual: Value,
    pub message: String,
}

/// A rule skipped because an approved exemption covers the entity.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exempted {
    pub rule_id: String,
    pub rule_name: String,
    pub exemption_id: String,
    pub expires_at: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Failures of `warning` rules: reported, not blocking.
    pub warnings: Vec<Violation>,
    /// Failures of `error` and `critical` rules: the write is refused.
    pub violations: Vec<Violation>,
    pub exempted: Vec<Exempted>,
}

impl Evaluation {
    pub fn blocks(&self) -> bool {
        !self.violations.is_empty()
    }
}

/// Evaluates the rules in force for `target` against the attributes of `entity` (a pipeline id
/// or a plugin name). Rules of the other target, inactive rules and rules outside their
/// effective window are skipped; so are rules covered by an approved, unexpired exemption for
/// this entity, which are listed in [`Evaluation::exempted`].
pub fn evaluate(
    rules: &[Rule],
    target: Target,
    entity: &str,
    attributes: &Value,
    now: DateTime<Utc>,
    exemptions: &[Exemption],
) -> Evaluation {
    let mut evaluation = Evaluation::default();
    for rule in rules
        .iter()
        .filter(|r| r.target == target && r.is_in_force(now))
    {
        if let Some(exemption) = exemptions.iter().find(|e| e.covers(&rule.id, entity, now)) {
            evaluation.exempted.push(Exempted {
                rule_id: rule.id.clone(),
                rule_name: rule.name.clone(),
                exemption_id: exemption.id.clone(),
                expires_at: exemption.expires_at.clone(),
            });
            continue;
        }
        let failures = failures(rule, attributes);
        if rule.severity.blocks() {
            evaluation.violations.extend(failures);
        } else {
            evaluation.warnings.extend(failures);
        }
    }
    evaluation
}

/// The failed conditions of a rule; empty when the rule holds. In `any` mode every condition
/// failed, and all are listed because satisfying any one of them fixes the rule.
fn failures(rule: &Rule, attributes: &Value) -> Vec<Violation> {
    match &rule.body {
        Body::Checks { mode, conditions } => {
            let failed: Vec<&Condition> = conditions
                .iter()
                .filter(|c| {
                    let actual = c.field.resolve(attributes);
                    !holds(c.operator, &c.expected, actual.as_deref())
                })
                .collect();
            let holds = match mode {
                Mode::All => failed.is_empty(),
                Mode::Any => failed.len() < conditions.len(),
            };
            if holds {
                return Vec::new();
            }
            failed
                .into_iter()
                .map(|c| violation(rule, c, attributes))
                .collect()
        }
        Body::Unevaluable { conditions, reason } => unevaluable(rule, conditions, reason),
    }
}

fn violation(rule: &Rule, condition: &Condition, attributes: &Value) -> Violation {
    let actual = condition.field.resolve(attributes);
    let actual = match actual.as_deref() {
        Some(value) => failing_elements(condition.operator, &condition.expected, value)
            .map(Value::from)
            .unwrap_or_else(|| value.clone()),
        None => Value::Null,
    };
    let found = if actual.is_null() {
        "it is absent".to_string()
    } else {
        format!("found {actual}")
    };
    let expected = if condition.value.is_null() {
        String::new()
    } else {
        format!(" {}", condition.value)
    };
    Violation {
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        severity: rule.severity,
        field: condition.text.clone(),
        operator: Some(condition.operator),
        expected: condition.value.clone(),
        message: format!(
            "{}: {} {}{expected} does not hold; {found}",
            rule.name,
            condition.text,
            condition.operator.as_str()
        ),
        actual,
    }
}

fn unevaluable(rule: &Rule, conditions: &[RuleConditionSpec], reason: &str) -> Vec<Violation> {
    let message = format!(
        "{}: the rule cannot be evaluated ({reason}); fix or delete it",
        rule.name
    );
    let report = |field: &str, operator: Option<Operator>, expected: Value| Violation {
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        severity: rule.severity,
        field: field.to_string(),
        operator,
        expected,
        actual: Value::Null,
        message: message.clone(),
    };
    if conditions.is_empty() {
        return vec![report("", None, Value::Null)];
    }
    conditions
        .iter()
        .map(|c| {
            report(
                &c.field,
                Some(c.operator),
                c.value.clone().unwrap_or(Value::Null),
            )
        })
        .collect()
}
