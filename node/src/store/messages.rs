//! Messages: what a new message is, and the indexed reads behind history and sync (the
//! writes are in `append.rs`).

use chrono::{DateTime, Utc};
use confab_entities::{ConversationKind, MessageKind, conversation, message};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;

/// The conversation a new message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRef {
    /// Its id.
    pub id: String,
    /// Direct (with its two users, lower id first) or group.
    pub kind: ConversationRefKind,
}

/// What kind of conversation, with what it needs to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationRefKind {
    /// Between two users.
    Direct {
        /// The lower user id.
        user_a: String,
        /// The higher user id.
        user_b: String,
    },
    /// A group's conversation.
    Group {
        /// The group.
        group_id: String,
    },
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Where it goes.
    pub conversation: ConversationRef,
    /// Who sent it.
    pub sender_id: String,
    /// The text.
    pub body: String,
    /// Free JSON.
    pub meta: Option<Value>,
    /// The sender's id for it.
    pub client_msg_id: String,
    /// The seq of the message it answers (checked to be one of the conversation's).
    pub reply_to: Option<i64>,
    /// The members it mentions, a JSON array (checked to be the group's members).
    pub mentions: Option<Value>,
    /// The views of the files it carries, a JSON array (checked to be the sender's).
    pub attachments: Option<Value>,
    /// About how many bytes it takes to queue and to insert: see [`NewMessage::size_of`].
    pub size: usize,
}

impl NewMessage {
    /// What a message with a `body_len`-byte body and a `meta_len`-byte serialised meta
    /// takes: those, plus about 200 bytes for its ids, sequence number and time.
    pub fn size_of(body_len: usize, meta_len: usize) -> usize {
        body_len + meta_len + 200
    }
}

/// The row of a conversation that does not exist yet, with `last_seq` set to `last_seq`.
pub(super) fn new_conversation(
    conversation: &ConversationRef,
    last_seq: i64,
    now: DateTime<Utc>,
) -> conversation::ActiveModel {
    let (kind, group_id, user_a, user_b) = match &conversation.kind {
        ConversationRefKind::Direct { user_a, user_b } => (
            ConversationKind::Direct,
            None,
            Some(user_a.clone()),
            Some(user_b.clone()),
        ),
        ConversationRefKind::Group { group_id } => {
            (ConversationKind::Group, Some(group_id.clone()), None, None)
        }
    };
    conversation::ActiveModel {
        id: Set(conversation.id.clone()),
        kind: Set(kind),
        group_id: Set(group_id),
        user_a: Set(user_a),
        user_b: Set(user_b),
        last_seq: Set(last_seq),
        created_at: Set(now),
        expire_secs: Set(None),
    }
}

/// Creates the conversation's row if it does not exist yet.
pub async fn ensure_conversation(
    db: &impl ConnectionTrait,
    conversation: &ConversationRef,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    conversation::Entity::insert(new_conversation(conversation, 0, now))
        .on_conflict_do_nothing()
        .exec(db)
        .await?;
    Ok(())
}

/// Which entries of a conversation a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    /// Messages and the edits and deletions of them: the stream `sync` replays.
    All,
    /// Messages only, each as it is now: what `history` shows.
    Messages,
}

/// Entries of `conversation_id` with `after < seq < before`, oldest first, at most `limit`.
pub async fn between(
    db: &DatabaseConnection,
    conversation_id: &str,
    after: i64,
    before: Option<i64>,
    limit: u64,
    kinds: Kinds,
) -> Result<Vec<message::Model>, DbErr> {
    let mut query = message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Seq.gt(after));
    if kinds == Kinds::Messages {
        query = query.filter(message::Column::Kind.eq(MessageKind::Message));
    }
    if let Some(before) = before {
        query = query.filter(message::Column::Seq.lt(before));
    }
    query
        .order_by_asc(message::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// The newest messages (not edits or deletions) of `conversation_id` before `before` (all when `None`), returned
/// oldest first, at most `limit`.
pub async fn latest_before(
    db: &DatabaseConnection,
    conversation_id: &str,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    let mut query = message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Kind.eq(MessageKind::Message));
    if let Some(before) = before {
        query = query.filter(message::Column::Seq.lt(before));
    }
    let mut page = query
        .order_by_desc(message::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    page.reverse();
    Ok(page)
}
