//! `group_members`: who is in which group, and with which role.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A member's role in a group, stored as its lowercase name.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum GroupRole {
    /// `"owner"`: the group's creator, or whoever it was handed to.
    #[sea_orm(string_value = "owner")]
    Owner,
    /// `"admin"`: manages members.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// `"member"`: reads and writes.
    #[sea_orm(string_value = "member")]
    Member,
}

/// One user's membership of one group.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "group_members")]
pub struct Model {
    /// The group; the membership is deleted with it.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub group_id: String,
    /// The member (indexed, for "my groups").
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub user_id: String,
    /// The member's role.
    pub role: GroupRole,
    /// When the user joined.
    pub joined_at: DateTimeUtc,
}

/// The membership's group and user.
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
    /// `user_id` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
}

impl Related<super::group::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Group.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
