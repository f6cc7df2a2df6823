//! `attachments`: files users uploaded, kept in object storage under their id. An upload
//! belongs to its owner until a message references it; from then on it belongs to that
//! message's conversation, whose members may download it.

use sea_orm::entity::prelude::*;

/// One uploaded file.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    /// UUIDv7, hyphenated; also the object's key.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub id: String,
    /// Who uploaded it (counts against their quota).
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub owner_id: String,
    /// The type sniffed from its bytes.
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// The file name the uploader gave.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    /// An image's width in pixels.
    pub width: Option<i32>,
    /// An image's height in pixels.
    pub height: Option<i32>,
    /// Whether a thumbnail was made (images).
    pub thumbnail: bool,
    /// The conversation of the message that references it; `None` while unreferenced.
    #[sea_orm(column_type = "String(StringLen::N(96))", nullable)]
    pub conversation_id: Option<String>,
    /// When it was uploaded.
    pub created_at: DateTimeUtc,
}

/// No relations: the conversation link is checked by the node.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
