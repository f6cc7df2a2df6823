//! Appending messages: a batch in one transaction, with the rules checked per entry inside
//! it, race-free sequence numbers and idempotency by `(sender, client_msg_id)`.
//!
//! Sequence numbers are reserved by an upsert that adds a conversation's count of new
//! messages to `conversations.last_seq`, which locks the conversation's row until the
//! transaction commits: two nodes writing to one conversation take turns, on PostgreSQL and
//! MySQL as on SQLite (where the write transaction locks the file). Rows are written in
//! conversation id order, so two batches never wait on each other in a cycle.
//!
//! Every statement covers a run of entries whose length is a power of two (at most
//! [`MAX_ROWS`]): a statement's text then takes one of a few shapes, which each pooled
//! connection prepares once and keeps, instead of the database parsing and planning a new
//! statement for every batch size. Runs also keep an insert's parameters to about
//! [`MAX_BYTES`]: sqlx 0.9.0 leaves Nagle's algorithm on (sqlx issue 4335), and a request
//! larger than that waited for the server's delayed ACK, 40 ms, before its tail was sent
//! (measured on PostgreSQL over loopback: inserts of 64 messages, about 17 KB, stalled;
//! of 32, about 9 KB, did not).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use confab_entities::{MessageKind, block, conversation, group_member, message};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};

use super::messages::{ConversationRefKind, NewMessage, new_conversation};

/// Most entries one statement covers.
const MAX_ROWS: usize = 64;
/// Most estimated bytes ([`NewMessage::size`]) one insert carries (one larger message goes
/// alone).
const MAX_BYTES: usize = 12 * 1024;

/// Why an entry of a batch was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// One of a direct conversation's users does not exist.
    NoSuchUser,
    /// One of a direct conversation's users has blocked the other.
    Blocked,
    /// The sender is not a member of the group.
    NotMember,
}

/// A stored entry of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The message as stored.
    pub message: message::Model,
    /// Whether this entry stored it: false for a repeat of a `(sender, client_msg_id)`
    /// stored before, or earlier in the same batch.
    pub fresh: bool,
}

/// What became of one entry of a batch: the stored message, or why it was refused.
pub type Appended = Result<Stored, Refusal>;

/// Stores `batch` in one transaction and returns, for each entry in order, the stored
/// message or why it was refused.
///
/// The rules are checked inside the transaction, with a few lookups for the whole batch:
/// a direct message needs both users to exist and neither to have blocked the other, a
/// group message needs its sender to be a member. An entry whose `(sender, client_msg_id)`
/// exists already (or repeats an earlier entry) gets the existing message and stores
/// nothing.
///
/// Repeats are rare (a client retrying after a lost ack), so the batch is first written
/// as if none were stored: a repeat then fails the insert on the unique index, and the
/// batch is written again, looking its entries up first. (The lookup on every batch cost
/// more than everything else together on PostgreSQL.)
///
/// Fails as a whole, storing nothing, if any statement fails, including a unique
/// violation when another node stores the same `client_msg_id` at the same moment; the
/// caller then retries the entries one by one.
pub async fn append_batch(
    db: &DatabaseConnection,
    batch: &[NewMessage],
) -> Result<Vec<Appended>, DbErr> {
    match write(db, batch, Repeats::Unlikely).await {
        Err(error) if super::is_unique_violation(&error) => write(db, batch, Repeats::LookUp).await,
        written => written,
    }
}

/// Whether to look up the batch's entries among the stored messages before writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeats {
    /// No: a repeat fails the insert.
    Unlikely,
    /// Yes: repeats get the stored message.
    LookUp,
}

