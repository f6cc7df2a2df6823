//! One's own account: `GET` and `PATCH /api/v1/me` (profile and privacy),
//! `PUT /api/v1/me/password`, `DELETE /api/v1/me` and `GET /api/v1/me/export`.
//!
//! - A password change asks for the current password (rate-limited as logins are) and ends
//!   every other session: whoever else held one is logged out everywhere.
//! - An avatar is an image the user uploaded (`POST /uploads`); once set, any signed-in
//!   user may download it, and the previous one is deleted.
//! - Deleting an account asks for the password, then shuts the account (its other
//!   sessions end; nobody can write to it or add it to a group), leaves every group (an owner hands
//!   each on, as `leave` does), ends its contacts (both sides are told) and erases the
//!   personal data (username, display name, password, avatar, last seen, requests,
//!   blocks, read cursors, sessions' devices). The messages stay in their conversations, shown as
//!   from "Deleted user": they are part of the other members' history too.
//! - The export is the user's data as JSON, streamed: profile, privacy, sessions, contacts,
//!   blocks, groups, and every message the user wrote, read a page at a time, so that a
//!   long history never sits in memory whole.

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use confab_entities::{Audience, RevokedReason, user};
use confab_protocol::chat::{ErrorCode, GroupId, UserId};
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use serde_json::json;

use super::auth::{check_new_password, valid_display_name};
use super::caller::Authenticated;
use super::sessions::views_of;
use crate::auth::{hash_password, verify_password};
use crate::chat::users::UserView;
use crate::chat::{Chat, ChatError, attachments, contacts, conversations, groups, hooks, presence};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::users::{self, Privacy, ProfileChange};

/// Messages an export reads at a time.
const EXPORT_PAGE: u64 = 500;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(me))
        .route("/me", web::patch().to(update))
        .route("/me", web::delete().to(delete))
        .route("/me/password", web::put().to(change_password))
        .route("/me/export", web::get().to(export));
}

/// Privacy settings as a request may give them: each optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivacyChange {
    group_invites: Option<Audience>,
    presence: Option<Audience>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    display_name: Option<String>,
    /// Absent: unchanged; `null`: removed.
    #[serde(default, deserialize_with = "present")]
    avatar: Option<Option<String>>,
    privacy: Option<PrivacyChange>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize)]
struct PasswordRequest {
    current_password: String,
    new_password: String,
}

#[derive(Debug, Deserialize)]
struct DeleteRequest {
    password: String,
}

/// The caller's account, or `not_found` if it is gone.
async fn account(state: &AppState, caller: &UserId) -> Result<user::Model, ApiError> {
    users::by_id(&state.db, caller)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// `{user, privacy}`: the profile and what only its owner sees.
fn own_view(user: user::Model) -> serde_json::Value {
    let privacy = Privacy::of(&user);
    json!({"user": UserView::from(user), "privacy": privacy})
}

async fn me(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(own_view(account(&state, &caller.user_id).await?)))
}

async fn update(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: web::Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let UpdateRequest {
        display_name,
        avatar,
        privacy,
    } = body.into_inner();
    let before = account(&state, &caller.user_id).await?;
    let display_name = display_name
        .map(|name| valid_display_name(Some(&name), &before.username))
        .transpose()?;
    // The current avatar given again changes nothing.
    let avatar = avatar.filter(|new| *new != before.avatar);
    if let Some(Some(id)) = &avatar {
        attachments::claim_avatar(&state.chat, &caller.user_id, id).await?;
    }
    let privacy = privacy.map(|change| {
        let current = Privacy::of(&before);
        Privacy {
            group_invites: change.group_invites.unwrap_or(current.group_invites),
            presence: change.presence.unwrap_or(current.presence),
        }
    });
    let replaced = before
        .avatar
        .clone()
        .filter(|old| avatar.as_ref().is_some_and(|new| new.as_ref() != Some(old)));
    let change = ProfileChange {
        display_name,
        avatar,
        privacy,
        password_hash: None,
    };
    let after = users::update(&state.db, &caller.user_id, change)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    if let Some(old) = replaced {
        attachments::remove(&state.chat, &[old]).await;
    }
    let seen = |user: &user::Model| user.presence_visibility;
    presence::visibility_changed(&state.chat, &caller.user_id, seen(&before), seen(&after)).await?;
    Ok(HttpResponse::Ok().json(own_view(after)))
}

/// Checks `password` against the caller's, under the login limits (by address and by
/// username), after the same hashing work whatever the answer.
async fn check_own_password(
    state: &AppState,
    req: &HttpRequest,
    user: &user::Model,
    password: String,
) -> Result<(), ApiError> {
    state
        .chat
        .rate
        .check_auth(&state.client_address(req), Some(&user.username))?;
    let hash = user.password_hash.expose().to_owned();
    let matches = state
        .hashing
        .run(move || verify_password(&password, &hash))
        .await?;
    if !matches {
        return Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "invalid_credentials",
            "the password is wrong",
        ));
    }
    Ok(())
}

