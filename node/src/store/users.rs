//! Users: creating accounts and finding them by id or username.

use chrono::Utc;
use confab_entities::{Secret, user};
use sea_orm::sea_query::LikeExpr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
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

/// Users whose username starts with `prefix` (already lower-case), in username order.
pub async fn search(
    db: &DatabaseConnection,
    prefix: &str,
    limit: u64,
) -> Result<Vec<user::Model>, DbErr> {
    let escaped: String = prefix
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    user::Entity::find()
        .filter(user::Column::Username.like(LikeExpr::new(format!("{escaped}%")).escape('\\')))
        .order_by_asc(user::Column::Username)
        .limit(limit)
        .all(db)
        .await
}

/// Which of `ids` name a user.
pub async fn existing(db: &impl ConnectionTrait, ids: &[&str]) -> Result<Vec<String>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await
}
