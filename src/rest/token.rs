//! The REST access token's life cycle, sans-IO (in the style of oauth2-rs: build the request, the
//! caller sends it, hand back the response).
//!
//! Marketo's identity service (AdobeDocs/marketo-developer.en `help/rest-api/authentication.md`)
//! answers `GET {identity}/oauth/token?grant_type=client_credentials&client_id=…&client_secret=…`
//! with `{"access_token":"…","token_type":"bearer","expires_in":3599,"scope":"…"}`; a token lives
//! 3600 s, and asking early gives back the same token with its remaining life. The token goes in
//! `Authorization: Bearer …` headers only (the `access_token` query parameter is gone).
//!
//! [`TokenHolder`] keeps one token and decides, for the caller's `now`:
//!
//! - a token with at least [`REFRESH_MARGIN_MS`] (60 s) left is [`TokenState::Ready`];
//! - with fewer than 60 s left (or none held), one fetch is started ([`TokenState::Fetch`]) and, while it is in flight, every other
//!   caller gets [`TokenState::Waiting`]: one token request at a time, however many waiters;
//! - a token that comes back with 60 s or less to live (the same token, asked for early) is used
//!   until its last millisecond rather than fetched again and again (Marketo would keep handing
//!   back the same token: that would be a hot loop); a request it makes that arrives late gets
//!   602, and re-authenticating then gets the next token;
//! - a token that comes back with `expires_in: 0` is never used: it is treated as expired and the
//!   next fetch waits ([`TokenState::NotBefore`]) 1 s, doubling on every further `0` up to 60 s,
//!   so an identity service that keeps answering `0` is asked at most once a minute;
//! - a transport failure ([`TokenHolder::handle_token_failure`]) allows a new fetch at once;
//! - a request answered 601 or 602 ([`crate::fault::FaultClass::Reauth`]) hands its token to
//!   [`TokenHolder::invalidate`]; the next [`TokenHolder::token`] fetches a fresh one. Resending
//!   the request once with the new token is the caller's part (see the module docs of
//!   [`crate::rest`]).
//!
//! Secrets: the client secret appears only in the URL of the [`TokenState::Fetch`] request, the
//! token only in `Authorization` headers. [`AccessToken`], [`TokenHolder`] and [`TokenState`]
//! print `[redacted]` in their `Debug`; the crate never prints a [`Request`].

use serde_json::Value;

use crate::error::Error;
use crate::fault::{Api, Fault};
use crate::request::{Method, Request, RequestKind, Response};
use crate::settings::{Secret, Settings};
use crate::time::Timestamp;

use super::body::{join, push_query_value};

/// A token with this little life left (or less) is refreshed before use: 60 s.
pub const REFRESH_MARGIN_MS: i64 = 60_000;
/// After a token answer with `expires_in: 0`, the first wait before fetching again: 1 s.
pub const ZERO_LIFE_RETRY_MS: i64 = 1_000;
/// The longest wait after repeated `expires_in: 0` answers: 60 s.
pub const ZERO_LIFE_RETRY_MAX_MS: i64 = 60_000;

/// A REST access token. `Debug` prints `[redacted]`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> AccessToken {
        AccessToken(token.into())
    }

    /// The token itself; use only to authenticate a request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `Authorization` header value: `Bearer <token>`.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// What to do to get a token, now.
#[non_exhaustive]
pub enum TokenState<'a> {
    /// Use this token (it has at least 60 s left, or is the short-lived one Marketo handed back).
    Ready(&'a AccessToken),
    /// Send this request and hand its answer to [`TokenHolder::handle_token_response`] (or a
    /// transport failure to [`TokenHolder::handle_token_failure`]). Its URL holds the client
    /// secret: do not log it.
    Fetch(Request),
    /// A fetch is in flight: wait for its answer.
    Waiting,
    /// The identity service answered `expires_in: 0`; ask again at this instant.
    NotBefore(Timestamp),
}

impl std::fmt::Debug for TokenState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenState::Ready(token) => f.debug_tuple("Ready").field(token).finish(),
            TokenState::Fetch(request) => f
                .debug_struct("Fetch")
                .field("kind", &request.kind)
                .field("method", &request.method)
                .field("url", &"[redacted: holds the client secret]")
                .finish(),
            TokenState::Waiting => f.write_str("Waiting"),
            TokenState::NotBefore(t) => f.debug_tuple("NotBefore").field(t).finish(),
        }
    }
}

#[derive(Clone)]
struct Held {
    token: AccessToken,
    expires_at: Timestamp,
    /// Handed out while `now <= ready_until`.
    ready_until: Timestamp,
}

