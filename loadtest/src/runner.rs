//! Runs a scenario: starts its parts (worker processes, or tasks in this process that
//! speak the same [`worker`](crate::worker) protocol), shows progress, samples the server
//! processes around the measured phase, merges the parts' tallies and builds the
//! [`Report`].

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::proc::{self, Sample};
use crate::record::Tally;
use crate::report::{Measured, Report};
use crate::scenarios::Scenario;
use crate::setup::Setup;
use crate::worker::{self, Counts, Job, Update};

/// Where the parts of a run execute.
#[derive(Debug, Clone)]
pub enum Workers {
    /// As tasks of this process (one part: no split), over in-memory pipes.
    InProcess(usize),
    /// As `count` processes of `binary worker`.
    Processes {
        /// How many.
        count: usize,
        /// The load generator's own executable.
        binary: PathBuf,
    },
}

/// How to run and report.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The system under test, for the report (default: the target's name).
    pub label: Option<String>,
    /// Server-side processes to measure.
    pub pids: Vec<u32>,
    /// Where the parts run.
    pub workers: Workers,
    /// No progress bars.
    pub quiet: bool,
}

/// One running part, seen from the parent.
struct Part {
    input: Box<dyn AsyncWrite + Unpin + Send>,
    /// Forwards its updates; ends when its output ends.
    reader: JoinHandle<()>,
    done: Option<Box<Tally>>,
    counts: Counts,
    process: Option<tokio::process::Child>,
    task: Option<JoinHandle<Result<()>>>,
}

impl Part {
    async fn command(&mut self, line: &str) -> Result<()> {
        self.input.write_all(format!("{line}\n").as_bytes()).await?;
        self.input.flush().await?;
        Ok(())
    }
}

/// Runs `scenario` against `setup`'s target.
pub async fn run(setup: &Setup, scenario: &Scenario, options: &RunOptions) -> Result<Report> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    setup.validate()?;
    scenario.validate()?;
    let (count, processes) = match &options.workers {
        Workers::InProcess(count) => (*count, None),
        Workers::Processes { count, binary } => (*count, Some(binary)),
    };
    if count == 0 {
        bail!("--workers must be at least 1");
    }
    let sample = || -> Result<Option<Sample>> {
        (!options.pids.is_empty())
            .then(|| proc::sample(&options.pids))
            .transpose()
    };
    let before = sample()?;
    let (updates, mut incoming) = mpsc::unbounded_channel();
    let mut parts = Vec::with_capacity(count);
    for part in 0..count {
        let job = Job {
            setup: setup.clone(),
            scenario: scenario.slice(part, count)?,
            part,
        };
        let mut started = match processes {
            Some(binary) => spawn_process(binary, part, updates.clone())?,
            None => spawn_task(part, updates.clone()),
        };
        started.command(&serde_json::to_string(&job)?).await?;
        parts.push(started);
    }
    drop(updates);

    let connecting = progress_bar(options.quiet, scenario.connections() as u64, "connecting");
    let mut ready = 0;
    while ready < count {
        let (part, update) = next(&mut incoming).await?;
        match update {
            Update::Ready => ready += 1,
            other => absorb(&mut parts, part, other)?,
        }
        connecting.set_position(Counts::sum(parts.iter().map(|part| &part.counts)).connections);
    }
    connecting.finish_and_clear();

    let start = sample()?;
    let own = || {
        proc::sample(&[std::process::id()])
            .ok()
            .map(|sample| sample.cpu_s())
    };
    let own_start = own();
    let started = Instant::now();
    for part in &mut parts {
        part.command("start").await?;
    }
    let window = scenario.window().unwrap_or(Duration::ZERO);
    let bar = progress_bar(options.quiet, window.as_secs().max(1), "running");
    while parts.iter().any(|part| part.done.is_none()) {
        let tick = tokio::time::sleep(Duration::from_millis(200));
        tokio::select! {
            received = next(&mut incoming) => {
                let (part, update) = received?;
                absorb(&mut parts, part, update)?;
            }
            () = tick => {}
        }
        let counts = Counts::sum(parts.iter().map(|part| &part.counts));
        bar.set_position(started.elapsed().as_secs().min(window.as_secs()));
        bar.set_message(format!(
            "{} connections, sent {}, acked {}, delivered {}",
            counts.connections, counts.sent, counts.acked, counts.delivered
        ));
    }
    let wall_s = started.elapsed().as_secs_f64();
    let end = sample()?;
    let loadgen_cpu_s = own_start.zip(own()).map(|(start, end)| end - start);
    bar.finish_and_clear();

    let mut tally = Tally::default();
    for part in &mut parts {
        if let Some(done) = part.done.take() {
            tally.merge(&done)?;
        }
        part.command("stop").await?;
    }
    for part in parts {
        finish(part).await?;
    }
    let label = options
        .label
        .clone()
        .unwrap_or_else(|| format!("{:?}", setup.target).to_lowercase());
    Ok(Report::new(
        &label,
        scenario,
        count,
        &tally,
        Measured {
            before,
            start,
            end,
            wall_s,
            loadgen_cpu_s,
        },
    ))
}

