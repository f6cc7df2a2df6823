//! Waiting for a condition with a deadline, and finding free ports.
//!
//! Tests never sleep a fixed time: they poll the condition they care about until it holds or
//! the deadline passes, and the deadline failing is the test failing.

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// How often a condition is polled.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// A free TCP port on 127.0.0.1, found by binding port 0 and releasing it.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Polls `check` until it returns `Some`, or fails with `what` once `within` has passed.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The blocking twin of [`eventually`], for code that runs outside a runtime.
pub(crate) fn eventually_blocking<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {within:?} waiting for {what}");
        }
        std::thread::sleep(POLL_EVERY);
    }
}
