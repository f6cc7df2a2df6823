//! The schema's history, as `sea-orm-migration` migrations.
//!
//! Every migration builds its tables and indexes with the sea-query schema builder, so one code
//! path runs on SQLite, PostgreSQL and MySQL/MariaDB. Migrations name their tables and columns
//! with their own `DeriveIden` enums rather than the entity modules: a migration is a frozen
//! snapshot of the schema at its date, and must keep compiling when the entities move on.
//!
//! ```no_run
//! # async fn run(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
//! use confab_entities::migration::{Migrator, MigratorTrait};
//! Migrator::up(db, None).await?; // applies whatever is pending; a no-op when up to date
//! # Ok(())
//! # }
//! ```

use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261206_000001_message_body_mediumtext;
mod m20261207_000001_rich_messages;
mod m20261207_000002_message_search;
mod m20261207_000003_webhooks;
mod m20261207_000004_attachments;
mod m20261208_000001_accounts;
mod m20261208_000002_moderation;
mod m20261208_000003_account_indexes;

pub use m20261207_000002_message_search::drop_statements as drop_search_index;
pub use sea_orm_migration::MigratorTrait;

/// Every Confab migration, oldest first. Use it through [`MigratorTrait`] (`up`, `down`,
/// `status`, ...); applied migrations are recorded in the `seaql_migrations` table.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261206_000001_message_body_mediumtext::Migration),
            Box::new(m20261207_000001_rich_messages::Migration),
            Box::new(m20261207_000002_message_search::Migration),
            Box::new(m20261207_000003_webhooks::Migration),
            Box::new(m20261207_000004_attachments::Migration),
            Box::new(m20261208_000001_accounts::Migration),
            Box::new(m20261208_000002_moderation::Migration),
            Box::new(m20261208_000003_account_indexes::Migration),
        ]
    }
}
