//! What the fake saw: [`Counters`], and the records behind them ([`Lead`], [`Violation`],
//! [`Injection`], [`PermanentFault`]).

use std::collections::BTreeMap;
use std::fmt;

/// Tallies of everything the fake answered. A plain value: take a snapshot with
/// `FakeMarketo::counters` and compare.
///
/// Client-rule violations (the client broke a rule it can keep; [`Counters::violations_total`]):
/// `signature`, `expired`, `schema`, `lock`, `rate`, `concurrency`, `bad_beacon`.
/// Data and account outcomes (not the client's protocol fault): `unknown_fields`, `quota`.
/// Injected faults (the fake's own doing, never a violation): the `injected_*` counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every HTTP request received, on any path.
    pub requests_total: u64,
    /// Requests to the SOAP endpoint (`POST /soap/mktows/2_1`).
    pub soap_requests: u64,
    /// Requests to the beacon endpoint (`GET /webevents/visitWebPage`).
    pub beacon_requests: u64,
    /// syncLead calls accepted and applied (answered `successSyncLead`).
    pub accepted_sync: u64,
    /// Accepted syncs that created a lead (`status` CREATED).
    pub created: u64,
    /// Accepted syncs that updated a known lead (`status` UPDATED).
    pub updated: u64,
    /// Beacons accepted and recorded (answered 200).
    pub accepted_beacons: u64,
    /// 20014: wrong `mktowsUserId` or `requestSignature` (HMAC-SHA1 over timestamp + user id).
    pub signature: u64,
    /// 20016: `requestTimestamp` farther than `max_skew` from the fake's clock.
    pub expired: u64,
    /// 20012: the envelope (or its HTTP framing) breaks the syncLead schema rules.
    pub schema: u64,
    /// "Exceeded lock attempts": a sync of a lead within `lock_window` of the previous accepted
    /// sync's start, or while one is in flight.
    pub lock: u64,
    /// 20023 (HTTP 429 for a beacon): more than `rate_limit` calls started in `rate_window`.
    pub rate: u64,
    /// 20024 (HTTP 429 for a beacon): more than `max_concurrent` calls in flight.
    pub concurrency: u64,
    /// HTTP 400: a beacon without `_mchId`, `_mchTk` or `_mchRu`, with another Munchkin id, or
    /// with a malformed escape; HTTP 414: a beacon URL longer than 8 KB.
    pub bad_beacon: u64,
    /// 20015: more than `daily_quota` accepted syncs in the current US Central day.
    pub quota: u64,
    /// 20105: `attrName`s outside `known_fields` (a data problem, not a protocol violation).
    pub unknown_fields: u64,
    /// 404 or 405: a path or method the fake does not serve.
    pub not_found: u64,
    /// Injected 20011 Internal Error.
    pub injected_internal: u64,
    /// Injected 20023 Rate Limit Exceeded.
    pub injected_rate: u64,
    /// Injected 20024 Concurrency Limit Exceeded.
    pub injected_concurrency: u64,
    /// Injected bare HTTP 503 with an HTML body.
    pub injected_http_503: u64,
    /// Injected dropped connection (no HTTP answer).
    pub injected_drop: u64,
    /// Injected permanent 20017 Invalid Request (see `FakeMarketo::permanent_faults`).
    pub injected_permanent: u64,
    /// The most calls (SOAP and beacon) ever in flight at once.
    pub peak_in_flight: u64,
}

impl Counters {
    /// Client-rule violations: `signature + expired + schema + lock + rate + concurrency +
    /// bad_beacon`. A client that follows Marketo's rules keeps this at 0 whatever the fake
    /// injects.
    pub fn violations_total(&self) -> u64 {
        self.signature
            + self.expired
            + self.schema
            + self.lock
            + self.rate
            + self.concurrency
            + self.bad_beacon
    }

    /// Every injected fault, transient and permanent.
    pub fn injected_total(&self) -> u64 {
        self.injected_transient() + self.injected_permanent
    }

