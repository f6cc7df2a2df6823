//! Contacts: the contact list, requests (asking, accepting, declining), removing a
//! contact, blocking and unblocking, each written once for the HTTP API and Socket.IO.
//!
//! After every change each of the two users whose view of the other changed receives
//! `contact:updated` `{user, status}`, the status as that user sees it. A blocked user is
//! never told: they see `none`, and hear nothing when they had no relation to lose.

use chrono::SecondsFormat;
use confab_entities::{ContactRequestStatus, contact_request, user};
use confab_protocol::chat::{ErrorCode, UserId, events};
use serde::{Deserialize, Serialize};

use super::users::UserView;
use super::{Chat, ChatError, encode_event};
use crate::actors::node::TellBlocksChanged;
use crate::store::contacts as store;
use crate::store::{membership, users};

/// How one user stands with another, from the first user's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactStatus {
    /// The two are contacts.
    Contact,
    /// The other user asked; the answer is pending.
    PendingIn,
    /// This user asked; the answer is pending.
    PendingOut,
    /// Nothing (also what a blocked user sees).
    None,
    /// This user has blocked the other.
    Blocked,
}

/// `contact:updated`, and the answer to accept and decline: `{user, status}`.
#[derive(Debug, Clone, Serialize)]
pub struct ContactUpdate {
    /// The other user.
    pub user: UserView,
    /// Where the receiver stands with them now.
    pub status: ContactStatus,
}

/// One user in a list: `{user}`.
#[derive(Debug, Clone, Serialize)]
pub struct UserEntry {
    /// The user.
    pub user: UserView,
}

/// A contact request as one of its two users sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    /// Its id, for accept and decline.
    pub id: String,
    /// The other user: the sender of an incoming request, the recipient of an outgoing one.
    pub user: UserView,
    /// `pending`, `accepted` or `declined`.
    pub status: ContactRequestStatus,
    /// When it was made, RFC 3339.
    pub created_at: String,
}

/// `GET /api/v1/contacts` and `contact:list`.
#[derive(Debug, Clone, Serialize)]
pub struct ContactList {
    /// The caller's contacts, oldest first.
    pub contacts: Vec<UserEntry>,
    /// Pending requests to the caller.
    pub incoming: Vec<RequestView>,
    /// The caller's pending requests.
    pub outgoing: Vec<RequestView>,
    /// The users the caller has blocked.
    pub blocked: Vec<UserEntry>,
}

/// A body or payload naming a user: `{user_id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct UserRef {
    /// The user.
    pub user_id: UserId,
}

/// A payload naming a contact request: `{id}`.
#[derive(Deserialize)]
pub(crate) struct RequestRef {
    pub(crate) id: String,
}

