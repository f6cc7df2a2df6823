//! Conversation ids and who may see a conversation.
//!
//! A direct conversation's id is `d:<lower user id>:<higher user id>`, a group's is
//! `g:<group id>`: both are derived, so the first message needs no lookup and every node
//! agrees. User and group ids never contain `:`.

use chrono::{DateTime, SecondsFormat, Utc};
use confab_entities::{MessageKind, message};
use confab_protocol::chat::{
    self, ConversationId, ConversationKind, GroupId, Message, Target, UserId,
};

use super::groups::MANAGERS;
use super::{Chat, ChatError};
use crate::store::membership;
use crate::store::messages::{ConversationRef, ConversationRefKind};

/// A conversation, as its id names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversation {
    /// Between two users (`a <= b`).
    Direct {
        /// The lower user id.
        a: UserId,
        /// The higher user id.
        b: UserId,
    },
    /// A group's.
    Group {
        /// The group.
        group_id: GroupId,
    },
}

impl Conversation {
    /// The direct conversation of two users.
    pub fn direct(one: &UserId, other: &UserId) -> Self {
        let (a, b) = UserId::ordered(one, other);
        Self::Direct {
            a: a.clone(),
            b: b.clone(),
        }
    }

    /// A group's conversation.
    pub fn group(group_id: &GroupId) -> Self {
        Self::Group {
            group_id: group_id.clone(),
        }
    }

    /// The conversation a checked id names.
    pub fn of(id: &ConversationId) -> Self {
        match id.kind() {
            ConversationKind::Direct(a, b) => Self::Direct {
                a: UserId::stored(a.to_owned()),
                b: UserId::stored(b.to_owned()),
            },
            ConversationKind::Group(group) => Self::Group {
                group_id: GroupId::stored(group.to_owned()),
            },
        }
    }

    /// The conversation a stored id names (`None` if it is not one).
    pub fn parse(id: &str) -> Option<Self> {
        ConversationId::try_from(id.to_owned())
            .ok()
            .map(|id| Self::of(&id))
    }

    /// Its id.
    pub fn id(&self) -> ConversationId {
        match self {
            Self::Direct { a, b } => ConversationId::direct(a, b),
            Self::Group { group_id } => ConversationId::group(group_id),
        }
    }

    /// What the store needs to create it.
    pub fn to_ref(&self) -> ConversationRef {
        let kind = match self {
            Self::Direct { a, b } => ConversationRefKind::Direct {
                user_a: a.to_string(),
                user_b: b.to_string(),
            },
            Self::Group { group_id } => ConversationRefKind::Group {
                group_id: group_id.to_string(),
            },
        };
        ConversationRef {
            id: self.id().into(),
            kind,
        }
    }

    /// Where a message of `sender` in it goes: the other user, or the group.
    pub fn target(&self, sender: &str) -> Target {
        match self {
            Self::Direct { a, b } => Target::User(if a == sender { b.clone() } else { a.clone() }),
            Self::Group { group_id } => Target::Group(group_id.clone()),
        }
    }
}

/// The conversation `id` if `caller` is in it; `not_found` otherwise, so that nobody learns
/// about conversations they are not in.
pub async fn accessible(
    chat: &Chat,
    caller: &UserId,
    id: &ConversationId,
) -> Result<Conversation, ChatError> {
    standing(chat, caller, id)
        .await
        .map(|(conversation, _)| conversation)
}

/// The conversation `id` if `caller` is in it (else `not_found`), and whether they manage
/// it: the owner or an admin of its group (nobody manages a direct conversation).
pub async fn standing(
    chat: &Chat,
    caller: &UserId,
    id: &ConversationId,
) -> Result<(Conversation, bool), ChatError> {
    let conversation = Conversation::of(id);
    let manager = match &conversation {
        Conversation::Direct { a, b } if a == caller || b == caller => Some(false),
        Conversation::Direct { .. } => None,
        Conversation::Group { group_id } => membership::role_of(&chat.db, group_id, caller)
            .await?
            .map(|role| MANAGERS.contains(&role)),
    }
    .ok_or_else(|| ChatError::not_found("no such conversation"))?;
    Ok((conversation, manager))
}

/// An instant as messages carry it: RFC 3339 in UTC, to the microsecond.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A stored entry (a message, an edit or a deletion) as clients see it (without
/// reactions, which a page adds).
pub fn view(model: message::Model) -> Message {
    let to = Conversation::parse(&model.conversation_id)
        .map(|conversation| conversation.target(&model.sender_id))
        .unwrap_or_else(|| Target::User(UserId::stored(String::new())));
    let kind = match model.kind {
        MessageKind::Message => chat::MessageKind::Message,
        MessageKind::Edit => chat::MessageKind::Edit,
        MessageKind::Delete => chat::MessageKind::Delete,
    };
    let mentions = model
        .mentions
        .and_then(|mentions| serde_json::from_value(mentions).ok())
        .unwrap_or_default();
    let attachments = model
        .attachments
        .and_then(|attachments| serde_json::from_value(attachments).ok())
        .unwrap_or_default();
    Message {
        id: model.id,
        conversation: model.conversation_id,
        seq: model.seq,
        from: model.sender_id,
        to,
        body: model.body,
        meta: model.meta.unwrap_or(serde_json::Value::Null),
        client_msg_id: model.client_msg_id,
        ts: timestamp(model.created_at),
        kind,
        target: model.target_seq,
        reply_to: model.reply_to,
        mentions,
        edited_at: model.edited_at.map(timestamp),
        deleted_at: model.deleted_at.map(timestamp),
        expires_at: model.expires_at.map(timestamp),
        attachments,
        reactions: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::stored(id.to_owned())
    }

    #[test]
    fn stored_ids_parse_to_what_they_name() {
        assert_eq!(
            Conversation::parse("d:u1:u2"),
            Some(Conversation::direct(&user("u2"), &user("u1")))
        );
        let group = GroupId::stored("g1".to_owned());
        assert_eq!(
            Conversation::parse("g:g1"),
            Some(Conversation::group(&group))
        );
        assert_eq!(Conversation::group(&group).id().as_str(), "g:g1");
        for bad in ["", "d:u2:u1", "g:a:b", "x:u1:u2"] {
            assert_eq!(Conversation::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_direct_message_goes_to_the_other_user() {
        let conversation = Conversation::direct(&user("u1"), &user("u2"));
        assert_eq!(conversation.target("u1"), Target::User(user("u2")));
        assert_eq!(conversation.target("u2"), Target::User(user("u1")));
    }
}
