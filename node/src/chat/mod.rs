//! The chat, the domain: every operation of `API.md`, written once, taking typed input
//! and giving typed output or a [`ChatError`]. It knows neither HTTP nor Socket.IO: two
//! thin adapters call it, the HTTP API (`api/`, which maps a `ChatError` to a status) and
//! the Socket.IO namespace (`socket.rs`, one table from event to operation), so both give
//! the same answers and the same error codes.
//!
//! A message's path: `socket.rs` (decode, authorise) → `messages.rs` (rules) →
//! `actors/store.rs` (sequence number, durable write) → the ack → `actors/node.rs` →
//! `actors/user.rs` / `actors/group.rs` → the recipients' sockets.

pub mod attachments;
pub mod blocks;
pub mod changes;
pub mod contacts;
pub mod conversations;
pub mod expiry;
pub mod groups;
pub mod hooks;
pub mod messages;
pub mod moderation;
pub mod presence;
pub mod rate;
pub mod reactions;
pub mod search;
pub mod users;

use std::sync::{Arc, LazyLock};

use actix::Addr;
use confab_protocol::chat::ErrorCode;
use confab_protocol::engineio::Frame;
use confab_protocol::socketio::{Namespace, event_frame};
use sea_orm::DatabaseConnection;
use serde::Serialize;

use self::conversations::Conversation;
use crate::actors::cursors::CursorWriter;
use crate::actors::node::{
    DeliverToGroup, DeliverToUsers, MembershipChanged, MembershipsRead, NodeActor, StartReconcile,
};
use crate::actors::store::StoreActor;
use crate::actors::user::Deliver;
use crate::engineio::Sid;
use crate::pending::Pending;

/// The chat's limits.
#[derive(Debug, Clone)]
pub struct ChatLimits {
    /// Largest message body, in bytes. Default 65536.
    pub max_body_bytes: usize,
    /// Largest `meta`, serialised, in bytes. Default 16384.
    pub max_meta_bytes: usize,
    /// Most members a group may have. Default 1000.
    pub max_group_members: usize,
    /// Most groups a user may be in. Default 500.
    pub max_groups_per_user: usize,
    /// How long after sending its author may still delete (recall) a message; `None`: any
    /// time. Default 48 hours.
    pub recall_window: Option<std::time::Duration>,
    /// Most different emoji one message may carry as reactions. Default 20.
    pub max_reactions_per_message: usize,
    /// What uploads may be.
    pub uploads: attachments::UploadLimits,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_meta_bytes: 16 * 1024,
            max_group_members: 1000,
            max_groups_per_user: 500,
            recall_window: Some(std::time::Duration::from_secs(48 * 3600)),
            max_reactions_per_message: 20,
            uploads: attachments::UploadLimits {
                max_bytes: 25 * 1024 * 1024,
                types: Vec::new(),
                quota_bytes: 1024 * 1024 * 1024,
                unreferenced_for: std::time::Duration::from_secs(24 * 3600),
            },
        }
    }
}

/// Why a chat operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatError {
    /// The stable code.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
    /// When asking again may succeed (for `rate_limited`).
    pub retry_after: Option<std::time::Duration>,
}

impl ChatError {
    /// An error with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same error, saying when asking again may succeed.
    pub fn retry_after(self, wait: Option<std::time::Duration>) -> Self {
        Self {
            retry_after: wait,
            ..self
        }
    }

    /// `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// `not_found`: also what a caller gets for something it may not see.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// `internal_error`: logs the cause, which the client never sees.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "chat operation failed");
        Self::new(
            ErrorCode::InternalError,
            "something went wrong on the server",
        )
    }
}

impl From<sea_orm::DbErr> for ChatError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::internal(error)
    }
}

/// What every chat operation needs.
#[derive(Debug, Clone)]
pub struct Chat {
    /// The database.
    pub db: DatabaseConnection,
    /// The message writer.
    pub store: Addr<StoreActor>,
    /// The read cursors' writer.
    pub cursors: Addr<CursorWriter>,
    /// Who blocked whom, for typing and receipts (shared with the node actor, which
    /// forgets what other nodes say changed).
    pub blocks: Arc<blocks::Blocks>,
    /// The node's registry and router.
    pub node: Addr<NodeActor>,
    /// The limits.
    pub limits: Arc<ChatLimits>,
    /// The rate limiters.
    pub rate: Arc<rate::RateLimits>,
    /// What closed and opened connections still have to do (presence announcements); a
    /// stopping node waits for it.
    pub pending: Pending,
    /// Where attachments are kept.
    pub storage: crate::storage::Storage,
    /// The operator's webhooks, when configured.
    pub webhooks: Option<crate::webhooks::Webhooks>,
    /// The users' sessions and their tokens.
    pub sessions: crate::sessions::Sessions,
}

