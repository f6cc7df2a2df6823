//! Attachments: files uploaded over HTTP (`POST /api/v1/uploads`) and then sent with a
//! message by id. Downloads: `GET /api/v1/attachments/{id}` (and `/thumbnail`).

use serde::{Deserialize, Serialize};

/// An uploaded file, as messages and the upload's answer show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Its id: what a message names it by.
    pub id: String,
    /// The name the uploader gave.
    pub name: String,
    /// The type sniffed from its bytes.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// An image's width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// An image's height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Whether `GET /api/v1/attachments/{id}/thumbnail` has a small JPEG of it.
    pub thumbnail: bool,
}
