//! Accounts: `POST /api/v1/auth/register`, `/login`, `/refresh` and `/logout`. The first
//! two start a session (see `crate::sessions`) and answer its tokens; `refresh` trades a
//! refresh token for the next pair; `logout` ends the caller's session.
//!
//! Usernames are case-insensitive (stored lower-case), 3 to 32 characters of letters,
//! digits, `_`, `.` and `-`, starting with a letter or digit. Passwords are 8 to 128
//! characters. A wrong password and an unknown user get the same 401, after the same
//! amount of hashing work, so the reply does not tell which usernames exist.
//!
//! Hashing runs on the blocking pool, at most one hash per core at a time (the others
//! wait): each argon2id hash works in 19 MiB, which the allocator keeps for the thread
//! that hashed, so a burst of registrations or logins on as many threads would leave the
//! node holding gigabytes. A bounded number wait ([`crate::auth::PasswordHashing`]); past
//! that a request is answered 503 `unavailable` with `Retry-After` at once.
//!
//! Logins and registrations are rate-limited per client address and logins per username
//! too (429 `rate_limited` with `Retry-After`), before any hashing; a login's password is
//! bounded like a registration's, so nobody can make the node hash megabytes.

use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use confab_entities::RevokedReason;

use super::caller::Authenticated;
use crate::auth::{SessionEnd, hash_password, verify_password};
use crate::chat::hooks;
use crate::chat::users::UserView;
use crate::error::ApiError;
use crate::sessions::{Device, Issued};
use crate::state::AppState;
use crate::store::{self, users};

const USERNAME_LEN: std::ops::RangeInclusive<usize> = 3..=32;
const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 8..=128;
const DISPLAY_NAME_LEN: std::ops::RangeInclusive<usize> = 1..=64;

/// Verified against when the username is unknown, so both failures cost the same.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_password("confab-dummy-password").ok());

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/register", web::post().to(register))
        .route("/auth/login", web::post().to(login))
        .route("/auth/refresh", web::post().to(refresh))
        .route("/auth/logout", web::post().to(logout));
}

#[derive(Debug, Deserialize)]
struct RegisterRequest {
    username: String,
    password: String,
    display_name: Option<String>,
    device: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
    device: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

#[derive(Debug, Serialize)]
struct AuthReply {
    user: UserView,
    #[serde(flatten)]
    session: Issued,
}

/// Where the request comes from, as its session records it.
fn device(req: &HttpRequest, name: Option<String>) -> Device {
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    Device {
        name: name
            .unwrap_or_default()
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .collect(),
        user_agent: user_agent.to_owned(),
    }
}

async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .chat
        .rate
        .check_auth(&state.client_address(&req), None)?;
    let RegisterRequest {
        username,
        password,
        display_name,
        device: device_name,
    } = body.into_inner();
    let username = valid_username(&username)?;
    check_new_password(&password)?;
    let display_name = valid_display_name(display_name.as_deref(), &username)?;
    let taken = || ApiError::conflict("username_taken", "this username is taken");
    if users::by_username(&state.db, &username).await?.is_some() {
        return Err(taken());
    }
    let password_hash = state
        .hashing
        .run(move || hash_password(&password))
        .await??;
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
    let session = state
        .chat
        .sessions
        .start(&user.id, &device(&req, device_name))
        .await?;
    let user = UserView::from(user);
    hooks::user_registered(&state.chat, &user);
    Ok(HttpResponse::Created().json(AuthReply { user, session }))
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest {
        username,
        password,
        device: device_name,
    } = body.into_inner();
    let username = username.to_lowercase();
    // Bounded before anything is counted or hashed; the username's bucket only for names
    // that could exist, so that junk names cannot fill the limiter.
    check_password(&password)?;
    let known_shape = valid_username(&username).is_ok();
    state.chat.rate.check_auth(
        &state.client_address(&req),
        known_shape.then_some(username.as_str()),
    )?;
    let user = users::by_username(&state.db, &username).await?;
    let hash = match &user {
        Some(user) => Some(user.password_hash.expose().to_owned()),
        None => DUMMY_HASH.clone(),
    };
    let matches = state
        .hashing
        .run(move || hash.is_some_and(|hash| verify_password(&password, &hash)))
        .await?;
    match user {
        Some(user) if matches && user.disabled_at.is_some() => Err(SessionEnd::Disabled.into()),
        Some(user) if matches => {
            let session = state
                .chat
                .sessions
                .start(&user.id, &device(&req, device_name))
                .await?;
            let user = admitted(&state, &user.id, &session).await?;
            Ok(HttpResponse::Ok().json(AuthReply {
                user: user.into(),
                session,
            }))
        }
        _ => Err(ApiError::unauthorized(
            "invalid_credentials",
            "wrong username or password",
        )),
    }
}

