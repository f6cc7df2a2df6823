//! `confab-loadtest`: a Socket.IO load generator for Confab (and any server speaking its
//! events, see `BENCHMARKS.md`), built on `confab-protocol`.
//!
//! [`client`] is the Socket.IO client it drives (the test suites use it too), [`polling`]
//! an idle one over long-polling; [`setup`] makes users, groups and connections;
//! [`scenarios`] are the loads; [`record`] holds what a run measured; [`worker`] and
//! [`runner`] split a run over processes and merge it; [`proc`] reads the server's CPU
//! time and memory from `/proc`; [`report`] and [`charts`] are the outputs.

pub mod charts;
pub mod client;
pub mod polling;
pub mod proc;
pub mod record;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod setup;
pub mod tls;
pub mod worker;

pub use report::Report;
pub use runner::{RunOptions, Workers, run};
pub use scenarios::{IdleTransport, Scenario};
pub use setup::{Setup, Target};
