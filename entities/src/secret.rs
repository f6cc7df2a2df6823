//! A string column whose value must never reach a log.
//!
//! Models derive `Debug`, and sea-orm derives `Debug` on every `ActiveModel`, so a plain
//! `String` holding a password hash or a signing key would be printed by the first
//! `tracing::debug!(?user)`. Wrapping the column in [`Secret`] keeps it out of `Debug` output
//! while storing it as ordinary text.

use std::fmt;

use sea_orm::DeriveValueType;

/// Text stored as-is but shown as `Secret(..)` by `Debug`. Read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, DeriveValueType)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The stored text. Call it only where the value is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_output_hides_the_value() {
        let secret = Secret::new("$argon2id$v=19$m=19456,t=2,p=1$salt$hash");
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        assert_eq!(secret.expose(), "$argon2id$v=19$m=19456,t=2,p=1$salt$hash");
    }
}
