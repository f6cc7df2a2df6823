//! Rate limits (token buckets, through `governor`). Exceeding one gets `rate_limited` (over
//! HTTP 429 with `Retry-After`) and changes nothing.
//!
//! The buckets are keyed by what a client cannot renew at will:
//! - every Socket.IO event and CONNECT takes from its Engine.IO session's bucket and from
//!   its user's (a DISCONNECT and CONNECT on the same session keeps the session's bucket,
//!   and more connections do not give a user more events); a CONNECT costs
//!   [`CONNECT_COST`] events, since it checks a token, registers the user in the directory,
//!   loads their groups and announces their presence;
//! - messages take from the sender's bucket, whichever way they come;
//! - mutating HTTP requests take from the caller's bucket;
//! - logins and registrations take from the client address's bucket and, for logins, the
//!   username's, so that neither one address nor many can guess one password quickly;
//! - group creations and member additions take from the user's bucket of group changes.

use std::num::NonZeroU32;
use std::time::Duration;

use confab_protocol::chat::ErrorCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota};

use super::ChatError;

/// What a CONNECT costs, in events.
pub const CONNECT_COST: u32 = 10;

/// A rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests granted per `per`, sustained.
    pub count: u32,
    /// The period `count` is granted over.
    pub per: Duration,
    /// Requests allowed at once.
    pub burst: u32,
}

impl Rate {
    /// `count` a second, `burst` at once.
    pub fn per_second(count: u32, burst: u32) -> Self {
        Self {
            count,
            per: Duration::from_secs(1),
            burst,
        }
    }

    /// `count` a minute, `burst` at once.
    pub fn per_minute(count: u32, burst: u32) -> Self {
        Self {
            count,
            per: Duration::from_secs(60),
            burst,
        }
    }

    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = self.per / self.count.max(1);
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// Every limit of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Socket.IO events per Engine.IO session.
    pub session_events: Rate,
    /// Socket.IO events per user, all sessions together.
    pub user_events: Rate,
    /// Messages per user, all connections and HTTP together.
    pub messages: Rate,
    /// Mutating HTTP requests per user.
    pub http_writes: Rate,
    /// Logins and registrations per client address.
    pub auth_per_address: Rate,
    /// Logins per username.
    pub logins_per_username: Rate,
    /// Group creations and member additions per user.
    pub group_changes: Rate,
}

/// The node's rate limiters.
#[derive(Debug)]
pub struct RateLimits {
    sessions: DefaultKeyedRateLimiter<String>,
    users: DefaultKeyedRateLimiter<String>,
    senders: DefaultKeyedRateLimiter<String>,
    http_writers: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<String>,
    usernames: DefaultKeyedRateLimiter<String>,
    group_changes: DefaultKeyedRateLimiter<String>,
}

impl RateLimits {
    /// The limiters of `limits`.
    pub fn new(limits: Limits) -> Self {
        let keyed = |rate: Rate| DefaultKeyedRateLimiter::keyed(rate.quota());
        Self {
            sessions: keyed(limits.session_events),
            users: keyed(limits.user_events),
            senders: keyed(limits.messages),
            http_writers: keyed(limits.http_writes),
            addresses: keyed(limits.auth_per_address),
            usernames: keyed(limits.logins_per_username),
            group_changes: keyed(limits.group_changes),
        }
    }

    /// Takes one event from Engine.IO session `session`'s bucket and from user `user`'s.
    pub fn check_event(&self, session: &str, user: &str) -> Result<(), ChatError> {
        take(&self.sessions, session, 1)?;
        take(&self.users, user, 1)
    }

    /// Takes a CONNECT ([`CONNECT_COST`] events) from `session`'s bucket and `user`'s.
    pub fn check_connect(&self, session: &str, user: &str) -> Result<(), ChatError> {
        take(&self.sessions, session, CONNECT_COST)?;
        take(&self.users, user, CONNECT_COST)
    }

    /// Takes one message from user `id`'s bucket.
    pub fn check_sender(&self, id: &str) -> Result<(), ChatError> {
        take(&self.senders, id, 1)
    }

    /// Takes one mutating HTTP request from user `id`'s bucket.
    pub fn check_http_write(&self, id: &str) -> Result<(), ChatError> {
        take(&self.http_writers, id, 1)
    }

