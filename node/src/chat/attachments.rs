//! Attachments: uploads (streamed into object storage, typed by their bytes, bounded in
//! size and by the owner's quota, images measured and given a thumbnail), who may
//! download them, how a message takes them, and the sweep of uploads no message took.
//!
//! An upload belongs to its owner until a message sends it; then it belongs to that
//! conversation (a message of another conversation cannot send it), and the members
//! download it. Deleting the message (or its expiry) deletes its files.

use std::io::Cursor;
use std::time::Duration;

use bytes::Bytes;
use chrono::{SubsecRound, Utc};
use confab_entities::attachment;
use confab_protocol::chat::{Attachment, ErrorCode, UserId};
use futures_util::{Stream, StreamExt};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use tokio::sync::Semaphore;

use super::conversations::{Conversation, accessible};
use super::{Chat, ChatError};
use crate::storage::Object;
use crate::store::attachments as store;

/// Bytes read before the type is decided.
const SNIFF_BYTES: usize = 8 * 1024;
/// Longest file name, in characters.
const MAX_NAME_CHARS: usize = 255;
/// Most files one message carries.
pub const MAX_PER_MESSAGE: usize = 10;
/// Largest image given a thumbnail (it is decoded whole).
const MAX_THUMBNAIL_SOURCE: u64 = 20 * 1024 * 1024;
/// A thumbnail's longest side, in pixels.
const THUMBNAIL_SIDE: u32 = 320;
/// Types whose files get dimensions and a thumbnail.
const IMAGES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];
/// Images decoded at once by this node.
static DECODING: Semaphore = Semaphore::const_new(2);
/// Most uploads the sweep removes in one round.
const SWEEP_BATCH: u64 = 100;

/// What uploads may be.
#[derive(Debug, Clone)]
pub struct UploadLimits {
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// The types accepted (as sniffed).
    pub types: Vec<String>,
    /// Most bytes one user's uploads may take in all.
    pub quota_bytes: u64,
    /// How long an upload no message took is kept.
    pub unreferenced_for: Duration,
}

/// Stores an upload of `caller` named `name`, read from `body` as it arrives.
pub async fn upload<E: std::fmt::Display>(
    chat: &Chat,
    caller: &UserId,
    name: &str,
    mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
) -> Result<Attachment, ChatError> {
    let name = file_name(name)?;
    let limits = &chat.limits.uploads;
    let used = u64::try_from(store::used_by(&chat.db, caller.as_str()).await?).unwrap_or(0);
    let room = limits.quota_bytes.saturating_sub(used);
    let over = |size: u64| {
        if size > limits.max_bytes {
            Some(ChatError::new(
                ErrorCode::TooLarge,
                format!("the file is over {} bytes", limits.max_bytes),
            ))
        } else if size > room {
            Some(ChatError::new(
                ErrorCode::QuotaExceeded,
                format!("your uploads may take {} bytes in all", limits.quota_bytes),
            ))
        } else {
            None
        }
    };
    let mut head = Vec::new();
    let mut ended = false;
    while head.len() < SNIFF_BYTES {
        match body.next().await {
            Some(chunk) => head.extend_from_slice(&chunk.map_err(read_failed)?),
            None => {
                ended = true;
                break;
            }
        }
    }
    if head.is_empty() {
        return Err(ChatError::invalid("the file is empty"));
    }
    let content_type = sniff(&head);
    if !limits.types.contains(&content_type) {
        return Err(ChatError::new(
            ErrorCode::UnsupportedType,
            format!("files of type {content_type} are not accepted"),
        ));
    }
    if let Some(error) = over(head.len() as u64) {
        return Err(error);
    }
    let id = uuid::Uuid::now_v7().to_string();
    let mut writer = chat
        .storage
        .writer(&id, Object::File)
        .await
        .map_err(storage_failed)?;
    let mut size = head.len() as u64;
    let mut written = writer.write(&head).await;
    while written.is_ok() && !ended {
        let Some(chunk) = body.next().await else {
            break;
        };
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                writer.abort().await;
                return Err(read_failed(error));
            }
        };
        size += chunk.len() as u64;
        if let Some(error) = over(size) {
            writer.abort().await;
            return Err(error);
        }
        written = writer.write(&chunk).await;
    }
    match written {
        Ok(()) => writer.finish().await.map_err(storage_failed)?,
        Err(error) => {
            writer.abort().await;
            return Err(storage_failed(error));
        }
    }
    let (width, height, thumbnail) = measure(chat, &id, &content_type, size).await;
    let model = attachment::Model {
        id,
        owner_id: caller.to_string(),
        content_type,
        size: i64::try_from(size).unwrap_or(i64::MAX),
        name,
        width: width.and_then(|w| i32::try_from(w).ok()),
        height: height.and_then(|h| i32::try_from(h).ok()),
        thumbnail,
        conversation_id: None,
        created_at: Utc::now().trunc_subsecs(6),
    };
    if let Err(error) = store::insert(&chat.db, model.clone()).await {
        remove_objects(chat, std::slice::from_ref(&model.id)).await;
        return Err(error.into());
    }
    metrics::counter!("confab_uploads_total").increment(1);
    metrics::counter!("confab_upload_bytes_total").increment(size);
    Ok(view(&model))
}

