//! `contact_requests`: one user asking another to become contacts, and the answer.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a contact request stands, stored as its lowercase name.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum ContactRequestStatus {
    /// `"pending"`: waiting for the recipient.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// `"accepted"`: the two users are contacts.
    #[sea_orm(string_value = "accepted")]
    Accepted,
    /// `"declined"`: the recipient said no.
    #[sea_orm(string_value = "declined")]
    Declined,
}

/// One request.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_requests")]
pub struct Model {
    /// UUIDv7, hyphenated.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub id: String,
    /// Who asked (indexed with `status`, for "my outgoing requests").
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub from_user: String,
    /// Who is asked (indexed with `status`, for "my incoming requests").
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub to_user: String,
    /// Where the request stands.
    pub status: ContactRequestStatus,
    /// When the request was made.
    pub created_at: DateTimeUtc,
    /// When `status` last changed.
    pub updated_at: DateTimeUtc,
}

/// The request's two users.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `from_user` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::FromUser",
        to = "super::user::Column::Id"
    )]
    FromUser,
    /// `to_user` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::ToUser",
        to = "super::user::Column::Id"
    )]
    ToUser,
}

impl ActiveModelBehavior for ActiveModel {}
