//! What the fake saw: [`Counters`], and the records behind them ([`Lead`], [`Violation`],
//! [`Injection`], [`PermanentFault`], and for REST [`Association`], [`CustomActivity`],
//! [`RestPermanentFault`]).

use std::collections::BTreeMap;
use std::fmt;

/// Tallies of everything the fake answered. A plain value: take a snapshot with
/// `FakeMarketo::counters` and compare.
///
/// Client-rule violations (the client broke a rule it can keep; [`Counters::violations_total`]):
/// `signature`, `expired`, `schema`, `lock`, `rate`, `concurrency`, `bad_beacon`, and for REST
/// `bad_credentials`, `missing_token`, `token_in_url`, `malformed`, `batch_size`.
/// Data and account outcomes (not the client's protocol fault): `unknown_fields`, `quota`,
/// `stale_token` (a client legitimately learns of an expired token by a 602), `invalid_cookie`,
/// `rest_skipped`, `activities_skipped`, and the warning `upsert_races`.
/// Injected faults (the fake's own doing, never a violation): the `injected_*` counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every HTTP request received, on any path.
    pub requests_total: u64,
    /// Requests to the SOAP endpoint (`POST /soap/mktows/2_1`).
    pub soap_requests: u64,
    /// Requests to the beacon endpoint (`GET /webevents/visitWebPage`).
    pub beacon_requests: u64,
    /// Requests to the REST identity endpoint (`/identity/oauth/token`).
    pub token_requests: u64,
    /// Requests to the REST API (`/rest/v1/…` paths the fake serves).
    pub rest_requests: u64,
    /// syncLead calls accepted and applied (answered `successSyncLead`).
    pub accepted_sync: u64,
    /// Accepted syncs that created a lead (`status` CREATED).
    pub created: u64,
    /// Accepted syncs that updated a known lead (`status` UPDATED).
    pub updated: u64,
    /// Beacons accepted and recorded (answered 200).
    pub accepted_beacons: u64,
    /// Access tokens created (a token request answered while the previous token is still valid
    /// gets that token again and counts in `tokens_reused` instead).
    pub tokens_issued: u64,
    /// Token requests answered with the still-valid current token and its remaining life.
    pub tokens_reused: u64,
    /// REST calls answered `success: true` (Sync Leads, lookups, Associate Lead, Add Custom
    /// Activities); each spent one call of the REST daily quota.
    pub rest_accepted: u64,
    /// Records received in accepted Sync Leads and Add Custom Activities calls:
    /// `rest_created + rest_updated + rest_skipped + activities + activities_skipped +
    /// injected_rest_permanent`.
    pub rest_records: u64,
    /// Sync Leads records answered `created`.
    pub rest_created: u64,
    /// Sync Leads records answered `updated`.
    pub rest_updated: u64,
    /// Sync Leads records answered `skipped` with a reason of their own (1002, 1003, 1004, 1005,
    /// 1006, 1007; injected skips are in `injected_rest_permanent`).
    pub rest_skipped: u64,
    /// Lead lookups (`GET /rest/v1/leads.json?filterType=…`) answered.
    pub lookups: u64,
    /// Associate Lead calls answered `success: true` (see `FakeMarketo::associations`).
    pub associations: u64,
    /// Custom activities answered `added` (see `FakeMarketo::activities`).
    pub activities: u64,
    /// Custom activities answered `skipped` (1001, 1002, 1003, 1004, 1013, 1049; injected skips
    /// are in `injected_rest_permanent`).
    pub activities_skipped: u64,
    /// 20014: wrong `mktowsUserId` or `requestSignature` (HMAC-SHA1 over timestamp + user id).
    pub signature: u64,
    /// 20016: `requestTimestamp` farther than `max_skew` from the fake's clock.
    pub expired: u64,
    /// 20012: the envelope (or its HTTP framing) breaks the syncLead schema rules.
    pub schema: u64,
    /// "Exceeded lock attempts": a sync of a lead within `lock_window` of the previous accepted
    /// sync's start, or while one is in flight.
    pub lock: u64,
    /// 20023 (606 for REST and token calls, HTTP 429 for a beacon): more than `rate_limit`
    /// calls started in `rate_window`.
    pub rate: u64,
    /// 20024 (615 for REST and token calls, HTTP 429 for a beacon): more than `max_concurrent`
    /// calls in flight.
    pub concurrency: u64,
    /// HTTP 400: a beacon without `_mchId`, `_mchTk` or `_mchRu`, with another Munchkin id, or
    /// with a malformed escape; HTTP 414: a beacon URL longer than 8 KB.
    pub bad_beacon: u64,
    /// 20015 (SOAP) or 607 (REST): `daily_quota` calls of that API already accepted in the
    /// current US Central day.
    pub quota: u64,
    /// 20105: `attrName`s outside `known_fields` (a data problem, not a protocol violation).
    pub unknown_fields: u64,
    /// REST 401 `Bad client credentials`: a token request with another client id or secret.
    pub bad_credentials: u64,
    /// REST 601: a call without an `Authorization: Bearer <token>` header.
    pub missing_token: u64,
    /// REST 601: a call with an `access_token` query parameter (Marketo removed support for it;
    /// the header is the only way), whatever its value and whatever else the call carries.
    pub token_in_url: u64,
    /// REST 601 for a bearer token the fake never issued, or 602 for one that has expired. Not a
    /// violation: a client learns that its token expired by a 602 (or by a 601 after a restart).
    pub stale_token: u64,
    /// REST 605, 609, 612, 1001, 1002, 1003 or 1006 for the request as a whole, or a token
    /// request's 400: a wrong method, content type, JSON body or parameter (an unknown
    /// `lookupField`, `filterType` or `fields` name included).
    pub malformed: u64,
    /// REST 1003 for more than 300 records (or lookup values) in a call, HTTP 413 for a body
    /// over 1 MB (1,048,576 bytes), HTTP 414 for a URL over 8 KB.
    pub batch_size: u64,
    /// REST 1012: Associate Lead with a cookie that is not `id:<this Munchkin id>&token:_mch-…`
    /// once URL-decoded.
    pub invalid_cookie: u64,
    /// Sync Leads records whose lookup key (e.g. their email) was in another Sync Leads call still
    /// in flight. Marketo warns that such calls may create duplicate leads; the fake applies them
    /// in order and only counts them (a warning, not a violation).
    pub upsert_races: u64,
    /// 404, or 405 on a SOAP or beacon path: a path or method the fake does not serve (a wrong
    /// method on a REST path is a 605 in `malformed`).
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
    /// Injected REST 604 Request timed out.
    pub injected_rest_timeout: u64,
    /// Injected REST 608 API Temporarily Unavailable.
    pub injected_rest_unavailable: u64,
    /// Injected REST 611 System error.
    pub injected_rest_system: u64,
    /// Injected REST 713 Transient Error.
    pub injected_rest_transient: u64,
    /// Injected REST 719 Lock wait timeout exception.
    pub injected_rest_lock_wait: u64,
    /// Injected REST permanent 1003 Invalid data: one skipped record per Sync Leads or Add
    /// Custom Activities call, or an Associate Lead answer (see
    /// `FakeMarketo::rest_permanent_faults`).
    pub injected_rest_permanent: u64,
    /// The most calls (SOAP, beacon, REST and token) ever in flight at once.
    pub peak_in_flight: u64,
    /// The most calls ever started within one sliding rate window, counting the rejected ones.
    pub peak_rate_window: u64,
}

