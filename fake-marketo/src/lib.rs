//! A local fake Marketo for tests and examples: an HTTP server on 127.0.0.1 that speaks the
//! SOAP `syncLead` call and the Munchkin `visitWebPage` beacon, and **checks** every request
//! against the rules a real Marketo instance enforces.
//!
//! It is a test tool for `segment-marketo` and deliberately does not depend on it: it reads
//! requests with its own parser (quick-xml), computes signatures itself (hmac + sha1), and
//! keeps its own clock, so a bug in the crate shows up here as a counted violation rather than
//! being echoed back as success.
//!
//! # Endpoints
//!
//! | endpoint | Marketo's | answer |
//! | --- | --- | --- |
//! | `POST /soap/mktows/2_1` ([`FakeMarketo::soap_url`]) | `https://{id}.mktoapi.com/soap/mktows/2_1` | 200 `successSyncLead`, or 500 SOAP fault |
//! | `GET /webevents/visitWebPage?…` (under [`FakeMarketo::beacon_base_url`]) | `https://{munchkin-id}.mktoresp.com/webevents/visitWebPage` | 200 empty body, 400, 414 or 429 |
//!
//! Anything else is 404 (405 for a wrong method on a known path), counted in `not_found`.
//! Bytes that are not HTTP/1.x get 400 (431 for a head over 64 KB, 413 for a body over 16 MB)
//! and a closed connection, and are not counted at all.
//!
//! # What it checks, and why
//!
//! Each broken rule increments a named counter in [`Counters`] and is answered the way Marketo
//! answers it, so the client's fault handling is exercised too. Rules are applied in this order;
//! the first broken one answers.
//!
//! 1. **rate** (`rate`, 20023): more than [`Config::rate_limit`] calls started in the sliding
//!    [`Config::rate_window`] (Marketo: 100 calls per 20 s per instance). SOAP and beacon calls
//!    are counted together, every started call counts (rejected ones too, as Marketo counts
//!    calls, not successes).
//! 2. **concurrency** (`concurrency`, 20024): more than [`Config::max_concurrent`] calls in
//!    flight (Marketo: 10). A call is in flight from when it has been read in full until its
//!    answer is about to be written, including [`Config::latency`]. Beacons over rate or concurrency get
//!    HTTP 429 with `"<code> - <text>"` as a plain-text body, not a SOAP fault.
//! 3. SOAP only, **schema** (`schema`, 20012): `Content-Type` `text/xml`, `SOAPAction`
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
//!    Only accepted syncLead calls spend quota; beacons do not (Munchkin has no API quota).
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
//! # Fault injection
//!
//! Every SOAP or beacon request draws three numbers from a SplitMix64 generator seeded with
//! [`Config::seed`], whatever happens to it, so injections depend only on the seed and the order
//! in which requests are read in full. A request that passed the rules above is then, with
//! probability [`Config::fault_rate`], answered with a transient fault: for syncLead one of
//! 20011 Internal Error, 20023, 20024, a bare HTTP 503 with an HTML body, or a dropped
//! connection; for a beacon a 503 or a dropped connection. Else, with probability
//! [`Config::permanent_fault_rate`], a syncLead gets 20017 Invalid Request and its email and
//! cookie token are recorded ([`FakeMarketo::permanent_faults`]), so a soak test can check that
//! every failure its client reported was injected. Injected requests count in `injected_*`, are
//! not violations, take no lock, spend no quota and change no lead.
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
//!     ..Config::default()
//! })
//! .expect("bind 127.0.0.1");
//! println!("SOAP at {}, beacon under {}", fake.soap_url(), fake.beacon_base_url());
//! // ... point the client at it, run the test ...
//! let counters = fake.counters();
//! assert_eq!(counters.violations_total(), 0);
//! fake.shutdown();
//! ```
//!
//! From the command line (the workspace's example): `Config::from_args` reads
//! `--port 0 --lock-window 300ms …` (see [`Config::USAGE`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod beacon;
mod config;
mod counters;
mod http;
mod server;
mod soap;
mod time;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

pub use beacon::Beacon;
pub use config::{
    ArgsError, Clock, Config, VECTOR_ENCRYPTION_KEY, VECTOR_MUNCHKIN_ID, VECTOR_USER_ID,
};
pub use counters::{Counters, InjectedFault, Injection, Lead, PermanentFault, Rule, Violation};
pub use time::{format_timestamp, parse_timestamp};

use server::Shared;

/// The SOAP endpoint's path.
pub const SOAP_PATH: &str = server::SOAP_PATH;
/// The beacon endpoint's path.
pub const BEACON_PATH: &str = server::BEACON_PATH;

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
        f.debug_struct("FakeMarketo")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
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

    /// The lead synced with this Munchkin cookie token.
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

    /// Stops: closes the listening socket and every connection (each after the request it is
    /// answering), and waits for the connection threads.
    pub fn shutdown(mut self) {
        self.listener.stop();
    }
}
