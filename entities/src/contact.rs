//! `contacts`: who has whom as a contact. A pair is stored in both directions, so "my
//! contacts" is one primary-key range scan.

use sea_orm::entity::prelude::*;

/// `user_id` has `contact_id` as a contact.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    /// The owner of the contact list.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub user_id: String,
    /// The contact.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub contact_id: String,
    /// When the two became contacts.
    pub created_at: DateTimeUtc,
}

/// The row's two users.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `user_id` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
    /// `contact_id` → `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::ContactId",
        to = "super::user::Column::Id"
    )]
    Contact,
}

impl ActiveModelBehavior for ActiveModel {}
