//! Conversation ids and who may see a conversation.
//!
//! A direct conversation's id is `d:<lower user id>:<higher user id>`, a group's is
//! `g:<group id>`: both are derived, so the first message needs no lookup and every node
//! agrees. User and group ids never contain `:`.

use chrono::SecondsFormat;
use confab_entities::message;
use confab_protocol::chat::{Message, Target};

use super::{Chat, ChatError};
use crate::store::membership;
use crate::store::messages::{ConversationRef, ConversationRefKind};

/// A conversation, parsed from its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversation {
    /// Between two users (`a <= b`).
    Direct {
        /// The lower user id.
        a: String,
        /// The higher user id.
        b: String,
    },
    /// A group's.
    Group {
        /// The group.
        group_id: String,
    },
}

impl Conversation {
    /// The direct conversation of two users.
    pub fn direct(one: &str, other: &str) -> Self {
        let (a, b) = if one <= other {
            (one, other)
        } else {
            (other, one)
        };
        Self::Direct {
            a: a.to_owned(),
            b: b.to_owned(),
        }
    }

    /// A group's conversation.
    pub fn group(group_id: &str) -> Self {
        Self::Group {
            group_id: group_id.to_owned(),
        }
    }

    /// Parses an id; `None` if it is not one of ours.
    pub fn parse(id: &str) -> Option<Self> {
        if let Some(users) = id.strip_prefix("d:") {
            let (a, b) = users.split_once(':')?;
            if a.is_empty() || b.is_empty() || b.contains(':') || a > b {
                return None;
            }
            return Some(Self::direct(a, b));
        }
        let group_id = id.strip_prefix("g:")?;
        (!group_id.is_empty() && !group_id.contains(':')).then(|| Self::group(group_id))
    }

    /// The id.
    pub fn id(&self) -> String {
        match self {
            Self::Direct { a, b } => format!("d:{a}:{b}"),
            Self::Group { group_id } => format!("g:{group_id}"),
        }
    }

    /// What the store needs to create it.
    pub fn to_ref(&self) -> ConversationRef {
        let kind = match self {
            Self::Direct { a, b } => ConversationRefKind::Direct {
                user_a: a.clone(),
                user_b: b.clone(),
            },
            Self::Group { group_id } => ConversationRefKind::Group {
                group_id: group_id.clone(),
            },
        };
        ConversationRef {
            id: self.id(),
            kind,
        }
    }

    /// Where a message of `sender` in this conversation goes.
    pub fn target(&self, sender: &str) -> Target {
        match self {
            Self::Direct { a, b } => Target::User(if a == sender { b.clone() } else { a.clone() }),
            Self::Group { group_id } => Target::Group(group_id.clone()),
        }
    }
}

/// The conversation `id` if `caller` is in it; `not_found` otherwise, so that nobody learns
/// about conversations they are not in.
pub async fn accessible(chat: &Chat, caller: &str, id: &str) -> Result<Conversation, ChatError> {
    let not_found = || ChatError::not_found("no such conversation");
    let conversation = Conversation::parse(id).ok_or_else(not_found)?;
    let allowed = match &conversation {
        Conversation::Direct { a, b } => a == caller || b == caller,
        Conversation::Group { group_id } => membership::role_of(&chat.db, group_id, caller)
            .await?
            .is_some(),
    };
    if allowed {
        Ok(conversation)
    } else {
        Err(not_found())
    }
}

/// A stored message as clients see it.
pub fn view(model: message::Model) -> Message {
    let to = Conversation::parse(&model.conversation_id)
        .map(|conversation| conversation.target(&model.sender_id))
        .unwrap_or_else(|| Target::User(String::new()));
    Message {
        id: model.id,
        conversation: model.conversation_id,
        seq: model.seq,
        from: model.sender_id,
        to,
        body: model.body,
        meta: model.meta.unwrap_or(serde_json::Value::Null),
        client_msg_id: model.client_msg_id,
        ts: model
            .created_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_ids_do_not_depend_on_who_asks() {
        assert_eq!(Conversation::direct("u2", "u1").id(), "d:u1:u2");
        assert_eq!(Conversation::direct("u1", "u2").id(), "d:u1:u2");
    }

    #[test]
    fn only_well_formed_ids_parse() {
        assert_eq!(
            Conversation::parse("d:u1:u2"),
            Some(Conversation::direct("u1", "u2"))
        );
        assert_eq!(Conversation::parse("g:g1"), Some(Conversation::group("g1")));
        for bad in [
            "",
            "d:u2:u1",
            "d:u1",
            "d::u1",
            "g:",
            "g:a:b",
            "x:u1:u2",
            "d:u1:u2:u3",
        ] {
            assert_eq!(Conversation::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_direct_message_goes_to_the_other_user() {
        let conversation = Conversation::direct("u1", "u2");
        assert_eq!(conversation.target("u1"), Target::User("u2".into()));
        assert_eq!(conversation.target("u2"), Target::User("u1".into()));
    }
}
