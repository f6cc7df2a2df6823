//! The node's actors. Each file holds one actor and the messages it handles.

pub mod node;
