//! Groups: creating, reading and listing them, membership (add, remove, join, leave),
//! renaming, roles and dissolving, each written once for the HTTP API and Socket.IO.
//!
//! Every change runs in one transaction on the group's locked row (see [`change`]), so
//! its rules are checked against the state it changes. Afterwards the users whose
//! membership changed are routed in or out at once, and everyone who was or is a member
//! receives `group:updated`, so removed users learn it too.
//!
//! Visibility: a private group is `not_found` to anyone but its members; a public one can
//! be read and joined by anyone, but only its owner and admins manage it.
//!
//! Consent: nobody is put in a group by someone else unless they are that person's
//! contact, with no block either way (`forbidden`, `blocked`); joining a public group is
//! one's own choice. Nobody is in more than `max_groups_per_user` groups
//! (`too_many_groups`), and creations and additions take from the caller's bucket of group
//! changes (`rate_limited`), so nobody can bury someone under groups.

use std::collections::BTreeSet;

use confab_entities::{GroupRole, group, group_member};
use confab_protocol::chat::{ErrorCode, GroupId, UserId, events};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::conversations::Conversation;
use super::{Chat, ChatError, attachments, encode_event, hooks};
use crate::store::groups::{self as store, NewGroup};
use crate::store::membership::{self, NoConsent};

/// Longest group name, in characters (after trimming).
const MAX_NAME_CHARS: usize = 128;
/// Roles that manage members and the name.
pub(super) const MANAGERS: &[GroupRole] = &[GroupRole::Owner, GroupRole::Admin];
/// The role that sets roles and dissolves the group.
const OWNER: &[GroupRole] = &[GroupRole::Owner];

/// `POST /api/v1/groups` and `group:create`.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateGroup {
    /// 1 to 128 characters, trimmed.
    pub name: String,
    /// User ids to add besides the creator.
    #[serde(default)]
    pub members: Vec<UserId>,
    /// Whether anyone may join (default: private).
    #[serde(default)]
    pub public: bool,
}

/// One member as clients see it: `{user, role}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    /// The user id.
    pub user: String,
    /// `owner`, `admin` or `member`.
    pub role: GroupRole,
}

/// A group as clients see it: `{id, name, public, owner, members}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupView {
    /// Opaque id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Whether anyone may join.
    pub public: bool,
    /// The owner's user id.
    pub owner: String,
    /// Every member, oldest first.
    pub members: Vec<MemberView>,
}

impl GroupView {
    /// The view of `group`, with those of `members` that belong to it.
    fn new(group: group::Model, members: &[group_member::Model]) -> Self {
        let members = members
            .iter()
            .filter(|member| member.group_id == group.id)
            .map(|member| MemberView {
                user: member.user_id.clone(),
                role: member.role,
            })
            .collect();
        Self {
            id: group.id,
            name: group.name,
            public: group.public,
            owner: group.owner_id,
            members,
        }
    }
}

/// A group as it was when its row was locked for a change.
#[derive(Debug)]
struct Locked {
    group: group::Model,
    /// Oldest first: the order ownership is handed on in.
    members: Vec<group_member::Model>,
}

impl Locked {
    /// Locks the group for `caller`: `not_found` if missing or private to the caller
    /// (unless `moderator`: a server administrator sees every group).
    async fn load(
        txn: &DatabaseTransaction,
        caller: &UserId,
        group_id: &GroupId,
        moderator: bool,
    ) -> Result<Self, ChatError> {
        let group = store::lock(txn, group_id)
            .await?
            .ok_or_else(no_such_group)?;
        let members = store::members(txn, group_id).await?;
        let locked = Self { group, members };
        if !moderator && !locked.group.public && locked.role(caller).is_none() {
            return Err(no_such_group());
        }
        Ok(locked)
    }

    fn role(&self, user_id: &UserId) -> Option<GroupRole> {
        self.members
            .iter()
            .find(|member| member.user_id == user_id)
            .map(|member| member.role)
    }

