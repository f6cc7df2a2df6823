//! The node's actors. Each file holds one actor and the messages it handles.

pub mod cursors;
pub mod group;
pub mod node;
mod registry;
pub mod store;
pub mod user;
