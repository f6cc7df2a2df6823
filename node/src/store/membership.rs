//! Who belongs where: the read-only queries the chat checks on every operation (group
//! membership and roles, blocks, contacts, a user's conversations).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use confab_entities::{
    Audience, GroupRole, MessageKind, block, contact, conversation, group_member, message,
    read_cursor, user,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

/// The user's role in the group, if a member.
pub async fn role_of(
    db: &DatabaseConnection,
    group_id: &str,
    user_id: &str,
) -> Result<Option<GroupRole>, DbErr> {
    Ok(
        group_member::Entity::find_by_id((group_id.to_owned(), user_id.to_owned()))
            .one(db)
            .await?
            .map(|member| member.role),
    )
}

/// Every member of the group.
pub async fn member_ids(db: &DatabaseConnection, group_id: &str) -> Result<Vec<String>, DbErr> {
    group_member::Entity::find()
        .select_only()
        .column(group_member::Column::UserId)
        .filter(group_member::Column::GroupId.eq(group_id))
        .into_tuple()
        .all(db)
        .await
}

/// Where `user_id` stands in a conversation: its newest seq, and the seq they have read
/// up to if they have a cursor (one query; `None` if the conversation has no message).
pub async fn read_position(
    db: &DatabaseConnection,
    conversation_id: &str,
    user_id: &str,
) -> Result<Option<(i64, Option<i64>)>, DbErr> {
    let cursor_of_user = Expr::col((read_cursor::Entity, read_cursor::Column::ConversationId))
        .equals((conversation::Entity, conversation::Column::Id))
        .and(Expr::col((read_cursor::Entity, read_cursor::Column::UserId)).eq(user_id));
    let query = Query::select()
        .column((conversation::Entity, conversation::Column::LastSeq))
        .expr_as(
            Expr::col((read_cursor::Entity, read_cursor::Column::Seq)),
            Alias::new("read_seq"),
        )
        .from(conversation::Entity)
        .join(JoinType::LeftJoin, read_cursor::Entity, cursor_of_user)
        .and_where(Expr::col((conversation::Entity, conversation::Column::Id)).eq(conversation_id))
        .to_owned();
    let Some(row) = db.query_one(&query).await? else {
        return Ok(None);
    };
    Ok(Some((
        row.try_get("", "last_seq")?,
        row.try_get("", "read_seq")?,
    )))
}

