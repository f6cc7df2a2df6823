//! The chat over Socket.IO: the `/` namespace. CONNECT is authorised by the JWT in
//! `auth.token`; each event is decoded, handed to the same operation the HTTP API calls,
//! and answered with `{ok: true, ...}` or `{ok: false, error: {code, message}}`.
//!
//! A new connection is *routed* once the directory says which node it is on and the bus
//! carries its groups' messages here. Until then a `sync` waits (bounded by
//! [`ROUTING_WAIT`]), so that a client that syncs right after connecting misses nothing:
//! whatever is stored after its `sync` read reaches it live.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_protocol::chat::{
    HistoryRequest, PresenceQuery, ReadRequest, SendMessage, SyncRequest, TypingRequest, events,
};
use confab_protocol::socketio::{ConnectError, Event};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::{Chat, ChatError, contacts, groups, messages, presence};
use crate::actors::node::{GroupsLoaded, SocketGone, UserConnected};
use crate::auth::{TokenError, Tokens};
use crate::engineio::Sid;
use crate::socketio::{DisconnectReason, NamespaceHandler, Socket};
use crate::store::membership;

/// Longest a `sync` waits for its connection to be routed (a slow Redis or NATS must not
/// hold it up for long: the client can always sync again).
const ROUTING_WAIT: Duration = Duration::from_secs(5);

/// The chat's Socket.IO namespace.
#[derive(Debug)]
pub struct ChatNamespace {
    chat: Chat,
    tokens: Tokens,
    /// The connections not routed yet, each with what says when it is (see the module's
    /// documentation); a routed connection leaves.
    routed: Arc<Mutex<HashMap<Sid, watch::Receiver<bool>>>>,
    /// Each user's presence announcements, in order.
    turns: presence::Turns,
}

impl ChatNamespace {
    /// The namespace over `chat`, accepting tokens checked by `tokens`.
    pub fn new(chat: Chat, tokens: Tokens) -> Self {
        Self {
            chat,
            tokens,
            routed: Arc::default(),
            turns: presence::Turns::default(),
        }
    }

    /// Resolves once `socket` is routed (at once if it is), or after [`ROUTING_WAIT`].
    fn when_routed(&self, socket: &Sid) -> impl Future<Output = ()> + use<> {
        let routed = self
            .routed
            .lock()
            .ok()
            .and_then(|routed| routed.get(socket).cloned());
        async move {
            if let Some(mut routed) = routed {
                let _ = tokio::time::timeout(ROUTING_WAIT, routed.wait_for(|routed| *routed)).await;
            }
        }
    }
}

