//! Messages: sending (checked, made durable, acknowledged, delivered), history, sync,
//! read receipts and typing.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};

use confab_entities::{conversation, message};
use confab_protocol::chat::{
    ConversationId, ConversationRef, ErrorCode, HistoryRequest, Message, ReactionCount,
    ReadRequest, Receipt, SendMessage, SyncReply, SyncRequest, Target, Typing, TypingRequest,
    UserId, events,
};
use serde::Serialize;
use serde_json::Value;

use super::conversations::{Conversation, accessible, timestamp, view};
use super::{Chat, ChatError, attachments, encode_event, hooks};
use crate::actors::cursors::MoveCursor;
use crate::actors::store::{Append, StoreError};
use crate::actors::user::Deliver;
use crate::engineio::Sid;
use crate::store::append::Refusal;
use crate::store::cursors::CursorMove;
use crate::store::messages::{self as stored, Kinds, NewMessage};
use crate::store::{changes, membership, reactions};

/// Default and largest page of `sync`.
const SYNC_LIMIT: (u32, u32) = (500, 1000);
/// Default and largest page of `history`.
const HISTORY_LIMIT: (u32, u32) = (50, 200);
/// Longest `client_msg_id`.
const MAX_CLIENT_MSG_ID: usize = 64;
/// Most bytes of bodies and `meta` one reply of `sync`, `history` or a page carries (at
/// least one message, whatever its size). JSON escapes a control character in six bytes,
/// so even the worst reply stays under the default outgoing buffer of a connection (1 MiB).
const REPLY_BUDGET_BYTES: usize = 160 * 1024;

/// A page of messages, oldest first; `more` when the byte budget cut it short: ask again
/// from where it ends.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The messages.
    pub messages: Vec<Message>,
    /// Whether the budget left some out.
    pub more: bool,
}

/// What a stored message counts against [`REPLY_BUDGET_BYTES`].
fn reply_bytes(model: &message::Model) -> usize {
    model.body.len() + model.meta.as_ref().map_or(0, |meta| meta.to_string().len())
}

/// How many of `models`, in order, fit in `budget` bytes; at least one when `at_least_one`.
fn fitting<'a>(
    models: impl IntoIterator<Item = &'a message::Model>,
    budget: usize,
    at_least_one: bool,
) -> usize {
    let mut used = 0;
    let mut count = 0;
    for model in models {
        used += reply_bytes(model);
        if used > budget && !(at_least_one && count == 0) {
            break;
        }
        count += 1;
    }
    count
}

fn page_size(requested: Option<u32>, (default, max): (u32, u32)) -> u64 {
    u64::from(requested.unwrap_or(default).clamp(1, max))
}

/// Most members one message may mention.
const MAX_MENTIONS: usize = 50;

/// Checks a message against the limits before anything else happens; returns the length
/// of its serialised `meta`.
fn check_message(chat: &Chat, request: &SendMessage) -> Result<usize, ChatError> {
    if request.client_msg_id.is_empty() || request.client_msg_id.len() > MAX_CLIENT_MSG_ID {
        return Err(ChatError::invalid("client_msg_id must have 1 to 64 bytes"));
    }
    if request.mentions.len() > MAX_MENTIONS {
        return Err(ChatError::new(
            ErrorCode::TooLarge,
            format!("at most {MAX_MENTIONS} mentions per message"),
        ));
    }
    if request.body.is_empty() && request.meta.is_none() && request.attachments.is_empty() {
        return Err(ChatError::invalid(
            "a message needs a body, meta or attachments",
        ));
    }
    check_content(chat, &request.body, request.meta.as_ref())
}

/// Checks a body and meta (of a new message or an edit) against the limits; returns the
/// length of the serialised meta.
pub(super) fn check_content(
    chat: &Chat,
    body: &str,
    meta: Option<&Value>,
) -> Result<usize, ChatError> {
    if body.len() > chat.limits.max_body_bytes {
        return Err(ChatError::new(
            ErrorCode::TooLarge,
            format!("the body is over {} bytes", chat.limits.max_body_bytes),
        ));
    }
    let meta_len = meta.map_or(0, |meta| meta.to_string().len());
    if meta_len > chat.limits.max_meta_bytes {
        return Err(ChatError::new(
            ErrorCode::TooLarge,
            format!("meta is over {} bytes", chat.limits.max_meta_bytes),
        ));
    }
    // PostgreSQL's `text` and `jsonb` cannot hold U+0000: refused here, it can never reach
    // (and fail) a batch of other people's messages, and every backend stores the same.
    if body.contains('\0') {
        return Err(ChatError::invalid("the body must not contain U+0000 (NUL)"));
    }
    if meta.is_some_and(has_nul) {
        return Err(ChatError::invalid("meta must not contain U+0000 (NUL)"));
    }
    Ok(meta_len)
}

