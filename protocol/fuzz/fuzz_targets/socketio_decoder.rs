//! The per-connection Socket.IO `Decoder`, fed a sequence of frames: the input's parts
//! (split at `0xFF`) are binary messages when they start with `b` (the rest is the
//! blob), text messages otherwise. A model tracks the expected state, and every packet
//! the decoder completes must equal `decode_with_attachments` over the same frames.
#![no_main]

use bytes::Bytes;
use confab_protocol::socketio::{self, DEFAULT_MAX_ATTACHMENTS, Decoded, Decoder, SocketIoError};
use libfuzzer_sys::fuzz_target;

/// A binary header the decoder is expected to be holding.
struct Pending {
    text: String,
    expected: usize,
    received: Vec<Bytes>,
}

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(DEFAULT_MAX_ATTACHMENTS);
    let mut pending: Option<Pending> = None;
    for frame in data.split(|&b| b == 0xFF) {
        if let Some(blob) = frame.strip_prefix(b"b") {
            let blob = Bytes::copy_from_slice(blob);
            let result = decoder.decode_binary(blob.clone());
            let Some(mut model) = pending.take() else {
                assert!(matches!(result, Err(SocketIoError::UnexpectedBinary)));
                continue;
            };
            model.received.push(blob);
            match result.expect("an awaited attachment is accepted") {
                Some(packet) => {
                    assert_eq!(model.received.len(), model.expected);
                    let reference = socketio::decode_with_attachments(
                        &model.text,
                        model.received,
                        DEFAULT_MAX_ATTACHMENTS,
                    )
                    .expect("the header decoded before");
                    assert_eq!(packet, reference);
                }
                None => {
                    assert!(model.received.len() < model.expected);
                    pending = Some(model);
                }
            }
        } else {
            let Ok(text) = std::str::from_utf8(frame) else {
                continue;
            };
            let result = decoder.decode_text(text);
            if pending.is_some() {
                assert!(matches!(result, Err(SocketIoError::UnexpectedText)));
                continue;
            }
            let reference = socketio::decode(text, DEFAULT_MAX_ATTACHMENTS);
            match (result, reference) {
                (Ok(Some(packet)), Ok(Decoded::Complete(reference))) => {
                    assert_eq!(packet, reference)
                }
                (Ok(None), Ok(Decoded::Partial(partial))) => {
                    pending = Some(Pending {
                        text: text.to_owned(),
                        expected: partial.expected(),
                        received: Vec::new(),
                    });
                }
                (Err(_), Err(_)) => {}
                (result, reference) => panic!("decoder {result:?} but decode {reference:?}"),
            }
        }
        assert_eq!(decoder.is_waiting_for_attachments(), pending.is_some());
    }
});