/// Every group the user is a member of.
pub async fn group_ids_of(db: &DatabaseConnection, user_id: &str) -> Result<Vec<String>, DbErr> {
    group_member::Entity::find()
        .select_only()
        .column(group_member::Column::GroupId)
        .filter(group_member::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await
}

/// Whether either user has blocked the other.
pub async fn blocked_between(db: &DatabaseConnection, a: &str, b: &str) -> Result<bool, DbErr> {
    let either = Condition::any()
        .add(
            Condition::all()
                .add(block::Column::UserId.eq(a))
                .add(block::Column::BlockedId.eq(b)),
        )
        .add(
            Condition::all()
                .add(block::Column::UserId.eq(b))
                .add(block::Column::BlockedId.eq(a)),
        );
    Ok(block::Entity::find()
        .filter(either)
        .one(db)
        .await?
        .is_some())
}

/// Whether `blocker` has blocked `blocked`.
pub async fn has_blocked(
    db: &DatabaseConnection,
    blocker: &str,
    blocked: &str,
) -> Result<bool, DbErr> {
    Ok(
        block::Entity::find_by_id((blocker.to_owned(), blocked.to_owned()))
            .one(db)
            .await?
            .is_some(),
    )
}

/// What `viewer` may learn of the presence of each of `ids` that exists, in one query:
/// when it was last seen, and whether it is hidden from `viewer` (by a block, or by the
/// user's `presence_visibility`).
pub async fn presence_of(
    db: &DatabaseConnection,
    viewer: &str,
    ids: &[String],
) -> Result<HashMap<String, Seen>, DbErr> {
    let blocked_viewer = Condition::all()
        .add(
            Expr::col((block::Entity, block::Column::UserId))
                .equals((user::Entity, user::Column::Id)),
        )
        .add(Expr::col((block::Entity, block::Column::BlockedId)).eq(viewer));
    let viewer_is_contact = Condition::all()
        .add(
            Expr::col((contact::Entity, contact::Column::UserId))
                .equals((user::Entity, user::Column::Id)),
        )
        .add(Expr::col((contact::Entity, contact::Column::ContactId)).eq(viewer));
    let query = Query::select()
        .column((user::Entity, user::Column::Id))
        .column((user::Entity, user::Column::LastSeenAt))
        .column((user::Entity, user::Column::PresenceVisibility))
        .expr_as(
            Expr::col((block::Entity, block::Column::UserId)),
            Alias::new("blocker"),
        )
        .expr_as(
            Expr::col((contact::Entity, contact::Column::UserId)),
            Alias::new("contact"),
        )
        .from(user::Entity)
        .join(JoinType::LeftJoin, block::Entity, blocked_viewer)
        .join(JoinType::LeftJoin, contact::Entity, viewer_is_contact)
        .and_where(
            Expr::col((user::Entity, user::Column::Id)).is_in(ids.iter().map(String::as_str)),
        )
        .to_owned();
    let rows = db.query_all(&query).await?;
    rows.into_iter()
        .map(|row| {
            let id: String = row.try_get("", "id")?;
            let blocked = row.try_get::<Option<String>>("", "blocker")?.is_some();
            let contact = row.try_get::<Option<String>>("", "contact")?.is_some();
            let visible = match row.try_get::<Audience>("", "presence_visibility")? {
                _ if id == viewer => true,
                Audience::Everyone => true,
                Audience::Contacts => contact,
                Audience::Nobody => false,
            };
            let seen = Seen {
                last_seen_at: row.try_get("", "last_seen_at")?,
                hidden: blocked || !visible,
            };
            Ok((id, seen))
        })
        .collect()
}

/// A user's presence as stored, for one viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// When the user was last seen.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Whether the user blocked the viewer or hides their presence from them (the viewer
    /// then sees them offline and never seen).
    pub hidden: bool,
}

/// The user's contacts.
pub async fn contact_ids(db: &DatabaseConnection, user_id: &str) -> Result<Vec<String>, DbErr> {
    contact::Entity::find()
        .select_only()
        .column(contact::Column::ContactId)
        .filter(contact::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await
}

/// Every conversation the user is in: direct ones and those of the user's groups. One
/// query whose text does not grow with the number of groups.
pub async fn conversations_of(
    db: &DatabaseConnection,
    user_id: &str,
) -> Result<Vec<conversation::Model>, DbErr> {
    conversation::Entity::find()
        .filter(conversations_of_condition(user_id))
        .all(db)
        .await
}

/// The conversations `user_id` is in: their direct ones and their groups'.
fn conversations_of_condition(user_id: &str) -> Condition {
    Condition::any()
        .add(conversation::Column::UserA.eq(user_id))
        .add(conversation::Column::UserB.eq(user_id))
        .add(conversation::Column::GroupId.in_subquery(groups_of(user_id)))
}

/// `SELECT id FROM conversations WHERE <user_id is in it>`, to use inside other queries.
pub fn conversation_ids_of(user_id: &str) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(conversation::Column::Id)
        .from(conversation::Entity)
        .cond_where(conversations_of_condition(user_id))
        .to_owned()
}

/// `SELECT group_id FROM group_members WHERE user_id = ?`, to use inside other queries.
pub fn groups_of(user_id: &str) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(group_member::Column::GroupId)
        .from(group_member::Entity)
        .and_where(Expr::col(group_member::Column::UserId).eq(user_id))
        .to_owned()
}

