//! A local fake Marketo for tests and examples: an HTTP server on 127.0.0.1 that speaks the
//! SOAP `syncLead` call, the Munchkin `visitWebPage` beacon and the REST API (access tokens,
//! Sync Leads, lead lookup, Associate Lead, Add Custom Activities), and **checks** every request
//! against the rules a real Marketo instance enforces.
//!
//! It is a test tool for `segment-marketo` and deliberately does not depend on it: it reads
//! requests with its own parsers (quick-xml, serde_json), computes signatures itself (hmac +
//! sha1), and keeps its own clock, so a bug in the crate shows up here as a counted violation
//! rather than being echoed back as success.
//!
//! # Endpoints
//!
//! | endpoint | Marketo's | answer |
//! | --- | --- | --- |
//! | `POST /soap/mktows/2_1` ([`FakeMarketo::soap_url`]) | `https://{id}.mktoapi.com/soap/mktows/2_1` | 200 `successSyncLead`, or 500 SOAP fault |
//! | `GET /webevents/visitWebPage?…` (under [`FakeMarketo::beacon_base_url`]) | `https://{munchkin-id}.mktoresp.com/webevents/visitWebPage` | 200 empty body, 400, 414 or 429 |
//! | `GET` (or `POST`) `/identity/oauth/token?grant_type=client_credentials&client_id=…&client_secret=…` (under [`FakeMarketo::identity_url`]) | `https://{id}.mktorest.com/identity/oauth/token` | 200 `{"access_token","token_type":"bearer","expires_in","scope"}`, 400, 401 |
//! | `POST /rest/v1/leads.json` (under [`FakeMarketo::rest_base_url`]) | Sync Leads | 200, per-record `created` / `updated` / `skipped` |
//! | `GET /rest/v1/leads.json?filterType=…&filterValues=…[&fields=…]` | Get Leads by Filter Type | 200, the leads found |
//! | `POST /rest/v1/leads/{id}/associate.json?cookie=…` | Associate Lead | 200 `success: true` or an error |
//! | `POST /rest/v1/activities/external.json` | Add Custom Activities | 200, per-record `added` / `skipped` |
//!
//! Every REST answer but the identity service's, HTTP 413 and 414, and injected 503s and drops
//! is HTTP 200 with JSON, as Marketo's are: `{"requestId":"…","success":true,"result":[…]}`, or
//! `{"requestId":"…","success":false,"errors":[{"code":"601","message":"…"}]}` for a call that
//! failed as a whole. Records come back in input order; a skipped Sync Leads record carries
//! `reasons`, a skipped custom activity `errors`, as Marketo's documentation shows them.
//!
//! Anything else is 404 (405 for a wrong method on a SOAP or beacon path; a wrong method on a
//! REST path is Marketo's 605), counted in `not_found`. Bytes that are not HTTP/1.x get 400 (431
//! for a head over 64 KB, 413 for a body over 16 MB) and a closed connection, and are not
//! counted at all.
//!
//! # What it checks, and why
//!
//! Each broken rule increments a named counter in [`Counters`] and is answered the way Marketo
//! answers it, so the client's fault handling is exercised too. Rules are applied in this order;
//! the first broken one answers.
//!
//! 1. **rate** (`rate`; SOAP 20023, REST 606 `Max rate limit '100' exceeded with in '20' secs`
//!    with the configured numbers, beacon 429): more than [`Config::rate_limit`] calls started
//!    in the sliding [`Config::rate_window`] (Marketo: 100 calls per 20 s per instance). SOAP,
//!    beacon, token and REST calls are counted together, every started call counts (rejected
//!    ones too, as Marketo counts calls, not successes).
//! 2. **concurrency** (`concurrency`; SOAP 20024, REST 615 `Concurrent access limit reached`,
//!    beacon 429): more than [`Config::max_concurrent`] calls in flight (Marketo: 10). A call
//!    is in flight from when it has been read in full until its answer is about to be written,
//!    including [`Config::latency`]. Beacons over rate or concurrency get HTTP 429 with
//!    `"<code> - <text>"` as a plain-text body, not a SOAP fault.
//!
//! Then, for SOAP:
//!
//! 3. **schema** (`schema`, 20012): `Content-Type` `text/xml`, `SOAPAction`
//!    exactly `"http://www.marketo.com/mktows/syncLead"` (quoted), a UTF-8 body of at most 1 MB,
//!    and the envelope rules of `syncLead-envelope-profile.xsd` + `mktows_2_1.xsd`: root
//!    `SOAP-ENV:Envelope`; `Header` (required) then `Body`; `ns1:AuthenticationHeader`
//!    {mktowsUserId, requestSignature, requestTimestamp, audit?, mode?}, optional
//!    `ns1:MktowsContextHeader`; `ns1:paramsSyncLead` {leadRecord{Id?, Email?,
//!    ForeignSysPersonId?, ForeignSysType?, leadAttributeList{attribute{attrName, attrType?,
//!    attrValue}*}?}, returnLead, marketoCookie?}, in that order. Only the two top-level
//!    elements are in `http://www.marketo.com/mktows/`; every child must be in no namespace.
//!    `requestTimestamp` must be `YYYY-MM-DDThh:mm:ss±hh:mm`. A lead needs an `Email` or a
//!    `marketoCookie` with a token. The fault's message names the broken rule.
//! 4. **signature** (`signature`, 20014): `mktowsUserId` is [`Config::user_id`] and
//!    `requestSignature` is the lowercase hex HMAC-SHA1 (key = [`Config::encryption_key`],
//!    message = requestTimestamp + mktowsUserId). The fault body is byte-for-byte
//!    `fault-20014-adobe-doc.xml`.
//! 5. **expired** (`expired`, 20016): the timestamp is more than [`Config::max_skew`] from the
//!    fake's clock.
//! 6. **quota** (`quota`, 20015): [`Config::daily_quota`] syncs were already accepted in the
//!    current US Central day (Marketo resets at 12:00 AM US Central; daylight saving applied).
//!    Only accepted syncLead calls spend SOAP quota; beacons do not (Munchkin has no API quota).
//! 7. **lock** (`lock`, "Exceeded lock attempts"): another sync of the same lead started less
//!    than [`Config::lock_window`] ago (Segment: "leads can only be synced every 30 seconds"),
//!    or is still in flight. "Same lead" is the request's cookie token when it has one, else
//!    its `Email`, compared exactly. Only accepted syncs take the lock. Marketo's lock fault has
//!    no code: faultstring and message are both `Exceeded lock attempts` and the `code` element
//!    is left out (the client must recognise it by text).
//! 8. **injection** (see below).
//! 9. **unknown fields** (`unknown_fields`, 20105, faultstring `20105 - Unknown lead field`):
//!    with [`Config::known_fields`] set, every `attrName` outside it is listed, in request order,
//!    in `syncLead operation failed: unknown fields for import: a, b (20105)`. A data problem,
//!    not a protocol violation. It takes no lock and spends no quota.
//!
//! Beacons: after rate and concurrency, `_mchId` (equal to [`Config::munchkin_id`]), `_mchTk`
//! and `_mchRu` must be present and non-empty and every `%XX` escape valid, else HTTP 400; a URL
//! longer than Marketo's 8 KB gets 414 (both counted in `bad_beacon`, a client violation); then
//! injection; then the beacon is recorded ([`FakeMarketo::beacons`]) and answered 200 with an
//! empty body.
//!
//! An accepted sync finds its lead by cookie token, else by `Email`, else creates one (ids
//! increase from 1001; `status` CREATED the first time, UPDATED after), merges the attributes
//! into [`Lead::fields`], and answers `successSyncLead` with `leadRecord` nil, or the stored
//! record when `returnLead` is true.
//!
//! ## REST
//!
//! After rate and concurrency, a token or REST call goes through these rules:
//!
//! 3. **batch_size** (`batch_size`): a URL over 8 KB gets HTTP 414, a body over 1 MB
//!    (1,048,576 bytes) HTTP 413, both plain text, as Marketo documents.
//! 4. The identity service (token requests only, which then stop here): `grant_type` missing or
//!    not `client_credentials` gets 400 `{"error":"invalid_request"|"unsupported_grant_type",…}`
//!    (`malformed`); a `client_id` or `client_secret` other than [`Config::client_id`] and
//!    [`Config::client_secret`] gets 401
//!    `{"error":"unauthorized","error_description":"Bad client credentials"}`
//!    (`bad_credentials`, a violation like SOAP's `signature`); then injection (HTTP 503 or a
//!    dropped connection only: the identity service is a plain OAuth server); then the answer.
//!    While the latest token is valid the answer is that same token with its remaining life, as
//!    Marketo does (`tokens_reused`); else a new one (`tokens_issued`), valid for
//!    [`Config::token_ttl`] by the fake's clock. `expires_in` is the whole seconds left less
//!    the one under way (a fresh 3600 s token says 3599, as Marketo's do), so a client that
//!    counts from `expires_in` never holds a token past its end. Parameters may also come as a
//!    `POST` form body. Token requests spend no quota.
//! 5. **method** (`malformed`, 605 `Request method 'GET' not supported`): a method the path
//!    does not take.
//! 6. **token**: an `access_token` query parameter, whatever else the call carries, gets 601
//!    `Access token invalid` (`token_in_url`, a violation: Marketo removed support for it); no
//!    `Authorization: Bearer <token>` header gets 601 (`missing_token`, a violation); a token
//!    the fake never issued gets 601, an expired one 602 `Access token expired` (both
//!    `stale_token`, **not** a violation: that is how a client learns of expiry).
//! 7. **request shape** (`malformed`): 612 `Invalid Content Type` (Sync Leads and activities
//!    need `application/json`; a lookup sent as `POST …/leads.json?_method=GET` needs
//!    `application/x-www-form-urlencoded`); 609 `Invalid JSON` (not a UTF-8 JSON object); 1002
//!    `Missing value for required parameter '…'` (`input`, `filterType`, `filterValues`,
//!    `cookie`); 1001 `Invalid value '…'. Required of type '…'` (`action` outside
//!    createOrUpdate, createOnly, updateOnly, createDuplicate; `lookupField` not a string;
//!    `input` not an array of objects); 1003 for `lookupField` `id` without `updateOnly`; 1006
//!    `Field '…' not found` for a `lookupField`, `filterType` or `fields` name outside
//!    [`Config::known_rest_fields`]. And **batch_size** (`batch_size`): 1003 for more than 300
//!    records in `input` or values in `filterValues`.
//! 8. **quota** (`quota`, 607 `Daily quota reached`): [`Config::daily_quota`] REST calls were
//!    already answered `success: true` in the current US Central day. REST has its own pool,
//!    apart from SOAP's, as Marketo's quotas are per API; a call that fails as a whole (any
//!    `success: false`, an injected fault) spends none, as Marketo documents.
//! 9. **injection** (see below).
//! 10. The call itself. All leads live in one store shared with SOAP (emails compared exactly).
//!
//!     - **Sync Leads** (`action` default createOrUpdate, `lookupField` default `email`): each
//!       record, in input order, is skipped with `reasons` for the first of: 1006 `Field 'x' not
//!       found` for each field outside [`Config::known_rest_fields`] (`id` and `email` are always
//!       known), in record order; 1003 for an object or array value, for an `email` that is not
//!       a JSON string with non-empty parts around an `@` and no spaces, or for `id` outside
//!       updateOnly; 1002 when createOrUpdate or updateOnly lacks the lookup field; then by the
//!       leads matching the lookup field (`email`, `id`, or any stored REST field, compared as
//!       text): createOnly with a match 1005 `Lead already exists`, updateOnly without one 1004
//!       `Lead not found`, more than one 1007 `Multiple leads match the lookup criteria`
//!       (createDuplicate always creates). Otherwise the lead is created (`created`, ids from
//!       1001 shared with SOAP) or updated (`updated`): `email` goes to [`Lead::email`], every
//!       other field but `id` into [`Lead::rest_fields`] as the JSON text that arrived. Records
//!       of one call apply one after the other. A record whose lookup key is in another Sync
//!       Leads call still in flight counts in `upsert_races` (Marketo warns that such calls may
//!       duplicate leads; a warning, not a violation).
//!     - **Lookup**: the leads whose `filterType` field (`email`, `id` or a REST field) equals
//!       one of `filterValues` (comma-separated, decoded as a form: send `+` as `%2B`), each
//!       once, in `filterValues` order; `id` first, then `fields` (default `email`,
//!       `updatedAt`, `createdAt`, `firstName`, `lastName`) that have a value. None found is
//!       `success: true` with an empty `result`.
//!     - **Associate Lead**: `cookie`, URL-decoded, must be exactly
//!       `id:<`[`Config::munchkin_id`]`>&token:_mch-…`, else 1012 `Invalid cookie value '…'`
//!       (`invalid_cookie`, data, not a violation; an unencoded `&` ends the parameter early);
//!       an unknown lead id is 1004 `Lead not found`. Accepted: recorded
//!       ([`FakeMarketo::associations`]) and the token added to [`Lead::cookie_tokens`].
//!     - **Add Custom Activities**: each record is skipped with `errors` for the first of: 1002
//!       for a missing (or null) `leadId`, `activityDate`, `activityTypeId`,
//!       `primaryAttributeValue` or `attributes`, 1001 for one of the wrong type (`activityDate`
//!       must be ISO 8601 with `Z` or an offset), checked in that order; 1049 for `attributes`
//!       over 65,536 bytes of JSON; 1002 or 1001 for an attribute without `apiName` (or `name`)
//!       and `value`; 1013 `Object not found` for an `activityTypeId` outside
//!       [`Config::activity_types`]; 1004 `Lead not found`. Otherwise `added` with an id (from
//!       1) as `id` and `marketoGUID`, recorded ([`FakeMarketo::activities`]).
//!
//! # Fault injection
//!
//! Every request the rules see (SOAP, beacon, token, REST) draws three numbers from a SplitMix64
//! generator seeded with [`Config::seed`], whatever happens to it, so injections depend only on
//! the seed and the order in which requests are read in full. A request that passed the rules
//! above is then, with probability [`Config::fault_rate`], answered with a transient fault: for
//! syncLead one of 20011 Internal Error, 20023, 20024, a bare HTTP 503 with an HTML body, or a
//! dropped connection; for a beacon or a token request a 503 or a dropped connection; for a REST
//! call one of 604 `Request timed out`, 608 `API Temporarily Unavailable`, 611 `System error`,
//! 713 `Transient Error`, 719 `Lock wait timeout exception` (as `success: false` bodies), a 503
//! or a dropped connection. Else, with probability [`Config::permanent_fault_rate`], a write
//! gets a permanent fault: a syncLead 20017 Invalid Request, its email and cookie token recorded
//! ([`FakeMarketo::permanent_faults`]); a Sync Leads or Add Custom Activities call one record,
//! picked by the draw, skipped with 1003 `Invalid data` while the others apply; an Associate Lead
//! call a 1003 `Invalid data` answer; each recorded ([`FakeMarketo::rest_permanent_faults`]) so
//! a soak test can check that every failure its client reported was injected. Lookups and token
//! requests get no permanent faults. Injected requests (and records) count in `injected_*`, are
//! not violations, take no lock, change no lead, and a transient one spends no quota.
//!
//! A dropped connection is a real one: the fake reads the request, then closes the socket
//! without writing a byte, so the client sees a transport error and no status.
//!
//! # Threads
//!
//! The server is `std::net` plus `httparse` (see the `http` module for why not tiny_http): an
//! accept thread and one thread per open connection, at most [`Config::workers`] at once
//! (default 64; further connections wait in the kernel's backlog until one closes). A request
//! is "in flight" while its connection's thread handles it.
//!
//! # Use
//!
//! ```
//! use std::time::Duration;
//! use fake_marketo::{Config, start};
//!
//! let fake = start(Config {
//!     lock_window: Duration::from_millis(300),
//!     token_ttl: Duration::from_secs(5),
//!     ..Config::default()
//! })
//! .expect("bind 127.0.0.1");
//! println!("SOAP at {}, beacon under {}", fake.soap_url(), fake.beacon_base_url());
//! println!("REST under {}, identity {}", fake.rest_base_url(), fake.identity_url());
//! // ... point the client at it (REST credentials: fake_marketo::TEST_CLIENT_ID and
//! // TEST_CLIENT_SECRET), run the test ...
//! let counters = fake.counters();
//! assert_eq!(counters.violations_total(), 0);
//! fake.shutdown();
//! ```
//!
//! Time-based rules read [`Config::clock`] when it is set: a test can step it instead of
//! sleeping through a token's life or a rate window.
//!
//! From the command line (the workspace's example): `Config::from_args` reads
//! `--port 0 --lock-window 300ms --token-ttl 60s …` (see [`Config::USAGE`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod beacon;
mod config;
mod counters;
mod http;
mod json;
mod rest;
mod server;
mod soap;
mod time;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

