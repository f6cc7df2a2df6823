//! The worker protocol: one part of a run, driven by the parent over two byte streams of
//! JSON lines (a worker process's stdin and stdout, or in-process pipes).
//!
//! Parent → worker: the [`Job`], then `start`, then `stop` (or end of input).
//! Worker → parent: [`Update`]s: progress every quarter second, `ready` once its
//! connections are open, `done` with its [`Tally`] after the measured phase, or `failed`.
//! The worker holds its connections until told to stop, so the parent can read the
//! server's memory with every part still connected.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::record::{Recorder, Tally};
use crate::scenarios::{Prepared, Scenario};
use crate::setup::{Harness, Setup};

/// How often a worker reports its counts.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// What a worker is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Where and how to connect.
    pub setup: Setup,
    /// Its slice of the load.
    pub scenario: Scenario,
    /// Its index (it goes into usernames).
    pub part: usize,
}

/// The live counts a progress bar shows.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Connections open.
    pub connections: u64,
    /// Messages sent.
    pub sent: u64,
    /// Messages acked.
    pub acked: u64,
    /// Distinct deliveries.
    pub delivered: u64,
}

impl Counts {
    fn of(recorder: &Recorder) -> Self {
        let tally = recorder.tally();
        Self {
            connections: tally.connections,
            sent: tally.sent,
            acked: tally.acked,
            delivered: tally.delivered,
        }
    }

    /// The sum of several parts' counts.
    pub fn sum<'a>(parts: impl IntoIterator<Item = &'a Counts>) -> Self {
        parts.into_iter().fold(Self::default(), |sum, part| Self {
            connections: sum.connections + part.connections,
            sent: sum.sent + part.sent,
            acked: sum.acked + part.acked,
            delivered: sum.delivered + part.delivered,
        })
    }
}

/// A line from a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Update {
    /// Its counts so far.
    Progress(Counts),
    /// Its connections are open; it waits for `start`.
    Ready,
    /// The measured phase is over.
    Done(Box<Tally>),
    /// It could not go on.
    Failed(String),
}

/// Runs one part of a run, reading commands from `input` and writing updates to
/// `output`. Errors are reported as [`Update::Failed`] too.
pub async fn serve<R, W>(input: R, mut output: W) -> Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (updates, mut to_write) = mpsc::unbounded_channel::<Update>();
    let writer = tokio::spawn(async move {
        while let Some(update) = to_write.recv().await {
            let mut line = serde_json::to_vec(&update)?;
            line.push(b'\n');
            output.write_all(&line).await?;
            output.flush().await?;
        }
        anyhow::Ok(())
    });
    let outcome = work(input, &updates).await;
    if let Err(error) = &outcome {
        let _ = updates.send(Update::Failed(format!("{error:#}")));
    }
    drop(updates);
    writer.await??;
    outcome
}

async fn work<R: AsyncBufRead + Unpin>(
    input: R,
    updates: &mpsc::UnboundedSender<Update>,
) -> Result<()> {
    let mut lines = input.lines();
    let job: Job = serde_json::from_str(&lines.next_line().await?.context("no job")?)
        .context("decoding the job")?;
    let recorder = Recorder::default();
    let progress = {
        let (recorder, updates) = (recorder.clone(), updates.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PROGRESS_EVERY);
            loop {
                every.tick().await;
                if updates
                    .send(Update::Progress(Counts::of(&recorder)))
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    let outcome = async {
        let harness = Harness::new(job.setup, job.part)?;
        let mut prepared = Prepared::new(&job.scenario, &harness, &recorder).await?;
        updates.send(Update::Ready)?;
        expect(&mut lines, "start").await?;
        recorder.start_clock();
        prepared.run(&harness, &recorder).await?;
        updates.send(Update::Progress(Counts::of(&recorder)))?;
        updates.send(Update::Done(Box::new(recorder.snapshot())))?;
        // Hold the connections until the parent has read what it needs.
        let _ = lines.next_line().await;
        drop(prepared);
        anyhow::Ok(())
    }
    .await;
    progress.abort();
    outcome
}

async fn expect<R: AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    command: &str,
) -> Result<()> {
    match lines.next_line().await? {
        Some(line) if line.trim() == command => Ok(()),
        other => bail!("expected {command}, got {other:?}"),
    }
}
