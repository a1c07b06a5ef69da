//! The rules every request goes through ([`Shared::handle`]): routing, the limits shared by
//! every API (rate, concurrency), then the SOAP and beacon rules here and the REST rules in
//! `rest.rs`; and the state they share (the lead store, the logs).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::thread;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::beacon::{Beacon, parse_beacon};
use crate::config::Config;
use crate::counters::{
    Association, Counters, CustomActivity, InjectedFault, Injection, Lead, PermanentFault, RestPermanentFault, Rule, Violation,
};
use crate::http::{HttpAnswer, HttpRequest};
use crate::rest::{self, RestRequest};
use crate::soap::{SyncLead, cookie_token, fault_xml, parse_sync_lead, success_xml};
use crate::time::{parse_timestamp, us_central_day};

/// The SOAP endpoint path (Marketo: `https://{id}.mktoapi.com/soap/mktows/2_1`).
pub(crate) const SOAP_PATH: &str = "/soap/mktows/2_1";
/// The beacon endpoint path (Marketo: `https://{id}.mktoresp.com/webevents/visitWebPage`).
pub(crate) const BEACON_PATH: &str = "/webevents/visitWebPage";
/// The only SOAPAction accepted, quoted as SOAP 1.1 writes it.
const SOAP_ACTION: &str = "\"http://www.marketo.com/mktows/syncLead\"";
/// Marketo's body limit.
const MAX_BODY: usize = 1_000_000;
/// Marketo's URL limit.
const MAX_URL: usize = 8 * 1024;
/// Records kept per log (violations); older ones are counted but not kept.
const MAX_LOG: usize = 10_000;
pub(crate) const HTML_503: &str = "<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request.</p></body></html>\n";

/// A small, seedable generator (SplitMix64): deterministic fault injection without `rand`.
#[derive(Debug, Clone, Default)]
pub(crate) struct SplitMix64(pub u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The three numbers drawn for every request the rules see (SOAP, beacon, token, REST), whatever
/// its fate, so the injections depend only on the seed and the order of requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Draws {
    /// Below `fault_rate`: a transient fault.
    pub transient: f64,
    /// Picks the kind of transient fault, or the record of a permanent one.
    pub kind: u64,
    /// Below `permanent_fault_rate`: a permanent fault.
    pub permanent: f64,
}

/// A daily quota pool: calls spent in the current US Central day.
#[derive(Debug, Default)]
pub(crate) struct Quota {
    day: i64,
    used: u64,
}

impl Quota {
    /// Whether `limit` calls were already spent in the US Central day of `now`.
    pub(crate) fn exhausted(&mut self, now: i64, limit: u64) -> bool {
        let day = us_central_day(now);
        if day != self.day {
            self.day = day;
            self.used = 0;
        }
        self.used >= limit
    }

    /// Spends one call (after [`Quota::exhausted`] said no for the same `now`).
    pub(crate) fn spend(&mut self) {
        self.used += 1;
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub counters: Counters,
    requests: u64,
    in_flight: u64,
    rng: SplitMix64,
    window: VecDeque<i64>,
    soap_quota: Quota,
    pub rest_quota: Quota,
    lock_starts: HashMap<String, i64>,
    leads_in_flight: HashSet<String>,
    /// Lookup keys of Sync Leads records in calls still in flight, with how many calls hold each.
    pub rest_keys_in_flight: HashMap<String, u32>,
    pub leads: Vec<Lead>,
    /// Every lead with this email, in creation order (several after `createDuplicate`).
    by_email: HashMap<String, Vec<usize>>,
    by_token: HashMap<String, usize>,
    /// Every access token issued, with its expiry (ms since the Unix epoch).
    pub tokens: HashMap<String, i64>,
    /// The latest token issued.
    pub current_token: Option<String>,
    /// Generates token values (its own generator, so tokens do not shift injections).
    pub token_rng: SplitMix64,
    pub beacons: Vec<Beacon>,
    pub injections: Vec<Injection>,
    pub permanent: Vec<PermanentFault>,
    pub rest_permanent: Vec<RestPermanentFault>,
    pub associations: Vec<Association>,
    pub activities: Vec<CustomActivity>,
    pub violations: Vec<Violation>,
}

impl State {
    /// The first lead (in creation order) whose email is `email`.
    pub(crate) fn lead_by_email(&self, email: &str) -> Option<&Lead> {
        self.by_email.get(email).and_then(|all| all.first()).map(|&i| &self.leads[i])
    }

