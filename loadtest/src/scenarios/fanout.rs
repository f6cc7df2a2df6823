//! `fanout`: groups of `members`, the first `senders` of each sending to the group at
//! `rate` messages/s each; every member's connection but the sender's must get each
//! message.

use std::time::Duration;

use anyhow::Result;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::json;

use super::messaging::{Pace, Plan, Sends};
use super::{CONNECTS_AT_ONCE, connect_all};
use crate::client::SioClient;
use crate::record::Recorder;
use crate::setup::Harness;

/// The parameters of a `fanout` run.
#[derive(Debug)]
pub(super) struct Shape {
    pub(super) groups: usize,
    pub(super) members: usize,
    pub(super) senders: usize,
    pub(super) rate: f64,
    pub(super) window: Duration,
}

/// Registers the members, creates the groups and connects everyone: group `g` is
/// connections `g × members ..`, its senders first.
pub(super) async fn prepare(
    harness: &Harness,
    recorder: &Recorder,
    shape: &Shape,
) -> Result<(Vec<SioClient>, Plan)> {
    let users = harness
        .users("m", shape.groups * shape.members, |index| index)
        .await?;
    let mut groups = Vec::with_capacity(shape.groups);
    for (index, members) in users.chunks(shape.members).enumerate() {
        groups.push(harness.group(index, members).await?);
    }
    let mut clients = connect_all(harness, &users, recorder).await?;
    let joins: Vec<_> = clients
        .iter_mut()
        .enumerate()
        .map(|(index, client)| harness.join(client, &groups[index / shape.members]))
        .collect();
    stream::iter(joins)
        .buffer_unordered(CONNECTS_AT_ONCE)
        .try_collect::<()>()
        .await?;
    let period = Duration::from_secs_f64(1.0 / shape.rate);
    let all_senders = (shape.groups * shape.senders) as f64;
    let roles = (0..users.len())
        .map(|index| {
            let (group, member) = (index / shape.members, index % shape.members);
            (member < shape.senders).then(|| {
                let first = group * shape.members;
                Sends {
                    to: json!({ "group": groups[group] }),
                    recipients: (first..first + shape.members)
                        .filter(|&other| other != index)
                        .collect(),
                    pace: Pace::Every {
                        period,
                        phase: period
                            .mul_f64((group * shape.senders + member) as f64 / all_senders),
                    },
                    chatty: None,
                }
            })
        })
        .collect();
    Ok((
        clients,
        Plan {
            roles,
            window: shape.window,
        },
    ))
}
