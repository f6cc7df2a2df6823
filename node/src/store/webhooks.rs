//! The webhook outbox (`webhook_events`): rows are written before they are sent, taken
//! by one node at a time under a lease, and deleted once delivered or given up.

use chrono::{DateTime, Utc};
use confab_entities::webhook_event;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

/// Writes `rows`.
pub async fn insert(db: &DatabaseConnection, rows: Vec<webhook_event::Model>) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    webhook_event::Entity::insert_many(rows.into_iter().map(webhook_event::ActiveModel::from))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// At most `limit` rows due at `now`, the longest waiting first.
pub async fn due(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<webhook_event::Model>, DbErr> {
    webhook_event::Entity::find()
        .filter(webhook_event::Column::NextAttemptAt.lte(now))
        .order_by_asc(webhook_event::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await
}

/// Takes `row` for one attempt: counts it and moves its next attempt to `lease_until`,
/// unless another node took it since it was read; true if this call took it.
pub async fn take(
    db: &DatabaseConnection,
    row: &webhook_event::Model,
    lease_until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let taken = webhook_event::Entity::update_many()
        .col_expr(
            webhook_event::Column::Attempts,
            Expr::col(webhook_event::Column::Attempts).add(1),
        )
        .col_expr(
            webhook_event::Column::NextAttemptAt,
            Expr::value(lease_until),
        )
        .filter(webhook_event::Column::Id.eq(&row.id))
        .filter(webhook_event::Column::Attempts.eq(row.attempts))
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// The row is done with (delivered, or given up).
pub async fn remove(db: &DatabaseConnection, id: &str) -> Result<(), DbErr> {
    webhook_event::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// The row's next attempt is at `at`.
pub async fn retry_at(db: &DatabaseConnection, id: &str, at: DateTime<Utc>) -> Result<(), DbErr> {
    webhook_event::Entity::update_many()
        .col_expr(webhook_event::Column::NextAttemptAt, Expr::value(at))
        .filter(webhook_event::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// How many rows wait.
pub async fn waiting(db: &DatabaseConnection) -> Result<u64, DbErr> {
    webhook_event::Entity::find().count(db).await
}
