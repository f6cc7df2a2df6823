//! `audit_log`: what administrators did, one row per action. Rows are only ever inserted.

use sea_orm::entity::prelude::*;

/// One administrative action.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// UUIDv7: the log is paged by it, newest first.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub id: String,
    /// The administrator's user id, or `cli` for the command line.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub actor: String,
    /// What was done (`user.disable`, `message.delete`, ...).
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub action: String,
    /// What it was done to: `user`, `message`, `group` or `report`.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub target_kind: String,
    /// Its id (`conversation/seq` for a message).
    #[sea_orm(column_type = "String(StringLen::N(120))")]
    pub target_id: String,
    /// Details, as JSON text.
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    /// When.
    pub created_at: DateTimeUtc,
}

/// No relations: the log outlives what it tells of.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
