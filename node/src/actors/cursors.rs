//! `CursorWriter`: moves read cursors with group commit, as the `StoreActor` stores
//! messages. When it is idle a receipt is written at once; while a statement runs, the
//! receipts that arrive wait and go together in the next one, so a burst of receipts costs
//! one commit instead of one each. A receipt is answered once its cursor is durable.
//!
//! What waits is bounded ([`CursorWriter::new`]'s `max_waiting`, [`MAX_WAITING`] on a
//! node): past it a receipt is answered [`StoreError::Busy`] at once, and the reader is
//! told to retry.

use actix::prelude::*;
use chrono::Utc;
use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;

use super::store::StoreError;
use crate::store::cursors::{self, CursorMove};

/// Most receipts waiting to be written on a node.
pub const MAX_WAITING: usize = 16_384;
/// Most receipts written by one statement run.
const MAX_BATCH: usize = 1024;

type Reply = oneshot::Sender<Result<(), StoreError>>;

/// The node's writer of read cursors.
#[derive(Debug)]
pub struct CursorWriter {
    db: DatabaseConnection,
    waiting: Vec<(CursorMove, Reply)>,
    max_waiting: usize,
    writing: bool,
}

impl CursorWriter {
    /// A writer on `db` with at most `max_waiting` receipts waiting (besides the ones
    /// being written).
    pub fn new(db: DatabaseConnection, max_waiting: usize) -> Self {
        Self {
            db,
            waiting: Vec::new(),
            max_waiting,
            writing: false,
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.waiting.is_empty() {
            return;
        }
        self.writing = true;
        let take = self.waiting.len().min(MAX_BATCH);
        let (moves, replies): (Vec<CursorMove>, Vec<Reply>) = self.waiting.drain(..take).unzip();
        let db = self.db.clone();
        ctx.spawn(
            async move {
                let result = cursors::advance(&db, moves, Utc::now())
                    .await
                    .map_err(|error| StoreError::Database(error.to_string()));
                for reply in replies {
                    let _ = reply.send(result.clone());
                }
            }
            .into_actor(self)
            .map(|(), actor, ctx| {
                actor.writing = false;
                actor.flush(ctx);
            }),
        );
    }
}

impl Actor for CursorWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAX_WAITING);
    }
}

/// Move a reader's cursor forward (never back); answers once it is durable.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct MoveCursor(pub CursorMove);

impl Handler<MoveCursor> for CursorWriter {
    type Result = ResponseFuture<Result<(), StoreError>>;

    fn handle(&mut self, MoveCursor(cursor): MoveCursor, ctx: &mut Self::Context) -> Self::Result {
        if self.waiting.len() >= self.max_waiting {
            return Box::pin(async { Err(StoreError::Busy) });
        }
        let (reply, answer) = oneshot::channel();
        self.waiting.push((cursor, reply));
        self.flush(ctx);
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(StoreError::Database(
                    "the cursor writer stopped before writing".to_owned(),
                ))
            })
        })
    }
}
