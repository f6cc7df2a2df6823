//! The `Bus` contract, run against NATS and the in-process bus, plus what only NATS can do
//! (go away and come back).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, ensure};
use bytes::Bytes;
use confab_cluster::{Bus, BusError, ConnectionState, Headers, Keys, NatsBus};
use confab_testkit::{NatsServer, eventually};
use tokio::sync::Mutex;

use crate::helpers::{WITHIN, nats_buses, next_message, wait_bus_ready};

fn trace_headers() -> Headers {
    [
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("x-confab-version", "1"),
    ]
    .into_iter()
    .collect()
}

/// Scenarios every `Bus` must pass; `a` and `b` stand for two nodes.
mod scenarios {
    use super::*;

    pub(crate) async fn publish_delivers_payload_and_headers(
        a: &dyn Bus,
        b: &dyn Bus,
    ) -> Result<()> {
        let subject = Keys::default().node_subject("node-b");
        let mut inbox = b.subscribe(&subject).await?;
        b.ping().await?;

        a.publish(&subject, Bytes::from_static(b"hello"), trace_headers())
            .await?;
        let message = next_message(&mut inbox).await?;
        ensure!(message.subject == subject);
        ensure!(message.payload == "hello");
        ensure!(message.headers == trace_headers(), "{:?}", message.headers);
        ensure!(message.reply.is_none());
        Ok(())
    }

    pub(crate) async fn a_subscriber_receives_only_its_subject(
        a: &dyn Bus,
        b: &dyn Bus,
    ) -> Result<()> {
        let keys = Keys::default();
        let mine = keys.group_subject("mine");
        let mut inbox = b.subscribe(&mine).await?;
        b.ping().await?;

        // Published first: it would arrive first if it leaked into the subscription.
        let other = keys.group_subject("other");
        a.publish(&other, Bytes::from_static(b"not for you"), Headers::new())
            .await?;
        a.publish(&mine, Bytes::from_static(b"for you"), Headers::new())
            .await?;
        let message = next_message(&mut inbox).await?;
        ensure!(message.subject == mine && message.payload == "for you");
        ensure!(message.headers.is_empty());
        Ok(())
    }

    pub(crate) async fn every_subscriber_of_a_subject_gets_each_message(
        a: &dyn Bus,
        b: &dyn Bus,
    ) -> Result<()> {
        let subject = Keys::default().group_subject("g1");
        let mut on_a = a.subscribe(&subject).await?;
        let mut on_b = b.subscribe(&subject).await?;
        a.ping().await?;
        b.ping().await?;

        for n in 0..3u8 {
            a.publish(&subject, Bytes::from(vec![n]), Headers::new())
                .await?;
        }
        for inbox in [&mut on_a, &mut on_b] {
            for n in 0..3u8 {
                let message = next_message(inbox).await?;
                ensure!(
                    message.payload == [n].as_slice(),
                    "out of order: {message:?}"
                );
            }
        }
        Ok(())
    }

    pub(crate) async fn a_request_gets_the_responders_answer(
        a: &dyn Bus,
        b: &dyn Bus,
    ) -> Result<()> {
        let subject = Keys::default().poll_request_subject("node-b");
        let mut requests = b.subscribe(&subject).await?;
        b.ping().await?;

        let responder = async {
            let request = next_message(&mut requests).await?;
            let reply = request
                .reply
                .clone()
                .ok_or_else(|| anyhow::anyhow!("no reply"))?;
            let traceparent = request.headers.get("traceparent").unwrap_or("none");
            let answer = [request.payload.as_ref(), b" via ", traceparent.as_bytes()].concat();
            b.respond(&reply, Bytes::from(answer), Headers::new())
                .await?;
            anyhow::Ok(())
        };
        let request = a.request(
            &subject,
            Bytes::from_static(b"GET /socket.io/"),
            trace_headers(),
            WITHIN,
        );
        let (answered, answer) = tokio::join!(responder, request);
        answered?;
        let expected =
            "GET /socket.io/ via 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        ensure!(answer? == expected);
        Ok(())
    }

    pub(crate) async fn a_request_nobody_listens_to_fails_at_once(
        a: &dyn Bus,
        _b: &dyn Bus,
    ) -> Result<()> {
        let subject = Keys::default().poll_request_subject("gone");
        let result = a
            .request(&subject, Bytes::new(), Headers::new(), WITHIN)
            .await;
        ensure!(
            matches!(result, Err(BusError::NoResponders { .. })),
            "{result:?}"
        );
        Ok(())
    }

