//! Every entity under its table's singular name, and the column value types, for
//! `use confab_entities::prelude::*;`.

pub use crate::attachment::Entity as Attachment;
pub use crate::audit_entry::Entity as AuditEntry;
pub use crate::block::Entity as Block;
pub use crate::contact::Entity as Contact;
pub use crate::contact_request::{ContactRequestStatus, Entity as ContactRequest};
pub use crate::conversation::{ConversationKind, Entity as Conversation};
pub use crate::group::Entity as Group;
pub use crate::group_member::{Entity as GroupMember, GroupRole};
pub use crate::message::{Entity as Message, MessageKind};
pub use crate::reaction::Entity as Reaction;
pub use crate::read_cursor::Entity as ReadCursor;
pub use crate::report::{Entity as Report, ReportStatus};
pub use crate::secret::Secret;
pub use crate::server_setting::Entity as ServerSetting;
pub use crate::session::{Entity as Session, RevokedReason};
pub use crate::user::{Audience, Entity as User};
pub use crate::webhook_event::Entity as WebhookEvent;
