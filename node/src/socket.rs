//! The Socket.IO adapter of the chat: the `/` namespace. CONNECT is authorised by the JWT in
//! `auth.token`, and the socket then lives as long as the token's session; each event is decoded, handed to the same operation the HTTP API calls,
//! and answered with `{ok: true, ...}` or `{ok: false, error: {code, message}}`.
//!
//! A new connection is *routed* once the directory says which node it is on and the bus
//! carries its groups' messages here; the user's actor knows which are not yet
//! ([`WhenRouted`]). Until then a `sync` waits (bounded by [`ROUTING_WAIT`]), so that a
//! client that syncs right after connecting misses nothing: whatever is stored after its
//! `sync` read reaches it live.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_protocol::chat::{ConversationUpdated, ErrorBody, Message, UserId, events};
use confab_protocol::socketio::{ConnectError, Event};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::actors::node::{SocketGone, UserConnected, WhenRouted};
use crate::actors::user::{GroupsLoaded, Turn, farewell};
use crate::auth::{SessionEnd, TokenError, Verified};
use crate::chat::changes::Deletion;
use crate::chat::contacts::{RequestRef, UserRef};
use crate::chat::groups::{GroupRef, GroupView, MemberRef, RenameRequest, RoleRequest};
use crate::chat::{
    Chat, ChatError, changes, contacts, expiry, groups, messages, presence, reactions, search,
};
use crate::engineio::Sid;
use crate::sessions::Refused;
use crate::socketio::{DisconnectReason, NamespaceHandler, Socket};
use crate::store::membership;

/// Longest a `sync` waits for its connection to be routed (a slow Redis or NATS must not
/// hold it up for long: the client can always sync again).
const ROUTING_WAIT: Duration = Duration::from_secs(5);

/// The chat's Socket.IO namespace.
pub struct ChatNamespace {
    chat: Chat,
    /// A socket lives as long as its session (see `sessions`), but CONNECT checks only
    /// the token: the session is asked for at once, and until the answer comes the
    /// socket's events wait here, then run in order, or are dropped if it has ended.
    waiting: Arc<Gate>,
}

impl std::fmt::Debug for ChatNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatNamespace")
            .field("chat", &self.chat)
            .finish_non_exhaustive()
    }
}

impl ChatNamespace {
    /// The namespace over `chat`, accepting the tokens of its sessions.
    pub fn new(chat: Chat) -> Self {
        Self {
            chat,
            waiting: Arc::default(),
        }
    }
}