async fn write(
    db: &DatabaseConnection,
    batch: &[NewMessage],
    repeats: Repeats,
) -> Result<Vec<Appended>, DbErr> {
    let txn = super::begin_write(db).await?;
    let refusals = refusals(&txn, batch).await?;
    let accepted: Vec<&NewMessage> = batch
        .iter()
        .zip(&refusals)
        .filter(|(_, refusal)| refusal.is_none())
        .map(|(new, _)| new)
        .collect();
    let mut stored = match repeats {
        Repeats::LookUp => existing_by_client_id(&txn, &accepted).await?,
        Repeats::Unlikely => HashMap::new(),
    };
    let now = Utc::now().trunc_subsecs(6);
    // Fresh entries, in order, grouped by conversation; repeats are not fresh.
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut per_conversation: BTreeMap<&str, Vec<&NewMessage>> = BTreeMap::new();
    for new in accepted {
        let key = (new.sender_id.as_str(), new.client_msg_id.as_str());
        if !stored.contains_key(&key) && seen.insert(key) {
            per_conversation
                .entry(new.conversation.id.as_str())
                .or_default()
                .push(new);
        }
    }
    let reserved = reserve_seqs(&txn, &per_conversation, now).await?;
    let mut inserted: HashSet<(&str, &str)> = HashSet::new();
    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    for (conversation_id, news) in &per_conversation {
        let reserved = reserved
            .get(*conversation_id)
            .ok_or_else(|| DbErr::RecordNotFound(format!("conversation {conversation_id}")))?;
        let first_seq = reserved.last_seq - news.len() as i64 + 1;
        let expires_at = reserved
            .expire_secs
            .map(|secs| now + chrono::TimeDelta::seconds(secs));
        for (offset, new) in news.iter().enumerate() {
            let model = message::Model {
                id: uuid::Uuid::now_v7().to_string(),
                conversation_id: (*conversation_id).to_owned(),
                seq: first_seq + offset as i64,
                sender_id: new.sender_id.clone(),
                body: new.body.clone(),
                meta: new.meta.clone(),
                client_msg_id: new.client_msg_id.clone(),
                created_at: now,
                kind: MessageKind::Message,
                target_seq: None,
                reply_to: new.reply_to,
                mentions: new.mentions.clone(),
                edited_at: None,
                deleted_at: None,
                expires_at,
                attachments: new.attachments.clone(),
            };
            rows.push(active(&model));
            sizes.push(new.size);
            let key = (new.sender_id.as_str(), new.client_msg_id.as_str());
            inserted.insert(key);
            stored.insert(key, model);
        }
    }
    let mut rows = rows.into_iter();
    for run in runs(&sizes, |size| *size) {
        message::Entity::insert_many(rows.by_ref().take(run.len()))
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    batch
        .iter()
        .zip(refusals)
        .map(|(new, refusal)| match refusal {
            Some(refusal) => Some(Err(refusal)),
            None => {
                let key = (new.sender_id.as_str(), new.client_msg_id.as_str());
                let message = stored.get(&key).cloned()?;
                // The first entry with a key stored it; later ones repeat it.
                let fresh = inserted.remove(&key);
                Some(Ok(Stored { message, fresh }))
            }
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| DbErr::Custom("a batch entry was neither found nor stored".to_owned()))
}

/// Splits `items` into runs for one statement each: power-of-two lengths, at most
/// [`MAX_ROWS`], halved while their `size` adds up to more than [`MAX_BYTES`].
fn runs<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let mut len = 1 << rest.len().min(MAX_ROWS).ilog2();
        while len > 1 && rest[..len].iter().map(&size).sum::<usize>() > MAX_BYTES {
            len /= 2;
        }
        let (run, tail) = rest.split_at(len);
        runs.push(run);
        rest = tail;
    }
    runs
}

/// `first = a AND second = b`.
fn both(first: impl ColumnTrait, a: &str, second: impl ColumnTrait, b: &str) -> Condition {
    Condition::all().add(first.eq(a)).add(second.eq(b))
}

/// Any of `pairs` as `(first, second)`.
fn any_pair<'a>(
    first: impl ColumnTrait,
    second: impl ColumnTrait,
    pairs: impl IntoIterator<Item = &'a (&'a str, &'a str)>,
) -> Condition {
    pairs.into_iter().fold(Condition::any(), |any, &(a, b)| {
        any.add(both(first, a, second, b))
    })
}

/// For each entry, why it may not be stored, if it may not: lookups of the users of the
/// batch's direct conversations, the blocks between them and the senders' group
/// memberships, none for a kind of entry the batch does not have.
async fn refusals(
    db: &impl ConnectionTrait,
    batch: &[NewMessage],
) -> Result<Vec<Option<Refusal>>, DbErr> {
    let mut pairs: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut memberships: BTreeSet<(&str, &str)> = BTreeSet::new();
    for new in batch {
        match &new.conversation.kind {
            ConversationRefKind::Direct { user_a, user_b } => {
                pairs.insert((user_a, user_b));
            }
            ConversationRefKind::Group { group_id } => {
                memberships.insert((group_id, &new.sender_id));
            }
        }
    }
    let ids: Vec<&str> = pairs
        .iter()
        .flat_map(|&(a, b)| [a, b])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut users: HashSet<String> = HashSet::new();
    for run in runs(&ids, |_| 0) {
        users.extend(super::users::existing(db, run).await?);
    }
    // Both directions of each pair: (a, b) then (b, a).
    let either_way: Vec<(&str, &str)> = pairs.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
    let blocks = rows_of::<block::Entity>(
        db,
        (block::Column::UserId, block::Column::BlockedId),
        &either_way,
    )
    .await?;
    let memberships: Vec<(&str, &str)> = memberships.into_iter().collect();
    let members = rows_of::<group_member::Entity>(
        db,
        (group_member::Column::GroupId, group_member::Column::UserId),
        &memberships,
    )
    .await?;
    let blocked = |a: &str, b: &str| blocks.contains(&(a.to_owned(), b.to_owned()));
    Ok(batch
        .iter()
        .map(|new| match &new.conversation.kind {
            ConversationRefKind::Direct { user_a, user_b } => {
                if !users.contains(user_a) || !users.contains(user_b) {
                    Some(Refusal::NoSuchUser)
                } else if blocked(user_a, user_b) || blocked(user_b, user_a) {
                    Some(Refusal::Blocked)
                } else {
                    None
                }
            }
            ConversationRefKind::Group { group_id } => (!members
                .contains(&(group_id.clone(), new.sender_id.clone())))
            .then_some(Refusal::NotMember),
        })
        .collect())
}

