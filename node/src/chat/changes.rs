//! Edits and deletions of sent messages. Each is stored as an entry of the conversation
//! with its own seq (`store/changes.rs`), delivered live like a message
//! (`message:edited`, `message:deleted`) and replayed by `sync` in order; `history` shows
//! the message as it is now.
//!
//! Who may do what: the author edits their message any time, and deletes it ("recall")
//! within the recall window; a group's owner and admins delete any message of the group
//! any time. A deletion removes the text from the database, not only from view.

use chrono::Utc;
use confab_protocol::chat::{EditMessage, Message, MessageKind, MessageRef, UserId, events};

use super::conversations::{Conversation, accessible, standing, view};
use super::messages::check_content;
use super::{Chat, ChatError, attachments, encode_event, hooks};
use crate::actors::user::Deliver;
use crate::engineio::Sid;
use crate::store::changes::{self as store, Change, ChangeRefusal, ChangeRequest};

/// `message:edit`: replaces the body and meta of the caller's own message (to empty a
/// message, delete it).
pub async fn edit(
    chat: &Chat,
    caller: &UserId,
    request: EditMessage,
    except: Option<Sid>,
) -> Result<Message, ChatError> {
    chat.rate.check_sender(caller)?;
    if request.body.is_empty() && request.meta.is_none() {
        return Err(ChatError::invalid("an edit needs a body or meta"));
    }
    check_content(chat, &request.body, request.meta.as_ref())?;
    let conversation = accessible(chat, caller, &request.conversation).await?;
    let change = Change::Edit {
        body: request.body,
        meta: request.meta,
    };
    let request = ChangeRequest {
        conversation_id: conversation.id().into(),
        seq: request.seq,
        caller: caller.to_string(),
        change,
        moderator: false,
        author_since: None,
    };
    apply(chat, &conversation, request, except).await
}

/// Who deletes: `message:delete` lets a group's owner and admins delete anyone's message;
/// `message:recall` is the author's own deletion only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The author, or a group's manager.
    Delete,
    /// The author only.
    Recall,
}

/// `message:delete` and `message:recall`: deletes a message for everyone.
pub async fn delete(
    chat: &Chat,
    caller: &UserId,
    request: MessageRef,
    deletion: Deletion,
    except: Option<Sid>,
) -> Result<Message, ChatError> {
    chat.rate.check_sender(caller)?;
    let (conversation, manager) = standing(chat, caller, &request.conversation).await?;
    let since = chat
        .limits
        .recall_window
        .and_then(|window| chrono::TimeDelta::from_std(window).ok())
        .map(|window| Utc::now() - window);
    let request = ChangeRequest {
        conversation_id: conversation.id().into(),
        seq: request.seq,
        caller: caller.to_string(),
        change: Change::Delete,
        moderator: manager && deletion == Deletion::Delete,
        author_since: since,
    };
    apply(chat, &conversation, request, except).await
}

/// A server administrator deletes any message (the deletion entry names them as its
/// author); the conversation's members are told as for any deletion.
pub async fn delete_as_admin(
    chat: &Chat,
    admin: &UserId,
    request: MessageRef,
) -> Result<Message, ChatError> {
    let conversation = Conversation::of(&request.conversation);
    let request = ChangeRequest {
        conversation_id: conversation.id().into(),
        seq: request.seq,
        caller: admin.to_string(),
        change: Change::Delete,
        moderator: true,
        author_since: None,
    };
    apply(chat, &conversation, request, None).await
}

/// Stores the change and, unless it repeats an earlier deletion, tells the conversation.
async fn apply(
    chat: &Chat,
    conversation: &Conversation,
    request: ChangeRequest,
    except: Option<Sid>,
) -> Result<Message, ChatError> {
    let edit = matches!(request.change, Change::Edit { .. });
    let changed = store::apply(&chat.db, request)
        .await?
        .map_err(|refusal| refused(chat, refusal, edit))?;
    let entry = view(changed.entry);
    if changed.fresh {
        let event = if entry.kind == MessageKind::Edit {
            events::MESSAGE_EDITED
        } else {
            events::MESSAGE_DELETED
        };
        let deliver = Deliver {
            frames: encode_event(event, &entry),
            except,
            committed_at: None,
        };
        chat.deliver_to_conversation(conversation, deliver);
        hooks::message_changed(chat, &entry);
        attachments::remove(
            chat,
            &attachments::ids_in(changed.removed_attachments.as_ref()),
        )
        .await;
    }
    Ok(entry)
}

fn refused(chat: &Chat, refusal: ChangeRefusal, edit: bool) -> ChatError {
    match refusal {
        ChangeRefusal::NoSuchMessage => ChatError::not_found("no such message"),
        ChangeRefusal::NotAuthor if edit => ChatError::forbidden("only its author edits a message"),
        ChangeRefusal::NotAuthor => ChatError::forbidden(
            "only its author (or, in a group, the owner or an admin) deletes a message",
        ),
        ChangeRefusal::TooLate => ChatError::forbidden(format!(
            "the message is older than the recall window ({} s)",
            chat.limits.recall_window.unwrap_or_default().as_secs()
        )),
    }
}
