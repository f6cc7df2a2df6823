//! `confab-loadtest`: a Socket.IO load generator for Confab, built on `confab-protocol`.
//!
//! [`client`] is the Socket.IO client it drives (the test suites use it too); [`proc`]
//! reads a server's CPU time and memory from `/proc`; [`scenarios`] are the loads.

pub mod client;
pub mod proc;
pub mod scenarios;
