//! `webhook_events`: the outbox of webhook deliveries, one row per event and endpoint,
//! written before it is sent and deleted once the endpoint took it (or gave up on).

use sea_orm::entity::prelude::*;

/// One event waiting for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    /// UUIDv7 of this row.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub id: String,
    /// The event's id (UUIDv7), the same for every endpoint: receivers deduplicate by it.
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub event_id: String,
    /// The endpoint's URL.
    #[sea_orm(column_type = "Text")]
    pub endpoint: String,
    /// The event's type (`message.created`, ...).
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    /// The body to POST, exactly the bytes that are signed.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// How many deliveries were tried.
    pub attempts: i32,
    /// When the next delivery may be tried (a node that takes the row moves it forward by
    /// its lease, so that another node retries it if this one dies).
    pub next_attempt_at: DateTimeUtc,
    /// When the event happened.
    pub created_at: DateTimeUtc,
}

/// No relations: an event outlives what it tells of.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
