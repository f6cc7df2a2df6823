//! Full-text search over the caller's conversations (`search`, `GET /api/v1/search`): the
//! query becomes terms here, the database finds and ranks (`store/search.rs`), and each
//! result gets a snippet around its first match, cut here the same way for every database.

use confab_protocol::chat::{SearchHit, SearchReply, SearchRequest, SnippetPart, UserId};

use super::conversations::{accessible, view};
use super::{Chat, ChatError};
use crate::store::search::{self as store, SearchQuery};

/// Longest query, in bytes.
const MAX_QUERY_BYTES: usize = 256;
/// Most terms one query may have.
const MAX_TERMS: usize = 10;
/// Default and largest page.
const LIMIT: (u32, u32) = (20, 50);
/// Characters of context a snippet keeps before its first match.
const CONTEXT_BEFORE: usize = 30;
/// Most characters of a snippet.
const SNIPPET_CHARS: usize = 160;
/// Marks where a snippet cuts the body.
const ELLIPSIS: &str = "…";

/// Searches the messages `caller` can read (or one conversation of theirs).
pub async fn search(
    chat: &Chat,
    caller: &UserId,
    request: SearchRequest,
) -> Result<SearchReply, ChatError> {
    let terms = terms(&request.query)?;
    let conversation = match &request.conversation {
        Some(id) => Some(accessible(chat, caller, id).await?.id()),
        None => None,
    };
    let limit = request.limit.unwrap_or(LIMIT.0).clamp(1, LIMIT.1);
    let query = SearchQuery {
        terms: &terms,
        caller: caller.as_str(),
        conversation: conversation.as_ref().map(|id| id.as_str()),
        // One more than asked, to know whether there is more.
        limit: u64::from(limit) + 1,
        offset: u64::from(request.offset.unwrap_or(0)),
    };
    let mut found = store::search(&chat.db, query).await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let results = found
        .into_iter()
        .map(|model| SearchHit {
            snippet: snippet(&model.body, &terms),
            message: view(model),
        })
        .collect();
    Ok(SearchReply { results, more })
}

/// The query's terms: its runs of letters and digits, lower-cased, each once.
fn terms(query: &str) -> Result<Vec<String>, ChatError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(ChatError::invalid(format!(
            "the query is over {MAX_QUERY_BYTES} bytes"
        )));
    }
    let mut terms: Vec<String> = Vec::new();
    for word in query.split(|c: char| !c.is_alphanumeric()) {
        let term = word.to_lowercase();
        if !term.is_empty() && !terms.contains(&term) {
            terms.push(term);
        }
    }
    if terms.is_empty() {
        return Err(ChatError::invalid("the query needs a word to search for"));
    }
    if terms.len() > MAX_TERMS {
        return Err(ChatError::invalid(format!(
            "at most {MAX_TERMS} words per query"
        )));
    }
    Ok(terms)
}

/// The part of `body` around its first word that one of `terms` begins, in pieces with the
/// matching words marked; the start of the body when no word matches (the database may
/// match what this does not, such as a word with diacritics).
fn snippet(body: &str, terms: &[String]) -> Vec<SnippetPart> {
    let words = words(body);
    let hit = |&(start, end): &(usize, usize)| {
        let word = body[start..end].to_lowercase();
        terms.iter().any(|term| word.starts_with(term.as_str()))
    };
    let first = words.iter().find(|word| hit(word)).map_or(0, |word| word.0);
    let from = back_chars(body, first, CONTEXT_BEFORE);
    let to = body[from..]
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map_or(body.len(), |(offset, _)| from + offset);
    let mut parts = Vec::new();
    if from > 0 {
        push_text(&mut parts, ELLIPSIS);
    }
    let mut at = from;
    for &(start, end) in words.iter().filter(|word| hit(word)) {
        if start < from || end > to {
            continue;
        }
        push_text(&mut parts, &body[at..start]);
        parts.push(SnippetPart {
            text: body[start..end].to_owned(),
            hit: true,
        });
        at = end;
    }
    push_text(&mut parts, &body[at..to]);
    if to < body.len() {
        push_text(&mut parts, ELLIPSIS);
    }
    parts
}

/// The byte ranges of the runs of letters and digits of `text`.
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                words.push((from, at));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(from) = start {
        words.push((from, text.len()));
    }
    words
}

/// The byte offset `count` characters before `at` (or 0).
fn back_chars(text: &str, at: usize, count: usize) -> usize {
    text[..at]
        .char_indices()
        .rev()
        .nth(count.saturating_sub(1))
        .map_or(0, |(offset, _)| offset)
}

/// Appends plain text, joining it to a plain piece before it.
fn push_text(parts: &mut Vec<SnippetPart>, text: &str) {
    if text.is_empty() {
        return;
    }
    match parts.last_mut() {
        Some(last) if !last.hit => last.text.push_str(text),
        _ => parts.push(SnippetPart {
            text: text.to_owned(),
            hit: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(parts: &[SnippetPart]) -> String {
        parts
            .iter()
            .map(|part| {
                if part.hit {
                    format!("[{}]", part.text)
                } else {
                    part.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn queries_become_lower_case_terms_without_syntax() {
        assert_eq!(
            terms("Hello, \"world\" OR -hello* NEAR(x)").unwrap(),
            ["hello", "world", "or", "near", "x"]
        );
        assert!(terms(" * \" ").is_err());
        assert!(terms(&"a ".repeat(11)).is_ok(), "repeats count once");
        assert!(terms("a b c d e f g h i j k").is_err());
        assert!(terms(&"x".repeat(MAX_QUERY_BYTES + 1)).is_err());
    }

    #[test]
    fn a_snippet_marks_the_words_the_terms_begin() {
        let terms = vec!["hel".to_owned(), "wor".to_owned()];
        let parts = snippet("Well, HELLO there world!", &terms);
        assert_eq!(shown(&parts), "Well, [HELLO] there [world]!");
    }

    #[test]
    fn a_long_body_is_cut_around_the_first_match_on_character_boundaries() {
        let body = format!("{} needle {}", "é".repeat(100), "ü".repeat(300));
        let parts = snippet(&body, &["needle".to_owned()]);
        let text = shown(&parts);
        assert!(
            text.starts_with(ELLIPSIS) && text.ends_with(ELLIPSIS),
            "{text}"
        );
        assert!(text.contains("[needle]"), "{text}");
        assert!(text.chars().count() <= SNIPPET_CHARS + 2 + 2, "{text}");
        let no_match = snippet(&body, &["zzz".to_owned()]);
        assert!(!no_match.iter().any(|part| part.hit));
        assert!(shown(&no_match).starts_with('é'));
    }
}
