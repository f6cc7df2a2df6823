//! Test harness shared by every crate's integration tests.
//!
//! Tests talk to real things: this crate starts private `redis-server`, `nats-server` and
//! S3 (`moto_server`) processes on free loopback ports (so a test can kill and restart them), creates a fresh
//! database per test on SQLite, PostgreSQL or MySQL/MariaDB, and runs real `confab` node
//! processes, and a Socket.IO client to talk to them. Everything it starts is stopped, and everything it creates is dropped, when the
//! handle is dropped.

mod accounts;
mod database;
mod node;
mod servers;
mod wait;

pub use accounts::{PASSWORD, Registered, befriend, register};
pub use confab_loadtest::client::{Connected, SioClient};
pub use database::{Backend, TestDb};
pub use node::NodeProcess;
pub use servers::{NatsCluster, NatsServer, RedisCluster, RedisServer, S3Server, ServerOptions};
pub use wait::{connect_to_server, eventually, free_port};