/// Whether a NUL character stands in any key or string of `value`.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || has_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Checks what a message refers to: the message it answers must be a message of the
/// conversation, not deleted; those it mentions must be members of its group (a direct
/// message mentions nobody). Asks the database only when there is something to check,
/// and first whether the sender is in the group, so that a stranger learns nothing of
/// what is in it.
async fn check_references(
    chat: &Chat,
    sender: &UserId,
    conversation: &Conversation,
    request: &SendMessage,
) -> Result<(), ChatError> {
    if request.reply_to.is_none() && request.mentions.is_empty() {
        return Ok(());
    }
    let members = match conversation {
        Conversation::Group { group_id } => {
            let members = membership::member_ids(&chat.db, group_id).await?;
            if !members.iter().any(|member| *member == *sender) {
                return Err(refused(Refusal::NotMember));
            }
            members
        }
        Conversation::Direct { .. } if !request.mentions.is_empty() => {
            return Err(ChatError::invalid("only group messages mention members"));
        }
        Conversation::Direct { .. } => Vec::new(),
    };
    if let Some(seq) = request.reply_to {
        let answered = changes::message_at(&chat.db, conversation.id().as_str(), seq).await?;
        if answered.is_none_or(|message| message.deleted_at.is_some()) {
            return Err(ChatError::invalid(
                "reply_to is not a message of this conversation",
            ));
        }
    }
    if let Some(stranger) = request
        .mentions
        .iter()
        .find(|mentioned| !members.iter().any(|member| *member == **mentioned))
    {
        return Err(ChatError::invalid(format!(
            "{stranger} is not a member of this group"
        )));
    }
    Ok(())
}

/// A writer could not store something now (`message` tells the client what to do): a
/// full queue is the load's doing and is only counted by the writer; a database failure
/// is logged.
pub(super) fn unavailable(error: StoreError, message: &str) -> ChatError {
    if error != StoreError::Busy {
        tracing::warn!(%error, "storing failed");
    }
    ChatError::new(ErrorCode::Unavailable, message)
}

/// Why the store refused a message, for the sender.
fn refused(refusal: Refusal) -> ChatError {
    match refusal {
        Refusal::NoSuchUser => ChatError::not_found("no such user"),
        Refusal::Blocked => ChatError::new(ErrorCode::Blocked, "one of you has blocked the other"),
        Refusal::NotMember => ChatError::not_found("no such group"),
    }
}

/// Sends a message: checks it, makes it durable, returns it (the ack), and delivers it to
/// the recipients and the sender's other connections (`except` is the sending socket).
///
/// The same `client_msg_id` again returns the stored message to the sender and stores and
/// delivers nothing: the sender may have been blocked or removed since, and a recipient
/// that missed the first delivery gets it from `sync`.
#[tracing::instrument(name = "message.send", skip_all, fields(%sender))]
pub async fn send(
    chat: &Chat,
    sender: &UserId,
    request: SendMessage,
    except: Option<Sid>,
) -> Result<Message, ChatError> {
    metrics::counter!("confab_messages_received_total").increment(1);
    chat.rate.check_sender(sender)?;
    let meta_len = check_message(chat, &request)?;
    // Whether the sender may write there is checked by the store, in the transaction that
    // stores the message.
    let conversation = match &request.to {
        Target::User(recipient) => Conversation::direct(sender, recipient),
        Target::Group(group_id) => Conversation::group(group_id),
    };
    check_references(chat, sender, &conversation, &request).await?;
    let mentions = (!request.mentions.is_empty())
        .then(|| serde_json::to_value(&request.mentions))
        .transpose()
        .map_err(ChatError::internal)?;
    let attachments = if request.attachments.is_empty() {
        None
    } else {
        let views = attachments::for_message(chat, sender, &request.attachments).await?;
        Some(serde_json::to_value(views).map_err(ChatError::internal)?)
    };
    let sent_files = request.attachments.clone();
    let new = NewMessage {
        conversation: conversation.to_ref(),
        sender_id: sender.to_string(),
        size: NewMessage::size_of(request.body.len(), meta_len),
        body: request.body,
        meta: request.meta,
        client_msg_id: request.client_msg_id,
        reply_to: request.reply_to,
        mentions,
        attachments,
    };
    let stored = chat
        .store
        .send(Append(new))
        .await
        .map_err(ChatError::internal)?
        .map_err(|error| {
            unavailable(
                error,
                "the message could not be stored now; retry with the same client_msg_id",
            )
        })?
        .map_err(refused)?;
    let committed_at = Some(Instant::now());
    let message = view(stored.message);
    if !stored.fresh {
        return Ok(message);
    }
    if !sent_files.is_empty() {
        attachments::give_to(chat, &conversation, &sent_files).await?;
    }
    let deliver = Deliver {
        frames: encode_event(events::MESSAGE_NEW, &message),
        except,
        committed_at,
    };
    chat.deliver_to_conversation(&conversation, deliver);
    hooks::message_created(chat, &conversation, &message);
    Ok(message)
}

