//! Private `redis-server` and `nats-server` processes on free loopback ports.
//!
//! Each handle owns one process and its scratch directory. `kill` stops it hard (SIGKILL, as
//! a crash would), `restart` starts a fresh, empty server on the same port, and dropping the
//! handle kills it. The binaries are looked up on `PATH` (`scripts/test` installs them).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::wait::{eventually_blocking, free_port};

/// How long a freshly started server may take to answer.
const START_WITHIN: Duration = Duration::from_secs(15);

/// What differs between the servers this module runs.
#[derive(Debug, Clone, Copy)]
struct Flavour {
    program: &'static str,
    scheme: &'static str,
    /// The arguments that make the server listen on `port` with its files in `dir`.
    args: fn(port: u16, dir: &Path) -> Vec<String>,
    /// Bytes to send once connected (empty: send nothing), and what the reply starts with.
    probe: &'static [u8],
    ready_reply: &'static [u8],
}

const REDIS: Flavour = Flavour {
    program: "redis-server",
    scheme: "redis",
    args: |port, dir| {
        vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
        ]
    },
    probe: b"PING\r\n",
    ready_reply: b"+PONG",
};

const NATS: Flavour = Flavour {
    program: "nats-server",
    scheme: "nats",
    args: |port, _dir| {
        vec![
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ]
    },
    probe: b"",
    ready_reply: b"INFO",
};

/// What a test adds to a server: arguments (users, TLS), and the probe that tells it is
/// ready when the flavour's would be refused.
/// An S3-compatible server: moto's (`scripts/lib/services.sh` installs it), answering
/// any credentials.
const S3: Flavour = Flavour {
    program: "moto_server",
    scheme: "http",
    args: |port, _dir| {
        vec![
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ]
    },
    probe: b"GET / HTTP/1.0\r\n\r\n",
    ready_reply: b"HTTP/1",
};

#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Arguments after the flavour's own.
    pub args: Vec<String>,
    /// Bytes to send once connected, and what the reply starts with; `None`: the
    /// flavour's.
    pub probe: Option<(Vec<u8>, Vec<u8>)>,
}

/// One server process that can be killed and restarted on its port.
#[derive(Debug)]
struct ServerProcess {
    flavour: Flavour,
    options: ServerOptions,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl ServerProcess {
    fn start(flavour: Flavour, options: ServerOptions) -> Result<Self> {
        let mut server = Self {
            flavour,
            options,
            port: free_port()?,
            dir: tempfile::tempdir()?,
            child: None,
        };
        server.restart()?;
        Ok(server)
    }

    fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.flavour.scheme, self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The process may have exited already; either way it is gone afterwards.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) -> Result<()> {
        self.kill();
        let log = std::fs::File::create(self.dir.path().join("server.log"))?;
        let child = Command::new(self.flavour.program)
            .args((self.flavour.args)(self.port, self.dir.path()))
            .args(&self.options.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} (is it installed?)", self.flavour.program))?;
        self.child = Some(child);
        let what = format!("{} on port {}", self.flavour.program, self.port);
        eventually_blocking(&what, START_WITHIN, || self.answers().then_some(()))
            .with_context(|| self.log_tail())
    }

    /// Whether the server accepts a connection and gives its ready reply.
    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let (probe, wanted) = match &self.options.probe {
            Some((probe, wanted)) => (probe.as_slice(), wanted.as_slice()),
            None => (self.flavour.probe, self.flavour.ready_reply),
        };
        if !probe.is_empty() && stream.write_all(probe).is_err() {
            return false;
        }
        let mut reply = [0u8; 16];
        let mut got = 0;
        while got < wanted.len() {
            match stream.read(&mut reply[got..]) {
                Ok(0) | Err(_) => return false,
                Ok(n) => got += n,
            }
        }
        reply.starts_with(wanted)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        format!("{} log:\n{}", self.flavour.program, &log[start..])
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private `redis-server` (no persistence) on a free port.
#[derive(Debug)]
pub struct RedisServer(ServerProcess);

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    pub fn start() -> Result<Self> {
        Self::start_with(ServerOptions::default())
    }

    /// Starts a server with `options` (ACL users, a TLS port, ...).
    pub fn start_with(options: ServerOptions) -> Result<Self> {
        ServerProcess::start(REDIS, options).map(Self)
    }

