//! What became of one delivery, and when a failed one is tried again.

/// A delivery is tried at most this many times before it is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 5;
const FIRST_DELAY_SECONDS: i32 = 30;
/// SQS's longest message delay.
const MAX_DELAY_SECONDS: i32 = 900;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Sent back to the queue as attempt `attempt`, received after `delay_seconds`.
    Retrying {
        attempt: u32,
        delay_seconds: i32,
    },
    DeadLettered {
        reason: &'static str,
    },
    /// Its subscription is gone: nobody asks for it any more.
    Dropped,
    /// Not tried: the invocation had no time left for it. Back on the queue as it was.
    Deferred,
}

/// How long after failed attempt `failed_attempt` (1 for the first) the next one is made:
/// 30 s, doubled each time, at most SQS's 15 minutes.
pub fn retry_delay_seconds(failed_attempt: u32) -> i32 {
    let doublings = failed_attempt.saturating_sub(1).min(10);
    (FIRST_DELAY_SECONDS << doublings).min(MAX_DELAY_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_from_thirty_seconds_up_to_fifteen_minutes() {
        let delays: Vec<i32> = (1..=7).map(retry_delay_seconds).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(retry_delay_seconds(u32::MAX), 900);
    }
}
