//! What every request handler can reach: the database, the directory and
//! the bus, the node's readiness and the metrics handle. Built once in `startup` and shared by all workers.

use std::collections::HashSet;

use std::sync::{Arc, Mutex};

use confab_cluster::{Bus, Directory};
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::auth::PasswordHashing;
use crate::chat::Chat;

/// Shared state of one node.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// Where users are online (Redis in a cluster, in-process standalone).
    pub directory: Arc<dyn Directory>,
    /// How nodes talk to each other (NATS in a cluster, in-process standalone).
    pub bus: Arc<dyn Bus>,
    /// The chat's operations.
    pub chat: Chat,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// What `/readyz` last found of each dependency.
    pub dependencies: Dependencies,
    /// Whether the client address is the last `X-Forwarded-For` entry (behind a proxy).
    pub trust_forwarded_for: bool,
    /// Logins' and registrations' password hashing, bounded.
    pub hashing: Arc<PasswordHashing>,
    /// The node's shutdown signal: once cancelled, `/readyz` answers 503 (and the
    /// Engine.IO server, which watches the same token, refuses new sessions).
    pub shutdown: CancellationToken,
}

/// The dependencies found down by the last readiness checks, so that a change is logged
/// once, when it happens, and `confab_dependency_up` follows it.
#[derive(Debug, Clone, Default)]
pub struct Dependencies {
    down: Arc<Mutex<HashSet<&'static str>>>,
}

impl Dependencies {
    /// Records what a check of `dependency` found: `cause` is why it failed, if it did.
    pub fn observe(&self, dependency: &'static str, cause: Option<&str>) {
        metrics::gauge!("confab_dependency_up", "dependency" => dependency)
            .set(if cause.is_some() { 0.0 } else { 1.0 });
        let Ok(mut down) = self.down.lock() else {
            return;
        };
        match cause {
            Some(cause) if down.insert(dependency) => {
                tracing::warn!(
                    dependency,
                    cause,
                    "dependency down; the node serves degraded"
                );
            }
            None if down.remove(dependency) => tracing::info!(dependency, "dependency back"),
            _ => {}
        }
    }
}

impl AppState {
    /// State for a node that is ready for traffic.
    pub fn new(
        db: DatabaseConnection,
        directory: Arc<dyn Directory>,
        bus: Arc<dyn Bus>,
        chat: Chat,
        metrics: PrometheusHandle,
    ) -> Self {
        Self {
            db,
            directory,
            bus,
            chat,
            metrics,
            dependencies: Dependencies::default(),
            trust_forwarded_for: false,
            hashing: Arc::default(),
            shutdown: CancellationToken::new(),
        }
    }

    /// The address of the client of `req` (see [`crate::engineio::client_address`]).
    pub fn client_address(&self, req: &actix_web::HttpRequest) -> String {
        crate::engineio::client_address(req, self.trust_forwarded_for)
    }

    /// Whether the node is stopping.
    pub fn is_draining(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}