/// The groups of each of `users` (those in none are left out), a few hundred users per
/// query.
pub async fn groups_of_users(
    db: &DatabaseConnection,
    users: &[String],
) -> Result<HashMap<String, Vec<String>>, DbErr> {
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in users.chunks(500) {
        let rows: Vec<(String, String)> = group_member::Entity::find()
            .select_only()
            .column(group_member::Column::UserId)
            .column(group_member::Column::GroupId)
            .filter(group_member::Column::UserId.is_in(chunk.iter().map(String::as_str)))
            .into_tuple()
            .all(db)
            .await?;
        for (user, group) in rows {
            groups.entry(user).or_default().push(group);
        }
    }
    Ok(groups)
}

/// Why a user may not be put in a group by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoConsent {
    /// The user lets only contacts add them, and the adder is not one.
    NotAContact,
    /// The user lets nobody add them.
    Nobody,
    /// One of the two has blocked the other.
    Blocked,
}

/// For each of `users` that `adder` may not put in a group, why: no block either way, and
/// the user's `group_invites` setting lets the adder in (everyone, contacts only, nobody).
pub async fn without_consent(
    db: &impl ConnectionTrait,
    adder: &str,
    users: &[String],
) -> Result<Vec<(String, NoConsent)>, DbErr> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let ids = || users.iter().map(String::as_str);
    let contacts: HashSet<String> = contact::Entity::find()
        .select_only()
        .column(contact::Column::ContactId)
        .filter(contact::Column::UserId.eq(adder))
        .filter(contact::Column::ContactId.is_in(ids()))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let either_way = Condition::any()
        .add(
            Condition::all()
                .add(block::Column::UserId.eq(adder))
                .add(block::Column::BlockedId.is_in(ids())),
        )
        .add(
            Condition::all()
                .add(block::Column::UserId.is_in(ids()))
                .add(block::Column::BlockedId.eq(adder)),
        );
    let blocked: HashSet<String> = block::Entity::find()
        .filter(either_way)
        .all(db)
        .await?
        .into_iter()
        .flat_map(|row| [row.user_id, row.blocked_id])
        .collect();
    let invites: HashMap<String, Audience> = user::Entity::find()
        .select_only()
        .columns([user::Column::Id, user::Column::GroupInvites])
        .filter(user::Column::Id.is_in(ids()))
        .into_tuple::<(String, Audience)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(users
        .iter()
        .filter_map(|user| {
            let refusal = if blocked.contains(user) {
                NoConsent::Blocked
            } else {
                match invites.get(user).copied().unwrap_or(Audience::Nobody) {
                    Audience::Everyone => return None,
                    Audience::Contacts if contacts.contains(user) => return None,
                    Audience::Contacts => NoConsent::NotAContact,
                    Audience::Nobody => NoConsent::Nobody,
                }
            };
            Some((user.clone(), refusal))
        })
        .collect())
}

/// How many groups each of `users` is in (those in none are left out).
pub async fn group_counts(
    db: &impl ConnectionTrait,
    users: &[String],
) -> Result<HashMap<String, i64>, DbErr> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64)> = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::UserId)
        .column_as(group_member::Column::GroupId.count(), "groups")
        .filter(group_member::Column::UserId.is_in(users.iter().map(String::as_str)))
        .group_by(group_member::Column::UserId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The user's read cursors, by conversation.
pub async fn read_cursors_of(
    db: &DatabaseConnection,
    user_id: &str,
) -> Result<HashMap<String, i64>, DbErr> {
    Ok(read_cursor::Entity::find()
        .filter(read_cursor::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|cursor| (cursor.conversation_id, cursor.seq))
        .collect())
}

/// The read cursors of `users` in the conversation `conversation_id` (those with one).
pub async fn cursors_in(
    db: &DatabaseConnection,
    conversation_id: &str,
    users: &[String],
) -> Result<Vec<(String, i64)>, DbErr> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    read_cursor::Entity::find()
        .select_only()
        .columns([read_cursor::Column::UserId, read_cursor::Column::Seq])
        .filter(read_cursor::Column::ConversationId.eq(conversation_id))
        .filter(read_cursor::Column::UserId.is_in(users))
        .order_by_asc(read_cursor::Column::UserId)
        .into_tuple()
        .all(db)
        .await
}

