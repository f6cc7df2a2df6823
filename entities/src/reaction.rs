//! `reactions`: one row per user, message and emoji. A message is named by its
//! conversation and seq, as clients name it; its reactions go when it is deleted.

use sea_orm::entity::prelude::*;

/// `user_id` reacted to the message `seq` of `conversation_id` with `emoji`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reactions")]
pub struct Model {
    /// The message's conversation; the reaction is deleted with it.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(96))"
    )]
    pub conversation_id: String,
    /// The message's seq.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// Who reacted.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub user_id: String,
    /// The emoji (or a short name for one).
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(32))"
    )]
    pub emoji: String,
    /// When.
    pub created_at: DateTimeUtc,
}

/// The reaction's conversation.
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
}

impl Related<super::conversation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
