//! The migrations and entities against real databases: SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! Every behaviour is one `async fn` taking a [`Backend`]; `on_every_backend!` turns each into
//! one test per backend (`sqlite::...`, `postgres::...`, `mysql::...`), each on a fresh database.

use chrono::{DateTime, Utc};
use confab_entities::migration::{Migrator, MigratorTrait};
use confab_entities::{
    Audience, ContactRequestStatus, ConversationKind, GroupRole, MessageKind, ReportStatus,
    RevokedReason, Secret, audit_entry, block, contact, contact_request, conversation, group,
    group_member, message, reaction, read_cursor, report, server_setting, session, user,
};
use confab_testkit::{Backend, TestDb};
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, ModelTrait,
    PaginatorTrait, SqlErr,
};
use sea_orm_migration::SchemaManager;

/// Whatever the testkit or sea-orm returns.
type BoxError = Box<dyn std::error::Error + Send + Sync>;
type TestResult = Result<(), BoxError>;

/// Every table the migrations create.
const TABLES: [&str; 16] = [
    "users",
    "server_settings",
    "groups",
    "group_members",
    "conversations",
    "messages",
    "contact_requests",
    "contacts",
    "blocks",
    "read_cursors",
    "reactions",
    "webhook_events",
    "attachments",
    "sessions",
    "reports",
    "audit_log",
];

macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() -> super::TestResult {
                super::$test(confab_testkit::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() -> super::TestResult {
                super::$test(confab_testkit::Backend::Postgres).await
            })*
        }
        mod mysql {
            $(#[tokio::test]
            async fn $test() -> super::TestResult {
                super::$test(confab_testkit::Backend::MySql).await
            })*
        }
    };
}

on_every_backend!(
    up_creates_every_table_and_every_entity_round_trips,
    a_second_message_with_the_same_sender_and_client_msg_id_is_rejected,
    a_second_message_with_the_same_conversation_and_seq_is_rejected,
    deleting_a_group_deletes_its_members_conversation_and_messages,
    a_membership_of_an_unknown_user_is_rejected,
    down_drops_everything_and_up_builds_it_again,
    running_up_twice_changes_nothing,
);

