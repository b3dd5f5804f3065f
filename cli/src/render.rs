//! Human output: aligned tables, a text sparkline for series, and JSON values as cells.

use serde_json::Value;

/// Columns padded to their widest cell; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i == last {
                    cell.clone()
                } else {
                    format!("{cell:<width$}", width = widths[i])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One bar per value, scaled from the smallest to the largest; a gap for a missing value.
pub fn sparkline(values: &[Option<f64>]) -> String {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let (Some(low), Some(high)) = (
        present.iter().copied().reduce(f64::min),
        present.iter().copied().reduce(f64::max),
    ) else {
        return " ".repeat(values.len());
    };
    values
        .iter()
        .map(|value| match value {
            None => ' ',
            Some(_) if high <= low => BARS[BARS.len() / 2],
            Some(v) => {
                let step = ((v - low) / (high - low) * (BARS.len() - 1) as f64).round();
                BARS[(step as usize).min(BARS.len() - 1)]
            }
        })
        .collect()
}

/// A JSON value as one table cell.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => text.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(_) => value.to_string(),
    }
}

/// The fields of `value` named by `columns` (dotted paths), as table cells.
pub fn cells(value: &Value, columns: &[&str]) -> Vec<String> {
    columns
        .iter()
        .map(|column| {
            let found = column
                .split('.')
                .try_fold(value, |v, key| v.get(key))
                .unwrap_or(&Value::Null);
            cell(found)
        })
        .collect()
}

/// A list of objects as a table of their scalar fields: the text fields first (what a row is
/// about), then the rest, each group by name.
pub fn object_table(items: &[Value]) -> String {
    let Some(Value::Object(first)) = items.first() else {
        return String::new();
    };
    let mut columns: Vec<(&str, bool)> = first
        .iter()
        .filter(|(_, v)| !v.is_object() && !is_list_of_objects(v))
        .map(|(k, v)| (k.as_str(), !v.is_string()))
        .collect();
    columns.sort_by_key(|(name, not_text)| (*not_text, *name));
    let columns: Vec<&str> = columns.into_iter().map(|(name, _)| name).collect();
    let rows: Vec<Vec<String>> = items.iter().map(|item| cells(item, &columns)).collect();
    table(&columns, &rows)
}

pub fn is_list_of_objects(value: &Value) -> bool {
    value
        .as_array()
        .is_some_and(|items| items.first().is_some_and(Value::is_object))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_every_column_but_the_last() {
        let rows = vec![
            vec![
                "node-build".to_string(),
                "2.1.0".to_string(),
                "org".to_string(),
            ],
            vec!["x".to_string(), "10.0.0".to_string(), "public".to_string()],
        ];
        assert_eq!(
            table(&["name", "version", "source"], &rows),
            "NAME        VERSION  SOURCE\nnode-build  2.1.0    org\nx           10.0.0   public\n"
        );
    }

    #[test]
    fn sparklines_scale_from_lowest_to_highest_and_leave_gaps() {
        assert_eq!(
            sparkline(&[Some(0.0), Some(50.0), None, Some(100.0)]),
            "▁▅ █"
        );
        assert_eq!(sparkline(&[Some(3.0), Some(3.0)]), "▅▅");
        assert_eq!(sparkline(&[None, None]), "  ");
    }

    #[test]
    fn objects_become_rows_of_their_scalar_fields() {
        let items = [
            json!({"stage": "Build", "failures": 2, "rate": 12.5, "nested": {"a": 1}}),
            json!({"stage": "Deploy", "failures": 0, "rate": null, "nested": {"a": 2}}),
        ];
        assert_eq!(
            object_table(&items),
            "STAGE   FAILURES  RATE\nBuild   2         12.5\nDeploy  0         -\n",
            "text first, then by name"
        );
    }
}
