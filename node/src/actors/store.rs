//! `StoreActor`: makes messages durable with group commit. When the store is idle a message
//! is written at once; while a transaction is being written, the messages that arrive wait
//! and go together in the next one. The batch size so follows the load by itself, with no
//! added delay when the load is light. One transaction at a time keeps a node's messages
//! to a conversation in the order they came.
//!
//! The rules a message must meet (the recipient exists, nobody blocked anybody, the sender
//! is a member) are checked in the same transaction, for the whole batch at once.
//!
//! A message is answered only after its transaction committed: that answer is what the
//! sender's ack waits for.
//!
//! What waits is bounded in bytes ([`StoreActor::new`]'s `queue_limit_bytes`): when the
//! database is slow or a row stays locked, a message past the bound is answered
//! [`StoreError::Busy`] at once (the client retries with the same `client_msg_id`) instead
//! of memory growing with the send rate. The database's own statement timeout
//! (`startup::connect`) bounds how long one transaction can hold the writer.

use actix::prelude::*;
use futures_util::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::oneshot;

use crate::store::append::{self, Appended};
use crate::store::messages::NewMessage;

/// Most messages written in one transaction.
const MAX_BATCH: usize = 512;

/// Why the store could not answer a message with what became of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Too much waits to be written already; nothing was stored.
    #[error("the store's queue is full")]
    Busy,
    /// The database failed (or timed out); nothing was stored.
    #[error("the database failed: {0}")]
    Database(String),
}

type Reply = oneshot::Sender<Result<Appended, StoreError>>;

/// The node's writer of messages.
#[derive(Debug)]
pub struct StoreActor {
    db: DatabaseConnection,
    pending: Vec<(NewMessage, Reply)>,
    /// The [`NewMessage::size`] of everything in `pending` and in the transaction being
    /// written.
    queued_bytes: usize,
    queue_limit_bytes: usize,
    writing: bool,
}

impl StoreActor {
    /// A writer on `db` that holds at most `queue_limit_bytes` of messages (waiting and
    /// being written); one message is always taken, whatever its size.
    pub fn new(db: DatabaseConnection, queue_limit_bytes: usize) -> Self {
        Self {
            db,
            pending: Vec::new(),
            queued_bytes: 0,
            queue_limit_bytes,
            writing: false,
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.pending.is_empty() {
            return;
        }
        self.writing = true;
        let take = self.pending.len().min(MAX_BATCH);
        let batch: Vec<(NewMessage, Reply)> = self.pending.drain(..take).collect();
        let batch_bytes: usize = batch.iter().map(|(new, _)| new.size).sum();
        let db = self.db.clone();
        metrics::histogram!("confab_store_batch_size").record(batch.len() as f64);
        metrics::counter!("confab_store_transactions_total").increment(1);
        ctx.spawn(
            async move {
                let (news, replies): (Vec<NewMessage>, Vec<Reply>) = batch.into_iter().unzip();
                let results = write(&db, news).await;
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ =
                        reply.send(result.map_err(|error| StoreError::Database(error.to_string())));
                }
            }
            .into_actor(self)
            .map(move |(), actor, ctx| {
                actor.writing = false;
                actor.queued_bytes -= batch_bytes;
                actor.flush(ctx);
            }),
        );
    }
}

/// Writes a batch; if the batch fails as a whole because of what it wrote, writes each
/// half on its own, and so on down to single messages. One bad message (or one stored by
/// another node at the same moment) so fails alone, and costs about two transactions per
/// halving instead of one per message of the batch. A failure of the database itself (gone,
/// timed out, locked) fails the whole batch at once: retrying its parts would only wait
/// out the same timeout again and again.
fn write(
    db: &DatabaseConnection,
    batch: Vec<NewMessage>,
) -> BoxFuture<'_, Vec<Result<Appended, DbErr>>> {
    Box::pin(async move {
        match append::append_batch(db, &batch).await {
            Ok(results) => written(results),
            Err(error) if batch.len() > 1 && !crate::store::is_data_error(&error) => {
                let failed = error.to_string();
                batch
                    .iter()
                    .map(|_| Err(DbErr::Custom(failed.clone())))
                    .collect()
            }
            Err(error) if batch.len() > 1 => {
                tracing::debug!(%error, size = batch.len(), "batch failed; writing its halves");
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                let mut results = write(db, first).await;
                results.extend(write(db, second).await);
                results
            }
            Err(error) if crate::store::is_unique_violation(&error) => {
                // The same message was stored meanwhile: written again, the batch finds it.
                write_again(db, &batch).await
            }
            Err(error) => vec![Err(error)],
        }
    })
}

async fn write_again(db: &DatabaseConnection, one: &[NewMessage]) -> Vec<Result<Appended, DbErr>> {
    match append::append_batch(db, one).await {
        Ok(results) => written(results),
        Err(error) => vec![Err(error)],
    }
}

/// The results of a committed batch, counted.
fn written(results: Vec<Appended>) -> Vec<Result<Appended, DbErr>> {
    let stored = results
        .iter()
        .filter(|result| result.as_ref().is_ok_and(|stored| stored.fresh))
        .count();
    metrics::counter!("confab_messages_stored_total").increment(stored as u64);
    results.into_iter().map(Ok).collect()
}

impl Actor for StoreActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(65_536);
    }
}

/// Store a message; answers once it is durable with the stored message (or the one stored
/// earlier with the same sender and `client_msg_id`), or with why it was refused; the
/// error says why nothing could be stored.
#[derive(Debug, Message)]
#[rtype(result = "Result<Appended, StoreError>")]
pub struct Append(pub NewMessage);

impl Handler<Append> for StoreActor {
    type Result = ResponseFuture<Result<Appended, StoreError>>;

    fn handle(&mut self, Append(new): Append, ctx: &mut Self::Context) -> Self::Result {
        if self.queued_bytes > 0 && self.queued_bytes + new.size > self.queue_limit_bytes {
            metrics::counter!("confab_store_refused_busy_total").increment(1);
            return Box::pin(async { Err(StoreError::Busy) });
        }
        self.queued_bytes += new.size;
        let (reply, answer) = oneshot::channel();
        self.pending.push((new, reply));
        self.flush(ctx);
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(StoreError::Database(
                    "the store stopped before writing".to_owned(),
                ))
            })
        })
    }
}
