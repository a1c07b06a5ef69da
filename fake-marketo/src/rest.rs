//! The REST side: the identity service (`/identity/oauth/token`) and the REST calls the crate
//! makes (Sync Leads, lead lookup, Associate Lead, Add Custom Activities), with the rules that
//! come after rate and concurrency (see the crate docs for the order) and Marketo's answers:
//! HTTP 200 with `{"requestId":…,"success":false,"errors":[…]}` for a failed call, per-record
//! `status` and `reasons` (`errors` for custom activities) for the records of a batch.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::value::RawValue;

use crate::config::Config;
use crate::counters::{Association, CustomActivity, InjectedFault, RestCall, RestPermanentFault, Rule, json_text};
use crate::http::{HttpAnswer, HttpRequest};
use crate::json::{self, JsonKind, Object};
use crate::server::{Draws, Held, State, http_503, record_injection, violate};
use crate::time::{format_rest_datetime, parse_iso_datetime};

/// The identity endpoint (Marketo: `https://{id}.mktorest.com/identity/oauth/token`).
pub(crate) const TOKEN_PATH: &str = "/identity/oauth/token";
/// Sync Leads (POST) and lead lookup (GET).
pub(crate) const LEADS_PATH: &str = "/rest/v1/leads.json";
/// Add Custom Activities.
pub(crate) const ACTIVITIES_PATH: &str = "/rest/v1/activities/external.json";
const ASSOCIATE_PREFIX: &str = "/rest/v1/leads/";
const ASSOCIATE_SUFFIX: &str = "/associate.json";
/// Records per batch call, values per lookup.
const MAX_RECORDS: usize = 300;
/// Marketo answers 413 above this many bytes of body (1 MB).
const MAX_BODY: usize = 1_048_576;
/// Marketo answers 414 above this many bytes of URL (8 KB).
const MAX_URL: usize = 8 * 1024;
/// Largest `attributes` array of a custom activity, in bytes of JSON (else 1049).
const MAX_ATTRIBUTES: usize = 65_536;
/// The `scope` of issued tokens: the API-only user that owns the custom service.
const SCOPE: &str = "apis@fake-marketo.example";
const JSON_TYPE: &str = "application/json;charset=UTF-8";
/// The fields of a looked-up lead when the call names none (after `id`), as Marketo documents.
const DEFAULT_FIELDS: [&str; 5] = ["email", "updatedAt", "createdAt", "firstName", "lastName"];
/// Transient faults injected into REST calls.
const REST_TRANSIENT: [InjectedFault; 7] = [
    InjectedFault::RestTimeout,
    InjectedFault::RestUnavailable,
    InjectedFault::RestSystemError,
    InjectedFault::RestTransient,
    InjectedFault::RestLockWait,
    InjectedFault::Http503,
    InjectedFault::Drop,
];
/// Transient faults injected into token requests (the identity service is an OAuth server, not
/// the REST API: it fails like any web server).
const TOKEN_TRANSIENT: [InjectedFault; 2] = [InjectedFault::Http503, InjectedFault::Drop];

/// What a REST path and method ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET` or `POST /identity/oauth/token`.
    Token,
    /// `POST /rest/v1/leads.json`.
    SyncLeads,
    /// `GET /rest/v1/leads.json?filterType=…`.
    LookupLeads,
    /// `POST /rest/v1/leads/{id}/associate.json`.
    Associate(u64),
    /// `POST /rest/v1/activities/external.json`.
    AddActivities,
    /// Another method on one of these paths (605).
    WrongMethod,
}

/// The route of a path the REST side serves; `None` for any other path.
pub(crate) fn route(method: &str, path: &str) -> Option<Route> {
    let (get, post) = (method == "GET", method == "POST");
    Some(match path {
        TOKEN_PATH if get || post => Route::Token,
        LEADS_PATH if post => Route::SyncLeads,
        LEADS_PATH if get => Route::LookupLeads,
        ACTIVITIES_PATH if post => Route::AddActivities,
        TOKEN_PATH | LEADS_PATH | ACTIVITIES_PATH => Route::WrongMethod,
        _ => {
            let id = path
                .strip_prefix(ASSOCIATE_PREFIX)?
                .strip_suffix(ASSOCIATE_SUFFIX)
                .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))?
                .parse()
                .ok()?;
            if post { Route::Associate(id) } else { Route::WrongMethod }
        }
    })
}

