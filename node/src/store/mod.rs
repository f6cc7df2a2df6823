//! Persistence through sea-orm: the queries and mutations the handlers need, one file per
//! area. Handlers never build queries themselves; business rules stay in the callers.

pub mod append;
pub mod contacts;
pub mod groups;
pub mod membership;
pub mod messages;
pub mod settings;
pub mod users;

use sea_orm::{DbErr, SqlErr};

/// Whether `error` is a unique-constraint violation (a duplicate key).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
