//! One Socket.IO packet: the text part of the input (up to the first `0xFF`) is decoded;
//! the other parts are its attachments, pushed one by one into the `PartialPacket` and
//! also given all at once to `decode_with_attachments`. Both ways must agree.
#![no_main]

use confab_protocol::socketio::{self, DEFAULT_MAX_ATTACHMENTS, Decoded, PacketData};
use confab_protocol_fuzz::split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, attachments) = split(data);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let all_at_once =
        socketio::decode_with_attachments(text, attachments.clone(), DEFAULT_MAX_ATTACHMENTS);

    let mut state = match socketio::decode(text, DEFAULT_MAX_ATTACHMENTS) {
        Ok(decoded) => decoded,
        Err(_) => {
            assert!(all_at_once.is_err());
            return;
        }
    };
    let mut pushed = 0;
    for attachment in attachments.iter().cloned() {
        let Decoded::Partial(partial) = state else {
            break;
        };
        assert!(partial.expected() >= 1 && partial.expected() <= DEFAULT_MAX_ATTACHMENTS);
        assert_eq!(partial.received(), pushed);
        state = partial.push(attachment);
        pushed += 1;
    }
    match state {
        Decoded::Complete(packet) if pushed == attachments.len() => {
            let all_at_once = all_at_once.expect("pushing every attachment completed the packet");
            assert_eq!(packet, all_at_once);
            assert_eq!(packet.attachments().len(), pushed);
            // Putting the blobs back must find every placeholder of a binary packet valid
            // (the header was checked); in a plain packet a placeholder-like object is data,
            // and `binary_args` may refuse it, but must not panic.
            let binary = packet.packet_type().is_binary();
            let rebuilt = match &packet.data {
                PacketData::Event(event) => Some(event.binary_args().is_ok()),
                PacketData::Ack(ack) => Some(ack.binary_args().is_ok()),
                _ => None,
            };
            assert!(
                !binary || rebuilt == Some(true),
                "placeholders of a binary packet"
            );
        }
        _ => assert!(
            all_at_once.is_err(),
            "attachment count differs, yet decoded"
        ),
    }
});