/// Holds the REST access token and runs its life cycle (see the module docs).
#[derive(Clone)]
pub struct TokenHolder {
    identity_base: String,
    client_id: String,
    client_secret: Secret,
    held: Option<Held>,
    in_flight: bool,
    not_before: Option<Timestamp>,
    zero_answers: u32,
}

impl std::fmt::Debug for TokenHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenHolder")
            .field("identity", &self.identity_base)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("token", &self.held.as_ref().map(|h| &h.token))
            .field("expires_at", &self.held.as_ref().map(|h| h.expires_at))
            .field("in_flight", &self.in_flight)
            .field("not_before", &self.not_before)
            .finish()
    }
}

impl TokenHolder {
    /// A holder without a token, for the identity service at `identity_endpoint` (like
    /// `https://123-ABC-456.mktorest.com/identity`; a trailing `/` is ignored). Not validated
    /// here: [`TokenHolder::from_settings`] validates.
    pub fn new(identity_endpoint: impl Into<String>, client_id: impl Into<String>, client_secret: Secret) -> TokenHolder {
        let mut identity_base = identity_endpoint.into();
        identity_base.truncate(identity_base.trim_end_matches('/').len());
        TokenHolder {
            identity_base,
            client_id: client_id.into(),
            client_secret,
            held: None,
            in_flight: false,
            not_before: None,
            zero_answers: 0,
        }
    }

    /// A holder for validated REST settings ([`Settings::validate_rest`]): `identityEndpoint`
    /// (default `{restEndpoint}/identity`), `clientId`, `clientSecret`.
    pub fn from_settings(settings: &Settings) -> Result<TokenHolder, Error> {
        settings.validate_rest()?;
        Ok(TokenHolder::new(
            settings.identity_base(),
            settings.client_id.clone().unwrap_or_default(),
            settings.client_secret.clone().unwrap_or_default(),
        ))
    }

