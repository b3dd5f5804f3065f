//! The compile caps: per regex, per request, counted before compiling.

use serde_json::json;

use super::*;

fn regex_rule(name: &str, pattern: &str) -> RuleSpec {
    rule_spec(
        json!({"name": name, "target": "pipeline", "severity": "error",
        "field": "name", "operator": "regex", "value": pattern}),
    )
}

/// About 40 KB compiled: under the per-regex cap, so about a hundred fit in a request.
const HEAVY: &str = "[a-zA-Z0-9]{400}";

#[test]
fn a_regex_over_64_kb_compiled_is_refused() {
    let problems = Rule::compile("big", &regex_rule("big", r"\w\w")).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].field, "value");
    assert_eq!(
        problems[0].message,
        "the regex compiles to more than 64 KB, the cap per regex"
    );
    let heavy = Rule::compile("heavy", &regex_rule("heavy", HEAVY)).unwrap();
    assert!(heavy.compiled_bytes() > 16 * 1024 && heavy.compiled_bytes() <= MAX_REGEX_BYTES);
}

#[test]
fn a_request_stops_compiling_once_4_mb_are_spent() {
    let mut budget = CompileBudget::per_request();
    let mut compiled = 0;
    let refusal = loop {
        match Rule::compile_within("r", &regex_rule("heavy", HEAVY), &mut budget) {
            Ok(rule) => compiled += rule.compiled_bytes(),
            Err(problems) => break problems,
        }
    };
    assert!(compiled <= MAX_COMPILED_BYTES_PER_REQUEST);
    assert!(compiled > MAX_COMPILED_BYTES_PER_REQUEST - MAX_REGEX_BYTES);
    assert!(budget.is_exhausted());
    assert_eq!(
        refusal[0].message,
        "the regexes compile to more than 4 MB in all, the cap per request"
    );
    // Once spent, the next regex is refused before it compiles: nothing more is charged.
    let spent = budget.spent();
    let next = Rule::compile_within("r", &regex_rule("tiny", "^a$"), &mut budget).unwrap_err();
    assert_eq!(next[0].message, refusal[0].message);
    assert_eq!(budget.spent(), spent);
    // A stored rule past the budget reports itself instead of passing silently.
    let stored = Rule::from_stored("late", &regex_rule("late", "^a$"), &mut budget);
    assert!(!stored.is_evaluable());
}
