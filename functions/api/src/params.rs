//! Query and path parameters, with problems that name the offending parameter.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Path, RawQuery};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

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
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
            .map_err(|_| ApiError::InvalidParameter {
                name: "query".into(),
                message: "the query string is not valid URL encoding".into(),
            })?;
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

/// Path parameters; a malformed one is a 400 problem, not axum's plain-text rejection.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PathParams(value))
            .map_err(|rejection| ApiError::InvalidParameter {
                name: "path".into(),
                message: rejection.body_text(),
            })
    }
}