/// Older messages of a conversation, oldest first.
pub async fn history(
    chat: &Chat,
    caller: &UserId,
    request: HistoryRequest,
) -> Result<Page, ChatError> {
    page(
        chat,
        caller,
        &request.conversation,
        request.before_seq,
        None,
        request.limit,
    )
    .await
}

/// A page of a conversation, oldest first: the messages right after `after_seq` when it is
/// given, else the newest ones before `before_seq` (or the newest of all). When the byte
/// budget cuts it, it keeps the messages nearest to where it starts (the first ones after
/// `after_seq`, the last ones before `before_seq`) and says `more`.
pub async fn page(
    chat: &Chat,
    caller: &UserId,
    conversation: &ConversationId,
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    limit: Option<u32>,
) -> Result<Page, ChatError> {
    let conversation = accessible(chat, caller, conversation).await?.id();
    let limit = page_size(limit, HISTORY_LIMIT);
    let mut models = match after_seq {
        Some(after) => {
            stored::between(
                &chat.db,
                &conversation,
                after,
                before_seq,
                limit,
                Kinds::Messages,
            )
            .await?
        }
        None => stored::latest_before(&chat.db, &conversation, before_seq, limit).await?,
    };
    let total = models.len();
    match after_seq {
        Some(_) => models.truncate(fitting(&models, REPLY_BUDGET_BYTES, true)),
        None => {
            let keep = fitting(models.iter().rev(), REPLY_BUDGET_BYTES, true);
            models.drain(..total - keep);
        }
    }
    let seqs: Vec<i64> = models.iter().map(|model| model.seq).collect();
    let mut counts = reactions::counts(&chat.db, conversation.as_str(), &seqs, caller).await?;
    let messages = models
        .into_iter()
        .map(|model| {
            let counts = counts.remove(&model.seq).unwrap_or_default();
            let mut message = view(model);
            message.reactions = Some(
                counts
                    .into_iter()
                    .map(|(emoji, count, me)| ReactionCount { emoji, count, me })
                    .collect(),
            );
            message
        })
        .collect();
    Ok(Page {
        more: total > seqs.len(),
        messages,
    })
}

/// Everything after the client's cursors, and every conversation it has no cursor for
/// from the start, in seq order per conversation, at most `limit` in all.
pub async fn sync(
    chat: &Chat,
    caller: &UserId,
    request: SyncRequest,
) -> Result<SyncReply, ChatError> {
    let limit = page_size(request.limit, SYNC_LIMIT);
    let mut conversations = membership::conversations_of(&chat.db, caller).await?;
    conversations.sort_by(|x, y| x.id.cmp(&y.id));
    let mut messages = Vec::new();
    let mut more = false;
    let mut budget = REPLY_BUDGET_BYTES;
    for conversation in conversations {
        let after = request
            .cursors
            .get(&conversation.id)
            .copied()
            .unwrap_or(0)
            .max(0);
        if conversation.last_seq <= after {
            continue;
        }
        let room = limit - messages.len() as u64;
        if room == 0 {
            more = true;
            break;
        }
        let mut page =
            stored::between(&chat.db, &conversation.id, after, None, room, Kinds::All).await?;
        // A page short of `room` has all there is: the seqs after it are gone (expired).
        let full = page.len() as u64 == room;
        let fits = fitting(&page, budget, messages.is_empty());
        budget = budget.saturating_sub(page[..fits].iter().map(reply_bytes).sum());
        let cut = fits < page.len();
        page.truncate(fits);
        let last = page.last().map_or(after, |message| message.seq);
        messages.extend(page.into_iter().map(view));
        if cut || (full && last < conversation.last_seq) {
            more = true;
            break;
        }
    }
    Ok(SyncReply { messages, more })
}