    /// What to do to get a token at `now` (see [`TokenState`]). Returning
    /// [`TokenState::Fetch`] marks a fetch in flight until its answer or failure is handed back.
    pub fn token(&mut self, now: Timestamp) -> TokenState<'_> {
        let ready = self.held.as_ref().is_some_and(|h| now <= h.ready_until);
        if ready {
            // (Borrowed only on the path that returns it.)
            return match &self.held {
                Some(h) => TokenState::Ready(&h.token),
                None => TokenState::Waiting,
            };
        }
        if self.in_flight {
            return TokenState::Waiting;
        }
        if let Some(at) = self.not_before
            && now < at
        {
            return TokenState::NotBefore(at);
        }
        self.in_flight = true;
        TokenState::Fetch(self.request())
    }

    /// The token request: `GET {identity}/oauth/token?grant_type=client_credentials&client_id=…&client_secret=…`,
    /// values percent-encoded.
    fn request(&self) -> Request {
        let mut url = join(&self.identity_base, "/oauth/token?grant_type=client_credentials&client_id=");
        push_query_value(&self.client_id, &mut url);
        url.push_str("&client_secret=");
        push_query_value(self.client_secret.expose(), &mut url);
        Request {
            kind: RequestKind::Token,
            method: Method::Get,
            url,
            headers: vec![("Accept", "application/json".to_owned())],
            body: None,
        }
    }

    /// Reads the identity service's answer to the fetch, at `now` (the expiry is counted from
    /// it). The fetch is over whatever the answer.
    ///
    /// - 2xx with `access_token` and `expires_in` above 0: the token is held.
    /// - 2xx with `expires_in: 0`: no token; the next fetch waits (see the module docs). `Ok`.
    /// - an OAuth error object `{"error":"unauthorized","error_description":"…"}` with a 2xx or 4xx
    ///   status (Marketo sends 401 for a bad client id or secret): [`Error::Marketo`] with an
    ///   uncoded, permanent [`Fault`] (`text` = `error`, `message` = `error_description`).
    /// - a REST envelope with `errors` (`606`, …): [`Error::Marketo`], classified by the table.
    /// - anything else (5xx, HTML, garbage, a `token_type` other than `bearer`): an
    ///   [`Error::UnexpectedResponse`] (5xx and 429 say back off).
    ///
    /// Errors never contain the client secret (it is cut out of the excerpt, should an identity
    /// service echo it).
    pub fn handle_token_response(&mut self, response: &Response, now: Timestamp) -> Result<(), Error> {
        self.in_flight = false;
        match self.read(response) {
            Ok(Some((token, expires_in))) => {
                let life_ms = i64::try_from(expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
                let expires_at = now.plus_ms(life_ms);
                // Ready while at least 60 s remain; a token born with 60 s or less, until it expires.
                let ready_until = if life_ms > REFRESH_MARGIN_MS {
                    expires_at.plus_ms(-REFRESH_MARGIN_MS)
                } else {
                    expires_at.plus_ms(-1)
                };
                self.held = Some(Held {
                    token,
                    expires_at,
                    ready_until,
                });
                self.not_before = None;
                self.zero_answers = 0;
                Ok(())
            }
            Ok(None) => {
                self.held = None;
                let shift = self.zero_answers.min(16);
                self.zero_answers = self.zero_answers.saturating_add(1);
                let wait = ZERO_LIFE_RETRY_MS.saturating_mul(1 << shift).min(ZERO_LIFE_RETRY_MAX_MS);
                self.not_before = Some(now.plus_ms(wait));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `Some((token, expires_in))`, or `None` for `expires_in: 0`.
    fn read(&self, response: &Response) -> Result<Option<(AccessToken, u64)>, Error> {
        let status = response.status;
        let unexpected = |reason: &str| Error::unexpected(status, reason, &self.scrub(&response.body));
        if status >= 500 {
            return Err(unexpected("the identity service failed"));
        }
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&response.body) else {
            return Err(unexpected("the identity answer is not a JSON object"));
        };
        if let Some(Value::String(error)) = map.get("error") {
            let description = match map.get("error_description") {
                Some(Value::String(d)) => d.as_str(),
                _ => "",
            };
            let fault = Fault::new(Api::Rest, None, self.scrub_text(error), self.scrub_text(description));
            return Err(Error::Marketo(fault));
        }
        if let Some(Value::Array(errors)) = map.get("errors")
            && let Some(first) = errors.first()
        {
            let mut fault = super::response::fault_of(first);
            fault.text = self.scrub_text(&fault.text);
            fault.message = self.scrub_text(&fault.message);
            // Field names pulled out of the message (1006) are message text too.
            fault.unknown_fields = fault.unknown_fields.iter().map(|f| self.scrub_text(f)).collect();
            return Err(Error::Marketo(fault));
        }
        if !(200..300).contains(&status) {
            return Err(unexpected("the identity service refused the request"));
        }
        let token = match map.get("access_token") {
            Some(Value::String(t)) if !t.is_empty() && !t.chars().any(char::is_control) => AccessToken(t.clone()),
            _ => return Err(unexpected("no `access_token` in the identity answer")),
        };
        match map.get("token_type") {
            None => {}
            Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
            Some(_) => return Err(unexpected("`token_type` is not `bearer`")),
        }
        match map.get("expires_in").and_then(Value::as_u64) {
            Some(0) => Ok(None),
            Some(seconds) => Ok(Some((token, seconds))),
            None => Err(unexpected("no `expires_in` (whole seconds) in the identity answer")),
        }
    }

    fn scrub(&self, body: &[u8]) -> Vec<u8> {
        let secret = self.client_secret.expose().as_bytes();
        if secret.is_empty() || body.len() < secret.len() {
            return body.to_vec();
        }
        let mut out = Vec::with_capacity(body.len());
        let mut i = 0;
        while i < body.len() {
            if body[i..].starts_with(secret) {
                out.extend_from_slice(b"[redacted]");
                i += secret.len();
            } else {
                out.push(body[i]);
                i += 1;
            }
        }
        out
    }

    fn scrub_text(&self, text: &str) -> String {
        let secret = self.client_secret.expose();
        if secret.is_empty() {
            text.to_owned()
        } else {
            text.replace(secret, "[redacted]")
        }
    }

    /// The token fetch failed in transport (no answer): a new fetch may start at once.
    pub fn handle_token_failure(&mut self) {
        self.in_flight = false;
    }

    /// Marketo answered 601 (invalid) or 602 (expired) to a request made with `token`: forget it,
    /// so the next [`TokenHolder::token`] fetches a fresh one. Returns whether it was the held
    /// token; a token already replaced (another request re-authenticated first) changes nothing.
    pub fn invalidate(&mut self, token: &AccessToken) -> bool {
        if self.held.as_ref().is_some_and(|h| &h.token == token) {
            self.held = None;
            true
        } else {
            false
        }
    }

    /// When the held token expires, if there is one.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.held.as_ref().map(|h| h.expires_at)
    }

    /// Whether a fetch is in flight.
    pub fn is_fetching(&self) -> bool {
        self.in_flight
    }
}
