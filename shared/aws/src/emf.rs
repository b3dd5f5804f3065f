//! CloudWatch Embedded Metric Format: a function prints one JSON document per line on stdout and
//! CloudWatch Logs turns it into metrics, without an API call or a permission.

use serde_json::{json, Map, Value};

use crate::runtime::LAMBDA_LOG_LEVEL_VAR;

/// The dimension every function's metrics carry, the alarms' only dimension.
pub const FUNCTION_NAME_DIMENSION: &str = "FunctionName";

/// One document: every metric a count under `namespace`, in one dimension set made of
/// `dimensions` (name and value each), stamped `timestamp_ms` (milliseconds since the epoch).
pub fn document(
    namespace: &str,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, u64)],
    timestamp_ms: i64,
) -> Value {
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions.iter().map(|(name, _)| name).collect::<Vec<_>>()],
                "Metrics": metrics.iter()
                    .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in dimensions {
        document.insert((*name).to_string(), json!(value));
    }
    for (name, value) in metrics {
        document.insert((*name).to_string(), json!(value));
    }
    Value::Object(document)
}

/// The level a metric line claims. Under Lambda's JSON log format the function's application log
/// level drops every line below it, and a line without a level counts as INFO: at WARN and above
/// the metrics would vanish, and their alarms with them. So the line claims INFO, or the
/// configured level when that is stricter.
pub fn metric_line_level(lambda_level: Option<&str>) -> &'static str {
    let configured = lambda_level.map(|level| level.trim().to_ascii_uppercase());
    match configured.as_deref() {
        Some("WARN") => "WARN",
        Some("ERROR") => "ERROR",
        Some("FATAL") => "FATAL",
        _ => "INFO",
    }
}

/// The line to print: `document` with the `level` Lambda's log filter reads.
pub fn line(mut document: Value, lambda_level: Option<&str>) -> String {
    if let Value::Object(fields) = &mut document {
        fields.insert("level".into(), json!(metric_line_level(lambda_level)));
    }
    document.to_string()
}

/// Prints `document` on stdout, where Lambda collects it, as one top-level JSON line: never
/// through the log subscriber, whose records wrap their fields.
pub fn emit(document: Value) {
    let level = std::env::var(LAMBDA_LOG_LEVEL_VAR).ok();
    println!("{}", line(document, level.as_deref()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_declares_each_metric_and_carries_its_value_at_the_top() {
        let doc = document(
            "PipelineBuilder/Test",
            &[(FUNCTION_NAME_DIMENSION, "ingest")],
            &[("Received", 3), ("Stored", 0)],
            1_700_000_000_000,
        );
        let declared = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "PipelineBuilder/Test");
        assert_eq!(declared["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(
            declared["Metrics"],
            json!([{"Name": "Received", "Unit": "Count"}, {"Name": "Stored", "Unit": "Count"}])
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(doc["FunctionName"], "ingest");
        assert_eq!(doc["Received"], 3);
        assert_eq!(doc["Stored"], 0);
    }

    #[test]
    fn every_dimension_of_the_set_is_declared_and_valued() {
        let doc = document(
            "N",
            &[("FunctionName", "audit"), ("Org", "acme")],
            &[("Findings", 1)],
            0,
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName", "Org"]])
        );
        assert_eq!(
            (&doc["FunctionName"], &doc["Org"]),
            (&json!("audit"), &json!("acme"))
        );
    }

    #[test]
    fn a_metric_line_passes_lambdas_level_filter_whatever_it_is() {
        assert_eq!(metric_line_level(None), "INFO");
        for (configured, claimed) in [
            ("TRACE", "INFO"),
            ("DEBUG", "INFO"),
            ("INFO", "INFO"),
            ("WARN", "WARN"),
            ("ERROR", "ERROR"),
            ("fatal", "FATAL"),
            ("LOUD", "INFO"),
        ] {
            assert_eq!(metric_line_level(Some(configured)), claimed, "{configured}");
        }
    }

    #[test]
    fn the_printed_line_is_the_document_itself_plus_its_level() {
        let doc = document("N", &[(FUNCTION_NAME_DIMENSION, "f")], &[("M", 2)], 5);
        let printed: Value = serde_json::from_str(&line(doc.clone(), Some("WARN"))).unwrap();
        assert_eq!(printed["level"], "WARN");
        assert_eq!(printed["_aws"], doc["_aws"]);
        assert_eq!(printed["M"], 2);
        assert!(!line(doc, None).contains('\n'));
    }
}
