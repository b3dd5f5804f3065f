//! Paging of list endpoints with opaque cursors. A cursor is signed with a key derived from the
//! active signing key and bound to the org and the query it was issued for, so it cannot be
//! forged, replayed by another org, or reused with different filters.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::Type;
use utoipa::IntoParams;

use crate::keys::KeySet;
use crate::params::{optional_query_parameter, QueryParams};
use crate::problem::ApiError;
use crate::state::AppState;

pub const DEFAULT_PAGE_SIZE: usize = 20;
pub const MAX_PAGE_SIZE: usize = 100;
/// Longer cursors than any this API issues are refused before any decoding work.
const MAX_CURSOR_CHARS: usize = 2048;
/// Keeps cursor signatures separate from token signatures made with the same key.
const CURSOR_KEY_LABEL: &[u8] = b"pipeline-builder/cursor/v1";

/// The page a list request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub limit: usize,
    /// Sort key of the last item of the previous page.
    pub after: Option<String>,
}

/// One page of a sorted list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    #[serde(rename = "k")]
    kid: String,
    #[serde(rename = "o")]
    org: String,
    #[serde(rename = "q")]
    query: String,
    #[serde(rename = "a")]
    after: String,
}

/// Where a list is being read: who asks and with which filters (canonical form).
#[derive(Debug, Clone, Copy)]
struct Scope<'a> {
    org: &'a str,
    query: &'a str,
}

fn paging(
    keys: &KeySet,
    scope: Scope<'_>,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> Result<Paging, ApiError> {
    let limit = match limit {
        None => DEFAULT_PAGE_SIZE,
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::InvalidParameter {
                name: "limit".into(),
                message: format!("must be 1 to {MAX_PAGE_SIZE}"),
            })
        }
    };
    let after = cursor.map(|c| open(keys, scope, c)).transpose()?;
    Ok(Paging { limit, after })
}

/// A list request, read the same way by every list route: exactly the route's filters besides
/// `limit` and `cursor`, the page asked for, and the scope its cursors are bound to (the org and
/// the filters' values, so a cursor cannot be replayed by another org or with other filters).
pub struct ListRequest {
    params: QueryParams,
    pub paging: Paging,
    keys: KeySet,
    org: String,
    query: String,
}

impl ListRequest {
    pub async fn read(
        state: &AppState,
        org: &str,
        params: QueryParams,
        resource: &str,
        filters: &[&str],
    ) -> Result<Self, ApiError> {
        let accepted: Vec<&str> = filters.iter().copied().chain(PAGE_PARAMETERS).collect();
        let params = params.only(&accepted)?;
        let values: Vec<String> = filters
            .iter()
            .map(|name| format!("{name}={}", params.text(name).unwrap_or_default()))
            .collect();
        let query = format!("{resource}?{}", values.join("&"));
        let keys = state.keys.current().await?;
        let scope = Scope { org, query: &query };
        let paging = paging(&keys, scope, params.number("limit")?, params.text("cursor"))?;
        Ok(ListRequest {
            params,
            paging,
            keys,
            org: org.to_string(),
            query,
        })
    }

    pub fn filter(&self, name: &str) -> Option<&str> {
        self.params.text(name)
    }

    /// Cuts this request's page out of `items`, sorted as `order` says.
    pub fn page<T, K, A>(&self, items: Vec<T>, order: Order<K, A>) -> Page<T>
    where
        K: Fn(&T) -> String,
        A: Fn(&T, &str) -> bool,
    {
        page(items, order, &self.paging, &self.keys, self.scope())
    }

    /// The cursor of the page after the one that ends at `after`.
    pub fn cursor_after(&self, after: &str) -> String {
        seal(&self.keys, self.scope(), after)
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            org: &self.org,
            query: &self.query,
        }
    }
}

const PAGE_PARAMETERS: [&str; 2] = ["limit", "cursor"];

/// `limit` and `cursor` as every list route documents them.
pub struct PageParams;

impl IntoParams for PageParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            optional_query_parameter("limit", "Page size, 1-100, default 20", Type::Integer),
            optional_query_parameter("cursor", "nextCursor of the previous page", Type::String),
        ]
    }
}

/// How a list is ordered: each item's unique cursor key, and whether an item comes after a key.
pub struct Order<K, A> {
    pub key: K,
    pub is_after: A,
}

