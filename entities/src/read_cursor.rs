//! `read_cursors`: how far each member has read each conversation.

use sea_orm::entity::prelude::*;

/// `user_id` has read `conversation_id` up to `seq`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "read_cursors")]
pub struct Model {
    /// The conversation; the cursor is deleted with it.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(96))"
    )]
    pub conversation_id: String,
    /// The reader.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub user_id: String,
    /// The last seq read.
    pub seq: i64,
    /// When the cursor last moved.
    pub updated_at: DateTimeUtc,
}

/// The cursor's conversation and user.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `conversation_id` → `conversations.id`, on delete cascade.
    #[sea_orm(
        belongs_to = "super::conversation::Entity",
        from = "Column::ConversationId",
        to = "super::conversation::Column::Id",
        on_delete = "Cascade"
    )]
    Conversation,
    /// `user_id` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
}

impl Related<super::conversation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversation.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