    /// Takes one login or registration from client `address`'s bucket and, when given,
    /// one login from `username`'s.
    pub fn check_auth(&self, address: &str, username: Option<&str>) -> Result<(), ChatError> {
        take(&self.addresses, address, 1)?;
        match username {
            Some(username) => take(&self.usernames, username, 1),
            None => Ok(()),
        }
    }

    /// Takes one group creation or member addition from user `id`'s bucket.
    pub fn check_group_change(&self, id: &str) -> Result<(), ChatError> {
        take(&self.group_changes, id, 1)
    }

    /// Forgets the buckets that are full again (called now and then, so keys of gone
    /// connections do not pile up).
    pub fn forget_idle(&self) {
        for limiter in [
            &self.sessions,
            &self.users,
            &self.senders,
            &self.http_writers,
            &self.addresses,
            &self.usernames,
            &self.group_changes,
        ] {
            limiter.retain_recent();
        }
    }
}

/// Takes `cost` tokens from `key`'s bucket of `limiter`, or says how long to wait.
fn take(limiter: &DefaultKeyedRateLimiter<String>, key: &str, cost: u32) -> Result<(), ChatError> {
    let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
    match limiter.check_key_n(&key.to_owned(), cost) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => Err(refused(Some(not_until))),
        // More than the burst: never granted at once.
        Err(_) => Err(refused(None)),
    }
}

fn refused(not_until: Option<NotUntil<<DefaultClock as Clock>::Instant>>) -> ChatError {
    metrics::counter!("confab_rate_limited_total").increment(1);
    let wait = not_until.map(|not_until| not_until.wait_time_from(DefaultClock::default().now()));
    ChatError::new(ErrorCode::RateLimited, "too many requests; slow down").retry_after(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RateLimits {
        RateLimits::new(Limits {
            session_events: Rate::per_second(1, 12),
            user_events: Rate::per_second(1, 30),
            messages: Rate::per_second(1, 1),
            http_writes: Rate::per_second(1, 1),
            auth_per_address: Rate::per_minute(1, 3),
            logins_per_username: Rate::per_minute(1, 2),
            group_changes: Rate::per_minute(1, 1),
        })
    }

    #[test]
    fn a_burst_passes_and_the_next_request_is_refused_with_a_wait() {
        let limits = limits();
        assert!(limits.check_connect("s1", "u1").is_ok());
        assert!(limits.check_event("s1", "u1").is_ok());
        assert!(limits.check_event("s1", "u1").is_ok());
        let refused = limits.check_event("s1", "u1").unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert!(
            refused
                .retry_after
                .is_some_and(|wait| wait <= Duration::from_secs(1))
        );
        assert!(limits.check_sender("u1").is_ok());
        assert!(limits.check_sender("u1").is_err());
    }

    #[test]
    fn a_new_connect_on_the_same_session_does_not_refill_it() {
        let limits = limits();
        assert!(limits.check_connect("s1", "u1").is_ok());
        // DISCONNECT, CONNECT again on the same Engine.IO session: the same bucket.
        assert!(limits.check_connect("s1", "u1").is_err());
    }

    #[test]
    fn more_sessions_do_not_give_a_user_more_events() {
        let limits = limits();
        for session in ["s1", "s2", "s3"] {
            assert!(limits.check_connect(session, "u1").is_ok());
        }
        assert!(
            limits.check_event("s4", "u1").is_err(),
            "the user's 30 are gone"
        );
        assert!(limits.check_event("s4", "u2").is_ok());
    }

    #[test]
    fn logins_are_limited_per_address_and_per_username() {
        let limits = limits();
        assert!(limits.check_auth("10.0.0.1", Some("alice")).is_ok());
        assert!(limits.check_auth("10.0.0.2", Some("alice")).is_ok());
        assert!(
            limits.check_auth("10.0.0.3", Some("alice")).is_err(),
            "many addresses, one username"
        );
        assert!(limits.check_auth("10.0.0.1", None).is_ok());
        assert!(limits.check_auth("10.0.0.1", None).is_ok());
        let refused = limits.check_auth("10.0.0.1", None).unwrap_err();
        assert!(
            refused
                .retry_after
                .is_some_and(|wait| wait > Duration::from_secs(1))
        );
    }
}
