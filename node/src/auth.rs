//! Identity: password hashing (argon2) and access tokens (HS256 JWTs with an expiry and the
//! session they belong to). The HTTP edge turns `Authorization: Bearer <token>` into a
//! caller with them (`api/caller.rs`), after asking `sessions` whether the session still
//! lives.
//!
//! The same `Tokens` checks the HTTP header and the Socket.IO CONNECT `auth.token`, so both
//! paths give the same error codes (`missing_token`, `invalid_token`, `token_expired`).

use std::num::NonZero;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use confab_entities::RevokedReason;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Who issues and accepts Confab tokens.
const ISSUER: &str = "confab";

/// The claims inside a Confab token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id.
    sub: String,
    /// The session id: a token of a revoked session is refused.
    sid: String,
    iss: String,
    iat: u64,
    exp: u64,
}

/// What a genuine, current token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The user id.
    pub user_id: String,
    /// The session the token was issued to.
    pub session_id: String,
}

/// Why a token was refused; each maps to a stable client-facing code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token was given.
    #[error("no token was given")]
    Missing,
    /// The token is malformed, forged or signed with another secret.
    #[error("the token is not valid")]
    Invalid,
    /// The token was valid but has expired.
    #[error("the token has expired")]
    Expired,
}

impl TokenError {
    /// The code clients see.
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Missing => "missing_token",
            TokenError::Invalid => "invalid_token",
            TokenError::Expired => "token_expired",
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        ApiError::unauthorized(error.code(), error.to_string())
    }
}

/// Why a session no longer admits its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Logged out, revoked, ended by a password change or a reused refresh token, or the
    /// account was deleted.
    Revoked,
    /// Unused past its expiry.
    Expired,
    /// An administrator disabled the account.
    Disabled,
}

impl SessionEnd {
    /// What ended session `reason` (`None`: it expired) means for its tokens.
    pub fn of(reason: Option<RevokedReason>) -> Self {
        match reason {
            None => Self::Expired,
            Some(RevokedReason::Disabled) => Self::Disabled,
            Some(_) => Self::Revoked,
        }
    }

    /// The code clients see.
    pub fn code(self) -> &'static str {
        match self {
            Self::Revoked => "session_revoked",
            Self::Expired => "session_expired",
            Self::Disabled => "account_disabled",
        }
    }

    /// For people.
    pub fn message(self) -> &'static str {
        match self {
            Self::Revoked => "this session was ended; log in again",
            Self::Expired => "this session expired; log in again",
            Self::Disabled => "this account is disabled",
        }
    }
}

impl From<SessionEnd> for ApiError {
    fn from(end: SessionEnd) -> Self {
        let status = match end {
            SessionEnd::Disabled => StatusCode::FORBIDDEN,
            SessionEnd::Revoked | SessionEnd::Expired => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, end.code(), end.message())
    }
}

/// Issues and checks tokens with one HMAC secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens signed with `secret`, valid for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// How long an issued token stays valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh token for `user_id` in `session_id`.
    pub fn issue(&self, user_id: &str, session_id: &str) -> Result<String, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// Who `token` was issued to, if the token is genuine and current. A token without a
    /// session (as issued before sessions existed) is invalid.
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?
            .claims;
        Ok(Verified {
            user_id: claims.sub,
            session_id: claims.sid,
        })
    }
}

/// Hashes a password with argon2id and a random salt. CPU-heavy: call it off the event loop.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt: [u8; 16] = rand::Rng::random(&mut rand::rng());
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(ApiError::internal)
}

/// Whether `password` matches the stored PHC `hash`. CPU-heavy: call it off the event loop.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Runs password hashing on the blocking pool, one hash per core at a time: each argon2id
/// hash works in 19 MiB, which the allocator keeps for the thread that hashed. At most
/// [`PasswordHashing::MAX_WAITING`] requests wait for their turn; past that one is refused
/// at once (503 `unavailable`, `Retry-After: 1`) instead of queueing without end.
#[derive(Debug)]
pub struct PasswordHashing {
    permits: Semaphore,
    waiting: AtomicUsize,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        Self {
            permits: Semaphore::new(std::thread::available_parallelism().map_or(2, NonZero::get)),
            waiting: AtomicUsize::new(0),
        }
    }
}

impl PasswordHashing {
    /// Most requests waiting for a permit: about a second of hashing per core.
    pub const MAX_WAITING: usize = 64;

    /// Runs `work` once a permit is free, or refuses at once when too many wait.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= Self::MAX_WAITING {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    metrics::counter!("confab_auth_refused_busy_total").increment(1);
                    let mut busy = ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "too many logins and registrations at once; retry",
                    );
                    busy.retry_after = Some(Duration::from_secs(1));
                    return Err(busy);
                }
                // Given back however the wait ends, also when the request is dropped.
                let _waiting = Decrement(&self.waiting);
                self.permits.acquire().await.map_err(ApiError::internal)?
            }
        };
        Ok(actix_web::web::block(work).await?)
    }
}

/// Takes one off its counter when dropped.
struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(secret: &str, ttl_secs: u64) -> Tokens {
        Tokens::new(secret.as_bytes(), Duration::from_secs(ttl_secs))
    }

    #[test]
    fn a_token_round_trips_to_its_user() {
        let tokens = tokens("a-secret-that-is-long-enough-0000", 60);
        let token = tokens.issue("user-1", "session-1").unwrap();
        let verified = Verified {
            user_id: "user-1".to_owned(),
            session_id: "session-1".to_owned(),
        };
        assert_eq!(tokens.verify(&token), Ok(verified));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let token = tokens("one-secret-that-is-long-enough-00", 60)
            .issue("user-1", "session-1")
            .unwrap();
        let other = tokens("another-secret-that-is-long-enough", 60);
        assert_eq!(other.verify(&token), Err(TokenError::Invalid));
        assert_eq!(other.verify("not.a.jwt"), Err(TokenError::Invalid));
    }

    #[test]
    fn an_expired_token_says_so() {
        let tokens = tokens("a-secret-that-is-long-enough-0000", 60);
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: "user-1".into(),
            sid: "session-1".into(),
            iss: ISSUER.into(),
            iat: now - 120,
            exp: now - 60,
        };
        let token = jsonwebtoken::encode(&Header::default(), &claims, &tokens.encoding).unwrap();
        assert_eq!(tokens.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_without_a_session_is_invalid() {
        let tokens = tokens("a-secret-that-is-long-enough-0000", 60);
        let now = jsonwebtoken::get_current_timestamp();
        let claims =
            serde_json::json!({"sub": "user-1", "iss": ISSUER, "iat": now, "exp": now + 60});
        let token = jsonwebtoken::encode(&Header::default(), &claims, &tokens.encoding).unwrap();
        assert_eq!(tokens.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a phc string"));
    }
}
