//! `raw-ws`: the transport ceiling Confab's benchmarks compare against.
//!
//! A minimal WebSocket server that speaks just enough Engine.IO v4 / Socket.IO v5 for
//! `confab-loadtest --target raw`: no accounts (the auth token is the user id), no
//! storage, no cluster, no chat rules; it forwards messages to users and groups and acks
//! them. It runs on one thread (tokio's current-thread runtime), encodes each outgoing
//! message once and writes many frames per flush, so what it spends per delivery is about
//! what the transport alone costs on this machine. See `connection.rs` for the events.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::task::LocalSet;

mod connection;
mod hub;

use connection::{Heartbeat, SharedHub};

/// How long to wait after a failed accept before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Debug, Parser)]
#[command(name = "raw-ws", about, version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// Milliseconds between two Engine.IO pings.
    #[arg(long, default_value_t = 25_000)]
    ping_interval_ms: u64,
    /// Milliseconds a pong may take.
    #[arg(long, default_value_t = 20_000)]
    ping_timeout_ms: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let heartbeat = Heartbeat {
        interval: Duration::from_millis(cli.ping_interval_ms),
        timeout: Duration::from_millis(cli.ping_timeout_ms),
    };
    let listener = TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    println!("raw-ws listening on {}", listener.local_addr()?);
    LocalSet::new().run_until(accept(listener, heartbeat)).await
}

/// Accepts connections forever, each served by its own task on this thread.
async fn accept(listener: TcpListener, heartbeat: Heartbeat) -> Result<()> {
    let hub = SharedHub::new(RefCell::new(hub::Hub::default()));
    let mut sessions: u64 = 0;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, most likely: wait for some to close.
                eprintln!("accept: {error}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Many small frames: do not wait to coalesce them (the writer batches already).
        let _ = stream.set_nodelay(true);
        sessions += 1;
        let sid = format!("s{sessions}");
        tokio::task::spawn_local(connection::serve(stream, Rc::clone(&hub), sid, heartbeat));
    }
}