    /// The caller's role if it is one of `allowed`; `forbidden` otherwise.
    fn require(&self, caller: &UserId, allowed: &[GroupRole]) -> Result<GroupRole, ChatError> {
        self.role(caller)
            .filter(|role| allowed.contains(role))
            .ok_or_else(|| ChatError::forbidden("your role in this group does not allow this"))
    }

    /// Who owns the group after `owner` leaves: the oldest admin, else the oldest member.
    fn successor(&self, owner: &str) -> Option<&str> {
        let others = || self.members.iter().filter(|member| member.user_id != owner);
        others()
            .find(|member| member.role == GroupRole::Admin)
            .or_else(|| others().next())
            .map(|member| member.user_id.as_str())
    }

    /// Whether `user_id` may become a member: not one already, and the group not full.
    fn check_admissible(&self, chat: &Chat, user_id: &UserId) -> Result<(), ChatError> {
        if self.role(user_id).is_some() {
            return Err(ChatError::new(ErrorCode::Conflict, "already a member"));
        }
        if self.members.len() >= chat.limits.max_group_members {
            return Err(group_full(chat));
        }
        Ok(())
    }
}

/// Checks that `adder` may put each of `users` in a group (see the module's
/// documentation).
async fn check_consent(
    db: &impl ConnectionTrait,
    adder: &str,
    users: &[String],
) -> Result<(), ChatError> {
    match membership::without_consent(db, adder, users).await?.first() {
        None => Ok(()),
        Some((_, NoConsent::Blocked)) => Err(ChatError::new(
            ErrorCode::Blocked,
            "one of you has blocked the other",
        )),
        Some((_, NoConsent::NotAContact)) => Err(ChatError::forbidden(
            "this user can be added to groups by their contacts only; they can join a public one",
        )),
        Some((_, NoConsent::Nobody)) => Err(ChatError::forbidden(
            "this user does not let anyone add them to groups; they can join a public one",
        )),
    }
}

/// Checks that none of `users` is in as many groups as a user may be.
async fn check_room_in_groups(
    chat: &Chat,
    db: &impl ConnectionTrait,
    users: &[String],
) -> Result<(), ChatError> {
    let counts = membership::group_counts(db, users).await?;
    let max = i64::try_from(chat.limits.max_groups_per_user).unwrap_or(i64::MAX);
    if counts.values().any(|count| *count >= max) {
        return Err(ChatError::new(
            ErrorCode::TooManyGroups,
            format!(
                "a user can be in at most {} groups",
                chat.limits.max_groups_per_user
            ),
        ));
    }
    Ok(())
}

fn no_such_group() -> ChatError {
    ChatError::not_found("no such group")
}

fn no_such_member() -> ChatError {
    ChatError::not_found("no such member of this group")
}

fn group_full(chat: &Chat) -> ChatError {
    let max = chat.limits.max_group_members;
    ChatError::new(
        ErrorCode::GroupFull,
        format!("a group has at most {max} members"),
    )
}

