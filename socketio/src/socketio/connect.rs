//! Joining a namespace: the CONNECT packet, the namespace's `authorize`, connection-state
//! recovery, and the reply (`CONNECT` with the socket's ids, or `CONNECT_ERROR`).

use std::collections::HashSet;

use actix::AsyncContext;
use bytes::Bytes;
use confab_protocol::engineio::Frame;
use confab_protocol::socketio::{ConnectError, Namespace as NamespaceName, Packet, PacketData};
use serde_json::{Map, Value};

use super::namespace::Namespace;
use super::recovery::Restored;
use super::session::SocketIoSession;
use super::socket::Socket;
use crate::engineio::{Session, Sid};

impl SocketIoSession {
    /// A CONNECT to a namespace the session has not joined.
    pub(super) fn connect(
        &mut self,
        session: &mut Session<'_, Self>,
        name: NamespaceName,
        auth: Option<Map<String, Value>>,
    ) {
        let refuse = |session: &mut Session<'_, Self>, error: ConnectError| {
            Self::send_packet(
                session,
                &Packet::new(name.clone(), PacketData::ConnectError(error)),
            );
        };
        let Some(namespace) = self.io.of(name.as_str()).cloned() else {
            return refuse(
                session,
                ConnectError {
                    message: "Invalid namespace".to_owned(),
                    data: None,
                },
            );
        };
        let data = match namespace.handler.authorize(session.sid(), auth.as_ref()) {
            Ok(data) => data,
            Err(error) => return refuse(session, error),
        };
        let (pid, restored) = match restore(&namespace, auth.as_ref()) {
            Some((pid, restored)) => (Some(pid), Some(restored)),
            None => (
                namespace.recovers().then(|| Sid::generate().to_string()),
                None,
            ),
        };
        let (id, rooms, missed) = match restored {
            Some(restored) => (restored.sid, restored.rooms, restored.missed),
            None => (Sid::generate(), HashSet::new(), Vec::new()),
        };
        let socket = Socket::new(
            id.clone(),
            session.sid().clone(),
            pid.clone(),
            namespace.clone(),
            session.address(),
            data,
        );
        namespace.add(socket.clone(), rooms);
        self.sockets
            .insert(name.as_str().to_owned(), socket.clone());
        if let Some(timer) = self.connect_timeout.take() {
            session.context().cancel_future(timer);
        }
        // The reference sends what was missed first; the client holds events until the
        // CONNECT and then hands them over in order.
        for event in missed {
            Self::send_packet(
                session,
                &Packet::new(name.clone(), PacketData::Event(event)),
            );
        }
        session.send(connect_reply(&name, id.as_str(), pid.as_deref()));
        let handler = namespace.handler.clone();
        handler.on_connect(&socket);
    }
}

/// The recovered private id and state for a CONNECT carrying `pid` and `offset`, if the
/// namespace still has them.
fn restore(namespace: &Namespace, auth: Option<&Map<String, Value>>) -> Option<(String, Restored)> {
    let auth = auth?;
    let pid = auth.get("pid")?.as_str()?;
    let offset = auth.get("offset")?.as_str()?;
    let restored = namespace.restore(pid, offset)?;
    Some((pid.to_owned(), restored))
}

/// The CONNECT reply, `40[<namespace>,]{"sid":..[,"pid":..]}`, with its keys in the
/// reference's order (a `serde_json::Map` would sort them).
fn connect_reply(namespace: &NamespaceName, sid: &str, pid: Option<&str>) -> Frame {
    let mut out = Vec::new();
    Packet::new(namespace.clone(), PacketData::Connect(None)).encode_message_into(&mut out);
    out.extend_from_slice(b"{\"sid\":");
    out.extend_from_slice(Value::from(sid).to_string().as_bytes());
    if let Some(pid) = pid {
        out.extend_from_slice(b",\"pid\":");
        out.extend_from_slice(Value::from(pid).to_string().as_bytes());
    }
    out.push(b'}');
    Frame::Text(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(frame: Frame) -> String {
        String::from_utf8(frame.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn the_connect_reply_puts_sid_before_pid() {
        let root = NamespaceName::root();
        assert_eq!(
            text(connect_reply(&root, "abc", Some("p1"))),
            r#"40{"sid":"abc","pid":"p1"}"#
        );
        assert_eq!(
            text(connect_reply(&root, "abc", None)),
            r#"40{"sid":"abc"}"#
        );
    }

    #[test]
    fn the_connect_reply_names_its_namespace_and_escapes_ids() {
        let custom = NamespaceName::new("/custom").unwrap();
        assert_eq!(
            text(connect_reply(&custom, "a\"b", Some("p"))),
            r#"40/custom,{"sid":"a\"b","pid":"p"}"#
        );
    }

    #[test]
    fn the_connect_reply_decodes_as_a_connect_packet() {
        let frame = connect_reply(&NamespaceName::root(), "abc", Some("p1"));
        let decoded = confab_protocol::socketio::decode(&text(frame)[1..], 10).unwrap();
        let confab_protocol::socketio::Decoded::Complete(packet) = decoded else {
            panic!("not complete");
        };
        let PacketData::Connect(Some(reply)) = packet.data else {
            panic!("not a connect");
        };
        assert_eq!(reply.get("sid"), Some(&Value::from("abc")));
        assert_eq!(reply.get("pid"), Some(&Value::from("p1")));
    }
}
