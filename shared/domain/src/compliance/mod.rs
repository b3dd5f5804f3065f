//! Compliance: policy-as-code rules that decide, when a pipeline or plugin is written, whether it
//! may exist.
//!
//! A rule states what a compliant entity looks like (`hasSecurityScan eq true`); an entity that
//! does not satisfy it violates it. Rules never look at raw specs: they look at a documented
//! projection of attributes ([`PIPELINE_ATTRIBUTES`], [`PLUGIN_ATTRIBUTES`]) computed by
//! [`pipeline_attributes`] and [`plugin_attributes`], and a rule is refused when it is written if
//! it names a field that the projection does not compute — so no rule can silently pass or block
//! everything.

mod attributes;
mod cost;
mod evaluate;
mod exemption;
mod field;
mod operator;
mod reference;
mod rule;
mod schema;

pub use attributes::{
    pipeline_attributes, plugin_attributes, AttributeDoc, Kind, PIPELINE_ATTRIBUTES,
    PLUGIN_ATTRIBUTES, PRODUCTION_ENVIRONMENTS, SECURITY_CATEGORIES, TEST_CATEGORIES,
};
pub use cost::{
    CompileBudget, MAX_ACTIVE_RULES_PER_ORG, MAX_COMPILED_BYTES_PER_REQUEST, MAX_INLINE_RULES,
    MAX_REGEX_BYTES,
};
pub use evaluate::{evaluate, Evaluation, Exempted, Violation};
pub use exemption::{
    ApprovalError, Exemption, ExemptionRequest, ExemptionStatus, MAX_ENTITY_CHARS,
    MAX_EXEMPTION_DAYS, MAX_REASON_CHARS,
};
pub use field::COMPUTED_FIELDS;
pub use field::MAX_FIELD_CHARS;
pub use operator::{Operator, MAX_PATTERN_CHARS, MAX_SET_VALUES, MAX_VALUE_CHARS};
pub use reference::reference_markdown;
pub use rule::{
    Mode, Rule, RuleConditionSpec, RuleSpec, Severity, Target, MAX_CONDITIONS,
    MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS,
};
pub use schema::rule_spec_schema;

#[cfg(test)]
mod tests;