    /// The indexes of every lead whose email is `email`, in creation order.
    pub(crate) fn indexes_by_email(&self, email: &str) -> &[usize] {
        self.by_email.get(email).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn lead_by_token(&self, token: &str) -> Option<&Lead> {
        self.by_token.get(token).map(|&i| &self.leads[i])
    }

    /// The index of the lead with this id.
    pub(crate) fn index_by_id(&self, id: u64) -> Option<usize> {
        let index = usize::try_from(id.checked_sub(1001)?).ok()?;
        (index < self.leads.len()).then_some(index)
    }

    /// Creates an empty lead at `now`; returns its index.
    pub(crate) fn new_lead(&mut self, now: i64) -> usize {
        let id = 1001 + self.leads.len() as u64;
        self.leads.push(Lead {
            id,
            email: None,
            cookie_tokens: Vec::new(),
            fields: Default::default(),
            rest_fields: Default::default(),
            syncs: 0,
            created_at_ms: now,
            updated_at_ms: now,
        });
        self.leads.len() - 1
    }

    /// Sets a lead's email, keeping the email index right.
    pub(crate) fn set_email(&mut self, index: usize, email: &str) {
        if let Some(old) = self.leads[index].email.replace(email.to_owned()) {
            if old == email {
                return;
            }
            if let Some(all) = self.by_email.get_mut(&old) {
                all.retain(|&i| i != index);
                if all.is_empty() {
                    self.by_email.remove(&old);
                }
            }
        }
        let all = self.by_email.entry(email.to_owned()).or_default();
        all.push(index);
        all.sort_unstable();
    }

    /// Ties a Munchkin cookie token to a lead (the token's latest lead wins lookups).
    pub(crate) fn add_token(&mut self, index: usize, token: &str) {
        if !self.leads[index].cookie_tokens.iter().any(|t| t == token) {
            self.leads[index].cookie_tokens.push(token.to_owned());
        }
        self.by_token.insert(token.to_owned(), index);
    }
}

fn text(status: u16, body: String) -> HttpAnswer {
    HttpAnswer::Full(status, Some("text/plain; charset=utf-8"), body.into_bytes())
}

fn soap(status: u16, body: String) -> HttpAnswer {
    HttpAnswer::Full(status, Some("text/xml; charset=utf-8"), body.into_bytes())
}

fn fault(code: u32, text: &str) -> HttpAnswer {
    soap(500, fault_xml(Some(code), text, &format!("{text} ({code})")))
}

fn schema_fault(why: &str) -> HttpAnswer {
    soap(
        500,
        fault_xml(
            Some(20012),
            "Request Not Understood",
            &format!("Request Not Understood: {why} (20012)"),
        ),
    )
}

fn lock_fault() -> HttpAnswer {
    soap(500, fault_xml(None, "Exceeded lock attempts", "Exceeded lock attempts"))
}

enum Kind {
    Soap(Result<SyncLead, String>),
    Beacon(Result<Beacon, String>),
    Rest(RestRequest),
}

/// What a request holds until its answer is written: the SOAP lead lock, REST lookup keys.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// The SOAP lock key ("token:…" or "email:…").
    pub soap_lock: Option<String>,
    /// Sync Leads lookup keys (see `State::rest_keys_in_flight`).
    pub rest_keys: Vec<String>,
}

/// Everything the workers share.
pub(crate) struct Shared {
    pub config: Config,
    pub state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Shared {
        let state = State {
            rng: SplitMix64(config.seed),
            token_rng: SplitMix64(config.seed ^ 0x746F_6B65_6E73_5EED),
            ..State::default()
        };
        Shared {
            config,
            state: Mutex::new(state),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answers one request: routes it, applies the rules, waits `latency`, then answers.
    pub(crate) fn handle(&self, request: HttpRequest) -> HttpAnswer {
        let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
        let kind = match (request.method.as_str(), path) {
            ("POST", SOAP_PATH) => Kind::Soap(read_soap(&request)),
            ("GET", BEACON_PATH) if request.target.len() > MAX_URL => {
                Kind::Beacon(Err(format!("URL of {} bytes, longer than Marketo's 8 KB", request.target.len())))
            }
            ("GET", BEACON_PATH) => Kind::Beacon(parse_beacon(query, &self.config.munchkin_id)),
            (_, SOAP_PATH | BEACON_PATH) => {
                self.count_other();
                return text(405, "method not allowed\n".into());
            }
            (method, path) => match rest::route(method, path) {
                Some(route) => Kind::Rest(RestRequest::new(route, request)),
                None => {
                    self.count_other();
                    return text(404, "not found\n".into());
                }
            },
        };
        let (answer, held) = self.decide(kind);
        if !self.config.latency.is_zero() {
            thread::sleep(self.config.latency);
        }
        let mut state = self.state();
        state.in_flight -= 1;
        if let Some(key) = held.soap_lock {
            state.leads_in_flight.remove(&key);
        }
        for key in held.rest_keys {
            if let Some(count) = state.rest_keys_in_flight.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    state.rest_keys_in_flight.remove(&key);
                }
            }
        }
        answer
    }