/// Which of `pairs` are rows of `E`, as its `columns`, looked up a run at a time.
async fn rows_of<E: EntityTrait>(
    db: &impl ConnectionTrait,
    (first, second): (E::Column, E::Column),
    pairs: &[(&str, &str)],
) -> Result<HashSet<(String, String)>, DbErr> {
    let mut found = HashSet::new();
    for run in runs(pairs, |_| 0) {
        let rows: Vec<(String, String)> = E::find()
            .select_only()
            .columns([first, second])
            .filter(any_pair(first, second, run))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

fn active(model: &message::Model) -> message::ActiveModel {
    model.clone().into()
}

/// The stored messages of the entries whose `(sender, client_msg_id)` exists already.
async fn existing_by_client_id<'a>(
    db: &impl ConnectionTrait,
    batch: &[&'a NewMessage],
) -> Result<HashMap<(&'a str, &'a str), message::Model>, DbErr> {
    let keys: Vec<(&'a str, &'a str)> = batch
        .iter()
        .map(|new| (new.sender_id.as_str(), new.client_msg_id.as_str()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut by_key = HashMap::new();
    for run in runs(&keys, |_| 0) {
        let found = message::Entity::find()
            .filter(any_pair(
                message::Column::SenderId,
                message::Column::ClientMsgId,
                run,
            ))
            .all(db)
            .await?;
        for model in found {
            let key = run
                .iter()
                .find(|&&(sender, id)| model.sender_id == sender && model.client_msg_id == id);
            if let Some(&key) = key {
                by_key.insert(key, model);
            }
        }
    }
    Ok(by_key)
}

/// What [`reserve_seqs`] reserved in one conversation.
#[derive(Debug, Clone, Copy)]
struct Reserved {
    /// The conversation's new `last_seq`: its messages own `last_seq - count + 1 ..=
    /// last_seq`.
    last_seq: i64,
    /// How long its messages live.
    expire_secs: Option<i64>,
}

/// Reserves sequence numbers for the messages of each conversation (creating the
/// conversations that do not exist yet) with upserts that add the count to `last_seq`
/// and lock the rows until the transaction ends; returns what each reserved.
async fn reserve_seqs(
    db: &impl ConnectionTrait,
    per_conversation: &BTreeMap<&str, Vec<&NewMessage>>,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Reserved>, DbErr> {
    // The row proposed for insertion carries the count in `last_seq`.
    let proposed = if db.get_database_backend() == DbBackend::MySql {
        Expr::cust("VALUES(`last_seq`)")
    } else {
        Expr::cust("excluded.last_seq")
    };
    let add_count = OnConflict::column(conversation::Column::Id)
        .value(
            conversation::Column::LastSeq,
            Expr::col((conversation::Entity, conversation::Column::LastSeq)).add(proposed),
        )
        .to_owned();
    let conversations: Vec<(&str, &Vec<&NewMessage>)> = per_conversation
        .iter()
        .map(|(id, news)| (*id, news))
        .collect();
    let mut last_seqs = HashMap::new();
    for run in runs(&conversations, |_| 0) {
        let rows = run
            .iter()
            .map(|(_, news)| new_conversation(&news[0].conversation, news.len() as i64, now));
        let upsert = conversation::Entity::insert_many(rows).on_conflict(add_count.clone());
        let updated = if db.support_returning() {
            upsert.exec_with_returning(db).await?
        } else {
            upsert.exec_without_returning(db).await?;
            conversation::Entity::find()
                .filter(conversation::Column::Id.is_in(run.iter().map(|(id, _)| *id)))
                .all(db)
                .await?
        };
        last_seqs.extend(updated.into_iter().map(|row| {
            let reserved = Reserved {
                last_seq: row.last_seq,
                expire_secs: row.expire_secs,
            };
            (row.id, reserved)
        }));
    }
    Ok(last_seqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_have_power_of_two_lengths_up_to_the_row_and_byte_limits() {
        let lengths = |items: &[usize]| -> Vec<usize> {
            runs(items, |size| *size)
                .iter()
                .map(|run| run.len())
                .collect()
        };
        assert_eq!(lengths(&[1; 100]), [64, 32, 4]);
        assert_eq!(lengths(&[1; 7]), [4, 2, 1]);
        assert_eq!(lengths(&[]), Vec::<usize>::new());
        // 64 rows of 256 bytes are over the byte limit: halved to 32.
        assert_eq!(lengths(&[256; 64]), [32, 32]);
        // A row over the limit goes alone.
        assert_eq!(lengths(&[MAX_BYTES * 2, 1]), [1, 1]);
    }
}