/// The user a socket was authorised as (checked at CONNECT).
fn user_of(socket: &Socket) -> UserId {
    UserId::stored(
        socket.data()["user"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The session a socket's token belongs to (checked at CONNECT).
fn verified_of(socket: &Socket) -> Verified {
    let field = |name: &str| socket.data()[name].as_str().unwrap_or_default().to_owned();
    Verified {
        user_id: field("user"),
        session_id: field("session"),
    }
}

/// Most events a new socket may send before its session is confirmed; past it, they are
/// dropped (no client sends that many in the moment the check takes).
const MAX_EARLY_EVENTS: usize = 64;

/// The sockets whose session check has not answered yet, with their events in arrival
/// order; `None` for a socket whose session turned out to have ended (until it is gone,
/// what it sends is dropped). Events of a node holding no socket here skip the lock: the
/// per-event cost is one atomic read.
#[derive(Debug, Default)]
struct Gate {
    sockets: Mutex<HashMap<Sid, Option<Vec<Event>>>>,
    /// How many sockets `sockets` holds, written under its lock.
    held: AtomicUsize,
}

impl Gate {
    fn sockets(&self) -> std::sync::MutexGuard<'_, HashMap<Sid, Option<Vec<Event>>>> {
        self.sockets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Holds the events of the new socket `id` until [`Gate::open`].
    fn hold(&self, id: &Sid) {
        let mut sockets = self.sockets();
        sockets.insert(id.clone(), Some(Vec::new()));
        self.held.store(sockets.len(), Ordering::Release);
    }

    /// `event` of socket `id`, if it runs now; `None` if it waits or is dropped.
    fn admit(&self, id: &Sid, event: Event) -> Option<Event> {
        if self.held.load(Ordering::Acquire) == 0 {
            return Some(event);
        }
        match self.sockets().get_mut(id) {
            Some(Some(early)) if early.len() < MAX_EARLY_EVENTS => early.push(event),
            Some(_) => metrics::counter!("confab_early_events_dropped_total").increment(1),
            None => return Some(event),
        }
        None
    }

    /// The socket `id` no longer waits. If its session lives, it is forgotten here and its
    /// waiting events are returned, to run; if not, they are dropped, and the socket stays,
    /// to drop whatever else it sends.
    fn open(&self, id: &Sid, lives: bool) -> Vec<Event> {
        let mut sockets = self.sockets();
        if !lives {
            if let Some(early) = sockets.get_mut(id) {
                *early = None;
            }
            return Vec::new();
        }
        let early = sockets.remove(id).flatten();
        self.held.store(sockets.len(), Ordering::Release);
        early.unwrap_or_default()
    }

    /// Socket `id` is gone.
    fn forget(&self, id: &Sid) {
        let mut sockets = self.sockets();
        sockets.remove(id);
        self.held.store(sockets.len(), Ordering::Release);
    }
}

/// Whether the session of a new socket lives. One whose session has ended already is told
/// why and disconnected. A database that cannot answer lets the socket in (the sweep
/// still ends it if it must).
async fn session_lives(chat: &Chat, socket: &Socket) -> bool {
    let end = match chat.sessions.live(&verified_of(socket)).await {
        Ok(()) => return true,
        Err(Refused::Ended(end)) => end,
        Err(Refused::Token(_)) => SessionEnd::Revoked,
        Err(Refused::Database(error)) => {
            tracing::warn!(%error, "could not check a new socket's session");
            return true;
        }
    };
    socket.disconnect_after(Duration::ZERO, farewell(end));
    false
}

/// Hands `event` of `socket` to its operation (see the module's documentation).
fn handle(chat: &Chat, socket: &Socket, event: Event) {
    let chat = chat.clone();
    // Asked now, in order after the socket's UserConnected.
    let routed = (event.name == events::SYNC).then(|| {
        chat.node.send(WhenRouted {
            user_id: user_of(socket).to_string(),
            socket_id: socket.id().clone(),
        })
    });
    let socket = socket.clone();
    actix::spawn(async move {
        if let Some(routed) = routed {
            let _ = tokio::time::timeout(ROUTING_WAIT, routed).await;
        }
        let Event {
            name, args, ack, ..
        } = event;
        let payload = args.into_iter().next().unwrap_or(Value::Null);
        let reply = Reply {
            socket: &socket,
            ack,
            event: &name,
        };
        dispatch(&chat, reply, payload).await;
    });
}

impl NamespaceHandler for ChatNamespace {
    fn authorize(
        &self,
        session: &Sid,
        auth: Option<&Map<String, Value>>,
    ) -> Result<Value, ConnectError> {
        let token = auth
            .and_then(|auth| auth.get("token"))
            .and_then(Value::as_str);
        // The token's subject is an id the server issued; one that is not is forged.
        let verified = token.map(|token| {
            let verified = self.chat.sessions.tokens().verify(token)?;
            let user_id = UserId::try_from(verified.user_id).map_err(|_| TokenError::Invalid)?;
            Ok((user_id, verified.session_id))
        });
        match verified {
            Some(Ok((user_id, session_id))) => {
                match self.chat.rate.check_connect(session.as_str(), &user_id) {
                    Ok(()) => Ok(json!({"user": user_id, "session": session_id})),
                    Err(error) => Err(ConnectError {
                        message: error.message,
                        data: Some(json!({"code": error.code.as_str()})),
                    }),
                }
            }
            // The contract knows two codes: a missing token is an invalid one.
            Some(Err(error)) => Err(refusal(error)),
            None => Err(refusal(TokenError::Invalid)),
        }
    }

    fn on_connect(&self, socket: &Socket) {
        self.waiting.hold(socket.id());
        let (chat, waiting, checked) = (self.chat.clone(), self.waiting.clone(), socket.clone());
        self.chat.pending.spawn(async move {
            let lives = session_lives(&chat, &checked).await;
            for event in waiting.open(checked.id(), lives) {
                handle(&chat, &checked, event);
            }
        });
        let user_id = user_of(socket);
        // Sent now, in order with the SocketGone of the same socket.
        let connected = self.chat.node.send(UserConnected {
            user_id: user_id.to_string(),
            socket: socket.clone(),
        });
        let chat = self.chat.clone();
        let socket_id = socket.id().clone();
        self.chat.pending.spawn(async move {
            // The answer comes once the directory has the user on this node.
            let Ok(Some(added)) = connected.await else {
                return;
            };
            let groups = membership::group_ids_of(&chat.db, &user_id)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "could not load the user's groups");
                    Vec::new()
                });
            // Answered once the socket is routed: before presence, which may wait for the
            // user's earlier announcements.
            let _ = added.user.send(GroupsLoaded { socket_id, groups }).await;
            announce_in_turn(&chat, &user_id, true, added.turn, added.first).await;
        });
        metrics::gauge!("confab_chat_connections").increment(1.0);
    }

    fn on_event(&self, socket: &Socket, event: Event) {
        if let Some(event) = self.waiting.admit(socket.id(), event) {
            handle(&self.chat, socket, event);
        }
    }

    fn on_disconnect(&self, socket: &Socket, _reason: DisconnectReason) {
        self.waiting.forget(socket.id());
        let user_id = user_of(socket);
        let gone = self.chat.node.send(SocketGone {
            user_id: user_id.to_string(),
            socket_id: socket.id().clone(),
        });
        let chat = self.chat.clone();
        self.chat.pending.spawn(async move {
            if let Ok(Some(removed)) = gone.await {
                announce_in_turn(&chat, &user_id, false, removed.turn, removed.last).await;
            }
        });
        metrics::gauge!("confab_chat_connections").decrement(1.0);
    }
}

