//! Attachments over HTTP: `POST /api/v1/uploads?name=` (the raw file as the body,
//! streamed into storage), `GET /api/v1/attachments/{id}` and `.../thumbnail` (with
//! `Range` support, for the owner and the members of the conversation it was sent to).

use std::ops::Range;
use std::str::FromStr;

use actix_web::http::header::{self, ByteRangeSpec, ContentDisposition, DispositionParam};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::json;

use super::caller::Authenticated;
use crate::chat::attachments;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::Object;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/uploads", web::post().to(upload))
        .route("/attachments/{id}", web::get().to(download))
        .route("/attachments/{id}/thumbnail", web::get().to(thumbnail));
}

#[derive(Debug, Deserialize)]
struct UploadQuery {
    name: String,
}

async fn upload(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<UploadQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let attachment = attachments::upload(&state.chat, &caller.user_id, &query.name, body).await?;
    Ok(HttpResponse::Created().json(json!({"attachment": attachment})))
}

async fn download(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &caller, &id, Object::File, &req).await
}

async fn thumbnail(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &caller, &id, Object::Thumbnail, &req).await
}

/// Streams an attachment's object, or the byte range the request asks for.
async fn serve(
    state: &AppState,
    caller: &Authenticated,
    id: &str,
    object: Object,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let model = attachments::readable(&state.chat, &caller.user_id, id).await?;
    let not_found = || ApiError::not_found("no such attachment");
    let (size, content_type) = match object {
        Object::File => (
            u64::try_from(model.size).unwrap_or(0),
            model.content_type.clone(),
        ),
        Object::Thumbnail if model.thumbnail => {
            let size = state
                .chat
                .storage
                .size(id, object)
                .await
                .map_err(|_| not_found())?;
            (size, "image/jpeg".to_owned())
        }
        Object::Thumbnail => return Err(not_found()),
    };
    let range = match requested_range(req, size) {
        Ok(range) => range,
        Err(()) => {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                .finish());
        }
    };
    let reading = state
        .chat
        .storage
        .read_range(id, object, range.clone())
        .await
        .map_err(|_| not_found())?;
    let mut reply = match range {
        Some(_) => {
            let mut partial = HttpResponse::PartialContent();
            let (start, end) = (reading.range.start, reading.range.end);
            partial.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{}", end.saturating_sub(1), reading.size),
            ));
            partial
        }
        None => HttpResponse::Ok(),
    };
    // Only images show inline; every other file downloads, so no page of this origin
    // renders what a user uploaded.
    let disposition = if content_type.starts_with("image/") {
        header::DispositionType::Inline
    } else {
        header::DispositionType::Attachment
    };
    Ok(reply
        .content_type(content_type)
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header(ContentDisposition {
            disposition,
            parameters: vec![file_name(model.name)],
        })
        .no_chunking(reading.range.end - reading.range.start)
        .streaming(reading.bytes.map_err(std::io::Error::other)))
}

/// The byte range a `Range` header asks for (`None`: the whole object; one range only,
/// as most servers do); `Err` when it asks for none that the object has.
fn requested_range(req: &HttpRequest, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(value) = req.headers().get(header::RANGE) else {
        return Ok(None);
    };
    let Ok(header::Range::Bytes(specs)) = value
        .to_str()
        .map_err(|_| ())
        .and_then(|value| header::Range::from_str(value).map_err(|_| ()))
    else {
        // A header that does not parse is ignored, as RFC 9110 allows.
        return Ok(None);
    };
    let first: Option<&ByteRangeSpec> = specs.first();
    let (start, end) = first
        .and_then(|spec| spec.to_satisfiable_range(size))
        .ok_or(())?;
    Ok(Some(start..end + 1))
}

/// The file name of `Content-Disposition`: `filename`, or `filename*` (RFC 8187) when it
/// is not ASCII.
fn file_name(name: String) -> DispositionParam {
    if name.is_ascii() {
        DispositionParam::Filename(name)
    } else {
        DispositionParam::FilenameExt(header::ExtendedValue {
            charset: header::Charset::Ext("UTF-8".to_owned()),
            language_tag: None,
            value: name.into_bytes(),
        })
    }
}
