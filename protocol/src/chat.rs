//! The chat's event schema, shared by the server, the load generator and the tests: event
//! names, what each carries, and the error codes clients branch on (`API.md`).
//!
//! HTTP bodies use the same types, so an operation has one shape whichever way it comes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod attachments;
mod changes;
mod ids;
mod search;

pub use attachments::Attachment;
pub use changes::{
    ConversationUpdated, EditMessage, Expired, ExpiryRequest, MessageRef, Reaction, ReactionCount,
    ReactionRequest,
};
pub use ids::{ConversationId, ConversationKind, GroupId, InvalidId, MAX_ID_BYTES, UserId};
pub use search::{SearchHit, SearchReply, SearchRequest, SnippetPart};

/// Event names, as they travel in Socket.IO EVENT packets.
pub mod events {
    /// Client → server: send a message. Ack: `{ok, message}`.
    pub const MESSAGE_SEND: &str = "message:send";
    /// Client → server: everything after the given cursors. Ack: `{ok, messages, more}`.
    pub const SYNC: &str = "sync";
    /// Client → server: older messages of one conversation. Ack: `{ok, messages}`.
    pub const HISTORY: &str = "history";
    /// Client → server: the reader has read up to `seq`. Ack: `{ok}`.
    pub const READ: &str = "read";
    /// Both ways: someone is typing (ephemeral, never stored).
    pub const TYPING: &str = "typing";
    /// Client → server: presence of some users. Ack: `{ok, presence}`.
    pub const PRESENCE_QUERY: &str = "presence:query";
    /// Client → server: create a group. Ack: `{ok, group}`.
    pub const GROUP_CREATE: &str = "group:create";
    /// Client → server: the caller's groups. Ack: `{ok, groups}`.
    pub const GROUP_LIST: &str = "group:list";
    /// Client → server: find public groups by name. Ack: `{ok, groups}`.
    pub const GROUP_DIRECTORY: &str = "group:directory";
    /// Client → server: one group. Ack: `{ok, group}`.
    pub const GROUP_GET: &str = "group:get";
    /// Client → server: join a public group. Ack: `{ok, group}`.
    pub const GROUP_JOIN: &str = "group:join";
    /// Client → server: leave a group. Ack: `{ok}`.
    pub const GROUP_LEAVE: &str = "group:leave";
    /// Client → server: dissolve a group (owner). Ack: `{ok}`.
    pub const GROUP_DELETE: &str = "group:delete";
    /// Client → server: add a member. Ack: `{ok, group}`.
    pub const GROUP_ADD_MEMBER: &str = "group:add_member";
    /// Client → server: remove a member. Ack: `{ok, group}`.
    pub const GROUP_REMOVE_MEMBER: &str = "group:remove_member";
    /// Client → server: rename a group. Ack: `{ok, group}`.
    pub const GROUP_RENAME: &str = "group:rename";
    /// Client → server: set a member's role (owner). Ack: `{ok, group}`.
    pub const GROUP_SET_ROLE: &str = "group:set_role";
    /// Client → server: contacts, requests and blocks. Ack: `{ok, contacts, incoming, outgoing, blocked}`.
    pub const CONTACT_LIST: &str = "contact:list";
    /// Client → server: ask a user to be a contact. Ack: `{ok, request}`.
    pub const CONTACT_REQUEST: &str = "contact:request";
    /// Client → server: accept a request. Ack: `{ok, contact}`.
    pub const CONTACT_ACCEPT: &str = "contact:accept";
    /// Client → server: decline a request. Ack: `{ok, contact}`.
    pub const CONTACT_DECLINE: &str = "contact:decline";
    /// Client → server: remove a contact. Ack: `{ok}`.
    pub const CONTACT_REMOVE: &str = "contact:remove";
    /// Client → server: block a user. Ack: `{ok}`.
    pub const CONTACT_BLOCK: &str = "contact:block";
    /// Client → server: unblock a user. Ack: `{ok}`.
    pub const CONTACT_UNBLOCK: &str = "contact:unblock";
    /// Client → server: edit one's own message. Ack: `{ok, message}` (the edit entry).
    pub const MESSAGE_EDIT: &str = "message:edit";
    /// Client → server: delete a message for everyone (its author within the recall
    /// window; a group's owner and admins any time). Ack: `{ok, message}` (the deletion).
    pub const MESSAGE_DELETE: &str = "message:delete";
    /// Client → server: recall one's own message: a deletion by its author, within the
    /// recall window. Ack: `{ok, message}` (the deletion).
    pub const MESSAGE_RECALL: &str = "message:recall";
    /// Client → server: react to a message. Ack: `{ok}`.
    pub const REACTION_ADD: &str = "reaction:add";
    /// Client → server: take a reaction back. Ack: `{ok}`.
    pub const REACTION_REMOVE: &str = "reaction:remove";
    /// Client → server: full-text search over the caller's conversations. Ack:
    /// `{ok, results, more}`.
    pub const SEARCH: &str = "search";
    /// Client → server: set how long new messages of a conversation live. Ack:
    /// `{ok, conversation}`.
    pub const CONVERSATION_SET_EXPIRY: &str = "conversation:set_expiry";
    /// The caller's conversations, most recent first, a page at a time.
    pub const CONVERSATION_LIST: &str = "conversation:list";
    /// How far the other members of a conversation have read. Ack: `{ok, reads}`.
    pub const CONVERSATION_READS: &str = "conversation:reads";
    /// Server → client: a new message.
    pub const MESSAGE_NEW: &str = "message:new";
    /// Server → client: a message was edited (the edit entry).
    pub const MESSAGE_EDITED: &str = "message:edited";
    /// Server → client: a message was deleted for everyone (the deletion entry).
    pub const MESSAGE_DELETED: &str = "message:deleted";
    /// Server → client: someone reacted to a message, or took a reaction back.
    pub const REACTION: &str = "reaction";
    /// Server → client: a conversation's settings changed.
    pub const CONVERSATION_UPDATED: &str = "conversation:updated";
    /// Server → client: messages of a conversation expired and are gone.
    pub const MESSAGES_EXPIRED: &str = "messages:expired";
    /// Server → client: someone read a conversation up to a seq.
    pub const RECEIPT: &str = "receipt";
    /// Server → client: a contact came online or went offline.
    pub const PRESENCE: &str = "presence";
    /// Server → client: a group the user is in changed.
    pub const GROUP_UPDATED: &str = "group:updated";
    /// Server → client: a contact relation changed.
    pub const CONTACT_UPDATED: &str = "contact:updated";
    /// Server → client: the connection's session ended (`code`: `session_revoked`,
    /// `session_expired` or `account_disabled`); a DISCONNECT follows. Log in again.
    pub const SESSION_EXPIRED: &str = "session:expired";
}

