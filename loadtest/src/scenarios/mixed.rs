//! `mixed`: users in partner pairs, each sending direct messages to its partner at `rate`
//! per second with typing before every other message and a presence query every fourth,
//! and reading every message it receives (which sends receipts back).

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::connect_all;
use super::messaging::{Pace, Plan, Sends};
use crate::client::SioClient;
use crate::record::Recorder;
use crate::setup::Harness;

/// Registers and connects `users` users (spread over the URLs); `2k` and `2k + 1` are
/// partners.
pub(super) async fn prepare(
    harness: &Harness,
    recorder: &Recorder,
    users: usize,
    rate: f64,
    window: Duration,
) -> Result<(Vec<SioClient>, Plan)> {
    let people = harness.users("u", users, |index| index).await?;
    let clients = connect_all(harness, &people, recorder).await?;
    let period = Duration::from_secs_f64(1.0 / rate);
    let roles = (0..users)
        .map(|index| {
            let partner = index ^ 1;
            Some(Sends {
                to: json!({ "user": people[partner].id }),
                recipients: vec![partner],
                pace: Pace::Every {
                    period,
                    phase: period.mul_f64(index as f64 / users as f64),
                },
                chatty: Some(people[partner].id.clone()),
            })
        })
        .collect();
    Ok((clients, Plan { roles, window }))
}
