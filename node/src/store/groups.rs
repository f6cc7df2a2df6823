//! Groups: creating one with its members and conversation, locking one for a change,
//! and the membership, role and name mutations. The rules (who may do what) live in
//! `chat/groups.rs`; these functions only read and write, and take any connection so the
//! caller can run several of them in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use confab_entities::{GroupRole, conversation, group, group_member, message, read_cursor};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use super::messages::{ConversationRef, ensure_conversation};

/// A group to create.
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// A fresh id (UUIDv7), which the conversation's id is derived from.
    pub id: String,
    /// The display name, already checked.
    pub name: String,
    /// Whether anyone may join.
    pub public: bool,
    /// The creator: the owner and first member.
    pub owner_id: String,
    /// The other members (existing users, without the owner, no repeats).
    pub members: Vec<String>,
    /// The group's conversation, created with it.
    pub conversation: ConversationRef,
}

/// Now, at the precision every backend stores.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Stores a new group, its members and its conversation, in one
/// transaction.
pub async fn create(db: &DatabaseConnection, new: NewGroup) -> Result<group::Model, DbErr> {
    let now = now();
    let model = group::Model {
        id: new.id,
        name: new.name,
        public: new.public,
        owner_id: new.owner_id.clone(),
        created_at: now,
    };
    let txn = db.begin().await?;
    group::Entity::insert(group::ActiveModel {
        id: Set(model.id.clone()),
        name: Set(model.name.clone()),
        public: Set(model.public),
        owner_id: Set(model.owner_id.clone()),
        created_at: Set(now),
    })
    .exec(&txn)
    .await?;
    let owner = std::iter::once((new.owner_id, GroupRole::Owner));
    let others = new
        .members
        .into_iter()
        .map(|user| (user, GroupRole::Member));
    let rows = owner
        .chain(others)
        .map(|(user_id, role)| group_member::ActiveModel {
            group_id: Set(model.id.clone()),
            user_id: Set(user_id),
            role: Set(role),
            joined_at: Set(now),
        });
    group_member::Entity::insert_many(rows).exec(&txn).await?;
    ensure_conversation(&txn, &new.conversation, now).await?;
    txn.commit().await?;
    Ok(model)
}

/// The group with this id.
pub async fn find(
    db: &impl ConnectionTrait,
    group_id: &str,
) -> Result<Option<group::Model>, DbErr> {
    group::Entity::find_by_id(group_id.to_owned()).one(db).await
}

/// The group with this id, its row locked until the transaction `db` ends, so changes to
/// one group take turns on every backend (a no-op UPDATE locks the row; on SQLite it
/// takes the write lock).
pub async fn lock(
    db: &impl ConnectionTrait,
    group_id: &str,
) -> Result<Option<group::Model>, DbErr> {
    group::Entity::update_many()
        .col_expr(group::Column::OwnerId, Expr::col(group::Column::OwnerId))
        .filter(group::Column::Id.eq(group_id))
        .exec(db)
        .await?;
    find(db, group_id).await
}

/// The group's members, oldest first (ties by user id).
pub async fn members(
    db: &impl ConnectionTrait,
    group_id: &str,
) -> Result<Vec<group_member::Model>, DbErr> {
    members_of(db, &[group_id.to_owned()]).await
}

/// The members of all these groups, oldest first (ties by user id).
pub async fn members_of(
    db: &impl ConnectionTrait,
    group_ids: &[String],
) -> Result<Vec<group_member::Model>, DbErr> {
    if group_ids.is_empty() {
        return Ok(Vec::new());
    }
    group_member::Entity::find()
        .filter(group_member::Column::GroupId.is_in(group_ids.iter().cloned()))
        .order_by_asc(group_member::Column::JoinedAt)
        .order_by_asc(group_member::Column::UserId)
        .all(db)
        .await
}

/// The groups the user is a member of, oldest first.
pub async fn of_user(db: &DatabaseConnection, user_id: &str) -> Result<Vec<group::Model>, DbErr> {
    group::Entity::find()
        .filter(group::Column::Id.in_subquery(super::membership::groups_of(user_id)))
        .order_by_asc(group::Column::CreatedAt)
        .order_by_asc(group::Column::Id)
        .all(db)
        .await
}

