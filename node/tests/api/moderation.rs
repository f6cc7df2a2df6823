//! Moderation over real HTTP and Socket.IO, on every database: the admin role granted by
//! the `confab admin` command, disabling accounts, deleting any message, dissolving any
//! group, reports, and the audit log.

use confab_testkit::{Backend, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chat::{User, connect, send};
use crate::config::{confab, stdout};
use crate::groups_contacts::{body, call, friends, users};
use crate::helpers::{TestApp, error_code, on_every_backend};

on_every_backend!(
    the_command_line_grants_the_admin_role_and_only_admins_reach_the_admin_api,
    a_disabled_account_is_shut_out_everywhere_until_enabled,
    admins_delete_any_message_and_dissolve_any_group,
    readers_report_messages_and_admins_close_the_reports_on_the_record,
);

/// `confab admin grant|revoke USERNAME` against the node's database.
fn admin_command(app: &TestApp, action: &str, username: &str) -> std::process::Output {
    confab(
        &["admin", action, username],
        &[("CONFAB_DATABASE_URL", app.test_db.url())],
    )
}

/// A registered user made an administrator through the command line.
async fn admin_named(app: &TestApp, name: &str) -> User {
    let [admin] = users(app, [name]).await;
    let output = admin_command(app, "grant", name);
    assert!(output.status.success(), "{output:?}");
    admin
}

/// The audit log's newest entries' actions, newest first.
async fn audit_actions(app: &TestApp, admin: &User) -> Vec<String> {
    let page = body(
        call(app, admin, Method::GET, "/admin/audit", None).await,
        StatusCode::OK,
    )
    .await;
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_command_line_grants_the_admin_role_and_only_admins_reach_the_admin_api(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let [alice, bob] = users(&app, ["alice", "bob"]).await;
    let refused = call(&app, &alice, Method::GET, "/admin/users", None).await;
    assert_eq!(
        error_code(refused, StatusCode::FORBIDDEN).await,
        "forbidden"
    );

    let granted = admin_command(&app, "grant", "Alice");
    assert!(granted.status.success(), "{granted:?}");
    assert!(stdout(&granted).contains("alice is now a server administrator"));
    let unknown = admin_command(&app, "grant", "nobody");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user named nobody"));

    let listed = body(
        call(&app, &alice, Method::GET, "/admin/users?q=bo", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["users"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["users"][0]["id"], bob.id.as_str());
    assert_eq!(listed["users"][0]["admin"], false);
    let everyone = body(
        call(&app, &alice, Method::GET, "/admin/users", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(everyone["users"].as_array().unwrap().len(), 2);
    for path in ["/admin/users", "/admin/reports", "/admin/audit"] {
        let reply = call(&app, &bob, Method::GET, path, None).await;
        assert_eq!(
            error_code(reply, StatusCode::FORBIDDEN).await,
            "forbidden",
            "{path}"
        );
    }
    let entries = body(
        call(&app, &alice, Method::GET, "/admin/audit", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(entries["entries"][0]["action"], "admin.grant");
    assert_eq!(entries["entries"][0]["actor"], "cli");
    assert_eq!(entries["entries"][0]["target_id"], alice.id.as_str());

    assert!(admin_command(&app, "revoke", "alice").status.success());
    let revoked = call(&app, &alice, Method::GET, "/admin/users", None).await;
    assert_eq!(
        error_code(revoked, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
}

async fn login(app: &TestApp, name: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/login",
        &json!({"username": name, "password": PASSWORD}),
    )
    .await
}

async fn a_disabled_account_is_shut_out_everywhere_until_enabled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = admin_named(&app, "root").await;
    let [bob, carol] = users(&app, ["bob", "carol"]).await;
    let registered: Value = body(login(&app, "bob").await, StatusCode::OK).await;
    let mut socket = connect(&app.address, &bob).await;

    let by_user = call(
        &app,
        &carol,
        Method::POST,
        &format!("/admin/users/{}/disable", bob.id),
        None,
    )
    .await;
    assert_eq!(
        error_code(by_user, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
    let disabled = call(
        &app,
        &admin,
        Method::POST,
        &format!("/admin/users/{}/disable", bob.id),
        None,
    )
    .await;
    let disabled = body(disabled, StatusCode::OK).await;
    assert!(disabled["user"]["disabled_at"].is_string(), "{disabled}");
    // Again: nothing changes, and nothing more is recorded.
    let again = call(
        &app,
        &admin,
        Method::POST,
        &format!("/admin/users/{}/disable", bob.id),
        None,
    )
    .await;
    assert_eq!(
        body(again, StatusCode::OK).await["user"]["disabled_at"],
        disabled["user"]["disabled_at"]
    );
    let herself = call(
        &app,
        &admin,
        Method::POST,
        &format!("/admin/users/{}/disable", admin.id),
        None,
    )
    .await;
    assert_eq!(
        error_code(herself, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );

    let me = call(&app, &bob, Method::GET, "/me", None).await;
    assert_eq!(
        error_code(me, StatusCode::FORBIDDEN).await,
        "account_disabled"
    );
    let refresh = app
        .post(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": registered["refresh_token"]}),
        )
        .await;
    assert_eq!(
        error_code(refresh, StatusCode::FORBIDDEN).await,
        "account_disabled"
    );
    assert_eq!(
        error_code(login(&app, "bob").await, StatusCode::FORBIDDEN).await,
        "account_disabled"
    );
    let farewell = socket.next("session:expired").await.unwrap();
    assert_eq!(farewell["code"], "account_disabled");
    socket.wait_closed().await.unwrap();
    // Carol is untouched.
    assert_eq!(
        call(&app, &carol, Method::GET, "/me", None).await.status(),
        StatusCode::OK
    );

    let enabled = call(
        &app,
        &admin,
        Method::POST,
        &format!("/admin/users/{}/enable", bob.id),
        None,
    )
    .await;
    assert_eq!(
        body(enabled, StatusCode::OK).await["user"]["disabled_at"],
        Value::Null
    );
    assert_eq!(login(&app, "bob").await.status(), StatusCode::OK);
    let unknown = call(
        &app,
        &admin,
        Method::POST,
        &format!("/admin/users/{}/disable", uuid::Uuid::now_v7()),
        None,
    )
    .await;
    assert_eq!(
        error_code(unknown, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    assert_eq!(
        audit_actions(&app, &admin).await[..2],
        ["user.enable", "user.disable"]
    );
}

async fn admins_delete_any_message_and_dissolve_any_group(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = admin_named(&app, "root").await;
    let [carol, dave] = friends(&app, ["carol", "dave"]).await;
    let mut carols = connect(&app.address, &carol).await;
    let created = carols
        .request(
            "group:create",
            json!({"name": "secret", "members": [dave.id]}),
        )
        .await
        .unwrap();
    let group = created["group"]["id"].as_str().unwrap().to_owned();
    let mut daves = crate::chat::connect_routed(&app.address, &dave).await;
    let sent = carols
        .request(
            "message:send",
            json!({"to": {"group": group}, "body": "spam", "client_msg_id": "s1"}),
        )
        .await
        .unwrap();
    daves.next("message:new").await.unwrap();
    let direct = carols
        .request("message:send", send(&dave, "more spam", "s2"))
        .await
        .unwrap();
    daves.next("message:new").await.unwrap();

    let path = |message: &Value| {
        format!(
            "/admin/conversations/{}/messages/{}",
            message["conversation"].as_str().unwrap(),
            message["seq"]
        )
    };
    let by_member = call(&app, &dave, Method::DELETE, &path(&sent["message"]), None).await;
    assert_eq!(
        error_code(by_member, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
    for message in [&sent["message"], &direct["message"]] {
        let deleted = call(&app, &admin, Method::DELETE, &path(message), None).await;
        let deleted = body(deleted, StatusCode::OK).await;
        assert_eq!(deleted["message"]["kind"], "delete");
        assert_eq!(deleted["message"]["target"], message["seq"]);
        let told = daves.next("message:deleted").await.unwrap();
        assert_eq!(told["target"], message["seq"]);
    }
    // Deleting it again answers the same deletion and records nothing.
    let again = call(
        &app,
        &admin,
        Method::DELETE,
        &path(&direct["message"]),
        None,
    )
    .await;
    assert_eq!(
        body(again, StatusCode::OK).await["message"]["target"],
        direct["message"]["seq"]
    );
    let missing = json!({"conversation": direct["message"]["conversation"], "seq": 99});
    let reply = call(&app, &admin, Method::DELETE, &path(&missing), None).await;
    assert_eq!(error_code(reply, StatusCode::NOT_FOUND).await, "not_found");

    let dissolved = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/admin/groups/{group}"),
        None,
    )
    .await;
    assert_eq!(dissolved.status(), StatusCode::NO_CONTENT);
    let told = daves.next("group:updated").await.unwrap();
    assert_eq!(told["dissolved"], true, "{told}");
    let gone = call(&app, &carol, Method::GET, &format!("/groups/{group}"), None).await;
    assert_eq!(error_code(gone, StatusCode::NOT_FOUND).await, "not_found");
    assert_eq!(
        audit_actions(&app, &admin).await,
        [
            "group.dissolve",
            "message.delete",
            "message.delete",
            "admin.grant"
        ]
    );
}

async fn readers_report_messages_and_admins_close_the_reports_on_the_record(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = admin_named(&app, "root").await;
    let [alice, bob, carol] = users(&app, ["alice", "bob", "carol"]).await;
    let mut alices = connect(&app.address, &alice).await;
    let sent = alices
        .request("message:send", send(&bob, "rude words", "r1"))
        .await
        .unwrap();
    let report = |reason: &str, seq: &Value| json!({"conversation": sent["message"]["conversation"], "seq": seq, "reason": reason});
    let seq = &sent["message"]["seq"];

    let stranger = call(
        &app,
        &carol,
        Method::POST,
        "/reports",
        Some(report("I saw it", seq)),
    )
    .await;
    assert_eq!(
        error_code(stranger, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    let empty = call(
        &app,
        &bob,
        Method::POST,
        "/reports",
        Some(report("   ", seq)),
    )
    .await;
    assert_eq!(
        error_code(empty, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
    let no_message = call(
        &app,
        &bob,
        Method::POST,
        "/reports",
        Some(report("rude", &json!(7))),
    )
    .await;
    assert_eq!(
        error_code(no_message, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    // Three reports of three messages; the same message twice is one report.
    let mut ids = Vec::new();
    for (n, reason) in ["rude", "still rude", "very rude"].into_iter().enumerate() {
        let seq = if n == 0 {
            seq.clone()
        } else {
            let more = send(&bob, &format!("rude {n}"), &format!("r{}", n + 1));
            alices.request("message:send", more).await.unwrap()["message"]["seq"].clone()
        };
        let made = call(
            &app,
            &bob,
            Method::POST,
            "/reports",
            Some(report(reason, &seq)),
        )
        .await;
        let made = body(made, StatusCode::CREATED).await;
        assert_eq!(made["report"]["status"], "open");
        assert_eq!(made["report"]["reporter"], bob.id.as_str());
        ids.push(made["report"]["id"].as_str().unwrap().to_owned());
    }
    let twice = call(
        &app,
        &bob,
        Method::POST,
        "/reports",
        Some(report("again", seq)),
    )
    .await;
    assert_eq!(error_code(twice, StatusCode::CONFLICT).await, "conflict");

    let first = body(
        call(&app, &admin, Method::GET, "/admin/reports?limit=2", None).await,
        StatusCode::OK,
    )
    .await;
    let listed: Vec<&Value> = first["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(listed, [&json!(ids[0]), &json!(ids[1])]);
    let after = first["next"].as_str().unwrap();
    let rest = body(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/admin/reports?limit=2&after={after}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["reports"][0]["id"], ids[2].as_str());
    assert_eq!(rest["next"], Value::Null);

    let close = |status: &str| json!({"status": status, "note": "handled"});
    let path = format!("/admin/reports/{}/resolve", ids[0]);
    let by_user = call(&app, &bob, Method::POST, &path, Some(close("dismissed"))).await;
    assert_eq!(
        error_code(by_user, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
    let closed = body(
        call(&app, &admin, Method::POST, &path, Some(close("dismissed"))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(closed["report"]["status"], "dismissed");
    assert_eq!(closed["report"]["resolved_by"], admin.id.as_str());
    assert_eq!(closed["report"]["resolution"], "handled");
    let again = call(&app, &admin, Method::POST, &path, Some(close("resolved"))).await;
    assert_eq!(error_code(again, StatusCode::NOT_FOUND).await, "not_found");
    let reopen = format!("/admin/reports/{}/resolve", ids[1]);
    let reopen = call(&app, &admin, Method::POST, &reopen, Some(close("open"))).await;
    assert_eq!(
        error_code(reopen, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
    let too_many = call(&app, &admin, Method::GET, "/admin/reports?limit=201", None).await;
    assert_eq!(
        error_code(too_many, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );

    // A deleted message can no longer be reported.
    let mut deletion = sent["message"].clone();
    deletion = json!({"conversation": deletion["conversation"], "seq": deletion["seq"]});
    let deleted = alices.request("message:delete", deletion).await.unwrap();
    assert_eq!(deleted["ok"], true, "{deleted}");
    let late = call(
        &app,
        &bob,
        Method::POST,
        "/reports",
        Some(report("gone", seq)),
    )
    .await;
    assert_eq!(error_code(late, StatusCode::NOT_FOUND).await, "not_found");
    let dismissed = body(
        call(
            &app,
            &admin,
            Method::GET,
            "/admin/reports?status=dismissed",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(dismissed["reports"][0]["id"], ids[0].as_str());

    // The log pages newest first, and cannot be changed through the API.
    let page = body(
        call(&app, &admin, Method::GET, "/admin/audit?limit=1", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["entries"][0]["action"], "report.close");
    assert_eq!(
        page["entries"][0]["detail"],
        json!({"status": "dismissed", "note": "handled"})
    );
    let before = page["next"].as_str().unwrap();
    let older = body(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/admin/audit?limit=1&before={before}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(older["entries"][0]["action"], "admin.grant");
    let entry = page["entries"][0]["id"].as_str().unwrap();
    for method in [Method::DELETE, Method::PUT, Method::PATCH] {
        for path in ["/admin/audit".to_owned(), format!("/admin/audit/{entry}")] {
            let reply = call(&app, &admin, method.clone(), &path, Some(json!({}))).await;
            assert!(!reply.status().is_success(), "{method} {path}");
        }
    }
    assert_eq!(
        audit_actions(&app, &admin).await,
        ["report.close", "admin.grant"]
    );
}

/// A session that slipped past a disable (its login was under way) ends at its next
/// refresh, and disabling the account again ends it too.
#[actix_web::test]
async fn no_session_outlives_a_disable_it_raced() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = admin_named(&app, "root").await;
    let [bob] = users(&app, ["bob"]).await;
    let phone: Value = body(login(&app, "bob").await, StatusCode::OK).await;
    // As if both sessions were started after the disable had ended the others.
    confab_entities::user::Entity::update_many()
        .col_expr(
            confab_entities::user::Column::DisabledAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(confab_entities::user::Column::Id.eq(bob.id.as_str()))
        .exec(&app.db)
        .await
        .unwrap();

    let refresh = app
        .post(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": phone["refresh_token"]}),
        )
        .await;
    assert_eq!(
        error_code(refresh, StatusCode::FORBIDDEN).await,
        "account_disabled"
    );
    let token = phone["token"].as_str().unwrap();
    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(
        error_code(me, StatusCode::FORBIDDEN).await,
        "account_disabled"
    );

    assert_eq!(
        call(&app, &bob, Method::GET, "/me", None).await.status(),
        StatusCode::OK
    );
    let again = call(
        &app,
        &admin,
        Method::POST,
        &format!("/admin/users/{}/disable", bob.id),
        None,
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK);
    let me = call(&app, &bob, Method::GET, "/me", None).await;
    assert_eq!(
        error_code(me, StatusCode::FORBIDDEN).await,
        "account_disabled"
    );
}