async fn up_creates_every_table_and_every_entity_round_trips(backend: Backend) -> TestResult {
    let (_db, conn) = migrated(backend).await?;
    assert_eq!(existing_tables(&conn).await?, TABLES.len());

    let alice = insert_round_trip(&conn, user(1)).await?;
    let bob = insert_round_trip(
        &conn,
        user::Model {
            last_seen_at: Some(at(90)),
            disabled_at: Some(at(91)),
            group_invites: Audience::Contacts,
            presence_visibility: Audience::Nobody,
            avatar: Some(id(300)),
            is_admin: true,
            ..user(2)
        },
    )
    .await?;
    let group = insert_round_trip(&conn, group(10, &alice)).await?;
    insert_round_trip(&conn, member(&group, &alice, GroupRole::Owner)).await?;
    insert_round_trip(&conn, member(&group, &bob, GroupRole::Admin)).await?;
    let group_chat = insert_round_trip(&conn, group_conversation(&group)).await?;
    let direct = insert_round_trip(
        &conn,
        conversation::Model {
            id: format!("d:{}:{}", alice.id, bob.id),
            kind: ConversationKind::Direct,
            group_id: None,
            user_a: Some(alice.id.clone()),
            user_b: Some(bob.id.clone()),
            last_seq: 0,
            created_at: at(3),
            expire_secs: Some(3600),
        },
    )
    .await?;
    insert_round_trip(
        &conn,
        message::Model {
            meta: Some(serde_json::json!({"format": {"markdown": true}, "emoji": "🎉"})),
            reply_to: Some(7),
            mentions: Some(serde_json::json!([bob.id])),
            edited_at: Some(at(8)),
            expires_at: Some(at(3700)),
            ..message(100, &group_chat, 1, &alice, "c-1")
        },
    )
    .await?;
    insert_round_trip(&conn, message(101, &direct, 1, &bob, "c-1")).await?;
    insert_round_trip(
        &conn,
        message::Model {
            kind: MessageKind::Delete,
            target_seq: Some(1),
            body: String::new(),
            ..message(102, &direct, 2, &bob, "c-2")
        },
    )
    .await?;
    insert_round_trip(
        &conn,
        reaction::Model {
            conversation_id: direct.id.clone(),
            seq: 1,
            user_id: alice.id.clone(),
            emoji: "👍🏽".to_owned(),
            created_at: at(9),
        },
    )
    .await?;
    insert_round_trip(
        &conn,
        server_setting::Model {
            key: "jwt_secret".to_owned(),
            value: Secret::new("c2VjcmV0IGtleSBieXRlcw"),
        },
    )
    .await?;
    insert_round_trip(
        &conn,
        contact_request::Model {
            id: id(200),
            from_user: alice.id.clone(),
            to_user: bob.id.clone(),
            status: ContactRequestStatus::Accepted,
            created_at: at(4),
            updated_at: at(5),
        },
    )
    .await?;
    for (owner, other) in [(&alice, &bob), (&bob, &alice)] {
        insert_round_trip(
            &conn,
            contact::Model {
                user_id: owner.id.clone(),
                contact_id: other.id.clone(),
                created_at: at(5),
            },
        )
        .await?;
    }
    insert_round_trip(
        &conn,
        block::Model {
            user_id: bob.id.clone(),
            blocked_id: alice.id.clone(),
            created_at: at(6),
        },
    )
    .await?;
    insert_round_trip(
        &conn,
        read_cursor::Model {
            conversation_id: group_chat.id.clone(),
            user_id: bob.id.clone(),
            seq: 1,
            updated_at: at(7),
        },
    )
    .await?;
    insert_round_trip(
        &conn,
        session::Model {
            id: id(400),
            user_id: alice.id.clone(),
            refresh_hash: "a".repeat(64),
            previous_hash: Some("b".repeat(64)),
            device: "Älice's phone 📱".to_owned(),
            user_agent: "Mozilla/5.0".to_owned(),
            created_at: at(10),
            last_used_at: at(11),
            expires_at: at(12),
            revoked_at: Some(at(13)),
            revoked_reason: Some(RevokedReason::PasswordChanged),
        },
    )
    .await?;
    insert_round_trip(
        &conn,
        report::Model {
            id: id(500),
            reporter_id: bob.id.clone(),
            conversation_id: direct.id.clone(),
            seq: 1,
            reason: "späm 🥫".to_owned(),
            status: ReportStatus::Resolved,
            created_at: at(14),
            resolved_at: Some(at(15)),
            resolved_by: Some(alice.id.clone()),
            resolution: Some("deleted".to_owned()),
        },
    )
    .await?;
    insert_round_trip(
        &conn,
        audit_entry::Model {
            id: id(600),
            actor: alice.id.clone(),
            action: "message.delete".to_owned(),
            target_kind: "message".to_owned(),
            target_id: format!("{}/1", direct.id),
            detail: "{}".to_owned(),
            created_at: at(15),
        },
    )
    .await?;
    Ok(())
}

async fn a_second_message_with_the_same_sender_and_client_msg_id_is_rejected(
    backend: Backend,
) -> TestResult {
    let (_db, conn) = migrated(backend).await?;
    let (alice, bob, chat) = two_users_in_a_group(&conn).await?;
    insert(&conn, message(100, &chat, 1, &alice, "retry-me")).await?;

    let duplicate = insert(&conn, message(101, &chat, 2, &alice, "retry-me")).await;
    assert_unique_violation(duplicate, "(sender_id, client_msg_id)");

    // The key is the pair: another sender may use the same client id.
    insert(&conn, message(102, &chat, 2, &bob, "retry-me")).await?;
    assert_eq!(message::Entity::find().count(&conn).await?, 2);
    Ok(())
}

async fn a_second_message_with_the_same_conversation_and_seq_is_rejected(
    backend: Backend,
) -> TestResult {
    let (_db, conn) = migrated(backend).await?;
    let (alice, bob, chat) = two_users_in_a_group(&conn).await?;
    insert(&conn, message(100, &chat, 1, &alice, "c-1")).await?;

    let duplicate = insert(&conn, message(101, &chat, 1, &bob, "c-2")).await;
    assert_unique_violation(duplicate, "(conversation_id, seq)");

    // The key is the pair: seq 1 is free in another conversation.
    let other = insert(
        &conn,
        group_conversation(&insert(&conn, group(11, &bob)).await?),
    )
    .await?;
    insert(&conn, message(102, &other, 1, &bob, "c-2")).await?;
    assert_eq!(message::Entity::find().count(&conn).await?, 2);
    Ok(())
}

