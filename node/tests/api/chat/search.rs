//! Full-text search on every backend: only the caller's conversations, ranked and paged,
//! with a snippet; edits re-indexed, deleted messages never found.

use confab_testkit::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{connect, group_of, send, user};
use crate::helpers::{TestApp, on_every_backend};

on_every_backend!(
    search_finds_only_what_the_caller_can_read_and_follows_edits_and_deletions,
    search_pages_and_refuses_empty_queries,
);

/// The bodies of a search's results, in order.
fn bodies(reply: &Value) -> Vec<&str> {
    reply["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"))
        .iter()
        .map(|hit| hit["message"]["body"].as_str().unwrap())
        .collect()
}

async fn search_finds_only_what_the_caller_can_read_and_follows_edits_and_deletions(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, carol) = (
        user(&app, "alice").await,
        user(&app, "bob").await,
        user(&app, "carol").await,
    );
    let group = group_of(&app, &alice, &[&bob]).await;
    let mut alices = connect(&app.address, &alice).await;
    let mut carols = connect(&app.address, &carol).await;
    let sends = [
        send(&bob, "The Quarterly report is ready", "d-1"),
        json!({"to": {"group": group}, "body": "quarterly numbers look fine", "client_msg_id": "g-1"}),
        send(&bob, "lunch tomorrow?", "d-2"),
    ];
    for request in sends {
        let ack = alices.request("message:send", request).await.unwrap();
        assert_eq!(ack["ok"], true, "{ack}");
    }
    let private = carols
        .request(
            "message:send",
            send(&bob, "quarterly secret of carol", "c-1"),
        )
        .await
        .unwrap();
    assert_eq!(private["ok"], true);

    // Prefixes match, case does not matter; carol's conversation with bob is not alice's.
    let found = alices
        .request("search", json!({"query": "QUARTER"}))
        .await
        .unwrap();
    let mut found_bodies = bodies(&found);
    found_bodies.sort_unstable();
    assert_eq!(
        found_bodies,
        [
            "The Quarterly report is ready",
            "quarterly numbers look fine"
        ],
        "{found}"
    );
    let hit = &found["results"][0]["snippet"];
    assert!(
        hit.as_array()
            .unwrap()
            .iter()
            .any(|part| part["hit"] == true
                && part["text"]
                    .as_str()
                    .unwrap()
                    .eq_ignore_ascii_case("quarterly")),
        "{hit}"
    );
    // Two letters match whole words only; three begin words too.
    let short = alices
        .request("search", json!({"query": "qu"}))
        .await
        .unwrap();
    assert_eq!(bodies(&short), Vec::<&str>::new(), "{short}");
    // Every term must match; one conversation only when asked.
    let both = alices
        .request("search", json!({"query": "quarterly report"}))
        .await
        .unwrap();
    assert_eq!(bodies(&both), ["The Quarterly report is ready"]);
    let in_group = alices
        .request(
            "search",
            json!({"query": "quarterly", "conversation": format!("g:{group}")}),
        )
        .await
        .unwrap();
    assert_eq!(bodies(&in_group), ["quarterly numbers look fine"]);
    let elsewhere = carols
        .request(
            "search",
            json!({"query": "quarterly", "conversation": format!("g:{group}")}),
        )
        .await
        .unwrap();
    assert_eq!(elsewhere["error"]["code"], "not_found", "{elsewhere}");

    // An edit is found by its new words only; a deleted message is never found.
    let lunch = alices
        .request("search", json!({"query": "lunch"}))
        .await
        .unwrap();
    let lunch = &lunch["results"][0]["message"];
    let edit = json!({"conversation": lunch["conversation"], "seq": lunch["seq"], "body": "dinner tomorrow?"});
    let edited = alices.request("message:edit", edit).await.unwrap();
    assert_eq!(edited["ok"], true, "{edited}");
    let old_words = alices
        .request("search", json!({"query": "lunch"}))
        .await
        .unwrap();
    assert_eq!(bodies(&old_words), Vec::<&str>::new());
    let new_words = alices
        .request("search", json!({"query": "dinner"}))
        .await
        .unwrap();
    assert_eq!(bodies(&new_words), ["dinner tomorrow?"]);
    let mut gone = json!({"conversation": lunch["conversation"], "seq": lunch["seq"]});
    let deleted = alices.request("message:delete", gone.take()).await.unwrap();
    assert_eq!(deleted["ok"], true, "{deleted}");
    let after = alices
        .request("search", json!({"query": "dinner"}))
        .await
        .unwrap();
    assert_eq!(bodies(&after), Vec::<&str>::new());
}

async fn search_pages_and_refuses_empty_queries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut alices = connect(&app.address, &alice).await;
    for n in 0..5 {
        let body = format!("release notes part {n}");
        let ack = alices
            .request("message:send", send(&bob, &body, &format!("r-{n}")))
            .await
            .unwrap();
        assert_eq!(ack["ok"], true);
    }
    let page = |offset: u32| {
        let path = format!("/api/v1/search?q=release%20notes&limit=3&offset={offset}");
        let app = &app;
        let token = alice.token.clone();
        async move {
            app.get(&path, Some(&token))
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let first = page(0).await;
    assert_eq!(first["more"], true, "{first}");
    let second = page(3).await;
    assert_eq!(second["more"], false, "{second}");
    let mut all: Vec<&str> = bodies(&first);
    all.extend(bodies(&second));
    all.sort_unstable();
    let expected: Vec<String> = (0..5).map(|n| format!("release notes part {n}")).collect();
    assert_eq!(all, expected);

    let empty = app
        .get("/api/v1/search?q=%20*%22", Some(&alice.token))
        .await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let anonymous = app.get("/api/v1/search?q=release", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