/// The name, trimmed, if it has 1 to 128 characters.
fn checked_name(name: &str) -> Result<String, ChatError> {
    let name = name.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME_CHARS {
        return Err(ChatError::invalid(format!(
            "a group name has 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

/// Runs `apply` on the locked group in one transaction, then routes and tells the users
/// concerned (see [`publish`]). Returns the group after the change (`None`: dissolved).
async fn change(
    chat: &Chat,
    caller: &UserId,
    group_id: &GroupId,
    apply: impl AsyncFnOnce(&DatabaseTransaction, &Locked) -> Result<(), ChatError>,
) -> Result<Option<GroupView>, ChatError> {
    change_as(chat, caller, group_id, false, apply).await
}

/// [`change`], by a server administrator when `moderator` (who may see every group).
async fn change_as(
    chat: &Chat,
    caller: &UserId,
    group_id: &GroupId,
    moderator: bool,
    apply: impl AsyncFnOnce(&DatabaseTransaction, &Locked) -> Result<(), ChatError>,
) -> Result<Option<GroupView>, ChatError> {
    let txn = chat.db.begin().await?;
    let before = Locked::load(&txn, caller, group_id, moderator).await?;
    apply(&txn, &before).await?;
    let after = match store::find(&txn, group_id).await? {
        Some(group) => Some(GroupView::new(
            group,
            &store::members(&txn, group_id).await?,
        )),
        None => None,
    };
    txn.commit().await?;
    let before = before
        .members
        .into_iter()
        .map(|member| member.user_id)
        .collect();
    publish(chat, group_id, &before, after.as_ref());
    Ok(after)
}

/// After a change: users who joined or left are routed in or out, and everyone who was
/// or is a member gets `group:updated` (`{id, dissolved: true}` once the group is gone).
fn publish(chat: &Chat, group_id: &str, before: &BTreeSet<String>, after: Option<&GroupView>) {
    let now: BTreeSet<String> = after
        .map(|group| {
            group
                .members
                .iter()
                .map(|member| member.user.clone())
                .collect()
        })
        .unwrap_or_default();
    let left = before.difference(&now).map(|user| (user.clone(), false));
    let joined = now.difference(before).map(|user| (user.clone(), true));
    chat.memberships_changed(group_id, left.chain(joined).collect());
    let payload = match after {
        Some(group) => json!(group),
        None => json!({"id": group_id, "dissolved": true}),
    };
    hooks::group_changed(chat, &payload);
    let everyone = before.union(&now).cloned().collect();
    chat.push_to_users(everyone, encode_event(events::GROUP_UPDATED, payload), None);
}

/// A change that never dissolves the group: its result.
fn still_there(after: Option<GroupView>) -> Result<GroupView, ChatError> {
    after.ok_or_else(no_such_group)
}

/// Creates a group owned by `caller`, with the given members and its conversation.
pub async fn create(
    chat: &Chat,
    caller: &UserId,
    request: CreateGroup,
) -> Result<GroupView, ChatError> {
    chat.rate.check_group_change(caller)?;
    let name = checked_name(&request.name)?;
    let mut members: Vec<String> = Vec::new();
    for member in request.members.into_iter().map(String::from) {
        if member != *caller && !members.contains(&member) {
            members.push(member);
        }
        if members.len() + 1 > chat.limits.max_group_members {
            return Err(group_full(chat));
        }
    }
    if !store::unknown_users(&chat.db, &members).await?.is_empty() {
        return Err(ChatError::not_found("no such user"));
    }
    check_consent(&chat.db, caller, &members).await?;
    let everyone: Vec<String> = members
        .iter()
        .cloned()
        .chain([caller.to_string()])
        .collect();
    check_room_in_groups(chat, &chat.db, &everyone).await?;
    let id = GroupId::stored(uuid::Uuid::now_v7().to_string());
    let new = NewGroup {
        conversation: Conversation::group(&id).to_ref(),
        id: id.into(),
        name,
        public: request.public,
        owner_id: caller.to_string(),
        members,
    };
    let group = store::create(&chat.db, new).await?;
    let members = store::members(&chat.db, &group.id).await?;
    let view = GroupView::new(group, &members);
    publish(chat, &view.id, &BTreeSet::new(), Some(&view));
    Ok(view)
}

/// A group with its members: `not_found` if private and `caller` is not a member.
pub async fn get(chat: &Chat, caller: &UserId, group_id: &GroupId) -> Result<GroupView, ChatError> {
    let group = store::find(&chat.db, group_id)
        .await?
        .ok_or_else(no_such_group)?;
    let view = GroupView::new(group, &store::members(&chat.db, group_id).await?);
    if !view.public && !view.members.iter().any(|member| member.user == caller) {
        return Err(no_such_group());
    }
    Ok(view)
}

/// The caller's groups, oldest first.
pub async fn list(chat: &Chat, caller: &UserId) -> Result<Vec<GroupView>, ChatError> {
    let groups = store::of_user(&chat.db, caller).await?;
    let ids: Vec<String> = groups.iter().map(|group| group.id.clone()).collect();
    let members = store::members_of(&chat.db, &ids).await?;
    Ok(groups
        .into_iter()
        .map(|group| GroupView::new(group, &members))
        .collect())
}

/// A public group as the directory lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DirectoryEntry {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// How many members it has.
    pub members: i64,
}

/// What to look for in the directory of public groups.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryQuery {
    /// Text the name contains (case-insensitive); every public group when absent.
    pub q: Option<String>,
    /// How many to skip.
    pub offset: Option<u64>,
    /// At most this many (1 to 100, default 50).
    pub limit: Option<u64>,
}

/// Most groups one directory page holds.
const MAX_DIRECTORY_PAGE: u64 = 100;
/// Furthest a directory or user search pages (narrow the search to go beyond).
pub const MAX_OFFSET: u64 = 10_000;

/// `GET /groups/public` and `group:directory`: public groups by name, which anyone may
/// join (`join`).
pub async fn directory(
    chat: &Chat,
    query: DirectoryQuery,
) -> Result<Vec<DirectoryEntry>, ChatError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_DIRECTORY_PAGE).contains(&limit) {
        return Err(ChatError::invalid(format!(
            "limit is 1 to {MAX_DIRECTORY_PAGE}"
        )));
    }
    let text = query.q.unwrap_or_default();
    if text.chars().count() > 128 {
        return Err(ChatError::invalid("q has at most 128 characters"));
    }
    let offset = query.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ChatError::invalid(format!(
            "offset is at most {MAX_OFFSET}"
        )));
    }
    let found = store::public(&chat.db, text.trim(), offset, limit).await?;
    Ok(found
        .into_iter()
        .map(|(group, members)| DirectoryEntry {
            id: group.id,
            name: group.name,
            members,
        })
        .collect())
}

