//! Groups: who may manage them, who may see and join them, leaving and dissolving, the
//! member limit, and `group:updated` with routing over Socket.IO.

use confab_entities::{conversation, group};
use confab_testkit::Backend;
use reqwest::{Method, Response, StatusCode};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use super::{User, body, call, connect, friends, users};
use crate::helpers::{TestApp, error_code, on_every_backend};

async fn create_group(app: &TestApp, owner: &User, members: &[&User], public: bool) -> String {
    let members: Vec<&str> = members.iter().map(|member| member.id.as_str()).collect();
    let body = json!({"name": "crew", "members": members, "public": public});
    let reply = call(app, owner, Method::POST, "/groups", Some(body)).await;
    let created = self::body(reply, StatusCode::CREATED).await;
    created["group"]["id"].as_str().unwrap().to_owned()
}

async fn get_group(app: &TestApp, who: &User, id: &str) -> Value {
    let reply = call(app, who, Method::GET, &format!("/groups/{id}"), None).await;
    body(reply, StatusCode::OK).await["group"].clone()
}

fn role_of(group: &Value, who: &User) -> Option<String> {
    group["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|member| member["user"] == who.id.as_str())
        .map(|member| member["role"].as_str().unwrap().to_owned())
}

async fn set_role(app: &TestApp, who: &User, group: &str, target: &User, role: &str) -> Response {
    let path = format!("/groups/{group}/members/{}/role", target.id);
    call(app, who, Method::PUT, &path, Some(json!({"role": role}))).await
}

on_every_backend!(
    the_role_matrix_decides_who_may_manage_a_group,
    public_groups_are_joinable_and_private_ones_invisible,
    an_owner_leaving_hands_over_and_the_last_member_dissolves,
    the_directory_finds_public_groups_by_name_and_leaves_private_ones_out,
);

/// One management request of the matrix.
enum Op<'a> {
    Add(&'a User),
    AddUnknown,
    Remove(&'a User),
    Rename(&'a str),
    SetRole(&'a User, &'a str),
    Delete,
}

/// What a request should get: a success status, or an error status and code.
type Expected = Result<StatusCode, (StatusCode, &'static str)>;

const OK: Expected = Ok(StatusCode::OK);
const FORBIDDEN: Expected = Err((StatusCode::FORBIDDEN, "forbidden"));
const NOT_FOUND: Expected = Err((StatusCode::NOT_FOUND, "not_found"));
const CONFLICT: Expected = Err((StatusCode::CONFLICT, "conflict"));
const INVALID: Expected = Err((StatusCode::BAD_REQUEST, "invalid_request"));
const UNPARSABLE: Expected = Err((StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"));

async fn perform(app: &TestApp, caller: &User, group: &str, op: &Op<'_>) -> Response {
    let base = format!("/groups/{group}");
    let (method, path, body) = match op {
        Op::Add(user) => (
            Method::POST,
            format!("{base}/members"),
            Some(json!({"user_id": user.id})),
        ),
        Op::AddUnknown => (
            Method::POST,
            format!("{base}/members"),
            Some(json!({"user_id": "nobody"})),
        ),
        Op::Remove(user) => (Method::DELETE, format!("{base}/members/{}", user.id), None),
        Op::Rename(name) => (Method::PATCH, base, Some(json!({"name": name}))),
        Op::SetRole(user, role) => {
            return set_role(app, caller, group, user, role).await;
        }
        Op::Delete => (Method::DELETE, base, None),
    };
    call(app, caller, method, &path, body).await
}

async fn the_role_matrix_decides_who_may_manage_a_group(backend: Backend) {
    use Op::*;
    let app = TestApp::spawn(backend).await;
    let names = [
        "owner", "admin", "admin2", "member", "member2", "outsider", "new", "new2",
    ];
    let [owner, admin, admin2, member, member2, outsider, new, new2] = &friends(&app, names).await;
    let id = create_group(&app, owner, &[admin, admin2, member, member2], false).await;
    for promoted in [admin, admin2] {
        let promotion = set_role(&app, owner, &id, promoted, "admin").await;
        assert_eq!(promotion.status(), StatusCode::OK);
    }
    let long_name = "x".repeat(129);
    // In order: the allowed rows change the group.
    let matrix = [
        (member, Add(new), FORBIDDEN),
        (outsider, Add(new), NOT_FOUND),
        (admin, Add(new), OK),
        (owner, Add(new2), OK),
        (owner, Add(new), CONFLICT),
        (owner, AddUnknown, NOT_FOUND),
        (member, Remove(member2), FORBIDDEN),
        (outsider, Remove(member2), NOT_FOUND),
        (admin, Remove(owner), FORBIDDEN),
        (admin, Remove(admin2), FORBIDDEN),
        (admin, Remove(outsider), NOT_FOUND),
        (admin, Remove(new), OK),
        (owner, Remove(owner), FORBIDDEN),
        (owner, Remove(admin2), OK),
        (member, Rename("mine"), FORBIDDEN),
        (outsider, Rename("mine"), NOT_FOUND),
        (admin, Rename("   "), INVALID),
        (owner, Rename(&long_name), INVALID),
        (admin, Rename(" by admin "), OK),
        (owner, Rename("by owner"), OK),
        (admin, SetRole(member, "admin"), FORBIDDEN),
        (member, SetRole(member, "admin"), FORBIDDEN),
        (outsider, SetRole(member, "admin"), NOT_FOUND),
        (owner, SetRole(owner, "member"), FORBIDDEN),
        (owner, SetRole(outsider, "admin"), NOT_FOUND),
        (owner, SetRole(member, "king"), UNPARSABLE),
        (owner, SetRole(member, "admin"), OK),
        (owner, SetRole(member, "member"), OK),
        (member, Delete, FORBIDDEN),
        (admin, Delete, FORBIDDEN),
        (outsider, Delete, NOT_FOUND),
    ];
    for (row, (caller, op, expected)) in matrix.iter().enumerate() {
        let reply = perform(&app, caller, &id, op).await;
        match expected {
            Ok(status) => assert_eq!(
                reply.status(),
                *status,
                "row {row}: {}",
                reply.text().await.unwrap()
            ),
            Err((status, code)) => assert_eq!(error_code(reply, *status).await, *code, "row {row}"),
        }
    }

    let after = get_group(&app, owner, &id).await;
    assert_eq!(after["name"], "by owner");
    let roles = [
        (admin, Some("admin")),
        (member, Some("member")),
        (new2, Some("member")),
    ];
    for (who, role) in roles.into_iter().chain([(new, None), (admin2, None)]) {
        assert_eq!(role_of(&after, who).as_deref(), role);
    }

    let deleted = perform(&app, owner, &id, &Delete).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = call(&app, owner, Method::GET, &format!("/groups/{id}"), None).await;
    assert_eq!(error_code(gone, StatusCode::NOT_FOUND).await, "not_found");
    let conversation = conversation::Entity::find_by_id(format!("g:{id}"));
    assert!(
        conversation.one(&app.db).await.unwrap().is_none(),
        "the conversation goes too"
    );
}

#[actix_web::test]
async fn setting_the_owner_role_hands_the_group_over() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let [owner, heir] = friends(&app, ["owner", "heir"]).await;
    let id = create_group(&app, &owner, &[&heir], false).await;
    let handed = body(
        set_role(&app, &owner, &id, &heir, "owner").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(handed["group"]["owner"], heir.id.as_str());
    assert_eq!(role_of(&handed["group"], &heir).as_deref(), Some("owner"));
    assert_eq!(role_of(&handed["group"], &owner).as_deref(), Some("admin"));
    let refused = set_role(&app, &owner, &id, &heir, "member").await;
    assert_eq!(
        error_code(refused, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
    let back = set_role(&app, &heir, &id, &owner, "owner").await;
    assert_eq!(back.status(), StatusCode::OK);
}

async fn public_groups_are_joinable_and_private_ones_invisible(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let [owner, member, passer] = friends(&app, ["owner", "member", "passer"]).await;
    let public = create_group(&app, &owner, &[], true).await;
    let private = create_group(&app, &owner, &[&member], false).await;
    let created = conversation::Entity::find_by_id(format!("g:{private}"))
        .one(&app.db)
        .await
        .unwrap();
    assert!(
        created.is_some(),
        "a group's conversation is created with it"
    );

    assert_eq!(get_group(&app, &passer, &public).await["public"], true);
    let joined = body(
        call(
            &app,
            &passer,
            Method::POST,
            &format!("/groups/{public}/join"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        role_of(&joined["group"], &passer).as_deref(),
        Some("member")
    );
    let again = call(
        &app,
        &passer,
        Method::POST,
        &format!("/groups/{public}/join"),
        None,
    )
    .await;
    assert_eq!(error_code(again, StatusCode::CONFLICT).await, "conflict");
    let listed = body(
        call(&app, &passer, Method::GET, "/groups", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["groups"].as_array().unwrap().len(), 1);
    assert_eq!(listed["groups"][0]["id"], public.as_str());

    for (method, path) in [
        (Method::GET, format!("/groups/{private}")),
        (Method::POST, format!("/groups/{private}/join")),
    ] {
        let hidden = call(&app, &passer, method, &path, None).await;
        assert_eq!(
            error_code(hidden, StatusCode::NOT_FOUND).await,
            "not_found",
            "{path}"
        );
    }
    let member_joins = call(
        &app,
        &member,
        Method::POST,
        &format!("/groups/{private}/join"),
        None,
    )
    .await;
    assert_eq!(
        error_code(member_joins, StatusCode::CONFLICT).await,
        "conflict"
    );
    let mine = body(
        call(&app, &owner, Method::GET, "/groups", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(mine["groups"].as_array().unwrap().len(), 2);
}

async fn an_owner_leaving_hands_over_and_the_last_member_dissolves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let [owner, elder, admin, junior] = &friends(&app, ["owner", "elder", "admin", "junior"]).await;
    let id = create_group(&app, owner, &[elder], false).await;
    for newcomer in [admin, junior] {
        let added = call(
            &app,
            owner,
            Method::POST,
            &format!("/groups/{id}/members"),
            Some(json!({"user_id": newcomer.id})),
        )
        .await;
        assert_eq!(added.status(), StatusCode::OK);
    }
    assert_eq!(
        set_role(&app, owner, &id, admin, "admin").await.status(),
        StatusCode::OK
    );
    let leave_path = format!("/groups/{id}/leave");
    let leave = async |who: &User| call(&app, who, Method::POST, &leave_path, None).await;

    // The admin is preferred to an older plain member; then age decides.
    for (leaver, heir) in [(owner, admin), (admin, elder), (elder, junior)] {
        assert_eq!(leave(leaver).await.status(), StatusCode::NO_CONTENT);
        let group = get_group(&app, heir, &id).await;
        assert_eq!(group["owner"], heir.id.as_str());
        assert_eq!(role_of(&group, heir).as_deref(), Some("owner"));
        assert_eq!(role_of(&group, leaver), None);
    }
    let not_member = leave(owner).await;
    assert_eq!(
        error_code(not_member, StatusCode::NOT_FOUND).await,
        "not_found"
    );

    assert_eq!(leave(junior).await.status(), StatusCode::NO_CONTENT);
    let gone = call(&app, junior, Method::GET, &format!("/groups/{id}"), None).await;
    assert_eq!(error_code(gone, StatusCode::NOT_FOUND).await, "not_found");
    assert_eq!(group::Entity::find().count(&app.db).await.unwrap(), 0);
    assert_eq!(
        conversation::Entity::find().count(&app.db).await.unwrap(),
        0
    );
}

#[actix_web::test]
async fn a_full_group_refuses_members_with_group_full() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| settings.max_group_members = 3).await;
    let [owner, one, two, three] = &friends(&app, ["owner", "one", "two", "three"]).await;
    let body = json!({"name": "big", "members": [one.id, two.id, three.id]});
    let too_many = call(&app, owner, Method::POST, "/groups", Some(body)).await;
    assert_eq!(
        error_code(too_many, StatusCode::CONFLICT).await,
        "group_full"
    );
    assert_eq!(group::Entity::find().count(&app.db).await.unwrap(), 0);

    let id = create_group(&app, owner, &[one, two], true).await;
    let add = call(
        &app,
        owner,
        Method::POST,
        &format!("/groups/{id}/members"),
        Some(json!({"user_id": three.id})),
    )
    .await;
    assert_eq!(error_code(add, StatusCode::CONFLICT).await, "group_full");
    let join = call(
        &app,
        three,
        Method::POST,
        &format!("/groups/{id}/join"),
        None,
    )
    .await;
    assert_eq!(error_code(join, StatusCode::CONFLICT).await, "group_full");
    assert_eq!(
        call(
            &app,
            two,
            Method::POST,
            &format!("/groups/{id}/leave"),
            None
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    let join = call(
        &app,
        three,
        Method::POST,
        &format!("/groups/{id}/join"),
        None,
    )
    .await;
    assert_eq!(
        join.status(),
        StatusCode::OK,
        "room again once someone left"
    );
}

fn send_to_group(group: &str, body: &str) -> Value {
    json!({"to": {"group": group}, "body": body, "client_msg_id": body})
}

#[actix_web::test]
async fn group_changes_reach_members_at_once_over_socket_io() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let [ann, bob, cat] = friends(&app, ["ann", "bob", "cat"]).await;
    let (mut anns, mut bobs, mut cats) = (
        connect(&app, &ann).await,
        connect(&app, &bob).await,
        connect(&app, &cat).await,
    );

    let created = anns
        .request("group:create", json!({"name": "room", "members": [bob.id]}))
        .await
        .unwrap();
    assert_eq!(created["ok"], true, "{created}");
    let id = created["group"]["id"].as_str().unwrap().to_owned();
    assert_eq!(bobs.next("group:updated").await.unwrap(), created["group"]);

    let hidden = cats
        .request("group:get", json!({"group": id}))
        .await
        .unwrap();
    assert_eq!(hidden["error"]["code"], "not_found", "{hidden}");
    let added = anns
        .request("group:add_member", json!({"group": id, "user_id": cat.id}))
        .await
        .unwrap();
    assert_eq!(cats.next("group:updated").await.unwrap(), added["group"]);
    let first = anns
        .request("message:send", send_to_group(&id, "one"))
        .await
        .unwrap();
    assert_eq!(
        cats.next("message:new").await.unwrap(),
        first["message"],
        "added without reconnecting"
    );

    let removed = anns
        .request(
            "group:remove_member",
            json!({"group": id, "user_id": cat.id}),
        )
        .await
        .unwrap();
    let told = cats.next("group:updated").await.unwrap();
    assert_eq!(told, removed["group"], "the removed user learns it");
    assert!(role_of(&told, &cat).is_none());
    let second = anns
        .request("message:send", send_to_group(&id, "two"))
        .await
        .unwrap();
    bobs.next("message:new").await.unwrap();
    assert_eq!(bobs.next("message:new").await.unwrap(), second["message"]);
    cats.request("presence:query", json!({"users": []}))
        .await
        .unwrap();
    assert_eq!(
        cats.received("message:new").len(),
        0,
        "removed: nothing more"
    );

    let dissolved = anns
        .request("group:delete", json!({"group": id}))
        .await
        .unwrap();
    assert_eq!(dissolved, json!({"ok": true}));
    let mut last = bobs.next("group:updated").await.unwrap();
    while last.get("dissolved").is_none() {
        last = bobs.next("group:updated").await.unwrap();
    }
    assert_eq!(last, json!({"id": id, "dissolved": true}));
}

/// `who` creates a group with `members`.
async fn create(app: &TestApp, who: &User, members: Vec<&str>, public: bool) -> Response {
    let body = json!({"name": "g", "members": members, "public": public});
    call(app, who, Method::POST, "/groups", Some(body)).await
}

/// Nobody is put in a group by a stranger or by someone they blocked, nobody is in more
/// groups than a user may be, and creations and additions are rate-limited.
#[actix_web::test]
async fn only_contacts_are_added_and_nobody_is_buried_in_groups() {
    use sea_orm::{ActiveModelTrait, Set};
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.max_groups_per_user = 2;
        settings.group_changes_per_minute = 5;
    })
    .await;
    let [owner, friend, other] = &friends(&app, ["owner", "friend", "other"]).await;
    let [stranger, blocker] = &users(&app, ["stranger", "blocker"]).await;
    let id_of = |created: Value| created["group"]["id"].as_str().unwrap().to_owned();
    // 1: a stranger cannot be added.
    let refused = create(&app, owner, vec![&friend.id, &stranger.id], false).await;
    assert_eq!(
        error_code(refused, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
    // 2: nor someone who blocked the adder.
    confab_entities::block::ActiveModel {
        user_id: Set(blocker.id.clone()),
        blocked_id: Set(owner.id.clone()),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let refused = create(&app, owner, vec![&blocker.id], false).await;
    assert_eq!(error_code(refused, StatusCode::FORBIDDEN).await, "blocked");
    assert_eq!(group::Entity::find().count(&app.db).await.unwrap(), 0);

    // 3, 4: two groups each, no more; 5: the owner's third is refused.
    let first = create(&app, owner, vec![&friend.id], false).await;
    body(first, StatusCode::CREATED).await;
    let second = create(&app, owner, vec![], false).await;
    body(second, StatusCode::CREATED).await;
    let third = create(&app, owner, vec![], false).await;
    assert_eq!(
        error_code(third, StatusCode::CONFLICT).await,
        "too_many_groups"
    );
    // Whoever is added is counted too: the friend, in a group already, creates a second;
    // another contact cannot put them in a third.
    let public = id_of(
        body(
            create(&app, friend, vec![], true).await,
            StatusCode::CREATED,
        )
        .await,
    );
    let others = id_of(
        body(
            create(&app, other, vec![], false).await,
            StatusCode::CREATED,
        )
        .await,
    );
    let add = call(
        &app,
        other,
        Method::POST,
        &format!("/groups/{others}/members"),
        Some(json!({"user_id": friend.id})),
    )
    .await;
    assert_eq!(
        error_code(add, StatusCode::CONFLICT).await,
        "too_many_groups"
    );
    // A stranger joins a public group by their own choice.
    let joined = call(
        &app,
        stranger,
        Method::POST,
        &format!("/groups/{public}/join"),
        None,
    )
    .await;
    assert_eq!(joined.status(), StatusCode::OK);
    // Five creations and additions a minute: the owner's sixth is refused before anything.
    let limited = create(&app, owner, vec![], false).await;
    assert_eq!(
        error_code(limited, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
}

async fn the_directory_finds_public_groups_by_name_and_leaves_private_ones_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let [alice, bob] = friends(&app, ["alice", "bob"]).await;
    let [carol] = users(&app, ["carol"]).await;
    let mut ids = Vec::new();
    for (name, public) in [
        ("Rust fans", true),
        ("Rusts_club", true),
        ("Rust secret", false),
        ("Go", true),
    ] {
        let body = json!({"name": name, "members": [bob.id], "public": public});
        let reply = call(&app, &alice, Method::POST, "/groups", Some(body)).await;
        ids.push(self::body(reply, StatusCode::CREATED).await["group"]["id"].clone());
    }
    let found = call(&app, &carol, Method::GET, "/groups/public?q=RUST", None).await;
    let found = body(found, StatusCode::OK).await;
    assert_eq!(
        found["groups"],
        json!([
            {"id": ids[0], "name": "Rust fans", "members": 2},
            {"id": ids[1], "name": "Rusts_club", "members": 2},
        ])
    );
    // The LIKE wildcards are literal. (The names sort the same under any collation.)
    let literal = body(
        call(&app, &carol, Method::GET, "/groups/public?q=s_", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(literal["groups"].as_array().unwrap().len(), 1, "{literal}");
    let page = body(
        call(
            &app,
            &carol,
            Method::GET,
            "/groups/public?limit=1&offset=1",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["groups"][0]["name"], "Rust fans");
    let bad = call(&app, &carol, Method::GET, "/groups/public?limit=0", None).await;
    assert_eq!(
        error_code(bad, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );

    // Found, then joined; the same over Socket.IO.
    let joined = call(
        &app,
        &carol,
        Method::POST,
        &format!("/groups/{}/join", ids[0].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(joined.status(), StatusCode::OK);
    let mut socket = connect(&app, &carol).await;
    let over_socket = socket
        .request("group:directory", json!({"q": "fans"}))
        .await
        .unwrap();
    assert_eq!(over_socket["groups"][0]["members"], 3, "{over_socket}");
}
