//! Users as others see them.

use confab_entities::user;
use serde::Serialize;

/// The public face of a user: `{id, username, display_name, avatar}`, and `deleted: true`
/// for a deleted account. Never the password hash.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    /// Opaque id.
    pub id: String,
    /// Unique, lower-case login name (`deleted.<id>` once the account is deleted).
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
    /// The avatar's attachment id, if the user chose one.
    pub avatar: Option<String>,
    /// Whether the account was deleted (its messages remain, from "Deleted user").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl From<user::Model> for UserView {
    fn from(user: user::Model) -> Self {
        Self {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            avatar: user.avatar,
            deleted: user.deleted_at.is_some(),
        }
    }
}
