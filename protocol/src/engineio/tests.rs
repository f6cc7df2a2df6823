//! The spec's examples, malformed input, and round-trip properties for the Engine.IO codec.

use super::*;
use proptest::prelude::*;

fn text(packet: &Packet) -> String {
    let mut out = Vec::new();
    packet.encode_text_into(&mut out);
    String::from_utf8(out).expect("utf-8")
}

fn decode(text: &str) -> Packet {
    Packet::decode_text(text).expect("valid packet")
}

/// Every packet from the spec: (wire text, packet).
fn spec_packets() -> Vec<(&'static str, Packet)> {
    vec![
        ("2", Packet::Ping(String::new())),
        ("3", Packet::Pong(String::new())),
        ("2probe", Packet::Ping("probe".into())),
        ("3probe", Packet::Pong("probe".into())),
        ("5", Packet::Upgrade),
        ("6", Packet::Noop),
        ("1", Packet::Close),
        ("4hello", Packet::Message("hello".into())),
        ("4world", Packet::Message("world".into())),
        (r#"42["hello"]"#, Packet::Message(r#"2["hello"]"#.into())),
        ("40", Packet::Message("0".into())),
    ]
}

#[test]
fn spec_packets_encode_and_decode() {
    for (wire, packet) in spec_packets() {
        assert_eq!(text(&packet), wire);
        assert_eq!(decode(wire), packet, "decoding {wire:?}");
        assert_eq!(packet.to_frame(), Frame::Text(Bytes::from(wire)));
    }
}

#[test]
fn spec_handshake_round_trips() {
    // Sample session, request 1.
    let wire = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#;
    let handshake = Handshake {
        sid: "lv_VI97HAXpY6yYWAAAC".into(),
        upgrades: vec!["websocket".into()],
        ping_interval: 25000,
        ping_timeout: 5000,
        max_payload: 1_000_000,
    };
    assert_eq!(decode(wire), Packet::Open(handshake.clone()));
    assert_eq!(text(&Packet::Open(handshake)), wire);
}

#[test]
fn spec_polling_payloads() {
    let payload = b"4hello\x1e2\x1e4world";
    let packets = vec![
        Packet::Message("hello".into()),
        Packet::Ping(String::new()),
        Packet::Message("world".into()),
    ];
    assert_eq!(decode_payload(payload).expect("valid"), packets);
    assert_eq!(encode_payload(&packets), payload);

    let payload = b"4hello\x1ebAQIDBA==";
    let packets = vec![
        Packet::Message("hello".into()),
        Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])),
    ];
    assert_eq!(decode_payload(payload).expect("valid"), packets);
    assert_eq!(encode_payload(&packets), payload);

    // Socket.IO sample session, request 5.
    let payload = b"42[\"hello\"]\x1e42[\"world\"]";
    let decoded = decode_payload(payload).expect("valid");
    assert_eq!(
        decoded,
        [
            Packet::Message(r#"2["hello"]"#.into()),
            Packet::Message(r#"2["world"]"#.into())
        ]
    );
}

#[test]
fn websocket_binary_is_sent_as_is() {
    let packet = Packet::decode_binary(Bytes::from_static(&[1, 2, 3, 4]));
    assert_eq!(packet, Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])));
    assert_eq!(packet.packet_type(), PacketType::Message);
    assert_eq!(
        packet.to_frame(),
        Frame::Binary(Bytes::from_static(&[1, 2, 3, 4]))
    );
    assert_eq!(text(&packet), "bAQIDBA==");
}

