//! Engine.IO text packets: a WebSocket text frame, or one packet of a polling payload.
#![no_main]

use bytes::Bytes;
use confab_protocol::engineio::{Frame, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The frame path checks UTF-8 itself; the `&str` path is what the polling decoder uses.
    let framed = Frame::Text(Bytes::copy_from_slice(data)).decode();
    if let Ok(text) = std::str::from_utf8(data) {
        let direct = Packet::decode_text(text);
        assert_eq!(direct.is_ok(), framed.is_ok());
        if let (Ok(direct), Ok(framed)) = (direct, framed) {
            assert_eq!(direct, framed);
        }
    } else {
        assert!(framed.is_err());
    }
});