impl Counters {
    /// Client-rule violations: `signature + expired + schema + lock + rate + concurrency +
    /// bad_beacon + bad_credentials + missing_token + token_in_url + malformed + batch_size`. A
    /// client that follows Marketo's rules keeps this at 0 whatever the fake injects.
    pub fn violations_total(&self) -> u64 {
        self.signature
            + self.expired
            + self.schema
            + self.lock
            + self.rate
            + self.concurrency
            + self.bad_beacon
            + self.bad_credentials
            + self.missing_token
            + self.token_in_url
            + self.malformed
            + self.batch_size
    }

    /// Every injected fault, transient and permanent.
    pub fn injected_total(&self) -> u64 {
        self.injected_transient() + self.injected_permanent + self.injected_rest_permanent
    }

    /// Injected transient faults (20011, 20023, 20024, 604, 608, 611, 713, 719, HTTP 503,
    /// dropped connection).
    pub fn injected_transient(&self) -> u64 {
        self.injected_internal
            + self.injected_rate
            + self.injected_concurrency
            + self.injected_http_503
            + self.injected_drop
            + self.injected_rest_timeout
            + self.injected_rest_unavailable
            + self.injected_rest_system
            + self.injected_rest_transient
            + self.injected_rest_lock_wait
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "requests {} (soap {}, beacon {}, token {}, rest {}), peak in flight {}, peak rate window {}",
            self.requests_total,
            self.soap_requests,
            self.beacon_requests,
            self.token_requests,
            self.rest_requests,
            self.peak_in_flight,
            self.peak_rate_window
        )?;
        writeln!(
            f,
            "accepted: sync {} (created {}, updated {}), beacons {}",
            self.accepted_sync, self.created, self.updated, self.accepted_beacons
        )?;
        writeln!(
            f,
            "rest: tokens issued {} (reused {}), calls accepted {}, records {} (created {}, updated {}, skipped {}), lookups {}, associations {}, activities {} (skipped {})",
            self.tokens_issued,
            self.tokens_reused,
            self.rest_accepted,
            self.rest_records,
            self.rest_created,
            self.rest_updated,
            self.rest_skipped,
            self.lookups,
            self.associations,
            self.activities,
            self.activities_skipped
        )?;
        writeln!(
            f,
            "violations {}: signature {}, expired {}, schema {}, lock {}, rate {}, concurrency {}, bad_beacon {}, bad_credentials {}, missing_token {}, token_in_url {}, malformed {}, batch_size {}",
            self.violations_total(),
            self.signature,
            self.expired,
            self.schema,
            self.lock,
            self.rate,
            self.concurrency,
            self.bad_beacon,
            self.bad_credentials,
            self.missing_token,
            self.token_in_url,
            self.malformed,
            self.batch_size
        )?;
        writeln!(
            f,
            "other: quota {}, unknown_fields {}, stale_token {}, invalid_cookie {}, upsert_races {}, not_found {}",
            self.quota, self.unknown_fields, self.stale_token, self.invalid_cookie, self.upsert_races, self.not_found
        )?;
        write!(
            f,
            "injected {}: internal {}, rate {}, concurrency {}, http_503 {}, drop {}, permanent {}, rest 604 {}, 608 {}, 611 {}, 713 {}, 719 {}, rest permanent {}",
            self.injected_total(),
            self.injected_internal,
            self.injected_rate,
            self.injected_concurrency,
            self.injected_http_503,
            self.injected_drop,
            self.injected_permanent,
            self.injected_rest_timeout,
            self.injected_rest_unavailable,
            self.injected_rest_system,
            self.injected_rest_transient,
            self.injected_rest_lock_wait,
            self.injected_rest_permanent
        )
    }
}