#[test]
fn frames_join_into_a_polling_payload() {
    let frames = [
        Packet::Message(r#"51-["up",{"_placeholder":true,"num":0}]"#.into()).to_frame(),
        Packet::Binary(Bytes::from_static(b"\xff\x00")).to_frame(),
        Packet::Ping(String::new()).to_frame(),
    ];
    let mut out = b"prefix:".to_vec();
    encode_payload_into(&frames, &mut out);
    assert_eq!(
        out,
        b"prefix:451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1eb/wA=\x1e2".as_slice()
    );
    let decoded: Vec<Packet> = frames.iter().map(|f| f.decode().expect("valid")).collect();
    assert_eq!(
        decode_payload(out.get(7..).expect("prefix")).expect("valid"),
        decoded
    );
}

#[test]
fn base64_without_padding_is_accepted() {
    assert_eq!(
        decode("bAQIDBA"),
        Packet::Binary(Bytes::from_static(&[1, 2, 3, 4]))
    );
    assert_eq!(decode("b"), Packet::Binary(Bytes::new()));
}

#[test]
fn data_after_close_upgrade_and_noop_is_ignored() {
    assert_eq!(decode("1x"), Packet::Close);
    assert_eq!(decode("5x"), Packet::Upgrade);
    assert_eq!(decode("6x"), Packet::Noop);
}

#[test]
fn malformed_packets_are_typed_errors() {
    use EngineIoError as E;
    let err = |t: &str| Packet::decode_text(t).expect_err(t);
    assert!(matches!(err(""), E::EmptyPacket));
    assert!(matches!(err("7"), E::UnknownPacketType('7')));
    assert!(matches!(err("x4"), E::UnknownPacketType('x')));
    assert!(matches!(err("é4"), E::UnknownPacketType('é')));
    assert!(matches!(err("b!!!!"), E::InvalidBase64(_)));
    assert!(matches!(err("0"), E::InvalidHandshake(_)));
    assert!(matches!(err(r#"0{"sid":"x"}"#), E::InvalidHandshake(_)));
    assert!(matches!(decode_payload(b""), Err(E::EmptyPacket)));
    assert!(matches!(
        decode_payload(b"4a\x1e\x1e4b"),
        Err(E::EmptyPacket)
    ));
    assert!(matches!(
        decode_payload(b"4a\x1e9"),
        Err(E::UnknownPacketType('9'))
    ));
    assert!(matches!(decode_payload(b"4\xff"), Err(E::InvalidUtf8(_))));
    assert!(matches!(
        Frame::Text(Bytes::from_static(b"4\xc3")).decode(),
        Err(E::InvalidUtf8(_))
    ));
}

#[test]
fn packet_type_digits_round_trip() {
    for digit in b'0'..=b'6' {
        let kind = PacketType::from_ascii(digit).expect("known type");
        assert_eq!(kind.as_ascii(), digit);
    }
    assert_eq!(PacketType::from_ascii(b'7'), None);
}

/// Text without the record separator (the protocol cannot carry it in a payload).
fn payload_text() -> impl Strategy<Value = String> {
    "[^\u{1e}]{0,24}"
}

fn handshake() -> impl Strategy<Value = Handshake> {
    (
        any::<String>(),
        prop::collection::vec("[a-z]{1,9}", 0..3),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(sid, upgrades, ping_interval, ping_timeout, max_payload)| Handshake {
                sid,
                upgrades,
                ping_interval,
                ping_timeout,
                max_payload,
            },
        )
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        handshake().prop_map(Packet::Open),
        Just(Packet::Close),
        payload_text().prop_map(Packet::Ping),
        payload_text().prop_map(Packet::Pong),
        payload_text().prop_map(Packet::Message),
        Just(Packet::Upgrade),
        Just(Packet::Noop),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| Packet::Binary(b.into())),
    ]
}

proptest! {
    #[test]
    fn text_packets_round_trip(packet in packet()) {
        let mut out = Vec::new();
        packet.encode_text_into(&mut out);
        let text = std::str::from_utf8(&out).expect("utf-8");
        prop_assert_eq!(Packet::decode_text(text).expect("decodes"), packet.clone());
        prop_assert_eq!(packet.to_frame().decode().expect("decodes"), packet);
    }

    #[test]
    fn messages_with_any_text_round_trip(data in any::<String>()) {
        let packet = Packet::Message(data);
        prop_assert_eq!(decode(&text(&packet)), packet);
    }

    #[test]
    fn polling_payloads_round_trip(packets in prop::collection::vec(packet(), 1..8)) {
        let encoded = encode_payload(&packets);
        prop_assert_eq!(decode_payload(&encoded).expect("decodes"), packets.clone());
        let frames: Vec<Frame> = packets.iter().map(Packet::to_frame).collect();
        let mut joined = Vec::new();
        encode_payload_into(&frames, &mut joined);
        prop_assert_eq!(joined, encoded);
    }

    #[test]
    fn decoding_arbitrary_input_never_panics(body in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_payload(&body);
        if let Ok(text) = std::str::from_utf8(&body) {
            let _ = Packet::decode_text(text);
        }
    }
}
