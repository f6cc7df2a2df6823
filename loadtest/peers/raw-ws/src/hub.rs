//! Who is connected and who is in which group: the only state of the server.
//!
//! The server runs on one thread, so the hub is a plain struct behind `Rc<RefCell<_>>`;
//! it is borrowed for the length of one event and never across an `await`. Each
//! connection has an outbox (the channel its writer task drains); sending to a user or a
//! group clones one encoded [`Message`] (its bytes are shared, not copied) into the
//! outboxes of every recipient.

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// The channel a connection's writer task drains.
pub(crate) type Outbox = mpsc::UnboundedSender<Message>;

/// A connection's number, unique for the life of the process.
pub(crate) type ConnId = u64;

#[derive(Debug)]
struct Connection {
    user: String,
    outbox: Outbox,
    /// The groups it joined, so leaving them on disconnect needs no scan.
    groups: Vec<String>,
}

/// Connections by id, by user and by group.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    next_conn: ConnId,
    next_message: u64,
    connections: HashMap<ConnId, Connection>,
    users: HashMap<String, Vec<ConnId>>,
    groups: HashMap<String, Vec<ConnId>>,
}

impl Hub {
    /// Registers a connection of `user` and returns its id.
    pub(crate) fn connect(&mut self, user: &str, outbox: Outbox) -> ConnId {
        self.next_conn += 1;
        let id = self.next_conn;
        self.users.entry(user.to_owned()).or_default().push(id);
        let connection = Connection {
            user: user.to_owned(),
            outbox,
            groups: Vec::new(),
        };
        self.connections.insert(id, connection);
        id
    }

    /// Forgets a connection: its user and groups no longer reach it, and its outbox closes.
    pub(crate) fn disconnect(&mut self, id: ConnId) {
        let Some(connection) = self.connections.remove(&id) else {
            return;
        };
        remove_member(&mut self.users, &connection.user, id);
        for group in &connection.groups {
            remove_member(&mut self.groups, group, id);
        }
    }

    /// Adds the connection to `group` (once).
    pub(crate) fn join(&mut self, id: ConnId, group: &str) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        let members = self.groups.entry(group.to_owned()).or_default();
        if !members.contains(&id) {
            members.push(id);
            connection.groups.push(group.to_owned());
        }
    }

    /// Whether `user` has a connection.
    pub(crate) fn is_online(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// A fresh message id.
    pub(crate) fn message_id(&mut self) -> String {
        self.next_message += 1;
        format!("m{}", self.next_message)
    }

    /// Sends `frame` to every connection of `users` and to every member of `group`,
    /// except `except`; returns how many connections it went to.
    pub(crate) fn send(
        &self,
        users: &[&str],
        group: Option<&str>,
        except: ConnId,
        frame: &Message,
    ) -> usize {
        let by_user = users.iter().filter_map(|user| self.users.get(*user));
        let by_group = group.and_then(|group| self.groups.get(group));
        let mut sent = 0;
        for id in by_user.chain(by_group).flatten() {
            if *id == except {
                continue;
            }
            if let Some(connection) = self.connections.get(id) {
                // A closed outbox means the connection is going away; it is not counted.
                sent += usize::from(connection.outbox.send(frame.clone()).is_ok());
            }
        }
        sent
    }
}

fn remove_member(map: &mut HashMap<String, Vec<ConnId>>, key: &str, id: ConnId) {
    if let Some(members) = map.get_mut(key) {
        members.retain(|member| *member != id);
        if members.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox() -> (Outbox, mpsc::UnboundedReceiver<Message>) {
        mpsc::unbounded_channel()
    }

    #[test]
    fn send_reaches_users_and_groups_but_not_the_sender() {
        let mut hub = Hub::default();
        let (a_tx, mut a_rx) = outbox();
        let (b_tx, mut b_rx) = outbox();
        let (c_tx, mut c_rx) = outbox();
        let a = hub.connect("alice", a_tx);
        let b = hub.connect("bob", b_tx);
        let c = hub.connect("carol", c_tx);
        for id in [a, b, c, b] {
            hub.join(id, "g");
        }
        let frame = Message::text("x");
        assert_eq!(hub.send(&[], Some("g"), a, &frame), 2);
        assert!(a_rx.try_recv().is_err());
        assert_eq!(b_rx.try_recv().ok(), Some(frame.clone()));
        assert!(b_rx.try_recv().is_err(), "joined twice, delivered once");
        assert_eq!(c_rx.try_recv().ok(), Some(frame.clone()));
        assert_eq!(hub.send(&["bob", "alice"], None, a, &frame), 1);

        hub.disconnect(b);
        assert!(!hub.is_online("bob"));
        assert_eq!(hub.send(&["bob"], Some("g"), a, &frame), 1);
    }
}
