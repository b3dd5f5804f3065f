//! Translation between JSON documents (how domain types serialize) and DynamoDB attribute values.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Number, Value};

pub type Item = HashMap<String, AttributeValue>;

/// BatchGetItem's limit of keys per request.
pub const MAX_BATCH_GET_KEYS: usize = 100;
const MAX_UNPROCESSED_ROUNDS: usize = 3;

pub fn to_attribute(value: Value) -> Option<AttributeValue> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(values) => {
            AttributeValue::L(values.into_iter().filter_map(to_attribute).collect())
        }
        Value::Object(map) => AttributeValue::M(
            map.into_iter()
                .filter_map(|(k, v)| to_attribute(v).map(|a| (k, a)))
                .collect(),
        ),
    })
}

pub fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .ok()
            .or_else(|| {
                n.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            })
            .unwrap_or(Value::Null),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(values) => Value::Array(values.iter().map(from_attribute).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_attribute(v)))
                .collect::<Map<_, _>>(),
        ),
        AttributeValue::Ss(values) => Value::from(values.clone()),
        _ => Value::Null,
    }
}

/// Serializes a domain value into item attributes (it must serialize to a JSON object).
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, serde_json::Error> {
    match serde_json::to_value(value)? {
        Value::Object(map) => Ok(map
            .into_iter()
            .filter_map(|(k, v)| to_attribute(v).map(|a| (k, a)))
            .collect()),
        other => Err(serde::ser::Error::custom(format!(
            "expected an object, got {other}"
        ))),
    }
}

pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, serde_json::Error> {
    let map: Map<String, Value> = item
        .iter()
        .map(|(k, v)| (k.clone(), from_attribute(v)))
        .collect();
    serde_json::from_value(Value::Object(map))
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Every item a query returns, across all pages.
pub async fn query_items(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<Item>, crate::AwsError> {
    query
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| crate::AwsError::classify("Query", e))
}

/// A stored item as a domain value; one that does not parse is corrupt, not absent.
pub fn parse_item<T: DeserializeOwned>(item: &Item, what: &str) -> Result<T, crate::AwsError> {
    from_item(item).map_err(|e| crate::AwsError::Rejected {
        operation: "GetItem",
        code: "CorruptItem".into(),
        message: format!("stored {what} does not parse: {e}"),
    })
}

/// Consistent reads of up to [`MAX_BATCH_GET_KEYS`] items of a `PK`/`SK` table in one request (no
/// transaction, so an in-flight write never cancels it), by (PK, SK); an absent item is simply not
/// in the answer. Unprocessed keys are asked for again a few times.
pub async fn batch_get_consistent(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: &[(String, String)],
) -> Result<HashMap<(String, String), Item>, crate::AwsError> {
    let invalid =
        |e: &dyn std::fmt::Display| crate::AwsError::local("BatchGetItem", "InvalidRequest", e);
    let mut found = HashMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    if keys.len() > MAX_BATCH_GET_KEYS {
        return Err(invalid(&format!(
            "{} keys, over BatchGetItem's {MAX_BATCH_GET_KEYS}",
            keys.len()
        )));
    }
    let mut pending: Vec<Item> = keys
        .iter()
        .map(|(pk, sk)| Item::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))]))
        .collect();
    for _ in 0..MAX_UNPROCESSED_ROUNDS {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(std::mem::take(&mut pending)))
            .consistent_read(true)
            .build()
            .map_err(|e| invalid(&e))?;
        let output = client
            .batch_get_item()
            .request_items(table, request)
            .send()
            .await
            .map_err(|e| crate::AwsError::classify("BatchGetItem", e))?;
        for item in output
            .responses
            .unwrap_or_default()
            .remove(table)
            .unwrap_or_default()
        {
            let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            if let (Some(pk), Some(sk)) = (key("PK"), key("SK")) {
                found.insert((pk, sk), item);
            }
        }
        pending = output
            .unprocessed_keys
            .unwrap_or_default()
            .remove(table)
            .map(|k| k.keys)
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok(found);
        }
    }
    Err(crate::AwsError::Throttled {
        operation: "BatchGetItem",
        code: "UnprocessedKeys".into(),
    })
}
