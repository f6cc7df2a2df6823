//! Reactions: adding one under the bound of distinct emoji per message, taking one back,
//! and the counts a page of history shows.

use std::collections::{HashMap, HashSet};

use chrono::{SubsecRound, Utc};
use confab_entities::{conversation, reaction};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};

use super::changes::message_at;

/// Why a reaction was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactionRefusal {
    /// No such message (or it is deleted).
    NoSuchMessage,
    /// The message has `max_distinct` different emoji already, this one not among them.
    TooMany,
}

/// One reaction.
#[derive(Debug, Clone)]
pub struct ReactionKey {
    /// The message's conversation.
    pub conversation_id: String,
    /// The message's seq.
    pub seq: i64,
    /// Who reacts.
    pub user_id: String,
    /// With what.
    pub emoji: String,
}

/// Adds a reaction; `Ok(false)` if the user had reacted so already. Takes the
/// conversation's row lock first, so that two reactions with new emoji cannot both pass
/// the bound.
pub async fn add(
    db: &DatabaseConnection,
    key: ReactionKey,
    max_distinct: usize,
) -> Result<Result<bool, ReactionRefusal>, DbErr> {
    let txn = super::begin_write(db).await?;
    conversation::Entity::update_many()
        .col_expr(
            conversation::Column::LastSeq,
            Expr::col(conversation::Column::LastSeq),
        )
        .filter(conversation::Column::Id.eq(&key.conversation_id))
        .exec(&txn)
        .await?;
    let target = message_at(&txn, &key.conversation_id, key.seq).await?;
    if target.is_none_or(|message| message.deleted_at.is_some()) {
        return Ok(Err(ReactionRefusal::NoSuchMessage));
    }
    let id = (
        key.conversation_id.clone(),
        key.seq,
        key.user_id.clone(),
        key.emoji.clone(),
    );
    if reaction::Entity::find_by_id(id).one(&txn).await?.is_some() {
        return Ok(Ok(false));
    }
    let emoji: Vec<String> = reaction::Entity::find()
        .select_only()
        .column(reaction::Column::Emoji)
        .distinct()
        .filter(reaction::Column::ConversationId.eq(&key.conversation_id))
        .filter(reaction::Column::Seq.eq(key.seq))
        .into_tuple()
        .all(&txn)
        .await?;
    if !emoji.contains(&key.emoji) && emoji.len() >= max_distinct {
        return Ok(Err(ReactionRefusal::TooMany));
    }
    reaction::Entity::insert(reaction::ActiveModel {
        conversation_id: Set(key.conversation_id),
        seq: Set(key.seq),
        user_id: Set(key.user_id),
        emoji: Set(key.emoji),
        created_at: Set(Utc::now().trunc_subsecs(6)),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(Ok(true))
}

/// Takes a reaction back; false if there was none.
pub async fn remove(db: &DatabaseConnection, key: ReactionKey) -> Result<bool, DbErr> {
    let removed =
        reaction::Entity::delete_by_id((key.conversation_id, key.seq, key.user_id, key.emoji))
            .exec(db)
            .await?;
    Ok(removed.rows_affected > 0)
}

/// The reactions to a message: each emoji with how many reacted with it and whether
/// `caller` did, the most frequent first (then by emoji, so the order is stable).
pub type Counts = Vec<(String, u64, bool)>;

/// The reactions to the messages `seqs` of a conversation, by seq, in two queries: the
/// counts per emoji, and the caller's own.
pub async fn counts(
    db: &DatabaseConnection,
    conversation_id: &str,
    seqs: &[i64],
    caller: &str,
) -> Result<HashMap<i64, Counts>, DbErr> {
    if seqs.is_empty() {
        return Ok(HashMap::new());
    }
    let of_page = || {
        reaction::Entity::find()
            .select_only()
            .column(reaction::Column::Seq)
            .column(reaction::Column::Emoji)
            .filter(reaction::Column::ConversationId.eq(conversation_id))
            .filter(reaction::Column::Seq.is_in(seqs.iter().copied()))
    };
    let totals: Vec<(i64, String, i64)> = of_page()
        .column_as(Expr::col(reaction::Column::UserId).count(), "count")
        .group_by(reaction::Column::Seq)
        .group_by(reaction::Column::Emoji)
        .into_tuple()
        .all(db)
        .await?;
    let mine: HashSet<(i64, String)> = of_page()
        .filter(reaction::Column::UserId.eq(caller))
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut by_seq: HashMap<i64, Counts> = HashMap::new();
    for (seq, emoji, count) in totals {
        let me = mine.contains(&(seq, emoji.clone()));
        let count = u64::try_from(count).unwrap_or(0);
        by_seq.entry(seq).or_default().push((emoji, count, me));
    }
    for counts in by_seq.values_mut() {
        counts.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    }
    Ok(by_seq)
}
