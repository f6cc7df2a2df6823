//! Moderation: the admin flag, disabling accounts, reports and the audit log.

use chrono::Utc;
use confab_entities::{ReportStatus, audit_entry, report, user};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

/// An administrative action to record.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The administrator's id, or `cli`.
    pub actor: String,
    /// What was done.
    pub action: &'static str,
    /// What kind of thing it was done to.
    pub target_kind: &'static str,
    /// Its id.
    pub target_id: String,
    /// Details.
    pub detail: serde_json::Value,
}

/// Appends `audit` to the log.
pub async fn record(db: &impl ConnectionTrait, audit: Audit) -> Result<(), DbErr> {
    audit_entry::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        actor: Set(audit.actor),
        action: Set(audit.action.to_owned()),
        target_kind: Set(audit.target_kind.to_owned()),
        target_id: Set(audit.target_id),
        detail: Set(audit.detail.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// At most `limit` entries of the log before the entry `before`, newest first.
pub async fn audit_page(
    db: &impl ConnectionTrait,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<audit_entry::Model>, DbErr> {
    let mut query = audit_entry::Entity::find();
    if let Some(before) = before {
        query = query.filter(audit_entry::Column::Id.lt(before));
    }
    query
        .order_by_desc(audit_entry::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Sets whether the user `id` is an administrator; false if there is no such user.
pub async fn set_admin(db: &impl ConnectionTrait, id: &str, admin: bool) -> Result<bool, DbErr> {
    let updated = user::Entity::update_many()
        .col_expr(user::Column::IsAdmin, Expr::value(admin))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Disables the enabled account `id` (or enables the disabled one again); false if there
/// is no such account in the other state.
pub async fn set_disabled(
    db: &impl ConnectionTrait,
    id: &str,
    disabled: bool,
) -> Result<bool, DbErr> {
    let at = disabled.then(Utc::now);
    let in_other_state = if disabled {
        user::Column::DisabledAt.is_null()
    } else {
        user::Column::DisabledAt.is_not_null()
    };
    let updated = user::Entity::update_many()
        .col_expr(user::Column::DisabledAt, Expr::value(at))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::DeletedAt.is_null())
        .filter(in_other_state)
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Accounts whose username or display name contains `text`, whatever the case (any
/// account when empty), in username order, a page at a time.
pub async fn find_users(
    db: &impl ConnectionTrait,
    text: &str,
    offset: u64,
    limit: u64,
) -> Result<Vec<user::Model>, DbErr> {
    let mut query = user::Entity::find();
    if !text.is_empty() {
        let escaped = super::like_escaped(&text.to_lowercase());
        let pattern = || LikeExpr::new(format!("%{escaped}%")).escape('\\');
        let lower = |column: user::Column| Expr::expr(Func::lower(Expr::col(column)));
        query = query.filter(
            Condition::any()
                .add(lower(user::Column::Username).like(pattern()))
                .add(lower(user::Column::DisplayName).like(pattern())),
        );
    }
    query
        .order_by_asc(user::Column::Username)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await
}

/// What a new report is made of.
#[derive(Debug)]
pub struct NewReport {
    /// Who reports.
    pub reporter_id: String,
    /// The message's conversation.
    pub conversation_id: String,
    /// The message's seq.
    pub seq: i64,
    /// Why.
    pub reason: String,
}

/// Stores an open report.
pub async fn insert_report(
    db: &impl ConnectionTrait,
    new: NewReport,
) -> Result<report::Model, DbErr> {
    report::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        reporter_id: Set(new.reporter_id),
        conversation_id: Set(new.conversation_id),
        seq: Set(new.seq),
        reason: Set(new.reason),
        status: Set(ReportStatus::Open),
        created_at: Set(Utc::now()),
        resolved_at: Set(None),
        resolved_by: Set(None),
        resolution: Set(None),
    }
    .insert(db)
    .await
}

/// At most `limit` reports with `status`, oldest first, after the report `after`.
pub async fn reports(
    db: &impl ConnectionTrait,
    status: ReportStatus,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<report::Model>, DbErr> {
    let mut query = report::Entity::find().filter(report::Column::Status.eq(status));
    if let Some(after) = after {
        query = query.filter(report::Column::Id.gt(after));
    }
    query
        .order_by_asc(report::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Closes the open report `id` as `status`, by `admin`, with `note`; `None` if there is
/// no open report of that id.
pub async fn close_report(
    db: &impl ConnectionTrait,
    id: &str,
    status: ReportStatus,
    admin: &str,
    note: Option<String>,
) -> Result<Option<report::Model>, DbErr> {
    let updated = report::Entity::update_many()
        .col_expr(report::Column::Status, Expr::value(status))
        .col_expr(report::Column::ResolvedAt, Expr::value(Utc::now()))
        .col_expr(report::Column::ResolvedBy, Expr::value(admin))
        .col_expr(report::Column::Resolution, Expr::value(note))
        .filter(report::Column::Id.eq(id))
        .filter(report::Column::Status.eq(ReportStatus::Open))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(None);
    }
    report::Entity::find_by_id(id.to_owned()).one(db).await
}
