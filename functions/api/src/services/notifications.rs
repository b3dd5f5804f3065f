//! What the notification routes share: where a channel may point, the webhook secrets kept in
//! Secrets Manager, and the sample a test sends through the notify function's queue.

use pb_domain::notify::{Channel, ChannelPolicy, Delivery, Notice, Subscription};
use serde_json::json;

use crate::problem::ApiError;
use crate::routes::compliance::new_id;
use crate::routes::plugins::now_rfc3339;
use crate::state::AppState;

/// SNS topics must be in the platform's own account: the account of its pipeline stack role.
pub fn channel_policy(state: &AppState) -> ChannelPolicy {
    let account = state
        .config
        .deploy
        .stack_role_arn
        .split(':')
        .nth(4)
        .unwrap_or_default()
        .to_string();
    ChannelPolicy {
        account,
        webhook_hosts: state.config.webhook_allowed_hosts.clone(),
    }
}

fn secret_name(state: &AppState, org: &str, subscription_id: &str) -> String {
    format!(
        "{}/{org}/webhooks/{subscription_id}",
        state.config.platform_secret_prefix
    )
}

/// Stores (or replaces) a webhook's signing secret; its Secrets Manager name.
pub async fn store_secret(
    state: &AppState,
    org: &str,
    subscription_id: &str,
    secret: &str,
) -> Result<String, ApiError> {
    let name = secret_name(state, org, subscription_id);
    state.secrets.write(&name, secret).await?;
    Ok(name)
}

/// Deletes the webhook secret a subscription held, if it held one.
pub async fn forget_secret(state: &AppState, subscription: &Subscription) -> Result<(), ApiError> {
    if let Channel::Webhook { .. } = subscription.channel {
        let name = secret_name(state, &subscription.org, &subscription.id);
        state.secrets.delete(&name).await?;
    }
    Ok(())
}

/// Queues a sample delivery for the notify function; its delivery id.
pub async fn send_sample(
    state: &AppState,
    subscription: &Subscription,
) -> Result<String, ApiError> {
    let delivery_id = new_id("test")?;
    let outcome = subscription
        .outcomes
        .iter()
        .next()
        .copied()
        .ok_or(ApiError::Internal)?;
    let delivery = Delivery {
        delivery_id: delivery_id.clone(),
        subscription_id: subscription.id.clone(),
        notice: Notice {
            event_id: delivery_id.clone(),
            org: subscription.org.clone(),
            outcome,
            pipeline_id: subscription.pipeline_id.clone(),
            occurred_at: now_rfc3339(),
            summary: "A test notification from pipeline-builder: this subscription works".into(),
            detail: json!({"test": true}),
        },
        attempt: 1,
        test: true,
    };
    let body = serde_json::to_string(&delivery).map_err(|_| ApiError::Internal)?;
    state.deliveries.send(&body).await?;
    Ok(delivery_id)
}
