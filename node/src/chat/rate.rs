//! Rate limits (token buckets, through `governor`): one per connection on every event, and
//! one per user on sending messages, whichever way they come. Exceeding either gets
//! `rate_limited` and changes nothing.

use std::num::NonZeroU32;

use confab_protocol::chat::ErrorCode;
use governor::{DefaultKeyedRateLimiter, Quota};

use super::ChatError;

/// A rate and the burst allowed above it.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed at once.
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let per_second = NonZeroU32::new(self.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::per_second(per_second).allow_burst(burst)
    }
}

/// The node's rate limiters.
#[derive(Debug)]
pub struct RateLimits {
    connections: DefaultKeyedRateLimiter<String>,
    senders: DefaultKeyedRateLimiter<String>,
}

impl RateLimits {
    /// Limits of `events` per connection and `messages` per user.
    pub fn new(events: Rate, messages: Rate) -> Self {
        Self {
            connections: DefaultKeyedRateLimiter::keyed(events.quota()),
            senders: DefaultKeyedRateLimiter::keyed(messages.quota()),
        }
    }

    fn refused() -> ChatError {
        metrics::counter!("confab_rate_limited_total").increment(1);
        ChatError::new(ErrorCode::RateLimited, "too many requests; slow down")
    }

    /// Takes one event from connection `id`'s bucket.
    pub fn check_connection(&self, id: &str) -> Result<(), ChatError> {
        self.connections
            .check_key(&id.to_owned())
            .map_err(|_| Self::refused())
    }

    /// Takes one message from user `id`'s bucket.
    pub fn check_sender(&self, id: &str) -> Result<(), ChatError> {
        self.senders
            .check_key(&id.to_owned())
            .map_err(|_| Self::refused())
    }

    /// Forgets the buckets that are full again (called now and then, so keys of gone
    /// connections do not pile up).
    pub fn forget_idle(&self) {
        self.connections.retain_recent();
        self.senders.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_and_the_next_request_is_refused() {
        let limits = RateLimits::new(
            Rate {
                per_second: 1,
                burst: 3,
            },
            Rate {
                per_second: 1,
                burst: 1,
            },
        );
        for _ in 0..3 {
            assert!(limits.check_connection("c1").is_ok());
        }
        let refused = limits.check_connection("c1").unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert!(
            limits.check_connection("c2").is_ok(),
            "buckets are per connection"
        );
        assert!(limits.check_sender("u1").is_ok());
        assert!(limits.check_sender("u1").is_err());
    }
}
