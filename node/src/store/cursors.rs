//! Read cursors, moved forward in bulk: the receipts of many readers in one statement (and
//! one commit) instead of a read, an update and a commit each.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use confab_entities::read_cursor;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, Set};

/// Most cursors one statement moves.
const MAX_ROWS: usize = 256;

/// A reader has read a conversation up to `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorMove {
    /// The conversation.
    pub conversation_id: String,
    /// The reader.
    pub user_id: String,
    /// How far they have read.
    pub seq: i64,
}

/// Moves every cursor of `moves` forward to its seq, never back (a cursor further on
/// already stays), creating the ones that do not exist. Several moves of one cursor count
/// as the furthest.
pub async fn advance(
    db: &impl ConnectionTrait,
    moves: Vec<CursorMove>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut furthest: HashMap<(String, String), i64> = HashMap::new();
    for CursorMove {
        conversation_id,
        user_id,
        seq,
    } in moves
    {
        let entry = furthest.entry((conversation_id, user_id)).or_insert(seq);
        *entry = Ord::max(*entry, seq);
    }
    let rows: Vec<read_cursor::ActiveModel> = furthest
        .into_iter()
        .map(
            |((conversation_id, user_id), seq)| read_cursor::ActiveModel {
                conversation_id: Set(conversation_id),
                user_id: Set(user_id),
                seq: Set(seq),
                updated_at: Set(now),
            },
        )
        .collect();
    let forward_only = forward_only(db.get_database_backend());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(MAX_ROWS).collect();
        read_cursor::Entity::insert_many(chunk)
            .on_conflict(forward_only.clone())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The upsert's conflict clause: a cursor takes the new seq (and time) only if it is
/// further on. MySQL has no `WHERE` there: it keeps the greater seq, and sets the time
/// first, while `seq` still holds the old value.
fn forward_only(backend: DbBackend) -> OnConflict {
    use read_cursor::Column;
    let mut clause = OnConflict::columns([Column::ConversationId, Column::UserId]);
    if backend == DbBackend::MySql {
        clause
            .value(
                Column::UpdatedAt,
                Expr::cust("IF(VALUES(`seq`) > `seq`, VALUES(`updated_at`), `updated_at`)"),
            )
            .value(Column::Seq, Expr::cust("GREATEST(`seq`, VALUES(`seq`))"));
    } else {
        clause
            .update_columns([Column::Seq, Column::UpdatedAt])
            .action_and_where(
                Expr::col((read_cursor::Entity, Column::Seq)).lt(Expr::cust("excluded.seq")),
            );
    }
    clause.to_owned()
}
