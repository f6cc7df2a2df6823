//! Attachments' rows: stored after their upload, claimed by the message that first sends
//! them, summed for quotas, and swept when no message took them.

use chrono::{DateTime, Utc};
use confab_entities::attachment;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};

/// Stores a new attachment's row.
pub async fn insert(db: &DatabaseConnection, model: attachment::Model) -> Result<(), DbErr> {
    model.into_active_model().insert(db).await?;
    Ok(())
}

/// The attachment `id`.
pub async fn by_id(db: &DatabaseConnection, id: &str) -> Result<Option<attachment::Model>, DbErr> {
    attachment::Entity::find_by_id(id).one(db).await
}

/// Bytes `owner` has uploaded, in all.
pub async fn used_by(db: &DatabaseConnection, owner: &str) -> Result<i64, DbErr> {
    // SUM of a BIGINT is NUMERIC on PostgreSQL and DECIMAL on MySQL: cast back.
    let total = match db.get_database_backend() {
        DbBackend::Postgres => "CAST(COALESCE(SUM(size), 0) AS BIGINT)",
        DbBackend::MySql => "CAST(COALESCE(SUM(size), 0) AS SIGNED)",
        _ => "COALESCE(SUM(size), 0)",
    };
    let used: Option<i64> = attachment::Entity::find()
        .select_only()
        .column_as(Expr::cust(total), "total")
        .filter(attachment::Column::OwnerId.eq(owner))
        .into_tuple()
        .one(db)
        .await?;
    Ok(used.unwrap_or(0))
}

/// The uploads `ids` of `owner` that no message has sent yet, in the order asked.
pub async fn unsent(
    db: &DatabaseConnection,
    ids: &[String],
    owner: &str,
) -> Result<Vec<attachment::Model>, DbErr> {
    let mut found = attachment::Entity::find()
        .filter(attachment::Column::Id.is_in(ids))
        .filter(attachment::Column::OwnerId.eq(owner))
        .filter(attachment::Column::ConversationId.is_null())
        .all(db)
        .await?;
    found.sort_by_key(|model| ids.iter().position(|id| *id == model.id));
    Ok(found)
}

/// Gives the unsent uploads `ids` to `conversation_id` (whose message sent them, or an
/// avatar's owner); returns how many were still unsent and so given.
pub async fn give(
    db: &DatabaseConnection,
    ids: &[String],
    conversation_id: &str,
) -> Result<u64, DbErr> {
    let given = attachment::Entity::update_many()
        .col_expr(
            attachment::Column::ConversationId,
            Expr::value(conversation_id),
        )
        .filter(attachment::Column::Id.is_in(ids))
        .filter(attachment::Column::ConversationId.is_null())
        .exec(db)
        .await?;
    Ok(given.rows_affected)
}

/// The attachments sent to `conversation_id`.
pub async fn of_conversation(
    db: &DatabaseConnection,
    conversation_id: &str,
) -> Result<Vec<String>, DbErr> {
    attachment::Entity::find()
        .select_only()
        .column(attachment::Column::Id)
        .filter(attachment::Column::ConversationId.eq(conversation_id))
        .into_tuple()
        .all(db)
        .await
}

/// Deletes the rows `ids`.
pub async fn delete(db: &DatabaseConnection, ids: &[String]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    attachment::Entity::delete_many()
        .filter(attachment::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(())
}

/// At most `limit` attachments uploaded before `before` that no message took.
pub async fn unreferenced(
    db: &DatabaseConnection,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    attachment::Entity::find()
        .select_only()
        .column(attachment::Column::Id)
        .filter(attachment::Column::ConversationId.is_null())
        .filter(attachment::Column::CreatedAt.lt(before))
        .order_by_asc(attachment::Column::CreatedAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}
