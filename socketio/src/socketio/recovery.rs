//! Connection-state recovery: what a namespace keeps so that a socket whose transport
//! dropped can come back with the same id and rooms and receive the broadcasts it missed.
//!
//! Every event sent without an ack gets an offset (a decimal counter, sent as the event's
//! last argument, which is where `socket.io-client` looks for it) and is kept for the
//! recovery window: broadcasts, and events emitted to one socket, which are broadcasts to
//! the room named by its id. A socket that disconnects by accident leaves its id and
//! rooms (its own included) under its private id (`pid`). A CONNECT carrying `pid` and
//! `offset` within the window restores both, with the events it missed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use confab_protocol::socketio::Event;
use serde_json::Value;

use crate::engineio::Sid;

/// An event as it was sent, with whom it was for.
#[derive(Debug)]
struct Logged {
    offset: u64,
    at: Instant,
    room: Option<String>,
    except: Option<Sid>,
    event: Event,
}

/// A socket that left by accident.
#[derive(Debug)]
struct Saved {
    sid: Sid,
    rooms: HashSet<String>,
    at: Instant,
}

/// What a recovered socket gets back.
#[derive(Debug)]
pub(super) struct Restored {
    pub(super) sid: Sid,
    pub(super) rooms: HashSet<String>,
    pub(super) missed: Vec<Event>,
}

/// One namespace's recovery state.
#[derive(Debug)]
pub(super) struct RecoveryLog {
    window: Duration,
    next_offset: u64,
    packets: VecDeque<Logged>,
    sessions: HashMap<String, Saved>,
}

impl RecoveryLog {
    pub(super) fn new(window: Duration) -> Self {
        Self {
            window,
            next_offset: 1,
            packets: VecDeque::new(),
            sessions: HashMap::new(),
        }
    }

    fn expire(&mut self, now: Instant) {
        let window = self.window;
        while self
            .packets
            .front()
            .is_some_and(|logged| now - logged.at >= window)
        {
            self.packets.pop_front();
        }
        self.sessions.retain(|_, saved| now - saved.at < window);
    }

    /// Logs an event sent to `room` (or everyone) but `except`, and returns it with its
    /// offset appended.
    pub(super) fn record(
        &mut self,
        room: Option<&str>,
        except: Option<&Sid>,
        mut event: Event,
    ) -> Event {
        let now = Instant::now();
        self.expire(now);
        let offset = self.next_offset;
        self.next_offset += 1;
        event.args.push(Value::String(offset.to_string()));
        self.packets.push_back(Logged {
            offset,
            at: now,
            room: room.map(str::to_owned),
            except: except.cloned(),
            event: event.clone(),
        });
        event
    }

    /// Keeps a socket's id and rooms (including the one named by its id, so that what was
    /// emitted to it alone is replayed too) under its `pid` for the window.
    pub(super) fn save(&mut self, pid: String, sid: Sid, rooms: HashSet<String>) {
        self.expire(Instant::now());
        self.sessions.insert(
            pid,
            Saved {
                sid,
                rooms,
                at: Instant::now(),
            },
        );
    }

    /// The state saved under `pid`, with the broadcasts after `offset` it was meant to get;
    /// `None` when the window has passed or the offset is no longer known.
    pub(super) fn restore(&mut self, pid: &str, offset: &str) -> Option<Restored> {
        self.expire(Instant::now());
        let offset: u64 = offset.parse().ok()?;
        let oldest_known = self
            .packets
            .front()
            .map_or(self.next_offset, |logged| logged.offset);
        if offset.saturating_add(1) < oldest_known {
            return None;
        }
        let saved = self.sessions.remove(pid)?;
        let missed = self
            .packets
            .iter()
            .filter(|logged| logged.offset > offset)
            .filter(|logged| logged.except.as_ref() != Some(&saved.sid))
            .filter(|logged| {
                logged
                    .room
                    .as_ref()
                    .is_none_or(|room| saved.rooms.contains(room))
            })
            .map(|logged| logged.event.clone())
            .collect();
        Some(Restored {
            sid: saved.sid,
            rooms: saved.rooms,
            missed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_socket_gets_only_what_it_missed_and_was_meant_for() {
        let mut log = RecoveryLog::new(Duration::from_secs(60));
        let sid = Sid::from("socket-1");
        let first = log.record(None, None, Event::new("news", vec![]));
        let seen = first.args[0].as_str().unwrap().to_owned();
        log.save(
            "pid-1".into(),
            sid.clone(),
            HashSet::from(["red".to_owned(), "socket-1".to_owned()]),
        );
        log.record(None, None, Event::new("missed-1", vec![]));
        log.record(Some("blue"), None, Event::new("not-for-me", vec![]));
        log.record(Some("red"), None, Event::new("missed-2", vec![]));
        log.record(None, Some(&sid), Event::new("my-own", vec![]));
        log.record(Some("socket-1"), None, Event::new("direct", vec![]));
        log.record(Some("socket-2"), None, Event::new("someone-else", vec![]));
        let restored = log.restore("pid-1", &seen).unwrap();
        assert_eq!(restored.sid, sid);
        let names: Vec<_> = restored
            .missed
            .iter()
            .map(|event| event.name.as_str())
            .collect();
        assert_eq!(names, ["missed-1", "missed-2", "direct"]);
        assert!(
            log.restore("pid-1", &seen).is_none(),
            "a session is restored once"
        );
    }

    #[test]
    fn offsets_are_appended_as_the_last_argument_in_order() {
        let mut log = RecoveryLog::new(Duration::from_secs(60));
        let first = log.record(None, None, Event::new("a", vec![Value::from(1)]));
        let second = log.record(Some("r"), None, Event::new("b", vec![]));
        assert_eq!(first.args, [Value::from(1), Value::from("1")]);
        assert_eq!(second.args, [Value::from("2")]);
    }

    #[test]
    fn a_huge_or_unknown_offset_does_not_panic() {
        let mut log = RecoveryLog::new(Duration::from_secs(60));
        log.save("pid-1".into(), Sid::from("socket-1"), HashSet::new());
        let restored = log.restore("pid-1", &u64::MAX.to_string()).unwrap();
        assert!(restored.missed.is_empty());
        log.save("pid-2".into(), Sid::from("socket-2"), HashSet::new());
        assert!(log.restore("pid-2", "not-a-number").is_none());
    }

    #[test]
    fn nothing_is_restored_after_the_window() {
        let mut log = RecoveryLog::new(Duration::ZERO);
        log.save("pid-1".into(), Sid::from("socket-1"), HashSet::new());
        assert!(log.restore("pid-1", "0").is_none());
    }
}