/// Which of `user_ids` name no user.
pub async fn unknown_users(
    db: &impl ConnectionTrait,
    user_ids: &[String],
) -> Result<Vec<String>, DbErr> {
    let ids: Vec<&str> = user_ids.iter().map(String::as_str).collect();
    let known = super::users::existing(db, &ids).await?;
    Ok(user_ids
        .iter()
        .filter(|id| !known.contains(id))
        .cloned()
        .collect())
}

/// Makes `user_id` a member with `role`, joining now.
pub async fn add_member(
    db: &impl ConnectionTrait,
    group_id: &str,
    user_id: &str,
    role: GroupRole,
) -> Result<(), DbErr> {
    group_member::Entity::insert(group_member::ActiveModel {
        group_id: Set(group_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        role: Set(role),
        joined_at: Set(now()),
    })
    .exec(db)
    .await?;
    Ok(())
}

/// Ends `user_id`'s membership.
pub async fn remove_member(
    db: &impl ConnectionTrait,
    group_id: &str,
    user_id: &str,
) -> Result<(), DbErr> {
    group_member::Entity::delete_by_id((group_id.to_owned(), user_id.to_owned()))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives a member a new role.
pub async fn set_role(
    db: &impl ConnectionTrait,
    group_id: &str,
    user_id: &str,
    role: GroupRole,
) -> Result<(), DbErr> {
    group_member::Entity::update_many()
        .col_expr(group_member::Column::Role, Expr::value(role))
        .filter(group_member::Column::GroupId.eq(group_id))
        .filter(group_member::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records a new owner on the group's row (their membership role is set apart).
pub async fn set_owner(
    db: &impl ConnectionTrait,
    group_id: &str,
    owner_id: &str,
) -> Result<(), DbErr> {
    group::Entity::update_many()
        .col_expr(group::Column::OwnerId, Expr::value(owner_id))
        .filter(group::Column::Id.eq(group_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Renames the group.
pub async fn rename(db: &impl ConnectionTrait, group_id: &str, name: &str) -> Result<(), DbErr> {
    group::Entity::update_many()
        .col_expr(group::Column::Name, Expr::value(name))
        .filter(group::Column::Id.eq(group_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the group with its members, conversation, messages and read cursors. Done
/// row by row rather than trusting `ON DELETE CASCADE`, so it is the same on every backend.
pub async fn delete(db: &impl ConnectionTrait, group_id: &str) -> Result<(), DbErr> {
    let conversations: Vec<String> = conversation::Entity::find()
        .select_only()
        .column(conversation::Column::Id)
        .filter(conversation::Column::GroupId.eq(group_id))
        .into_tuple()
        .all(db)
        .await?;
    if !conversations.is_empty() {
        read_cursor::Entity::delete_many()
            .filter(read_cursor::Column::ConversationId.is_in(conversations.iter().cloned()))
            .exec(db)
            .await?;
        message::Entity::delete_many()
            .filter(message::Column::ConversationId.is_in(conversations.iter().cloned()))
            .exec(db)
            .await?;
        conversation::Entity::delete_many()
            .filter(conversation::Column::Id.is_in(conversations))
            .exec(db)
            .await?;
    }
    group_member::Entity::delete_many()
        .filter(group_member::Column::GroupId.eq(group_id))
        .exec(db)
        .await?;
    group::Entity::delete_by_id(group_id.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

/// Public groups whose name contains `text` (case-insensitive; all when empty), by name,
/// a page at a time, each with its member count.
pub async fn public(
    db: &DatabaseConnection,
    text: &str,
    offset: u64,
    limit: u64,
) -> Result<Vec<(group::Model, i64)>, DbErr> {
    let mut query = group::Entity::find().filter(group::Column::Public.eq(true));
    if !text.is_empty() {
        let pattern =
            LikeExpr::new(format!("%{}%", super::like_escaped(&text.to_lowercase()))).escape('\\');
        query = query.filter(Expr::expr(Func::lower(Expr::col(group::Column::Name))).like(pattern));
    }
    let found = query
        .order_by_asc(group::Column::Name)
        .order_by_asc(group::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    let ids: Vec<&str> = found.iter().map(|group| group.id.as_str()).collect();
    let counts: HashMap<String, i64> = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::GroupId)
        .column_as(group_member::Column::UserId.count(), "members")
        .filter(group_member::Column::GroupId.is_in(ids))
        .group_by(group_member::Column::GroupId)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(found
        .into_iter()
        .map(|group| {
            let members = counts.get(&group.id).copied().unwrap_or(0);
            (group, members)
        })
        .collect())
}
