//! Disappearing messages: a conversation's expiry setting, and the sweep that deletes what
//! has expired.
//!
//! A message gets its `expires_at` when it is stored, from its conversation's setting at
//! that moment (a later change of the setting leaves it alone); its edits and its deletion
//! expire with it. Several nodes may sweep at once: each deletes by key, so a row goes
//! once, and a node reports only the conversations where its own delete removed rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use confab_entities::{conversation, message, reaction};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use serde_json::Value;

use super::messages::{ConversationRef, ensure_conversation};

/// Sets how long new messages of `conversation` live (creating it if it has no message
/// yet); `None`: for ever.
pub async fn set(
    db: &DatabaseConnection,
    conversation: &ConversationRef,
    secs: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    ensure_conversation(db, conversation, now).await?;
    conversation::Entity::update_many()
        .col_expr(conversation::Column::ExpireSecs, Expr::value(secs))
        .filter(conversation::Column::Id.eq(&conversation.id))
        .exec(db)
        .await?;
    Ok(())
}

/// What one sweep removed.
#[derive(Debug, Default)]
pub struct Swept {
    /// The seqs, by conversation.
    pub seqs: BTreeMap<String, Vec<i64>>,
    /// The views of the files the removed messages carried, for the caller to delete.
    pub attachments: Vec<Value>,
}

/// Deletes at most `limit` entries that expired before `now`, with their reactions.
pub async fn sweep(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Swept, DbErr> {
    let due: Vec<(String, i64, Option<Value>)> = message::Entity::find()
        .select_only()
        .column(message::Column::ConversationId)
        .column(message::Column::Seq)
        .column(message::Column::Attachments)
        .filter(message::Column::ExpiresAt.lt(now))
        .order_by_asc(message::Column::ExpiresAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_conversation: BTreeMap<String, (Vec<i64>, Vec<Value>)> = BTreeMap::new();
    for (conversation_id, seq, attachments) in due {
        let (seqs, files) = by_conversation.entry(conversation_id).or_default();
        seqs.push(seq);
        files.extend(attachments);
    }
    let mut removed = Swept::default();
    for (conversation_id, (seqs, files)) in by_conversation {
        reaction::Entity::delete_many()
            .filter(reaction::Column::ConversationId.eq(&conversation_id))
            .filter(reaction::Column::Seq.is_in(seqs.iter().copied()))
            .exec(db)
            .await?;
        let deleted = message::Entity::delete_many()
            .filter(message::Column::ConversationId.eq(&conversation_id))
            .filter(message::Column::Seq.is_in(seqs.iter().copied()))
            .filter(message::Column::ExpiresAt.lt(now))
            .exec(db)
            .await?;
        if deleted.rows_affected > 0 {
            removed.seqs.insert(conversation_id, seqs);
            removed.attachments.extend(files);
        }
    }
    Ok(removed)
}