/// A lead as the fake stores it after accepted syncs. SOAP syncs and REST calls share one store:
/// a lead synced by SOAP can be updated, looked up and associated by REST, and the other way
/// round; emails are compared exactly on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    /// The id the fake assigned (increasing, from 1001).
    pub id: u64,
    /// The last `Email` (SOAP) or `email` (REST) synced for it.
    pub email: Option<String>,
    /// Munchkin cookie tokens it has been synced (SOAP `marketoCookie`) or associated (REST
    /// Associate Lead) with, first seen first.
    pub cookie_tokens: Vec<String>,
    /// SOAP `attrName -> attrValue`, merged over every accepted sync (later values win).
    pub fields: BTreeMap<String, String>,
    /// REST field name -> the value's JSON text exactly as received (`"Ada"` with its quotes,
    /// `1.50`, `true`, `null`), merged over every accepted REST sync (later values win). See
    /// [`Lead::rest_value`].
    pub rest_fields: BTreeMap<String, String>,
    /// How many accepted syncs (SOAP syncLead calls and REST Sync Leads records) touched it
    /// (1 = created only).
    pub syncs: u64,
    /// When it was created, by the fake's clock (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// When an accepted sync last touched it, by the fake's clock (ms since the Unix epoch).
    pub updated_at_ms: i64,
}

impl Lead {
    /// A REST field's value as text: a JSON string's content (unescaped), any other value's
    /// JSON text (`1.50`, `true`, `null`).
    pub fn rest_value(&self, name: &str) -> Option<String> {
        self.rest_fields.get(name).map(|raw| json_text(raw))
    }
}

/// A JSON value's text: a string's content, any other value's JSON text as it is.
pub(crate) fn json_text(raw: &str) -> String {
    if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_owned())
    } else {
        raw.to_owned()
    }
}