fn request_view(request: contact_request::Model, other: user::Model) -> RequestView {
    RequestView {
        id: request.id,
        user: other.into(),
        status: request.status,
        created_at: request
            .created_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

/// How `viewer` stands with `other`.
async fn status(chat: &Chat, viewer: &str, other: &str) -> Result<ContactStatus, ChatError> {
    Ok(if membership::has_blocked(&chat.db, viewer, other).await? {
        ContactStatus::Blocked
    } else if store::are_contacts(&chat.db, viewer, other).await? {
        ContactStatus::Contact
    } else if store::pending(&chat.db, viewer, other).await?.is_some() {
        ContactStatus::PendingOut
    } else if store::pending(&chat.db, other, viewer).await?.is_some() {
        ContactStatus::PendingIn
    } else {
        ContactStatus::None
    })
}

/// The two users' views of each other: `(a's, b's)`.
async fn views(chat: &Chat, a: &str, b: &str) -> Result<(ContactStatus, ContactStatus), ChatError> {
    Ok((status(chat, a, b).await?, status(chat, b, a).await?))
}

/// Tells each of `a` and `b` whose view of the other changed since `before`; returns
/// `a`'s view now.
async fn publish(
    chat: &Chat,
    a: &user::Model,
    b: &user::Model,
    before: (ContactStatus, ContactStatus),
) -> Result<ContactStatus, ChatError> {
    let after = views(chat, &a.id, &b.id).await?;
    for (receiver, other, was, now) in [(a, b, before.0, after.0), (b, a, before.1, after.1)] {
        if was != now {
            let update = ContactUpdate {
                user: other.clone().into(),
                status: now,
            };
            let frames = encode_event(events::CONTACT_UPDATED, &update);
            chat.push_to_users(vec![receiver.id.clone()], frames, None);
        }
    }
    Ok(after.0)
}

async fn user(chat: &Chat, user_id: &UserId) -> Result<user::Model, ChatError> {
    users::by_id(&chat.db, user_id)
        .await?
        .ok_or_else(|| ChatError::not_found("no such user"))
}

/// The caller and the other user an operation is about: not the caller, and existing.
async fn pair(
    chat: &Chat,
    caller: &UserId,
    other: &UserId,
) -> Result<(user::Model, user::Model), ChatError> {
    if other == caller {
        return Err(ChatError::invalid("that is you"));
    }
    let other = user(chat, other).await?;
    // Nobody asks, accepts or blocks a deleted account (which itself still ends its
    // contacts while it is being deleted).
    if other.deleted_at.is_some() {
        return Err(ChatError::not_found("no such user"));
    }
    Ok((user(chat, caller).await?, other))
}

/// The caller's contacts, pending requests both ways, and blocked users.
pub async fn list(chat: &Chat, caller: &UserId) -> Result<ContactList, ChatError> {
    let entries = |users: Vec<user::Model>| {
        users
            .into_iter()
            .map(|user| UserEntry { user: user.into() })
            .collect()
    };
    let contacts = entries(store::contacts_of(&chat.db, caller).await?);
    let blocked = entries(store::blocked_by(&chat.db, caller).await?);
    let (incoming, outgoing) = store::pending_of(&chat.db, caller).await?;
    let others: Vec<String> = incoming
        .iter()
        .map(|request| request.from_user.clone())
        .chain(outgoing.iter().map(|request| request.to_user.clone()))
        .collect();
    let people = store::users_in_order(&chat.db, &others).await?;
    let with_user = |requests: Vec<contact_request::Model>, incoming: bool| -> Vec<RequestView> {
        requests
            .into_iter()
            .filter_map(|request| {
                let other = if incoming {
                    &request.from_user
                } else {
                    &request.to_user
                };
                let other = people.iter().find(|user| &user.id == other)?.clone();
                Some(request_view(request, other))
            })
            .collect()
    };
    Ok(ContactList {
        contacts,
        incoming: with_user(incoming, true),
        outgoing: with_user(outgoing, false),
        blocked,
    })
}

/// Asks `user_id` to become a contact. If they already asked the caller, their request is
/// accepted instead; the flag says whether a new request was made.
pub async fn request(
    chat: &Chat,
    caller: &UserId,
    user_id: &UserId,
) -> Result<(RequestView, bool), ChatError> {
    let (me, other) = pair(chat, caller, user_id).await?;
    if membership::blocked_between(&chat.db, caller, user_id).await? {
        return Err(ChatError::new(
            ErrorCode::Blocked,
            "one of you has blocked the other",
        ));
    }
    let before = views(chat, caller, user_id).await?;
    let (request, created) = match before.0 {
        ContactStatus::Contact => {
            return Err(ChatError::new(ErrorCode::Conflict, "already contacts"));
        }
        ContactStatus::PendingOut => {
            return Err(ChatError::new(ErrorCode::Conflict, "already requested"));
        }
        ContactStatus::PendingIn => {
            let mut theirs = store::pending(&chat.db, user_id, caller)
                .await?
                .ok_or_else(|| ChatError::internal("a pending request vanished"))?;
            store::accept(&chat.db, &theirs).await?;
            theirs.status = ContactRequestStatus::Accepted;
            (theirs, false)
        }
        ContactStatus::None | ContactStatus::Blocked => (
            store::insert_request(&chat.db, caller, user_id).await?,
            true,
        ),
    };
    publish(chat, &me, &other, before).await?;
    Ok((request_view(request, other), created))
}

/// The pending request `id` addressed to `caller`; `not_found` for anyone else's.
async fn incoming(
    chat: &Chat,
    caller: &UserId,
    id: &str,
) -> Result<contact_request::Model, ChatError> {
    store::request(&chat.db, id)
        .await?
        .filter(|request| {
            request.to_user == caller && request.status == ContactRequestStatus::Pending
        })
        .ok_or_else(|| ChatError::not_found("no such pending request"))
}

/// Accepts a request made to `caller`: the two become contacts.
pub async fn accept(chat: &Chat, caller: &UserId, id: &str) -> Result<ContactUpdate, ChatError> {
    let request = incoming(chat, caller, id).await?;
    let (me, other) = pair(chat, caller, &UserId::stored(request.from_user.clone())).await?;
    let before = views(chat, caller, &other.id).await?;
    store::accept(&chat.db, &request).await?;
    let status = publish(chat, &me, &other, before).await?;
    Ok(ContactUpdate {
        user: other.into(),
        status,
    })
}

/// Declines a request made to `caller`.
pub async fn decline(chat: &Chat, caller: &UserId, id: &str) -> Result<ContactUpdate, ChatError> {
    let request = incoming(chat, caller, id).await?;
    let (me, other) = pair(chat, caller, &UserId::stored(request.from_user.clone())).await?;
    let before = views(chat, caller, &other.id).await?;
    store::decline(&chat.db, &request.id).await?;
    let status = publish(chat, &me, &other, before).await?;
    Ok(ContactUpdate {
        user: other.into(),
        status,
    })
}

/// Ends a contact, for both users.
pub async fn remove(chat: &Chat, caller: &UserId, user_id: &UserId) -> Result<(), ChatError> {
    let (me, other) = pair(chat, caller, user_id).await?;
    let before = views(chat, caller, user_id).await?;
    if !store::remove(&chat.db, caller, user_id).await? {
        return Err(ChatError::not_found("not a contact"));
    }
    publish(chat, &me, &other, before).await?;
    Ok(())
}

/// A block between the two changed: this node and the others forget what they knew of it.
/// If the node's mailbox is full the notice is dropped and counted; the entries' age
/// bounds what that costs.
fn blocks_changed(chat: &Chat, a: &UserId, b: &UserId) {
    chat.blocks.forget(a, b);
    let notice = TellBlocksChanged {
        a: a.to_string(),
        b: b.to_string(),
    };
    if chat.node.try_send(notice).is_err() {
        metrics::counter!("confab_fanout_dropped_total").increment(1);
    }
}

/// Blocks a user: ends the contact and declines the pending requests between the two.
/// Blocking again changes nothing.
pub async fn block(chat: &Chat, caller: &UserId, user_id: &UserId) -> Result<(), ChatError> {
    let (me, other) = pair(chat, caller, user_id).await?;
    let before = views(chat, caller, user_id).await?;
    store::block(&chat.db, caller, user_id).await?;
    blocks_changed(chat, caller, user_id);
    publish(chat, &me, &other, before).await?;
    Ok(())
}

/// Lifts a block; `not_found` if there was none.
pub async fn unblock(chat: &Chat, caller: &UserId, user_id: &UserId) -> Result<(), ChatError> {
    let (me, other) = pair(chat, caller, user_id).await?;
    let before = views(chat, caller, user_id).await?;
    if !store::unblock(&chat.db, caller, user_id).await? {
        return Err(ChatError::not_found("not blocked"));
    }
    blocks_changed(chat, caller, user_id);
    publish(chat, &me, &other, before).await?;
    Ok(())
}
