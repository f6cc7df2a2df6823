//! `search`: full-text search over the messages the caller can read.

use serde::{Deserialize, Serialize};

use super::{ConversationId, Message};

/// `search` (and `GET /api/v1/search`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The words to find, all of which must match: a term of three characters or more
    /// matches the words it begins, a shorter one whole words.
    pub query: String,
    /// Only this conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationId>,
    /// Most results (default 20, at most 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// How many of the best results to skip (paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
}

/// A page of results, best first; `more` when another page follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchReply {
    /// The results.
    pub results: Vec<SearchHit>,
    /// Whether asking again with `offset` moved past these finds more.
    pub more: bool,
}

/// One found message and the part of its body around the first match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The message, as it is now.
    pub message: Message,
    /// The snippet, in pieces: the words that matched have `hit` set. Plain text, for
    /// clients to render (and escape) as they like.
    pub snippet: Vec<SnippetPart>,
}

/// A piece of a snippet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetPart {
    /// The text.
    pub text: String,
    /// Whether it is a word that matched.
    pub hit: bool,
}
