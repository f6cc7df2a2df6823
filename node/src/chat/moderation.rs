//! Moderation: server administrators (granted with `confab admin grant USERNAME`) find
//! users, disable and re-enable accounts, delete any message, dissolve any group and
//! resolve the reports users make of messages. Every one of these actions is appended to
//! the audit log, which administrators page through and nobody can change through the API.
//!
//! - Disabling an account ends all its sessions (reason `disabled`): every request with
//!   its tokens is refused with `account_disabled`, its sockets close within a session
//!   sweep on every node, and logging in is refused with the same code.
//! - The audit entry of a disable, enable, report resolution or grant is written in the
//!   transaction of the change. A message deletion or group dissolution runs through the
//!   same operations the users' own do (which tell the members); its entry is written once
//!   it succeeded.

use chrono::{DateTime, SecondsFormat, Utc};
use confab_entities::{ReportStatus, RevokedReason, audit_entry, message, report, user};
use confab_protocol::chat::{ConversationId, GroupId, Message, MessageRef, UserId};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::conversations::{accessible, view};
use super::groups::{self, GroupView};
use super::users::UserView;
use super::{Chat, ChatError, changes};
use crate::store::moderation::{self as store, Audit, NewReport};
use crate::store::users;

/// Most entries one page of users, reports or the audit log holds.
const MAX_PAGE: u64 = 200;
/// Longest report reason, in characters.
const MAX_REASON: usize = 1000;

/// A caller known to be a server administrator.
#[derive(Debug, Clone)]
pub struct Admin(UserId);

/// `caller` as an administrator, or `forbidden`.
pub async fn admin(chat: &Chat, caller: &UserId) -> Result<Admin, ChatError> {
    match users::by_id(&chat.db, caller).await? {
        Some(user) if user.is_admin && user.disabled_at.is_none() => Ok(Admin(caller.clone())),
        _ => Err(ChatError::forbidden(
            "only server administrators may do this",
        )),
    }
}

fn at(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A page size from a request: 1 to [`MAX_PAGE`], 50 when not given.
fn page_size(limit: Option<u64>) -> Result<u64, ChatError> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ChatError::invalid(format!("limit is 1 to {MAX_PAGE}")));
    }
    Ok(limit)
}

/// Where the page after `found` starts: its last id, unless the page was not full.
fn next_cursor<T>(found: &[T], limit: u64, id: impl Fn(&T) -> &String) -> Option<String> {
    if (found.len() as u64) < limit {
        return None;
    }
    found.last().map(|last| id(last).clone())
}

/// A user as administrators see them.
#[derive(Debug, Clone, Serialize)]
pub struct AdminUserView {
    /// What everyone sees.
    #[serde(flatten)]
    pub user: UserView,
    /// Whether they administer the server.
    pub admin: bool,
    /// When they were disabled, if they are.
    pub disabled_at: Option<String>,
    /// When they registered.
    pub created_at: String,
}

impl From<user::Model> for AdminUserView {
    fn from(user: user::Model) -> Self {
        Self {
            admin: user.is_admin,
            disabled_at: user.disabled_at.map(at),
            created_at: at(user.created_at),
            user: user.into(),
        }
    }
}

/// Which users to list: those whose username or display name contains `q`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Text to look for (every user when absent).
    pub q: Option<String>,
    /// How many to skip.
    pub offset: Option<u64>,
    /// At most this many (1 to 200, default 50).
    pub limit: Option<u64>,
}

/// Finds users, deleted and disabled ones included.
pub async fn find_users(
    chat: &Chat,
    _admin: &Admin,
    query: UserQuery,
) -> Result<Vec<AdminUserView>, ChatError> {
    let limit = page_size(query.limit)?;
    let text = query.q.unwrap_or_default();
    if text.chars().count() > 64 {
        return Err(ChatError::invalid("q has at most 64 characters"));
    }
    let offset = query.offset.unwrap_or(0);
    if offset > groups::MAX_OFFSET {
        return Err(ChatError::invalid(format!(
            "offset is at most {}",
            groups::MAX_OFFSET
        )));
    }
    let found = store::find_users(&chat.db, text.trim(), offset, limit).await?;
    Ok(found.into_iter().map(AdminUserView::from).collect())
}

/// Disables the account `user_id` (see the module's documentation), or enables it again.
pub async fn set_disabled(
    chat: &Chat,
    admin: &Admin,
    user_id: &UserId,
    disabled: bool,
) -> Result<AdminUserView, ChatError> {
    if disabled && *user_id == admin.0 {
        return Err(ChatError::invalid(
            "administrators cannot disable themselves",
        ));
    }
    let current = || async {
        match users::by_id(&chat.db, user_id).await? {
            Some(user) if user.deleted_at.is_none() => Ok(AdminUserView::from(user)),
            _ => Err(ChatError::not_found("no such user")),
        }
    };
    let txn = chat.db.begin().await?;
    if disabled {
        // Also when disabled already: a login that raced the first disable is ended too.
        crate::store::sessions::revoke(&txn, user_id, None, None, RevokedReason::Disabled).await?;
    }
    if !store::set_disabled(&txn, user_id, disabled).await? {
        // Already so (nothing to record), or no such account.
        txn.commit().await?;
        return current().await;
    }
    let audit = Audit {
        actor: admin.0.to_string(),
        action: if disabled {
            "user.disable"
        } else {
            "user.enable"
        },
        target_kind: "user",
        target_id: user_id.to_string(),
        detail: json!({}),
    };
    store::record(&txn, audit).await?;
    txn.commit().await?;
    current().await
}

