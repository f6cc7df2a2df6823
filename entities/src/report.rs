//! `reports`: a user's report of a message, for administrators to look at and resolve.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a report stands.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    /// `"open"`: waiting for an administrator.
    #[sea_orm(string_value = "open")]
    Open,
    /// `"resolved"`: an administrator acted on it.
    #[sea_orm(string_value = "resolved")]
    Resolved,
    /// `"dismissed"`: an administrator found nothing to do.
    #[sea_orm(string_value = "dismissed")]
    Dismissed,
}

/// One report.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub id: String,
    /// Who reported.
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub reporter_id: String,
    /// The reported message's conversation.
    #[sea_orm(column_type = "String(StringLen::N(96))")]
    pub conversation_id: String,
    /// The reported message's seq.
    pub seq: i64,
    /// Why, in the reporter's words.
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    /// Open, resolved or dismissed (indexed with the id).
    pub status: ReportStatus,
    /// When it was made.
    pub created_at: DateTimeUtc,
    /// When an administrator closed it.
    pub resolved_at: Option<DateTimeUtc>,
    /// Which administrator closed it.
    #[sea_orm(column_type = "String(StringLen::N(36))", nullable)]
    pub resolved_by: Option<String>,
    /// The administrator's note.
    #[sea_orm(column_type = "Text", nullable)]
    pub resolution: Option<String>,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