    fn count_other(&self) {
        let mut state = self.state();
        state.counters.requests_total += 1;
        state.counters.not_found += 1;
    }

    /// Applies the rules in order; returns the answer and what the request holds until then.
    fn decide(&self, kind: Kind) -> (HttpAnswer, Held) {
        let config = &self.config;
        // Read the clock before locking: a test's clock closure may look at the fake.
        let now = config.now_ms();
        let mut guard = self.state();
        let state = &mut *guard;
        state.counters.requests_total += 1;
        match &kind {
            Kind::Soap(_) => state.counters.soap_requests += 1,
            Kind::Beacon(_) => state.counters.beacon_requests += 1,
            Kind::Rest(call) if call.is_token() => state.counters.token_requests += 1,
            Kind::Rest(_) => state.counters.rest_requests += 1,
        }
        state.requests += 1;
        let request = state.requests;
        let rng = &mut state.rng;
        let draws = Draws {
            transient: rng.next_f64(),
            kind: rng.next_u64(),
            permanent: rng.next_f64(),
        };
        state.in_flight += 1;
        state.counters.peak_in_flight = state.counters.peak_in_flight.max(state.in_flight);

        let window = i64::try_from(config.rate_window.as_millis()).unwrap_or(i64::MAX);
        while state.window.front().is_some_and(|&start| now.saturating_sub(start) >= window) {
            state.window.pop_front();
        }
        state.window.push_back(now);
        state.counters.peak_rate_window = state.counters.peak_rate_window.max(state.window.len() as u64);
        let rest_id = rest::request_id(request, now);
        let throttle = |rate: bool| match &kind {
            Kind::Beacon(_) if rate => text(429, "20023 - Rate Limit Exceeded\n".into()),
            Kind::Beacon(_) => text(429, "20024 - Concurrency Limit Exceeded\n".into()),
            Kind::Soap(_) if rate => fault(20023, "Rate Limit Exceeded"),
            Kind::Soap(_) => fault(20024, "Concurrency Limit Exceeded"),
            Kind::Rest(_) if rate => rest::error(
                &rest_id,
                606,
                &format!(
                    "Max rate limit '{}' exceeded with in '{}' secs",
                    config.rate_limit,
                    rest::seconds(config.rate_window)
                ),
            ),
            Kind::Rest(_) => rest::error(&rest_id, 615, "Concurrent access limit reached"),
        };
        if state.window.len() > config.rate_limit {
            let detail = format!(
                "{} calls started in the last {} ms (limit {})",
                state.window.len(),
                window,
                config.rate_limit
            );
            violate(state, request, Rule::Rate, detail);
            return (throttle(true), Held::default());
        }
        if state.in_flight > config.max_concurrent as u64 {
            let detail = format!("{} calls in flight (limit {})", state.in_flight, config.max_concurrent);
            violate(state, request, Rule::Concurrency, detail);
            return (throttle(false), Held::default());
        }
        match kind {
            Kind::Beacon(beacon) => (self.decide_beacon(state, request, draws, beacon), Held::default()),
            Kind::Soap(sync) => {
                let (answer, lock) = self.decide_sync(state, request, draws, now, sync);
                let held = Held {
                    soap_lock: lock,
                    rest_keys: Vec::new(),
                };
                (answer, held)
            }
            Kind::Rest(call) => rest::decide(config, state, request, draws, now, call),
        }
    }