    /// The plain port.
    pub fn port(&self) -> u16 {
        self.0.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.0.url()
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Starts a fresh, empty server on the same port and waits until it answers.
    pub fn restart(&mut self) -> Result<()> {
        self.0.restart()
    }
}

/// A Redis Cluster of private `redis-server` processes (no persistence), its 16,384 slots
/// spread evenly over the masters by `redis-cli --cluster create`. Surviving masters keep
/// serving their slots when one is lost (`cluster-require-full-coverage no`); a replica
/// takes over from its lost master within a few seconds (`cluster-node-timeout` 2 s).
#[derive(Debug)]
pub struct RedisCluster {
    /// Every server (`redis-cli` picks which are masters: `CLUSTER NODES` tells).
    servers: Vec<ServerProcess>,
}

impl RedisCluster {
    /// Starts `masters` servers (at least 3, as Redis Cluster asks), joins them into one
    /// cluster and waits until every one reports the cluster ok.
    pub fn start(masters: usize) -> Result<Self> {
        Self::start_with_replicas(masters, 0)
    }

    /// [`RedisCluster::start`], with `replicas` replicas of each master. Ports are found
    /// free just before each server binds them (its client port and its cluster bus
    /// port, set apart: by default the bus takes the client port plus 10,000, past the
    /// last port for a client port above 55,535), and a start that lost one to another
    /// process is made again (up to three times).
    pub fn start_with_replicas(masters: usize, replicas: usize) -> Result<Self> {
        up_to_three_times("a Redis Cluster", || Self::start_once(masters, replicas))
    }

    fn start_once(masters: usize, replicas: usize) -> Result<Self> {
        let options = || -> Result<ServerOptions> {
            let mut args: Vec<String> = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
                "--cluster-require-full-coverage",
                "no",
                "--cluster-port",
            ]
            .map(String::from)
            .to_vec();
            args.push(free_port()?.to_string());
            Ok(ServerOptions { args, probe: None })
        };
        let servers = (0..masters * (1 + replicas))
            .map(|_| ServerProcess::start(REDIS, options()?))
            .collect::<Result<Vec<_>>>()?;
        let cluster = Self { servers };
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(cluster.addresses())
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .context("running redis-cli --cluster create (is it installed?)")?;
        anyhow::ensure!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        eventually_blocking("the Redis Cluster to be ok", START_WITHIN, || {
            cluster
                .servers
                .iter()
                .all(|server| cluster_ok(server.port))
                .then_some(())
        })?;
        // A replica that never synced with its master refuses to take over from it.
        eventually_blocking(
            "every replica to sync with its master",
            START_WITHIN,
            || {
                cluster
                    .servers
                    .iter()
                    .all(|server| {
                        redis_cli(server.port, &["info", "replication"]).is_ok_and(|info| {
                            !info.contains("role:slave") || info.contains("master_link_status:up")
                        })
                    })
                    .then_some(())
            },
        )?;
        Ok(cluster)
    }

    /// `host:port` of each server, in order.
    pub fn addresses(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|server| format!("127.0.0.1:{}", server.port))
            .collect()
    }

    /// The URL a client of the whole cluster uses: `redis-cluster://` with every master as a
    /// seed.
    pub fn url(&self) -> String {
        let addresses = self.addresses();
        let seeds: Vec<String> = addresses[1..]
            .iter()
            .map(|address| format!("node={address}"))
            .collect();
        format!("redis-cluster://{}?{}", addresses[0], seeds.join("&"))
    }

    /// `redis://` of server `index` alone, to look at what it holds.
    pub fn master_url(&self, index: usize) -> String {
        self.servers[index].url()
    }

    /// Kills server `index` with SIGKILL, as a crash would.
    pub fn kill(&mut self, index: usize) {
        self.servers[index].kill();
    }

    /// The index of the server that serves `key`'s hash slot, as that server says
    /// (`CLUSTER KEYSLOT`, then each live server's own line of `CLUSTER NODES`).
    pub fn serving(&self, key: &str) -> Result<usize> {
        let live: Vec<(usize, u16)> = self
            .servers
            .iter()
            .enumerate()
            .filter(|(_, server)| server.child.is_some())
            .map(|(index, server)| (index, server.port))
            .collect();
        let (_, first) = live.first().context("no live server")?;
        let slot: u16 = redis_cli(*first, &["cluster", "keyslot", key])?
            .trim()
            .parse()?;
        for (index, port) in live {
            let nodes = redis_cli(port, &["cluster", "nodes"])?;
            let own = nodes.lines().find(|line| line.contains("myself"));
            let serves = own.is_some_and(|own| {
                own.split(' ').skip(8).any(|range| {
                    let (start, end) = range.split_once('-').unwrap_or((range, range));
                    matches!(
                        (start.parse::<u16>(), end.parse::<u16>()),
                        (Ok(start), Ok(end)) if (start..=end).contains(&slot)
                    )
                })
            });
            if serves {
                return Ok(index);
            }
        }
        anyhow::bail!("no live server serves slot {slot}")
    }
}