/// Records that `caller` read a conversation up to `seq` and tells the other members and
/// the reader's other connections: who to tell (which also checks that the caller may)
/// and where the reader stands take one query each; the cursor moves with other readers'
/// in one statement (`actors/cursors.rs`). Two readers moving one cursor at once may both
/// be told: receipts only ever move forward, so a repeat changes nothing.
pub async fn read(
    chat: &Chat,
    caller: &UserId,
    request: ReadRequest,
    except: Option<Sid>,
) -> Result<(), ChatError> {
    let (id, others) = audience(chat, caller, &request.conversation).await?;
    let (last_seq, read) = membership::read_position(&chat.db, &id, caller)
        .await?
        .unwrap_or((0, None));
    if request.seq < 1 || request.seq > last_seq {
        return Err(ChatError::invalid(
            "seq is not a message of this conversation",
        ));
    }
    if read.is_some_and(|read| read >= request.seq) {
        return Ok(());
    }
    let cursor = CursorMove {
        conversation_id: id.to_string(),
        user_id: caller.to_string(),
        seq: request.seq,
    };
    chat.cursors
        .send(MoveCursor(cursor))
        .await
        .map_err(ChatError::internal)?
        .map_err(|error| unavailable(error, "the receipt could not be stored now; retry"))?;
    let receipt = Receipt {
        conversation: id,
        user: caller.to_owned(),
        seq: request.seq,
    };
    let frames = encode_event(events::RECEIPT, &receipt);
    chat.push_to_users(others, frames.clone(), None);
    chat.push_to_users(vec![caller.to_string()], frames, except);
    Ok(())
}

/// Tells the other members that `caller` started or stopped typing. Never stored.
pub async fn typing(chat: &Chat, caller: &UserId, request: TypingRequest) -> Result<(), ChatError> {
    let (conversation, others) = audience(chat, caller, &request.conversation).await?;
    let typing = Typing {
        conversation,
        user: caller.to_owned(),
        typing: request.typing,
    };
    chat.push_to_users(others, encode_event(events::TYPING, &typing), None);
    Ok(())
}

/// The conversation `id` if `caller` may see it, and who hears of what they do there (the
/// other members; nobody in a direct conversation with a block either way), in one query:
/// a group's members (the caller among them, or it is `not_found`), or whether the two
/// users of a direct conversation blocked each other.
pub(super) async fn audience(
    chat: &Chat,
    caller: &UserId,
    id: &ConversationId,
) -> Result<(ConversationId, Vec<String>), ChatError> {
    let not_found = || ChatError::not_found("no such conversation");
    let conversation = Conversation::of(id);
    let members = match &conversation {
        Conversation::Direct { a, b } if a != caller && b != caller => return Err(not_found()),
        Conversation::Direct { a, b } if chat.blocks.between(&chat.db, a, b).await? => Vec::new(),
        Conversation::Direct { a, b } => vec![a.to_string(), b.to_string()],
        Conversation::Group { group_id } => {
            let members = membership::member_ids(&chat.db, group_id).await?;
            if !members.iter().any(|member| *member == *caller) {
                return Err(not_found());
            }
            members
        }
    };
    let others = members
        .into_iter()
        .filter(|user| *user != *caller)
        .collect();
    Ok((conversation.id(), others))
}

/// How far one member has read.
#[derive(Debug, Clone, Serialize)]
pub struct ReadPosition {
    /// The member.
    pub user: String,
    /// The last seq they read.
    pub seq: i64,
}

/// `{reads}`: the answer of [`reads`].
#[derive(Debug, Clone, Serialize)]
pub struct Reads {
    /// The other members who read anything, by user id.
    pub reads: Vec<ReadPosition>,
}

/// `conversation:reads` and `GET /conversations/{id}/reads`: how far the other members
/// have read, as their receipts told (so a client shows them again after a reload): none
/// in a direct conversation with a block either way, as no receipt crosses one.
pub async fn reads(
    chat: &Chat,
    caller: &UserId,
    request: ConversationRef,
) -> Result<Reads, ChatError> {
    let (id, others) = audience(chat, caller, &request.conversation).await?;
    let reads = membership::cursors_in(&chat.db, id.as_str(), &others)
        .await?
        .into_iter()
        .map(|(user, seq)| ReadPosition { user, seq })
        .collect();
    Ok(Reads { reads })
}