/// Where a message goes: `{"user": id}` or `{"group": id}`.
///
/// Read through [`TargetFields`], so that a wrong shape (`{}`, both keys, another key) is
/// a data error that names the rule ("`to` needs exactly one of `user` or `group`"), not
/// a JSON syntax error at some column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "TargetFields")]
pub enum Target {
    /// A direct message to one user.
    User(UserId),
    /// A message to every member of a group.
    Group(GroupId),
}

/// A [`Target`] as it arrives, before its shape is checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFields {
    user: Option<UserId>,
    group: Option<GroupId>,
}

impl TryFrom<TargetFields> for Target {
    type Error = &'static str;

    fn try_from(fields: TargetFields) -> Result<Self, Self::Error> {
        match (fields.user, fields.group) {
            (Some(user), None) => Ok(Self::User(user)),
            (None, Some(group)) => Ok(Self::Group(group)),
            _ => Err("`to` needs exactly one of `user` or `group`"),
        }
    }
}

/// `message:send` (and `POST /api/v1/messages`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendMessage {
    /// The recipient.
    pub to: Target,
    /// The text.
    pub body: String,
    /// Unique per sender: the same id again returns the same message.
    pub client_msg_id: String,
    /// Free JSON carried with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// The seq of the message of the same conversation this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    /// Members of the group this message mentions (group messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    /// Ids of files the sender uploaded, to send with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
}

/// What an entry of a conversation is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// Something a user said.
    #[default]
    Message,
    /// The message at `target` now reads as this entry's `body` and `meta`.
    Edit,
    /// The message at `target` was deleted for everyone.
    Delete,
}

/// A stored message, as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Opaque id.
    pub id: String,
    /// The conversation it belongs to.
    pub conversation: String,
    /// Position in the conversation: 1, 2, 3, ... without gaps.
    pub seq: i64,
    /// The sender's user id.
    pub from: String,
    /// The recipient.
    pub to: Target,
    /// The text.
    pub body: String,
    /// Free JSON, `null` when none was given.
    pub meta: Value,
    /// The sender's id for it.
    pub client_msg_id: String,
    /// When it was stored, RFC 3339.
    pub ts: String,
    /// A message, or an edit or deletion of an earlier one.
    #[serde(default)]
    pub kind: MessageKind,
    /// For an edit or a deletion: the seq of the message it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<i64>,
    /// The seq of the message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    /// The members a group message mentions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    /// When the message was last edited, RFC 3339 (its `body` and `meta` are the edited
    /// ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// When the message was deleted for everyone, RFC 3339: a tombstone, with an empty
    /// `body` and no `meta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// When the message disappears, RFC 3339 (its conversation's expiry when it was sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The files it carries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// The reactions, with counts and whether the caller reacted (in `history` and pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactions: Option<Vec<ReactionCount>>,
}