/// `start()`, made again if it fails, up to three times in all: a cluster of servers binds
/// many ports, each found free beforehand, and another process may take one meanwhile.
fn up_to_three_times<T>(what: &str, mut start: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match start() {
            Err(error) if attempt < 3 => {
                eprintln!("{what} did not start ({error:#}); starting it again");
            }
            result => return result,
        }
    }
}

/// What `redis-cli -p port args…` prints.
fn redis_cli(port: u16, args: &[&str]) -> Result<String> {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running redis-cli")?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Whether the Redis Cluster node on `port` says the cluster is ok.
fn cluster_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("cluster_state:ok"))
}

/// A private `nats-server` on a free port.
#[derive(Debug)]
pub struct NatsServer(ServerProcess);

impl NatsServer {
    /// Starts a server and waits until it greets clients with `INFO`.
    pub fn start() -> Result<Self> {
        Self::start_with(ServerOptions::default())
    }

    /// Starts a server with `options` (users, a token, TLS, ...).
    pub fn start_with(options: ServerOptions) -> Result<Self> {
        ServerProcess::start(NATS, options).map(Self)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.0.port
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.0.url()
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Starts the server again on the same port and waits until it answers.
    pub fn restart(&mut self) -> Result<()> {
        self.0.restart()
    }
}

/// A cluster of private `nats-server` processes, each routed to all the others.
#[derive(Debug)]
pub struct NatsCluster {
    servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `count` servers routed to each other and waits until every one has its
    /// routes to all the others (seen on its monitoring port). The first is the seed the
    /// others route to; they learn of each other from it. Ports are found free just
    /// before each server binds them, and a start that lost one to another process is
    /// made again (up to three times).
    pub fn start(count: usize) -> Result<Self> {
        up_to_three_times("a NATS cluster", || Self::start_once(count))
    }

    fn start_once(count: usize) -> Result<Self> {
        let mut servers = Vec::with_capacity(count);
        let mut monitors = Vec::with_capacity(count);
        let mut seed = None;
        for _ in 0..count {
            let (route, monitor) = (free_port()?, free_port()?);
            let mut args = vec![
                "--cluster_name".into(),
                "confab-test".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{route}"),
                "-m".into(),
                monitor.to_string(),
            ];
            if let Some(seed) = seed {
                args.extend(["--routes".into(), format!("nats://127.0.0.1:{seed}")]);
            }
            seed.get_or_insert(route);
            servers.push(NatsServer::start_with(ServerOptions { args, probe: None })?);
            monitors.push(monitor);
        }
        let wanted = format!("\"num_routes\": {}", count - 1);
        eventually_blocking(
            "the NATS servers to route to each other",
            START_WITHIN,
            || {
                monitors
                    .iter()
                    .all(|port| {
                        http_get(*port, "/routez").is_some_and(|body| body.contains(&wanted))
                    })
                    .then_some(())
            },
        )?;
        Ok(Self { servers })
    }

    /// The URL of server `index` alone.
    pub fn url(&self, index: usize) -> String {
        self.servers[index].url()
    }

    /// Kills server `index` with SIGKILL, as a crash would.
    pub fn kill(&mut self, index: usize) {
        self.servers[index].kill();
    }

    /// Starts server `index` again on its ports; it rejoins its routes. Waits until it
    /// answers clients.
    pub fn restart(&mut self, index: usize) -> Result<()> {
        self.servers[index].restart()
    }
}

/// The body of `GET path` from an HTTP server on `port` of 127.0.0.1, if it answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    Some(reply)
}

/// A private S3-compatible server on a free port (moto's `moto_server`).
#[derive(Debug)]
pub struct S3Server(ServerProcess);

impl S3Server {
    /// Starts a server and waits until it answers HTTP.
    pub fn start() -> Result<Self> {
        ServerProcess::start(S3, ServerOptions::default()).map(Self)
    }

    /// `http://127.0.0.1:<port>`: the endpoint to give S3 clients.
    pub fn url(&self) -> String {
        self.0.url()
    }
}
