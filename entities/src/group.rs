//! `groups`: a named set of members sharing one group conversation.

use sea_orm::entity::prelude::*;

/// One group.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "groups")]
pub struct Model {
    /// UUIDv7, hyphenated.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub id: String,
    /// The group's display name.
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub name: String,
    /// Whether anyone may join without being added.
    pub public: bool,
    /// The user who owns the group (also a member with the `owner` role).
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub owner_id: String,
    /// When the group was created.
    pub created_at: DateTimeUtc,
}

/// The group's owner, members and conversation.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `owner_id` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::OwnerId",
        to = "super::user::Column::Id"
    )]
    Owner,
    /// Memberships; deleted with the group.
    #[sea_orm(has_many = "super::group_member::Entity")]
    GroupMember,
    /// The group's conversation; deleted with the group.
    #[sea_orm(has_many = "super::conversation::Entity")]
    Conversation,
}

impl Related<super::group_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::GroupMember.def()
    }
}

impl Related<super::conversation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversation.def()
    }
}

/// The group's members, through `group_members` (the owner is [`Relation::Owner`]).
impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        super::group_member::Relation::User.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::group_member::Relation::Group.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
