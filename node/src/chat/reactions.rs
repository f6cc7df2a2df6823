//! Reactions: a user adds or takes back an emoji on a message. Told live (`reaction`) to
//! the conversation's other members and the user's other connections; `history` shows the
//! counts. Not entries of the conversation: `sync` does not replay them.

use confab_protocol::chat::{ErrorCode, Reaction, ReactionRequest, UserId, events};

use super::conversations::Conversation;
use super::messages::audience;
use super::{Chat, ChatError, encode_event};
use crate::engineio::Sid;
use crate::store::reactions::{self as store, ReactionKey, ReactionRefusal};

/// Longest emoji, in characters (the column's length).
const MAX_EMOJI_CHARS: usize = 32;

/// `reaction:add` (`added`) and `reaction:remove`. Repeating either changes nothing and
/// tells nobody.
pub async fn react(
    chat: &Chat,
    caller: &UserId,
    request: ReactionRequest,
    added: bool,
    except: Option<Sid>,
) -> Result<(), ChatError> {
    check_emoji(&request.emoji)?;
    let (conversation, others) = audience(chat, caller, &request.conversation).await?;
    let key = ReactionKey {
        conversation_id: conversation.to_string(),
        seq: request.seq,
        user_id: caller.to_string(),
        emoji: request.emoji.clone(),
    };
    let changed = if added {
        store::add(&chat.db, key, chat.limits.max_reactions_per_message)
            .await?
            .map_err(|refusal| refused(chat, refusal))?
    } else {
        store::remove(&chat.db, key).await?
    };
    if !changed {
        return Ok(());
    }
    let reaction = Reaction {
        conversation: conversation.clone(),
        seq: request.seq,
        user: caller.clone(),
        emoji: request.emoji,
        added,
    };
    let frames = encode_event(events::REACTION, &reaction);
    match Conversation::of(&conversation) {
        Conversation::Group { group_id } => chat.push_to_group(group_id.as_str(), frames, except),
        Conversation::Direct { .. } => {
            let mut users = others;
            users.push(caller.to_string());
            chat.push_to_users(users, frames, except);
        }
    }
    Ok(())
}

/// An emoji is 1 to 32 characters, with no whitespace or control characters.
fn check_emoji(emoji: &str) -> Result<(), ChatError> {
    let chars = emoji.chars().count();
    if chars == 0
        || chars > MAX_EMOJI_CHARS
        || emoji.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ChatError::invalid(format!(
            "emoji must be 1 to {MAX_EMOJI_CHARS} characters without spaces or control characters"
        )));
    }
    Ok(())
}

fn refused(chat: &Chat, refusal: ReactionRefusal) -> ChatError {
    match refusal {
        ReactionRefusal::NoSuchMessage => ChatError::not_found("no such message"),
        ReactionRefusal::TooMany => ChatError::new(
            ErrorCode::TooManyReactions,
            format!(
                "a message carries at most {} different reactions",
                chat.limits.max_reactions_per_message
            ),
        ),
    }
}