/// Cuts the page out of `items`, which must be sorted as `order` says.
fn page<T, K, A>(
    items: Vec<T>,
    order: Order<K, A>,
    paging: &Paging,
    keys: &KeySet,
    scope: Scope<'_>,
) -> Page<T>
where
    K: Fn(&T) -> String,
    A: Fn(&T, &str) -> bool,
{
    let Order { key, is_after } = order;
    let mut remaining = items
        .into_iter()
        .filter(|item| {
            paging
                .after
                .as_deref()
                .is_none_or(|after| is_after(item, after))
        })
        .peekable();
    let mut page = Vec::with_capacity(paging.limit);
    while page.len() < paging.limit {
        match remaining.next() {
            Some(item) => page.push(item),
            None => break,
        }
    }
    let next_cursor = match (remaining.peek(), page.last()) {
        (Some(_), Some(last)) => Some(seal(keys, scope, &key(last))),
        _ => None,
    };
    Page {
        items: page,
        next_cursor,
    }
}

fn cursor_key(key: &[u8]) -> hmac::Key {
    let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), CURSOR_KEY_LABEL);
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

fn seal(keys: &KeySet, scope: Scope<'_>, after: &str) -> String {
    let body = CursorBody {
        kid: keys.active_kid().to_string(),
        org: scope.org.to_string(),
        query: scope.query.to_string(),
        after: after.to_string(),
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default());
    let tag = hmac::sign(&cursor_key(keys.active_key()), payload.as_bytes());
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn open(keys: &KeySet, scope: Scope<'_>, cursor: &str) -> Result<String, ApiError> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(ApiError::InvalidCursor);
    }
    let (payload, tag) = cursor.split_once('.').ok_or(ApiError::InvalidCursor)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| ApiError::InvalidCursor)?;
    let body: CursorBody = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(ApiError::InvalidCursor)?;
    let key = keys.key(&body.kid).ok_or(ApiError::InvalidCursor)?;
    hmac::verify(&cursor_key(key), payload.as_bytes(), &tag)
        .map_err(|_| ApiError::InvalidCursor)?;
    if body.org != scope.org || body.query != scope.query {
        return Err(ApiError::InvalidCursor);
    }
    Ok(body.after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeySet {
        KeySet::parse(r#"{"active":"k1","k1":"0123456789abcdef0123456789abcdef"}"#).unwrap()
    }

    const SCOPE: Scope<'static> = Scope {
        org: "acme",
        query: "plugins?category=build",
    };

    #[test]
    fn pages_through_every_item_once() {
        let items: Vec<String> = (0..7).map(|i| format!("p{i}")).collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let paging = paging(&keys(), SCOPE, Some(3), cursor.as_deref()).unwrap();
            let order = Order {
                key: Clone::clone,
                is_after: |item: &String, after: &str| item.as_str() > after,
            };
            let page = page(items.clone(), order, &paging, &keys(), SCOPE);
            seen.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn refuses_tampered_foreign_and_requery_cursors() {
        let cursor = seal(&keys(), SCOPE, "p2");
        assert_eq!(open(&keys(), SCOPE, &cursor).unwrap(), "p2");
        let other_org = Scope {
            org: "globex",
            ..SCOPE
        };
        assert!(matches!(
            open(&keys(), other_org, &cursor),
            Err(ApiError::InvalidCursor)
        ));
        let other_query = Scope {
            query: "plugins?",
            ..SCOPE
        };
        assert!(matches!(
            open(&keys(), other_query, &cursor),
            Err(ApiError::InvalidCursor)
        ));
        let forged_body = URL_SAFE_NO_PAD
            .encode(br#"{"k":"k1","o":"acme","q":"plugins?category=build","a":"p9"}"#);
        let (_, tag) = cursor.split_once('.').unwrap();
        let forged = format!("{forged_body}.{tag}");
        assert!(matches!(
            open(&keys(), SCOPE, &forged),
            Err(ApiError::InvalidCursor)
        ));
        for garbage in ["", "x", "a.b", "....", &"a".repeat(5000)] {
            assert!(matches!(
                open(&keys(), SCOPE, garbage),
                Err(ApiError::InvalidCursor)
            ));
        }
    }

    #[test]
    fn limits_the_page_size() {
        assert_eq!(
            paging(&keys(), SCOPE, None, None).unwrap().limit,
            DEFAULT_PAGE_SIZE
        );
        for bad in [0, MAX_PAGE_SIZE + 1] {
            assert!(matches!(
                paging(&keys(), SCOPE, Some(bad), None),
                Err(ApiError::InvalidParameter { name, .. }) if name == "limit"
            ));
        }
    }
}