/// A REST or token request, as the rules need it.
#[derive(Debug)]
pub(crate) struct RestRequest {
    route: Route,
    method: String,
    query: String,
    target_len: usize,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl RestRequest {
    pub(crate) fn new(route: Route, request: HttpRequest) -> RestRequest {
        let header = |name: &str| request.header(name).map(str::to_owned);
        RestRequest {
            route,
            authorization: header("Authorization"),
            content_type: header("Content-Type"),
            query: request
                .target
                .split_once('?')
                .map(|(_, query)| query.to_owned())
                .unwrap_or_default(),
            target_len: request.target.len(),
            method: request.method,
            body: request.body,
        }
    }

    /// Whether this is a token request.
    pub(crate) fn is_token(&self) -> bool {
        self.route == Route::Token
    }

    /// The `Content-Type` media type, lowercase, without parameters.
    fn media_type(&self) -> Option<String> {
        let value = self.content_type.as_deref()?;
        Some(value.split(';').next()?.trim().to_ascii_lowercase())
    }
}

/// A `requestId` shaped like Marketo's (`e42b#14272d07d78`): the request number and the clock,
/// in hex.
pub(crate) fn request_id(request: u64, now: i64) -> String {
    format!("{request:x}#{:x}", now.max(0))
}

/// A window as Marketo's 606 message writes it: whole seconds, else a decimal.
pub(crate) fn seconds(window: Duration) -> String {
    if window.subsec_nanos() == 0 {
        window.as_secs().to_string()
    } else {
        window.as_secs_f64().to_string()
    }
}

fn json_answer(status: u16, body: String) -> HttpAnswer {
    HttpAnswer::Full(status, Some(JSON_TYPE), body.into_bytes())
}

/// A failed call: HTTP 200, `success: false`, one error.
pub(crate) fn error(request_id: &str, code: u32, message: &str) -> HttpAnswer {
    json_answer(
        200,
        format!(
            "{{\"requestId\":{},\"success\":false,\"errors\":[{{\"code\":\"{code}\",\"message\":{}}}]}}",
            json::string(request_id),
            json::string(message)
        ),
    )
}

/// A successful call, with its `result` array (JSON text) when it has one.
fn success(request_id: &str, result: Option<&str>) -> HttpAnswer {
    let mut body = format!("{{\"requestId\":{},", json::string(request_id));
    if let Some(result) = result {
        body.push_str("\"result\":");
        body.push_str(result);
        body.push(',');
    }
    body.push_str("\"success\":true}");
    json_answer(200, body)
}

/// `{"code":"…","message":"…"}` objects, comma-separated.
fn faults(list: &[(u32, String)]) -> String {
    list.iter()
        .map(|(code, message)| format!("{{\"code\":\"{code}\",\"message\":{}}}", json::string(message)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A skipped record; `key` is `reasons` (Sync Leads) or `errors` (Add Custom Activities), as
/// Marketo's documentation shows them.
fn skipped(key: &str, list: &[(u32, String)]) -> String {
    format!("{{\"status\":\"skipped\",\"{key}\":[{}]}}", faults(list))
}

/// `text`, cut to at most 100 characters (with `…`) for an error message.
fn short(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `Invalid value '…'. Required of type '…'` (1001).
fn invalid(raw: &RawValue, of_type: &str) -> (u32, String) {
    let text = short(&json_text(raw.get()));
    (1001, format!("Invalid value '{text}'. Required of type '{of_type}'"))
}

/// `Missing value for the required parameter '…'` (1002).
fn missing(name: &str) -> (u32, String) {
    (1002, format!("Missing value for required parameter '{name}'"))
}

/// A plausible email: one non-empty part each side of the last `@`, no white space.
fn is_email(text: &str) -> bool {
    match text.rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !text.chars().any(char::is_whitespace),
        None => false,
    }
}

/// The visitor token of an Associate Lead cookie, which must be exactly
/// `id:<munchkin id>&token:_mch-…` once URL-decoded.
fn associate_token(cookie: &str, munchkin_id: &str) -> Option<String> {
    let (id, token) = cookie.split_once('&')?;
    let id = id.strip_prefix("id:")?;
    let token = token.strip_prefix("token:")?;
    let valid = id == munchkin_id
        && token.len() > "_mch-".len()
        && token.starts_with("_mch-")
        && !token.contains(|c: char| c.is_whitespace() || c == '&');
    valid.then(|| token.to_owned())
}

/// The Sync Leads actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    CreateOrUpdate,
    CreateOnly,
    UpdateOnly,
    CreateDuplicate,
}

impl Action {
    fn parse(text: &str) -> Option<Action> {
        Some(match text {
            "createOrUpdate" => Action::CreateOrUpdate,
            "createOnly" => Action::CreateOnly,
            "updateOnly" => Action::UpdateOnly,
            "createDuplicate" => Action::CreateDuplicate,
            _ => return None,
        })
    }
}

/// Applies the REST rules to a call that passed rate and concurrency; returns the answer and the
/// Sync Leads lookup keys it holds until the answer is written.
pub(crate) fn decide(config: &Config, state: &mut State, request: u64, draws: Draws, now: i64, call: RestRequest) -> (HttpAnswer, Held) {
    let mut ctx = Ctx {
        config,
        state,
        request,
        draws,
        now,
        rid: request_id(request, now),
        held: Vec::new(),
    };
    let answer = match ctx.run(&call) {
        Ok(answer) | Err(answer) => answer,
    };
    let held = Held {
        soap_lock: None,
        rest_keys: ctx.held,
    };
    (answer, held)
}

/// One call's context. Methods return `Err(answer)` to stop at a rule.
struct Ctx<'a> {
    config: &'a Config,
    state: &'a mut State,
    request: u64,
    draws: Draws,
    now: i64,
    rid: String,
    held: Vec<String>,
}

type Step<T> = Result<T, HttpAnswer>;

impl Ctx<'_> {
    /// Counts the rule, logs the request, and answers `code` with `message`.
    fn reject(&mut self, rule: Rule, (code, message): (u32, String), detail: String) -> HttpAnswer {
        violate(self.state, self.request, rule, detail);
        error(&self.rid, code, &message)
    }

    fn run(&mut self, call: &RestRequest) -> Step<HttpAnswer> {
        if call.target_len > MAX_URL {
            let detail = format!("URL of {} bytes, over Marketo's 8 KB", call.target_len);
            violate(self.state, self.request, Rule::BatchSize, detail);
            let body = b"414 Request-URI Too Long\n".to_vec();
            return Ok(HttpAnswer::Full(414, Some("text/plain"), body));
        }
        if call.body.len() > MAX_BODY {
            let detail = format!("body of {} bytes, over Marketo's 1 MB", call.body.len());
            violate(self.state, self.request, Rule::BatchSize, detail);
            let body = b"413 Request Entity Too Large\n".to_vec();
            return Ok(HttpAnswer::Full(413, Some("text/plain"), body));
        }
        let mut params = json::parse_params(&call.query);
        match call.route {
            Route::Token => self.token(call, params),
            Route::WrongMethod => {
                let message = format!("Request method '{}' not supported", call.method);
                Err(self.reject(Rule::Malformed, (605, message.clone()), message))
            }
            Route::SyncLeads if json::param(&params, "_method") == Some("GET") => {
                // A lookup too long for a URL, sent as a form body (Marketo's documented way).
                self.authenticate(call, &params)?;
                if call.media_type().as_deref() != Some("application/x-www-form-urlencoded") {
                    return Err(self.content_type(call, "application/x-www-form-urlencoded"));
                }
                params.extend(json::parse_params(&String::from_utf8_lossy(&call.body)));
                self.lookup(&params)
            }
            Route::SyncLeads => {
                self.authenticate(call, &params)?;
                self.sync_leads(call)
            }
            Route::LookupLeads => {
                self.authenticate(call, &params)?;
                self.lookup(&params)
            }
            Route::Associate(lead_id) => {
                self.authenticate(call, &params)?;
                self.associate(lead_id, &params)
            }
            Route::AddActivities => {
                self.authenticate(call, &params)?;
                self.add_activities(call)
            }
        }
    }

    /// The identity service: issue a token, or give the current one back with its remaining
    /// life.
    fn token(&mut self, call: &RestRequest, mut params: Vec<(String, String)>) -> Step<HttpAnswer> {
        if call.method == "POST" && call.media_type().as_deref() == Some("application/x-www-form-urlencoded") {
            params.extend(json::parse_params(&String::from_utf8_lossy(&call.body)));
        }
        let oauth = |status: u16, error: &str, description: &str| {
            json_answer(
                status,
                format!(
                    "{{\"error\":{},\"error_description\":{}}}",
                    json::string(error),
                    json::string(description)
                ),
            )
        };
        match json::param(&params, "grant_type") {
            Some("client_credentials") => {}
            None | Some("") => {
                violate(self.state, self.request, Rule::Malformed, "token request without grant_type".into());
                return Err(oauth(400, "invalid_request", "Missing grant type"));
            }
            Some(other) => {
                let description = format!("Unsupported grant type: {other}");
                violate(self.state, self.request, Rule::Malformed, description.clone());
                return Err(oauth(400, "unsupported_grant_type", &description));
            }
        }
        let id = json::param(&params, "client_id");
        let secret = json::param(&params, "client_secret");
        if id != Some(self.config.client_id.as_str()) || secret != Some(self.config.client_secret.as_str()) {
            let detail = match (id, secret) {
                (None, _) => "no client_id".to_owned(),
                (Some(id), _) if id != self.config.client_id => {
                    format!("client_id {id:?} is not this instance's")
                }
                (_, None) => "no client_secret".to_owned(),
                _ => "wrong client_secret".to_owned(),
            };
            violate(self.state, self.request, Rule::BadCredentials, detail);
            return Err(oauth(401, "unauthorized", "Bad client credentials"));
        }
        self.transient(&TOKEN_TRANSIENT)?;
        let state = &mut *self.state;
        let now = self.now;
        let current = state
            .current_token
            .clone()
            .and_then(|token| Some((state.tokens.get(&token).copied()?, token)))
            .filter(|(expires_at, _)| now < *expires_at);
        let (expires_at, token) = match current {
            Some(current) => {
                state.counters.tokens_reused += 1;
                current
            }
            None => {
                let token = loop {
                    let (a, b) = (state.token_rng.next_u64(), state.token_rng.next_u64());
                    let token = format!(
                        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}:ab",
                        a >> 32,
                        (a >> 16) & 0xffff,
                        a & 0xffff,
                        b >> 48,
                        b & 0xffff_ffff_ffff
                    );
                    if !state.tokens.contains_key(&token) {
                        break token;
                    }
                };
                let ttl = i64::try_from(self.config.token_ttl.as_millis()).unwrap_or(i64::MAX);
                let expires_at = now.saturating_add(ttl);
                state.tokens.insert(token.clone(), expires_at);
                state.current_token = Some(token.clone());
                state.counters.tokens_issued += 1;
                (expires_at, token)
            }
        };
        // Whole seconds left, less the one under way: a fresh 3600 s token says 3599, as
        // Marketo's do, so a client that trusts `expires_in` never holds a token past its end.
        let expires_in = expires_at.saturating_sub(now).saturating_sub(1).max(0) / 1000;
        Ok(json_answer(
            200,
            format!(
                "{{\"access_token\":{},\"token_type\":\"bearer\",\"expires_in\":{expires_in},\"scope\":{}}}",
                json::string(&token),
                json::string(SCOPE)
            ),
        ))
    }

