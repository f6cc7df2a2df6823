//! Changes to messages after they were sent: edits, deletions (and recalls), reactions,
//! and a conversation's expiry. An edit or a deletion is stored as an entry of the
//! conversation with its own seq ([`super::Message`] with `kind` `edit` or `delete`), so
//! `sync` carries it in order; reactions and expiries are told live only.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ConversationId, UserId};

/// One message of a conversation, as clients name it: `message:delete`,
/// `message:recall`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRef {
    /// The conversation.
    pub conversation: ConversationId,
    /// The message's seq.
    pub seq: i64,
}

/// `message:edit`: the message's new body and meta (both replace the old ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    /// The conversation.
    pub conversation: ConversationId,
    /// The message's seq.
    pub seq: i64,
    /// The new text.
    pub body: String,
    /// The new free JSON (none: the message has none after the edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

/// `reaction:add`, `reaction:remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionRequest {
    /// The conversation.
    pub conversation: ConversationId,
    /// The message's seq.
    pub seq: i64,
    /// The emoji (or a short name for one): 1 to 32 characters, no spaces or controls.
    pub emoji: String,
}

/// Server → client `reaction`: `user` added (or took back) `emoji` on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The conversation.
    pub conversation: ConversationId,
    /// The message's seq.
    pub seq: i64,
    /// Who.
    pub user: UserId,
    /// The emoji.
    pub emoji: String,
    /// True when added, false when taken back.
    pub added: bool,
}

/// One emoji's reactions to a message, as `history` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionCount {
    /// The emoji.
    pub emoji: String,
    /// How many users reacted with it.
    pub count: u64,
    /// Whether the caller is one of them.
    pub me: bool,
}

/// `conversation:set_expiry`: how long new messages of the conversation live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryRequest {
    /// The conversation.
    pub conversation: ConversationId,
    /// Seconds a message lives after it is sent; `null` (or absent) turns expiry off.
    #[serde(default)]
    pub seconds: Option<u64>,
}

/// Server → client `conversation:updated` (and the ack of `conversation:set_expiry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationUpdated {
    /// The conversation.
    pub id: ConversationId,
    /// Seconds a new message lives; `null`: for ever.
    pub expire_secs: Option<u64>,
    /// Who changed it.
    pub by: UserId,
}

/// Server → client `messages:expired`: these messages of a conversation are gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expired {
    /// The conversation.
    pub conversation: ConversationId,
    /// The seqs of the entries that are gone (messages and the edits and deletions of
    /// them).
    pub seqs: Vec<i64>,
}