/// Deletes any message, as a moderator (the members are told as for any deletion).
pub async fn delete_message(
    chat: &Chat,
    admin: &Admin,
    request: MessageRef,
) -> Result<Message, ChatError> {
    let target_id = format!("{}/{}", request.conversation.as_str(), request.seq);
    let target = message_at(chat, &request.conversation, request.seq).await?;
    let deleted = changes::delete_as_admin(chat, &admin.0, request).await?;
    if target.deleted_at.is_some() {
        // Deleted before: the answer is that deletion, and nothing new happened.
        return Ok(deleted);
    }
    let audit = Audit {
        actor: admin.0.to_string(),
        action: "message.delete",
        target_kind: "message",
        target_id,
        detail: json!({}),
    };
    store::record(&chat.db, audit).await?;
    Ok(deleted)
}

/// Dissolves any group.
pub async fn dissolve_group(
    chat: &Chat,
    admin: &Admin,
    group_id: &GroupId,
) -> Result<(), ChatError> {
    let dissolved: GroupView = groups::dissolve(chat, &admin.0, group_id).await?;
    let audit = Audit {
        actor: admin.0.to_string(),
        action: "group.dissolve",
        target_kind: "group",
        target_id: group_id.to_string(),
        detail: json!({"name": dissolved.name, "members": dissolved.members.len()}),
    };
    store::record(&chat.db, audit).await?;
    Ok(())
}

/// A user's report of a message: `POST /reports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// The message's conversation.
    pub conversation: ConversationId,
    /// The message's seq.
    pub seq: i64,
    /// Why (1 to 1000 characters).
    pub reason: String,
}

/// A report as its reporter and administrators see it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    /// Its id.
    pub id: String,
    /// Who reported.
    pub reporter: String,
    /// The message's conversation.
    pub conversation: String,
    /// The message's seq.
    pub seq: i64,
    /// Why.
    pub reason: String,
    /// `open`, `resolved` or `dismissed`.
    pub status: ReportStatus,
    /// When it was made.
    pub created_at: String,
    /// When it was closed.
    pub resolved_at: Option<String>,
    /// Who closed it.
    pub resolved_by: Option<String>,
    /// The administrator's note.
    pub resolution: Option<String>,
    /// The reported message as it is now (a tombstone once deleted; `null` once expired
    /// or dissolved with its group), so that administrators see what was reported.
    pub message: Option<Message>,
}

impl ReportView {
    fn new(report: report::Model, message: Option<message::Model>) -> Self {
        Self {
            message: message.map(view),
            id: report.id,
            reporter: report.reporter_id,
            conversation: report.conversation_id,
            seq: report.seq,
            reason: report.reason,
            status: report.status,
            created_at: at(report.created_at),
            resolved_at: report.resolved_at.map(at),
            resolved_by: report.resolved_by,
            resolution: report.resolution,
        }
    }

    /// `report` with its message as it is now.
    async fn of(chat: &Chat, report: report::Model) -> Result<Self, ChatError> {
        let message =
            crate::store::changes::message_at(&chat.db, &report.conversation_id, report.seq)
                .await?;
        Ok(Self::new(report, message))
    }
}

/// Reports a message the caller can read.
pub async fn report(
    chat: &Chat,
    caller: &UserId,
    request: ReportRequest,
) -> Result<ReportView, ChatError> {
    let reason = request.reason.trim();
    if !(1..=MAX_REASON).contains(&reason.chars().count()) {
        return Err(ChatError::invalid(format!(
            "a reason has 1 to {MAX_REASON} characters"
        )));
    }
    let conversation = accessible(chat, caller, &request.conversation).await?;
    let message = message_at(chat, &conversation.id(), request.seq).await?;
    if message.deleted_at.is_some() {
        return Err(ChatError::not_found("no such message"));
    }
    let new = NewReport {
        reporter_id: caller.to_string(),
        conversation_id: conversation.id().into(),
        seq: request.seq,
        reason: reason.to_owned(),
    };
    let report = store::insert_report(&chat.db, new).await.map_err(|error| {
        if crate::store::is_unique_violation(&error) {
            ChatError::new(
                confab_protocol::chat::ErrorCode::Conflict,
                "you reported this message already",
            )
        } else {
            error.into()
        }
    })?;
    metrics::counter!("confab_reports_total").increment(1);
    Ok(ReportView::new(report, Some(message)))
}

/// The message (not an edit or deletion) at `seq` of `conversation`, or `not_found`.
async fn message_at(
    chat: &Chat,
    conversation: &ConversationId,
    seq: i64,
) -> Result<message::Model, ChatError> {
    crate::store::changes::message_at(&chat.db, conversation.as_str(), seq)
        .await?
        .ok_or_else(|| ChatError::not_found("no such message"))
}