/// Takes the connection's turn among the user's announcements: waits for the earlier ones
/// (also when there is nothing to announce, so that a later turn waits for them too), then
/// announces the user's presence if `announce` — unless a later turn is queued, which
/// then announces for it (see `actors::user::turns`). A turn that announces for skipped ones
/// tells the user's state as it is now.
async fn announce_in_turn(
    chat: &Chat,
    user_id: &UserId,
    online: bool,
    mut turn: Turn,
    announce: bool,
) {
    turn.wait().await;
    if turn.superseded(announce) {
        return;
    }
    let announced = if turn.take_owed() {
        presence::announce_current(chat, user_id).await
    } else if announce {
        presence::announce(chat, user_id, online).await
    } else {
        Ok(())
    };
    if let Err(error) = announced {
        tracing::warn!(?error, "could not announce presence");
    }
}

fn refusal(error: TokenError) -> ConnectError {
    let code = match error {
        TokenError::Expired => TokenError::Expired.code(),
        TokenError::Missing | TokenError::Invalid => TokenError::Invalid.code(),
    };
    ConnectError {
        message: error.to_string(),
        data: Some(json!({"code": code})),
    }
}

/// Where the answer to one event goes: the ack the client asked for, if it did.
struct Reply<'a> {
    socket: &'a Socket,
    ack: Option<u64>,
    event: &'a str,
}

/// `{ok: true, ...fields}`.
#[derive(Serialize)]
struct Done<T> {
    ok: bool,
    #[serde(flatten)]
    fields: T,
}

/// `{ok: false, error: {code, message}}`.
#[derive(Serialize)]
struct Failed {
    ok: bool,
    error: ErrorBody,
}

/// An answer without fields: `{ok: true}`.
#[derive(Serialize)]
struct Nothing {}

