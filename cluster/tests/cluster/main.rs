//! Behavioural tests of the cluster seams, against real servers only.
//!
//! Each scenario is written once and runs against both implementations of its trait:
//! `RedisDirectory` on a private `redis-server` and `LocalDirectory`; `NatsBus` on a private
//! `nats-server` and `LocalBus`. Failure scenarios (servers killed and restarted) exist only
//! for the real ones. Time-driven behaviour is awaited with a deadline, never a fixed sleep.

mod bus;
mod directory;
mod helpers;
mod secured;
