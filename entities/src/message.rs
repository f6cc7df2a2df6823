//! `messages`: every message ever acknowledged, keyed for history/sync by
//! (conversation_id, seq) and for idempotent sends by (sender_id, client_msg_id), both unique.
//!
//! An edit or a deletion is an entry of its own (`kind`), with its own seq, so that `sync`
//! carries changes in order; the message it changes (`target_seq`) is updated in the same
//! transaction to what it is now, so that `history` reads the current state.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// UUIDv7, hyphenated.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub id: String,
    /// The conversation; the message is deleted with it.
    #[sea_orm(column_type = "String(StringLen::N(96))")]
    pub conversation_id: String,
    /// Position in the conversation: 1, 2, 3, ... Unique per conversation.
    pub seq: i64,
    /// The author's user id (no foreign key: the write path stays lean).
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub sender_id: String,
    /// The text (`MEDIUMTEXT` on MySQL/MariaDB, so that it holds the largest body).
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// Free-form client data (jsonb on PostgreSQL, json on MySQL, text on SQLite).
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub meta: Option<Json>,
    /// The sender's id for the message; unique per sender, so a retried send finds the first.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub client_msg_id: String,
    /// When the message was stored.
    pub created_at: DateTimeUtc,
    /// A message, or an edit or deletion of the one at `target_seq`.
    pub kind: MessageKind,
    /// For an edit or a deletion: the seq of the message it changes.
    pub target_seq: Option<i64>,
    /// The seq of the message (of the same conversation) this one answers.
    pub reply_to: Option<i64>,
    /// The user ids a group message mentions (a JSON array).
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub mentions: Option<Json>,
    /// When the message was last edited.
    pub edited_at: Option<DateTimeUtc>,
    /// When the message was deleted: its body, meta and mentions are gone.
    pub deleted_at: Option<DateTimeUtc>,
    /// When the message disappears (its conversation's expiry when it was sent).
    pub expires_at: Option<DateTimeUtc>,
    /// The views of the files it carries (a JSON array); removed with its text.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub attachments: Option<Json>,
}

/// What an entry of a conversation is.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// `"message"`: something a user said.
    #[default]
    #[sea_orm(string_value = "message")]
    Message,
    /// `"edit"`: the message at `target_seq` now reads as this entry's body and meta.
    #[sea_orm(string_value = "edit")]
    Edit,
    /// `"delete"`: the message at `target_seq` was deleted for everyone.
    #[sea_orm(string_value = "delete")]
    Delete,
}

/// The message's conversation.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `conversation_id` → `conversations.id`, on delete cascade.
    #[sea_orm(
        belongs_to = "super::conversation::Entity",
        from = "Column::ConversationId",
        to = "super::conversation::Column::Id",
        on_delete = "Cascade"
    )]
    Conversation,
}

impl Related<super::conversation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
