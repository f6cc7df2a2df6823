//! Helpers shared by the fuzz targets: how an input is split into frames, and the
//! equality a round trip must keep.
//!
//! Input layout (used by every target that needs more than one blob): the bytes up to the
//! first `0xFF` are the text part, and each further `0xFF` starts another blob. `0xFF`
//! never occurs in UTF-8, so a text part is never cut, and seeds stay readable.

use bytes::Bytes;
use confab_protocol::socketio::{Packet, PacketData};
use serde_json::Value;

/// The separator between the parts of an input.
pub const SEPARATOR: u8 = 0xFF;

/// Splits `data` at every `0xFF`: the first part, then the others.
pub fn split(data: &[u8]) -> (&[u8], Vec<Bytes>) {
    let mut parts = data.split(|&b| b == SEPARATOR);
    let first = parts.next().unwrap_or_default();
    (first, parts.map(Bytes::copy_from_slice).collect())
}

/// JSON equality up to the number representation a JavaScript round trip changes:
/// the encoder prints numbers as `JSON.stringify` does, so the float `2.0` comes back as
/// the integer `2` and `-0.0` as `0`. Two numbers match if they are equal, or if either
/// is a float and both are the same `f64`; everything else must be equal exactly.
pub fn json_matches(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || ((x.is_f64() || y.is_f64()) && x.as_f64() == y.as_f64())
        }
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_matches(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| json_matches(x, y)))
        }
        _ => a == b,
    }
}

fn all_match(xs: &[Value], ys: &[Value]) -> bool {
    xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_matches(x, y))
}

/// Socket.IO packet equality with [`json_matches`] for every JSON part.
pub fn packets_match(a: &Packet, b: &Packet) -> bool {
    if a.namespace != b.namespace || a.packet_type() != b.packet_type() {
        return false;
    }
    match (&a.data, &b.data) {
        (PacketData::Connect(x), PacketData::Connect(y)) => match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => {
                json_matches(&Value::Object(x.clone()), &Value::Object(y.clone()))
            }
            _ => false,
        },
        (PacketData::Disconnect, PacketData::Disconnect) => true,
        (PacketData::Event(x), PacketData::Event(y)) => {
            x.name == y.name
                && x.ack == y.ack
                && x.attachments == y.attachments
                && all_match(&x.args, &y.args)
        }
        (PacketData::Ack(x), PacketData::Ack(y)) => {
            x.id == y.id && x.attachments == y.attachments && all_match(&x.args, &y.args)
        }
        (PacketData::ConnectError(x), PacketData::ConnectError(y)) => {
            x.message == y.message
                && match (&x.data, &y.data) {
                    (None, None) => true,
                    (Some(x), Some(y)) => json_matches(x, y),
                    _ => false,
                }
        }
        _ => false,
    }
}