type Incoming = mpsc::UnboundedReceiver<(usize, Result<Update>)>;

async fn next(incoming: &mut Incoming) -> Result<(usize, Update)> {
    let (part, update) = incoming
        .recv()
        .await
        .context("every worker ended before finishing")?;
    match update {
        Ok(Update::Failed(error)) => bail!("worker {part} failed: {error}"),
        Ok(update) => Ok((part, update)),
        Err(error) => Err(error.context(format!("worker {part}"))),
    }
}

fn absorb(parts: &mut [Part], part: usize, update: Update) -> Result<()> {
    match update {
        Update::Progress(counts) => parts[part].counts = counts,
        Update::Done(tally) => parts[part].done = Some(tally),
        Update::Ready => bail!("worker {part} was ready twice"),
        Update::Failed(error) => bail!("worker {part} failed: {error}"),
    }
    Ok(())
}

fn progress_bar(quiet: bool, length: u64, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>10} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(what.to_owned());
    bar
}

/// Forwards the JSON lines of `output` as updates of part `part`.
fn forward<R>(
    part: usize,
    output: R,
    updates: mpsc::UnboundedSender<(usize, Result<Update>)>,
) -> JoinHandle<()>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut lines = BufReader::new(output).lines();
        loop {
            let update = match lines.next_line().await {
                Ok(Some(line)) => serde_json::from_str::<Update>(&line)
                    .with_context(|| format!("a line that is not an update: {line:.200}")),
                Ok(None) => break,
                Err(error) => Err(error.into()),
            };
            if updates.send((part, update)).is_err() {
                break;
            }
        }
    })
}

fn spawn_process(
    binary: &PathBuf,
    part: usize,
    updates: mpsc::UnboundedSender<(usize, Result<Update>)>,
) -> Result<Part> {
    let mut child = tokio::process::Command::new(binary)
        .arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting worker {}", binary.display()))?;
    let input = child.stdin.take().context("no worker stdin")?;
    let output = child.stdout.take().context("no worker stdout")?;
    Ok(Part {
        input: Box::new(input),
        reader: forward(part, output, updates),
        done: None,
        counts: Counts::default(),
        process: Some(child),
        task: None,
    })
}

/// A part in this process: [`worker::serve`] over an in-memory pipe.
fn spawn_task(part: usize, updates: mpsc::UnboundedSender<(usize, Result<Update>)>) -> Part {
    let (parent, child) = tokio::io::duplex(1 << 16);
    let (parent_read, parent_write) = tokio::io::split(parent);
    let (child_read, child_write) = tokio::io::split(child);
    let task = tokio::spawn(worker::serve(BufReader::new(child_read), child_write));
    Part {
        input: Box::new(parent_write),
        reader: forward(part, parent_read, updates),
        done: None,
        counts: Counts::default(),
        process: None,
        task: Some(task),
    }
}

/// Closes a part's input and waits for it to end.
async fn finish(mut part: Part) -> Result<()> {
    part.input.shutdown().await?;
    drop(part.input);
    if let Some(mut process) = part.process {
        let status = process.wait().await?;
        if !status.success() {
            bail!("a worker exited with {status}");
        }
    }
    if let Some(task) = part.task {
        task.await??;
    }
    part.reader.abort();
    Ok(())
}
