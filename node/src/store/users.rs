//! Users: creating accounts, finding them by id or username, changing and erasing them.

use chrono::{DateTime, Utc};
use confab_entities::{
    Audience, MessageKind, RevokedReason, Secret, block, contact, contact_request, message,
    read_cursor, session, user,
};
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// What a new account is made of; the password is already hashed.
#[derive(Debug)]
pub struct NewUser {
    /// Normalised (lower-case) username.
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
    /// argon2 PHC string.
    pub password_hash: String,
}

/// Stores a new user with a fresh id. A taken username fails with a unique violation.
pub async fn insert(db: &DatabaseConnection, new: NewUser) -> Result<user::Model, DbErr> {
    user::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        username: Set(new.username),
        display_name: Set(new.display_name),
        password_hash: Set(Secret::new(new.password_hash)),
        created_at: Set(Utc::now()),
        last_seen_at: Set(None),
        disabled_at: Set(None),
        deleted_at: Set(None),
        group_invites: Set(Audience::Contacts),
        presence_visibility: Set(Audience::Everyone),
        avatar: Set(None),
        is_admin: Set(false),
    }
    .insert(db)
    .await
}

/// The user with this (normalised) username.
pub async fn by_username(
    db: &DatabaseConnection,
    username: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await
}

/// The user with this id.
pub async fn by_id(db: &DatabaseConnection, id: &str) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Users whose username starts with `prefix` (already lower-case), in username order;
/// deleted accounts are left out.
pub async fn search(
    db: &DatabaseConnection,
    prefix: &str,
    limit: u64,
) -> Result<Vec<user::Model>, DbErr> {
    let escaped = super::like_escaped(prefix);
    user::Entity::find()
        .filter(user::Column::Username.like(LikeExpr::new(format!("{escaped}%")).escape('\\')))
        .filter(user::Column::DeletedAt.is_null())
        .order_by_asc(user::Column::Username)
        .limit(limit)
        .all(db)
        .await
}

/// Which of `ids` name a user whose account was not deleted (nobody writes to, or adds,
/// a deleted account).
pub async fn existing(db: &impl ConnectionTrait, ids: &[&str]) -> Result<Vec<String>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .filter(user::Column::DeletedAt.is_null())
        .into_tuple()
        .all(db)
        .await
}

/// Who a user lets add them to groups, and see their presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Privacy {
    /// Who may add the user to groups.
    pub group_invites: Audience,
    /// Who sees the user's presence and last seen.
    pub presence: Audience,
}

impl Privacy {
    /// The settings of `user`.
    pub fn of(user: &user::Model) -> Self {
        Self {
            group_invites: user.group_invites,
            presence: user.presence_visibility,
        }
    }
}

/// What a user may change of their profile: `None` leaves a field alone; an avatar of
/// `Some(None)` removes it.
#[derive(Debug, Default)]
pub struct ProfileChange {
    /// The new display name.
    pub display_name: Option<String>,
    /// The new avatar's attachment id, or none.
    pub avatar: Option<Option<String>>,
    /// New privacy settings.
    pub privacy: Option<Privacy>,
    /// The new password's hash.
    pub password_hash: Option<String>,
}

/// Applies `change` to the user `id`; returns the user as it is after.
pub async fn update(
    db: &impl ConnectionTrait,
    id: &str,
    change: ProfileChange,
) -> Result<Option<user::Model>, DbErr> {
    let Some(found) = user::Entity::find_by_id(id.to_owned()).one(db).await? else {
        return Ok(None);
    };
    let mut model: user::ActiveModel = found.into();
    if let Some(name) = change.display_name {
        model.display_name = Set(name);
    }
    if let Some(avatar) = change.avatar {
        model.avatar = Set(avatar);
    }
    if let Some(privacy) = change.privacy {
        model.group_invites = Set(privacy.group_invites);
        model.presence_visibility = Set(privacy.presence);
    }
    if let Some(hash) = change.password_hash {
        model.password_hash = Set(Secret::new(hash));
    }
    model.update(db).await.map(Some)
}

/// Marks user `id` deleted, in one transaction, before anything else of a deletion: the
/// account admits no one but the session `current` deleting it (all others end), cannot
/// write, be written to or be added to a group, and loses the admin role, while its
/// groups and contacts are left. Should a later step fail, that session can try again.
pub async fn mark_deleted(db: &DatabaseConnection, id: &str, current: &str) -> Result<(), DbErr> {
    let txn = super::begin_write(db).await?;
    user::Entity::update_many()
        .col_expr(user::Column::DeletedAt, Expr::value(Utc::now()))
        .col_expr(user::Column::GroupInvites, Expr::value(Audience::Nobody))
        .col_expr(
            user::Column::PresenceVisibility,
            Expr::value(Audience::Nobody),
        )
        .col_expr(user::Column::IsAdmin, Expr::value(false))
        .filter(user::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    super::sessions::revoke(&txn, id, None, Some(current), RevokedReason::Deleted).await?;
    txn.commit().await
}

/// Erases the personal data of the user `id` marked deleted ([`mark_deleted`]), in one
/// transaction: the account keeps its id (its messages stay, shown as from "Deleted
/// user") but loses its username (freed, as `deleted.<id>`, which no registration can
/// take), display name, password, avatar and last seen; its contacts, contact requests,
/// blocks and read cursors go; its sessions forget their device and user agent.
pub async fn erase(db: &DatabaseConnection, id: &str) -> Result<(), DbErr> {
    let txn = super::begin_write(db).await?;
    user::Entity::update_many()
        .col_expr(user::Column::Username, Expr::value(format!("deleted.{id}")))
        .col_expr(user::Column::DisplayName, Expr::value("Deleted user"))
        .col_expr(user::Column::PasswordHash, Expr::value(""))
        .col_expr(user::Column::Avatar, Expr::value(Option::<String>::None))
        .col_expr(
            user::Column::LastSeenAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(user::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    contact::Entity::delete_many()
        .filter(
            Condition::any()
                .add(contact::Column::UserId.eq(id))
                .add(contact::Column::ContactId.eq(id)),
        )
        .exec(&txn)
        .await?;
    contact_request::Entity::delete_many()
        .filter(
            Condition::any()
                .add(contact_request::Column::FromUser.eq(id))
                .add(contact_request::Column::ToUser.eq(id)),
        )
        .exec(&txn)
        .await?;
    block::Entity::delete_many()
        .filter(
            Condition::any()
                .add(block::Column::UserId.eq(id))
                .add(block::Column::BlockedId.eq(id)),
        )
        .exec(&txn)
        .await?;
    read_cursor::Entity::delete_many()
        .filter(read_cursor::Column::UserId.eq(id))
        .exec(&txn)
        .await?;
    session::Entity::update_many()
        .col_expr(session::Column::Device, Expr::value(""))
        .col_expr(session::Column::UserAgent, Expr::value(""))
        .filter(session::Column::UserId.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await
}

/// At most `limit` of the messages `sender` wrote (edits and deletions left out), after the
/// one with id `after`, in id (so time) order.
pub async fn authored(
    db: &DatabaseConnection,
    sender: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    let mut query = message::Entity::find()
        .filter(message::Column::SenderId.eq(sender))
        .filter(message::Column::Kind.eq(MessageKind::Message));
    if let Some(after) = after {
        query = query.filter(message::Column::Id.gt(after));
    }
    query
        .order_by_asc(message::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
