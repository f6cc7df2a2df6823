//! Typed ids: a user's, a group's and a conversation's. Each is checked once, where it
//! enters (a request's payload or path, a token), and travels typed from there, so that an
//! operation cannot take a group id for a user id, and no id reaches a query unchecked.
//!
//! User and group ids are what the server issued (UUIDs today): 1 to 64 bytes, neither a
//! `:` (conversation ids are built with it) nor a control character. A conversation id is
//! `d:<user>:<user>` (the two user ids in order) or `g:<group>`.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// Longest user or group id, in bytes.
pub const MAX_ID_BYTES: usize = 64;

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(&'static str);

/// Checks a user or group id.
fn check(id: &str) -> Result<(), InvalidId> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(InvalidId("an id has 1 to 64 bytes"));
    }
    if id.chars().any(|c| c == ':' || c.is_control()) {
        return Err(InvalidId("an id has no `:` and no control character"));
    }
    Ok(())
}

macro_rules! plain_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// An id read back from the database, which only ever holds checked ids.
            pub fn stored(id: String) -> Self {
                Self(id)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(id: String) -> Result<Self, InvalidId> {
                check(&id)?;
                Ok(Self(id))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<&$name> for String {
            fn eq(&self, other: &&$name) -> bool {
                *self == other.0
            }
        }
    };
}

plain_id!(
    /// A user's id.
    UserId
);

plain_id!(
    /// A group's id.
    GroupId
);

/// A conversation's id: `d:<user>:<user>` (the lower id first) or `g:<group>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConversationId(String);

/// What a conversation id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationKind<'a> {
    /// A direct conversation between two users, the lower id first (the same twice for a
    /// user's notes to self).
    Direct(&'a str, &'a str),
    /// A group's conversation.
    Group(&'a str),
}

impl UserId {
    /// Two users in the order a direct conversation's id names them: the lower id first.
    pub fn ordered<'a>(one: &'a UserId, other: &'a UserId) -> (&'a UserId, &'a UserId) {
        if one <= other {
            (one, other)
        } else {
            (other, one)
        }
    }
}

impl ConversationId {
    /// The id of the direct conversation of two users, whichever asks.
    pub fn direct(one: &UserId, other: &UserId) -> Self {
        let (a, b) = UserId::ordered(one, other);
        Self(format!("d:{a}:{b}"))
    }

    /// The id of a group's conversation.
    pub fn group(group: &GroupId) -> Self {
        Self(format!("g:{group}"))
    }

    /// An id read back from the database, which only ever holds checked ids.
    pub fn stored(id: String) -> Self {
        Self(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What it names.
    pub fn kind(&self) -> ConversationKind<'_> {
        match parse(&self.0) {
            Some(kind) => kind,
            // Only checked or stored ids are ever built; a stored one that is neither
            // names no group anybody is a member of.
            None => ConversationKind::Group(""),
        }
    }
}

fn parse(id: &str) -> Option<ConversationKind<'_>> {
    if let Some(users) = id.strip_prefix("d:") {
        let (a, b) = users.split_once(':')?;
        if check(a).is_err() || check(b).is_err() || a > b {
            return None;
        }
        return Some(ConversationKind::Direct(a, b));
    }
    let group = id.strip_prefix("g:")?;
    check(group).ok()?;
    Some(ConversationKind::Group(group))
}

impl TryFrom<String> for ConversationId {
    type Error = InvalidId;

    fn try_from(id: String) -> Result<Self, InvalidId> {
        parse(&id).ok_or(InvalidId(
            "a conversation id is `d:<user>:<user>` (the lower id first) or `g:<group>`",
        ))?;
        Ok(Self(id))
    }
}

impl From<ConversationId> for String {
    fn from(id: ConversationId) -> String {
        id.0
    }
}

impl Deref for ConversationId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::try_from(id.to_owned()).unwrap()
    }

    #[test]
    fn ids_are_checked_once_where_they_enter() {
        for bad in ["", "a:b", "tab\there", &"x".repeat(65)] {
            assert!(UserId::try_from(bad.to_owned()).is_err(), "{bad:?}");
            assert!(serde_json::from_value::<GroupId>(serde_json::json!(bad)).is_err());
        }
        assert_eq!(user("u-1").as_str(), "u-1");
        assert_eq!(serde_json::to_value(user("u-1")).unwrap(), "u-1");
    }

    #[test]
    fn conversation_ids_do_not_depend_on_who_asks_and_say_what_they_name() {
        let (a, b) = (user("u1"), user("u2"));
        assert_eq!(ConversationId::direct(&b, &a).as_str(), "d:u1:u2");
        assert_eq!(ConversationId::direct(&a, &b).as_str(), "d:u1:u2");
        assert_eq!(
            ConversationId::direct(&a, &b).kind(),
            ConversationKind::Direct("u1", "u2")
        );
        let group = GroupId::try_from("g1".to_owned()).unwrap();
        assert_eq!(ConversationId::group(&group).as_str(), "g:g1");
        assert_eq!(
            ConversationId::group(&group).kind(),
            ConversationKind::Group("g1")
        );
        for bad in [
            "", "x:u1", "d:u1", "d:u2:u1", "d::u1", "d:a:b:c", "g:", "g:a:b",
        ] {
            assert!(ConversationId::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
