//! The HTTP client: one method per kind of call, each answer checked once, here.

use std::time::Duration;

use pb_domain::causes::with_causes;
use pb_domain::wire::problem::Problem;
use reqwest::header::{ACCEPT, CONTENT_TYPE, ETAG, IF_MATCH};
use reqwest::{Method, RequestBuilder, Response, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ApiFailure, CliError};

const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: String,
}

/// A typed answer and its `ETag`, for writes that must not overwrite a change.
pub struct Tagged<T> {
    pub value: T,
    pub etag: Option<String>,
}

impl Api {
    pub fn new(url: &str, token: &str) -> Result<Api, CliError> {
        let base = parse_base_url(url)?;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("pb/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| CliError::Usage(format!("cannot set up the HTTP client: {error}")))?;
        Ok(Api {
            http,
            base,
            token: token.to_string(),
        })
    }

    /// `segments` are path segments, each percent-encoded: a name cannot reach another route.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, CliError> {
        let url = self.url(segments, query);
        let response = self.send(self.request(Method::GET, url.clone())).await?;
        read_json(url, response).await
    }

    pub async fn get_tagged<T: DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<Tagged<T>, CliError> {
        let url = self.url(segments, &[]);
        let response = self.send(self.request(Method::GET, url.clone())).await?;
        let etag = etag_of(&response);
        Ok(Tagged {
            value: read_json(url, response).await?,
            etag,
        })
    }

    /// The body as text, asking for `accept`.
    pub async fn get_text(&self, segments: &[&str], accept: &str) -> Result<String, CliError> {
        let url = self.url(segments, &[]);
        let response = self
            .send(
                self.request(Method::GET, url.clone())
                    .header(ACCEPT, accept),
            )
            .await?;
        response
            .text()
            .await
            .map_err(|error| unexpected(&url, error))
    }

    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, CliError> {
        let url = self.url(segments, &[]);
        let response = self
            .send(self.request(Method::POST, url.clone()).json(body))
            .await?;
        read_json(url, response).await
    }

    /// Posts a YAML document as written, so the server reports positions in the user's file.
    pub async fn post_yaml<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        yaml: String,
    ) -> Result<T, CliError> {
        let url = self.url(segments, &[]);
        let request = self
            .request(Method::POST, url.clone())
            .header(CONTENT_TYPE, "application/yaml")
            .body(yaml);
        let response = self.send(request).await?;
        read_json(url, response).await
    }

    pub async fn put_if_match<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        etag: &str,
        body: &B,
    ) -> Result<Tagged<T>, CliError> {
        let url = self.url(segments, &[]);
        let request = self
            .request(Method::PUT, url.clone())
            .header(IF_MATCH, etag)
            .json(body);
        let response = self.send(request).await?;
        let etag = etag_of(&response);
        Ok(Tagged {
            value: read_json(url, response).await?,
            etag,
        })
    }

    pub async fn delete(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<(), CliError> {
        let url = self.url(segments, query);
        self.send(self.request(Method::DELETE, url)).await?;
        Ok(())
    }

    /// Every page of a list: `items` of each, following `nextCursor`.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Vec<T>, CliError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut page_query = query.to_vec();
            if let Some(cursor) = cursor.take() {
                page_query.push(("cursor", cursor));
            }
            let page: ListPage<T> = self.get(segments, &page_query).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http.request(method, url).bearer_auth(&self.token)
    }

    async fn send(&self, request: RequestBuilder) -> Result<Response, CliError> {
        let response = request.send().await.map_err(|error| CliError::Network {
            url: self.base.to_string(),
            reason: with_causes(&error),
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let problem = serde_json::from_str::<Problem>(&body).ok();
        Err(CliError::Api(Box::new(ApiFailure {
            status,
            problem,
            body,
        })))
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage<T> {
    items: Vec<T>,
    #[serde(default)]
    next_cursor: Option<String>,
}

pub fn parse_base_url(url: &str) -> Result<Url, CliError> {
    let parsed = Url::parse(url)
        .map_err(|error| CliError::Usage(format!("'{url}' is not a URL: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(CliError::Usage(format!(
            "'{url}' is not an http(s) URL with a host"
        )));
    }
    Ok(parsed)
}

fn etag_of(response: &Response) -> Option<String> {
    response
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn read_json<T: DeserializeOwned>(url: Url, response: Response) -> Result<T, CliError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|error| unexpected(&url, error))?;
    serde_json::from_slice(&bytes).map_err(|error| unexpected(&url, error))
}

fn unexpected(url: &Url, error: impl std::fmt::Display) -> CliError {
    CliError::UnexpectedAnswer {
        url: url.to_string(),
        reason: error.to_string(),
    }
}
