//! Query and path parameters, with problems that name the offending parameter.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Path, RawPathParams, RawQuery};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

use crate::problem::ApiError;

/// The query string as name → value; a name given twice, or one the route does not know, is an
/// error rather than silently ignored.
#[derive(Debug, Default)]
pub struct QueryParams(BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state)
            .await
            .unwrap_or(RawQuery(None));
        let pairs = decode_query(raw.as_deref().unwrap_or(""))?;
        let mut params = BTreeMap::new();
        for (name, value) in pairs {
            if params.insert(name.clone(), value).is_some() {
                return Err(ApiError::InvalidParameter {
                    name,
                    message: "given more than once".into(),
                });
            }
        }
        Ok(QueryParams(params))
    }
}

impl QueryParams {
    pub fn only(self, allowed: &[&str]) -> Result<Self, ApiError> {
        match self.0.keys().find(|name| !allowed.contains(&name.as_str())) {
            Some(unknown) => Err(ApiError::InvalidParameter {
                name: unknown.clone(),
                message: if allowed.is_empty() {
                    "unknown parameter; this route takes none".to_string()
                } else {
                    format!(
                        "unknown parameter; this route accepts {}",
                        allowed.join(", ")
                    )
                },
            }),
            None => Ok(self),
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn number(&self, name: &str) -> Result<Option<usize>, ApiError> {
        self.text(name)
            .map(|value| {
                value.parse().map_err(|_| ApiError::InvalidParameter {
                    name: name.to_string(),
                    message: format!("'{value}' is not a whole number"),
                })
            })
            .transpose()
    }
}

/// An optional query parameter as the OpenAPI document states it, for parameter sets written by
/// hand (`IntoParams`) rather than derived.
pub fn optional_query_parameter(name: &str, description: &str, schema_type: Type) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(schema_type)))
        .build()
}

/// Longest query string a route reads; every parameter the API knows fits in a fraction of it.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Longest path parameter: ids, names and versions are far shorter, and every one becomes part of
/// a DynamoDB key (partition keys end at 2,048 bytes, sort keys at 1,024).
pub const MAX_PATH_PARAM_BYTES: usize = 256;

/// `application/x-www-form-urlencoded` pairs, refusing what a lossy decoder would silently
/// rewrite: invalid UTF-8 after percent-decoding becomes a 400, not U+FFFD.
fn decode_query(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    if raw.len() > MAX_QUERY_BYTES {
        return Err(invalid_query(format!(
            "the query string is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((form_decode(name)?, form_decode(value)?))
        })
        .collect()
}

fn form_decode(text: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        bytes.push(match byte {
            b'+' => b' ',
            b'%' => {
                let high = input.next().and_then(hex_value);
                let low = input.next().and_then(hex_value);
                match (high, low) {
                    (Some(high), Some(low)) => high << 4 | low,
                    _ => {
                        return Err(invalid_query(
                            "the query string has a '%' not followed by two hex digits".into(),
                        ))
                    }
                }
            }
            other => other,
        });
    }
    String::from_utf8(bytes)
        .map_err(|_| invalid_query("the query string is not valid UTF-8 once decoded".into()))
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn invalid_query(message: String) -> ApiError {
    ApiError::InvalidParameter {
        name: "query".into(),
        message,
    }
}

/// Path parameters; a malformed one is a 400 problem, not axum's plain-text rejection. Every
/// value is bounded and may not contain `#` (the key-part separator) or control characters,
/// checked before any handler builds a key from it.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        check_path_params(parts, state).await?;
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PathParams(value))
            .map_err(|rejection| ApiError::InvalidParameter {
                name: "path".into(),
                message: rejection.body_text(),
            })
    }
}

async fn check_path_params<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<(), ApiError> {
    let raw = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|rejection| ApiError::InvalidParameter {
            name: "path".into(),
            message: rejection.body_text(),
        })?;
    for (name, value) in &raw {
        if let Some(message) = path_value_problem(value) {
            return Err(ApiError::InvalidParameter {
                name: name.to_string(),
                message,
            });
        }
    }
    Ok(())
}

fn path_value_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        Some("must not be empty".into())
    } else if value.len() > MAX_PATH_PARAM_BYTES {
        Some(format!("longer than {MAX_PATH_PARAM_BYTES} bytes"))
    } else if value.contains('#') || value.chars().any(char::is_control) {
        Some("must not contain '#' or control characters".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_keeps_valid_text_and_refuses_invalid_utf8() {
        let pairs = decode_query("a=x+y%2Fz&b=%C3%A9&flag").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("a".to_string(), "x y/z".to_string()),
                ("b".to_string(), "é".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert!(decode_query("a=%FF%FE").is_err());
        assert!(decode_query("a=%C3").is_err());
        assert!(decode_query("a=%G1").is_err());
        assert!(decode_query(&"a".repeat(MAX_QUERY_BYTES + 1)).is_err());
    }

    #[test]
    fn path_values_are_bounded_and_free_of_key_separators() {
        assert_eq!(path_value_problem("node-build"), None);
        assert!(path_value_problem("a#b").is_some());
        assert!(path_value_problem("a\u{7}b").is_some());
        assert!(path_value_problem(&"x".repeat(MAX_PATH_PARAM_BYTES + 1)).is_some());
        assert_eq!(path_value_problem(&"x".repeat(MAX_PATH_PARAM_BYTES)), None);
    }
}
