//! Sessions: one per login (a device), each with short-lived access tokens and a rotating
//! refresh token.
//!
//! - A login or registration starts a session and returns an access token (a JWT naming
//!   the user and the session, valid for `CONFAB_TOKEN_TTL_SECS`) and a refresh token,
//!   `<session id>.<secret>`, whose secret the database keeps only as a SHA-256 hash.
//! - `POST /auth/refresh` trades a refresh token for a new pair and moves the session's
//!   expiry `CONFAB_SESSION_TTL_SECS` ahead: a session ends when unused that long. Each
//!   refresh token works once. Presenting again the one the current token replaced means
//!   two parties hold it (it was stolen, or a client raced itself), so the whole session
//!   is revoked; older ones are simply refused.
//! - Every HTTP request asks the database whether its token's session still lives (one
//!   lookup by key): logout, a revocation, a password change or a disabled account take
//!   effect at the next request, on every node.
//! - A socket lives as long as its session, not its access token (which expires every few
//!   minutes while the client refreshes it over HTTP). Every node looks for sessions that
//!   ended lately ([`Sessions::sweep_ended`]) and closes their sockets with a
//!   `session:expired` event whose code says why.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use confab_entities::{RevokedReason, session};
use sea_orm::{DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::auth::{SessionEnd, TokenError, Tokens, Verified};
use crate::error::ApiError;
use crate::store::sessions::{self as store, EndedBy};

/// How far back each sweep looks beyond the last one: covers the clocks of two nodes
/// disagreeing, and a sweep that ran late.
const SWEEP_OVERLAP: Duration = Duration::from_secs(30);
/// Ended sessions one query of a sweep reads.
const SWEEP_PAGE: u64 = 1000;
/// Most live sessions one user has: a login past it ends the least recently used.
pub const MAX_SESSIONS_PER_USER: u64 = 100;
/// How long the row of an ended session is kept (for the sweeps of every node, and the
/// reuse of its refresh token to be told apart from a wrong one).
const KEEP_ENDED: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a token or session was not accepted.
#[derive(Debug)]
pub enum Refused {
    /// The token itself.
    Token(TokenError),
    /// Its session ended.
    Ended(SessionEnd),
    /// The database could not say.
    Database(DbErr),
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Token(error) => error.into(),
            Refused::Ended(end) => end.into(),
            Refused::Database(error) => error.into(),
        }
    }
}

/// A session's tokens, as a login, registration or refresh returns them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Issued {
    /// The access token (`Authorization: Bearer`, Socket.IO `auth.token`).
    pub token: String,
    /// Trades for the next pair, once.
    pub refresh_token: String,
    /// Seconds the access token is valid for.
    pub expires_in: u64,
    /// The session's id (as `GET /sessions` lists it).
    pub session_id: String,
}

/// Where a session was started from.
#[derive(Debug, Clone, Default)]
pub struct Device {
    /// The name the client gave, at most 64 characters.
    pub name: String,
    /// The request's `User-Agent`, cut to 256 characters.
    pub user_agent: String,
}

/// Starts, refreshes, checks and ends sessions.
#[derive(Debug, Clone)]
pub struct Sessions {
    db: DatabaseConnection,
    tokens: Tokens,
    ttl: Duration,
}

/// A fresh refresh secret and its hash.
fn new_secret() -> (String, String) {
    let bytes: [u8; 32] = rand::Rng::random(&mut rand::rng());
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = digest(&secret);
    (secret, hash)
}

