//! Polling requests between nodes, over the bus: the [`PollTransport`] the Engine.IO server
//! forwards a polling request with when a load balancer sent it to a node that does not
//! hold its session. Each node listens on its own polling subject (`Keys`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use confab_cluster::{Bus, Headers, Keys};
use futures_util::stream;

use crate::engineio::{ForwardedPoll, ForwardedPolls, PollTransport};

/// Polling requests over `bus`, for the node `node_id`.
#[derive(Debug)]
pub struct BusPolls {
    bus: Arc<dyn Bus>,
    keys: Keys,
    node_id: String,
}

impl BusPolls {
    /// The transport of node `node_id` over `bus`.
    pub fn new(bus: Arc<dyn Bus>, keys: Keys, node_id: &str) -> Self {
        Self {
            bus,
            keys,
            node_id: node_id.to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl PollTransport for BusPolls {
    async fn request(
        &self,
        owner: &str,
        request: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, String> {
        let subject = self.keys.poll_request_subject(owner);
        self.bus
            .request(&subject, request, Headers::new(), timeout)
            .await
            .map_err(|error| error.to_string())
    }

    async fn incoming(&self) -> Result<ForwardedPolls, String> {
        let subject = self.keys.poll_request_subject(&self.node_id);
        let subscription = self
            .bus
            .subscribe(&subject)
            .await
            .map_err(|error| error.to_string())?;
        // Requests only: a message without a reply subject has nobody to answer.
        let requests = stream::unfold(subscription, |mut subscription| async move {
            loop {
                let message = subscription.next_message().await?;
                if let Some(reply_to) = message.reply {
                    let forwarded = ForwardedPoll {
                        request: message.payload,
                        reply_to,
                    };
                    return Some((forwarded, subscription));
                }
            }
        });
        Ok(Box::pin(requests))
    }

    async fn respond(&self, reply_to: &str, reply: Bytes) -> Result<(), String> {
        self.bus
            .respond(reply_to, reply, Headers::new())
            .await
            .map_err(|error| error.to_string())
    }
}
