//! Real `confab` node processes for end-to-end and cluster tests.
//!
//! A node listens on a free loopback port and, unless the test says otherwise, keeps its
//! SQLite database in its own temporary directory. Its output goes to a log file that the
//! test can read. A node can be started again on the same port with the same settings (a
//! restart, as an orchestrator does it). Dropping the handle kills the process.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::wait::{connect_to_server, eventually, free_port};

/// How long a node may take to start serving (it runs migrations first).
const START_WITHIN: Duration = Duration::from_secs(30);
/// How long one attempt waits for the node's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// A `confab serve` child process.
#[derive(Debug)]
pub struct NodeProcess {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    /// What was started, to start it again.
    binary: PathBuf,
    env: Vec<(String, String)>,
}

impl NodeProcess {
    /// Starts `binary serve` with `env` on top of test defaults, and waits until it listens.
    ///
    /// The defaults are `CONFAB_LISTEN` on a free port, `CONFAB_DATABASE_URL` in the node's
    /// own directory and `RUST_LOG=info`; `env` overrides any of them. The parent's
    /// `CONFAB_*` variables are not inherited.
    pub async fn start(binary: impl AsRef<Path>, env: &[(&str, String)]) -> Result<Self> {
        let mut node = Self {
            child: None,
            port: free_port()?,
            dir: tempfile::tempdir()?,
            binary: binary.as_ref().to_owned(),
            env: env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
        };
        node.spawn()?;
        node.wait_listening().await?;
        Ok(node)
    }

    /// Starts the node again, with the same settings on the same port and data directory,
    /// and waits until it listens; a process still running is killed first. The log goes on
    /// in the same file.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn()?;
        self.wait_listening().await
    }

    /// Starts the process, its output appended to the node's log.
    fn spawn(&mut self) -> Result<()> {
        let mut command = Command::new(&self.binary);
        command.arg("serve");
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("CONFAB_")) {
            command.env_remove(name);
        }
        command
            .env("CONFAB_LISTEN", format!("127.0.0.1:{}", self.port))
            .env(
                "CONFAB_DATABASE_URL",
                format!(
                    "sqlite://{}?mode=rwc",
                    self.dir.path().join("confab.db").display()
                ),
            )
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(name, value)| (name, value)));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("node.log"))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the node serves: its port is bound before it connects to the database
    /// and migrates, so a connection alone says nothing (the kernel queues it). A request
    /// that gets any answer, or the connection closed, does: only a serving node reads it
    /// (a TLS listener may answer a plain request by closing).
    async fn wait_listening(&mut self) -> Result<()> {
        let port = self.port;
        let listening = eventually("the node to serve", START_WITHIN, || async move {
            let mut stream = connect_to_server(port).await?;
            stream
                .write_all(b"GET /healthz HTTP/1.0\r\n\r\n")
                .await
                .ok()?;
            let mut first = [0_u8; 1];
            let read = tokio::time::timeout(ANSWER_WITHIN, stream.read(&mut first)).await;
            matches!(read, Ok(Ok(_))).then_some(())
        })
        .await;
        if listening.is_err() || self.try_exit_status()?.is_some() {
            bail!("the node did not start; its log:\n{}", self.logs());
        }
        Ok(())
    }

    /// The port the node listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The node's private directory (its SQLite file and log live here).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Everything the node has printed so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`, ...).
    pub fn signal(&self, name: &str) -> Result<()> {
        let child = self.child.as_ref().context("the node has exited")?;
        let status = Command::new("kill")
            .args(["-s", name, &child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -s {name} failed");
        }
        Ok(())
    }

    /// Waits for the process to exit, up to `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus> {
        let child = self.child.as_mut().context("the node was already reaped")?;
        eventually("the node to exit", within, || {
            let status = child.try_wait().ok().flatten();
            async move { status }
        })
        .await
    }

    /// Whether the process is still running (not exited, not killed through this handle).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Kills the process (SIGKILL, as a crash would) and reaps it; does nothing if it is
    /// not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn try_exit_status(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => Ok(child.try_wait()?),
            None => Ok(None),
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