/// The SHA-256 of a refresh secret, in hex.
fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The first `max` characters of `text`.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl Sessions {
    /// Sessions in `db`, with access tokens from `tokens`, ending after `ttl` unused.
    pub fn new(db: DatabaseConnection, tokens: Tokens, ttl: Duration) -> Self {
        Self { db, tokens, ttl }
    }

    fn expires_at(&self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::MAX)
    }

    fn issue(&self, user_id: &str, session_id: String, secret: &str) -> Result<Issued, ApiError> {
        Ok(Issued {
            token: self.tokens.issue(user_id, &session_id)?,
            refresh_token: format!("{session_id}.{secret}"),
            expires_in: self.tokens.ttl().as_secs(),
            session_id,
        })
    }

    /// Starts a session of `user_id` from `device`.
    pub async fn start(&self, user_id: &str, device: &Device) -> Result<Issued, ApiError> {
        let id = uuid::Uuid::now_v7().to_string();
        let (secret, refresh_hash) = new_secret();
        let new = store::NewSession {
            id: id.clone(),
            user_id: user_id.to_owned(),
            refresh_hash,
            device: cut(&device.name, 64),
            user_agent: cut(&device.user_agent, 256),
            expires_at: self.expires_at(),
        };
        store::insert(&self.db, new).await?;
        let trimmed = store::trim(&self.db, user_id, MAX_SESSIONS_PER_USER).await?;
        metrics::counter!("confab_sessions_revoked_total").increment(trimmed);
        self.issue(user_id, id, &secret)
    }

    /// Trades `refresh_token` for a new pair; returns the session's user with it. The token
    /// traded in last, presented again, revokes its session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<(String, Issued), ApiError> {
        let invalid = || {
            ApiError::unauthorized(
                "invalid_refresh_token",
                "the refresh token is not valid; log in again",
            )
        };
        let (id, secret) = refresh_token.split_once('.').ok_or_else(invalid)?;
        let presented = digest(secret);
        let (next, next_hash) = new_secret();
        let session = store::by_id(&self.db, id).await?.ok_or_else(invalid)?;
        if store::rotate(&self.db, id, &presented, &next_hash, self.expires_at()).await? {
            metrics::counter!("confab_session_refreshes_total").increment(1);
            let issued = self.issue(&session.user_id, session.id, &next)?;
            return Ok((session.user_id, issued));
        }
        // Not rotated: the session ended, or the token is not its current one.
        let session = store::by_id(&self.db, id).await?.ok_or_else(invalid)?;
        if let Some(end) = ended(&session) {
            return Err(end.into());
        }
        if session.previous_hash.as_deref() == Some(presented.as_str()) {
            tracing::warn!(session = %session.id, "a refresh token was used twice; session revoked");
            metrics::counter!("confab_session_reuse_total").increment(1);
            self.end(
                &session.user_id,
                Some(&session.id),
                None,
                RevokedReason::Reuse,
            )
            .await?;
        }
        Err(invalid())
    }

    /// Who `token` was issued to, if it is genuine and current and its session lives.
    pub async fn check(&self, token: &str) -> Result<Verified, Refused> {
        let verified = self.tokens.verify(token).map_err(Refused::Token)?;
        self.live(&verified).await?;
        Ok(verified)
    }

    /// Whether the session of a verified token lives.
    pub async fn live(&self, verified: &Verified) -> Result<(), Refused> {
        let session = store::by_id(&self.db, &verified.session_id)
            .await
            .map_err(Refused::Database)?
            .filter(|session| session.user_id == verified.user_id)
            .ok_or(Refused::Token(TokenError::Invalid))?;
        match ended(&session) {
            Some(end) => Err(Refused::Ended(end)),
            None => Ok(()),
        }
    }

    /// The access tokens' keys.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Ends the user's live sessions for `reason`: `only` that one if given, else all but
    /// `except`. Returns how many ended. Their sockets close within a sweep.
    pub async fn end(
        &self,
        user_id: &str,
        only: Option<&str>,
        except: Option<&str>,
        reason: RevokedReason,
    ) -> Result<u64, DbErr> {
        let ended = store::revoke(&self.db, user_id, only, except, reason).await?;
        metrics::counter!("confab_sessions_revoked_total").increment(ended);
        Ok(ended)
    }

    /// Ends every live session of the user but `current`; returns how many ended.
    pub async fn end_others(
        &self,
        user_id: &str,
        current: &str,
        reason: RevokedReason,
    ) -> Result<u64, DbErr> {
        self.end(user_id, None, Some(current), reason).await
    }

    /// The user's live sessions, most recently used first.
    pub async fn list(&self, user_id: &str) -> Result<Vec<session::Model>, DbErr> {
        store::live_of(&self.db, user_id).await
    }

    /// Every `every`, until `shutdown`: finds the sessions that ended since the last look
    /// (revoked on any node, or expired), a page at a time until none is left, and has
    /// `node` close their sockets here.
    pub async fn sweep_ended(
        self,
        node: actix::Recipient<EndSessions>,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut rounds = tokio::time::interval(every);
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let overlap = chrono::Duration::from_std(SWEEP_OVERLAP).unwrap_or_default();
        let mut since = Utc::now() - overlap;
        while shutdown.run_until_cancelled(rounds.tick()).await.is_some() {
            let started = Utc::now();
            let mut swept = true;
            for by in [EndedBy::Revocation, EndedBy::Expiry] {
                if let Err(error) = self.sweep(&node, by, since).await {
                    tracing::warn!(%error, "could not look for ended sessions");
                    swept = false;
                }
            }
            if swept {
                since = started - overlap;
            }
            let keep = chrono::Duration::from_std(KEEP_ENDED).unwrap_or_default();
            if let Err(error) = store::prune(&self.db, started - keep, SWEEP_PAGE).await {
                tracing::warn!(%error, "could not delete old ended sessions");
            }
        }
    }

    /// Tells `node` of every session that ended by `by` since `since`.
    async fn sweep(
        &self,
        node: &actix::Recipient<EndSessions>,
        by: EndedBy,
        since: chrono::DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let mut after = None;
        loop {
            let page = store::ended_page(&self.db, by, since, after, SWEEP_PAGE).await?;
            let full = page.len() as u64 == SWEEP_PAGE;
            after = page.last().map(|last| (last.at, last.id.clone()));
            let mut by_user: HashMap<String, Vec<(String, SessionEnd)>> = HashMap::new();
            for ended in page {
                by_user
                    .entry(ended.user_id)
                    .or_default()
                    .push((ended.id, SessionEnd::of(ended.reason)));
            }
            if !by_user.is_empty() {
                node.do_send(EndSessions { by_user });
            }
            if !full {
                return Ok(());
            }
        }
    }
}

/// Sessions that ended (found by [`Sessions::sweep_ended`]), by user: close their sockets
/// on this node.
#[derive(Debug, actix::Message)]
#[rtype(result = "()")]
pub struct EndSessions {
    /// Each user's ended sessions, with why they ended.
    pub by_user: HashMap<String, Vec<(String, SessionEnd)>>,
}

/// Why `session` no longer admits its tokens, if it does not.
fn ended(session: &session::Model) -> Option<SessionEnd> {
    if session.revoked_at.is_some() {
        return Some(SessionEnd::of(session.revoked_reason));
    }
    (session.expires_at <= Utc::now()).then_some(SessionEnd::Expired)
}
