//! Confab's seams to shared infrastructure.
//!
//! A node finds where users are online through a [`Directory`] and talks to other nodes
//! through a [`Bus`]. Each seam is a small object-safe trait with two implementations, both
//! always compiled: the real one for a cluster ([`RedisDirectory`] through `fred`,
//! [`NatsBus`] through `async-nats`) and an in-process one for standalone mode
//! ([`LocalDirectory`], [`LocalBus`]). The traits move ids and bytes only: `confab-protocol`
//! owns the encoding of what travels, and this crate knows nothing of actors or HTTP.
//!
//! Every Redis key and NATS subject is named by [`Keys`], and nowhere else.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use confab_cluster::{Directory, Keys, RedisDirectory};
//!
//! let directory: Arc<dyn Directory> =
//!     Arc::new(RedisDirectory::connect("redis://127.0.0.1:6379", Keys::default()).await?);
//! directory.refresh_node_lease("node-a", Duration::from_secs(10)).await?;
//! directory.register_user("alice", "node-a", Duration::from_secs(30)).await?;
//! let online = directory.lookup_users(&["alice", "bob"]).await?;
//! assert_eq!(online["alice"], ["node-a"]);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod bus;
pub mod directory;
pub mod error;
pub mod keys;
pub mod security;

pub use bus::{Bus, BusMessage, ConnectionState, Headers, LocalBus, NatsBus, Subscription};
pub use directory::{Directory, LocalDirectory, RedisDirectory};
pub use error::{BusError, DirectoryError, KeysError};
pub use keys::Keys;
pub use security::NatsSecurity;
