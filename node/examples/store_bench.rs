//! Store benchmark: how many messages per second the `StoreActor` makes durable with
//! group commit, and the batch size it settles at.
//!
//! `cargo run --release -p confab-node --example store_bench -- --database-url <url>
//!  --senders 200 --messages 50 --conversations 100`
//!
//! Each sender appends its messages one after the other (waiting for each to be durable,
//! as a client waits for its ack), all senders at once, spread over the conversations.

use std::time::Instant;

use actix::Actor;
use clap::Parser;
use confab_node::actors::store::{Append, StoreActor};
use confab_node::chat::conversations::Conversation;
use confab_node::config::DatabasePool;
use confab_node::startup;
use confab_node::store::messages::NewMessage;
use confab_node::store::users::{self, NewUser};
use confab_protocol::chat::UserId;

#[derive(Debug, Parser)]
struct Args {
    /// The database (it is migrated first); use a fresh one.
    #[arg(long)]
    database_url: String,
    /// Concurrent senders.
    #[arg(long, default_value_t = 200)]
    senders: usize,
    /// Messages per sender.
    #[arg(long, default_value_t = 50)]
    messages: usize,
    /// Conversations the messages are spread over.
    #[arg(long, default_value_t = 100)]
    conversations: usize,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let metrics = confab_node::metrics::recorder();
    let db = startup::connect(&args.database_url, &DatabasePool::default()).await?;
    startup::migrate(&db).await?;
    let store = StoreActor::new(db.clone(), usize::MAX).start();
    // Conversations point at real users: one peer, and one user per conversation.
    let user = |name: String| {
        let db = db.clone();
        async move {
            let new = NewUser {
                username: name,
                display_name: "bench".into(),
                password_hash: "not a login".into(),
            };
            anyhow::Ok(UserId::stored(users::insert(&db, new).await?.id))
        }
    };
    let peer = user(format!("peer-{}", std::process::id())).await?;
    let mut owners = Vec::new();
    for n in 0..args.conversations.max(1) {
        owners.push(user(format!("u{n}-{}", std::process::id())).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for sender in 0..args.senders {
        let store = store.clone();
        let messages = args.messages;
        let conversation = Conversation::direct(&owners[sender % owners.len()], &peer);
        tasks.push(actix::spawn(async move {
            for n in 0..messages {
                let body = "benchmark message body of a typical length, about eighty bytes long";
                let new = NewMessage {
                    conversation: conversation.to_ref(),
                    sender_id: format!("sender-{sender}"),
                    size: NewMessage::size_of(body.len(), 0),
                    body: body.into(),
                    meta: None,
                    client_msg_id: format!("{n}"),
                    reply_to: None,
                    mentions: None,
                    attachments: None,
                };
                store
                    .send(Append(new))
                    .await
                    .map_err(|error| anyhow::anyhow!("{error}"))?
                    .map_err(|error| anyhow::anyhow!(error))?
                    .map_err(|refusal| anyhow::anyhow!("refused: {refusal:?}"))?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let total = args.senders * args.messages;
    let rendered = metrics.render();
    let transactions = rendered
        .lines()
        .find(|line| line.starts_with("confab_store_transactions_total"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse::<f64>().ok())
        .unwrap_or(0.0);
    println!(
        "{total} messages in {:.2} s: {:.0} messages/s, {transactions} transactions, {:.1} messages per transaction on average",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        total as f64 / transactions.max(1.0)
    );
    Ok(())
}
