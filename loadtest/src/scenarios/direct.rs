//! `direct`: pairs of users, the sender of each pair sending direct messages to its
//! receiver, at a fixed total rate or as fast as acks allow; with several URLs a chosen
//! share of pairs has its two users on different nodes.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::connect_all;
use super::messaging::{Pace, Plan, Sends};
use crate::client::SioClient;
use crate::record::Recorder;
use crate::setup::{Harness, User};

/// The parameters of a `direct` run.
#[derive(Debug)]
pub(super) struct Shape {
    pub(super) pairs: usize,
    pub(super) window: Duration,
    pub(super) rate: Option<f64>,
    pub(super) cross_share: Option<f64>,
    pub(super) in_flight: usize,
}

/// Whether pair `pair` crosses nodes, spreading `share` of the pairs evenly.
fn crosses(pair: usize, share: f64) -> bool {
    ((pair + 1) as f64 * share).floor() > (pair as f64 * share).floor()
}

/// Registers and connects the pairs: connection `2p` sends to connection `2p + 1`.
pub(super) async fn prepare(
    harness: &Harness,
    recorder: &Recorder,
    shape: &Shape,
) -> Result<(Vec<SioClient>, Plan)> {
    let urls = harness.setup().urls.len();
    let share = match (urls, shape.cross_share) {
        (1, _) => 0.0,
        (_, Some(share)) => share,
        (_, None) => 0.5,
    };
    let senders = harness.users("s", shape.pairs, |pair| pair).await?;
    let receivers = harness
        .users("r", shape.pairs, |pair| {
            pair + usize::from(crosses(pair, share))
        })
        .await?;
    let users: Vec<User> = senders
        .into_iter()
        .zip(&receivers)
        .flat_map(|(sender, receiver)| [sender, receiver.clone()])
        .collect();
    let clients = connect_all(harness, &users, recorder).await?;
    let roles = receivers
        .iter()
        .enumerate()
        .flat_map(|(pair, receiver)| {
            let pace = match shape.rate {
                Some(rate) => {
                    let period = Duration::from_secs_f64(shape.pairs as f64 / rate);
                    Pace::Every {
                        period,
                        phase: period.mul_f64(pair as f64 / shape.pairs as f64),
                    }
                }
                None => Pace::InFlight(shape.in_flight),
            };
            let sends = Sends {
                to: json!({ "user": receiver.id }),
                recipients: vec![2 * pair + 1],
                pace,
                chatty: None,
            };
            [Some(sends), None]
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

#[cfg(test)]
mod tests {
    use super::crosses;

    #[test]
    fn the_cross_share_is_spread_over_the_pairs() {
        let crossing = |share| (0..100).filter(|&pair| crosses(pair, share)).count();
        assert_eq!(crossing(0.5), 50);
        assert_eq!(crossing(0.0), 0);
        assert_eq!(crossing(1.0), 100);
        assert!(crosses(1, 0.5) && !crosses(0, 0.5));
    }
}
