//! Edits and deletions: each one transaction that takes the conversation's next seq for an
//! entry of its own, checks who may change the message, brings the message to its new
//! state and writes the entry.
//!
//! The seq is taken first, by the same row update that a batch of new messages makes, so
//! a change and new messages of one conversation take turns on its row. A change that is
//! refused rolls back and leaves no gap. A deletion really removes the text: the message's
//! body, meta and mentions, the bodies of its edits, and its reactions.

use chrono::{DateTime, SubsecRound, Utc};
use confab_entities::{MessageKind, conversation, message, reaction};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use serde_json::Value;

/// What to do to a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Replace its body and meta.
    Edit {
        /// The new body.
        body: String,
        /// The new meta.
        meta: Option<Value>,
    },
    /// Delete it for everyone.
    Delete,
}

/// A change asked for by `caller`, and who besides the author may make it.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    /// The message's conversation.
    pub conversation_id: String,
    /// The message's seq.
    pub seq: i64,
    /// Who asks.
    pub caller: String,
    /// What to do.
    pub change: Change,
    /// Whether the caller may change other people's messages (a group's owner and admins
    /// deleting).
    pub moderator: bool,
    /// The oldest message its author may still change; `None`: any.
    pub author_since: Option<DateTime<Utc>>,
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefusal {
    /// No such message in the conversation (or it is deleted, for an edit).
    NoSuchMessage,
    /// The caller is not the author and may not change other people's messages.
    NotAuthor,
    /// The author's window for the change has passed.
    TooLate,
}

/// The entry a change wrote; `fresh` is false when a deletion repeats an earlier one (its
/// entry is returned and nothing is written).
#[derive(Debug, Clone)]
pub struct Changed {
    /// The `edit` or `delete` entry.
    pub entry: message::Model,
    /// Whether this call wrote it.
    pub fresh: bool,
    /// The views of the files a deletion took from the message, for the caller to delete.
    pub removed_attachments: Option<Value>,
}

/// Applies `request` in one transaction.
pub async fn apply(
    db: &DatabaseConnection,
    request: ChangeRequest,
) -> Result<Result<Changed, ChangeRefusal>, DbErr> {
    let txn = super::begin_write(db).await?;
    let Some(seq) = take_seq(&txn, &request.conversation_id).await? else {
        return Ok(Err(ChangeRefusal::NoSuchMessage));
    };
    let Some(target) = message_at(&txn, &request.conversation_id, request.seq).await? else {
        return Ok(Err(ChangeRefusal::NoSuchMessage));
    };
    if target.deleted_at.is_some() {
        // Deleting again finds the first deletion (a retry after a lost ack); nothing
        // else may change a deleted message. Dropping the transaction gives the seq back.
        let first = match request.change {
            Change::Delete => deletion_of(&txn, &target).await?,
            Change::Edit { .. } => None,
        };
        return Ok(first
            .map(|entry| Changed {
                entry,
                fresh: false,
                removed_attachments: None,
            })
            .ok_or(ChangeRefusal::NoSuchMessage));
    }
    if let Err(refusal) = permitted(&request, &target) {
        return Ok(Err(refusal));
    }
    let now = Utc::now().trunc_subsecs(6);
    let entry = entry(&request, &target, seq, now);
    let removed_attachments = match request.change {
        Change::Delete => target.attachments.clone(),
        Change::Edit { .. } => None,
    };
    change_target(&txn, &request.change, target, now).await?;
    message::Entity::insert(entry.clone().into_active_model())
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(Ok(Changed {
        entry,
        fresh: true,
        removed_attachments,
    }))
}

/// Whether the caller may make the change to `target`.
fn permitted(request: &ChangeRequest, target: &message::Model) -> Result<(), ChangeRefusal> {
    if request.moderator {
        return Ok(());
    }
    if target.sender_id != request.caller {
        return Err(ChangeRefusal::NotAuthor);
    }
    match request.author_since {
        Some(since) if target.created_at < since => Err(ChangeRefusal::TooLate),
        _ => Ok(()),
    }
}

/// Adds one to the conversation's `last_seq` (which locks its row until the transaction
/// ends) and returns it; `None` if there is no such conversation.
async fn take_seq(txn: &DatabaseTransaction, conversation_id: &str) -> Result<Option<i64>, DbErr> {
    conversation::Entity::update_many()
        .col_expr(
            conversation::Column::LastSeq,
            Expr::col(conversation::Column::LastSeq).add(1),
        )
        .filter(conversation::Column::Id.eq(conversation_id))
        .exec(txn)
        .await?;
    Ok(conversation::Entity::find_by_id(conversation_id)
        .one(txn)
        .await?
        .map(|row| row.last_seq))
}

/// The message (not an edit or deletion entry) at `seq` of the conversation.
pub async fn message_at(
    db: &impl ConnectionTrait,
    conversation_id: &str,
    seq: i64,
) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Seq.eq(seq))
        .filter(message::Column::Kind.eq(MessageKind::Message))
        .one(db)
        .await
}

/// The entry that deleted `target`.
async fn deletion_of(
    txn: &DatabaseTransaction,
    target: &message::Model,
) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::ConversationId.eq(&target.conversation_id))
        .filter(message::Column::Kind.eq(MessageKind::Delete))
        .filter(message::Column::TargetSeq.eq(target.seq))
        .one(txn)
        .await
}

/// The entry recording the change, at `seq`: it lives as long as the message it changes.
fn entry(
    request: &ChangeRequest,
    target: &message::Model,
    seq: i64,
    now: DateTime<Utc>,
) -> message::Model {
    let id = uuid::Uuid::now_v7().to_string();
    let (kind, body, meta) = match &request.change {
        Change::Edit { body, meta } => (MessageKind::Edit, body.clone(), meta.clone()),
        Change::Delete => (MessageKind::Delete, String::new(), None),
    };
    message::Model {
        // An entry has no client id of its own; its id stands in (unique per sender too).
        client_msg_id: id.clone(),
        id,
        conversation_id: target.conversation_id.clone(),
        seq,
        sender_id: request.caller.clone(),
        body,
        meta,
        created_at: now,
        kind,
        target_seq: Some(target.seq),
        reply_to: None,
        mentions: None,
        edited_at: None,
        deleted_at: None,
        expires_at: target.expires_at,
        attachments: None,
    }
}

/// Brings `target` to its state after `change`; a deletion also blanks its edits and
/// removes its reactions.
async fn change_target(
    txn: &DatabaseTransaction,
    change: &Change,
    target: message::Model,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let (conversation_id, seq) = (target.conversation_id.clone(), target.seq);
    let mut active: message::ActiveModel = target.into();
    match change {
        Change::Edit { body, meta } => {
            active.body = Set(body.clone());
            active.meta = Set(meta.clone());
            active.edited_at = Set(Some(now));
            active.update(txn).await?;
        }
        Change::Delete => {
            active.body = Set(String::new());
            active.meta = Set(None);
            active.mentions = Set(None);
            active.attachments = Set(None);
            active.deleted_at = Set(Some(now));
            active.update(txn).await?;
            message::Entity::update_many()
                .col_expr(message::Column::Body, Expr::value(""))
                .col_expr(message::Column::Meta, Expr::value(Option::<Value>::None))
                .filter(message::Column::ConversationId.eq(&conversation_id))
                .filter(message::Column::Kind.eq(MessageKind::Edit))
                .filter(message::Column::TargetSeq.eq(seq))
                .exec(txn)
                .await?;
            reaction::Entity::delete_many()
                .filter(reaction::Column::ConversationId.eq(&conversation_id))
                .filter(reaction::Column::Seq.eq(seq))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}
