//! Who may open a session: handshakes need no authentication, so the number of open
//! sessions is capped per client address and in total. A handshake past either cap is
//! refused before any session exists (429 for the address, 503 for the total, both with
//! `Retry-After`; the client's reconnection backoff tries again).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use serde_json::json;

use super::Sid;

/// The address of the client of `req`: the peer's, or when `trust_forwarded_for` the last
/// entry of `X-Forwarded-For` (the one the proxy in front of the node added; earlier ones
/// come from the client and prove nothing).
pub fn client_address(req: &HttpRequest, trust_forwarded_for: bool) -> String {
    address_of(req.headers(), req.peer_addr(), trust_forwarded_for)
}

/// [`client_address`] from a request's headers and peer.
pub(super) fn address_of(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trust_forwarded_for: bool,
) -> String {
    let forwarded = trust_forwarded_for
        .then(|| headers.get("x-forwarded-for"))
        .flatten()
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .map(str::trim)
        .filter(|address| !address.is_empty());
    match forwarded {
        Some(address) => address.to_owned(),
        None => peer.map_or_else(String::new, |peer| peer.ip().to_string()),
    }
}

/// Why a handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The client's address holds its share of sessions.
    PerAddress,
    /// The node holds as many sessions as it takes.
    Total,
}

impl Refused {
    /// The reply's status and body: the protocol's error body (code 4, "Forbidden" in the
    /// reference), sent with `Retry-After`.
    pub(super) fn reply(self) -> (StatusCode, String) {
        let (status, message) = match self {
            Self::PerAddress => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sessions from this address",
            ),
            Self::Total => (StatusCode::SERVICE_UNAVAILABLE, "Too many sessions"),
        };
        (status, json!({"code": 4, "message": message}).to_string())
    }
}

/// The open sessions per client address.
#[derive(Debug, Default)]
pub(super) struct Admission {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<String, usize>,
    of_session: HashMap<Sid, String>,
}

impl Admission {
    /// Counts session `sid` of `address` in, unless a cap is reached.
    pub(super) fn admit(
        &self,
        sid: &Sid,
        address: String,
        (per_address, total): (usize, usize),
    ) -> Result<(), Refused> {
        let mut counts = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if counts.total >= total {
            return Err(Refused::Total);
        }
        let open = counts.by_address.entry(address.clone()).or_default();
        if *open >= per_address {
            return Err(Refused::PerAddress);
        }
        *open += 1;
        counts.total += 1;
        counts.of_session.insert(sid.clone(), address);
        Ok(())
    }

    /// Counts session `sid` out, if it was counted in.
    pub(super) fn release(&self, sid: &Sid) {
        let mut counts = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(address) = counts.of_session.remove(sid) else {
            return;
        };
        counts.total -= 1;
        if let Some(open) = counts.by_address.get_mut(&address) {
            *open -= 1;
            if *open == 0 {
                counts.by_address.remove(&address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_per_address_and_in_total_and_free_up_on_release() {
        let admission = Admission::default();
        let caps = (2, 3);
        let sids: Vec<Sid> = (0..4).map(|_| Sid::generate()).collect();
        assert_eq!(admission.admit(&sids[0], "a".into(), caps), Ok(()));
        assert_eq!(admission.admit(&sids[1], "a".into(), caps), Ok(()));
        assert_eq!(
            admission.admit(&sids[2], "a".into(), caps),
            Err(Refused::PerAddress)
        );
        assert_eq!(admission.admit(&sids[2], "b".into(), caps), Ok(()));
        assert_eq!(
            admission.admit(&sids[3], "c".into(), caps),
            Err(Refused::Total)
        );
        admission.release(&sids[0]);
        admission.release(&sids[0]);
        assert_eq!(admission.admit(&sids[3], "a".into(), caps), Ok(()));
        for sid in &sids[1..] {
            admission.release(sid);
        }
        let counts = admission.inner.lock().unwrap();
        assert_eq!(counts.total, 0);
        assert!(counts.by_address.is_empty() && counts.of_session.is_empty());
    }
}
