//! Persistence through sea-orm: the queries and mutations the handlers need, one file per
//! area. Handlers never build queries themselves; business rules stay in the callers.

pub mod append;
pub mod attachments;
pub mod changes;
pub mod contacts;
pub mod cursors;
pub mod expiry;
pub mod groups;
pub mod membership;
pub mod messages;
pub mod moderation;
pub mod reactions;
pub mod search;
pub mod sessions;
pub mod settings;
pub mod users;
pub mod webhooks;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

/// Begins a transaction that will write: on SQLite it takes the write lock at once
/// (`IMMEDIATE`), since a read that later wants to write can fail at once when another
/// connection writes; other databases ignore the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// `text` with the `LIKE` wildcards and the escape character `\\` escaped.
pub fn like_escaped(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

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
