//! What the chat tells the operator's webhooks (`webhooks.rs` delivers it):
//!
//! | type | when | data |
//! |---|---|---|
//! | `message.offline` | a message was stored for recipients with no connection on any node | `{message_id, conversation, seq, from, recipients, preview?}` |
//! | `message.created` | a message was stored | `{message}` |
//! | `message.edited`, `message.deleted` | a message was edited or deleted | `{entry}` (the edit or deletion entry) |
//! | `user.registered` | an account was created | `{user}` |
//! | `group.changed` | a group was created, changed or dissolved | `{group}` |
//!
//! With `webhook_include_body` off, no event carries text: messages lose `body` and
//! `meta`, and `message.offline` has no `preview`. Nothing here runs unless webhooks are
//! configured, and nothing waits on it: the sender's ack never does.

use confab_protocol::chat::{Message, MessageKind, UserId};
use serde::Serialize;
use serde_json::{Value, json};

use super::conversations::Conversation;
use super::users::UserView;
use super::{Chat, ChatError};
use crate::actors::node::OnlineAnywhere;
use crate::store::membership;
use crate::webhooks::Webhooks;

/// Characters of a message's body a push preview carries.
const PREVIEW_CHARS: usize = 100;

/// A message was stored: tells integrations, and the push relay which recipients are
/// offline (asked of the directory after the ack).
pub fn message_created(chat: &Chat, conversation: &Conversation, message: &Message) {
    let Some(hooks) = &chat.webhooks else {
        return;
    };
    hooks.emit(
        "message.created",
        json!({"message": text_if_allowed(hooks, message)}),
    );
    let (chat, conversation, message) = (chat.clone(), conversation.clone(), message.clone());
    actix_web::rt::spawn(async move {
        if let Err(error) = tell_offline(&chat, &conversation, &message).await {
            tracing::warn!(?error, "could not find a message's offline recipients");
        }
    });
}

/// Emits `message.offline` for the recipients of `message` that no node has.
async fn tell_offline(
    chat: &Chat,
    conversation: &Conversation,
    message: &Message,
) -> Result<(), ChatError> {
    let Some(hooks) = &chat.webhooks else {
        return Ok(());
    };
    let recipients: Vec<String> = match conversation {
        Conversation::Direct { a, b } => [a, b]
            .into_iter()
            .filter(|user| user.as_str() != message.from)
            .map(UserId::to_string)
            .collect(),
        Conversation::Group { group_id } => membership::member_ids(&chat.db, group_id)
            .await?
            .into_iter()
            .filter(|user| *user != message.from)
            .collect(),
    };
    let online = chat
        .node
        .send(OnlineAnywhere {
            users: recipients.clone(),
        })
        .await
        .map_err(ChatError::internal)?;
    let offline: Vec<String> = recipients
        .into_iter()
        .zip(online)
        .filter_map(|(user, online)| (!online).then_some(user))
        .collect();
    if offline.is_empty() {
        return Ok(());
    }
    let mut data = json!({
        "message_id": message.id,
        "conversation": message.conversation,
        "seq": message.seq,
        "from": message.from,
        "recipients": offline,
    });
    if hooks.include_body() {
        data["preview"] = json!(message.body.chars().take(PREVIEW_CHARS).collect::<String>());
    }
    hooks.emit("message.offline", data);
    Ok(())
}

/// A message was edited or deleted (`entry` is the edit or deletion).
pub fn message_changed(chat: &Chat, entry: &Message) {
    let Some(hooks) = &chat.webhooks else {
        return;
    };
    let kind = if entry.kind == MessageKind::Edit {
        "message.edited"
    } else {
        "message.deleted"
    };
    hooks.emit(kind, json!({"entry": text_if_allowed(hooks, entry)}));
}

/// An account was created.
pub fn user_registered(chat: &Chat, user: &UserView) {
    if let Some(hooks) = &chat.webhooks {
        hooks.emit("user.registered", json!({"user": user}));
    }
}

/// An account was deleted: integrations forget what they keep of it (device tokens for
/// pushes, say).
pub fn user_deleted(chat: &Chat, user_id: &str) {
    if let Some(hooks) = &chat.webhooks {
        hooks.emit("user.deleted", json!({"user": {"id": user_id}}));
    }
}

/// A group was created or changed (`group`), or dissolved (`{id, dissolved: true}`).
pub fn group_changed(chat: &Chat, group: &impl Serialize) {
    if let Some(hooks) = &chat.webhooks {
        hooks.emit("group.changed", json!({"group": group}));
    }
}

/// `message` as events show it: without `body` and `meta` unless text is allowed.
fn text_if_allowed(hooks: &Webhooks, message: &Message) -> Value {
    let mut shown = json!(message);
    if !hooks.include_body()
        && let Some(fields) = shown.as_object_mut()
    {
        fields.remove("body");
        fields.remove("meta");
    }
    shown
}