async fn deleting_a_group_deletes_its_members_conversation_and_messages(
    backend: Backend,
) -> TestResult {
    let (_db, conn) = migrated(backend).await?;
    let (alice, bob, chat) = two_users_in_a_group(&conn).await?;
    insert(&conn, message(100, &chat, 1, &alice, "c-1")).await?;
    insert(
        &conn,
        read_cursor::Model {
            conversation_id: chat.id.clone(),
            user_id: bob.id.clone(),
            seq: 1,
            updated_at: at(7),
        },
    )
    .await?;
    // A second group that must survive the first one's deletion.
    let kept = insert(&conn, group(11, &bob)).await?;
    insert(&conn, member(&kept, &bob, GroupRole::Owner)).await?;
    let kept_chat = insert(&conn, group_conversation(&kept)).await?;
    insert(&conn, message(101, &kept_chat, 1, &bob, "c-1")).await?;

    let deleted = group::Entity::delete_by_id(id(10)).exec(&conn).await?;
    assert_eq!(deleted.rows_affected, 1);

    let members = group_member::Entity::find().all(&conn).await?;
    assert_eq!(members, vec![member(&kept, &bob, GroupRole::Owner)]);
    let conversations = conversation::Entity::find().all(&conn).await?;
    assert_eq!(conversations, vec![kept_chat.clone()]);
    let messages = message::Entity::find().all(&conn).await?;
    assert_eq!(messages, vec![message(101, &kept_chat, 1, &bob, "c-1")]);
    assert_eq!(read_cursor::Entity::find().count(&conn).await?, 0);
    // The users are not owned by the group.
    assert_eq!(user::Entity::find().count(&conn).await?, 2);
    Ok(())
}

async fn a_membership_of_an_unknown_user_is_rejected(backend: Backend) -> TestResult {
    let (_db, conn) = migrated(backend).await?;
    let (_alice, _bob, _chat) = two_users_in_a_group(&conn).await?;
    let group = group::Entity::find_by_id(id(10))
        .one(&conn)
        .await?
        .ok_or("the group is missing")?;

    let ghost = user(99);
    let result = insert(&conn, member(&group, &ghost, GroupRole::Member)).await;
    match result {
        Err(err) => assert!(
            matches!(
                err.sql_err(),
                Some(SqlErr::ForeignKeyConstraintViolation(_))
            ),
            "expected a foreign-key violation, got {err}"
        ),
        Ok(row) => panic!("a membership of an unknown user was stored: {row:?}"),
    }
    assert_eq!(
        group
            .find_related(group_member::Entity)
            .count(&conn)
            .await?,
        2
    );
    Ok(())
}

async fn down_drops_everything_and_up_builds_it_again(backend: Backend) -> TestResult {
    let (_db, conn) = migrated(backend).await?;
    two_users_in_a_group(&conn).await?;

    Migrator::down(&conn, None).await?;
    assert_eq!(existing_tables(&conn).await?, 0);
    assert!(Migrator::get_applied_migrations(&conn).await?.is_empty());

    Migrator::up(&conn, None).await?;
    assert_eq!(existing_tables(&conn).await?, TABLES.len());
    assert_eq!(user::Entity::find().count(&conn).await?, 0);
    // The rebuilt schema takes the same rows again, keys and all.
    two_users_in_a_group(&conn).await?;
    Ok(())
}

async fn running_up_twice_changes_nothing(backend: Backend) -> TestResult {
    let (_db, conn) = migrated(backend).await?;
    let alice = insert(&conn, user(1)).await?;

    Migrator::up(&conn, None).await?;

    assert!(Migrator::get_pending_migrations(&conn).await?.is_empty());
    assert_eq!(
        Migrator::get_applied_migrations(&conn).await?.len(),
        Migrator::migrations().len()
    );
    assert_eq!(user::Entity::find().all(&conn).await?, vec![alice]);
    Ok(())
}

// --- helpers -------------------------------------------------------------------------------

/// A fresh database on `backend` with every migration applied. Keep the [`TestDb`] alive for
/// as long as the connection is used: dropping it drops the database.
async fn migrated(backend: Backend) -> Result<(TestDb, DatabaseConnection), BoxError> {
    let db = TestDb::create(backend).await?;
    let conn = db.connect().await?;
    assert_eq!(
        existing_tables(&conn).await?,
        0,
        "the test database is not empty"
    );
    Migrator::up(&conn, None).await?;
    Ok((db, conn))
}

/// How many of [`TABLES`] exist.
async fn existing_tables(conn: &DatabaseConnection) -> Result<usize, DbErr> {
    let manager = SchemaManager::new(conn);
    let mut count = 0;
    for table in TABLES {
        if manager.has_table(table).await? {
            count += 1;
        }
    }
    Ok(count)
}

/// Inserts `model` and returns the row as the database gives it back.
async fn insert<M>(conn: &DatabaseConnection, model: M) -> Result<M, DbErr>
where
    M: ModelTrait + IntoActiveModel<<M::Entity as EntityTrait>::ActiveModel>,
    <M::Entity as EntityTrait>::ActiveModel: ActiveModelTrait<Entity = M::Entity> + Send,
    M::Entity: EntityTrait<Model = M>,
{
    model.into_active_model().reset_all().insert(conn).await
}