/// An image's dimensions and whether a thumbnail of it was stored; nothing for other
/// files, or for an image that does not decode (it is kept as a file).
async fn measure(
    chat: &Chat,
    id: &str,
    content_type: &str,
    size: u64,
) -> (Option<u32>, Option<u32>, bool) {
    if !IMAGES.contains(&content_type) || size > MAX_THUMBNAIL_SOURCE {
        return (None, None, false);
    }
    let Ok(bytes) = chat.storage.read(id, Object::File).await else {
        return (None, None, false);
    };
    // Decoding takes up to `max_alloc` of memory: a few at a time.
    let Ok(_turn) = DECODING.acquire().await else {
        return (None, None, false);
    };
    let made = tokio::task::spawn_blocking(move || thumbnail(&bytes))
        .await
        .ok()
        .flatten();
    let Some((width, height, jpeg)) = made else {
        return (None, None, false);
    };
    let stored = chat
        .storage
        .put(id, Object::Thumbnail, Bytes::from(jpeg))
        .await
        .inspect_err(|error| tracing::warn!(%error, "could not store a thumbnail"))
        .is_ok();
    (Some(width), Some(height), stored)
}

/// Decodes an image (within limits against decompression bombs, turned upright as its
/// EXIF orientation says) into its dimensions and a JPEG thumbnail whose longest side is
/// at most [`THUMBNAIL_SIDE`] (a smaller image keeps its size).
fn thumbnail(bytes: &[u8]) -> Option<(u32, u32, Vec<u8>)> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().ok()?;
    let orientation = decoder.orientation().ok()?;
    let mut image = DynamicImage::from_decoder(decoder).ok()?;
    image.apply_orientation(orientation);
    let small = if image.width() <= THUMBNAIL_SIDE && image.height() <= THUMBNAIL_SIDE {
        image.to_rgb8()
    } else {
        image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8()
    };
    let mut jpeg = Vec::new();
    small
        .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .ok()?;
    Some((image.width(), image.height(), jpeg))
}