    /// Injected transient faults (20011, 20023, 20024, HTTP 503, dropped connection).
    pub fn injected_transient(&self) -> u64 {
        self.injected_internal
            + self.injected_rate
            + self.injected_concurrency
            + self.injected_http_503
            + self.injected_drop
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "requests {} (soap {}, beacon {}), peak in flight {}",
            self.requests_total, self.soap_requests, self.beacon_requests, self.peak_in_flight
        )?;
        writeln!(
            f,
            "accepted: sync {} (created {}, updated {}), beacons {}",
            self.accepted_sync, self.created, self.updated, self.accepted_beacons
        )?;
        writeln!(
            f,
            "violations {}: signature {}, expired {}, schema {}, lock {}, rate {}, concurrency {}, bad_beacon {}",
            self.violations_total(),
            self.signature,
            self.expired,
            self.schema,
            self.lock,
            self.rate,
            self.concurrency,
            self.bad_beacon
        )?;
        writeln!(
            f,
            "other: quota {}, unknown_fields {}, not_found {}",
            self.quota, self.unknown_fields, self.not_found
        )?;
        write!(
            f,
            "injected {}: internal {}, rate {}, concurrency {}, http_503 {}, drop {}, permanent {}",
            self.injected_total(),
            self.injected_internal,
            self.injected_rate,
            self.injected_concurrency,
            self.injected_http_503,
            self.injected_drop,
            self.injected_permanent
        )
    }
}

/// A lead as the fake stores it after accepted syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    /// The id the fake assigned (increasing, from 1001).
    pub id: u64,
    /// The last `Email` synced for it.
    pub email: Option<String>,
    /// Munchkin cookie tokens it has been synced with, first seen first.
    pub cookie_tokens: Vec<String>,
    /// `attrName -> attrValue`, merged over every accepted sync (later values win).
    pub fields: BTreeMap<String, String>,
    /// How many accepted syncs touched it (1 = created only).
    pub syncs: u64,
}

/// Which rule a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// 20014 Authentication failed.
    Signature,
    /// 20016 Request Expired.
    Expired,
    /// 20012 Request Not Understood.
    Schema,
    /// Exceeded lock attempts.
    Lock,
    /// 20023 Rate Limit Exceeded.
    Rate,
    /// 20024 Concurrency Limit Exceeded.
    Concurrency,
    /// Beacon answered 400.
    BadBeacon,
    /// 20015 Request Limit Exceeded.
    Quota,
    /// 20105 unknown fields.
    UnknownFields,
}

/// One rejected request, for explaining a failed test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The request's number among SOAP and beacon requests, from 1, in the order the workers
    /// took them.
    pub request: u64,
    /// The rule broken.
    pub rule: Rule,
    /// What exactly was wrong.
    pub detail: String,
}

/// The kind of an injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InjectedFault {
    /// SOAP fault 20011 Internal Error (transient).
    Internal,
    /// SOAP fault 20023 Rate Limit Exceeded (transient).
    RateLimit,
    /// SOAP fault 20024 Concurrency Limit Exceeded (transient).
    ConcurrencyLimit,
    /// HTTP 503 with an HTML body, not SOAP (transient).
    Http503,
    /// No HTTP answer: bytes that are not HTTP, so the client's read fails (transient).
    Drop,
    /// SOAP fault 20017 Invalid Request (permanent).
    Permanent,
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// The request's number among SOAP and beacon requests, from 1.
    pub request: u64,
    /// What was injected.
    pub kind: InjectedFault,
}

/// The message of a syncLead that got an injected permanent fault (20017): a soak test checks
/// that every message its client reported failed is one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermanentFault {
    /// The request's number among SOAP and beacon requests, from 1.
    pub request: u64,
    /// The request's `Email`.
    pub email: Option<String>,
    /// The token of the request's `marketoCookie`.
    pub cookie_token: Option<String>,
}
