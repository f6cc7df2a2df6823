//! Round-trip properties of the Socket.IO codec, alone and over Engine.IO polling payloads.

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::engineio::{self, Frame};

fn ns(name: &str) -> Namespace {
    Namespace::new(name).expect("valid namespace")
}

/// JSON that survives a text round trip exactly: floats are dyadic fractions that are
/// never integral (JavaScript prints `2.0` as `2`, which reads back as an integer), and
/// object keys never spell `_placeholder`.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-100_000i32..100_000, 1u32..128)
            .prop_map(|(i, f)| Value::from(f64::from(i) + f64::from(f) / 128.0)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,5}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn namespace() -> impl Strategy<Value = Namespace> {
    prop_oneof![
        Just(Namespace::root()),
        "/[a-zA-Z0-9_/.-]{0,10}".prop_map(|n| ns(&n))
    ]
}

fn event_name() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("reserved", |n| !RESERVED_EVENTS.contains(&n.as_str()))
}

/// Arguments with `n` attachments' placeholders placed at the top level or nested.
fn args_with_attachments() -> impl Strategy<Value = (Vec<Value>, Vec<Bytes>)> {
    let blobs = prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 0..4);
    (
        prop::collection::vec(json_value(), 0..4),
        blobs,
        any::<u8>(),
    )
        .prop_map(|(mut args, blobs, nesting)| {
            for num in 0..blobs.len() {
                args.push(match (nesting >> num) & 3 {
                    0 => placeholder(num),
                    1 => json!([placeholder(num)]),
                    _ => json!({"file": placeholder(num), "n": num}),
                });
            }
            (args, blobs.into_iter().map(Bytes::from).collect())
        })
}

fn packet() -> impl Strategy<Value = Packet> {
    let data = prop_oneof![
        prop::option::of(prop::collection::btree_map(
            "[a-z]{0,5}",
            json_value(),
            0..4
        ))
        .prop_map(|m| PacketData::Connect(m.map(|m| m.into_iter().collect()))),
        Just(PacketData::Disconnect),
        (
            event_name(),
            args_with_attachments(),
            prop::option::of(any::<u64>())
        )
            .prop_map(|(name, (args, attachments), ack)| PacketData::Event(Event {
                name,
                args,
                ack,
                attachments
            })),
        (any::<u64>(), args_with_attachments()).prop_map(|(id, (args, attachments))| {
            PacketData::Ack(Ack {
                id,
                args,
                attachments,
            })
        }),
        (any::<String>(), prop::option::of(json_value())).prop_map(|(message, data)| {
            PacketData::ConnectError(ConnectError {
                message,
                data: data.filter(|d| !d.is_null()),
            })
        }),
    ];
    (namespace(), data).prop_map(|(namespace, data)| Packet { namespace, data })
}

proptest! {
    #[test]
    fn packets_round_trip(packet in packet()) {
        let text = packet.encode();
        let mut decoded = decode(&text, DEFAULT_MAX_ATTACHMENTS).expect("decodes");
        for attachment in packet.attachments() {
            let Decoded::Partial(partial) = decoded else {
                return Err(TestCaseError::fail("complete before all attachments arrived"));
            };
            decoded = partial.push(attachment.clone());
        }
        prop_assert_eq!(decoded, Decoded::Complete(packet));
    }

    #[test]
    fn packets_round_trip_through_a_polling_payload(packets in prop::collection::vec(packet(), 1..5)) {
        let frames: Vec<Frame> = packets.iter().flat_map(Packet::to_frames).collect();
        let mut body = Vec::new();
        engineio::encode_payload_into(&frames, &mut body);
        let mut decoder = Decoder::default();
        let mut decoded = Vec::new();
        for eio in engineio::decode_payload(&body).expect("payload decodes") {
            let packet = match eio {
                engineio::Packet::Message(text) => decoder.decode_text(&text).expect("decodes"),
                engineio::Packet::Binary(blob) => decoder.decode_binary(blob).expect("decodes"),
                other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
            };
            decoded.extend(packet);
        }
        prop_assert_eq!(decoded, packets);
    }

    #[test]
    fn binary_args_round_trip(packet in packet()) {
        if let PacketData::Event(event) = &packet.data {
            let rebuilt = Event::with_binary(event.name.clone(), event.binary_args().expect("valid"));
            prop_assert_eq!(&rebuilt.args, &event.args);
            prop_assert_eq!(&rebuilt.attachments, &event.attachments);
        }
    }

    #[test]
    fn decoding_arbitrary_text_never_panics(text in r#"[0-9/,\-\[\]{}":_a-z ]{0,24}"#, any_text in any::<String>()) {
        let _ = decode(&text, DEFAULT_MAX_ATTACHMENTS);
        let _ = decode(&any_text, DEFAULT_MAX_ATTACHMENTS);
        let _ = decode_with_attachments(&text, vec![Bytes::new()], 2);
    }
}
