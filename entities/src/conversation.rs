//! `conversations`: a stream of messages with its own sequence numbers, either between two
//! users or of one group. The node derives the id from the two user ids or from the group id;
//! this table only stores it.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Whether a conversation is between two users or belongs to a group.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    /// `"direct"`: `user_a` and `user_b` are set, `group_id` is not.
    #[sea_orm(string_value = "direct")]
    Direct,
    /// `"group"`: `group_id` is set, `user_a` and `user_b` are not.
    #[sea_orm(string_value = "group")]
    Group,
}

/// One conversation.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    /// Derived by the node from the members (direct) or the group id (group).
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(96))"
    )]
    pub id: String,
    /// Direct or group.
    pub kind: ConversationKind,
    /// The group, for a group conversation; the conversation is deleted with it.
    #[sea_orm(column_type = "String(StringLen::N(36))", nullable)]
    pub group_id: Option<String>,
    /// The lesser of a direct conversation's two user ids.
    #[sea_orm(column_type = "String(StringLen::N(36))", nullable)]
    pub user_a: Option<String>,
    /// The greater of a direct conversation's two user ids.
    #[sea_orm(column_type = "String(StringLen::N(36))", nullable)]
    pub user_b: Option<String>,
    /// The highest seq given to a message here; 0 before the first message.
    #[sea_orm(default_value = 0)]
    pub last_seq: i64,
    /// When the conversation was created.
    pub created_at: DateTimeUtc,
    /// How long a message sent here lives, in seconds; `None`: for ever.
    pub expire_secs: Option<i64>,
}

/// The conversation's group, members, messages and read cursors.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `group_id` → `groups.id`, on delete cascade.
    #[sea_orm(
        belongs_to = "super::group::Entity",
        from = "Column::GroupId",
        to = "super::group::Column::Id",
        on_delete = "Cascade"
    )]
    Group,
    /// `user_a` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserA",
        to = "super::user::Column::Id"
    )]
    UserA,
    /// `user_b` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserB",
        to = "super::user::Column::Id"
    )]
    UserB,
    /// The conversation's messages; deleted with it.
    #[sea_orm(has_many = "super::message::Entity")]
    Message,
    /// The members' read cursors; deleted with it.
    #[sea_orm(has_many = "super::read_cursor::Entity")]
    ReadCursor,
    /// The reactions to its messages; deleted with it.
    #[sea_orm(has_many = "super::reaction::Entity")]
    Reaction,
}

impl Related<super::group::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Group.def()
    }
}

impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl Related<super::read_cursor::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ReadCursor.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