/// Inserts `model`, then reads it back by its key and checks both copies equal what was sent.
async fn insert_round_trip<M>(conn: &DatabaseConnection, model: M) -> Result<M, DbErr>
where
    M: ModelTrait + PartialEq + IntoActiveModel<<M::Entity as EntityTrait>::ActiveModel>,
    <M::Entity as EntityTrait>::ActiveModel: ActiveModelTrait<Entity = M::Entity> + Send,
    M::Entity: EntityTrait<Model = M>,
{
    let returned = insert(conn, model.clone()).await?;
    assert_eq!(returned, model, "insert returned a different row");
    let stored = <M::Entity as EntityTrait>::find().all(conn).await?;
    assert!(
        stored.contains(&model),
        "{model:?} was not read back; the table holds {stored:?}"
    );
    Ok(model)
}

/// Two users, a group owned by the first with both as members, and its conversation.
async fn two_users_in_a_group(
    conn: &DatabaseConnection,
) -> Result<(user::Model, user::Model, conversation::Model), DbErr> {
    let alice = insert(conn, user(1)).await?;
    let bob = insert(conn, user(2)).await?;
    let group = insert(conn, group(10, &alice)).await?;
    insert(conn, member(&group, &alice, GroupRole::Owner)).await?;
    insert(conn, member(&group, &bob, GroupRole::Member)).await?;
    let chat = insert(conn, group_conversation(&group)).await?;
    Ok((alice, bob, chat))
}

fn assert_unique_violation<T: std::fmt::Debug>(result: Result<T, DbErr>, key: &str) {
    match result {
        Err(err) => assert!(
            matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
            "expected a unique violation on {key}, got {err}"
        ),
        Ok(row) => panic!("a duplicate {key} was stored: {row:?}"),
    }
}

/// A hyphenated, UUIDv7-shaped id (36 characters) numbered `n`.
fn id(n: u32) -> String {
    format!("019aa5c2-7e00-7000-8000-{n:012x}")
}

/// An instant `seconds` after a fixed time with a microsecond part, which every backend must
/// keep. (Not past 2038: sqlx sends instants to MySQL typed as `TIMESTAMP`.)
fn at(seconds: i64) -> DateTime<Utc> {
    const BASE_MICROS: i64 = 1_763_840_000_123_456; // 2025-11-22T19:33:20.123456Z
    DateTime::from_timestamp_micros(BASE_MICROS + seconds * 1_000_000).unwrap_or_default()
}

fn user(n: u32) -> user::Model {
    user::Model {
        id: id(n),
        username: format!("user{n}"),
        display_name: format!("Üser {n} 🙂"),
        password_hash: Secret::new(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${n}")),
        created_at: at(0),
        last_seen_at: None,
        disabled_at: None,
        deleted_at: None,
        group_invites: Audience::Everyone,
        presence_visibility: Audience::Everyone,
        avatar: None,
        is_admin: false,
    }
}

fn group(n: u32, owner: &user::Model) -> group::Model {
    group::Model {
        id: id(n),
        name: format!("Group {n}"),
        public: true,
        owner_id: owner.id.clone(),
        created_at: at(1),
    }
}

fn member(group: &group::Model, user: &user::Model, role: GroupRole) -> group_member::Model {
    group_member::Model {
        group_id: group.id.clone(),
        user_id: user.id.clone(),
        role,
        joined_at: at(2),
    }
}

fn group_conversation(group: &group::Model) -> conversation::Model {
    conversation::Model {
        id: format!("g:{}", group.id),
        kind: ConversationKind::Group,
        group_id: Some(group.id.clone()),
        user_a: None,
        user_b: None,
        last_seq: 0,
        created_at: at(3),
        expire_secs: None,
    }
}

fn message(
    n: u32,
    conversation: &conversation::Model,
    seq: i64,
    sender: &user::Model,
    client_msg_id: &str,
) -> message::Model {
    message::Model {
        id: id(n),
        conversation_id: conversation.id.clone(),
        seq,
        sender_id: sender.id.clone(),
        body: format!("message {n} 👋"),
        meta: None,
        client_msg_id: client_msg_id.to_owned(),
        created_at: at(10 + i64::from(n)),
        kind: MessageKind::Message,
        target_seq: None,
        reply_to: None,
        mentions: None,
        edited_at: None,
        deleted_at: None,
        expires_at: None,
        attachments: None,
    }
}