    /// The bearer token rules: none in the URL, one in the header, issued, not expired.
    fn authenticate(&mut self, call: &RestRequest, params: &[(String, String)]) -> Step<()> {
        let invalid = (601, "Access token invalid".to_owned());
        if params.iter().any(|(name, _)| name == "access_token") {
            let detail = "access_token in the URL query (Marketo removed support for it)";
            return Err(self.reject(Rule::TokenInUrl, invalid, detail.into()));
        }
        let bearer = call.authorization.as_deref().and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
        });
        let Some(token) = bearer else {
            let detail = match &call.authorization {
                None => "no Authorization header".to_owned(),
                Some(value) => format!(
                    "Authorization is not \"Bearer <token>\" (scheme {:?})",
                    value.split_whitespace().next().unwrap_or_default()
                ),
            };
            return Err(self.reject(Rule::MissingToken, invalid, detail));
        };
        match self.state.tokens.get(token).copied() {
            None => {
                let detail = "a bearer token this fake never issued".to_owned();
                Err(self.reject(Rule::StaleToken, invalid, detail))
            }
            Some(expires_at) if self.now >= expires_at => {
                let detail = format!("a bearer token that expired {} ms ago", self.now - expires_at);
                let expired = (602, "Access token expired".to_owned());
                Err(self.reject(Rule::StaleToken, expired, detail))
            }
            Some(_) => Ok(()),
        }
    }

    fn content_type(&mut self, call: &RestRequest, expected: &str) -> HttpAnswer {
        let detail = format!("Content-Type must be {expected}, got {:?}", call.content_type);
        self.reject(Rule::Malformed, (612, "Invalid Content Type".into()), detail)
    }

    /// A JSON object body with `Content-Type: application/json`.
    fn json_body(&mut self, call: &RestRequest) -> Step<Object> {
        if call.media_type().as_deref() != Some("application/json") {
            return Err(self.content_type(call, "application/json"));
        }
        let object = std::str::from_utf8(&call.body).ok().and_then(Object::parse);
        object.ok_or_else(|| {
            let detail = "the body is not a UTF-8 JSON object".to_owned();
            self.reject(Rule::Malformed, (609, "Invalid JSON".into()), detail)
        })
    }

    /// The `input` array of a batch call: at most 300 objects.
    fn input(&mut self, body: &Object) -> Step<Vec<(Box<RawValue>, Object)>> {
        let Some(raw) = body.get("input").filter(|r| json::kind(r) != JsonKind::Null) else {
            let detail = "no input".to_owned();
            return Err(self.reject(Rule::Malformed, missing("input"), detail));
        };
        let Some(records) = json::as_array(raw) else {
            let detail = "input is not an array".to_owned();
            return Err(self.reject(Rule::Malformed, invalid(raw, "array"), detail));
        };
        if records.len() > MAX_RECORDS {
            let message = format!("Invalid data: {} records in input, at most {MAX_RECORDS} allowed", records.len());
            return Err(self.reject(Rule::BatchSize, (1003, message.clone()), message));
        }
        let mut out = Vec::with_capacity(records.len());
        for raw in records {
            match Object::parse(raw.get()) {
                Some(object) => out.push((raw, object)),
                None => {
                    let detail = format!("input record {} is not an object", out.len());
                    return Err(self.reject(Rule::Malformed, invalid(&raw, "object"), detail));
                }
            }
        }
        Ok(out)
    }

    /// The REST daily quota (607), checked once a call is well formed.
    fn quota(&mut self) -> Step<()> {
        if self.state.rest_quota.exhausted(self.now, self.config.daily_quota) {
            let detail = format!("daily quota of {} REST calls used", self.config.daily_quota);
            let answer = (607, "Daily quota reached".to_owned());
            return Err(self.reject(Rule::Quota, answer, detail));
        }
        Ok(())
    }

    /// A transient injected fault, with probability `fault_rate`.
    fn transient(&mut self, kinds: &[InjectedFault]) -> Step<()> {
        if self.draws.transient >= self.config.fault_rate {
            return Ok(());
        }
        let kind = kinds[(self.draws.kind % kinds.len() as u64) as usize];
        record_injection(self.state, self.request, kind);
        let (code, message) = match kind {
            InjectedFault::RestTimeout => (604, "Request timed out"),
            InjectedFault::RestUnavailable => (608, "API Temporarily Unavailable"),
            InjectedFault::RestSystemError => (611, "System error"),
            InjectedFault::RestTransient => (713, "Transient Error"),
            InjectedFault::RestLockWait => (719, "Lock wait timeout exception"),
            InjectedFault::Drop => return Err(HttpAnswer::Drop),
            _ => return Err(http_503()),
        };
        Err(error(&self.rid, code, message))
    }

    /// With probability `permanent_fault_rate` (and no transient fault), the index of the record
    /// (of `records`) that gets an injected permanent fault.
    fn permanent(&self, records: usize) -> Option<usize> {
        (records > 0 && self.draws.permanent < self.config.permanent_fault_rate).then(|| (self.draws.kind % records as u64) as usize)
    }

    /// Logs an injected permanent fault.
    fn record_permanent(&mut self, fault: RestPermanentFault) {
        record_injection(self.state, self.request, InjectedFault::RestPermanent);
        self.state.rest_permanent.push(fault);
    }

    /// A call answered `success: true`: spend quota.
    fn accept(&mut self) {
        self.state.rest_quota.spend();
        self.state.counters.rest_accepted += 1;
    }

    /// Whether the instance knows a REST lead field (`id` and `email` always).
    fn known(&self, field: &str) -> bool {
        field == "id" || field == "email" || self.config.known_rest_fields.as_ref().is_none_or(|known| known.contains(field))
    }

    /// `POST /rest/v1/leads.json`.
    fn sync_leads(&mut self, call: &RestRequest) -> Step<HttpAnswer> {
        let body = self.json_body(call)?;
        let action = match body.get("action").filter(|r| json::kind(r) != JsonKind::Null) {
            None => Action::CreateOrUpdate,
            Some(raw) => match json::as_str(raw).as_deref().and_then(Action::parse) {
                Some(action) => action,
                None => {
                    let detail = format!("unknown action {}", raw.get());
                    return Err(self.reject(Rule::Malformed, invalid(raw, "action"), detail));
                }
            },
        };
        let lookup_field = match body.get("lookupField").filter(|r| json::kind(r) != JsonKind::Null) {
            None => "email".to_owned(),
            Some(raw) => match json::as_str(raw).filter(|f| !f.is_empty()) {
                Some(field) => field,
                None => {
                    let detail = format!("lookupField {} is not a field name", raw.get());
                    return Err(self.reject(Rule::Malformed, invalid(raw, "string"), detail));
                }
            },
        };
        if lookup_field == "id" && action != Action::UpdateOnly {
            let message = "Invalid data: lookupField id is only accepted with updateOnly";
            let answer = (1003, message.to_owned());
            return Err(self.reject(Rule::Malformed, answer, message.into()));
        }
        if !self.known(&lookup_field) {
            let message = format!("Field '{lookup_field}' not found");
            let detail = format!("lookupField {lookup_field:?} is not a known REST field");
            return Err(self.reject(Rule::Malformed, (1006, message), detail));
        }
        let records = self.input(&body)?;
        self.quota()?;
        self.transient(&REST_TRANSIENT)?;
        let injected = self.permanent(records.len());
        let mut result = Vec::with_capacity(records.len());
        for (index, (raw, record)) in records.iter().enumerate() {
            if injected == Some(index) {
                self.record_permanent(RestPermanentFault {
                    request: self.request,
                    call: RestCall::SyncLeads,
                    index,
                    lookup: record.get(&lookup_field).map(|v| json_text(v.get())),
                    lead_id: None,
                    record: raw.get().to_owned(),
                });
                result.push(skipped("reasons", &[(1003, "Invalid data".into())]));
                continue;
            }
            match self.sync_record(action, &lookup_field, record) {
                Ok((id, created)) => {
                    let status = if created { "created" } else { "updated" };
                    result.push(format!("{{\"id\":{id},\"status\":\"{status}\"}}"));
                }
                Err(reasons) => {
                    self.state.counters.rest_skipped += 1;
                    result.push(skipped("reasons", &reasons));
                }
            }
        }
        self.state.counters.rest_records += records.len() as u64;
        self.accept();
        Ok(success(&self.rid, Some(&format!("[{}]", result.join(",")))))
    }

    /// The leads whose `field` equals `value`.
    fn find(&self, field: &str, value: &RawValue) -> Vec<usize> {
        let state = &*self.state;
        match field {
            "email" => json::as_str(value)
                .map(|email| state.indexes_by_email(&email).to_vec())
                .unwrap_or_default(),
            "id" => json::as_u64(value).and_then(|id| state.index_by_id(id)).into_iter().collect(),
            _ => {
                let text = json_text(value.get());
                let matches = |lead: &crate::Lead| lead.rest_value(field).as_ref() == Some(&text);
                (0..state.leads.len()).filter(|&i| matches(&state.leads[i])).collect()
            }
        }
    }

    /// One Sync Leads record: its lead id and whether it was created, or why it was skipped.
    fn sync_record(&mut self, action: Action, lookup_field: &str, record: &Object) -> Result<(u64, bool), Vec<(u32, String)>> {
        let mut unknown: Vec<(u32, String)> = Vec::new();
        let mut seen = HashSet::new();
        for (name, _) in &record.0 {
            if !self.known(name) && seen.insert(name.as_str()) {
                unknown.push((1006, format!("Field '{name}' not found")));
            }
        }
        if !unknown.is_empty() {
            return Err(unknown);
        }
        for (name, value) in &record.0 {
            if matches!(json::kind(value), JsonKind::Object | JsonKind::Array) {
                let message = format!("Invalid data: field '{name}' holds an object or array");
                return Err(vec![(1003, message)]);
            }
        }
        let email = match record.get("email") {
            None => None,
            Some(raw) => match json::as_str(raw).filter(|e| is_email(e)) {
                Some(email) => Some(email),
                None => {
                    let message = format!("Invalid data: email {} is not an email", short(raw.get()));
                    return Err(vec![(1003, message)]);
                }
            },
        };
        if record.get("id").is_some() && action != Action::UpdateOnly {
            let message = "Invalid data: id is only accepted with updateOnly".to_owned();
            return Err(vec![(1003, message)]);
        }
        let key = record.get(lookup_field).filter(|raw| json::kind(raw) != JsonKind::Null);
        let needs_key = matches!(action, Action::CreateOrUpdate | Action::UpdateOnly);
        let matches = match (action, key) {
            (Action::CreateDuplicate, _) => Vec::new(),
            (_, Some(key)) => self.find(lookup_field, key),
            (_, None) if needs_key => return Err(vec![missing(lookup_field)]),
            (_, None) => Vec::new(),
        };
        let target = match (action, matches.as_slice()) {
            (Action::CreateDuplicate, _) | (Action::CreateOnly | Action::CreateOrUpdate, []) => None,
            (Action::CreateOnly, _) => return Err(vec![(1005, "Lead already exists".into())]),
            (Action::UpdateOnly, []) => return Err(vec![(1004, "Lead not found".into())]),
            (_, [index]) => Some(*index),
            (_, _) => {
                let message = "Multiple leads match the lookup criteria".to_owned();
                return Err(vec![(1007, message)]);
            }
        };
        if let Some(key) = key {
            let key = format!("{lookup_field}:{}", json_text(key.get()));
            if !self.held.contains(&key) {
                let state = &mut *self.state;
                if state.rest_keys_in_flight.contains_key(&key) {
                    state.counters.upsert_races += 1;
                }
                *state.rest_keys_in_flight.entry(key.clone()).or_default() += 1;
                self.held.push(key);
            }
        }
        let state = &mut *self.state;
        let (index, created) = match target {
            Some(index) => (index, false),
            None => (state.new_lead(self.now), true),
        };
        if let Some(email) = &email {
            state.set_email(index, email);
        }
        let lead = &mut state.leads[index];
        for (name, value) in &record.0 {
            if name != "id" && name != "email" {
                lead.rest_fields.insert(name.clone(), value.get().to_owned());
            }
        }
        lead.syncs += 1;
        lead.updated_at_ms = self.now;
        let id = lead.id;
        if created {
            state.counters.rest_created += 1;
        } else {
            state.counters.rest_updated += 1;
        }
        Ok((id, created))
    }

    /// `GET /rest/v1/leads.json?filterType=…&filterValues=…[&fields=…]`.
    fn lookup(&mut self, params: &[(String, String)]) -> Step<HttpAnswer> {
        let filter_type = json::param(params, "filterType").filter(|t| !t.is_empty());
        let Some(filter_type) = filter_type else {
            let detail = "no filterType".to_owned();
            return Err(self.reject(Rule::Malformed, missing("filterType"), detail));
        };
        let values: Vec<&str> = json::param(params, "filterValues")
            .unwrap_or_default()
            .split(',')
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            let detail = "no filterValues".to_owned();
            return Err(self.reject(Rule::Malformed, missing("filterValues"), detail));
        }
        if values.len() > MAX_RECORDS {
            let message = format!("Invalid data: {} filterValues, at most {MAX_RECORDS} allowed", values.len());
            return Err(self.reject(Rule::BatchSize, (1003, message.clone()), message));
        }
        let fields: Vec<&str> = match json::param(params, "fields") {
            Some(list) => list.split(',').map(str::trim).filter(|f| !f.is_empty()).collect(),
            None => DEFAULT_FIELDS.to_vec(),
        };
        let given = json::param(params, "fields").is_some();
        let unknown = std::iter::once(filter_type)
            .chain(fields.iter().copied().filter(|_| given))
            .find(|f| !self.known(f) && !matches!(*f, "createdAt" | "updatedAt"));
        if let Some(field) = unknown {
            let message = format!("Field '{field}' not found");
            let detail = format!("{field:?} (filterType or fields) is not a known REST field");
            return Err(self.reject(Rule::Malformed, (1006, message), detail));
        }
        self.quota()?;
        self.transient(&REST_TRANSIENT)?;
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        for value in values {
            let raw = match filter_type {
                "id" => value.to_owned(),
                _ => json::string(value),
            };
            let Ok(raw) = RawValue::from_string(raw) else {
                continue;
            };
            for index in self.find(filter_type, &raw) {
                if seen.insert(index) {
                    found.push(index);
                }
            }
        }
        let records: Vec<String> = found.iter().map(|&index| lead_json(&self.state.leads[index], &fields)).collect();
        self.state.counters.lookups += 1;
        self.accept();
        Ok(success(&self.rid, Some(&format!("[{}]", records.join(",")))))
    }

    /// `POST /rest/v1/leads/{id}/associate.json?cookie=…`.
    fn associate(&mut self, lead_id: u64, params: &[(String, String)]) -> Step<HttpAnswer> {
        let cookie = json::param(params, "cookie").filter(|c| !c.is_empty());
        let Some(cookie) = cookie else {
            let detail = "no cookie parameter".to_owned();
            return Err(self.reject(Rule::Malformed, missing("cookie"), detail));
        };
        self.quota()?;
        self.transient(&REST_TRANSIENT)?;
        if self.permanent(1).is_some() {
            self.record_permanent(RestPermanentFault {
                request: self.request,
                call: RestCall::AssociateLead,
                index: 0,
                lookup: None,
                lead_id: Some(lead_id),
                record: cookie.to_owned(),
            });
            return Err(error(&self.rid, 1003, "Invalid data"));
        }
        let Some(token) = associate_token(cookie, &self.config.munchkin_id) else {
            let message = format!("Invalid cookie value '{}'", short(cookie));
            let detail = format!("cookie {cookie:?} is not id:{}&token:_mch-… once decoded", self.config.munchkin_id);
            return Err(self.reject(Rule::InvalidCookie, (1012, message), detail));
        };
        let Some(index) = self.state.index_by_id(lead_id) else {
            return Err(error(&self.rid, 1004, "Lead not found"));
        };
        self.state.add_token(index, &token);
        self.state.associations.push(Association {
            request: self.request,
            lead_id,
            cookie: cookie.to_owned(),
            token,
        });
        self.state.counters.associations += 1;
        self.accept();
        Ok(success(&self.rid, None))
    }

    /// `POST /rest/v1/activities/external.json`.
    fn add_activities(&mut self, call: &RestRequest) -> Step<HttpAnswer> {
        let body = self.json_body(call)?;
        let records = self.input(&body)?;
        self.quota()?;
        self.transient(&REST_TRANSIENT)?;
        let injected = self.permanent(records.len());
        let mut result = Vec::with_capacity(records.len());
        for (index, (raw, record)) in records.iter().enumerate() {
            if injected == Some(index) {
                self.record_permanent(RestPermanentFault {
                    request: self.request,
                    call: RestCall::AddActivities,
                    index,
                    lookup: None,
                    lead_id: record.get("leadId").and_then(json::as_u64),
                    record: raw.get().to_owned(),
                });
                result.push(skipped("errors", &[(1003, "Invalid data".into())]));
                continue;
            }
            match self.activity(record) {
                Ok(id) => {
                    result.push(format!("{{\"id\":{id},\"marketoGUID\":\"{id}\",\"status\":\"added\"}}"));
                }
                Err(fault) => {
                    self.state.counters.activities_skipped += 1;
                    result.push(skipped("errors", &[fault]));
                }
            }
        }
        self.state.counters.rest_records += records.len() as u64;
        self.accept();
        Ok(success(&self.rid, Some(&format!("[{}]", result.join(",")))))
    }

    /// One custom activity: its id, or why it was skipped.
    fn activity(&mut self, record: &Object) -> Result<u64, (u32, String)> {
        let required = |name: &str| {
            record
                .get(name)
                .filter(|raw| json::kind(raw) != JsonKind::Null)
                .ok_or_else(|| missing(name))
        };
        let raw = required("leadId")?;
        let lead_id = json::as_u64(raw).ok_or_else(|| invalid(raw, "integer"))?;
        let raw = required("activityDate")?;
        let activity_date = json::as_str(raw).ok_or_else(|| invalid(raw, "datetime"))?;
        let activity_date_ms = parse_iso_datetime(&activity_date).ok_or_else(|| invalid(raw, "datetime"))?;
        let raw = required("activityTypeId")?;
        let activity_type_id = json::as_u64(raw).ok_or_else(|| invalid(raw, "integer"))?;
        let raw = required("primaryAttributeValue")?;
        if matches!(json::kind(raw), JsonKind::Object | JsonKind::Array) {
            return Err(invalid(raw, "string"));
        }
        let primary_attribute_value = json_text(raw.get());
        let raw = required("attributes")?;
        let list = json::as_array(raw).ok_or_else(|| invalid(raw, "array"))?;
        if raw.get().len() > MAX_ATTRIBUTES {
            let message = format!(
                "Failed to Create Activity: attributes array of {} bytes, at most {MAX_ATTRIBUTES}",
                raw.get().len()
            );
            return Err((1049, message));
        }
        let mut attributes = Vec::with_capacity(list.len());
        for item in &list {
            let attribute = Object::parse(item.get()).ok_or_else(|| invalid(item, "attribute"))?;
            let name = attribute
                .get("apiName")
                .or_else(|| attribute.get("name"))
                .and_then(json::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| missing("name"))?;
            let value = attribute.get("value").ok_or_else(|| missing("value"))?;
            attributes.push((name, value.get().to_owned()));
        }
        if let Some(types) = &self.config.activity_types
            && !types.contains(&activity_type_id)
        {
            return Err((1013, "Object not found".into()));
        }
        if self.state.index_by_id(lead_id).is_none() {
            return Err((1004, "Lead not found".into()));
        }
        let id = self.state.activities.len() as u64 + 1;
        self.state.activities.push(CustomActivity {
            request: self.request,
            id,
            lead_id,
            activity_date,
            activity_date_ms,
            activity_type_id,
            primary_attribute_value,
            attributes,
        });
        self.state.counters.activities += 1;
        Ok(id)
    }
}