/// For each of `user_id`'s conversations with any, how many messages they have not read:
/// messages (not edits or deletions, not deleted) of others after their read cursor. One
/// query for all conversations.
pub async fn unread_counts(
    db: &DatabaseConnection,
    user_id: &str,
) -> Result<HashMap<String, i64>, DbErr> {
    let read_up_to = Expr::col((read_cursor::Entity, read_cursor::Column::Seq));
    let query = Query::select()
        .column((message::Entity, message::Column::ConversationId))
        .expr(Expr::col((message::Entity, message::Column::Seq)).count())
        .from(message::Entity)
        .left_join(
            read_cursor::Entity,
            Condition::all()
                .add(
                    Expr::col((read_cursor::Entity, read_cursor::Column::ConversationId))
                        .equals((message::Entity, message::Column::ConversationId)),
                )
                .add(Expr::col((read_cursor::Entity, read_cursor::Column::UserId)).eq(user_id)),
        )
        .and_where(
            Expr::col((message::Entity, message::Column::ConversationId))
                .in_subquery(conversation_ids_of(user_id)),
        )
        .and_where(Expr::col((message::Entity, message::Column::Kind)).eq(MessageKind::Message))
        .and_where(Expr::col((message::Entity, message::Column::DeletedAt)).is_null())
        .and_where(Expr::col((message::Entity, message::Column::SenderId)).ne(user_id))
        .and_where(
            Expr::col((message::Entity, message::Column::Seq))
                .gt(Func::coalesce([read_up_to, Expr::val(0)])),
        )
        .group_by_col((message::Entity, message::Column::ConversationId))
        .to_owned();
    let rows = db.query_all(&query).await?;
    rows.into_iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// When the newest entry of each of the user's conversations that has one was written.
pub async fn last_entry_times(
    db: &DatabaseConnection,
    user_id: &str,
) -> Result<HashMap<String, DateTime<Utc>>, DbErr> {
    let newest = Condition::all()
        .add(
            Expr::col((conversation::Entity, conversation::Column::Id))
                .equals((message::Entity, message::Column::ConversationId)),
        )
        .add(
            Expr::col((conversation::Entity, conversation::Column::LastSeq))
                .equals((message::Entity, message::Column::Seq)),
        );
    let query = Query::select()
        .column((message::Entity, message::Column::ConversationId))
        .column((message::Entity, message::Column::CreatedAt))
        .from(message::Entity)
        .join(JoinType::InnerJoin, conversation::Entity, newest)
        .cond_where(conversations_of_condition(user_id))
        .to_owned();
    db.query_all(&query)
        .await?
        .into_iter()
        .map(|row| {
            Ok((
                row.try_get("", "conversation_id")?,
                row.try_get("", "created_at")?,
            ))
        })
        .collect()
}

/// The newest message (not edit or deletion) of each of `conversations` that has one, in
/// its current state: one short query per conversation, each reading backwards through
/// the `(conversation_id, seq)` index from the newest entry.
pub async fn last_messages(
    db: &DatabaseConnection,
    conversations: &[String],
) -> Result<Vec<message::Model>, DbErr> {
    let newest = conversations.iter().map(|id| {
        message::Entity::find()
            .filter(message::Column::ConversationId.eq(id))
            .filter(message::Column::Kind.eq(MessageKind::Message))
            .order_by_desc(message::Column::Seq)
            .one(db)
    });
    Ok(futures_util::future::try_join_all(newest)
        .await?
        .into_iter()
        .flatten()
        .collect())
}