/// `POST /auth/refresh`: the next pair of tokens for a refresh token, which is then spent.
async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, session) = state.chat.sessions.refresh(&body.refresh_token).await?;
    let user = admitted(&state, &user_id, &session).await?;
    Ok(HttpResponse::Ok().json(AuthReply {
        user: user.into(),
        session,
    }))
}

/// The account of a session just started or refreshed, read again now: an account
/// disabled or deleted while the login or refresh was under way (after the revocation of
/// its sessions) has the new session ended at once, so none outlives it.
async fn admitted(
    state: &AppState,
    user_id: &str,
    session: &Issued,
) -> Result<confab_entities::user::Model, ApiError> {
    let (reason, end) = match users::by_id(&state.db, user_id).await? {
        Some(user) if user.deleted_at.is_none() && user.disabled_at.is_none() => return Ok(user),
        Some(user) if user.deleted_at.is_none() => (RevokedReason::Disabled, SessionEnd::Disabled),
        _ => (RevokedReason::Deleted, SessionEnd::Revoked),
    };
    let only = Some(session.session_id.as_str());
    state.chat.sessions.end(user_id, only, None, reason).await?;
    Err(end.into())
}

/// `POST /auth/logout`: ends the caller's session; its sockets close on every node.
async fn logout(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    state
        .chat
        .sessions
        .end(
            &caller.user_id,
            Some(&caller.session_id),
            None,
            RevokedReason::Logout,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
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

/// A password has 8 to 128 characters.
fn check_password(password: &str) -> Result<(), ApiError> {
    if !PASSWORD_LEN.contains(&password.chars().count()) {
        return Err(ApiError::bad_request(
            "invalid_password",
            "a password has 8 to 128 characters",
        ));
    }
    Ok(())
}

/// A new password has 8 to 128 characters, not all of them white space (logins check
/// only the length, so that no older account is locked out).
pub(super) fn check_new_password(password: &str) -> Result<(), ApiError> {
    check_password(password)?;
    if password.chars().all(char::is_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_password",
            "a password cannot be only spaces",
        ));
    }
    Ok(())
}

/// Whether `c` may appear in a display name: nothing that reorders or hides text, so that
/// a name cannot pass for another (bidirectional overrides and isolates, zero-width and
/// other format characters, invisible fillers, private-use and unassigned code points).
/// The zero-width joiner stays, since emoji sequences are built with it.
fn shows_plainly(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    const INVISIBLE: [char; 5] = ['\u{115f}', '\u{1160}', '\u{2800}', '\u{3164}', '\u{ffa0}'];
    let hidden = matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::Surrogate
    );
    c == '\u{200d}' || !(hidden || INVISIBLE.contains(&c))
}

/// The trimmed display name, defaulting to `fallback`.
pub(super) fn valid_display_name(
    display_name: Option<&str>,
    fallback: &str,
) -> Result<String, ApiError> {
    let Some(name) = display_name.map(str::trim) else {
        return Ok(fallback.to_owned());
    };
    if !DISPLAY_NAME_LEN.contains(&name.chars().count()) {
        return Err(ApiError::bad_request(
            "invalid_display_name",
            "a display name has 1 to 64 characters",
        ));
    }
    if !name.chars().all(shows_plainly) {
        return Err(ApiError::bad_request(
            "invalid_display_name",
            "a display name cannot hold control, direction-changing or invisible characters",
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
        assert!(check_password("        ").is_ok());
        assert!(check_new_password("        ").is_err());
        assert!(check_new_password(" pass word ").is_ok());
    }

    #[test]
    fn display_names_cannot_reorder_or_hide_text() {
        let spoofs = [
            "admin\u{202e}nimda",
            "ali\u{200b}ce",
            "\u{2066}bob\u{2069}",
            "bob\u{feff}",
            "\u{3164}",
            "x\u{e000}",
            "a\u{2028}b",
            "soft\u{ad}hyphen",
        ];
        for spoof in spoofs {
            assert!(valid_display_name(Some(spoof), "bob").is_err(), "{spoof:?}");
        }
        for fine in ["Zoë", "محمد", "李小龙", "👩\u{200d}💻 dev", "O'Brien-Smith"] {
            assert_eq!(valid_display_name(Some(fine), "bob").unwrap(), fine);
        }
    }
}