impl Reply<'_> {
    /// Acks the event with what its operation gave (serialised straight into the frame),
    /// and counts a failure.
    fn send<T: Serialize>(self, result: Result<T, ChatError>) {
        if let Err(error) = &result {
            metrics::counter!("confab_event_errors_total", "event" => known(self.event), "code" => error.code.as_str())
                .increment(1);
        }
        let Some(id) = self.ack else {
            return;
        };
        match result {
            Ok(fields) => self.socket.ack_one(id, &Done { ok: true, fields }),
            Err(error) => self.socket.ack_one(
                id,
                &Failed {
                    ok: false,
                    error: ErrorBody {
                        code: error.code,
                        message: error.message,
                    },
                },
            ),
        };
    }
}

/// The event name as a metric label: known names only, so clients cannot add series.
fn known(name: &str) -> &'static str {
    const NAMES: [&str; 15] = [
        events::MESSAGE_SEND,
        events::CONVERSATION_LIST,
        events::CONVERSATION_READS,
        events::SEARCH,
        events::MESSAGE_EDIT,
        events::MESSAGE_DELETE,
        events::MESSAGE_RECALL,
        events::REACTION_ADD,
        events::REACTION_REMOVE,
        events::CONVERSATION_SET_EXPIRY,
        events::SYNC,
        events::HISTORY,
        events::READ,
        events::TYPING,
        events::PRESENCE_QUERY,
    ];
    NAMES
        .into_iter()
        .find(|known| *known == name)
        .unwrap_or(if name.starts_with("group:") {
            "group:*"
        } else if name.starts_with("contact:") {
            "contact:*"
        } else {
            "other"
        })
}

/// Decodes an event's payload.
pub fn parse<T: DeserializeOwned>(payload: Value) -> Result<T, ChatError> {
    serde_json::from_value(payload).map_err(|error| ChatError::invalid(error.to_string()))
}

