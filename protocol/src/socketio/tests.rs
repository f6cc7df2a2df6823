//! The spec's examples, malformed input, and round-trip properties for the Socket.IO codec.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::*;
use crate::engineio::Frame;

fn ns(name: &str) -> Namespace {
    Namespace::new(name).expect("valid namespace")
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn event(
    name: &str,
    args: Vec<Value>,
    ack: Option<u64>,
    attachments: &[&'static [u8]],
) -> PacketData {
    PacketData::Event(Event {
        name: name.into(),
        args,
        ack,
        attachments: attachments.iter().map(|b| Bytes::from_static(b)).collect(),
    })
}

fn ack(id: u64, args: Vec<Value>, attachments: &[&'static [u8]]) -> PacketData {
    PacketData::Ack(Ack {
        id,
        args,
        attachments: attachments.iter().map(|b| Bytes::from_static(b)).collect(),
    })
}

fn ph(num: usize) -> Value {
    placeholder(num)
}

/// Every example of the v5 spec's "Packet encoding" section, of its sample session (with
/// the leading Engine.IO `4` removed), and of the brief: (wire text, packet).
fn spec_examples() -> Vec<(&'static str, Packet)> {
    let root = Namespace::root;
    vec![
        // Connection to a namespace.
        ("0", Packet::new(root(), PacketData::Connect(None))),
        (
            r#"0{"sid":"wZX3oN0bSVIhsaknAAAI"}"#,
            Packet::new(
                root(),
                PacketData::Connect(Some(object(json!({"sid": "wZX3oN0bSVIhsaknAAAI"})))),
            ),
        ),
        (
            "0/admin,",
            Packet::new(ns("/admin"), PacketData::Connect(None)),
        ),
        (
            r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
            Packet::new(
                ns("/admin"),
                PacketData::Connect(Some(object(json!({"sid": "oSO0OpakMV_3jnilAAAA"})))),
            ),
        ),
        (
            r#"0/admin,{"token":"123"}"#,
            Packet::new(
                ns("/admin"),
                PacketData::Connect(Some(object(json!({"token": "123"})))),
            ),
        ),
        (
            r#"0{"token":"x"}"#,
            Packet::new(
                root(),
                PacketData::Connect(Some(object(json!({"token": "x"})))),
            ),
        ),
        (
            r#"4{"message":"Not authorized"}"#,
            Packet::new(
                root(),
                PacketData::ConnectError(ConnectError {
                    message: "Not authorized".into(),
                    data: None,
                }),
            ),
        ),
        // Sending and receiving data.
        (
            r#"2["foo"]"#,
            Packet::new(root(), event("foo", vec![], None, &[])),
        ),
        (
            r#"2/admin,["bar"]"#,
            Packet::new(ns("/admin"), event("bar", vec![], None, &[])),
        ),
        (
            r#"2["hello",1]"#,
            Packet::new(root(), event("hello", vec![json!(1)], None, &[])),
        ),
        (
            r#"2["hey","Jude"]"#,
            Packet::new(root(), event("hey", vec![json!("Jude")], None, &[])),
        ),
        (
            r#"51-["baz",{"_placeholder":true,"num":0}]"#,
            Packet::new(root(), event("baz", vec![ph(0)], None, &[&[1, 2, 3, 4]])),
        ),
        (
            r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
            Packet::new(
                ns("/admin"),
                event("baz", vec![ph(0), ph(1)], None, &[&[1, 2], &[3, 4]]),
            ),
        ),
        // Acknowledgement.
        (
            r#"212["foo"]"#,
            Packet::new(root(), event("foo", vec![], Some(12), &[])),
        ),
        ("312[]", Packet::new(root(), ack(12, vec![], &[]))),
        (
            r#"2/admin,13["foo"]"#,
            Packet::new(ns("/admin"), event("foo", vec![], Some(13), &[])),
        ),
        (
            r#"2/admin,13["ev"]"#,
            Packet::new(ns("/admin"), event("ev", vec![], Some(13), &[])),
        ),
        (
            r#"3/admin,13["bar"]"#,
            Packet::new(ns("/admin"), ack(13, vec![json!("bar")], &[])),
        ),
        (
            r#"51-14["foo",{"_placeholder":true,"num":0}]"#,
            Packet::new(
                root(),
                event("foo", vec![ph(0)], Some(14), &[&[1, 2, 3, 4]]),
            ),
        ),
        (
            r#"314["bar"]"#,
            Packet::new(root(), ack(14, vec![json!("bar")], &[])),
        ),
        (
            r#"215["foo"]"#,
            Packet::new(root(), event("foo", vec![], Some(15), &[])),
        ),
        (
            r#"61-15["bar",{"_placeholder":true,"num":0}]"#,
            Packet::new(root(), ack(15, vec![json!("bar"), ph(0)], &[&[1, 2, 3, 4]])),
        ),
        (
            r#"2/admin,1["tellme"]"#,
            Packet::new(ns("/admin"), event("tellme", vec![], Some(1), &[])),
        ),
        (
            r#"61-/admin,1[{"_placeholder":true,"num":0}]"#,
            Packet::new(ns("/admin"), ack(1, vec![ph(0)], &[b"\x00binary"])),
        ),
        // Disconnection from a namespace.
        ("1", Packet::new(root(), PacketData::Disconnect)),
        (
            "1/admin,",
            Packet::new(ns("/admin"), PacketData::Disconnect),
        ),
    ]
}

#[test]
fn spec_examples_encode_exactly() {
    for (wire, packet) in spec_examples() {
        assert_eq!(packet.encode(), wire);
    }
}

#[test]
fn spec_examples_decode() {
    for (wire, packet) in spec_examples() {
        let attachments = packet.attachments().to_vec();
        let decoded = decode_with_attachments(wire, attachments, DEFAULT_MAX_ATTACHMENTS)
            .unwrap_or_else(|e| panic!("{wire}: {e}"));
        assert_eq!(decoded, packet, "decoding {wire}");
    }
}

#[test]
fn engineio_wrapping_matches_the_sample_session() {
    let wrapped = |packet: &Packet| {
        let mut out = Vec::new();
        packet.encode_message_into(&mut out);
        String::from_utf8(out).expect("utf-8")
    };
    assert_eq!(
        wrapped(&Packet::new(Namespace::root(), PacketData::Connect(None))),
        "40"
    );
    assert_eq!(
        wrapped(&Packet::new(ns("/admin"), PacketData::Connect(None))),
        "40/admin,"
    );
    let binary_ack = Packet::new(ns("/admin"), ack(1, vec![ph(0)], &[b"\x01\x02"]));
    assert_eq!(
        wrapped(&binary_ack),
        r#"461-/admin,1[{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(
        binary_ack.to_frames(),
        vec![
            Frame::Text(Bytes::from_static(
                br#"461-/admin,1[{"_placeholder":true,"num":0}]"#
            )),
            Frame::Binary(Bytes::from_static(b"\x01\x02")),
        ]
    );
    let event = Packet::new(
        Namespace::root(),
        event("ev", vec![ph(0)], None, &[b"\xff"]),
    );
    assert_eq!(
        wrapped(&event),
        r#"451-["ev",{"_placeholder":true,"num":0}]"#
    );
}

#[test]
fn binary_packets_are_assembled_one_attachment_at_a_time() {
    let header = r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    let Ok(Decoded::Partial(partial)) = decode(header, DEFAULT_MAX_ATTACHMENTS) else {
        panic!("a binary header is partial");
    };
    assert_eq!((partial.expected(), partial.received()), (2, 0));
    let Decoded::Partial(partial) = partial.push(Bytes::from_static(&[1, 2])) else {
        panic!("one attachment is still missing");
    };
    assert_eq!(partial.received(), 1);
    let Decoded::Complete(packet) = partial.push(Bytes::from_static(&[3, 4])) else {
        panic!("both attachments arrived");
    };
    assert_eq!(
        packet,
        Packet::new(
            ns("/admin"),
            event("baz", vec![ph(0), ph(1)], None, &[&[1, 2], &[3, 4]])
        )
    );
    let PacketData::Event(event) = packet.data else {
        panic!("an event")
    };
    assert_eq!(
        event.binary_args().expect("valid"),
        vec![
            Arg::Binary(Bytes::from_static(&[1, 2])),
            Arg::Binary(Bytes::from_static(&[3, 4]))
        ]
    );
}

#[test]
fn decoder_enforces_the_message_order() {
    let mut decoder = Decoder::default();
    assert!(matches!(
        decoder.decode_binary(Bytes::new()),
        Err(SocketIoError::UnexpectedBinary)
    ));
    assert_eq!(
        decoder
            .decode_text(r#"51-["a",{"_placeholder":true,"num":0}]"#)
            .expect("valid"),
        None
    );
    assert!(decoder.is_waiting_for_attachments());
    assert!(matches!(
        decoder.decode_text(r#"2["b"]"#),
        Err(SocketIoError::UnexpectedText)
    ));
    let packet = decoder
        .decode_binary(Bytes::from_static(b"x"))
        .expect("valid")
        .expect("complete");
    assert_eq!(packet.attachments(), [Bytes::from_static(b"x")]);
    assert!(!decoder.is_waiting_for_attachments());
    assert_eq!(
        decoder.decode_text(r#"2["b"]"#).expect("valid"),
        Some(Packet::new(
            Namespace::root(),
            event("b", vec![], None, &[])
        ))
    );
}

#[test]
fn lenient_forms_of_the_reference_decoder_are_accepted() {
    let dec = |t: &str| decode_with_attachments(t, vec![], DEFAULT_MAX_ATTACHMENTS).expect(t);
    // A namespace with nothing after it may omit its comma.
    assert_eq!(
        dec("0/admin"),
        Packet::new(ns("/admin"), PacketData::Connect(None))
    );
    assert_eq!(
        dec("1/admin"),
        Packet::new(ns("/admin"), PacketData::Disconnect)
    );
    // Protocol v4 servers sent the CONNECT_ERROR reason as a bare string.
    assert_eq!(
        dec(r#"4"nope""#).data,
        PacketData::ConnectError(ConnectError {
            message: "nope".into(),
            data: None
        })
    );
    assert_eq!(
        dec(r#"4/x,{"message":"m","data":{"code":7}}"#).data,
        PacketData::ConnectError(ConnectError {
            message: "m".into(),
            data: Some(json!({"code": 7}))
        })
    );
    // A `_placeholder` object in a plain event is ordinary data.
    assert_eq!(
        dec(r#"2["a",{"_placeholder":true,"num":5}]"#).data,
        event("a", vec![ph(5)], None, &[])
    );
}

#[test]
fn malformed_packets_are_typed_errors() {
    use SocketIoError as E;
    let err = |t: &str| decode(t, 3).expect_err(t);
    assert!(matches!(err(""), E::EmptyPacket));
    assert!(matches!(err("7"), E::UnknownPacketType('7')));
    assert!(matches!(err("é"), E::UnknownPacketType('é')));
    assert!(matches!(err(r#"5["a"]"#), E::InvalidAttachmentCount));
    assert!(matches!(err(r#"5-["a"]"#), E::InvalidAttachmentCount));
    assert!(matches!(err(r#"50-["a"]"#), E::InvalidAttachmentCount));
    assert!(matches!(err(r#"5x1-["a"]"#), E::InvalidAttachmentCount));
    assert!(matches!(err("51"), E::InvalidAttachmentCount));
    assert!(matches!(
        err(r#"54-["a"]"#),
        E::TooManyAttachments { max: 3 }
    ));
    assert!(matches!(
        err(r#"599999999999999999999999-["a"]"#),
        E::TooManyAttachments { max: 3 }
    ));
    assert!(matches!(
        err(r#"2/adm\u0007in,["a"]"#.replace("\\u0007", "\u{7}").as_str()),
        E::InvalidNamespace(_)
    ));
    assert!(matches!(err(r#"2/admin["a"]"#), E::NamespaceWithoutComma));
    assert!(matches!(err("3/admin"), E::NamespaceWithoutComma));
    assert!(matches!(err(r#"299999999999999999999["a"]"#), E::BadAckId));
    assert!(matches!(
        err("05{}"),
        E::UnexpectedAckId(PacketType::Connect)
    ));
    assert!(matches!(
        err("15"),
        E::UnexpectedAckId(PacketType::Disconnect)
    ));
    assert!(matches!(err(r#"3["a"]"#), E::MissingAckId));
    assert!(matches!(err(r#"2["a""#), E::InvalidJson(_)));
    assert!(matches!(err(r#"2["a"]x"#), E::InvalidJson(_)));
    assert!(matches!(err("0{"), E::InvalidJson(_)));
    assert!(matches!(err("2"), E::MissingPayload(PacketType::Event)));
    assert!(matches!(err("312"), E::MissingPayload(PacketType::Ack)));
    assert!(matches!(
        err("4"),
        E::MissingPayload(PacketType::ConnectError)
    ));
    assert!(matches!(
        err("1{}"),
        E::UnexpectedPayload(PacketType::Disconnect)
    ));
    assert!(matches!(err("0[]"), E::PayloadNotObject));
    assert!(matches!(err(r#"0"tok""#), E::PayloadNotObject));
    assert!(matches!(
        err(r#"2{"a":1}"#),
        E::PayloadNotArray(PacketType::Event)
    ));
    assert!(matches!(
        err(r#"31{"a":1}"#),
        E::PayloadNotArray(PacketType::Ack)
    ));
    assert!(matches!(err("2[]"), E::EventNameNotString));
    assert!(matches!(err("2[1]"), E::EventNameNotString));
    assert!(matches!(err(r#"2[null,"x"]"#), E::EventNameNotString));
    assert!(matches!(err(r#"2["disconnect"]"#), E::ReservedEventName(n) if n == "disconnect"));
    assert!(matches!(err("4[]"), E::InvalidConnectError));
    assert!(matches!(err(r#"4{"data":1}"#), E::InvalidConnectError));
    assert!(matches!(
        err(r#"51-["a",{"_placeholder":true,"num":1}]"#),
        E::InvalidPlaceholder
    ));
    assert!(matches!(
        err(r#"61-1[{"x":[{"_placeholder":true}]}]"#),
        E::InvalidPlaceholder
    ));
    assert!(matches!(
        decode_with_attachments(
            r#"52-["a",{"_placeholder":true,"num":0}]"#,
            vec![Bytes::new()],
            3
        ),
        Err(E::AttachmentCountMismatch {
            expected: 2,
            actual: 1
        })
    ));
    assert!(matches!(
        decode_with_attachments(r#"2["a"]"#, vec![Bytes::new()], 3),
        Err(E::AttachmentCountMismatch {
            expected: 0,
            actual: 1
        })
    ));
}

#[test]
fn namespaces_that_cannot_be_encoded_cannot_be_built() {
    assert!(Namespace::new("/a,b").is_err());
    assert!(Namespace::new("admin").is_err());
    assert!(Namespace::new("").is_err());
    assert!(Namespace::new("/a\u{1e}").is_err());
    assert!(Namespace::new("/chat/room-1").is_ok());
    assert!(Namespace::default().is_root());
    assert_eq!(Namespace::try_from("/x").expect("valid").to_string(), "/x");
}

#[test]
fn events_with_nested_binary_deconstruct_like_the_reference() {
    let upload = Event::with_binary(
        "upload",
        vec![Arg::Object(vec![
            ("data".into(), Arg::Binary(Bytes::from_static(b"\x89PNG"))),
            ("name".into(), Arg::Json(json!("cat.png"))),
        ])],
    )
    .with_ack(3);
    let packet = Packet::new(Namespace::root(), PacketData::Event(upload));
    assert_eq!(
        packet.encode(),
        r#"51-3["upload",{"data":{"_placeholder":true,"num":0},"name":"cat.png"}]"#
    );
    assert_eq!(packet.attachments(), [Bytes::from_static(b"\x89PNG")]);
}

#[test]
fn event_and_ack_frames_serialised_straight_match_the_packets() {
    #[derive(serde::Serialize)]
    struct Payload<'a> {
        body: &'a str,
        seq: f64,
    }
    let payload = Payload {
        body: "héllo \"\u{2028}",
        seq: 2.0,
    };
    let value = serde_json::to_value(&payload).unwrap();
    for namespace in [Namespace::root(), Namespace::new("/chat").unwrap()] {
        let event = Packet::new(
            namespace.clone(),
            PacketData::Event(Event::new("message:new", vec![value.clone()])),
        );
        assert_eq!(
            vec![event_frame(&namespace, "message:new", &payload)],
            event.to_frames()
        );
        let ack = Packet::new(
            namespace.clone(),
            PacketData::Ack(Ack::new(12, vec![value.clone()])),
        );
        assert_eq!(vec![ack_frame(&namespace, 12, &payload)], ack.to_frames());
    }
}
