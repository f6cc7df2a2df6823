//! Engine.IO binary packets: a raw WebSocket binary frame, and the same input read as the
//! base64 data of a polling `b` packet.
#![no_main]

use bytes::Bytes;
use confab_protocol::engineio::{Frame, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let packet = Packet::decode_binary(bytes.clone());
    assert_eq!(packet, Packet::Binary(bytes.clone()));
    let framed = Frame::Binary(bytes).decode();
    assert!(matches!(framed, Ok(ref p) if *p == packet));

    if let Ok(base64) = std::str::from_utf8(data) {
        let text = format!("b{base64}");
        if let Ok(decoded) = Packet::decode_text(&text) {
            assert!(matches!(decoded, Packet::Binary(_)));
        }
    }
});
