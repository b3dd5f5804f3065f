//! Rules as written ([`RuleSpec`]) and as evaluated ([`Rule`]): validated, field paths typed
//! against the target's attributes, regexes compiled.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attributes::{AttributeDoc, PIPELINE_ATTRIBUTES, PLUGIN_ATTRIBUTES};
use super::cost::CompileBudget;
use super::field::Field;
use super::operator::{applies_to, expect, Expected, Operator};
use crate::plugin::FieldError;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Most conditions one rule may combine.
pub const MAX_CONDITIONS: usize = 20;

/// What a rule applies to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Pipeline,
    Plugin,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Pipeline => "pipeline",
            Target::Plugin => "plugin",
        }
    }

    /// The attributes rules on this target may name.
    pub fn attributes(self) -> &'static [AttributeDoc] {
        match self {
            Target::Pipeline => PIPELINE_ATTRIBUTES,
            Target::Plugin => PLUGIN_ATTRIBUTES,
        }
    }
}

/// `warning` lets the write succeed and reports it; `error` and `critical` block it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn blocks(self) -> bool {
        self != Severity::Warning
    }
}

/// How the conditions of a rule combine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every condition must hold.
    #[default]
    All,
    /// At least one condition must hold.
    Any,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleConditionSpec {
    /// An attribute, `map.key`, or a computed field such as `$count(stageNames)`.
    pub field: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// A rule as written: either `field` + `operator` + `value`, or `conditions` with a `mode`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub target: Target,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Operator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<RuleConditionSpec>,
    /// For `conditions` only; `all` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// An inactive rule is kept but never evaluated.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// RFC 3339; the rule is evaluated from this instant on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<String>,
    /// RFC 3339; the rule is no longer evaluated from this instant on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_until: Option<String>,
}

fn active_by_default() -> bool {
    true
}

impl RuleSpec {
    /// The conditions as written, with the JSON path of each condition's object.
    fn written_conditions(&self) -> Vec<(String, RuleConditionSpec)> {
        match (&self.field, self.operator) {
            (Some(field), Some(operator)) => vec![(
                String::new(),
                RuleConditionSpec {
                    field: field.clone(),
                    operator,
                    value: self.value.clone(),
                },
            )],
            _ => self
                .conditions
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("conditions[{i}]."), c.clone()))
                .collect(),
        }
    }
}

/// One condition, ready to evaluate.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub(crate) text: String,
    pub(crate) field: Field,
    pub(crate) operator: Operator,
    /// The value as written, for reports.
    pub(crate) value: Value,
    pub(crate) expected: Expected,
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Checks {
        mode: Mode,
        conditions: Vec<Condition>,
    },
    /// A stored rule that no longer validates (e.g. written before an attribute was renamed).
    /// It is reported on every evaluation rather than skipped, so it can neither pass nor block
    /// silently.
    Unevaluable {
        conditions: Vec<RuleConditionSpec>,
        reason: String,
    },
}

/// A validated rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub target: Target,
    pub severity: Severity,
    pub active: bool,
    effective_from: Option<DateTime<Utc>>,
    effective_until: Option<DateTime<Utc>>,
    pub(crate) body: Body,
    compiled_bytes: usize,
}

impl Rule {
    /// Validates a rule as written, alone in its request; every problem is reported with its
    /// JSON path.
    pub fn compile(id: impl Into<String>, spec: &RuleSpec) -> Result<Rule, Vec<FieldError>> {
        Rule::compile_within(id, spec, &mut CompileBudget::per_request())
    }

    /// [`Rule::compile`] charging its regexes to the request's `budget`.
    pub fn compile_within(
        id: impl Into<String>,
        spec: &RuleSpec,
        budget: &mut CompileBudget,
    ) -> Result<Rule, Vec<FieldError>> {
        let spent_before = budget.spent();
        let mut problems = Problems::default();
        check_text("name", &spec.name, MAX_NAME_CHARS, true, &mut problems);
        check_text(
            "description",
            &spec.description,
            MAX_DESCRIPTION_CHARS,
            false,
            &mut problems,
        );
        check_form(spec, &mut problems);
        let effective_from = instant(
            "effectiveFrom",
            spec.effective_from.as_deref(),
            &mut problems,
        );
        let effective_until = instant(
            "effectiveUntil",
            spec.effective_until.as_deref(),
            &mut problems,
        );
        if let (Some(from), Some(until)) = (effective_from, effective_until) {
            if from >= until {
                problems.add("effectiveUntil", "must be later than effectiveFrom");
            }
        }
        let conditions: Vec<Condition> = spec
            .written_conditions()
            .into_iter()
            .filter_map(|(path, written)| {
                compile_condition(spec.target, &path, written, budget, &mut problems)
            })
            .collect();
        if !problems.0.is_empty() {
            return Err(problems.0);
        }
        Ok(Rule {
            id: id.into(),
            name: spec.name.clone(),
            target: spec.target,
            severity: spec.severity,
            active: spec.active,
            effective_from,
            effective_until,
            body: Body::Checks {
                mode: spec.mode.unwrap_or_default(),
                conditions,
            },
            compiled_bytes: budget.spent() - spent_before,
        })
    }