    fn decide_beacon(&self, state: &mut State, request: u64, draws: Draws, beacon: Result<Beacon, String>) -> HttpAnswer {
        let beacon = match beacon {
            Ok(beacon) => beacon,
            Err(why) => {
                let status = if why.starts_with("URL of") { 414 } else { 400 };
                let answer = text(status, format!("bad beacon: {why}\n"));
                violate(state, request, Rule::BadBeacon, why);
                return answer;
            }
        };
        if draws.transient < self.config.fault_rate {
            let kind = [InjectedFault::Http503, InjectedFault::Drop][(draws.kind % 2) as usize];
            return inject(state, request, kind);
        }
        state.counters.accepted_beacons += 1;
        state.beacons.push(beacon);
        HttpAnswer::Full(200, None, Vec::new())
    }

    fn decide_sync(
        &self,
        state: &mut State,
        request: u64,
        draws: Draws,
        now: i64,
        sync: Result<SyncLead, String>,
    ) -> (HttpAnswer, Option<String>) {
        let config = &self.config;
        let sync = match sync {
            Ok(sync) => sync,
            Err(why) => {
                let answer = schema_fault(&why);
                violate(state, request, Rule::Schema, why);
                return (answer, None);
            }
        };
        let token = sync.cookie.as_deref().and_then(cookie_token);
        let key = match (&token, &sync.email) {
            (Some(token), _) => format!("token:{token}"),
            (None, Some(email)) => format!("email:{email}"),
            (None, None) => {
                let why = "leadRecord has no Email and the request no marketoCookie token";
                let answer = schema_fault(why);
                violate(state, request, Rule::Schema, why.into());
                return (answer, None);
            }
        };
        if sync.user_id != config.user_id {
            let detail = format!("mktowsUserId {:?} is not this instance's", sync.user_id);
            violate(state, request, Rule::Signature, detail);
            return (fault(20014, "Authentication failed"), None);
        }
        let expected = sign(&config.encryption_key, &sync.timestamp, &config.user_id);
        if sync.signature != expected {
            let detail = format!(
                "requestSignature {:?} is not HMAC-SHA1(key, {:?})",
                sync.signature,
                format!("{}{}", sync.timestamp, sync.user_id)
            );
            violate(state, request, Rule::Signature, detail);
            return (fault(20014, "Authentication failed"), None);
        }
        let sent = parse_timestamp(&sync.timestamp).unwrap_or(i64::MIN);
        let skew = i64::try_from(config.max_skew.as_millis()).unwrap_or(i64::MAX);
        if now.abs_diff(sent) > skew.unsigned_abs() {
            let detail = format!(
                "requestTimestamp {} is {} ms from the clock (max {} ms)",
                sync.timestamp,
                sent.saturating_sub(now),
                skew
            );
            violate(state, request, Rule::Expired, detail);
            return (fault(20016, "Request Expired"), None);
        }
        if state.soap_quota.exhausted(now, config.daily_quota) {
            let detail = format!("daily quota of {} syncs used", config.daily_quota);
            violate(state, request, Rule::Quota, detail);
            return (fault(20015, "Request Limit Exceeded"), None);
        }
        let window = i64::try_from(config.lock_window.as_millis()).unwrap_or(i64::MAX);
        let last = state.lock_starts.get(&key).copied();
        if state.leads_in_flight.contains(&key) || last.is_some_and(|start| now.saturating_sub(start) < window) {
            let detail = match last {
                Some(start) => format!(
                    "{key} synced {} ms after the previous sync started (lock {window} ms)",
                    now.saturating_sub(start)
                ),
                None => format!("{key} is being synced"),
            };
            violate(state, request, Rule::Lock, detail);
            return (lock_fault(), None);
        }
        if draws.transient < config.fault_rate {
            let kinds = [
                InjectedFault::Internal,
                InjectedFault::RateLimit,
                InjectedFault::ConcurrencyLimit,
                InjectedFault::Http503,
                InjectedFault::Drop,
            ];
            let kind = kinds[(draws.kind % kinds.len() as u64) as usize];
            return (inject(state, request, kind), None);
        }
        if draws.permanent < config.permanent_fault_rate {
            state.permanent.push(PermanentFault {
                request,
                email: sync.email.clone(),
                cookie_token: token.clone(),
            });
            return (inject(state, request, InjectedFault::Permanent), None);
        }
        if let Some(known) = &config.known_fields {
            let unknown: Vec<&str> = sync
                .attributes
                .iter()
                .map(|a| a.name.as_str())
                .filter(|name| !known.contains(*name))
                .collect();
            if !unknown.is_empty() {
                let list = unknown.join(", ");
                let answer = soap(
                    500,
                    fault_xml(
                        Some(20105),
                        "Unknown lead field",
                        &format!("syncLead operation failed: unknown fields for import: {list} (20105)"),
                    ),
                );
                violate(state, request, Rule::UnknownFields, list);
                return (answer, None);
            }
        }

        // Accepted: take the lock, spend quota, apply the lead.
        state.lock_starts.insert(key.clone(), now);
        state.leads_in_flight.insert(key.clone());
        state.soap_quota.spend();
        let (index, created) = upsert(state, &sync, token, now);
        state.counters.accepted_sync += 1;
        if created {
            state.counters.created += 1;
        } else {
            state.counters.updated += 1;
        }
        let lead = &state.leads[index];
        let fields: Vec<(String, String)> = lead.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let record = sync.return_lead.then_some((lead.email.as_deref(), fields.as_slice()));
        (soap(200, success_xml(lead.id, created, record)), Some(key))
    }
}

/// Finds the lead (by cookie token, then by email) or creates it, then applies the sync.
fn upsert(state: &mut State, sync: &SyncLead, token: Option<String>, now: i64) -> (usize, bool) {
    let found = token.as_ref().and_then(|t| state.by_token.get(t).copied()).or_else(|| {
        let email = sync.email.as_ref()?;
        state.indexes_by_email(email).first().copied()
    });
    let (index, created) = match found {
        Some(index) => (index, false),
        None => (state.new_lead(now), true),
    };
    if let Some(email) = &sync.email {
        state.set_email(index, email);
    }
    if let Some(token) = token {
        state.add_token(index, &token);
    }
    let lead = &mut state.leads[index];
    for attribute in &sync.attributes {
        lead.fields.insert(attribute.name.clone(), attribute.value.clone());
    }
    lead.syncs += 1;
    lead.updated_at_ms = now;
    (index, created)
}

/// Counts a rejected request under its rule and logs it (the first 10 000).
pub(crate) fn violate(state: &mut State, request: u64, rule: Rule, detail: String) {
    let counters = &mut state.counters;
    *match rule {
        Rule::Signature => &mut counters.signature,
        Rule::Expired => &mut counters.expired,
        Rule::Schema => &mut counters.schema,
        Rule::Lock => &mut counters.lock,
        Rule::Rate => &mut counters.rate,
        Rule::Concurrency => &mut counters.concurrency,
        Rule::BadBeacon => &mut counters.bad_beacon,
        Rule::Quota => &mut counters.quota,
        Rule::UnknownFields => &mut counters.unknown_fields,
        Rule::BadCredentials => &mut counters.bad_credentials,
        Rule::MissingToken => &mut counters.missing_token,
        Rule::TokenInUrl => &mut counters.token_in_url,
        Rule::StaleToken => &mut counters.stale_token,
        Rule::Malformed => &mut counters.malformed,
        Rule::BatchSize => &mut counters.batch_size,
        Rule::InvalidCookie => &mut counters.invalid_cookie,
    } += 1;
    if state.violations.len() < MAX_LOG {
        state.violations.push(Violation { request, rule, detail });
    }
}

/// Counts and logs an injected fault.
pub(crate) fn record_injection(state: &mut State, request: u64, kind: InjectedFault) {
    let counters = &mut state.counters;
    state.injections.push(Injection { request, kind });
    *match kind {
        InjectedFault::Internal => &mut counters.injected_internal,
        InjectedFault::RateLimit => &mut counters.injected_rate,
        InjectedFault::ConcurrencyLimit => &mut counters.injected_concurrency,
        InjectedFault::Http503 => &mut counters.injected_http_503,
        InjectedFault::Drop => &mut counters.injected_drop,
        InjectedFault::Permanent => &mut counters.injected_permanent,
        InjectedFault::RestTimeout => &mut counters.injected_rest_timeout,
        InjectedFault::RestUnavailable => &mut counters.injected_rest_unavailable,
        InjectedFault::RestSystemError => &mut counters.injected_rest_system,
        InjectedFault::RestTransient => &mut counters.injected_rest_transient,
        InjectedFault::RestLockWait => &mut counters.injected_rest_lock_wait,
        InjectedFault::RestPermanent => &mut counters.injected_rest_permanent,
    } += 1;
}

/// The bare HTTP 503 of an injected fault.
pub(crate) fn http_503() -> HttpAnswer {
    HttpAnswer::Full(503, Some("text/html"), HTML_503.as_bytes().to_vec())
}

/// Records an injected SOAP or beacon fault and returns its answer.
fn inject(state: &mut State, request: u64, kind: InjectedFault) -> HttpAnswer {
    record_injection(state, request, kind);
    match kind {
        InjectedFault::Internal => fault(20011, "Internal Error"),
        InjectedFault::RateLimit => fault(20023, "Rate Limit Exceeded"),
        InjectedFault::ConcurrencyLimit => fault(20024, "Concurrency Limit Exceeded"),
        InjectedFault::Http503 => http_503(),
        InjectedFault::Drop => HttpAnswer::Drop,
        // Only SOAP and beacon kinds come here; a REST kind would answer like the SOAP one.
        InjectedFault::Permanent | InjectedFault::RestPermanent => fault(20017, "Invalid Request"),
        InjectedFault::RestTimeout
        | InjectedFault::RestUnavailable
        | InjectedFault::RestSystemError
        | InjectedFault::RestTransient
        | InjectedFault::RestLockWait => fault(20011, "Internal Error"),
    }
}

/// Lowercase hex HMAC-SHA1(key = encryption key bytes, message = timestamp + user id).
fn sign(key: &str, timestamp: &str, user_id: &str) -> String {
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(user_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks the HTTP framing of a SOAP call and reads its envelope.
fn read_soap(request: &HttpRequest) -> Result<SyncLead, String> {
    let content_type = request.header("Content-Type");
    let media_type = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    if media_type.as_deref() != Some("text/xml") {
        return Err(format!("Content-Type must be text/xml, got {content_type:?}"));
    }
    let action = request.header("SOAPAction");
    if action.map(str::trim) != Some(SOAP_ACTION) {
        return Err(format!("SOAPAction must be {SOAP_ACTION}, got {action:?}"));
    }
    if request.body.len() > MAX_BODY {
        return Err(format!("body of {} bytes, larger than Marketo's 1 MB", request.body.len()));
    }
    let text = std::str::from_utf8(&request.body).map_err(|_| "body is not UTF-8".to_owned())?;
    parse_sync_lead(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_vector() {
        assert_eq!(
            sign(crate::VECTOR_ENCRYPTION_KEY, "2010-04-09T14:04:54-07:00", crate::VECTOR_USER_ID),
            "ffbff4d4bef354807481e66dc7540f7890523a87"
        );
    }

    #[test]
    fn splitmix_is_deterministic_and_spread() {
        let mut a = SplitMix64(42);
        let mut b = SplitMix64(42);
        let xs: Vec<f64> = (0..1000).map(|_| a.next_f64()).collect();
        let ys: Vec<f64> = (0..1000).map(|_| b.next_f64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let below = xs.iter().filter(|&&x| x < 0.5).count();
        assert!((400..600).contains(&below), "{below}");
    }
}
