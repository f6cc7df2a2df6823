//! `NodeActor`: one per process. It keeps this node's lease in the directory alive, so
//! other nodes (and the directory's readers) know it is up, and gives it back when the
//! node stops. Later it also bridges the bus and the local actors.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use confab_cluster::Directory;

/// The process-wide actor of a node.
#[derive(Debug)]
pub struct NodeActor {
    node_id: String,
    directory: Arc<dyn Directory>,
    /// How long the lease lives without a refresh; refreshed every third of it.
    lease_ttl: Duration,
    /// Set by [`Leave`]: no lease refresh may follow the release.
    leaving: bool,
}

impl NodeActor {
    /// An actor for `node_id` holding a lease of `lease_ttl` in `directory`.
    pub fn new(node_id: String, directory: Arc<dyn Directory>, lease_ttl: Duration) -> Self {
        Self {
            node_id,
            directory,
            lease_ttl,
            leaving: false,
        }
    }

    fn refresh_lease(&mut self, ctx: &mut Context<Self>) {
        if self.leaving {
            return;
        }
        let directory = self.directory.clone();
        let node_id = self.node_id.clone();
        let ttl = self.lease_ttl;
        ctx.spawn(
            async move {
                if let Err(error) = directory.refresh_node_lease(&node_id, ttl).await {
                    metrics::counter!("confab_directory_errors_total", "op" => "refresh_lease")
                        .increment(1);
                    tracing::warn!(%error, "could not refresh the node lease");
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.refresh_lease(ctx);
        ctx.run_interval(self.lease_ttl / 3, Self::refresh_lease);
    }
}

/// The node is stopping: give the lease back and stop the actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Leave;

impl Handler<Leave> for NodeActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Leave, _: &mut Self::Context) -> Self::Result {
        self.leaving = true;
        let directory = self.directory.clone();
        let node_id = self.node_id.clone();
        Box::pin(
            async move {
                if let Err(error) = directory.release_node_lease(&node_id).await {
                    tracing::warn!(%error, "could not release the node lease; it will expire");
                }
            }
            .into_actor(self)
            .map(|(), _, ctx| ctx.stop()),
        )
    }
}
