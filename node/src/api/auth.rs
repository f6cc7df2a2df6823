//! Accounts: `POST /api/v1/auth/register` and `POST /api/v1/auth/login`.
//!
//! Usernames are case-insensitive (stored lower-case), 3 to 32 characters of letters,
//! digits, `_`, `.` and `-`, starting with a letter or digit. Passwords are 8 to 128
//! characters. A wrong password and an unknown user get the same 401, after the same
//! amount of hashing work, so the reply does not tell which usernames exist.
//!
//! Hashing runs on the blocking pool, at most one hash per core at a time (the others
//! wait): each argon2id hash works in 19 MiB, which the allocator keeps for the thread
//! that hashed, so a burst of registrations or logins on as many threads would leave the
//! node holding gigabytes.

use std::num::NonZero;
use std::sync::LazyLock;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::UserView;
use crate::auth::{hash_password, verify_password};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{self, users};

const USERNAME_LEN: std::ops::RangeInclusive<usize> = 3..=32;
const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 8..=128;
const DISPLAY_NAME_LEN: std::ops::RangeInclusive<usize> = 1..=64;

/// One permit per core for password hashing (see the module's documentation).
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, NonZero::get))
});

/// Runs `work` (password hashing) on the blocking pool once a hashing permit is free.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = HASHING.acquire().await.map_err(ApiError::internal)?;
    Ok(web::block(work).await?)
}

/// Verified against when the username is unknown, so both failures cost the same.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_password("confab-dummy-password").ok());

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/register", web::post().to(register))
        .route("/auth/login", web::post().to(login));
}

#[derive(Debug, Deserialize)]
struct RegisterRequest {
    username: String,
    password: String,
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Debug, Serialize)]
struct AuthReply {
    user: UserView,
    token: String,
}

async fn register(
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let RegisterRequest {
        username,
        password,
        display_name,
    } = body.into_inner();
    let username = valid_username(&username)?;
    check_password(&password)?;
    let display_name = valid_display_name(display_name.as_deref(), &username)?;
    let taken = || ApiError::conflict("username_taken", "this username is taken");
    if users::by_username(&state.db, &username).await?.is_some() {
        return Err(taken());
    }
    let password_hash = hashing(move || hash_password(&password)).await??;
    let new = users::NewUser {
        username,
        display_name,
        password_hash,
    };
    let user = users::insert(&state.db, new).await.map_err(|error| {
        // Two registrations of one name at once: the database's unique index decides.
        if store::is_unique_violation(&error) {
            taken()
        } else {
            error.into()
        }
    })?;
    let token = state.tokens.issue(&user.id)?;
    Ok(HttpResponse::Created().json(AuthReply {
        user: user.into(),
        token,
    }))
}

async fn login(
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.into_inner();
    let user = users::by_username(&state.db, &username.to_lowercase()).await?;
    let hash = match &user {
        Some(user) => Some(user.password_hash.expose().to_owned()),
        None => DUMMY_HASH.clone(),
    };
    let matches =
        hashing(move || hash.is_some_and(|hash| verify_password(&password, &hash))).await?;
    match user {
        Some(user) if matches => {
            let token = state.tokens.issue(&user.id)?;
            Ok(HttpResponse::Ok().json(AuthReply {
                user: user.into(),
                token,
            }))
        }
        _ => Err(ApiError::unauthorized(
            "invalid_credentials",
            "wrong username or password",
        )),
    }
}

/// The normalised username, or why it is not acceptable.
fn valid_username(username: &str) -> Result<String, ApiError> {
    let invalid = |message: &str| ApiError::bad_request("invalid_username", message);
    if !USERNAME_LEN.contains(&username.chars().count()) {
        return Err(invalid("a username has 3 to 32 characters"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !username.chars().all(allowed) {
        return Err(invalid(
            "a username has only letters, digits, '_', '.' and '-'",
        ));
    }
    if !username.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid("a username starts with a letter or a digit"));
    }
    Ok(username.to_ascii_lowercase())
}

fn check_password(password: &str) -> Result<(), ApiError> {
    if !PASSWORD_LEN.contains(&password.chars().count()) {
        return Err(ApiError::bad_request(
            "invalid_password",
            "a password has 8 to 128 characters",
        ));
    }
    Ok(())
}

/// The trimmed display name, defaulting to the username.
fn valid_display_name(display_name: Option<&str>, username: &str) -> Result<String, ApiError> {
    let Some(name) = display_name.map(str::trim) else {
        return Ok(username.to_owned());
    };
    if !DISPLAY_NAME_LEN.contains(&name.chars().count()) || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_display_name",
            "a display name has 1 to 64 printable characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(valid_username("Alice_01").unwrap(), "alice_01");
        for bad in ["al", "-alice", "alice smith", "ålice", &"a".repeat(33)] {
            let error = valid_username(bad).unwrap_err();
            assert_eq!(error.code, "invalid_username", "{bad}");
        }
    }

    #[test]
    fn passwords_and_display_names_have_bounds() {
        assert!(check_password("12345678").is_ok());
        assert!(check_password("1234567").is_err());
        assert!(check_password(&"x".repeat(129)).is_err());
        assert_eq!(valid_display_name(None, "bob").unwrap(), "bob");
        assert_eq!(
            valid_display_name(Some("  Bob B. "), "bob").unwrap(),
            "Bob B."
        );
        assert!(valid_display_name(Some("   "), "bob").is_err());
        assert!(valid_display_name(Some("a\u{7}b"), "bob").is_err());
    }
}
