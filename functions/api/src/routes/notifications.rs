//! Notification subscriptions (`/api/notifications…`): which outcomes of which of the org's
//! pipelines go to which SNS topic or signed HTTPS webhook. The notify function delivers them;
//! `…/test` sends it a sample.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pb_aws::stacks::ORG_TAG;
use pb_domain::notify::{
    check_subscription, Channel, ChannelRequest, Format, Outcome, Subscription,
    SubscriptionRequest, MAX_SUBSCRIPTIONS_PER_ORG,
};
use pb_domain::plugin::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Authorized, Caller, NotificationsRead, NotificationsWrite};
use crate::body::JsonBody;
use crate::paging::{ListRequest, Order, Page, PageParams};
use crate::params::{PathParams, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::routes::compliance::new_id;
use crate::routes::plugins::now_rfc3339;
use crate::services::notifications::{channel_policy, forget_secret, send_sample, store_secret};
use crate::state::AppState;

/// A channel as the API shows it: never the webhook's secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ChannelView {
    #[serde(rename_all = "camelCase")]
    Sns { topic_arn: String },
    #[serde(rename_all = "camelCase")]
    Webhook {
        url: String,
        format: Format,
        /// Always true: the secret is kept in Secrets Manager and never returned.
        /// (The URL shows its host only: a chat webhook's path is a credential too.)
        secret_set: bool,
    },
}