pub use beacon::Beacon;
pub use config::{ArgsError, Clock, Config, TEST_CLIENT_ID, TEST_CLIENT_SECRET, VECTOR_ENCRYPTION_KEY, VECTOR_MUNCHKIN_ID, VECTOR_USER_ID};
pub use counters::{
    Association, Counters, CustomActivity, InjectedFault, Injection, Lead, PermanentFault, RestCall, RestPermanentFault, Rule, Violation,
};
pub use time::{format_timestamp, parse_timestamp};

use server::Shared;

/// The SOAP endpoint's path.
pub const SOAP_PATH: &str = server::SOAP_PATH;
/// The beacon endpoint's path.
pub const BEACON_PATH: &str = server::BEACON_PATH;
/// The REST identity endpoint's path (token requests).
pub const TOKEN_PATH: &str = rest::TOKEN_PATH;
/// The REST Sync Leads (POST) and lead lookup (GET) path.
pub const LEADS_PATH: &str = rest::LEADS_PATH;
/// The REST Add Custom Activities path.
pub const ACTIVITIES_PATH: &str = rest::ACTIVITIES_PATH;

/// Starts a fake Marketo on `127.0.0.1:{config.port}`.
///
/// Fails only when the port cannot be bound. The server runs until [`FakeMarketo::shutdown`]
/// or until the handle is dropped.
pub fn start(config: Config) -> io::Result<FakeMarketo> {
    let (port, workers) = (config.port, config.workers);
    let shared = Arc::new(Shared::new(config));
    let handler = {
        let shared = Arc::clone(&shared);
        move |request| shared.handle(request)
    };
    let listener = http::Listener::start(port, workers, handler)?;
    Ok(FakeMarketo { listener, shared })
}

