use serde_json::json;

use super::*;

fn body(text: &str) -> Result<Value, YamlError> {
    to_json(text, Limits::BODY)
}

fn refusal(text: &str) -> (usize, usize, Problem) {
    let error = body(text).expect_err("refused");
    (error.line, error.column, error.problem)
}

const TEMPLATE: Limits = Limits {
    max_depth: 64,
    max_nodes: 1_000_000,
    tags: Tags::ShortFormObjects,
};

#[test]
fn an_alias_bomb_is_refused_at_its_first_anchor_before_anything_expands() {
    // The issue's 107 KB body: one anchored list, then a list of thousands of aliases to it.
    let anchored = format!("a: &a [{}]\n", vec!["x"; 1000].join(", "));
    let aliases = format!("b: [{}]\n", vec!["*a"; 35_000].join(", "));
    let bomb = anchored + &aliases;
    assert!(bomb.len() > 100_000);
    assert_eq!(refusal(&bomb), (1, 4, Problem::Anchor));
}

#[test]
fn anchors_on_scalars_and_mappings_are_refused_where_they_stand() {
    assert_eq!(
        refusal("name: x\nimage: &i node:20\n"),
        (2, 8, Problem::Anchor)
    );
    assert_eq!(refusal("env: &e\n  A: b\n"), (1, 6, Problem::Anchor));
}

#[test]
fn deep_flow_nesting_is_refused_at_the_depth_limit() {
    // The root mapping is level 1, so the 32nd bracket (column 7 + 31) opens level 33.
    let nested = format!("name: {}{}", "[".repeat(40), "]".repeat(40));
    assert_eq!(refusal(&nested), (1, 38, Problem::TooDeep(32)));
}

#[test]
fn the_issues_120000_deep_flow_body_is_refused_within_its_first_256_brackets() {
    // The parser scans flow collections ahead and stops at 256 open levels, so the refusal
    // comes from a bounded prefix of the 240 KB input, never from its end.
    let nested = format!("name: {}", "[".repeat(120_000));
    let (line, column, problem) = refusal(&nested);
    assert_eq!(line, 1);
    assert!(column <= 6 + 256, "refused at column {column}");
    assert!(matches!(problem, Problem::Syntax(_)), "{problem:?}");
}

#[test]
fn deep_block_nesting_is_refused_at_the_depth_limit() {
    // `- - - …`: the 33rd dash, at column 1 + 32 × 2, opens level 33.
    assert_eq!(refusal(&"- ".repeat(60_000)), (1, 65, Problem::TooDeep(32)));
    let mut indented = String::new();
    for level in 0..40 {
        indented.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
    }
    assert_eq!(refusal(&indented), (33, 65, Problem::TooDeep(32)));
}

#[test]
fn the_node_after_the_limit_is_refused() {
    // The list itself is node 1, so its 20,000th element is node 20,001 (column 2 + 19,999 × 2).
    let list = format!("[{}]", vec!["1"; 20_000].join(","));
    assert_eq!(refusal(&list), (1, 40_000, Problem::TooManyNodes(20_000)));
    let fits = format!("[{}]", vec!["1"; 19_999].join(","));
    assert_eq!(body(&fits).unwrap().as_array().unwrap().len(), 19_999);
}

#[test]
fn plain_scalars_resolve_like_the_yaml_1_2_core_schema() {
    let text = "\
nulls: [~, null, Null, NULL, ]
bools: [true, True, TRUE, false, False, FALSE]
ints: [0, 42, -7, +3, 0o17, 0xff, 007]
floats: [1.5, -0.25, .5, 5., 1e3, 2.5E-1]
strings: [yes, no, on, 1.2.3, 0x, 1_000, v1, 2026-01-31, '12', \"true\", 'null']
block: |
  42
";
    assert_eq!(
        body(text).unwrap(),
        json!({
            "nulls": [null, null, null, null],
            "bools": [true, true, true, false, false, false],
            "ints": [0, 42, -7, 3, 15, 255, 7],
            "floats": [1.5, -0.25, 0.5, 5.0, 1000.0, 0.25],
            "strings": ["yes", "no", "on", "1.2.3", "0x", "1_000", "v1", "2026-01-31", "12", "true", "null"],
            "block": "42\n",
        })
    );
}

#[test]
fn numbers_json_cannot_hold_are_refused() {
    assert_eq!(
        refusal("a: .inf"),
        (1, 4, Problem::NotJsonNumber(".inf".into()))
    );
    assert_eq!(
        refusal("a: 1e400"),
        (1, 4, Problem::NotJsonNumber("1e400".into()))
    );
    assert_eq!(
        body("a: 18446744073709551615").unwrap(),
        json!({"a": u64::MAX})
    );
}

#[test]
fn bodies_refuse_tags_and_templates_turn_short_forms_into_objects() {
    assert_eq!(refusal("a: !Ref x"), (1, 4, Problem::Tag("!Ref".into())));
    assert_eq!(refusal("a: !!str 1"), (1, 4, Problem::Tag("!!str".into())));
    let template = "a: !Ref x\nb: !GetAtt [r, Arn]\nc: !Sub\n  k: v\n";
    assert_eq!(
        to_json(template, TEMPLATE).unwrap(),
        json!({"a": {"!Ref": "x"}, "b": {"!GetAtt": ["r", "Arn"]}, "c": {"!Sub": {"k": "v"}}})
    );
    assert_eq!(
        to_json("a: !!int 1", TEMPLATE).unwrap_err().problem,
        Problem::Tag("!!int".into())
    );
}

#[test]
fn duplicate_keys_complex_keys_and_second_documents_are_refused() {
    assert_eq!(
        refusal("name: a\nname: b\n"),
        (2, 1, Problem::DuplicateKey("name".into()))
    );
    assert_eq!(refusal("? [a]\n: b\n"), (1, 3, Problem::ComplexKey));
    assert_eq!(
        refusal("a: 1\n---\nb: 2\n"),
        (2, 1, Problem::SecondDocument)
    );
}

#[test]
fn syntax_errors_carry_their_position() {
    let (line, column, problem) = refusal("name: x\nversion: [1\n");
    assert_eq!(line, 3);
    assert_eq!(column, 1);
    assert!(matches!(problem, Problem::Syntax(_)), "{problem:?}");
}

#[test]
fn an_empty_document_is_null_and_keys_stay_text() {
    assert_eq!(body("").unwrap(), Value::Null);
    assert_eq!(
        body("1: a\ntrue: b\n").unwrap(),
        json!({"1": "a", "true": "b"})
    );
}

#[test]
fn locate_finds_a_value_by_its_path() {
    let text = "\
name: x
stages:
  - name: Build
    steps:
      - plugin: {name: node, version: 2}
        timeout: 10
  - name: Prod
";
    let at = |path: &[Step<'_>]| locate(text, path);
    assert_eq!(at(&[Step::Key("name")]), Some((1, 1)));
    assert_eq!(at(&[Step::Key("stages"), Step::Index(1)]), Some((7, 5)));
    assert_eq!(
        at(&[
            Step::Key("stages"),
            Step::Index(0),
            Step::Key("steps"),
            Step::Index(0),
            Step::Key("timeout")
        ]),
        Some((6, 9))
    );
    assert_eq!(
        at(&[
            Step::Key("stages"),
            Step::Index(0),
            Step::Key("steps"),
            Step::Index(0),
            Step::Key("plugin"),
            Step::Key("version")
        ]),
        Some((5, 30))
    );
    assert_eq!(at(&[Step::Key("stages"), Step::Index(2)]), None);
    assert_eq!(at(&[]), Some((1, 1)));
}
