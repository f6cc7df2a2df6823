//! Round trips: whatever decodes must encode to something that decodes to the same.
//!
//! The text part of the input (up to the first `0xFF`) is tried as an Engine.IO packet,
//! as an Engine.IO polling payload and as a Socket.IO packet whose attachments are the
//! input's other parts (padded with empty blobs, or cut, to the count its header declares).
//! Socket.IO JSON is compared up to number representation (`2.0` comes back as `2`, as in
//! JavaScript); a second round trip must then be exact, byte for byte and value for value.
#![no_main]

use bytes::Bytes;
use confab_protocol::engineio::{self, Frame};
use confab_protocol::socketio::{self, DEFAULT_MAX_ATTACHMENTS, Decoded, Packet};
use confab_protocol_fuzz::{packets_match, split};
use libfuzzer_sys::fuzz_target;

fn engineio_packet(text: &str) {
    let Ok(packet) = engineio::Packet::decode_text(text) else {
        return;
    };
    let mut out = Vec::new();
    packet.encode_text_into(&mut out);
    let out = std::str::from_utf8(&out).expect("text form is UTF-8");
    let again = engineio::Packet::decode_text(out).expect("encoded packet decodes");
    assert_eq!(again, packet, "text round trip of {text:?} via {out:?}");
    let framed = packet.to_frame().decode().expect("frame decodes");
    assert_eq!(framed, packet, "frame round trip of {text:?}");
}

fn engineio_payload(text: &str) {
    let Ok(packets) = engineio::decode_payload(text.as_bytes()) else {
        return;
    };
    let body = engineio::encode_payload(&packets);
    let again = engineio::decode_payload(&body).expect("encoded payload decodes");
    assert_eq!(again, packets, "payload round trip of {text:?}");
    let frames: Vec<Frame> = packets.iter().map(engineio::Packet::to_frame).collect();
    let mut joined = Vec::new();
    engineio::encode_payload_into(&frames, &mut joined);
    assert_eq!(joined, body, "frames join like packets");
}

fn decode_all(text: &str, attachments: Vec<Bytes>) -> Packet {
    socketio::decode_with_attachments(text, attachments, DEFAULT_MAX_ATTACHMENTS)
        .unwrap_or_else(|e| panic!("re-decoding {text:?}: {e}"))
}

fn socketio_packet(text: &str, mut attachments: Vec<Bytes>) {
    let Ok(decoded) = socketio::decode(text, DEFAULT_MAX_ATTACHMENTS) else {
        return;
    };
    let expected = match &decoded {
        Decoded::Complete(_) => 0,
        Decoded::Partial(partial) => partial.expected(),
    };
    attachments.resize(expected, Bytes::new());
    let first = decode_all(text, attachments);

    let encoded = first.encode();
    let second = decode_all(&encoded, first.attachments().to_vec());
    assert!(
        packets_match(&first, &second),
        "round trip of {text:?} via {encoded:?}: {first:?} != {second:?}"
    );
    // After one trip the JSON is in JavaScript's form: from now on nothing may change.
    let reencoded = second.encode();
    assert_eq!(
        reencoded, encoded,
        "encoding is not a fixed point for {text:?}"
    );
    let third = decode_all(&reencoded, second.attachments().to_vec());
    assert_eq!(third, second, "second round trip of {text:?}");

    // The frames: `4` + the text, then the attachments as binary messages.
    let frames = first.to_frames();
    let (head, blobs) = frames.split_first().expect("at least the text frame");
    let Ok(engineio::Packet::Message(message)) = head.decode() else {
        panic!("first frame of {text:?} is not a text message: {head:?}");
    };
    assert_eq!(message, encoded);
    assert_eq!(blobs.len(), first.attachments().len());
    for (blob, attachment) in blobs.iter().zip(first.attachments()) {
        assert_eq!(blob, &Frame::Binary(attachment.clone()));
    }
}

fuzz_target!(|data: &[u8]| {
    let (text, attachments) = split(data);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    engineio_packet(text);
    engineio_payload(text);
    socketio_packet(text, attachments);
});
