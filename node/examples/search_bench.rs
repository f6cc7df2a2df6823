//! Search benchmark: the latency of full-text search over many stored messages, in each
//! database's engine.
//!
//! `cargo run --release -p confab-node --example search_bench -- --database-url <url>
//!  --messages 1000000 --conversations 1000 --queries 300`
//!
//! Fills a fresh database with `--messages` messages over `--conversations` direct
//! conversations of one user (who can read them all: the worst case), with bodies of 8
//! to 20 words drawn with a Zipf-like skew from a vocabulary of 5,000 made-up words, then
//! gathers the database's statistics, times `--queries` searches of that user (one word of middle frequency, half of them a
//! prefix, a third of them with a second word) and prints p50/p99/max and results found.
//! The fill goes straight to the table, in statements of 1,000 rows, and is timed too;
//! `--without-index` times it without the search index, and the difference is what the
//! index costs each stored message.

use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser;
use confab_entities::migration::drop_search_index;
use confab_entities::{MessageKind, message};
use confab_node::chat::conversations::Conversation;
use confab_node::config::DatabasePool;
use confab_node::startup;
use confab_node::store::messages::ensure_conversation;
use confab_node::store::search::{SearchQuery, search};
use confab_node::store::users::{self, NewUser};
use confab_protocol::chat::UserId;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel};

#[derive(Debug, Parser)]
struct Args {
    /// The database (it is migrated first); use a fresh one.
    #[arg(long)]
    database_url: String,
    /// Messages to store.
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Conversations they are spread over.
    #[arg(long, default_value_t = 1000)]
    conversations: usize,
    /// Searches to time.
    #[arg(long, default_value_t = 300)]
    queries: usize,
    /// Take the search index away first: the fill then times the writes without it (and
    /// no search runs).
    #[arg(long)]
    without_index: bool,
}

/// Words of the made-up vocabulary.
const VOCABULARY: usize = 5000;
/// Rows per insert statement.
const ROWS: usize = 1000;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = startup::connect(&args.database_url, &DatabasePool::default()).await?;
    startup::migrate(&db).await?;
    if args.without_index {
        for statement in drop_search_index(db.get_database_backend()) {
            db.execute_unprepared(statement).await?;
        }
    }
    let words = vocabulary();
    let mut rng = SmallRng::seed_from_u64(7);
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
    let searcher = user(format!("searcher-{}", std::process::id())).await?;
    let mut conversations = Vec::new();
    for n in 0..args.conversations.max(1) {
        let peer = user(format!("p{n}-{}", std::process::id())).await?;
        let conversation = Conversation::direct(&searcher, &peer).to_ref();
        ensure_conversation(&db, &conversation, Utc::now()).await?;
        conversations.push(conversation.id);
    }
    let filling = Instant::now();
    let now = Utc::now();
    let mut stored = 0;
    while stored < args.messages {
        let rows: Vec<_> = (stored..(stored + ROWS).min(args.messages))
            .map(|n| {
                let conversation = &conversations[n % conversations.len()];
                let length = rng.random_range(8..=20);
                let body = (0..length)
                    .map(|_| words[zipf(&mut rng)].as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let id = uuid::Uuid::now_v7().to_string();
                message::Model {
                    client_msg_id: id.clone(),
                    id,
                    conversation_id: conversation.clone(),
                    seq: (n / conversations.len()) as i64 + 1,
                    sender_id: searcher.to_string(),
                    body,
                    meta: None,
                    created_at: now,
                    kind: MessageKind::Message,
                    target_seq: None,
                    reply_to: None,
                    mentions: None,
                    edited_at: None,
                    deleted_at: None,
                    expires_at: None,
                    attachments: None,
                }
                .into_active_model()
            })
            .collect();
        stored += rows.len();
        message::Entity::insert_many(rows)
            .exec_without_returning(&db)
            .await?;
    }
    let filled = filling.elapsed();
    println!(
        "filled {} messages in {:.1} s ({:.1} µs per message, {} the search index)",
        args.messages,
        filled.as_secs_f64(),
        filled.as_secs_f64() * 1e6 / args.messages as f64,
        if args.without_index {
            "without"
        } else {
            "with"
        }
    );
    if args.without_index {
        return Ok(());
    }
    // Statistics, as a database that grew to this size would have them (after a bulk
    // load PostgreSQL's planner guesses one matching row and joins in a nested loop).
    let analyze = match db.get_database_backend() {
        DbBackend::Postgres => "ANALYZE messages, conversations",
        DbBackend::MySql => "ANALYZE TABLE messages, conversations",
        _ => "ANALYZE",
    };
    db.execute_unprepared(analyze).await?;
    let mut times = Vec::with_capacity(args.queries);
    let mut found = 0;
    for n in 0..args.queries {
        // Words of middle frequency: ranks 50 to 500.
        let mut term = words[rng.random_range(50..500)].clone();
        if n % 2 == 1 {
            term.truncate(term.len().saturating_sub(2).max(3));
        }
        let mut terms = vec![term];
        if n % 3 == 0 {
            terms.push(words[rng.random_range(0..200)].clone());
        }
        let query = SearchQuery {
            terms: &terms,
            caller: searcher.as_str(),
            conversation: None,
            limit: 21,
            offset: 0,
        };
        let started = Instant::now();
        found += search(&db, query).await?.len();
        times.push(started.elapsed());
    }
    if times.is_empty() {
        return Ok(());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{} searches: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.1} results each (at most 21)",
        times.len(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0)),
        found as f64 / times.len() as f64
    );
    Ok(())
}

/// Made-up words of 4 to 9 letters from syllables, all different.
fn vocabulary() -> Vec<String> {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ba", "de", "fi", "go", "hu", "ja", "ke",
        "li", "mo", "nu", "pe", "ra", "si", "to", "ve", "zu",
    ];
    let mut rng = SmallRng::seed_from_u64(1);
    let mut words: Vec<String> = Vec::with_capacity(VOCABULARY);
    while words.len() < VOCABULARY {
        let syllables = rng.random_range(2..=4);
        let word: String = (0..syllables)
            .map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())])
            .collect();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

/// A word rank with a Zipf-like skew (rank r drawn with weight about 1/r).
fn zipf(rng: &mut SmallRng) -> usize {
    let x: f64 = rng.random();
    let rank = (VOCABULARY as f64).powf(x) as usize;
    rank.saturating_sub(1).min(VOCABULARY - 1)
}
