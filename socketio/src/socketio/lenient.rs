//! Packets that `confab-protocol`'s strict decoder refuses but the reference decoder
//! (`socket.io-parser`) lets through, after which the reference server ignores them: an
//! EVENT without payload (`42`, its handler gets no name), an EVENT named by a number
//! (`42[1]`, no handler), an ACK without an id (`43["x"]`, matches no emit). Such a packet
//! is ignored when its namespace is joined; otherwise the reference closes the session
//! like for any packet on a namespace not joined, and so do we.

use confab_protocol::socketio::{PacketType, SocketIoError};
use serde_json::Value;

/// The namespace of `text` if the reference would have decoded it and then ignored it.
pub(super) fn ignored_packet_namespace(text: &str, error: &SocketIoError) -> Option<String> {
    let kind = text.bytes().next().and_then(PacketType::from_ascii)?;
    let (namespace, rest) = split_namespace(text.get(1..)?);
    let tolerated = match (kind, error) {
        (PacketType::Event, SocketIoError::MissingPayload(PacketType::Event)) => true,
        (PacketType::Event, SocketIoError::NamespaceWithoutComma) => true,
        (PacketType::Event, SocketIoError::EventNameNotString) => {
            let json = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            matches!(
                serde_json::from_str::<Value>(json),
                Ok(Value::Array(items)) if items.first().is_some_and(Value::is_number)
            )
        }
        (PacketType::Ack, SocketIoError::MissingAckId) => true,
        _ => false,
    };
    tolerated.then(|| namespace.to_owned())
}

/// Splits `/name,rest` (or `/name` alone) into the namespace and the rest; `/` and the
/// whole text when there is no namespace.
fn split_namespace(text: &str) -> (&str, &str) {
    if !text.starts_with('/') {
        return ("/", text);
    }
    match text.split_once(',') {
        Some((namespace, rest)) => (namespace, rest),
        None => (text, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_protocol::socketio::{DEFAULT_MAX_ATTACHMENTS, decode};

    /// What the strict decoder says about `text`, then whether it is tolerated.
    fn ignored(text: &str) -> Option<String> {
        let error = decode(text, DEFAULT_MAX_ATTACHMENTS).expect_err("strict decoder refuses");
        ignored_packet_namespace(text, &error)
    }

    #[test]
    fn events_without_payload_are_ignored_in_their_namespace() {
        assert_eq!(ignored("2").as_deref(), Some("/"));
        assert_eq!(ignored("21").as_deref(), Some("/"));
        assert_eq!(ignored("2/custom,").as_deref(), Some("/custom"));
        assert_eq!(ignored("2/custom").as_deref(), Some("/custom"));
    }

    #[test]
    fn numeric_event_names_are_ignored() {
        assert_eq!(ignored("2[1]").as_deref(), Some("/"));
        assert_eq!(ignored("27[1.5,\"x\"]").as_deref(), Some("/"));
        assert_eq!(ignored("2/a,[2]").as_deref(), Some("/a"));
    }

    #[test]
    fn acks_without_id_are_ignored() {
        assert_eq!(ignored(r#"3["x"]"#).as_deref(), Some("/"));
        assert_eq!(ignored(r#"3/a,["x"]"#).as_deref(), Some("/a"));
    }

    #[test]
    fn real_protocol_violations_are_not_tolerated() {
        for text in [
            "abc",
            "",
            "9",
            "2[",
            r#"2{"a":1}"#,
            r#"2["disconnect"]"#,
            "2[null]",
            "2[]",
            r#"0"abc""#,
            "1/nope,{}",
        ] {
            assert_eq!(ignored(text), None, "{text:?}");
        }
    }
}
