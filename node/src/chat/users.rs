//! Users as others see them.

use confab_entities::user;
use serde::Serialize;

/// The public face of a user: `{id, username, display_name}`. Never the password hash.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    /// Opaque id.
    pub id: String,
    /// Unique, lower-case login name.
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
}

impl From<user::Model> for UserView {
    fn from(user: user::Model) -> Self {
        Self {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
        }
    }
}
