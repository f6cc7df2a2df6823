//! End-to-end tests of a node over real HTTP: in-process nodes on SQLite, PostgreSQL and
//! MariaDB, and real `confab` processes where the process itself is what is tested.

#![allow(clippy::unwrap_used)]

mod helpers;

mod account;
mod attachments;
mod auth;
mod chat;
mod cluster_changes;
mod cluster_delivery;
mod cluster_faults;
mod cluster_fixture;
mod cluster_mode;
mod cluster_scale;
mod config;
mod engine;
mod groups_contacts;
mod health;
mod inputs;
mod limits;
mod loadtest_smoke;
mod moderation;
mod sessions;
mod telemetry;
mod tls;
mod web;
mod webhooks;