    /// A stored rule: validated like a new one, but one that no longer validates (or no longer
    /// fits the request's budget) becomes an unevaluable rule that reports itself instead of an
    /// error that would stop evaluation.
    pub fn from_stored(id: impl Into<String>, spec: &RuleSpec, budget: &mut CompileBudget) -> Rule {
        let id = id.into();
        Rule::compile_within(id.clone(), spec, budget).unwrap_or_else(|problems| Rule {
            id,
            name: spec.name.clone(),
            target: spec.target,
            severity: spec.severity,
            active: spec.active,
            effective_from: parse_instant(spec.effective_from.as_deref()),
            effective_until: parse_instant(spec.effective_until.as_deref()),
            body: Body::Unevaluable {
                conditions: spec
                    .written_conditions()
                    .into_iter()
                    .map(|(_, c)| c)
                    .collect(),
                reason: problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            },
            compiled_bytes: 0,
        })
    }

    /// Whether the rule compiled; an unevaluable one only reports itself.
    pub fn is_evaluable(&self) -> bool {
        matches!(self.body, Body::Checks { .. })
    }

    /// Heap bytes of the rule's compiled regexes.
    pub fn compiled_bytes(&self) -> usize {
        self.compiled_bytes
    }

    /// Active, and `now` within the effective window (from inclusive, until exclusive).
    pub fn is_in_force(&self, now: DateTime<Utc>) -> bool {
        self.active
            && self.effective_from.is_none_or(|from| from <= now)
            && self.effective_until.is_none_or(|until| now < until)
    }
}

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }
}

fn check_text(field: &str, text: &str, max: usize, required: bool, problems: &mut Problems) {
    if (required && text.trim().is_empty()) || text.chars().count() > max {
        let least = if required { 1 } else { 0 };
        problems.add(field, format!("must be {least}-{max} characters"));
    }
}

/// Exactly one of the two forms, complete.
fn check_form(spec: &RuleSpec, problems: &mut Problems) {
    let single = spec.field.is_some() || spec.operator.is_some() || spec.value.is_some();
    let compound = !spec.conditions.is_empty();
    match (single, compound) {
        (true, true) => problems.add(
            "conditions",
            "give either field/operator/value or conditions, not both",
        ),
        (false, false) => problems.add(
            "field",
            "required: give field and operator (and a value), or conditions",
        ),
        (true, false) => {
            if spec.field.is_none() {
                problems.add("field", "required with operator");
            }
            if spec.operator.is_none() {
                problems.add("operator", "required with field");
            }
            if spec.mode.is_some() {
                problems.add("mode", "applies to conditions only");
            }
        }
        (false, true) => {
            if spec.conditions.len() > MAX_CONDITIONS {
                problems.add("conditions", format!("at most {MAX_CONDITIONS} conditions"));
            }
        }
    }
}

fn compile_condition(
    target: Target,
    path: &str,
    written: RuleConditionSpec,
    budget: &mut CompileBudget,
    problems: &mut Problems,
) -> Option<Condition> {
    let field = match Field::parse(&written.field, target.attributes(), target.as_str()) {
        Ok(field) => field,
        Err(message) => {
            problems.add(format!("{path}field"), message);
            return None;
        }
    };
    if let Err(message) = applies_to(written.operator, field.kind()) {
        problems.add(format!("{path}operator"), message);
        return None;
    }
    match expect(
        written.operator,
        field.kind(),
        written.value.as_ref(),
        budget,
    ) {
        Ok(expected) => Some(Condition {
            text: written.field,
            field,
            operator: written.operator,
            value: written.value.unwrap_or(Value::Null),
            expected,
        }),
        Err(message) => {
            problems.add(format!("{path}value"), message);
            None
        }
    }
}

fn instant(field: &str, text: Option<&str>, problems: &mut Problems) -> Option<DateTime<Utc>> {
    let text = text?;
    let parsed = parse_instant(Some(text));
    if parsed.is_none() {
        problems.add(
            field,
            "must be an RFC 3339 timestamp, e.g. 2025-01-31T00:00:00Z",
        );
    }
    parsed
}

pub(crate) fn parse_instant(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
