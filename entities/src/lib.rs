//! Confab's database schema: the sea-orm entities, one module per table, and the
//! [`migration`]s that create them on SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! This crate describes rows and keys only; the rules about who may write what live in
//! `confab-node`. Ids are opaque strings (hyphenated UUIDv7 for users, groups, messages and
//! contact requests; conversation ids are derived by the node), timestamps are UTC.
//!
//! | module | table | primary key |
//! |---|---|---|
//! | [`user`] | `users` | `id` |
//! | [`attachment`] | `attachments` | `id` |
//! | [`server_setting`] | `server_settings` | `key` |
//! | [`group`] | `groups` | `id` |
//! | [`group_member`] | `group_members` | `(group_id, user_id)` |
//! | [`conversation`] | `conversations` | `id` |
//! | [`message`] | `messages` | `id` |
//! | [`contact_request`] | `contact_requests` | `id` |
//! | [`contact`] | `contacts` | `(user_id, contact_id)` |
//! | [`block`] | `blocks` | `(user_id, blocked_id)` |
//! | [`read_cursor`] | `read_cursors` | `(conversation_id, user_id)` |
//! | [`reaction`] | `reactions` | `(conversation_id, seq, user_id, emoji)` |
//! | [`webhook_event`] | `webhook_events` | `id` |
//! | [`session`] | `sessions` | `id` |
//! | [`report`] | `reports` | `id` |
//! | [`audit_entry`] | `audit_log` | `id` |
#![warn(missing_docs)]

pub mod attachment;
pub mod audit_entry;
pub mod block;
pub mod contact;
pub mod contact_request;
pub mod conversation;
pub mod group;
pub mod group_member;
pub mod message;
pub mod migration;
pub mod prelude;
pub mod reaction;
pub mod read_cursor;
pub mod report;
mod secret;
pub mod server_setting;
pub mod session;
pub mod user;
pub mod webhook_event;

pub use contact_request::ContactRequestStatus;
pub use conversation::ConversationKind;
pub use group_member::GroupRole;
pub use message::MessageKind;
pub use report::ReportStatus;
pub use secret::Secret;
pub use session::RevokedReason;
pub use user::Audience;