/// A conversation as listed to its member.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationView {
    /// Its id.
    pub id: String,
    /// `direct` or `group`.
    pub kind: &'static str,
    /// For a direct conversation, the other user; for a group's, the group.
    pub with: Target,
    /// The newest message's seq.
    pub last_seq: i64,
    /// What the caller has read.
    pub read_seq: i64,
    /// How many messages of others the caller has not read (edits, deletions and their
    /// own messages do not count).
    pub unread: i64,
    /// How long a new message lives here, in seconds; `null`: for ever.
    pub expire_secs: Option<i64>,
    /// The newest message in its current state (edited, or a tombstone), if any is left.
    pub last_message: Option<Message>,
    /// When the newest entry was written (the conversation's creation without one): what
    /// the list is ordered by.
    pub last_at: String,
}

/// `GET /conversations` and `conversation:list`: a page of the list, and where the next
/// one starts.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationList {
    /// Most recent first.
    pub conversations: Vec<ConversationView>,
    /// Give it as `before` for the next page; `null` on the last page.
    pub next: Option<String>,
}

/// Which page of the conversation list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationPage {
    /// At most this many (1 to 200, default 100).
    pub limit: Option<usize>,
    /// The `next` of the page before.
    pub before: Option<String>,
}

/// Most conversations one page holds.
const MAX_CONVERSATION_PAGE: usize = 200;

/// The caller's conversations, most recent first (newest entry, then id), a page at a
/// time. The whole list is ordered from one indexed query; the last messages are read for
/// the page only.
pub async fn conversations(
    chat: &Chat,
    caller: &UserId,
    page: ConversationPage,
) -> Result<ConversationList, ChatError> {
    let limit = page.limit.unwrap_or(100);
    if !(1..=MAX_CONVERSATION_PAGE).contains(&limit) {
        return Err(ChatError::invalid(format!(
            "limit is 1 to {MAX_CONVERSATION_PAGE}"
        )));
    }
    let before = page
        .before
        .map(|cursor| {
            let (at, id) = cursor.split_once('|')?;
            let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
            Some((at, id.to_owned()))
        })
        .map(|cursor| cursor.ok_or_else(|| ChatError::invalid("before is not a `next` cursor")))
        .transpose()?;
    let rows = membership::conversations_of(&chat.db, caller).await?;
    let times = membership::last_entry_times(&chat.db, caller).await?;
    let mut listed: Vec<(DateTime<Utc>, conversation::Model)> = rows
        .into_iter()
        .map(|row| {
            let at = times.get(&row.id).copied().unwrap_or(row.created_at);
            (at, row)
        })
        .filter(|(at, row)| {
            before
                .as_ref()
                .is_none_or(|(before, id)| *at < *before || (at == before && row.id > *id))
        })
        .collect();
    listed.sort_by(|(x_at, x), (y_at, y)| y_at.cmp(x_at).then_with(|| x.id.cmp(&y.id)));
    let next = (listed.len() > limit).then(|| {
        let (at, row) = &listed[limit - 1];
        format!("{}|{}", timestamp(*at), row.id)
    });
    listed.truncate(limit);
    let ids: Vec<String> = listed.iter().map(|(_, row)| row.id.clone()).collect();
    let mut last: HashMap<String, Message> = membership::last_messages(&chat.db, &ids)
        .await?
        .into_iter()
        .map(|model| (model.conversation_id.clone(), view(model)))
        .collect();
    let cursors = membership::read_cursors_of(&chat.db, caller).await?;
    let unread = membership::unread_counts(&chat.db, caller).await?;
    let conversations = listed
        .into_iter()
        .filter_map(|(at, row)| {
            let conversation = Conversation::parse(&row.id)?;
            let kind = match conversation {
                Conversation::Direct { .. } => "direct",
                Conversation::Group { .. } => "group",
            };
            Some(ConversationView {
                read_seq: cursors.get(&row.id).copied().unwrap_or(0),
                unread: unread.get(&row.id).copied().unwrap_or(0),
                with: conversation.target(caller),
                kind,
                last_seq: row.last_seq,
                expire_secs: row.expire_secs,
                last_message: last.remove(&row.id),
                last_at: timestamp(at),
                id: row.id,
            })
        })
        .collect();
    Ok(ConversationList {
        conversations,
        next,
    })
}