/// The chat's namespace, `/`.
static ROOT: LazyLock<Namespace> = LazyLock::new(Namespace::root);

/// Encodes a server event for the chat namespace, once for all its recipients.
pub fn encode_event(name: &str, payload: impl Serialize) -> Arc<[Frame]> {
    Arc::from([event_frame(&ROOT, name, &payload)])
}

impl Chat {
    /// Sends an event to every connection of `users` (but the socket `except`).
    pub fn push_to_users(&self, users: Vec<String>, frames: Arc<[Frame]>, except: Option<Sid>) {
        self.deliver_to_users(
            users,
            Deliver {
                frames,
                except,
                committed_at: None,
            },
        );
    }

    /// Sends an event to every online member of a group (but the socket `except`).
    pub fn push_to_group(&self, group_id: &str, frames: Arc<[Frame]>, except: Option<Sid>) {
        self.deliver_to_group(
            group_id,
            Deliver {
                frames,
                except,
                committed_at: None,
            },
        );
    }

    /// Delivers to every member of `conversation` (but the socket `deliver.except`): both
    /// users of a direct conversation, or a group's online members.
    pub(crate) fn deliver_to_conversation(&self, conversation: &Conversation, deliver: Deliver) {
        match conversation {
            Conversation::Direct { a, b } => {
                let mut users = vec![a.to_string()];
                if b != a {
                    users.push(b.to_string());
                }
                self.deliver_to_users(users, deliver);
            }
            Conversation::Group { group_id } => self.deliver_to_group(group_id, deliver),
        }
    }

    pub(crate) fn deliver_to_users(&self, users: Vec<String>, deliver: Deliver) {
        if users.is_empty() {
            return;
        }
        if self
            .node
            .try_send(DeliverToUsers {
                users,
                deliver,
                span: tracing::Span::current(),
            })
            .is_err()
        {
            metrics::counter!("confab_fanout_dropped_total").increment(1);
        }
    }

    pub(crate) fn deliver_to_group(&self, group_id: &str, deliver: Deliver) {
        let message = DeliverToGroup {
            group_id: group_id.to_owned(),
            deliver,
            span: tracing::Span::current(),
        };
        if self.node.try_send(message).is_err() {
            metrics::counter!("confab_fanout_dropped_total").increment(1);
        }
    }

    /// Every `every`, re-reads the memberships of the users online here and routes their
    /// groups as the database says (see `actors::user`): a change this node missed
    /// (its forward failed while Redis or NATS was down) or a group load that failed at
    /// connect is repaired within one round. Runs until `shutdown`.
    pub async fn reconcile_memberships(
        self,
        every: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let mut rounds = tokio::time::interval(every);
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        rounds.tick().await;
        while shutdown.run_until_cancelled(rounds.tick()).await.is_some() {
            let Ok(users) = self.node.send(StartReconcile).await else {
                return;
            };
            let groups = crate::store::membership::groups_of_users(&self.db, &users)
                .await
                .inspect_err(|error| tracing::warn!(%error, "could not re-read memberships"))
                .ok();
            if self.node.send(MembershipsRead { groups }).await.is_err() {
                return;
            }
        }
    }

    /// Users joined or left a group (`(user, member now)`): their connections start or
    /// stop receiving its messages at once. One message for the whole change; if the
    /// node's mailbox is full it is dropped, counted and repaired by the next re-read of
    /// memberships ([`Chat::reconcile_memberships`]).
    pub fn memberships_changed(&self, group_id: &str, users: Vec<(String, bool)>) {
        if users.is_empty() {
            return;
        }
        let change = MembershipChanged {
            group_id: group_id.to_owned(),
            users,
        };
        if self.node.try_send(change).is_err() {
            metrics::counter!("confab_fanout_dropped_total").increment(1);
            tracing::warn!(
                group_id,
                "membership change dropped; the next re-read repairs it"
            );
        }
    }
}