/// Every event of the chat namespace and its operation: decodes the payload, calls the
/// operation, acks what it gave. The one table of the Socket.IO adapter.
async fn dispatch(chat: &Chat, reply: Reply<'_>, payload: Value) {
    let caller = &user_of(reply.socket);
    if let Err(error) = chat
        .rate
        .check_event(reply.socket.session_id().as_str(), caller)
    {
        return reply.send(Err::<Nothing, _>(error));
    }
    let except = Some(reply.socket.id().clone());
    let group = |view: GroupView| GroupReply { group: view };
    let group_id = |payload| parse::<GroupRef>(payload).map(|request| request.group);
    let user_id = |payload| parse::<UserRef>(payload).map(|request| request.user_id);
    let request_id = |payload| parse::<RequestRef>(payload).map(|request| request.id);
    match reply.event {
        events::MESSAGE_SEND => reply.send(
            async {
                let message = messages::send(chat, caller, parse(payload)?, except).await?;
                Ok(Sent { message })
            }
            .await,
        ),
        events::MESSAGE_EDIT => reply.send(
            async {
                let message = changes::edit(chat, caller, parse(payload)?, except).await?;
                Ok(Sent { message })
            }
            .await,
        ),
        events::MESSAGE_DELETE | events::MESSAGE_RECALL => {
            let deletion = if reply.event == events::MESSAGE_RECALL {
                Deletion::Recall
            } else {
                Deletion::Delete
            };
            reply.send(
                async {
                    let request = parse(payload)?;
                    let message = changes::delete(chat, caller, request, deletion, except).await?;
                    Ok(Sent { message })
                }
                .await,
            );
        }
        events::REACTION_ADD | events::REACTION_REMOVE => {
            let added = reply.event == events::REACTION_ADD;
            reply.send(
                async {
                    reactions::react(chat, caller, parse(payload)?, added, except).await?;
                    Ok(Nothing {})
                }
                .await,
            );
        }
        events::CONVERSATION_SET_EXPIRY => reply.send(
            async {
                let conversation = expiry::set(chat, caller, parse(payload)?).await?;
                Ok(ConversationReply { conversation })
            }
            .await,
        ),
        events::SEARCH => {
            reply.send(async { search::search(chat, caller, parse(payload)?).await }.await);
        }
        events::CONVERSATION_READS => {
            reply.send(async { messages::reads(chat, caller, parse(payload)?).await }.await);
        }
        events::CONVERSATION_LIST => reply.send(
            async {
                // No payload lists the first page.
                let page = match payload {
                    Value::Null => messages::ConversationPage::default(),
                    payload => parse(payload)?,
                };
                messages::conversations(chat, caller, page).await
            }
            .await,
        ),
        events::SYNC => {
            reply.send(async { messages::sync(chat, caller, parse(payload)?).await }.await)
        }
        events::HISTORY => {
            reply.send(async { messages::history(chat, caller, parse(payload)?).await }.await);
        }
        events::READ => reply.send(
            async {
                messages::read(chat, caller, parse(payload)?, except).await?;
                Ok(Nothing {})
            }
            .await,
        ),
        events::TYPING => reply.send(
            async {
                messages::typing(chat, caller, parse(payload)?).await?;
                Ok(Nothing {})
            }
            .await,
        ),
        events::PRESENCE_QUERY => reply.send(
            async {
                let presence = presence::query(chat, caller, parse(payload)?).await?;
                Ok(PresenceReply { presence })
            }
            .await,
        ),
        events::GROUP_CREATE => {
            reply.send(
                async { Ok(group(groups::create(chat, caller, parse(payload)?).await?)) }.await,
            );
        }
        events::GROUP_DIRECTORY => reply.send(
            async {
                let query = match payload {
                    Value::Null => groups::DirectoryQuery::default(),
                    payload => parse(payload)?,
                };
                let groups = groups::directory(chat, query).await?;
                Ok(Directory { groups })
            }
            .await,
        ),
        events::GROUP_LIST => reply.send(
            async {
                let groups = groups::list(chat, caller).await?;
                Ok(GroupList { groups })
            }
            .await,
        ),
        events::GROUP_GET => {
            reply.send(
                async { Ok(group(groups::get(chat, caller, &group_id(payload)?).await?)) }.await,
            );
        }
        events::GROUP_JOIN => {
            reply.send(
                async {
                    Ok(group(
                        groups::join(chat, caller, &group_id(payload)?).await?,
                    ))
                }
                .await,
            );
        }
        events::GROUP_LEAVE => reply.send(
            async {
                groups::leave(chat, caller, &group_id(payload)?).await?;
                Ok(Nothing {})
            }
            .await,
        ),
        events::GROUP_DELETE => reply.send(
            async {
                groups::delete(chat, caller, &group_id(payload)?).await?;
                Ok(Nothing {})
            }
            .await,
        ),
        events::GROUP_ADD_MEMBER => reply.send(
            async {
                let r: MemberRef = parse(payload)?;
                Ok(group(
                    groups::add_member(chat, caller, &r.group, &r.user_id).await?,
                ))
            }
            .await,
        ),
        events::GROUP_REMOVE_MEMBER => reply.send(
            async {
                let r: MemberRef = parse(payload)?;
                Ok(group(
                    groups::remove_member(chat, caller, &r.group, &r.user_id).await?,
                ))
            }
            .await,
        ),
        events::GROUP_RENAME => reply.send(
            async {
                let r: RenameRequest = parse(payload)?;
                Ok(group(
                    groups::rename(chat, caller, &r.group, &r.name).await?,
                ))
            }
            .await,
        ),
        events::GROUP_SET_ROLE => reply.send(
            async {
                let r: RoleRequest = parse(payload)?;
                Ok(group(
                    groups::set_role(chat, caller, &r.group, &r.user_id, r.role).await?,
                ))
            }
            .await,
        ),
        events::CONTACT_LIST => reply.send(contacts::list(chat, caller).await),
        events::CONTACT_REQUEST => reply.send(
            async {
                let (request, _) = contacts::request(chat, caller, &user_id(payload)?).await?;
                Ok(RequestReply { request })
            }
            .await,
        ),
        events::CONTACT_ACCEPT => reply.send(
            async {
                let contact = contacts::accept(chat, caller, &request_id(payload)?).await?;
                Ok(ContactReply { contact })
            }
            .await,
        ),
        events::CONTACT_DECLINE => reply.send(
            async {
                let contact = contacts::decline(chat, caller, &request_id(payload)?).await?;
                Ok(ContactReply { contact })
            }
            .await,
        ),
        events::CONTACT_REMOVE => reply.send(
            async {
                contacts::remove(chat, caller, &user_id(payload)?).await?;
                Ok(Nothing {})
            }
            .await,
        ),
        events::CONTACT_BLOCK => reply.send(
            async {
                contacts::block(chat, caller, &user_id(payload)?).await?;
                Ok(Nothing {})
            }
            .await,
        ),
        events::CONTACT_UNBLOCK => reply.send(
            async {
                contacts::unblock(chat, caller, &user_id(payload)?).await?;
                Ok(Nothing {})
            }
            .await,
        ),
        unknown => reply.send(Err::<Nothing, _>(ChatError::invalid(format!(
            "unknown event {unknown}"
        )))),
    }
}

