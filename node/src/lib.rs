//! The Confab chat server: configuration, the actix-web application, authentication,
//! persistence and telemetry. The `confab` binary (`main.rs`) is a thin CLI over this.

pub mod actors;
pub mod api;
pub mod auth;
pub mod cache;
pub mod chat;
pub mod config;
pub mod error;
pub mod metrics;
pub mod pending;
pub mod polling;
pub mod sessions;
pub mod socket;
pub mod startup;
pub mod state;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod web;
pub mod webhooks;

/// The Engine.IO and Socket.IO server, from `confab-socketio`.
pub use confab_socketio::{engineio, socketio};
