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

use actix::prelude::*;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::oneshot;

use crate::store::append::{self, Appended};
use crate::store::messages::NewMessage;

/// Most messages written in one transaction.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<Appended, String>>;

/// The node's writer of messages.
#[derive(Debug)]
pub struct StoreActor {
    db: DatabaseConnection,
    pending: Vec<(NewMessage, Reply)>,
    writing: bool,
}

impl StoreActor {
    /// A writer on `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            pending: Vec::new(),
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
        let db = self.db.clone();
        metrics::histogram!("confab_store_batch_size").record(batch.len() as f64);
        metrics::counter!("confab_store_transactions_total").increment(1);
        ctx.spawn(
            async move {
                let (news, replies): (Vec<NewMessage>, Vec<Reply>) = batch.into_iter().unzip();
                let results = write(&db, news).await;
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result.map_err(|error| error.to_string()));
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

/// Writes a batch; if the batch fails as a whole, retries each message alone so one
/// conflicting message (a duplicate stored by another node at the same moment) does not
/// fail the others.
async fn write(db: &DatabaseConnection, batch: Vec<NewMessage>) -> Vec<Result<Appended, DbErr>> {
    match append::append_batch(db, &batch).await {
        Ok(results) => {
            let stored = results.iter().filter(|result| result.is_ok()).count();
            metrics::counter!("confab_messages_stored_total").increment(stored as u64);
            results.into_iter().map(Ok).collect()
        }
        Err(error) if batch.len() > 1 => {
            tracing::debug!(%error, size = batch.len(), "batch failed; writing one by one");
            let mut results = Vec::with_capacity(batch.len());
            for new in batch {
                results.push(write_one(db, new).await);
            }
            results
        }
        Err(error) => vec![Err(error)],
    }
}

async fn write_one(db: &DatabaseConnection, new: NewMessage) -> Result<Appended, DbErr> {
    let one = std::slice::from_ref(&new);
    let first = append::append_batch(db, one).await;
    // A unique violation means the same message was stored meanwhile: read it back.
    let result = match first {
        Err(error) if crate::store::is_unique_violation(&error) => {
            append::append_batch(db, one).await
        }
        other => other,
    };
    let appended = result?
        .pop()
        .ok_or_else(|| DbErr::Custom("empty batch result".to_owned()))?;
    if appended.is_ok() {
        metrics::counter!("confab_messages_stored_total").increment(1);
    }
    Ok(appended)
}

impl Actor for StoreActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(65_536);
    }
}

/// Store a message; answers once it is durable with the stored message (or the one stored
/// earlier with the same sender and `client_msg_id`), or with why it was refused; the
/// error is a database failure.
#[derive(Debug, Message)]
#[rtype(result = "Result<Appended, String>")]
pub struct Append(pub NewMessage);

impl Handler<Append> for StoreActor {
    type Result = ResponseFuture<Result<Appended, String>>;

    fn handle(&mut self, Append(new): Append, ctx: &mut Self::Context) -> Self::Result {
        let (reply, answer) = oneshot::channel();
        self.pending.push((new, reply));
        self.flush(ctx);
        Box::pin(async move {
            answer
                .await
                .unwrap_or_else(|_| Err("the store stopped before writing".to_owned()))
        })
    }
}
