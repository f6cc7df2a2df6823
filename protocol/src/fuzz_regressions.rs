//! Inputs found by the fuzz targets in `protocol/fuzz` (see its README), kept as
//! regression tests: every decoder must return a value or an error for them, never panic.

use bytes::Bytes;
use serde_json::Value;

use crate::engineio;
use crate::socketio::{self, DEFAULT_MAX_ATTACHMENTS, Decoder, PacketData};

/// Found by the `roundtrip` target: a float that `serde_json`'s default (not correctly
/// rounded) parser reads one ULP off, so it changes when the packet is decoded again.
const FLOAT_ROUND_TRIP: &[u8] = b"2[\"f\",2.0,-0.0,1144444444444444444444444444444444444444\
444444444444444444444444444444444444444444444444444407370975807]";

/// The same fault, minimized: `0.9646358743437074` reads back as `0.9646358743437073`,
/// whose shortest form then reads back as `0.9646358743437072`.
const FLOAT_ROUND_TRIP_MIN: &[u8] = b"2[\"f\",0.9646358743437074]";

/// Every fuzz-found input, by the name of the target that found it.
const INPUTS: &[(&str, &[u8])] = &[
    ("roundtrip", FLOAT_ROUND_TRIP),
    ("roundtrip", FLOAT_ROUND_TRIP_MIN),
];

/// Runs `data` through every decoder the fuzz targets cover, as each target splits it.
fn decode_everywhere(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    let _ = engineio::Frame::Text(bytes.clone()).decode();
    let _ = engineio::Frame::Binary(bytes).decode();
    let _ = engineio::decode_payload(data);

    let mut parts = data.split(|&b| b == 0xFF);
    let text = parts.next().unwrap_or_default();
    let attachments: Vec<Bytes> = parts.map(Bytes::copy_from_slice).collect();
    if let Ok(text) = std::str::from_utf8(text) {
        let _ = engineio::Packet::decode_text(text);
        let _ = socketio::decode(text, DEFAULT_MAX_ATTACHMENTS);
        let _ = socketio::decode_with_attachments(text, attachments, DEFAULT_MAX_ATTACHMENTS);
    }

    let mut decoder = Decoder::default();
    for frame in data.split(|&b| b == 0xFF) {
        if let Some(blob) = frame.strip_prefix(b"b") {
            let _ = decoder.decode_binary(Bytes::copy_from_slice(blob));
        } else if let Ok(text) = std::str::from_utf8(frame) {
            let _ = decoder.decode_text(text);
        }
    }
}

#[test]
fn fuzz_inputs_decode_without_panicking() {
    for (_target, data) in INPUTS {
        decode_everywhere(data);
    }
}

/// The event's arguments after one decode, and after encoding and decoding again.
fn args_twice(data: &[u8]) -> (Vec<Value>, Vec<Value>) {
    let args = |packet: socketio::Packet| match packet.data {
        PacketData::Event(event) => event.args,
        other => panic!("not an event: {other:?}"),
    };
    let text = std::str::from_utf8(data).expect("UTF-8");
    let first = socketio::decode_with_attachments(text, Vec::new(), DEFAULT_MAX_ATTACHMENTS)
        .expect("decodes");
    let again =
        socketio::decode_with_attachments(&first.encode(), Vec::new(), DEFAULT_MAX_ATTACHMENTS)
            .expect("decodes again");
    (args(first), args(again))
}

#[test]
fn float_round_trip_inputs_decode() {
    let (args, _) = args_twice(FLOAT_ROUND_TRIP_MIN);
    assert!(args.first().and_then(Value::as_f64).is_some());
    let (args, _) = args_twice(FLOAT_ROUND_TRIP);
    assert_eq!(args.len(), 3);
}

/// Every float must survive a decode/encode/decode exactly (the encoder prints the
/// shortest form that reads back as the same `f64`, as JavaScript does).
#[test]
fn floats_survive_a_round_trip() {
    for data in [FLOAT_ROUND_TRIP_MIN, FLOAT_ROUND_TRIP] {
        let (first, again) = args_twice(data);
        let floats = |args: &[Value]| args.iter().map(Value::as_f64).collect::<Vec<_>>();
        assert_eq!(
            floats(&first),
            floats(&again),
            "{}",
            String::from_utf8_lossy(data)
        );
    }
}
