//! `blocks`: users who refuse messages from other users.

use sea_orm::entity::prelude::*;

/// `user_id` blocks `blocked_id`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "blocks")]
pub struct Model {
    /// Who blocks.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub user_id: String,
    /// Who is blocked (indexed, for "who blocked this user").
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub blocked_id: String,
    /// When the block was made.
    pub created_at: DateTimeUtc,
}

/// The row's two users.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `user_id` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
    /// `blocked_id` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::BlockedId",
        to = "super::user::Column::Id"
    )]
    Blocked,
}

impl ActiveModelBehavior for ActiveModel {}
