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

/// A connection to a server listening on `port` of 127.0.0.1, or `None`.
///
/// Polling a port nobody listens on yet can connect the socket to itself: the kernel may
/// pick the very port (it came from the ephemeral range) as the connection's own, and a TCP
/// simultaneous open succeeds. Such a connection is no server, and it holds the port the
/// server then fails to bind; it is dropped and counts as nothing listening.
pub async fn connect_to_server(port: u16) -> Option<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let to_itself = stream.local_addr().ok()? == stream.peer_addr().ok()?;
    (!to_itself).then_some(stream)
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
