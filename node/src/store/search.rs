//! Full-text search over the messages a user can read, each database through its own
//! engine (see the migration `m20261207_000002_message_search`), behind one function.
//!
//! Every search term of three characters or more matches the words it begins (`hel` finds
//! "hello"; a shorter term matches whole words), all terms must match,
//! and the best matches come first (PostgreSQL `ts_rank`, SQLite `bm25`, MySQL's
//! relevance), newest first among equals. Deleted messages (their body is empty) and the
//! entries of edits and deletions are never found; an edited message is found by its
//! new text.

use confab_entities::{MessageKind, message};
use sea_orm::sea_query::{Alias, Expr, JoinType, Order, SimpleExpr};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};

use super::membership;

/// One search: its terms (lower-case letters and digits only, so they are safe in every
/// engine's query syntax), where to look, and which page.
#[derive(Debug, Clone)]
pub struct SearchQuery<'a> {
    /// The words to find (at least one).
    pub terms: &'a [String],
    /// Who searches: only their conversations are searched.
    pub caller: &'a str,
    /// Only this conversation, when given.
    pub conversation: Option<&'a str>,
    /// Most messages to return.
    pub limit: u64,
    /// How many of the best matches to skip.
    pub offset: u64,
}

/// The messages matching `query`, best first.
pub async fn search(
    db: &DatabaseConnection,
    query: SearchQuery<'_>,
) -> Result<Vec<message::Model>, DbErr> {
    let mut select = message::Entity::find()
        .filter(message::Column::Kind.eq(MessageKind::Message))
        .filter(message::Column::DeletedAt.is_null())
        .filter(
            message::Column::ConversationId
                .in_subquery(membership::conversation_ids_of(query.caller)),
        );
    if let Some(conversation) = query.conversation {
        select = select.filter(message::Column::ConversationId.eq(conversation));
    }
    let (matches, rank, order) = engine(db.get_database_backend(), query.terms);
    if db.get_database_backend() == DbBackend::Sqlite {
        QueryTrait::query(&mut select).join(
            JoinType::InnerJoin,
            Alias::new("messages_fts"),
            Expr::cust("messages_fts.rowid = messages.rowid"),
        );
    }
    select
        .filter(matches)
        .order_by(rank, order)
        .order_by_desc(message::Column::CreatedAt)
        .limit(query.limit)
        .offset(query.offset)
        .all(db)
        .await
}

/// The engine's condition for the terms, its rank expression and the rank's order.
fn engine(backend: DbBackend, terms: &[String]) -> (SimpleExpr, SimpleExpr, Order) {
    match backend {
        DbBackend::Postgres => {
            let tsquery = terms
                .iter()
                .map(|term| format!("{term}{}", prefix(term, ":*")))
                .collect::<Vec<_>>()
                .join(" & ");
            let matches = Expr::cust_with_values(
                "messages.body_search @@ to_tsquery('simple', $1)",
                [tsquery.clone()],
            );
            let rank = Expr::cust_with_values(
                "ts_rank(messages.body_search, to_tsquery('simple', $1))",
                [tsquery],
            );
            (matches, rank, Order::Desc)
        }
        DbBackend::MySql => {
            let boolean = terms
                .iter()
                .map(|term| format!("+{term}{}", prefix(term, "*")))
                .collect::<Vec<_>>()
                .join(" ");
            let relevance = || {
                Expr::cust_with_values(
                    "MATCH(messages.body) AGAINST (? IN BOOLEAN MODE)",
                    [boolean.clone()],
                )
            };
            (relevance(), relevance(), Order::Desc)
        }
        // SQLite, the one other backend.
        _ => {
            let fts = terms
                .iter()
                .map(|term| format!("\"{term}\"{}", prefix(term, "*")))
                .collect::<Vec<_>>()
                .join(" AND ");
            let matches = Expr::cust_with_values("messages_fts MATCH ?", [fts]);
            (matches, Expr::cust("bm25(messages_fts)"), Order::Asc)
        }
    }
}

/// Shortest term that also matches the words it begins: a shorter one matches whole
/// words only, since a prefix of one or two letters matches a large part of any history
/// and costs every database a scan of it.
const MIN_PREFIX_CHARS: usize = 3;

/// The engine's prefix marker for `term`, or nothing for a short term.
fn prefix(term: &str, marker: &'static str) -> &'static str {
    if term.chars().count() >= MIN_PREFIX_CHARS {
        marker
    } else {
        ""
    }
}
