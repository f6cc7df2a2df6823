//! `connect`: a storm of authenticated connects, `concurrency` in progress at once; every
//! connect's latency (WebSocket open to the Socket.IO CONNECT reply) is recorded, and the
//! connections are held until the run ends.

use anyhow::{Result, ensure};
use futures_util::{StreamExt, stream};

use super::DEVICES_PER_USER;
use crate::client::SioClient;
use crate::record::Recorder;
use crate::setup::{Harness, User};

/// The users of a storm, made beforehand so only connects are measured.
#[derive(Debug)]
pub(super) struct Storm {
    devices: Vec<User>,
    concurrency: usize,
}

impl Storm {
    /// Makes one user per `DEVICES_PER_USER` connections.
    pub(super) async fn new(
        harness: &Harness,
        connections: usize,
        concurrency: usize,
    ) -> Result<Self> {
        let users = harness
            .users("c", connections.div_ceil(DEVICES_PER_USER), |index| index)
            .await?;
        Ok(Self {
            devices: (0..connections)
                .map(|index| users[index / DEVICES_PER_USER].clone())
                .collect(),
            concurrency,
        })
    }

    /// Opens every connection; failures are counted (and fail the run if all failed).
    pub(super) async fn run(
        &self,
        harness: &Harness,
        recorder: &Recorder,
    ) -> Result<Vec<SioClient>> {
        let connects: Vec<_> = self
            .devices
            .iter()
            .map(|user| harness.connect(user, recorder))
            .collect();
        let clients: Vec<SioClient> = stream::iter(connects)
            .buffer_unordered(self.concurrency)
            .filter_map(|client| async move { client.ok() })
            .collect()
            .await;
        ensure!(
            !clients.is_empty() || self.devices.is_empty(),
            "every connect failed"
        );
        Ok(clients)
    }
}
