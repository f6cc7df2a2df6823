//! Presence: online, offline and last seen. Pushed to a user's contacts only (so presence
//! stays cheap in large groups), and queryable by anyone the user has not blocked.
//!
//! "Online" means online on any node: queries ask the directory, and a node that loses a
//! user's last connection announces them offline only when no other node still has them.
//! A user's announcements from one node run in the order their connections opened and
//! closed ([`Turns`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{SecondsFormat, Utc};
use confab_entities::{Audience, user};
use confab_protocol::chat::{Presence, PresenceQuery, UserId, events};
use sea_orm::{ActiveModelTrait, Set};
use tokio::sync::oneshot;

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

/// Each user's presence announcements on this node, queued so that they run one after
/// another in the order the user's connections opened and closed. Otherwise the late
/// "offline" of an earlier connection could overtake the "online" and "offline" of a newer
/// one: contacts would be told a last-seen time other than the one stored.
///
/// Flapping collapses: a turn whose time comes while a later one is queued announces
/// nothing and passes its announcement on ([`Turn::superseded`]); the last turn then
/// announces the user's state as it is by then. A user reconnecting in a loop so costs
/// their contacts one announcement per burst, not two per connection, and the queue drains
/// as fast as connections come (each is capped by the CONNECT rate limit).
#[derive(Debug, Clone, Default)]
pub struct Turns(Arc<Mutex<Queues>>);

#[derive(Debug, Default)]
struct Queues {
    issued: u64,
    /// The last turn queued per user (its number, and what ends when it ends).
    last: HashMap<String, (u64, oneshot::Receiver<()>)>,
    /// Users whose skipped turns owe an announcement to their last turn.
    owed: HashSet<String>,
}

impl Turns {
    /// Queues a turn for `user_id` behind the user's earlier ones. Called in the order of
    /// the connection events, before anything is awaited.
    pub fn queue(&self, user_id: &str) -> Turn {
        let (done, ended) = oneshot::channel();
        let mut queues = self.lock();
        queues.issued += 1;
        let number = queues.issued;
        let previous = queues
            .last
            .insert(user_id.to_owned(), (number, ended))
            .map(|(_, previous)| previous);
        Turn {
            turns: self.clone(),
            user_id: user_id.to_owned(),
            number,
            previous,
            _done: done,
        }
    }
}

/// A place in a user's queue of announcements; the next turn may go once it is dropped.
/// Each turn waits ([`Turn::wait`]) before it is dropped, also one with nothing to
/// announce: the next turn then waits for every earlier one, not only the one before it.
#[derive(Debug)]
pub struct Turn {
    turns: Turns,
    user_id: String,
    number: u64,
    previous: Option<oneshot::Receiver<()>>,
    _done: oneshot::Sender<()>,
}

impl Turn {
    /// Resolves once every earlier turn of the user has ended.
    pub async fn wait(&mut self) {
        if let Some(previous) = self.previous.take() {
            // An error only means the earlier turn was dropped: it ended too.
            let _ = previous.await;
        }
    }

    /// After [`Turn::wait`]: whether a later turn of the user is queued. If so, this turn
    /// announces nothing and, when it had something to announce, leaves it to the last
    /// turn (which [`Turn::take_owed`] tells).
    pub fn superseded(&self, would_announce: bool) -> bool {
        let mut queues = self.turns.lock();
        let later = queues
            .last
            .get(&self.user_id)
            .is_some_and(|(number, _)| *number != self.number);
        if later && would_announce {
            queues.owed.insert(self.user_id.clone());
        }
        later
    }

    /// Whether skipped turns left this one an announcement of the user's current state.
    pub fn take_owed(&self) -> bool {
        self.turns.lock().owed.remove(&self.user_id)
    }
}

impl Turns {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut queues = self.turns.lock();
        if queues
            .last
            .get(&self.user_id)
            .is_some_and(|(number, _)| *number == self.number)
        {
            queues.last.remove(&self.user_id);
            queues.owed.remove(&self.user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    #[actix_web::test]
    async fn a_users_turns_run_in_queue_order_and_leave_nothing_behind() {
        let turns = Turns::default();
        let ran = Rc::new(RefCell::new(Vec::new()));
        let queued: Vec<_> = (0..3).map(|_| turns.queue("alice")).collect();
        let other = turns.queue("bob");
        let mut handles = Vec::new();
        // Started last first: each still waits for the turns queued before it.
        for (index, mut turn) in queued.into_iter().enumerate().rev() {
            let ran = ran.clone();
            handles.push(actix::spawn(async move {
                turn.wait().await;
                ran.borrow_mut().push(index);
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
        assert_eq!(*ran.borrow(), vec![0, 1, 2]);
        let queues = turns.0.lock().unwrap();
        assert_eq!(queues.last.keys().collect::<Vec<_>>(), vec!["bob"]);
        drop(queues);
        drop(other);
        assert!(turns.0.lock().unwrap().last.is_empty());
    }

    #[actix_web::test]
    async fn flapping_turns_leave_one_announcement_to_the_last() {
        let turns = Turns::default();
        // Online (announces), offline (announces), online of a second socket (does not).
        let mut queued: Vec<_> = (0..3).map(|_| turns.queue("alice")).collect();
        let mut last = queued.pop().unwrap();
        for (would_announce, mut turn) in [true, true].into_iter().zip(queued) {
            turn.wait().await;
            assert!(turn.superseded(would_announce), "a later turn is queued");
        }
        last.wait().await;
        assert!(!last.superseded(false), "the last turn goes");
        assert!(last.take_owed(), "and announces for the skipped ones");
        assert!(!last.take_owed());
        drop(last);
        // Nothing owed, nothing queued once the turns end.
        let mut alone = turns.queue("alice");
        alone.wait().await;
        assert!(!alone.superseded(true) && !alone.take_owed());
        drop(alone);
        let queues = turns.0.lock().unwrap();
        assert!(queues.last.is_empty() && queues.owed.is_empty());
    }
}
