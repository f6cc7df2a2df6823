//! `confab-loadtest`: drives a chat server with real Socket.IO connections and reports
//! what the server spent. See BENCHMARKS.md for how each figure was produced.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use confab_loadtest::{RunOptions, Scenario, Setup, Target, Workers, charts, run, worker};
use tokio::io::BufReader;

#[derive(Debug, Parser)]
#[command(name = "confab-loadtest", about, version)]
struct Cli {
    /// A node's base URL (one per node; users are spread round-robin over them).
    #[arg(long = "url", global = true, default_value = "http://127.0.0.1:8080")]
    urls: Vec<String>,
    /// The kind of server: chat (accounts by HTTP) or raw (ids are invented).
    #[arg(long, global = true, value_enum, default_value_t = Target::Chat)]
    target: Target,
    /// The name of the system under test in reports (default: the target).
    #[arg(long, global = true)]
    label: Option<String>,
    /// A tag that keeps this run's usernames apart from earlier runs' (default: from
    /// the clock).
    #[arg(long, global = true)]
    run: Option<String>,
    /// A server-side process to measure (CPU with its children, RSS); repeatable.
    #[arg(long = "pid", global = true)]
    pids: Vec<u32>,
    /// Write the result as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Append a Markdown summary to this file.
    #[arg(long, global = true)]
    markdown: Option<PathBuf>,
    /// Draw PNG charts of throughput and latency over time into this directory.
    #[arg(long, global = true)]
    charts: Option<PathBuf>,
    /// The TrueType font of the charts.
    #[arg(long, global = true, default_value = charts::DEFAULT_FONT)]
    chart_font: PathBuf,
    /// Split the connections over this many worker processes.
    #[arg(long, global = true)]
    workers: Option<usize>,
    /// Local addresses to bind client sockets to, round-robin (e.g. 127.0.0.2,127.0.0.3).
    #[arg(long, global = true, value_delimiter = ',')]
    source_addrs: Vec<IpAddr>,
    /// Message body size in bytes.
    #[arg(long, global = true, default_value_t = 100)]
    body_bytes: usize,
    /// No progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Scenario(Scenario),
    /// One part of a run, driven by the parent over stdin/stdout (internal).
    #[command(hide = true)]
    Worker,
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let scenario = match cli.command {
        Command::Worker => {
            return worker::serve(BufReader::new(tokio::io::stdin()), tokio::io::stdout()).await;
        }
        Command::Scenario(scenario) => scenario,
    };
    let setup = Setup {
        urls: cli.urls,
        target: cli.target,
        run: cli.run.unwrap_or_else(clock_tag),
        source_addrs: cli.source_addrs,
        body_bytes: cli.body_bytes,
    };
    let workers = match cli.workers {
        None => Workers::InProcess(1),
        Some(count) => Workers::Processes {
            count,
            binary: std::env::current_exe().context("finding this executable")?,
        },
    };
    let options = RunOptions {
        label: cli.label,
        pids: cli.pids,
        workers,
        quiet: cli.quiet,
    };
    let report = run(&setup, &scenario, &options).await?;
    println!("{}", report.markdown());
    if let Some(path) = &cli.json {
        report.write_json(path)?;
    }
    if let Some(path) = &cli.markdown {
        report.append_markdown(path)?;
    }
    if let Some(dir) = &cli.charts {
        for path in charts::draw(&report, dir, &cli.chart_font)? {
            eprintln!("chart: {}", path.display());
        }
    }
    Ok(())
}

/// A run tag from the clock (seconds, base 36), different for every run.
fn clock_tag() -> String {
    let mut seconds = confab_loadtest::record::unix_now_us() / 1_000_000;
    let mut tag = Vec::new();
    while seconds > 0 {
        tag.push(char::from_digit((seconds % 36) as u32, 36).unwrap_or('0'));
        seconds /= 36;
    }
    tag.iter().rev().collect()
}
