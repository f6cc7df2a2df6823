//! Contacts, contact requests and blocks: the queries behind the contact list and the
//! mutations of `chat/contacts.rs`. A contact pair is stored in both directions; every
//! change that touches more than one row runs in one transaction.

use chrono::{DateTime, SubsecRound, Utc};
use confab_entities::{ContactRequestStatus, block, contact, contact_request, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Whether `a` and `b` are contacts.
pub async fn are_contacts(db: &DatabaseConnection, a: &str, b: &str) -> Result<bool, DbErr> {
    Ok(contact::Entity::find_by_id((a.to_owned(), b.to_owned()))
        .one(db)
        .await?
        .is_some())
}

/// The pending request from `from` to `to`, if any.
pub async fn pending(
    db: &DatabaseConnection,
    from: &str,
    to: &str,
) -> Result<Option<contact_request::Model>, DbErr> {
    contact_request::Entity::find()
        .filter(contact_request::Column::FromUser.eq(from))
        .filter(contact_request::Column::ToUser.eq(to))
        .filter(contact_request::Column::Status.eq(ContactRequestStatus::Pending))
        .one(db)
        .await
}

/// The request with this id.
pub async fn request(
    db: &DatabaseConnection,
    id: &str,
) -> Result<Option<contact_request::Model>, DbErr> {
    contact_request::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
}

/// The user's contacts, as users, oldest contact first.
pub async fn contacts_of(
    db: &DatabaseConnection,
    user_id: &str,
) -> Result<Vec<user::Model>, DbErr> {
    let ids: Vec<String> = contact::Entity::find()
        .filter(contact::Column::UserId.eq(user_id))
        .order_by_asc(contact::Column::CreatedAt)
        .order_by_asc(contact::Column::ContactId)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.contact_id)
        .collect();
    users_in_order(db, &ids).await
}

/// The users the user has blocked.
pub async fn blocked_by(db: &DatabaseConnection, user_id: &str) -> Result<Vec<user::Model>, DbErr> {
    let ids: Vec<String> = block::Entity::find()
        .filter(block::Column::UserId.eq(user_id))
        .order_by_asc(block::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.blocked_id)
        .collect();
    users_in_order(db, &ids).await
}

/// The user's pending requests: (incoming, outgoing), oldest first.
pub async fn pending_of(
    db: &DatabaseConnection,
    user_id: &str,
) -> Result<(Vec<contact_request::Model>, Vec<contact_request::Model>), DbErr> {
    let mine = Condition::any()
        .add(contact_request::Column::ToUser.eq(user_id))
        .add(contact_request::Column::FromUser.eq(user_id));
    let rows = contact_request::Entity::find()
        .filter(mine)
        .filter(contact_request::Column::Status.eq(ContactRequestStatus::Pending))
        .order_by_asc(contact_request::Column::CreatedAt)
        .order_by_asc(contact_request::Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().partition(|row| row.to_user == user_id))
}

/// Users by id, in the order of `ids` (unknown ids left out).
pub async fn users_in_order(
    db: &DatabaseConnection,
    ids: &[String],
) -> Result<Vec<user::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await?;
    Ok(ids
        .iter()
        .filter_map(|id| found.iter().find(|user| &user.id == id).cloned())
        .collect())
}

/// Stores a pending request from `from` to `to`.
pub async fn insert_request(
    db: &DatabaseConnection,
    from: &str,
    to: &str,
) -> Result<contact_request::Model, DbErr> {
    let now = now();
    let model = contact_request::Model {
        id: uuid::Uuid::now_v7().to_string(),
        from_user: from.to_owned(),
        to_user: to.to_owned(),
        status: ContactRequestStatus::Pending,
        created_at: now,
        updated_at: now,
    };
    contact_request::Entity::insert(contact_request::ActiveModel {
        id: Set(model.id.clone()),
        from_user: Set(model.from_user.clone()),
        to_user: Set(model.to_user.clone()),
        status: Set(model.status),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec(db)
    .await?;
    Ok(model)
}

/// Accepts a request: marks it accepted and makes its two users contacts, both ways.
pub async fn accept(
    db: &DatabaseConnection,
    request: &contact_request::Model,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    set_status(&txn, &request.id, ContactRequestStatus::Accepted).await?;
    let now = now();
    for (user_id, contact_id) in [
        (&request.from_user, &request.to_user),
        (&request.to_user, &request.from_user),
    ] {
        contact::Entity::insert(contact::ActiveModel {
            user_id: Set(user_id.clone()),
            contact_id: Set(contact_id.clone()),
            created_at: Set(now),
        })
        .on_conflict_do_nothing()
        .exec(&txn)
        .await?;
    }
    txn.commit().await
}

/// Declines a request.
pub async fn decline(db: &DatabaseConnection, request_id: &str) -> Result<(), DbErr> {
    set_status(db, request_id, ContactRequestStatus::Declined).await
}

async fn set_status(
    db: &impl ConnectionTrait,
    request_id: &str,
    status: ContactRequestStatus,
) -> Result<(), DbErr> {
    contact_request::Entity::update_many()
        .col_expr(contact_request::Column::Status, Expr::value(status))
        .col_expr(contact_request::Column::UpdatedAt, Expr::value(now()))
        .filter(contact_request::Column::Id.eq(request_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends the contact between `a` and `b`, both ways; returns whether there was one.
pub async fn remove(db: &impl ConnectionTrait, a: &str, b: &str) -> Result<bool, DbErr> {
    let either = Condition::any()
        .add(
            Condition::all()
                .add(contact::Column::UserId.eq(a))
                .add(contact::Column::ContactId.eq(b)),
        )
        .add(
            Condition::all()
                .add(contact::Column::UserId.eq(b))
                .add(contact::Column::ContactId.eq(a)),
        );
    let deleted = contact::Entity::delete_many()
        .filter(either)
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// `blocker` blocks `blocked`: stores the block (once), ends their contact both ways and
/// declines the pending requests between them, in one transaction.
pub async fn block(db: &DatabaseConnection, blocker: &str, blocked: &str) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    block::Entity::insert(block::ActiveModel {
        user_id: Set(blocker.to_owned()),
        blocked_id: Set(blocked.to_owned()),
        created_at: Set(now()),
    })
    .on_conflict_do_nothing()
    .exec(&txn)
    .await?;
    remove(&txn, blocker, blocked).await?;
    let between = Condition::any()
        .add(
            Condition::all()
                .add(contact_request::Column::FromUser.eq(blocker))
                .add(contact_request::Column::ToUser.eq(blocked)),
        )
        .add(
            Condition::all()
                .add(contact_request::Column::FromUser.eq(blocked))
                .add(contact_request::Column::ToUser.eq(blocker)),
        );
    contact_request::Entity::update_many()
        .col_expr(
            contact_request::Column::Status,
            Expr::value(ContactRequestStatus::Declined),
        )
        .col_expr(contact_request::Column::UpdatedAt, Expr::value(now()))
        .filter(between)
        .filter(contact_request::Column::Status.eq(ContactRequestStatus::Pending))
        .exec(&txn)
        .await?;
    txn.commit().await
}

/// Lifts `blocker`'s block of `blocked`; returns whether there was one.
pub async fn unblock(db: &DatabaseConnection, blocker: &str, blocked: &str) -> Result<bool, DbErr> {
    let deleted = block::Entity::delete_by_id((blocker.to_owned(), blocked.to_owned()))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}
