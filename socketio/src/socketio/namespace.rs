//! A namespace: its handler, the sockets connected to it and the rooms they are in, and
//! broadcasting to them (encoded once, the same bytes for every session).
//!
//! As in the reference server, every socket is in a room named by its own id. With
//! connection-state recovery on, each event sent without an ack (broadcast, or emitted to
//! one socket, which is a broadcast to its own room) gets an offset and is logged, so
//! that a socket coming back can be sent what it missed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use confab_protocol::engineio::Frame;
use confab_protocol::socketio::{Event, Namespace as NamespaceName, Packet, PacketData};

use super::recovery::{RecoveryLog, Restored};
use super::session::SioCommand;
use super::socket::Socket;
use super::{NamespaceHandler, SocketIoConfig};
use crate::Metrics;
use crate::engineio::{Command, Sid};

/// Who is connected, and in which rooms.
#[derive(Debug, Default)]
struct Members {
    sockets: HashMap<Sid, (Socket, HashSet<String>)>,
    rooms: HashMap<String, HashSet<Sid>>,
}

/// One namespace of a [`super::SocketIo`] server.
pub struct Namespace {
    name: NamespaceName,
    pub(super) handler: Arc<dyn NamespaceHandler>,
    members: Mutex<Members>,
    recovery: Option<Mutex<RecoveryLog>>,
    /// Ack ids of server emits: one counter for the whole namespace, as in the reference.
    ack_ids: AtomicU64,
    /// The server's handles, kept here because every socket reaches its namespace.
    pub(super) metrics: Metrics,
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy)]
struct Delivery {
    /// Sessions that took the frames.
    sent: usize,
    /// Sessions that could not take them (full mailboxes).
    failed: usize,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Namespace {
    pub(super) fn new(
        name: NamespaceName,
        handler: Arc<dyn NamespaceHandler>,
        config: &SocketIoConfig,
    ) -> Self {
        Self {
            name,
            handler,
            members: Mutex::new(Members::default()),
            recovery: config
                .recovery_window
                .map(|window| Mutex::new(RecoveryLog::new(window))),
            ack_ids: AtomicU64::new(0),
            metrics: config.metrics.clone(),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &NamespaceName {
        &self.name
    }

    /// Whether connection-state recovery is on.
    pub fn recovers(&self) -> bool {
        self.recovery.is_some()
    }

    fn members(&self) -> MutexGuard<'_, Members> {
        // A panic while holding the lock cannot leave `Members` half-updated in a way that
        // matters more than losing every socket, so a poisoned lock is used as is.
        self.members
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many sockets are connected.
    pub fn len(&self) -> usize {
        self.members().sockets.len()
    }

    /// Whether no socket is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A fresh ack id for an emit that waits for the client's answer.
    pub(super) fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a connected socket, in `rooms` and in the room named by its id.
    pub(super) fn add(&self, socket: Socket, mut rooms: HashSet<String>) {
        rooms.insert(socket.id().as_str().to_owned());
        let mut members = self.members();
        for room in &rooms {
            members
                .rooms
                .entry(room.clone())
                .or_default()
                .insert(socket.id().clone());
        }
        members.sockets.insert(socket.id().clone(), (socket, rooms));
    }

    /// Removes a socket; returns the rooms it was in.
    pub(super) fn remove(&self, id: &Sid) -> HashSet<String> {
        let mut members = self.members();
        let rooms = members
            .sockets
            .remove(id)
            .map(|(_, rooms)| rooms)
            .unwrap_or_default();
        for room in &rooms {
            if let Some(ids) = members.rooms.get_mut(room) {
                ids.remove(id);
                if ids.is_empty() {
                    members.rooms.remove(room);
                }
            }
        }
        rooms
    }

    /// Puts socket `id` in `room`.
    pub fn join(&self, id: &Sid, room: &str) {
        let mut members = self.members();
        let Some((_, rooms)) = members.sockets.get_mut(id) else {
            return;
        };
        rooms.insert(room.to_owned());
        members
            .rooms
            .entry(room.to_owned())
            .or_default()
            .insert(id.clone());
    }

    /// Takes socket `id` out of `room`.
    pub fn leave(&self, id: &Sid, room: &str) {
        let mut members = self.members();
        if let Some((_, rooms)) = members.sockets.get_mut(id) {
            rooms.remove(room);
        }
        if let Some(ids) = members.rooms.get_mut(room) {
            ids.remove(id);
            if ids.is_empty() {
                members.rooms.remove(room);
            }
        }
    }

    /// Sends `event` to every socket (or those in `room`) but `except`; returns how many
    /// sessions could not take it (full mailboxes).
    pub fn broadcast(&self, room: Option<&str>, except: Option<&Sid>, event: Event) -> usize {
        self.deliver(room, except, event).failed
    }

    /// Sends `event` to socket `id`, as a broadcast to its own room (so that, with
    /// recovery on, it is logged); whether its session took it.
    pub(super) fn emit_to(&self, id: &Sid, event: Event) -> bool {
        let delivery = self.deliver(Some(id.as_str()), None, event);
        delivery.sent > 0 && delivery.failed == 0
    }

    fn deliver(&self, room: Option<&str>, except: Option<&Sid>, event: Event) -> Delivery {
        // The log stays locked until every session has the frames, so that each gets
        // them in offset order (a client resumes after the last offset it saw).
        let mut log = self
            .recovery
            .as_ref()
            .map(|log| log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let event = match log.as_mut() {
            // An ack cannot be replayed to another session, so such events are not logged.
            Some(log) if event.ack.is_none() => log.record(room, except, event),
            _ => event,
        };
        let frames: Arc<[Frame]> = Packet::new(self.name.clone(), PacketData::Event(event))
            .to_frames()
            .into();
        let recipients: Vec<Socket> = {
            let members = self.members();
            let chosen: Box<dyn Iterator<Item = &Sid>> = match room {
                Some(room) => Box::new(members.rooms.get(room).into_iter().flatten()),
                None => Box::new(members.sockets.keys()),
            };
            chosen
                .filter(|id| Some(*id) != except)
                .filter_map(|id| members.sockets.get(id).map(|(socket, _)| socket.clone()))
                .collect()
        };
        let failed = recipients
            .iter()
            .filter(|socket| {
                socket
                    .session()
                    .try_send(Command(SioCommand::Send(frames.clone())))
                    .is_err()
            })
            .count();
        drop(log);
        if failed > 0 {
            self.metrics
                .broadcast_deliveries_dropped
                .increment(failed as u64);
        }
        Delivery {
            sent: recipients.len() - failed,
            failed,
        }
    }

    pub(super) fn save_for_recovery(&self, pid: String, sid: Sid, rooms: HashSet<String>) {
        if let Some(log) = &self.recovery {
            log.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .save(pid, sid, rooms);
        }
    }

    pub(super) fn restore(&self, pid: &str, offset: &str) -> Option<Restored> {
        self.recovery
            .as_ref()?
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .restore(pid, offset)
    }
}