/// A running fake Marketo. Dropping it stops it, like [`FakeMarketo::shutdown`].
pub struct FakeMarketo {
    listener: http::Listener,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeMarketo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeMarketo").field("addr", &self.addr()).finish_non_exhaustive()
    }
}

impl FakeMarketo {
    /// The address it listens on (127.0.0.1 and the bound port).
    pub fn addr(&self) -> SocketAddr {
        self.listener.addr()
    }

    /// `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The SOAP endpoint: `http://127.0.0.1:{port}/soap/mktows/2_1`.
    pub fn soap_url(&self) -> String {
        format!("{}{SOAP_PATH}", self.base_url())
    }

    /// The stand-in for `https://{munchkin-id}.mktoresp.com`: `http://127.0.0.1:{port}`, with no
    /// trailing slash; the client appends `/webevents/visitWebPage?…`.
    pub fn beacon_base_url(&self) -> String {
        self.base_url()
    }

    /// The full beacon endpoint: `http://127.0.0.1:{port}/webevents/visitWebPage`.
    pub fn beacon_url(&self) -> String {
        format!("{}{BEACON_PATH}", self.base_url())
    }

    /// The stand-in for the REST identity URL `https://{id}.mktorest.com/identity`:
    /// `http://127.0.0.1:{port}/identity`; the client appends `/oauth/token?…`.
    pub fn identity_url(&self) -> String {
        format!("{}/identity", self.base_url())
    }

