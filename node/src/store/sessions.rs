//! Sessions: starting one, rotating its refresh token, ending it, and finding those that
//! ended lately (for every node to close their sockets).

use chrono::{DateTime, Utc};
use confab_entities::{RevokedReason, session};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

/// What a new session is made of.
#[derive(Debug)]
pub struct NewSession {
    /// The session's id.
    pub id: String,
    /// Whose it is.
    pub user_id: String,
    /// SHA-256 (hex) of its first refresh secret.
    pub refresh_hash: String,
    /// The device's name, as the client gave it.
    pub device: String,
    /// The login's `User-Agent`.
    pub user_agent: String,
    /// When it ends unless refreshed.
    pub expires_at: DateTime<Utc>,
}

/// Stores a new session.
pub async fn insert(db: &impl ConnectionTrait, new: NewSession) -> Result<(), DbErr> {
    let now = Utc::now();
    session::ActiveModel {
        id: Set(new.id),
        user_id: Set(new.user_id),
        refresh_hash: Set(new.refresh_hash),
        previous_hash: Set(None),
        device: Set(new.device),
        user_agent: Set(new.user_agent),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The session with this id.
pub async fn by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<session::Model>, DbErr> {
    session::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Replaces the live session's refresh secret `old` by `new` and moves its expiry to
/// `expires_at`; false if the session is not live or `old` is not its current secret
/// (one statement, so two refreshes with one token cannot both win).
pub async fn rotate(
    db: &impl ConnectionTrait,
    id: &str,
    old: &str,
    new: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let updated = session::Entity::update_many()
        .col_expr(session::Column::RefreshHash, Expr::value(new))
        .col_expr(session::Column::PreviousHash, Expr::value(old))
        .col_expr(session::Column::LastUsedAt, Expr::value(now))
        .col_expr(session::Column::ExpiresAt, Expr::value(expires_at))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::RefreshHash.eq(old))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Revokes the user's live sessions (not revoked, not expired) for `reason`: `only` that
/// one if given, else all but `except`. Returns how many it revoked.
pub async fn revoke(
    db: &impl ConnectionTrait,
    user_id: &str,
    only: Option<&str>,
    except: Option<&str>,
    reason: RevokedReason,
) -> Result<u64, DbErr> {
    let now = Utc::now();
    let mut update = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .col_expr(session::Column::RevokedReason, Expr::value(reason))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now));
    if let Some(only) = only {
        update = update.filter(session::Column::Id.eq(only));
    }
    if let Some(except) = except {
        update = update.filter(session::Column::Id.ne(except));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// The user's live sessions, most recently used first.
pub async fn live_of(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<session::Model>, DbErr> {
    session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(Utc::now()))
        .order_by_desc(session::Column::LastUsedAt)
        .all(db)
        .await
}

/// Most ended sessions one sweep reads.
const ENDED_BATCH: u64 = 10_000;

/// Sessions revoked at or after `since`, and those that expired between `since` and now:
/// `(session, user, reason)`, the reason `None` for an expiry.
pub async fn ended_since(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<Vec<(String, String, Option<RevokedReason>)>, DbErr> {
    let columns = [
        session::Column::Id,
        session::Column::UserId,
        session::Column::RevokedReason,
    ];
    let mut ended: Vec<(String, String, Option<RevokedReason>)> = session::Entity::find()
        .select_only()
        .columns(columns)
        .filter(session::Column::RevokedAt.gte(since))
        .limit(ENDED_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    let expired: Vec<(String, String, Option<RevokedReason>)> = session::Entity::find()
        .select_only()
        .columns(columns)
        .filter(session::Column::ExpiresAt.gte(since))
        .filter(session::Column::ExpiresAt.lte(Utc::now()))
        .filter(session::Column::RevokedAt.is_null())
        .limit(ENDED_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    ended.extend(expired);
    Ok(ended)
}
