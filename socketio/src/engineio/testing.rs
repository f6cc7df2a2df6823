//! What the engine's unit tests share: an echo engine and a WebSocket client's frames.

use std::sync::Arc;
use std::time::Duration;

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame as WsFrame, OpCode, Parser};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, DuplexStream};

use super::{EchoFactory, Engine, EngineConfig};

/// An echo engine with `config`.
pub(super) fn echo_engine(config: EngineConfig) -> Arc<Engine<EchoFactory>> {
    Engine::new(config, EchoFactory)
}

/// A masked text frame, as a client sends it.
pub(super) fn client_text(payload: &str) -> BytesMut {
    let mut frame = BytesMut::new();
    Parser::write_message(&mut frame, payload, OpCode::Text, true, true);
    frame
}

/// Reads from `client` until `done` says what arrived is enough (at most 5 s).
pub(super) async fn read_until(
    client: &mut DuplexStream,
    received: &mut BytesMut,
    done: impl Fn(&[u8]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done(received) {
        let read = tokio::time::timeout_at(deadline, client.read_buf(received)).await;
        let read = read.expect("the server answered in time").expect("read");
        assert!(read > 0, "the server ended the connection early");
    }
}

/// The text frames in `bytes`, decoded as a client does.
pub(super) fn server_texts(bytes: &mut BytesMut) -> Vec<String> {
    let mut codec = Codec::new().client_mode();
    let mut texts = Vec::new();
    while let Ok(Some(frame)) = codec.decode(bytes) {
        if let WsFrame::Text(data) = frame {
            texts.push(String::from_utf8(data.to_vec()).expect("UTF-8"));
        }
    }
    texts
}