/// Which reports to list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `open` (default), `resolved` or `dismissed`.
    pub status: Option<ReportStatus>,
    /// The `next` of the page before.
    pub after: Option<String>,
    /// At most this many (1 to 200, default 50).
    pub limit: Option<u64>,
}

/// A page of reports, oldest first, and where the next one starts.
#[derive(Debug, Serialize)]
pub struct ReportPage {
    /// The reports.
    pub reports: Vec<ReportView>,
    /// Give it as `after` for the next page; `null` on the last one.
    pub next: Option<String>,
}

/// Lists reports.
pub async fn reports(
    chat: &Chat,
    _admin: &Admin,
    query: ReportQuery,
) -> Result<ReportPage, ChatError> {
    let limit = page_size(query.limit)?;
    let status = query.status.unwrap_or(ReportStatus::Open);
    let found = store::reports(&chat.db, status, query.after.as_deref(), limit).await?;
    let next = next_cursor(&found, limit, |report| &report.id);
    let mut reports = Vec::with_capacity(found.len());
    for report in found {
        reports.push(ReportView::of(chat, report).await?);
    }
    Ok(ReportPage { reports, next })
}

/// How an administrator closes a report.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// `resolved` or `dismissed`.
    pub status: ReportStatus,
    /// A note for the record (at most 1000 characters).
    pub note: Option<String>,
}

/// Closes an open report.
pub async fn resolve(
    chat: &Chat,
    admin: &Admin,
    report_id: &str,
    resolution: Resolution,
) -> Result<ReportView, ChatError> {
    if resolution.status == ReportStatus::Open {
        return Err(ChatError::invalid("status is resolved or dismissed"));
    }
    let note = resolution
        .note
        .map(|note| note.trim().to_owned())
        .filter(|note| !note.is_empty());
    if note
        .as_ref()
        .is_some_and(|note| note.chars().count() > MAX_REASON)
    {
        return Err(ChatError::invalid(format!(
            "a note has at most {MAX_REASON} characters"
        )));
    }
    let txn = chat.db.begin().await?;
    let closed = store::close_report(&txn, report_id, resolution.status, &admin.0, note.clone())
        .await?
        .ok_or_else(|| ChatError::not_found("no such open report"))?;
    let audit = Audit {
        actor: admin.0.to_string(),
        action: "report.close",
        target_kind: "report",
        target_id: report_id.to_owned(),
        detail: json!({"status": resolution.status, "note": note}),
    };
    store::record(&txn, audit).await?;
    txn.commit().await?;
    ReportView::of(chat, closed).await
}

/// An entry of the audit log.
#[derive(Debug, Serialize)]
pub struct AuditView {
    /// Its id.
    pub id: String,
    /// The administrator's user id, or `cli`.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// What kind of thing it was done to.
    pub target_kind: String,
    /// Its id.
    pub target_id: String,
    /// Details.
    pub detail: serde_json::Value,
    /// When.
    pub at: String,
}

impl From<audit_entry::Model> for AuditView {
    fn from(entry: audit_entry::Model) -> Self {
        Self {
            id: entry.id,
            actor: entry.actor,
            action: entry.action,
            target_kind: entry.target_kind,
            target_id: entry.target_id,
            detail: serde_json::from_str(&entry.detail).unwrap_or_default(),
            at: at(entry.created_at),
        }
    }
}

/// Which page of the audit log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The `next` of the page before.
    pub before: Option<String>,
    /// At most this many (1 to 200, default 50).
    pub limit: Option<u64>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditView>,
    /// Give it as `before` for the next page; `null` on the last one.
    pub next: Option<String>,
}

/// Pages through the audit log.
pub async fn audit(chat: &Chat, _admin: &Admin, query: AuditQuery) -> Result<AuditPage, ChatError> {
    let limit = page_size(query.limit)?;
    let found = store::audit_page(&chat.db, query.before.as_deref(), limit).await?;
    Ok(AuditPage {
        next: next_cursor(&found, limit, |entry| &entry.id),
        entries: found.into_iter().map(AuditView::from).collect(),
    })
}

/// `confab admin grant|revoke USERNAME`: makes the user an administrator or not, and
/// records it (actor `cli`). Fails if there is no such user.
pub async fn grant(
    db: &sea_orm::DatabaseConnection,
    username: &str,
    admin: bool,
) -> Result<(), ChatError> {
    let username = username.to_lowercase();
    let user = users::by_username(db, &username)
        .await?
        .ok_or_else(|| ChatError::not_found(format!("no user named {username}")))?;
    let txn = db.begin().await?;
    store::set_admin(&txn, &user.id, admin).await?;
    let audit = Audit {
        actor: "cli".to_owned(),
        action: if admin { "admin.grant" } else { "admin.revoke" },
        target_kind: "user",
        target_id: user.id,
        detail: json!({"username": username}),
    };
    store::record(&txn, audit).await?;
    txn.commit().await?;
    Ok(())
}