/// The user a socket was authorised as.
fn user_of(socket: &Socket) -> String {
    socket.data()["user"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// When its token expires, a socket is told (`session:expired`, code `token_expired`) and
/// disconnected by the server, so the client does not reconnect with the same token: it
/// logs in again (or refreshes its token) and connects anew.
fn expire_with_token(socket: &Socket) {
    let valid_for = Duration::from_millis(socket.data()["valid_ms"].as_u64().unwrap_or(0));
    let farewell = Event::new(
        events::SESSION_EXPIRED,
        vec![
            json!({"code": TokenError::Expired.code(), "message": "the token has expired; log in again"}),
        ],
    );
    socket.disconnect_after(valid_for, farewell);
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
        match token.map(|token| self.tokens.verify_until(token)) {
            Some(Ok((user_id, valid_for))) => {
                match self.chat.rate.check_connect(session.as_str(), &user_id) {
                    Ok(()) => Ok(json!({"user": user_id, "valid_ms": duration_ms(valid_for)})),
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
        expire_with_token(socket);
        let user_id = user_of(socket);
        // Sent now, in order with the SocketGone of the same socket.
        let first = self.chat.node.send(UserConnected {
            user_id: user_id.clone(),
            socket: socket.clone(),
        });
        let (routed, routed_rx) = watch::channel(false);
        if let Ok(mut all) = self.routed.lock() {
            all.insert(socket.id().clone(), routed_rx);
        }
        let chat = self.chat.clone();
        let turn = self.turns.queue(&user_id);
        let (unrouted, socket_id) = (self.routed.clone(), socket.id().clone());
        self.chat.pending.spawn(async move {
            // The answer comes once the directory has the user on this node.
            let first = first.await == Ok(true);
            let groups = membership::group_ids_of(&chat.db, &user_id)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "could not load the user's groups");
                    Vec::new()
                });
            let loaded = GroupsLoaded {
                user_id: user_id.clone(),
                socket_id: socket_id.clone(),
                groups,
            };
            let _ = chat.node.send(loaded).await;
            // Routed before presence, which may wait for the user's earlier announcements.
            let _ = routed.send(true);
            if let Ok(mut all) = unrouted.lock() {
                all.remove(&socket_id);
            }
            announce_in_turn(&chat, &user_id, true, turn, first).await;
        });
        metrics::gauge!("confab_chat_connections").increment(1.0);
    }

    fn on_event(&self, socket: &Socket, event: Event) {
        let chat = self.chat.clone();
        let routed = (event.name == events::SYNC).then(|| self.when_routed(socket.id()));
        let socket = socket.clone();
        actix::spawn(async move {
            if let Some(routed) = routed {
                routed.await;
            }
            let ack = event.ack;
            let name = event.name.clone();
            let payload = event.args.into_iter().next().unwrap_or(Value::Null);
            let result = dispatch(&chat, &socket, &name, payload).await;
            if let Err(error) = &result {
                metrics::counter!("confab_event_errors_total", "event" => known(&name), "code" => error.code.as_str())
                    .increment(1);
            }
            if let Some(id) = ack {
                socket.ack(id, vec![ack_body(result)]);
            }
        });
    }

    fn on_disconnect(&self, socket: &Socket, _reason: DisconnectReason) {
        if let Ok(mut routed) = self.routed.lock() {
            routed.remove(socket.id());
        }
        let user_id = user_of(socket);
        let last = self.chat.node.send(SocketGone {
            user_id: user_id.clone(),
            socket_id: socket.id().clone(),
        });
        let chat = self.chat.clone();
        let turn = self.turns.queue(&user_id);
        self.chat.pending.spawn(async move {
            let last = last.await == Ok(true);
            announce_in_turn(&chat, &user_id, false, turn, last).await;
        });
        metrics::gauge!("confab_chat_connections").decrement(1.0);
    }
}

/// Takes the connection's turn among the user's announcements: waits for the earlier ones
/// (also when there is nothing to announce, so that a later turn waits for them too), then
/// announces the user's presence if `announce` — unless a later turn is queued, which
/// then announces for it (see `presence::Turns`). A turn that announces for skipped ones
/// tells the user's state as it is now.
async fn announce_in_turn(
    chat: &Chat,
    user_id: &str,
    online: bool,
    mut turn: presence::Turn,
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

/// The event name as a metric label: known names only, so clients cannot add series.
fn known(name: &str) -> &'static str {
    const NAMES: [&str; 6] = [
        events::MESSAGE_SEND,
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

/// `{ok: true, ...}` or `{ok: false, error}`.
fn ack_body(result: Result<Value, ChatError>) -> Value {
    match result {
        Ok(Value::Object(mut fields)) => {
            fields.insert("ok".to_owned(), Value::Bool(true));
            Value::Object(fields)
        }
        Ok(_) => json!({"ok": true}),
        Err(error) => error.to_ack(),
    }
}

/// Decodes an event's payload.
pub fn parse<T: DeserializeOwned>(payload: Value) -> Result<T, ChatError> {
    serde_json::from_value(payload).map_err(|error| ChatError::invalid(error.to_string()))
}

async fn dispatch(
    chat: &Chat,
    socket: &Socket,
    name: &str,
    payload: Value,
) -> Result<Value, ChatError> {
    let caller = user_of(socket);
    chat.rate
        .check_event(socket.session_id().as_str(), &caller)?;
    let except = Some(socket.id().clone());
    match name {
        events::MESSAGE_SEND => {
            let message =
                messages::send(chat, &caller, parse::<SendMessage>(payload)?, except).await?;
            Ok(json!({"message": message}))
        }
        events::SYNC => Ok(json!(
            messages::sync(chat, &caller, parse::<SyncRequest>(payload)?).await?
        )),
        events::HISTORY => {
            let page = messages::history(chat, &caller, parse::<HistoryRequest>(payload)?).await?;
            Ok(json!(page))
        }
        events::READ => {
            messages::read(chat, &caller, parse::<ReadRequest>(payload)?, except).await?;
            Ok(json!({}))
        }
        events::TYPING => {
            messages::typing(chat, &caller, parse::<TypingRequest>(payload)?).await?;
            Ok(json!({}))
        }
        events::PRESENCE_QUERY => {
            let answer = presence::query(chat, &caller, parse::<PresenceQuery>(payload)?).await?;
            Ok(json!({"presence": answer}))
        }
        name if name.starts_with("group:") => {
            groups::handle_event(chat, &caller, name, payload).await
        }
        name if name.starts_with("contact:") => {
            contacts::handle_event(chat, &caller, name, payload).await
        }
        _ => Err(ChatError::invalid(format!("unknown event {name}"))),
    }
}
