//! Contacts: requests, answers and removal, crossing requests, blocks, that nobody sees or
//! answers another user's requests, and `contact:updated` over Socket.IO.

use confab_testkit::Backend;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::{User, body, call, connect, users};
use crate::helpers::{TestApp, error_code, on_every_backend};

on_every_backend!(
    contact_requests_are_accepted_declined_and_removed,
    crossing_requests_accept_each_other,
    blocking_refuses_requests_and_ends_the_contact,
    nobody_sees_or_answers_another_users_requests,
);

async fn contacts(app: &TestApp, who: &User) -> Value {
    body(
        call(app, who, Method::GET, "/contacts", None).await,
        StatusCode::OK,
    )
    .await
}

/// The ids of the users in a list of `{user}` entries.
fn ids(entries: &Value) -> Vec<String> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["user"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn ask(app: &TestApp, from: &User, to: &User) -> Response {
    call(
        app,
        from,
        Method::POST,
        "/contacts/requests",
        Some(json!({"user_id": to.id})),
    )
    .await
}

async fn answer(app: &TestApp, who: &User, request: &str, verb: &str) -> Response {
    call(
        app,
        who,
        Method::POST,
        &format!("/contacts/requests/{request}/{verb}"),
        None,
    )
    .await
}

async fn contact_requests_are_accepted_declined_and_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let [ann, bob, cat] = users(&app, ["ann", "bob", "cat"]).await;
    let asked = body(ask(&app, &ann, &bob).await, StatusCode::CREATED).await;
    let request = asked["request"]["id"].as_str().unwrap().to_owned();
    assert_eq!(asked["request"]["user"]["id"], bob.id.as_str());
    assert_eq!(asked["request"]["user"]["username"], "bob");
    assert_eq!(
        contacts(&app, &bob).await["incoming"][0]["id"],
        request.as_str()
    );
    assert_eq!(
        ids(&contacts(&app, &bob).await["incoming"]),
        [ann.id.as_str()]
    );
    assert_eq!(
        ids(&contacts(&app, &ann).await["outgoing"]),
        [bob.id.as_str()]
    );

    let twice = ask(&app, &ann, &bob).await;
    assert_eq!(error_code(twice, StatusCode::CONFLICT).await, "conflict");
    let to_self = ask(&app, &ann, &ann).await;
    assert_eq!(
        error_code(to_self, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
    let to_nobody = call(
        &app,
        &ann,
        Method::POST,
        "/contacts/requests",
        Some(json!({"user_id": "nobody"})),
    )
    .await;
    assert_eq!(
        error_code(to_nobody, StatusCode::NOT_FOUND).await,
        "not_found"
    );

    let accepted = body(answer(&app, &bob, &request, "accept").await, StatusCode::OK).await;
    assert_eq!(accepted["contact"]["status"], "contact");
    assert_eq!(accepted["contact"]["user"]["id"], ann.id.as_str());
    let (anns, bobs) = (contacts(&app, &ann).await, contacts(&app, &bob).await);
    assert_eq!(ids(&anns["contacts"]), [bob.id.as_str()]);
    assert_eq!(ids(&bobs["contacts"]), [ann.id.as_str()]);
    assert!(
        anns["outgoing"].as_array().unwrap().is_empty()
            && bobs["incoming"].as_array().unwrap().is_empty()
    );
    let already = ask(&app, &bob, &ann).await;
    assert_eq!(error_code(already, StatusCode::CONFLICT).await, "conflict");

    let removed = call(
        &app,
        &bob,
        Method::DELETE,
        &format!("/contacts/{}", ann.id),
        None,
    )
    .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert!(
        ids(&contacts(&app, &ann).await["contacts"]).is_empty(),
        "removed both ways"
    );
    let again = call(
        &app,
        &bob,
        Method::DELETE,
        &format!("/contacts/{}", ann.id),
        None,
    )
    .await;
    assert_eq!(error_code(again, StatusCode::NOT_FOUND).await, "not_found");

    let asked = body(ask(&app, &cat, &ann).await, StatusCode::CREATED).await;
    let request = asked["request"]["id"].as_str().unwrap();
    let declined = body(answer(&app, &ann, request, "decline").await, StatusCode::OK).await;
    assert_eq!(declined["contact"]["status"], "none");
    assert!(ids(&contacts(&app, &cat).await["outgoing"]).is_empty());
    assert!(ids(&contacts(&app, &ann).await["contacts"]).is_empty());
    assert_eq!(
        ask(&app, &cat, &ann).await.status(),
        StatusCode::CREATED,
        "may ask again after a no"
    );
}

async fn crossing_requests_accept_each_other(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let [ann, bob] = users(&app, ["ann", "bob"]).await;
    let first = body(ask(&app, &ann, &bob).await, StatusCode::CREATED).await;
    let crossing = body(ask(&app, &bob, &ann).await, StatusCode::OK).await;
    assert_eq!(
        crossing["request"]["id"], first["request"]["id"],
        "ann's request, accepted"
    );
    assert_eq!(crossing["request"]["status"], "accepted");
    assert_eq!(
        ids(&contacts(&app, &ann).await["contacts"]),
        [bob.id.as_str()]
    );
    let bobs = contacts(&app, &bob).await;
    assert_eq!(ids(&bobs["contacts"]), [ann.id.as_str()]);
    assert!(
        bobs["incoming"].as_array().unwrap().is_empty()
            && bobs["outgoing"].as_array().unwrap().is_empty()
    );
}

async fn blocking_refuses_requests_and_ends_the_contact(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let [ann, bob, cat] = users(&app, ["ann", "bob", "cat"]).await;
    let asked = body(ask(&app, &ann, &bob).await, StatusCode::CREATED).await;
    answer(
        &app,
        &bob,
        asked["request"]["id"].as_str().unwrap(),
        "accept",
    )
    .await;
    assert_eq!(ask(&app, &cat, &ann).await.status(), StatusCode::CREATED);

    for blocked in [&bob, &cat] {
        let path = format!("/blocks/{}", blocked.id);
        assert_eq!(
            call(&app, &ann, Method::PUT, &path, None).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    let anns = contacts(&app, &ann).await;
    assert!(ids(&anns["contacts"]).is_empty(), "the contact ended");
    assert!(
        anns["incoming"].as_array().unwrap().is_empty(),
        "cat's request declined"
    );
    assert_eq!(ids(&anns["blocked"]), [bob.id.as_str(), cat.id.as_str()]);
    let bobs = contacts(&app, &bob).await;
    assert!(ids(&bobs["contacts"]).is_empty(), "ended both ways");
    assert!(
        bobs.get("blocked").is_some_and(|list| ids(list).is_empty()),
        "bob is not told"
    );
    assert!(ids(&contacts(&app, &cat).await["outgoing"]).is_empty());

    for (from, to) in [(&bob, &ann), (&ann, &bob), (&cat, &ann)] {
        assert_eq!(
            error_code(ask(&app, from, to).await, StatusCode::FORBIDDEN).await,
            "blocked"
        );
    }
    let again = call(
        &app,
        &ann,
        Method::PUT,
        &format!("/blocks/{}", bob.id),
        None,
    )
    .await;
    assert_eq!(
        again.status(),
        StatusCode::NO_CONTENT,
        "blocking twice changes nothing"
    );

    let unblock_path = format!("/blocks/{}", bob.id);
    let unblock = async || call(&app, &ann, Method::DELETE, &unblock_path, None).await;
    assert_eq!(unblock().await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        error_code(unblock().await, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    assert_eq!(
        ids(&contacts(&app, &ann).await["blocked"]),
        [cat.id.as_str()]
    );
    assert_eq!(ask(&app, &bob, &ann).await.status(), StatusCode::CREATED);
}

async fn nobody_sees_or_answers_another_users_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let [ann, bob, eve] = users(&app, ["ann", "bob", "eve"]).await;
    let asked = body(ask(&app, &ann, &bob).await, StatusCode::CREATED).await;
    let request = asked["request"]["id"].as_str().unwrap();
    let eves = contacts(&app, &eve).await;
    assert!(
        eves["incoming"].as_array().unwrap().is_empty()
            && eves["outgoing"].as_array().unwrap().is_empty()
    );
    for (who, verb) in [
        (&eve, "accept"),
        (&eve, "decline"),
        (&ann, "accept"),
        (&ann, "decline"),
    ] {
        let refused = answer(&app, who, request, verb).await;
        assert_eq!(
            error_code(refused, StatusCode::NOT_FOUND).await,
            "not_found",
            "{verb}"
        );
    }
    let made_up = answer(&app, &bob, "no-such-request", "accept").await;
    assert_eq!(
        error_code(made_up, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    assert_eq!(
        answer(&app, &bob, request, "accept").await.status(),
        StatusCode::OK
    );
    let twice = answer(&app, &bob, request, "decline").await;
    assert_eq!(
        error_code(twice, StatusCode::NOT_FOUND).await,
        "not_found",
        "no longer pending"
    );
    assert!(ids(&contacts(&app, &eve).await["contacts"]).is_empty());
}

#[actix_web::test]
async fn contact_changes_are_pushed_and_a_blocked_user_is_not_told() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let [ann, bob] = users(&app, ["ann", "bob"]).await;
    let (mut anns, mut bobs) = (connect(&app, &ann).await, connect(&app, &bob).await);
    let asked = bobs
        .request("contact:request", json!({"user_id": ann.id}))
        .await
        .unwrap();
    assert_eq!(asked["ok"], true, "{asked}");
    let pending = anns.next("contact:updated").await.unwrap();
    assert_eq!(
        (&pending["user"]["id"], &pending["status"]),
        (&json!(bob.id), &json!("pending_in"))
    );
    assert_eq!(
        bobs.next("contact:updated").await.unwrap()["status"],
        "pending_out"
    );

    let accepted = anns
        .request("contact:accept", json!({"id": asked["request"]["id"]}))
        .await
        .unwrap();
    assert_eq!(accepted["contact"]["status"], "contact");
    assert_eq!(
        bobs.next("contact:updated").await.unwrap()["status"],
        "contact"
    );
    assert_eq!(
        anns.next("contact:updated").await.unwrap()["status"],
        "contact"
    );

    let blocked = anns
        .request("contact:block", json!({"user_id": bob.id}))
        .await
        .unwrap();
    assert_eq!(blocked, json!({"ok": true}));
    assert_eq!(
        anns.next("contact:updated").await.unwrap()["status"],
        "blocked"
    );
    let bob_sees = bobs.next("contact:updated").await.unwrap();
    assert_eq!(
        (&bob_sees["user"]["id"], &bob_sees["status"]),
        (&json!(ann.id), &json!("none"))
    );
    let listed = anns.request("contact:list", json!({})).await.unwrap();
    assert_eq!(ids(&listed["blocked"]), [bob.id.as_str()]);
}
