//! `sessions`: one per login (a device). It holds the hash of its current refresh token and
//! of the one before, so that a refresh token used twice is noticed, and ends when revoked
//! or when unused past its expiry.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Why a session was ended before its time.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum RevokedReason {
    /// `"logout"`: the user logged out of it.
    #[sea_orm(string_value = "logout")]
    Logout,
    /// `"revoked"`: the user ended it from another session.
    #[sea_orm(string_value = "revoked")]
    Revoked,
    /// `"password"`: the password was changed from another session.
    #[sea_orm(string_value = "password")]
    PasswordChanged,
    /// `"reuse"`: a refresh token was used twice, so it may have been stolen.
    #[sea_orm(string_value = "reuse")]
    Reuse,
    /// `"disabled"`: an administrator disabled the account.
    #[sea_orm(string_value = "disabled")]
    Disabled,
    /// `"deleted"`: the account was deleted.
    #[sea_orm(string_value = "deleted")]
    Deleted,
}

/// One session of one user.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// UUIDv7; also the first part of its refresh tokens and the `sid` of its access tokens.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub id: String,
    /// Whose session it is (indexed).
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub user_id: String,
    /// SHA-256 (hex) of the current refresh token's secret.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub refresh_hash: String,
    /// SHA-256 (hex) of the secret it replaced: presenting it again revokes the session.
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub previous_hash: Option<String>,
    /// The name the client gave its device at login, if any.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub device: String,
    /// The `User-Agent` of the login, cut to 256 characters.
    #[sea_orm(column_type = "String(StringLen::N(256))")]
    pub user_agent: String,
    /// When the user logged in.
    pub created_at: DateTimeUtc,
    /// When a refresh token of it was last used.
    pub last_used_at: DateTimeUtc,
    /// When it ends unless refreshed (each refresh moves it forward).
    pub expires_at: DateTimeUtc,
    /// When it was revoked, if it was (indexed).
    pub revoked_at: Option<DateTimeUtc>,
    /// Why it was revoked.
    pub revoked_reason: Option<RevokedReason>,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