/// The ack of `message:send`.
#[derive(Serialize)]
struct Sent {
    message: Message,
}

/// The ack of `conversation:set_expiry`.
#[derive(Serialize)]
struct ConversationReply {
    conversation: ConversationUpdated,
}

/// The ack of `presence:query`.
#[derive(Serialize)]
struct PresenceReply {
    presence: Vec<confab_protocol::chat::Presence>,
}

/// The ack of the `group:*` events that answer with the group.
#[derive(Serialize)]
struct GroupReply {
    group: GroupView,
}

/// The ack of `group:list`.
#[derive(Serialize)]
struct GroupList {
    groups: Vec<GroupView>,
}

/// The ack of `group:directory`.
#[derive(Serialize)]
struct Directory {
    groups: Vec<groups::DirectoryEntry>,
}

/// The ack of `contact:request`.
#[derive(Serialize)]
struct RequestReply {
    request: contacts::RequestView,
}

/// The ack of `contact:accept` and `contact:decline`.
#[derive(Serialize)]
struct ContactReply {
    contact: contacts::ContactUpdate,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(range: std::ops::Range<u32>) -> impl Iterator<Item = Event> {
        range.map(|n| Event::new("message:send", vec![json!(n)]))
    }

    fn numbers(held: &[Event]) -> Vec<u32> {
        held.iter()
            .map(|event| u32::try_from(event.args[0].as_u64().unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn a_gate_holds_at_most_its_bound_in_order_and_lets_everything_through_once_open() {
        let gate = Gate::default();
        let (held, other) = (Sid::generate(), Sid::generate());
        gate.hold(&held);
        let waited: Vec<bool> = events(0..70)
            .map(|event| gate.admit(&held, event).is_none())
            .collect();
        assert!(waited.iter().all(|waited| *waited), "none runs while held");
        // Another socket is not held up.
        assert!(gate.admit(&other, events(0..1).next().unwrap()).is_some());
        let early = gate.open(&held, true);
        assert_eq!(
            numbers(&early),
            (0..MAX_EARLY_EVENTS as u32).collect::<Vec<_>>()
        );
        assert!(gate.admit(&held, events(0..1).next().unwrap()).is_some());
        assert_eq!(gate.held.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_socket_whose_session_ended_has_everything_dropped_until_it_is_gone() {
        let gate = Gate::default();
        let id = Sid::generate();
        gate.hold(&id);
        assert!(gate.admit(&id, events(0..1).next().unwrap()).is_none());
        assert!(gate.open(&id, false).is_empty());
        assert!(gate.admit(&id, events(1..2).next().unwrap()).is_none());
        gate.forget(&id);
        assert!(gate.admit(&id, events(2..3).next().unwrap()).is_some());
    }
}
