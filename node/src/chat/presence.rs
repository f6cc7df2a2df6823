//! Presence: online, offline and last seen. Pushed to a user's contacts only (so presence
//! stays cheap in large groups), and queryable by anyone the user has not blocked.

use chrono::{SecondsFormat, Utc};
use confab_entities::user;
use confab_protocol::chat::{Presence, PresenceQuery, events};
use sea_orm::{ActiveModelTrait, Set};

use super::{Chat, ChatError, encode_event};
use crate::actors::node::OnlineHere;
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
    let online = chat
        .node
        .send(OnlineHere {
            users: request.users.clone(),
        })
        .await
        .map_err(ChatError::internal)?;
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

/// Tells the user's contacts that the user came online or went offline (recording when).
pub async fn announce(chat: &Chat, user_id: &str, online: bool) -> Result<(), ChatError> {
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
    let presence = Presence {
        user: user_id.to_owned(),
        online,
        last_seen,
    };
    chat.push_to_users(contacts, encode_event(events::PRESENCE, &presence), None);
    Ok(())
}
