//! `confab-loadtest`: drives a Confab node with real Socket.IO connections and reports
//! what the server spent. See BENCHMARKS.md for how each figure was produced.

use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use confab_loadtest::scenarios;

#[derive(Debug, Parser)]
#[command(name = "confab-loadtest", about, version)]
struct Cli {
    /// The node's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A tag that keeps this run's usernames apart from earlier runs'.
    #[arg(long, default_value = "run")]
    run: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Hold N idle connections; report server memory per connection and idle CPU.
    Idle {
        /// The server's process id (for /proc).
        #[arg(long)]
        pid: u32,
        /// Connections to open.
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// Seconds to hold them.
        #[arg(long, default_value_t = 30)]
        hold: u64,
    },
    /// Pairs exchanging direct messages as fast as acks allow; every message checked.
    Direct {
        /// The server's process id, to report CPU per message.
        #[arg(long)]
        pid: Option<u32>,
        /// Sender/receiver pairs.
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Seconds to send.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let report = match cli.scenario {
        Scenario::Idle {
            pid,
            connections,
            hold,
        } => {
            scenarios::idle(
                &cli.url,
                pid,
                connections,
                Duration::from_secs(hold),
                &cli.run,
            )
            .await?
        }
        Scenario::Direct {
            pid,
            pairs,
            seconds,
        } => {
            scenarios::direct(&cli.url, pid, pairs, Duration::from_secs(seconds), &cli.run).await?
        }
    };
    println!("{report}");
    Ok(())
}
