//! Sessions: starting one, rotating its refresh token, ending it, and finding those that
//! ended lately (for every node to close their sockets).

use chrono::{DateTime, Utc};
use confab_entities::{RevokedReason, session};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
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

/// A session that ended, and where the next page of ended sessions starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The session.
    pub id: String,
    /// Its user.
    pub user_id: String,
    /// Why it ended (`None`: it expired).
    pub reason: Option<RevokedReason>,
    /// When it ended: the page key, with the id.
    pub at: DateTime<Utc>,
}

/// Which ended sessions a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// Revoked.
    Revocation,
    /// Expired (and not revoked).
    Expiry,
}

/// At most `limit` sessions that ended by `by` at or after `since` (and, for expiries,
/// before now), after the key `after` (an end time and id), in key order.
pub async fn ended_page(
    db: &impl ConnectionTrait,
    by: EndedBy,
    since: DateTime<Utc>,
    after: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> Result<Vec<Ended>, DbErr> {
    let at = match by {
        EndedBy::Revocation => session::Column::RevokedAt,
        EndedBy::Expiry => session::Column::ExpiresAt,
    };
    let mut query = session::Entity::find().filter(at.gte(since));
    if by == EndedBy::Expiry {
        query = query
            .filter(session::Column::ExpiresAt.lte(Utc::now()))
            .filter(session::Column::RevokedAt.is_null());
    }
    if let Some((after_at, after_id)) = after {
        query = query.filter(
            Condition::any().add(at.gt(after_at)).add(
                Condition::all()
                    .add(at.eq(after_at))
                    .add(session::Column::Id.gt(after_id)),
            ),
        );
    }
    let rows = query
        .order_by_asc(at)
        .order_by_asc(session::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Ended {
            at: match by {
                EndedBy::Revocation => row.revoked_at.unwrap_or(row.expires_at),
                EndedBy::Expiry => row.expires_at,
            },
            id: row.id,
            user_id: row.user_id,
            reason: row.revoked_reason,
        })
        .collect())
}

/// Revokes (as `revoked`) the live sessions of `user_id` beyond the `keep` most recently
/// used; returns how many.
pub async fn trim(db: &impl ConnectionTrait, user_id: &str, keep: u64) -> Result<u64, DbErr> {
    let now = Utc::now();
    let surplus: Vec<String> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .order_by_desc(session::Column::LastUsedAt)
        .order_by_desc(session::Column::Id)
        .offset(keep)
        // SQLite and MySQL take no OFFSET without a LIMIT.
        .limit(1000)
        .into_tuple()
        .all(db)
        .await?;
    if surplus.is_empty() {
        return Ok(0);
    }
    let revoked = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .col_expr(
            session::Column::RevokedReason,
            Expr::value(RevokedReason::Revoked),
        )
        .filter(session::Column::Id.is_in(surplus))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(revoked.rows_affected)
}

/// Deletes at most `limit` sessions that ended (were revoked or expired) before `before`;
/// returns how many.
pub async fn prune(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<u64, DbErr> {
    let ended = Condition::any()
        .add(session::Column::RevokedAt.lt(before))
        .add(session::Column::ExpiresAt.lt(before));
    let ids: Vec<String> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(ended)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let deleted = session::Entity::delete_many()
        .filter(session::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