/// A looked-up lead: `id`, then each of `fields` that has a value (Marketo leaves out the
/// fields it has no value for).
fn lead_json(lead: &crate::Lead, fields: &[&str]) -> String {
    let mut out = format!("{{\"id\":{}", lead.id);
    let mut written = HashSet::from(["id"]);
    for &field in fields {
        if !written.insert(field) {
            continue;
        }
        let value = match field {
            "email" => lead.email.as_deref().map(json::string),
            "createdAt" => Some(json::string(&format_rest_datetime(lead.created_at_ms))),
            "updatedAt" => Some(json::string(&format_rest_datetime(lead.updated_at_ms))),
            _ => lead.rest_fields.get(field).cloned(),
        };
        if let Some(value) = value {
            out.push(',');
            json::push_str(&mut out, field);
            out.push(':');
            out.push_str(&value);
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("GET", TOKEN_PATH), Some(Route::Token));
        assert_eq!(route("POST", TOKEN_PATH), Some(Route::Token));
        assert_eq!(route("PUT", TOKEN_PATH), Some(Route::WrongMethod));
        assert_eq!(route("POST", LEADS_PATH), Some(Route::SyncLeads));
        assert_eq!(route("GET", LEADS_PATH), Some(Route::LookupLeads));
        assert_eq!(route("DELETE", LEADS_PATH), Some(Route::WrongMethod));
        assert_eq!(route("POST", ACTIVITIES_PATH), Some(Route::AddActivities));
        assert_eq!(route("POST", "/rest/v1/leads/1001/associate.json"), Some(Route::Associate(1001)));
        assert_eq!(route("GET", "/rest/v1/leads/1001/associate.json"), Some(Route::WrongMethod));
        for path in [
            "/rest/v1/leads/x/associate.json",
            "/rest/v1/leads//associate.json",
            "/rest/v1/leads/+1/associate.json",
            "/rest/v1/lead/1.json",
            "/identity/oauth/token/",
        ] {
            assert_eq!(route("POST", path), None, "{path}");
        }
    }

    #[test]
    fn cookies() {
        let id = "561-HYG-937";
        assert_eq!(
            associate_token("id:561-HYG-937&token:_mch-a.com-1-2", id).as_deref(),
            Some("_mch-a.com-1-2")
        );
        for bad in [
            "id:561-HYG-937",
            "id=561-HYG-937&token=_mch-a.com-1-2",
            "id:000-AAA-000&token:_mch-a.com-1-2",
            "id:561-HYG-937&token:_mch-",
            "id:561-HYG-937&token:abc",
            "id:561-HYG-937&token:_mch-a b",
            "token:_mch-a.com-1-2&id:561-HYG-937",
        ] {
            assert_eq!(associate_token(bad, id), None, "{bad}");
        }
    }

    #[test]
    fn small_pieces() {
        assert!(is_email("a@b") && is_email("a+b@x.io") && is_email("\"a@b\"@x.io"));
        assert!(!is_email("ab") && !is_email("@b") && !is_email("a@") && !is_email("a @b"));
        assert_eq!(seconds(Duration::from_secs(20)), "20");
        assert_eq!(seconds(Duration::from_millis(300)), "0.3");
        assert_eq!(request_id(0x2a, 0x1_0000), "2a#10000");
        assert_eq!(short("é".repeat(100).as_str()), "é".repeat(100));
        assert_eq!(short("é".repeat(101).as_str()), format!("{}…", "é".repeat(100)));
        let lead = crate::Lead {
            id: 1001,
            email: Some("a@b.c".into()),
            cookie_tokens: Vec::new(),
            fields: Default::default(),
            rest_fields: [("firstName".to_owned(), "\"Ada\"".to_owned())].into(),
            syncs: 1,
            created_at_ms: 0,
            updated_at_ms: 1_000,
        };
        assert_eq!(
            lead_json(&lead, &DEFAULT_FIELDS),
            r#"{"id":1001,"email":"a@b.c","updatedAt":"1970-01-01T00:00:01Z","createdAt":"1970-01-01T00:00:00Z","firstName":"Ada"}"#
        );
        assert_eq!(
            lead_json(&lead, &["id", "lastName", "firstName", "firstName"]),
            r#"{"id":1001,"firstName":"Ada"}"#
        );
    }
}