/// `sync`: the client's last seq per conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Conversation id → last seq the client has.
    #[serde(default)]
    pub cursors: BTreeMap<String, i64>,
    /// At most this many messages in all (default 500).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// The answer to `sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReply {
    /// What the client missed, in seq order per conversation.
    pub messages: Vec<Message>,
    /// Whether another call would return more.
    pub more: bool,
}

/// `history`: older messages of one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRequest {
    /// The conversation.
    pub conversation: ConversationId,
    /// Only messages before this seq (default: from the newest).
    #[serde(default)]
    pub before_seq: Option<i64>,
    /// At most this many (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `read`: the reader has read `conversation` up to `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRequest {
    /// The conversation.
    pub conversation: ConversationId,
    /// The last seq read.
    pub seq: i64,
}

/// A payload naming a conversation: `{conversation}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationRef {
    /// The conversation.
    pub conversation: ConversationId,
}

/// `typing` from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingRequest {
    /// The conversation.
    pub conversation: ConversationId,
    /// Started (true) or stopped (false).
    pub typing: bool,
}

/// `typing` to the other members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    /// The conversation.
    pub conversation: ConversationId,
    /// Who is typing.
    pub user: UserId,
    /// Started or stopped.
    pub typing: bool,
}

/// `receipt` to the other members and the reader's other connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The conversation.
    pub conversation: ConversationId,
    /// The reader.
    pub user: UserId,
    /// Read up to this seq.
    pub seq: i64,
}

/// `presence:query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceQuery {
    /// The users asked about.
    pub users: Vec<UserId>,
}

/// One user's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The user.
    pub user: UserId,
    /// Connected anywhere right now.
    pub online: bool,
    /// When last seen online, RFC 3339 (`null` if never, or hidden).
    pub last_seen: Option<String>,
}

/// The error codes of acks and HTTP errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed or breaks a rule.
    InvalidRequest,
    /// The body (or another field) is over its limit.
    TooLarge,
    /// No such thing, or not one the caller may see.
    NotFound,
    /// The caller may not do this.
    Forbidden,
    /// One side has blocked the other.
    Blocked,
    /// Too many requests; slow down.
    RateLimited,
    /// The request conflicts with the current state (already a member, ...).
    Conflict,
    /// The group is full.
    GroupFull,
    /// The user is in as many groups as a user may be.
    TooManyGroups,
    /// The message has as many different reactions as a message may have.
    TooManyReactions,
    /// An upload's type (sniffed from its bytes) is not accepted.
    UnsupportedType,
    /// The upload would take the user past their storage quota.
    QuotaExceeded,
    /// Something failed on the server.
    InternalError,
    /// The server is not ready (a dependency is down); retry.
    Unavailable,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::TooLarge => "too_large",
            Self::NotFound => "not_found",
            Self::Forbidden => "forbidden",
            Self::Blocked => "blocked",
            Self::RateLimited => "rate_limited",
            Self::Conflict => "conflict",
            Self::GroupFull => "group_full",
            Self::TooManyGroups => "too_many_groups",
            Self::TooManyReactions => "too_many_reactions",
            Self::UnsupportedType => "unsupported_type",
            Self::QuotaExceeded => "quota_exceeded",
            Self::InternalError => "internal_error",
            Self::Unavailable => "unavailable",
        }
    }
}

/// An error as clients receive it: `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_are_single_key_objects() {
        assert_eq!(
            serde_json::to_value(Target::User(UserId::stored("u1".into()))).unwrap(),
            json!({"user": "u1"})
        );
        let group: Target = serde_json::from_value(json!({"group": "g1"})).unwrap();
        assert_eq!(group, Target::Group(GroupId::stored("g1".into())));
        for wrong in [
            r#"{"user": "a", "group": "b"}"#,
            "{}",
            r#"{"channel": "c"}"#,
            r#"{"user": null}"#,
            r#"{"user": "a:b"}"#,
        ] {
            let error = serde_json::from_str::<Target>(wrong).unwrap_err();
            assert!(error.is_data(), "{wrong}: {error}");
        }
        let error = serde_json::from_str::<Target>("{}").unwrap_err();
        assert!(error.to_string().contains("exactly one of"), "{error}");
    }

    #[test]
    fn error_codes_serialise_as_their_wire_names() {
        for code in [
            ErrorCode::TooLarge,
            ErrorCode::RateLimited,
            ErrorCode::GroupFull,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
    }
}
