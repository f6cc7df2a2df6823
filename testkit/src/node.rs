//! Real `confab` node processes for end-to-end and cluster tests.
//!
//! A node listens on a free loopback port and, unless the test says otherwise, keeps its
//! SQLite database in its own temporary directory. Its output goes to a log file that the
//! test can read. Dropping the handle kills the process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::wait::{eventually, free_port};

/// How long a node may take to start listening (it runs migrations first).
const START_WITHIN: Duration = Duration::from_secs(30);

/// A `confab serve` child process.
#[derive(Debug)]
pub struct NodeProcess {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl NodeProcess {
    /// Starts `binary serve` with `env` on top of test defaults, and waits until it listens.
    ///
    /// The defaults are `CONFAB_LISTEN` on a free port, `CONFAB_DATABASE_URL` in the node's
    /// own directory and `RUST_LOG=info`; `env` overrides any of them. The parent's
    /// `CONFAB_*` variables are not inherited.
    pub async fn start(binary: impl AsRef<Path>, env: &[(&str, String)]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut command = Command::new(binary.as_ref());
        command.arg("serve");
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("CONFAB_")) {
            command.env_remove(name);
        }
        command
            .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "CONFAB_DATABASE_URL",
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("confab.db").display()
                ),
            )
            .env("RUST_LOG", "info");
        for (name, value) in env {
            command.env(name, value);
        }
        let log = std::fs::File::create(dir.path().join("node.log"))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.as_ref().display()))?;
        let mut node = Self {
            child: Some(child),
            port,
            dir,
        };
        node.wait_listening().await?;
        Ok(node)
    }

    async fn wait_listening(&mut self) -> Result<()> {
        let port = self.port;
        let listening = eventually("the node to listen", START_WITHIN, || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
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

    fn try_exit_status(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => Ok(child.try_wait()?),
            None => Ok(None),
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