/// An owner or admin adds `user_id` as a plain member.
pub async fn add_member(
    chat: &Chat,
    caller: &UserId,
    group_id: &GroupId,
    user_id: &UserId,
) -> Result<GroupView, ChatError> {
    chat.rate.check_group_change(caller)?;
    let after = change(chat, caller, group_id, async |txn, group| {
        group.require(caller, MANAGERS)?;
        let added = [user_id.to_string()];
        if !store::unknown_users(txn, &added).await?.is_empty() {
            return Err(ChatError::not_found("no such user"));
        }
        group.check_admissible(chat, user_id)?;
        check_consent(txn, caller, &added).await?;
        check_room_in_groups(chat, txn, &added).await?;
        Ok(store::add_member(txn, group_id, user_id, GroupRole::Member).await?)
    })
    .await?;
    still_there(after)
}

/// Removes a member: the owner removes anyone but itself, an admin plain members only.
pub async fn remove_member(
    chat: &Chat,
    caller: &UserId,
    group_id: &GroupId,
    user_id: &UserId,
) -> Result<GroupView, ChatError> {
    let after = change(chat, caller, group_id, async |txn, group| {
        let role = group.require(caller, MANAGERS)?;
        let target = group.role(user_id).ok_or_else(no_such_member)?;
        let allowed = match role {
            GroupRole::Owner => user_id != caller,
            GroupRole::Admin => target == GroupRole::Member,
            GroupRole::Member => false,
        };
        if !allowed {
            return Err(ChatError::forbidden(
                "your role does not allow removing this member",
            ));
        }
        Ok(store::remove_member(txn, group_id, user_id).await?)
    })
    .await?;
    still_there(after)
}

/// Joins a public group as a plain member.
pub async fn join(
    chat: &Chat,
    caller: &UserId,
    group_id: &GroupId,
) -> Result<GroupView, ChatError> {
    let after = change(chat, caller, group_id, async |txn, group| {
        // A private group was already `not_found` unless the caller is a member.
        group.check_admissible(chat, caller)?;
        check_room_in_groups(chat, txn, &[caller.to_string()]).await?;
        Ok(store::add_member(txn, group_id, caller, GroupRole::Member).await?)
    })
    .await?;
    still_there(after)
}