    /// The full token endpoint: `http://127.0.0.1:{port}/identity/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url())
    }

    /// The stand-in for the REST endpoint `https://{id}.mktorest.com`:
    /// `http://127.0.0.1:{port}`, with no trailing slash; the client appends `/rest/v1/…`.
    pub fn rest_base_url(&self) -> String {
        self.base_url()
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The fake's clock now (ms since the Unix epoch): sign requests near this.
    pub fn now_ms(&self) -> i64 {
        self.shared.config.now_ms()
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.shared.state().counters.clone()
    }

    /// The client-rule violations so far (see [`Counters::violations_total`]).
    pub fn violations_total(&self) -> u64 {
        self.shared.state().counters.violations_total()
    }

    /// The rejected requests so far with what was wrong (the first 10 000), oldest first.
    pub fn violations(&self) -> Vec<Violation> {
        self.shared.state().violations.clone()
    }

    /// The lead whose last synced `Email` is `email`, exactly.
    pub fn lead(&self, email: &str) -> Option<Lead> {
        self.shared.state().lead_by_email(email).cloned()
    }

    /// The lead with this id.
    pub fn lead_by_id(&self, id: u64) -> Option<Lead> {
        let state = self.shared.state();
        state.index_by_id(id).map(|i| state.leads[i].clone())
    }

    /// The lead synced or associated with this Munchkin cookie token (the latest one, if it was
    /// associated with several).
    pub fn lead_by_cookie_token(&self, token: &str) -> Option<Lead> {
        self.shared.state().lead_by_token(token).cloned()
    }

    /// Every lead, in creation order.
    pub fn leads(&self) -> Vec<Lead> {
        self.shared.state().leads.clone()
    }

    /// Every accepted beacon, in acceptance order.
    pub fn beacons(&self) -> Vec<Beacon> {
        self.shared.state().beacons.clone()
    }

    /// Every injected fault, in request order.
    pub fn injections(&self) -> Vec<Injection> {
        self.shared.state().injections.clone()
    }

    /// The syncLead requests that got an injected permanent fault (20017), in request order.
    pub fn permanent_faults(&self) -> Vec<PermanentFault> {
        self.shared.state().permanent.clone()
    }

    /// The REST records (and Associate Lead calls) that got an injected permanent fault (1003),
    /// in request order.
    pub fn rest_permanent_faults(&self) -> Vec<RestPermanentFault> {
        self.shared.state().rest_permanent.clone()
    }

    /// Every accepted Associate Lead call, in acceptance order.
    pub fn associations(&self) -> Vec<Association> {
        self.shared.state().associations.clone()
    }

    /// Every custom activity answered `added`, in acceptance order.
    pub fn activities(&self) -> Vec<CustomActivity> {
        self.shared.state().activities.clone()
    }

    /// The access token a token request would get now, if one is still valid by the fake's
    /// clock (the latest issued). Secret material: for tests only.
    pub fn access_token(&self) -> Option<String> {
        let now = self.now_ms();
        let state = self.shared.state();
        let token = state.current_token.as_ref()?;
        state
            .tokens
            .get(token)
            .is_some_and(|&expires_at| now < expires_at)
            .then(|| token.clone())
    }

    /// Ends the life of every token issued so far, now by the fake's clock: calls using them get
    /// 602 and the next token request gets a new token. For testing a client's re-authentication
    /// without waiting for [`Config::token_ttl`].
    pub fn expire_tokens(&self) {
        let now = self.now_ms();
        let mut state = self.shared.state();
        for expires_at in state.tokens.values_mut() {
            *expires_at = (*expires_at).min(now);
        }
    }

    /// Stops: closes the listening socket and every connection (each after the request it is
    /// answering), and waits for the connection threads.
    pub fn shutdown(mut self) {
        self.listener.stop();
    }
}
