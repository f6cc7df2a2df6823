//! `users`: an account. Everything else that belongs to a person points here.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Secret;

/// Who a privacy setting lets in.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// `"everyone"`: any user.
    #[sea_orm(string_value = "everyone")]
    Everyone,
    /// `"contacts"`: the user's contacts only.
    #[sea_orm(string_value = "contacts")]
    Contacts,
    /// `"nobody"`: no one else.
    #[sea_orm(string_value = "nobody")]
    Nobody,
}

/// One registered account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// UUIDv7, hyphenated.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub id: String,
    /// Login name, unique. Uniqueness is byte-wise on every backend, so the node stores it in
    /// one canonical form.
    #[sea_orm(unique, column_type = "String(StringLen::N(64))")]
    pub username: String,
    /// The name shown to other users.
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub display_name: String,
    /// The argon2 PHC string; hidden from `Debug`.
    #[sea_orm(column_type = "Text")]
    pub password_hash: Secret,
    /// When the account was registered.
    pub created_at: DateTimeUtc,
    /// When the user was last seen online; `None` if never recorded.
    pub last_seen_at: Option<DateTimeUtc>,
    /// When an administrator disabled the account, if one did: it cannot log in.
    pub disabled_at: Option<DateTimeUtc>,
    /// When the account was deleted: its personal data is erased, its messages stay.
    pub deleted_at: Option<DateTimeUtc>,
    /// Who may add the user to groups (`contacts` unless the user chose otherwise).
    pub group_invites: Audience,
    /// Who sees the user's presence and last seen.
    pub presence_visibility: Audience,
    /// The user's avatar, an attachment id.
    #[sea_orm(column_type = "String(StringLen::N(36))", nullable)]
    pub avatar: Option<String>,
    /// Whether the user administers the server (`confab admin grant`).
    pub is_admin: bool,
}

/// The tables that point at a user without ambiguity.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user's group memberships.
    #[sea_orm(has_many = "super::group_member::Entity")]
    GroupMember,
    /// The groups the user owns.
    #[sea_orm(has_many = "super::group::Entity", via_rel = "Relation::Owner")]
    OwnedGroup,
    /// The user's read cursors.
    #[sea_orm(has_many = "super::read_cursor::Entity")]
    ReadCursor,
}

impl Related<super::group_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::GroupMember.def()
    }
}

/// The groups the user is a member of, through `group_members`.
impl Related<super::group::Entity> for Entity {
    fn to() -> RelationDef {
        super::group_member::Relation::Group.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::group_member::Relation::User.def().rev())
    }
}

impl Related<super::read_cursor::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ReadCursor.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