/// Which pipelines' events a subscription hears about; neither set: all of the org's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilterView {
    /// The pipeline's id (`pipelineId` in the request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    pub id: String,
    pub name: String,
    pub filter: FilterView,
    pub outcomes: BTreeSet<Outcome>,
    pub channel: ChannelView,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionList {
    pub items: Vec<SubscriptionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SampleQueued {
    /// The delivery id the sample carries (`x-pb-delivery` on a webhook).
    pub delivery_id: String,
}

fn view(subscription: Subscription) -> SubscriptionView {
    SubscriptionView {
        id: subscription.id,
        name: subscription.name,
        filter: FilterView {
            pipeline: subscription.pipeline_id,
            project: subscription.project,
        },
        outcomes: subscription.outcomes,
        channel: match subscription.channel {
            Channel::Sns { topic_arn } => ChannelView::Sns { topic_arn },
            Channel::Webhook { url, format, .. } => ChannelView::Webhook {
                url: masked(&url),
                format,
                secret_set: true,
            },
        },
        created_at: subscription.created_at,
        created_by: subscription.created_by,
        updated_at: subscription.updated_at,
    }
}

/// A webhook URL as answers show it: scheme and host, the rest elided.
fn masked(url: &str) -> String {
    let Some(rest) = url.strip_prefix("https://") else {
        return "…".into();
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if path.is_empty() {
        format!("https://{authority}")
    } else {
        format!("https://{authority}/…")
    }
}

/// An SNS topic must be tagged for the org (`pipeline-builder:org`) by whoever runs the platform:
/// within the platform's account, that tag is what makes a topic one org's and not another's.
async fn check_topic_owner(state: &AppState, org: &str, topic_arn: &str) -> Result<(), ApiError> {
    if state.topics.owner_org(topic_arn).await?.as_deref() == Some(org) {
        return Ok(());
    }
    Err(ApiError::Validation(vec![FieldError {
        field: "channel.topicArn".into(),
        message: format!(
            "no topic tagged {ORG_TAG}={org}: the platform's operator sets the tag on the org's topics"
        ),
    }]))
}

/// The subscription `request` describes, its webhook secret (if any) already stored.
async fn subscription(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request: SubscriptionRequest,
    created: Option<(String, String)>,
) -> Result<Subscription, ApiError> {
    check_subscription(&request, &channel_policy(state)).map_err(ApiError::Validation)?;
    let channel = match request.channel {
        ChannelRequest::Sns { topic_arn } => {
            check_topic_owner(state, caller.org(), &topic_arn).await?;
            Channel::Sns { topic_arn }
        }
        ChannelRequest::Webhook {
            url,
            secret,
            format,
        } => Channel::Webhook {
            url,
            format,
            secret_id: store_secret(state, caller.org(), id, &secret).await?,
        },
    };
    let now = now_rfc3339();
    let (created_at, created_by) = created.unwrap_or((now.clone(), caller.claims.sub.clone()));
    Ok(Subscription {
        id: id.to_string(),
        org: caller.org().to_string(),
        name: request.name.trim().to_string(),
        pipeline_id: request.pipeline_id,
        project: request.project,
        outcomes: request.outcomes.into_iter().collect(),
        channel,
        created_at,
        created_by,
        updated_at: now,
    })
}

async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Subscription, ApiError> {
    state
        .subscriptions
        .get(caller.org(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("subscription {id}")))
}

/// Subscribes a channel to outcomes of the org's pipelines (all of them, one pipeline, or one
/// project's). A webhook's `secret` signs every delivery; it is stored in Secrets Manager and
/// never returned.
#[utoipa::path(post, path = "/api/notifications", tag = "notifications", operation_id = "create_subscription",
    request_body = SubscriptionRequest,
    responses(
        (status = 201, body = SubscriptionView, headers(("Location" = String))),
        (status = 409, body = Problem, description = "The org already has the most subscriptions allowed"),
        (status = 422, body = Problem),
    ),
    security(("bearer" = ["notifications:write"])))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<NotificationsWrite>,
    JsonBody(request): JsonBody<SubscriptionRequest>,
) -> Result<Response, ApiError> {
    if state.subscriptions.list(caller.org()).await?.len() >= MAX_SUBSCRIPTIONS_PER_ORG {
        return Err(ApiError::Conflict(format!(
            "an org holds at most {MAX_SUBSCRIPTIONS_PER_ORG} subscriptions; delete one first"
        )));
    }
    let id = new_id("ntf")?;
    let subscription = subscription(&state, &caller, &id, request, None).await?;
    state.subscriptions.put(&subscription, true).await?;
    let location = format!("/api/notifications/{id}");
    let mut response = (StatusCode::CREATED, Json(view(subscription))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The org's subscriptions, by id.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", operation_id = "list_subscriptions",
    params(PageParams),
    responses((status = 200, body = SubscriptionList), (status = 400, body = Problem)),
    security(("bearer" = ["notifications:read"])))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<NotificationsRead>,
    params: QueryParams,
) -> Result<Json<SubscriptionList>, ApiError> {
    let list = ListRequest::read(&state, caller.org(), params, "notifications", &[]).await?;
    let mut subscriptions = state.subscriptions.list(caller.org()).await?;
    subscriptions.sort_by(|a, b| a.id.cmp(&b.id));
    let order = Order {
        key: |s: &Subscription| s.id.clone(),
        is_after: |s: &Subscription, after: &str| s.id.as_str() > after,
    };
    let Page { items, next_cursor } = list.page(subscriptions, order);
    Ok(Json(SubscriptionList {
        items: items.into_iter().map(view).collect(),
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/notifications/{id}", tag = "notifications", operation_id = "get_subscription",
    params(("id" = String, Path)),
    responses((status = 200, body = SubscriptionView), (status = 404, body = Problem)),
    security(("bearer" = ["notifications:read"])))]
pub async fn get(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<NotificationsRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<SubscriptionView>, ApiError> {
    Ok(Json(view(owned(&state, &caller, &id).await?)))
}

/// Replaces a subscription (a webhook's secret is given again, and replaces the stored one).
#[utoipa::path(put, path = "/api/notifications/{id}", tag = "notifications", operation_id = "replace_subscription",
    params(("id" = String, Path)),
    request_body = SubscriptionRequest,
    responses((status = 200, body = SubscriptionView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = ["notifications:write"])))]
pub async fn replace(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<NotificationsWrite>,
    PathParams(id): PathParams<String>,
    JsonBody(request): JsonBody<SubscriptionRequest>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let current = owned(&state, &caller, &id).await?;
    let created = (current.created_at.clone(), current.created_by.clone());
    let replaced = subscription(&state, &caller, &id, request, Some(created)).await?;
    if !state.subscriptions.put(&replaced, false).await? {
        return Err(ApiError::NotFound(format!("subscription {id}")));
    }
    if let (Channel::Webhook { .. }, Channel::Sns { .. }) = (&current.channel, &replaced.channel) {
        forget_secret(&state, &current).await?;
    }
    Ok(Json(view(replaced)))
}

/// Deletes a subscription and its webhook secret.
#[utoipa::path(delete, path = "/api/notifications/{id}", tag = "notifications", operation_id = "delete_subscription",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)),
    security(("bearer" = ["notifications:write"])))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<NotificationsWrite>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let current = owned(&state, &caller, &id).await?;
    if !state.subscriptions.delete(caller.org(), &id).await? {
        return Err(ApiError::NotFound(format!("subscription {id}")));
    }
    forget_secret(&state, &current).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends the subscription a sample notice (`test: true`) through the notify function, as a
/// real one would go: 202 once it is queued.
#[utoipa::path(post, path = "/api/notifications/{id}/test", tag = "notifications", operation_id = "test_subscription",
    params(("id" = String, Path)),
    responses((status = 202, body = SampleQueued), (status = 404, body = Problem)),
    security(("bearer" = ["notifications:write"])))]
pub async fn test(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<NotificationsWrite>,
    PathParams(id): PathParams<String>,
) -> Result<(StatusCode, Json<SampleQueued>), ApiError> {
    let subscription = owned(&state, &caller, &id).await?;
    let delivery_id = send_sample(&state, &subscription).await?;
    Ok((StatusCode::ACCEPTED, Json(SampleQueued { delivery_id })))
}