/// Leaves a group. An owner hands the group to the oldest admin, else the oldest member;
/// the last member leaving dissolves it.
pub async fn leave(chat: &Chat, caller: &UserId, group_id: &GroupId) -> Result<(), ChatError> {
    change(chat, caller, group_id, async |txn, group| {
        let role = group
            .role(caller)
            .ok_or_else(|| ChatError::not_found("not a member of this group"))?;
        match group.successor(caller) {
            None => return Ok(store::delete(txn, group_id).await?),
            Some(successor) if role == GroupRole::Owner => {
                store::set_role(txn, group_id, successor, GroupRole::Owner).await?;
                store::set_owner(txn, group_id, successor).await?;
            }
            Some(_) => {}
        }
        Ok(store::remove_member(txn, group_id, caller).await?)
    })
    .await?;
    Ok(())
}

/// An owner or admin renames the group.
pub async fn rename(
    chat: &Chat,
    caller: &UserId,
    group_id: &GroupId,
    name: &str,
) -> Result<GroupView, ChatError> {
    let name = checked_name(name)?;
    let after = change(chat, caller, group_id, async |txn, group| {
        group.require(caller, MANAGERS)?;
        Ok(store::rename(txn, group_id, &name).await?)
    })
    .await?;
    still_there(after)
}

/// The owner sets a member's role; `owner` hands the group over and makes the old owner
/// an admin. Nobody changes their own role.
pub async fn set_role(
    chat: &Chat,
    caller: &UserId,
    group_id: &GroupId,
    user_id: &UserId,
    role: GroupRole,
) -> Result<GroupView, ChatError> {
    let after = change(chat, caller, group_id, async |txn, group| {
        group.require(caller, OWNER)?;
        if user_id == caller {
            return Err(ChatError::forbidden("you cannot change your own role"));
        }
        group.role(user_id).ok_or_else(no_such_member)?;
        store::set_role(txn, group_id, user_id, role).await?;
        if role == GroupRole::Owner {
            store::set_role(txn, group_id, caller, GroupRole::Admin).await?;
            store::set_owner(txn, group_id, user_id).await?;
        }
        Ok(())
    })
    .await?;
    still_there(after)
}

/// The owner dissolves the group, with its conversation.
pub async fn delete(chat: &Chat, caller: &UserId, group_id: &GroupId) -> Result<(), ChatError> {
    delete_as(chat, caller, group_id, false).await.map(drop)
}

/// A server administrator dissolves any group (members are told as for [`delete`]);
/// returns the group as it was.
pub async fn dissolve(
    chat: &Chat,
    admin: &UserId,
    group_id: &GroupId,
) -> Result<GroupView, ChatError> {
    delete_as(chat, admin, group_id, true).await
}

/// Dissolves the group with its conversation and files: by its owner, or by a server
/// administrator when `moderator`. Returns the group as it was.
async fn delete_as(
    chat: &Chat,
    caller: &UserId,
    group_id: &GroupId,
    moderator: bool,
) -> Result<GroupView, ChatError> {
    let mut dissolved = None;
    change_as(chat, caller, group_id, moderator, async |txn, group| {
        if !moderator {
            group.require(caller, OWNER)?;
        }
        dissolved = Some(GroupView::new(group.group.clone(), &group.members));
        Ok(store::delete(txn, group_id).await?)
    })
    .await?;
    attachments::remove_conversation(chat, &Conversation::group(group_id)).await;
    dissolved.ok_or_else(no_such_group)
}

/// A payload naming a group: `{group}`.
#[derive(Deserialize)]
pub(crate) struct GroupRef {
    pub(crate) group: GroupId,
}

/// A payload naming a member of a group: `{group, user_id}`.
#[derive(Deserialize)]
pub(crate) struct MemberRef {
    pub(crate) group: GroupId,
    pub(crate) user_id: UserId,
}

/// `group:rename`: `{group, name}`.
#[derive(Deserialize)]
pub(crate) struct RenameRequest {
    pub(crate) group: GroupId,
    pub(crate) name: String,
}

/// `group:set_role`: `{group, user_id, role}`.
#[derive(Deserialize)]
pub(crate) struct RoleRequest {
    pub(crate) group: GroupId,
    pub(crate) user_id: UserId,
    pub(crate) role: GroupRole,
}
