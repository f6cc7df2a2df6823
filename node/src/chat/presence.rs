//! Presence: online, offline and last seen. Pushed to a user's contacts only (so presence
//! stays cheap in large groups), and queryable by anyone the user has not blocked.
//!
//! "Online" means online on any node: queries ask the directory, and a node that loses a
//! user's last connection announces them offline only when no other node still has them.

use chrono::{SecondsFormat, Utc};
use confab_entities::user;
use confab_protocol::chat::{Presence, PresenceQuery, events};
use sea_orm::{ActiveModelTrait, Set};

use super::{Chat, ChatError, encode_event};
use crate::actors::node::OnlineAnywhere;
use crate::store::{membership, users};

/// Most users one query may ask about.
const MAX_QUERY: usize = 200;

/// The presence of each asked user, as `caller` may see it: a user who blocked the caller
/// looks offline and never seen.
pub async fn query(
    chat: &Chat,
    caller: &str,
    request: PresenceQuery,
) -> Result<Vec<Presence>, ChatError> {
    if request.users.len() > MAX_QUERY {
        return Err(ChatError::invalid(format!(
            "at most {MAX_QUERY} users per query"
        )));
    }
    let online = online_anywhere(chat, request.users.clone()).await?;
    let mut answer = Vec::with_capacity(request.users.len());
    for (user_id, online) in request.users.into_iter().zip(online) {
        let hidden = membership::has_blocked(&chat.db, &user_id, caller).await?;
        let last_seen = match users::by_id(&chat.db, &user_id).await? {
            Some(found) if !hidden => found
                .last_seen_at
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            _ => None,
        };
        answer.push(Presence {
            user: user_id,
            online: online && !hidden,
            last_seen,
        });
    }
    Ok(answer)
}

/// Which of `users` are online on any node.
async fn online_anywhere(chat: &Chat, users: Vec<String>) -> Result<Vec<bool>, ChatError> {
    chat.node
        .send(OnlineAnywhere { users })
        .await
        .map_err(ChatError::internal)
}

/// Whether `user_id` has a connection on any node.
async fn still_online(chat: &Chat, user_id: &str) -> Result<bool, ChatError> {
    Ok(online_anywhere(chat, vec![user_id.to_owned()])
        .await?
        .contains(&true))
}

/// Tells the user's contacts that the user came online or went offline (recording when).
/// Going offline here is not news while another node still has the user: nothing is sent.
/// That is checked again right before sending, so that a connection that came back
/// meanwhile (a page reload) is not followed by a stale "offline".
pub async fn announce(chat: &Chat, user_id: &str, online: bool) -> Result<(), ChatError> {
    if !online && still_online(chat, user_id).await? {
        return Ok(());
    }
    let last_seen = if online {
        None
    } else {
        let now = Utc::now();
        if let Some(found) = users::by_id(&chat.db, user_id).await? {
            let mut found: user::ActiveModel = found.into();
            found.last_seen_at = Set(Some(now));
            found.update(&chat.db).await?;
        }
        Some(now.to_rfc3339_opts(SecondsFormat::Millis, true))
    };
    let contacts = membership::contact_ids(&chat.db, user_id).await?;
    if !online && still_online(chat, user_id).await? {
        return Ok(());
    }
    let presence = Presence {
        user: user_id.to_owned(),
        online,
        last_seen,
    };
    chat.push_to_users(contacts, encode_event(events::PRESENCE, &presence), None);
    Ok(())
}