/// Which rule a request broke (or, for the REST data outcomes, which answer it got).
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
    /// 20023 Rate Limit Exceeded (SOAP), 606 (REST), HTTP 429 (beacon).
    Rate,
    /// 20024 Concurrency Limit Exceeded (SOAP), 615 (REST), HTTP 429 (beacon).
    Concurrency,
    /// Beacon answered 400.
    BadBeacon,
    /// 20015 Request Limit Exceeded (SOAP), 607 Daily quota reached (REST).
    Quota,
    /// 20105 unknown fields.
    UnknownFields,
    /// REST 401 Bad client credentials.
    BadCredentials,
    /// REST 601: no bearer token.
    MissingToken,
    /// REST 601: `access_token` in the URL.
    TokenInUrl,
    /// REST 601 (unknown token) or 602 (expired token); not a violation.
    StaleToken,
    /// REST 605, 609, 612, 1001, 1002, 1003, 1006 for the whole request, or a token
    /// request's 400.
    Malformed,
    /// REST 1003 (over 300 records or values), HTTP 413 or 414.
    BatchSize,
    /// REST 1012 Invalid cookie value; not a violation.
    InvalidCookie,
}

/// One rejected request, for explaining a failed test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The request's number among the requests the rules saw (SOAP, beacon, token and REST; not
    /// 404s), from 1, in the order the workers took them.
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
    /// REST 604 Request timed out (transient).
    RestTimeout,
    /// REST 608 API Temporarily Unavailable (transient).
    RestUnavailable,
    /// REST 611 System error (transient).
    RestSystemError,
    /// REST 713 Transient Error (transient).
    RestTransient,
    /// REST 719 Lock wait timeout exception (transient).
    RestLockWait,
    /// REST 1003 Invalid data (permanent): one record skipped, or an Associate Lead answer.
    RestPermanent,
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// The request's number among the requests the rules saw, from 1 (as in [`Violation`]).
    pub request: u64,
    /// What was injected.
    pub kind: InjectedFault,
}

/// The message of a syncLead that got an injected permanent fault (20017): a soak test checks
/// that every message its client reported failed is one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermanentFault {
    /// The request's number among the requests the rules saw, from 1.
    pub request: u64,
    /// The request's `Email`.
    pub email: Option<String>,
    /// The token of the request's `marketoCookie`.
    pub cookie_token: Option<String>,
}

/// A REST call that writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestCall {
    /// `POST /rest/v1/leads.json` (Sync Leads).
    SyncLeads,
    /// `POST /rest/v1/activities/external.json` (Add Custom Activities).
    AddActivities,
    /// `POST /rest/v1/leads/{id}/associate.json` (Associate Lead).
    AssociateLead,
}

/// A record (or Associate Lead call) that got an injected permanent fault (1003 Invalid data):
/// a soak test checks that every record its client reported failed is one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestPermanentFault {
    /// The request's number among the requests the rules saw, from 1.
    pub request: u64,
    /// The call.
    pub call: RestCall,
    /// The record's position in the call's `input`, from 0 (0 for Associate Lead).
    pub index: usize,
    /// Sync Leads: the record's lookup field value (its email by default), as text.
    pub lookup: Option<String>,
    /// Add Custom Activities: the record's `leadId`; Associate Lead: the lead id of the path.
    pub lead_id: Option<u64>,
    /// The record's JSON text as received; for Associate Lead, the decoded `cookie` parameter.
    pub record: String,
}

/// One accepted Associate Lead call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    /// The request's number among the requests the rules saw, from 1.
    pub request: u64,
    /// The lead id of the path.
    pub lead_id: u64,
    /// The `cookie` parameter, URL-decoded: `id:<munchkin id>&token:<token>`.
    pub cookie: String,
    /// The cookie's visitor token (`_mch-…`), now also in the lead's
    /// [`Lead::cookie_tokens`].
    pub token: String,
}

/// One custom activity answered `added`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomActivity {
    /// The request's number among the requests the rules saw, from 1.
    pub request: u64,
    /// The id the fake assigned (increasing, from 1; also its `marketoGUID`).
    pub id: u64,
    /// `leadId`.
    pub lead_id: u64,
    /// `activityDate`, as received.
    pub activity_date: String,
    /// `activityDate` read as an instant (ms since the Unix epoch).
    pub activity_date_ms: i64,
    /// `activityTypeId`.
    pub activity_type_id: u64,
    /// `primaryAttributeValue` as text (a JSON string's content, else the JSON text).
    pub primary_attribute_value: String,
    /// `attributes` in order: each one's `apiName` (else `name`) and its value's JSON text as
    /// received (`"x"` with its quotes, `1.50`).
    pub attributes: Vec<(String, String)>,
}

impl CustomActivity {
    /// The value of the first attribute called `name`, as text (a JSON string's content, else
    /// the JSON text).
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.attributes.iter().find(|(key, _)| key == name).map(|(_, raw)| json_text(raw))
    }
}
