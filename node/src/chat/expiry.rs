//! Disappearing messages: a conversation's members set how long its new messages live
//! (in a group its owner and admins; in a direct conversation either user), and every
//! node sweeps what has expired, telling the members (`messages:expired`).
//!
//! The setting applies to messages sent after it changes; each message carries its own
//! `expires_at`. Several nodes sweeping at once is safe (`store/expiry.rs`); members may
//! then hear of one expiry twice, which changes nothing for them.

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use confab_protocol::chat::{ConversationUpdated, Expired, ExpiryRequest, UserId, events};
use tokio_util::sync::CancellationToken;

use super::conversations::{Conversation, standing};
use super::{Chat, ChatError, attachments, encode_event};
use crate::actors::user::Deliver;
use crate::store::{expiry as store, users};

/// Longest expiry: a year.
const MAX_EXPIRE_SECS: u64 = 365 * 24 * 3600;
/// Most entries one sweep deletes before it looks again.
const SWEEP_BATCH: u64 = 500;

/// `conversation:set_expiry`: sets (or with `null` clears) how long new messages of the
/// conversation live, and tells its members.
pub async fn set(
    chat: &Chat,
    caller: &UserId,
    request: ExpiryRequest,
) -> Result<ConversationUpdated, ChatError> {
    let secs = match request.seconds {
        Some(secs) if !(1..=MAX_EXPIRE_SECS).contains(&secs) => {
            return Err(ChatError::invalid(format!(
                "seconds must be 1 to {MAX_EXPIRE_SECS}, or null"
            )));
        }
        secs => secs,
    };
    let (conversation, manager) = standing(chat, caller, &request.conversation).await?;
    match &conversation {
        Conversation::Direct { a, b } => {
            // The conversation may not exist yet: both users must, to create it.
            let users = if a == b { 1 } else { 2 };
            if users::existing(&chat.db, &[a.as_str(), b.as_str()])
                .await?
                .len()
                < users
            {
                return Err(ChatError::not_found("no such user"));
            }
        }
        Conversation::Group { .. } if !manager => {
            return Err(ChatError::forbidden(
                "only the group's owner and admins set its expiry",
            ));
        }
        Conversation::Group { .. } => {}
    }
    let stored_secs = secs.map(|secs| i64::try_from(secs).unwrap_or(i64::MAX));
    let now = Utc::now().trunc_subsecs(6);
    store::set(&chat.db, &conversation.to_ref(), stored_secs, now).await?;
    let updated = ConversationUpdated {
        id: request.conversation,
        expire_secs: secs,
        by: caller.clone(),
    };
    tell(chat, &conversation, events::CONVERSATION_UPDATED, &updated);
    Ok(updated)
}

/// Tells every member of `conversation`, on every connection.
fn tell(chat: &Chat, conversation: &Conversation, event: &str, payload: impl serde::Serialize) {
    let deliver = Deliver {
        frames: encode_event(event, payload),
        except: None,
        committed_at: None,
    };
    chat.deliver_to_conversation(conversation, deliver);
}

impl Chat {
    /// Every `every`, deletes the entries that expired (telling their conversations) and
    /// the uploads no message took in time. Runs until `shutdown`.
    pub async fn sweep_expired(self, every: Duration, shutdown: CancellationToken) {
        let mut rounds = tokio::time::interval(every);
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while shutdown.run_until_cancelled(rounds.tick()).await.is_some() {
            while let Ok(true) = self.sweep_messages().await {}
            loop {
                match attachments::sweep_unreferenced(&self).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => {
                        tracing::warn!(?error, "could not delete unused uploads");
                        break;
                    }
                }
            }
        }
    }

    /// One round of the sweep of expired entries; true if there may be more.
    async fn sweep_messages(&self) -> Result<bool, ChatError> {
        let swept = store::sweep(&self.db, Utc::now(), SWEEP_BATCH)
            .await
            .inspect_err(|error| tracing::warn!(%error, "could not delete expired messages"))?;
        let count: usize = swept.seqs.values().map(Vec::len).sum();
        metrics::counter!("confab_messages_expired_total").increment(count as u64);
        for (id, seqs) in swept.seqs {
            let Some(conversation) = Conversation::parse(&id) else {
                continue;
            };
            let expired = Expired {
                conversation: conversation.id(),
                seqs,
            };
            tell(self, &conversation, events::MESSAGES_EXPIRED, &expired);
        }
        let files: Vec<String> = swept
            .attachments
            .iter()
            .flat_map(|views| attachments::ids_in(Some(views)))
            .collect();
        attachments::remove(self, &files).await;
        Ok(count as u64 >= SWEEP_BATCH)
    }
}
