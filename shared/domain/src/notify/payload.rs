//! What a delivery sends: the platform's JSON document, or a Slack incoming-webhook message.

use serde_json::{json, Value};

use super::notices::bounded;
use super::Delivery;

/// A notice's detail larger than this is left out of the JSON document (SNS takes 256 KiB a
/// message, and a receiver should never have to read megabytes).
pub const MAX_DETAIL_BYTES: usize = 64 * 1024;
/// Slack refuses a section's or a message's text beyond 3000 characters.
pub const MAX_SLACK_TEXT_CHARS: usize = 3000;

/// The platform's own document (its schema is in the README).
pub fn json_payload(delivery: &Delivery) -> Value {
    let notice = &delivery.notice;
    json!({
        "deliveryId": delivery.delivery_id,
        "outcome": notice.outcome.as_str(),
        "org": notice.org,
        "pipelineId": notice.pipeline_id,
        "occurredAt": notice.occurred_at,
        "summary": notice.summary,
        "detail": bounded_detail(&notice.detail),
        "test": delivery.test,
    })
}

fn bounded_detail(detail: &Value) -> Value {
    let size = serde_json::to_string(detail).map_or(usize::MAX, |s| s.len());
    if size <= MAX_DETAIL_BYTES {
        detail.clone()
    } else {
        json!({ "omitted": format!("the detail is larger than {MAX_DETAIL_BYTES} bytes") })
    }
}

/// A Slack incoming-webhook message: `text` for notifications, `blocks` for the channel.
pub fn slack_payload(delivery: &Delivery) -> Value {
    let notice = &delivery.notice;
    let marker = if delivery.test { "[test] " } else { "" };
    let text = bounded(
        &format!("{marker}{}", slack_escape(&notice.summary)),
        MAX_SLACK_TEXT_CHARS,
    );
    let headline = bounded(
        &format!(
            "{marker}*{}*: {}",
            notice.outcome.as_str(),
            slack_escape(&notice.summary)
        ),
        MAX_SLACK_TEXT_CHARS,
    );
    let pipeline = notice
        .pipeline_id
        .as_deref()
        .map(|p| format!(" · pipeline `{}`", slack_escape(p)))
        .unwrap_or_default();
    let context = bounded(
        &format!(
            "org `{}`{pipeline} · {} · delivery {}",
            slack_escape(&notice.org),
            slack_escape(&notice.occurred_at),
            delivery.delivery_id
        ),
        MAX_SLACK_TEXT_CHARS,
    );
    json!({
        "text": text,
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": headline } },
            { "type": "context", "elements": [ { "type": "mrkdwn", "text": context } ] },
        ],
    })
}

/// Slack reads `<…>` as links and mentions (`<!channel>`): text from events is escaped the way
/// Slack asks, so it is shown and never acted on.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
