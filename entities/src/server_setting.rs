//! `server_settings`: key/value state the server keeps for itself, such as the JWT secret it
//! generates once in standalone mode.

use sea_orm::entity::prelude::*;

use crate::Secret;

/// One setting.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "server_settings")]
pub struct Model {
    /// The setting's name.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub key: String,
    /// The setting's value; hidden from `Debug`, since some settings are secrets.
    #[sea_orm(column_type = "Text")]
    pub value: Secret,
}

/// `server_settings` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
