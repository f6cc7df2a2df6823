//! Persistence through sea-orm: the queries and mutations the handlers need, one file per
//! area. Handlers never build queries themselves; business rules stay in the callers.

pub mod append;
pub mod contacts;
pub mod cursors;
pub mod groups;
pub mod membership;
pub mod messages;
pub mod settings;
pub mod users;

use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Whether `error` is a unique-constraint violation (a duplicate key).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether `error` is about the data written (SQLSTATE class 22, a data exception, or 23,
/// an integrity constraint) rather than the database being unreachable, slow or locked:
/// only the first kind is worth retrying a batch's entries apart for.
pub fn is_data_error(error: &DbErr) -> bool {
    if error.sql_err().is_some() {
        return true;
    }
    let (DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error))) =
        error
    else {
        return false;
    };
    error
        .as_database_error()
        .and_then(|error| error.code())
        .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
}