/// `PUT /me/password`: a new password; every other session ends.
async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authenticated,
    body: web::Json<PasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let PasswordRequest {
        current_password,
        new_password,
    } = body.into_inner();
    check_new_password(&new_password)?;
    let user = account(&state, &caller.user_id).await?;
    check_own_password(&state, &req, &user, current_password).await?;
    let hash = state
        .hashing
        .run(move || hash_password(&new_password))
        .await??;
    let change = ProfileChange {
        password_hash: Some(hash),
        ..ProfileChange::default()
    };
    users::update(&state.db, &caller.user_id, change).await?;
    let ended = state
        .chat
        .sessions
        .end_others(
            &caller.user_id,
            &caller.session_id,
            RevokedReason::PasswordChanged,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({"ended": ended})))
}

/// `DELETE /me`: erases the account (see the module's documentation).
async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authenticated,
    body: web::Json<DeleteRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = account(&state, &caller.user_id).await?;
    check_own_password(&state, &req, &user, body.into_inner().password).await?;
    // First shut the account (no other session, no new group or message), then leave;
    // the caller's session ends last, so that a deletion that failed half-way can be
    // asked again.
    users::mark_deleted(&state.db, &caller.user_id, &caller.session_id).await?;
    leave_every_group(&state.chat, &caller.user_id).await?;
    drop_every_contact(&state.chat, &caller.user_id).await?;
    users::erase(&state.db, &caller.user_id).await?;
    let current = Some(caller.session_id.as_str());
    let sessions = &state.chat.sessions;
    sessions
        .end(&caller.user_id, current, None, RevokedReason::Deleted)
        .await?;
    hooks::user_deleted(&state.chat, &caller.user_id);
    if let Some(avatar) = user.avatar {
        attachments::remove(&state.chat, &[avatar]).await;
    }
    metrics::counter!("confab_accounts_deleted_total").increment(1);
    Ok(HttpResponse::NoContent().finish())
}

/// `result`, with `not_found` counted as done: a group dissolved or a contact ended
/// meanwhile, from another device.
fn unless_gone(result: Result<(), ChatError>) -> Result<(), ApiError> {
    match result {
        Ok(())
        | Err(ChatError {
            code: ErrorCode::NotFound,
            ..
        }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Leaves each of the user's groups (handing on those they own).
async fn leave_every_group(chat: &Chat, caller: &UserId) -> Result<(), ApiError> {
    for group in groups::list(chat, caller).await? {
        if let Ok(id) = GroupId::try_from(group.id) {
            unless_gone(groups::leave(chat, caller, &id).await)?;
        }
    }
    Ok(())
}

/// Ends each of the user's contacts, telling both sides (`contact:updated`).
async fn drop_every_contact(chat: &Chat, caller: &UserId) -> Result<(), ApiError> {
    for contact in contacts::list(chat, caller).await?.contacts {
        if let Ok(id) = UserId::try_from(contact.user.id) {
            unless_gone(contacts::remove(chat, caller, &id).await)?;
        }
    }
    Ok(())
}

/// What an export is in the middle of: the messages after `after`, or done.
enum Export {
    Messages { after: Option<String>, first: bool },
    Done,
}

/// `GET /me/export`: the caller's data as one JSON document, streamed. Each export takes
/// from the caller's bucket of HTTP writes, as it reads the whole history.
async fn export(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.chat.rate.check_http_write(&caller.user_id)?;
    let chat = state.chat.clone();
    let user = account(&state, &caller.user_id).await?;
    let sessions = views_of(&state, &caller).await?;
    let head = json!({
        "exported_at": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "user": UserView::from(user.clone()),
        "privacy": Privacy::of(&user),
        "created_at": user.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "sessions": sessions,
        "contacts": contacts::list(&chat, &caller.user_id).await?,
        "groups": groups::list(&chat, &caller.user_id).await?,
    });
    // The document without its closing brace, then `"messages": [` and the pages.
    let mut head = head.to_string();
    head.pop();
    head.push_str(",\"messages\":[");
    let sender = caller.user_id.to_string();
    let pages = stream::unfold(
        Export::Messages {
            after: None,
            first: true,
        },
        move |state| {
            let (chat, sender) = (chat.clone(), sender.clone());
            async move {
                let Export::Messages { after, first } = state else {
                    return None;
                };
                let page =
                    match users::authored(&chat.db, &sender, after.as_deref(), EXPORT_PAGE).await {
                        Ok(page) => page,
                        Err(error) => {
                            tracing::warn!(%error, "an export could not read its messages");
                            return Some((Err(ApiError::from(error).into()), Export::Done));
                        }
                    };
                let last = page.last().map(|message| message.id.clone());
                let mut chunk = String::new();
                for (i, model) in page.into_iter().enumerate() {
                    if !(first && i == 0) {
                        chunk.push(',');
                    }
                    chunk.push_str(&json!(conversations::view(model)).to_string());
                }
                let next = match last {
                    Some(after) => Export::Messages {
                        after: Some(after),
                        first: false,
                    },
                    None => {
                        chunk.push_str("]}");
                        Export::Done
                    }
                };
                Some((Ok(Bytes::from(chunk)), next))
            }
        },
    );
    let body =
        stream::once(async move { Ok::<_, actix_web::Error>(Bytes::from(head)) }).chain(pages);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"confab-export.json\"",
        ))
        .streaming(body))
}
