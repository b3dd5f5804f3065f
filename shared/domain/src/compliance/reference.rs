//! The rule reference for the README, rendered from the same lists that validation and
//! evaluation use, so the documentation cannot describe an attribute or operator that the code
//! does not have.

use super::attributes::{AttributeDoc, PIPELINE_ATTRIBUTES, PLUGIN_ATTRIBUTES};
use super::field::COMPUTED_FIELDS;
use super::operator::Operator;

/// Markdown tables of the operators, computed fields and attributes of each target.
pub fn reference_markdown() -> String {
    let mut text = String::new();
    text.push_str("| operator | holds when the field… |\n|---|---|\n");
    for operator in Operator::ALL {
        text.push_str(&format!(
            "| `{}` | {} |\n",
            operator.as_str(),
            operator.meaning()
        ));
    }
    text.push_str("\n| computed field | value |\n|---|---|\n");
    for (syntax, meaning) in COMPUTED_FIELDS {
        text.push_str(&format!("| `{syntax}` | {meaning} |\n"));
    }
    for (target, attributes) in [
        ("pipeline", PIPELINE_ATTRIBUTES),
        ("plugin", PLUGIN_ATTRIBUTES),
    ] {
        text.push_str(&format!(
            "\nAttributes of a {target}:\n\n| attribute | type | meaning |\n|---|---|---|\n"
        ));
        text.push_str(&attribute_rows(attributes));
    }
    text
}

fn attribute_rows(attributes: &[AttributeDoc]) -> String {
    attributes
        .iter()
        .map(|a| {
            format!(
                "| `{}` | {} | {} |\n",
                a.name,
                a.kind.label(),
                a.description
            )
        })
        .collect()
}