/// The type of a file from its first bytes: a known signature, else plain text when
/// they are UTF-8 without control characters, else `application/octet-stream`.
fn sniff(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    let text = match std::str::from_utf8(head) {
        Ok(text) => Some(text),
        // Cut inside a character at the end of what was read: still text.
        Err(error) if error.error_len().is_none() => {
            std::str::from_utf8(&head[..error.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    let plain = text.is_some_and(|text| {
        text.chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
    });
    if plain {
        "text/plain".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

/// A file name as given, trimmed; 1 to 255 characters without control characters or
/// path separators.
fn file_name(name: &str) -> Result<String, ChatError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0
        || chars > MAX_NAME_CHARS
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(ChatError::invalid(format!(
            "name must have 1 to {MAX_NAME_CHARS} characters, without control characters or slashes"
        )));
    }
    Ok(name.to_owned())
}

/// What an avatar is given to instead of a conversation: anyone signed in may read it.
const AVATAR_OF: &str = "avatar:";

/// The attachment `id` if `caller` may download it: its owner, a member of the
/// conversation a message sent it to, or anyone for an avatar; `not_found` for anyone
/// else.
pub async fn readable(
    chat: &Chat,
    caller: &UserId,
    id: &str,
) -> Result<attachment::Model, ChatError> {
    let not_found = || ChatError::not_found("no such attachment");
    let model = store::by_id(&chat.db, id).await?.ok_or_else(not_found)?;
    let avatar = model
        .conversation_id
        .as_deref()
        .is_some_and(|id| id.starts_with(AVATAR_OF));
    if model.owner_id == caller.as_str() || avatar {
        return Ok(model);
    }
    let conversation = model
        .conversation_id
        .as_deref()
        .and_then(|id| confab_protocol::chat::ConversationId::try_from(id.to_owned()).ok())
        .ok_or_else(not_found)?;
    accessible(chat, caller, &conversation)
        .await
        .map_err(|_| not_found())?;
    Ok(model)
}

/// The views of the sender's uploads `ids` for a new message: each must be theirs, once,
/// and not sent before (an upload goes with one message: deleting that message deletes
/// it). Nothing changes until [`give_to`] after the message is stored.
pub async fn for_message(
    chat: &Chat,
    sender: &UserId,
    ids: &[String],
) -> Result<Vec<Attachment>, ChatError> {
    if ids.len() > MAX_PER_MESSAGE {
        return Err(ChatError::new(
            ErrorCode::TooLarge,
            format!("at most {MAX_PER_MESSAGE} attachments per message"),
        ));
    }
    let found = store::unsent(&chat.db, ids, sender.as_str()).await?;
    if found.len() != ids.len() {
        return Err(ChatError::invalid(
            "attachments must be your own uploads, each once, not sent before",
        ));
    }
    Ok(found.iter().map(view).collect())
}

/// The stored message of `conversation` took the uploads `ids`: its members may read them
/// from now on.
pub async fn give_to(
    chat: &Chat,
    conversation: &Conversation,
    ids: &[String],
) -> Result<(), ChatError> {
    store::give(&chat.db, ids, conversation.id().as_str()).await?;
    Ok(())
}

/// Makes the caller's upload `id` their avatar: it must be an image of theirs that no
/// message sent. It is then readable by anyone signed in, and no longer swept as unused.
pub async fn claim_avatar(chat: &Chat, caller: &UserId, id: &str) -> Result<(), ChatError> {
    let found = store::unsent(&chat.db, &[id.to_owned()], caller.as_str()).await?;
    let unsent =
        || ChatError::invalid("an avatar must be one of your uploads that no message sent");
    match found.first() {
        Some(upload) if upload.thumbnail => {
            let avatar_of = format!("{AVATAR_OF}{caller}");
            // A message that took it meanwhile wins.
            match store::give(&chat.db, &[id.to_owned()], &avatar_of).await? {
                0 => Err(unsent()),
                _ => Ok(()),
            }
        }
        Some(_) => Err(ChatError::invalid("an avatar must be an image")),
        None => Err(unsent()),
    }
}

/// A dissolved group's files go with it.
pub async fn remove_conversation(chat: &Chat, conversation: &Conversation) {
    match store::of_conversation(&chat.db, conversation.id().as_str()).await {
        Ok(ids) => remove(chat, &ids).await,
        Err(error) => tracing::warn!(%error, "could not find a dissolved group's files"),
    }
}

/// Deletes attachments (their objects, then their rows): a deleted or expired message's.
pub async fn remove(chat: &Chat, ids: &[String]) {
    remove_objects(chat, ids).await;
    if let Err(error) = store::delete(&chat.db, ids).await {
        tracing::warn!(%error, "could not delete attachments' rows");
    }
}

async fn remove_objects(chat: &Chat, ids: &[String]) {
    for id in ids {
        if let Err(error) = chat.storage.delete(id).await {
            tracing::warn!(%error, id, "could not delete an attachment's objects");
        }
    }
}

/// Deletes the uploads no message took within their time; true if there may be more.
pub async fn sweep_unreferenced(chat: &Chat) -> Result<bool, ChatError> {
    let window = chrono::TimeDelta::from_std(chat.limits.uploads.unreferenced_for)
        .unwrap_or(chrono::TimeDelta::MAX);
    let before = Utc::now() - window;
    let ids = store::unreferenced(&chat.db, before, SWEEP_BATCH).await?;
    remove(chat, &ids).await;
    metrics::counter!("confab_uploads_swept_total").increment(ids.len() as u64);
    Ok(ids.len() as u64 == SWEEP_BATCH)
}

/// The ids of the files a message's stored views name.
pub fn ids_in(views: Option<&serde_json::Value>) -> Vec<String> {
    views
        .and_then(|views| serde_json::from_value::<Vec<Attachment>>(views.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|attachment| attachment.id)
        .collect()
}

/// An attachment as clients see it.
pub fn view(model: &attachment::Model) -> Attachment {
    Attachment {
        id: model.id.clone(),
        name: model.name.clone(),
        content_type: model.content_type.clone(),
        size: u64::try_from(model.size).unwrap_or(0),
        width: model.width.and_then(|w| u32::try_from(w).ok()),
        height: model.height.and_then(|h| u32::try_from(h).ok()),
        thumbnail: model.thumbnail,
    }
}

fn read_failed(error: impl std::fmt::Display) -> ChatError {
    ChatError::invalid(format!("the upload broke off: {error}"))
}

fn storage_failed(error: object_store::Error) -> ChatError {
    tracing::warn!(%error, "object storage failed");
    ChatError::new(
        ErrorCode::Unavailable,
        "the file could not be stored now; retry",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff("héllo\nworld".as_bytes()), "text/plain");
        // A character cut at the end of the sniffed bytes is still text.
        assert_eq!(sniff(&"é".as_bytes()[..1]), "text/plain");
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(64, 0);
        assert_eq!(sniff(&elf), "application/x-executable");
        assert_eq!(sniff(b"\x00\x01\x02binary"), "application/octet-stream");
    }

    #[test]
    fn file_names_are_plain_names() {
        assert_eq!(file_name("  report.pdf ").unwrap(), "report.pdf");
        for bad in ["", "../etc/passwd", "a\\b", "a\nb", &"x".repeat(256)] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_image_gets_its_size_and_a_small_jpeg() {
        let image = image::RgbImage::from_pixel(640, 480, image::Rgb([200, 30, 30]));
        let mut png = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let (width, height, jpeg) = thumbnail(&png).unwrap();
        assert_eq!((width, height), (640, 480));
        let small = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((small.width(), small.height()), (320, 240));
        assert!(thumbnail(b"not an image").is_none());
    }
}
