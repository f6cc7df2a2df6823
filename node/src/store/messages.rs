//! Messages: appending a batch in one transaction with race-free sequence numbers,
//! idempotency by `(sender, client_msg_id)`, and the indexed reads behind history and sync.
//!
//! Sequence numbers are assigned by `UPDATE conversations SET last_seq = last_seq + k`,
//! which locks the conversation's row until the transaction commits: two nodes writing to
//! one conversation take turns, on PostgreSQL and MySQL as on SQLite (where the write
//! transaction locks the file). Conversations are updated in id order so two batches
//! never wait on each other in a cycle.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SubsecRound, Utc};
use confab_entities::{ConversationKind, conversation, message};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqliteTransactionMode, TransactionOptions, TransactionTrait,
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
}

/// Stores `batch` in one transaction and returns the stored message for each entry, in
/// order. An entry whose `(sender, client_msg_id)` exists already (or repeats an earlier
/// entry) gets the existing message and stores nothing.
///
/// Fails as a whole, storing nothing, if any statement fails, including a unique
/// violation when another node stores the same `client_msg_id` at the same moment; the
/// caller then retries the entries one by one.
pub async fn append_batch(
    db: &DatabaseConnection,
    batch: &[NewMessage],
) -> Result<Vec<message::Model>, DbErr> {
    // A write transaction from the start: on SQLite a read that later wants to write can
    // fail at once when another connection writes; other databases ignore the mode.
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    let existing = existing_by_client_id(&txn, batch).await?;
    let now = Utc::now().trunc_subsecs(6);
    // Fresh entries, in order, grouped by conversation; repeats inside the batch map to
    // their first occurrence.
    let mut fresh: Vec<usize> = Vec::new();
    let mut first_index: HashMap<(&str, &str), usize> = HashMap::new();
    for (index, new) in batch.iter().enumerate() {
        let key = (new.sender_id.as_str(), new.client_msg_id.as_str());
        if !existing.contains_key(&key) && !first_index.contains_key(&key) {
            first_index.insert(key, index);
            fresh.push(index);
        }
    }
    let mut per_conversation: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &index in &fresh {
        per_conversation
            .entry(batch[index].conversation.id.as_str())
            .or_default()
            .push(index);
    }
    let mut stored: HashMap<usize, message::Model> = HashMap::new();
    for (conversation_id, indexes) in &per_conversation {
        let conversation = &batch[indexes[0]].conversation;
        ensure_conversation(&txn, conversation, now).await?;
        let last = reserve_seqs(&txn, conversation_id, indexes.len() as i64).await?;
        let first_seq = last - indexes.len() as i64 + 1;
        let mut rows = Vec::with_capacity(indexes.len());
        for (offset, &index) in indexes.iter().enumerate() {
            let new = &batch[index];
            let model = message::Model {
                id: uuid::Uuid::now_v7().to_string(),
                conversation_id: (*conversation_id).to_owned(),
                seq: first_seq + offset as i64,
                sender_id: new.sender_id.clone(),
                body: new.body.clone(),
                meta: new.meta.clone(),
                client_msg_id: new.client_msg_id.clone(),
                created_at: now,
            };
            rows.push(active(&model));
            stored.insert(index, model);
        }
        message::Entity::insert_many(rows).exec(&txn).await?;
    }
    txn.commit().await?;
    batch
        .iter()
        .enumerate()
        .map(|(index, new)| {
            let key = (new.sender_id.as_str(), new.client_msg_id.as_str());
            let first = first_index.get(&key).copied().unwrap_or(index);
            existing.get(&key).or_else(|| stored.get(&first)).cloned()
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| DbErr::Custom("a batch entry was neither found nor stored".to_owned()))
}

fn active(model: &message::Model) -> message::ActiveModel {
    message::ActiveModel {
        id: Set(model.id.clone()),
        conversation_id: Set(model.conversation_id.clone()),
        seq: Set(model.seq),
        sender_id: Set(model.sender_id.clone()),
        body: Set(model.body.clone()),
        meta: Set(model.meta.clone()),
        client_msg_id: Set(model.client_msg_id.clone()),
        created_at: Set(model.created_at),
    }
}

async fn existing_by_client_id<'a>(
    db: &impl ConnectionTrait,
    batch: &'a [NewMessage],
) -> Result<HashMap<(&'a str, &'a str), message::Model>, DbErr> {
    if batch.is_empty() {
        return Ok(HashMap::new());
    }
    let mut any = Condition::any();
    for new in batch {
        any = any.add(
            Condition::all()
                .add(message::Column::SenderId.eq(new.sender_id.as_str()))
                .add(message::Column::ClientMsgId.eq(new.client_msg_id.as_str())),
        );
    }
    let found = message::Entity::find().filter(any).all(db).await?;
    let mut by_key = HashMap::new();
    for new in batch {
        if let Some(model) = found
            .iter()
            .find(|m| m.sender_id == new.sender_id && m.client_msg_id == new.client_msg_id)
        {
            by_key.insert(
                (new.sender_id.as_str(), new.client_msg_id.as_str()),
                model.clone(),
            );
        }
    }
    Ok(by_key)
}

/// Creates the conversation's row if it does not exist yet.
pub async fn ensure_conversation(
    db: &impl ConnectionTrait,
    conversation: &ConversationRef,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
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
    conversation::Entity::insert(conversation::ActiveModel {
        id: Set(conversation.id.clone()),
        kind: Set(kind),
        group_id: Set(group_id),
        user_a: Set(user_a),
        user_b: Set(user_b),
        last_seq: Set(0),
        created_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec(db)
    .await?;
    Ok(())
}

/// Adds `count` to the conversation's `last_seq` (locking its row) and returns the new
/// value: the caller owns `new - count + 1 ..= new`.
async fn reserve_seqs(
    db: &impl ConnectionTrait,
    conversation_id: &str,
    count: i64,
) -> Result<i64, DbErr> {
    conversation::Entity::update_many()
        .col_expr(
            conversation::Column::LastSeq,
            Expr::col(conversation::Column::LastSeq).add(count),
        )
        .filter(conversation::Column::Id.eq(conversation_id))
        .exec(db)
        .await?;
    conversation::Entity::find_by_id(conversation_id.to_owned())
        .one(db)
        .await?
        .map(|row| row.last_seq)
        .ok_or_else(|| DbErr::RecordNotFound(format!("conversation {conversation_id}")))
}

/// Messages of `conversation_id` with `after < seq < before`, oldest first, at most `limit`.
pub async fn between(
    db: &DatabaseConnection,
    conversation_id: &str,
    after: i64,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    let mut query = message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Seq.gt(after));
    if let Some(before) = before {
        query = query.filter(message::Column::Seq.lt(before));
    }
    query
        .order_by_asc(message::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// The newest messages of `conversation_id` before `before` (all when `None`), returned
/// oldest first, at most `limit`.
pub async fn latest_before(
    db: &DatabaseConnection,
    conversation_id: &str,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    let mut query =
        message::Entity::find().filter(message::Column::ConversationId.eq(conversation_id));
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
