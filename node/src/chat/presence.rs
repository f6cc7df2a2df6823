//! Presence: online, offline and last seen. Pushed to a user's contacts only (so presence
//! stays cheap in large groups), and queryable by anyone the user has not blocked.
//!
//! "Online" means online on any node: queries ask the directory, and a node that loses a
//! user's last connection announces them offline only when no other node still has them.
//! A user's announcements from one node run in the order their connections opened and
//! closed: the user's actor queues them (`actors::user::turns`).

use chrono::{SecondsFormat, Utc};
use confab_entities::{Audience, user};
use confab_protocol::chat::{Presence, PresenceQuery, UserId, events};
use sea_orm::{ActiveModelTrait, Set};

use super::{Chat, ChatError, encode_event};
use crate::actors::node::OnlineAnywhere;
use crate::store::{membership, users};

/// Most users one query may ask about.
const MAX_QUERY: usize = 200;

/// The presence of each asked user, as `caller` may see it: a user who blocked the caller,
/// hides their presence from them (`presence_visibility`) or does not exist looks offline
/// and never seen. One database query answers the
/// whole list, and one directory round the online part.
pub async fn query(
    chat: &Chat,
    caller: &UserId,
    request: PresenceQuery,
) -> Result<Vec<Presence>, ChatError> {
    if request.users.len() > MAX_QUERY {
        return Err(ChatError::invalid(format!(
            "at most {MAX_QUERY} users per query"
        )));
    }
    let ids: Vec<String> = request.users.iter().map(UserId::to_string).collect();
    let stored = membership::presence_of(&chat.db, caller, &ids).await?;
    let online = online_anywhere(chat, ids).await?;
    let answer = request
        .users
        .into_iter()
        .zip(online)
        .map(|(user_id, online)| {
            let seen = stored.get(user_id.as_str()).filter(|seen| !seen.hidden);
            Presence {
                online: online && seen.is_some(),
                last_seen: seen
                    .and_then(|seen| seen.last_seen_at)
                    .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
                user: user_id,
            }
        })
        .collect();
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
pub async fn announce(chat: &Chat, user_id: &UserId, online: bool) -> Result<(), ChatError> {
    if !online && still_online(chat, user_id).await? {
        return Ok(());
    }
    let Some(found) = users::by_id(&chat.db, user_id).await? else {
        return Ok(());
    };
    let visibility = found.presence_visibility;
    let last_seen = if online {
        None
    } else {
        let now = Utc::now();
        let mut found: user::ActiveModel = found.into();
        found.last_seen_at = Set(Some(now));
        found.update(&chat.db).await?;
        Some(now.to_rfc3339_opts(SecondsFormat::Millis, true))
    };
    // Pushed to contacts only; to nobody when the user hides their presence.
    let contacts = match visibility {
        Audience::Nobody => return Ok(()),
        Audience::Everyone | Audience::Contacts => {
            membership::contact_ids(&chat.db, user_id).await?
        }
    };
    if !online && still_online(chat, user_id).await? {
        return Ok(());
    }
    let presence = Presence {
        user: user_id.clone(),
        online,
        last_seen,
    };
    chat.push_to_users(contacts, encode_event(events::PRESENCE, &presence), None);
    Ok(())
}

/// The user changed who sees their presence from `before` to `after`. Pushes go to
/// contacts only, so only `nobody` changes them: hiding tells the contacts the user is
/// offline and never seen (as `presence:query` now answers them); showing again tells them
/// the state as it is now.
pub async fn visibility_changed(
    chat: &Chat,
    user_id: &UserId,
    before: Audience,
    after: Audience,
) -> Result<(), ChatError> {
    let shown = match (before, after) {
        (Audience::Nobody, Audience::Nobody) => return Ok(()),
        (_, Audience::Nobody) => Presence {
            user: user_id.clone(),
            online: false,
            last_seen: None,
        },
        (Audience::Nobody, _) if still_online(chat, user_id).await? => {
            return announce(chat, user_id, true).await;
        }
        // Offline: the last seen as stored, not moved to now.
        (Audience::Nobody, _) => Presence {
            user: user_id.clone(),
            online: false,
            last_seen: users::by_id(&chat.db, user_id)
                .await?
                .and_then(|user| user.last_seen_at)
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        },
        _ => return Ok(()),
    };
    let contacts = membership::contact_ids(&chat.db, user_id).await?;
    chat.push_to_users(contacts, encode_event(events::PRESENCE, &shown), None);
    Ok(())
}

/// Tells the user's contacts the user's state as it is now: online if any node has them.
pub async fn announce_current(chat: &Chat, user_id: &UserId) -> Result<(), ChatError> {
    let online = still_online(chat, user_id).await?;
    announce(chat, user_id, online).await
}
