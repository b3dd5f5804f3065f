//! The README reference is rendered from the lists the code uses.

use super::*;

#[test]
fn the_reference_has_a_row_for_every_operator_computed_field_and_attribute() {
    let text = reference_markdown();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(
        rows.len(),
        Operator::ALL.len()
            + COMPUTED_FIELDS.len()
            + PIPELINE_ATTRIBUTES.len()
            + PLUGIN_ATTRIBUTES.len()
    );
    assert!(rows.contains(&"| `countLt` | a list or map has fewer entries than the value |"));
    assert!(rows.contains(&"| `$keys(path)` | Keys of a map, as a list of strings. |"));
    assert!(rows.contains(&"| `stageCount` | number | Number of stages. |"));
    assert!(rows.contains(
        &"| `imageIsDigestPinned` | boolean | The image names a `@sha256:` digest. False without an image. |"
    ));
    // Every cell is one table cell: no description may contain the column separator.
    for row in rows {
        assert!(row.matches('|').count() <= 4, "{row}");
    }
}