    pub(crate) async fn an_unanswered_request_times_out(a: &dyn Bus, b: &dyn Bus) -> Result<()> {
        let subject = Keys::default().poll_request_subject("silent");
        let _silent = b.subscribe(&subject).await?;
        b.ping().await?;
        let result = a
            .request(
                &subject,
                Bytes::new(),
                Headers::new(),
                Duration::from_millis(200),
            )
            .await;
        ensure!(
            matches!(result, Err(BusError::Timeout { .. })),
            "{result:?}"
        );
        Ok(())
    }

    pub(crate) async fn a_connected_bus_reports_it(a: &dyn Bus, b: &dyn Bus) -> Result<()> {
        for bus in [a, b] {
            ensure!(bus.state() == ConnectionState::Connected);
            bus.ping().await?;
            bus.flush().await?;
        }
        Ok(())
    }
}

/// One test per scenario and implementation.
macro_rules! bus_suite {
    ($($scenario:ident),* $(,)?) => {
        mod nats {
            $(
                #[tokio::test]
                async fn $scenario() -> anyhow::Result<()> {
                    let ((a, b), _server) = crate::helpers::nats_buses().await?;
                    super::scenarios::$scenario(&a, &b).await
                }
            )*
        }
        mod local {
            $(
                #[tokio::test]
                async fn $scenario() -> anyhow::Result<()> {
                    let ((a, b), ()) = crate::helpers::local_buses().await?;
                    super::scenarios::$scenario(&a, &b).await
                }
            )*
        }
    };
}

bus_suite!(
    publish_delivers_payload_and_headers,
    a_subscriber_receives_only_its_subject,
    every_subscriber_of_a_subject_gets_each_message,
    a_request_gets_the_responders_answer,
    a_request_nobody_listens_to_fails_at_once,
    an_unanswered_request_times_out,
    a_connected_bus_reports_it,
);

#[tokio::test]
async fn nats_subscriptions_survive_a_server_restart() -> Result<()> {
    let ((a, b), mut server) = nats_buses().await?;
    let subject = Keys::default().node_subject("node-b");
    let inbox = Arc::new(Mutex::new(b.subscribe(&subject).await?));
    b.ping().await?;
    a.publish(&subject, Bytes::from_static(b"before"), Headers::new())
        .await?;
    ensure!(next_message(&mut *inbox.lock().await).await?.payload == "before");

    server.kill();
    let (a, b) = (&a, &b);
    eventually(
        "both clients to notice the server is gone",
        WITHIN,
        || async move {
            (a.state() != ConnectionState::Connected && b.state() != ConnectionState::Connected)
                .then_some(())
        },
    )
    .await?;
    ensure!(b.ping().await.is_err(), "ping succeeded without a server");

    server.restart()?;
    wait_bus_ready(a).await?;
    wait_bus_ready(b).await?;
    // The same publisher and subscription as before the restart; a message published before
    // the subscription was renewed on the new server is lost, so keep publishing.
    let message = eventually("delivery on the old subscription", WITHIN, || {
        let inbox = Arc::clone(&inbox);
        let subject = subject.clone();
        async move {
            a.publish(&subject, Bytes::from_static(b"after"), trace_headers())
                .await
                .ok()?;
            let mut inbox = inbox.lock().await;
            tokio::time::timeout(Duration::from_millis(200), inbox.next_message())
                .await
                .ok()
                .flatten()
        }
    })
    .await?;
    ensure!(message.payload == "after" && message.headers == trace_headers());
    Ok(())
}

#[tokio::test]
async fn nats_bus_connects_once_the_server_comes_up() -> Result<()> {
    let mut server = NatsServer::start()?;
    server.kill();
    let bus = NatsBus::connect(&server.url(), "late-node").await?;
    ensure!(bus.state() != ConnectionState::Connected);
    ensure!(matches!(bus.ping().await, Err(BusError::Disconnected)));

    server.restart()?;
    wait_bus_ready(&bus).await?;
    let subject = Keys::default().node_subject("late-node");
    let mut inbox = bus.subscribe(&subject).await?;
    bus.ping().await?;
    bus.publish(&subject, Bytes::from_static(b"hi"), Headers::new())
        .await?;
    ensure!(next_message(&mut inbox).await?.payload == "hi");
    Ok(())
}

#[tokio::test]
async fn nats_rejects_headers_it_cannot_carry() -> Result<()> {
    let ((a, _b), _server) = nats_buses().await?;
    let headers: Headers = [("bad name:", "v")].into_iter().collect();
    let result = a
        .publish(&Keys::default().node_subject("n"), Bytes::new(), headers)
        .await;
    ensure!(
        matches!(result, Err(BusError::InvalidHeader { .. })),
        "{result:?}"
    );
    Ok(())
}

#[tokio::test]
async fn nats_rejects_a_malformed_address() -> Result<()> {
    let result = NatsBus::connect("http://example.invalid", "n").await;
    ensure!(
        matches!(result, Err(BusError::InvalidUrl { .. })),
        "{result:?}"
    );
    Ok(())
}
