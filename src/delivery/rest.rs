//! The outbox's REST side: the access token, Sync Leads batches, Associate Lead, lead-id lookups
//! and the lead-id cache, Add Custom Activities batches. See the module docs of
//! [`crate::delivery`] for the rules, and [`crate::rest`] for the wire format.

use std::collections::{HashMap, HashSet, VecDeque};

use super::config::ms;
use super::job::Job;
use super::{Association, Delivery, Flight, Next, Outbox, Transmit, Work};
use crate::destination::MarketoDestination;
use crate::error::{Error, ErrorKind, Retry};
use crate::plan::Operation;
use crate::request::Response;
use crate::rest::{
    ActivityBatch, AssociateOutcome, LeadInput, LeadLookup, RecordOutcome, RestApi, TokenHolder, TokenState, associate_request,
    read_associate,
};
use crate::soap::SyncStatus;
use crate::time::Timestamp;

/// At most this many lead ids are cached (oldest forgotten first).
const CACHE_LIMIT: usize = 100_000;
/// Bytes of lookup values per lookup call, keeping its URL well under Marketo's 8 KB.
const LOOKUP_URL_BUDGET: usize = 6_000;

/// The REST state of an outbox; empty for a SOAP destination.
#[derive(Debug)]
pub(super) struct RestState {
    api: Option<RestApi>,
    holder: Option<TokenHolder>,
    pub(super) quota_until: i64,
    token_retry_at: i64,
    token_failures: u32,
    /// Lead ids by cache key (`field` NUL `value`), and the order they came in.
    cache: HashMap<String, i64>,
    cache_order: VecDeque<String>,
    /// Activity jobs (ids in `Outbox::jobs`) waiting for a lead id, by cache key.
    waiting: HashMap<String, Vec<u64>>,
    /// Keys to look up, and every key queued or in flight (one lookup per key).
    pub(super) lookups: VecDeque<String>,
    looking: HashSet<String>,
    lookup_attempts: HashMap<String, u32>,
    /// Cache keys of records being synced: an activity for them waits for the sync, not a lookup.
    syncing: HashMap<String, u32>,
    turn: usize,
}

/// The cache key of a lead field value. Emails compare without ASCII case, as Marketo does.
fn cache_key(field: &str, value: &str) -> String {
    let mut key = String::with_capacity(field.len() + 1 + value.len());
    key.push_str(field);
    key.push('\0');
    let at = key.len();
    key.push_str(value);
    if field.eq_ignore_ascii_case("email") {
        key[at..].make_ascii_lowercase();
    }
    key
}

/// The cache keys a sync record fills: its lookup field, `userId` and `anonymousId`.
fn record_keys(input: &LeadInput) -> Vec<String> {
    let mut keys = Vec::with_capacity(3);
    if let Some((field, value)) = input.lookup() {
        keys.push(cache_key(field, &value.as_text()));
    }
    for field in ["userId", "anonymousId"] {
        if let Some(value) = input.get(field) {
            let key = cache_key(field, &value.as_text());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The lead key of a REST sync: its lookup value.
pub(super) fn lookup_value(input: &LeadInput) -> String {
    input.lookup().map(|(f, v)| cache_key(f, &v.as_text())).unwrap_or_default()
}

impl RestState {
    pub(super) fn new(api: Option<&RestApi>) -> RestState {
        RestState {
            api: api.cloned(),
            holder: api.map(RestApi::token_holder),
            quota_until: i64::MIN,
            token_retry_at: i64::MIN,
            token_failures: 0,
            cache: HashMap::new(),
            cache_order: VecDeque::new(),
            waiting: HashMap::new(),
            lookups: VecDeque::new(),
            looking: HashSet::new(),
            lookup_attempts: HashMap::new(),
            syncing: HashMap::new(),
            turn: 0,
        }
    }

    /// Counts a record in (`+1`) or out (`-1`) of being synced.
    pub(super) fn syncing(&mut self, input: &LeadInput, delta: i32) {
        use std::collections::hash_map::Entry;
        for key in record_keys(input) {
            match self.syncing.entry(key) {
                Entry::Occupied(mut count) => {
                    let n = count.get_mut();
                    *n = n.saturating_add_signed(delta);
                    if *n == 0 {
                        count.remove();
                    }
                }
                Entry::Vacant(slot) => {
                    if let Ok(n @ 1..) = u32::try_from(delta) {
                        slot.insert(n);
                    }
                }
            }
        }
    }

    fn remember(&mut self, key: String, id: i64) {
        if self.cache.insert(key.clone(), id).is_none() {
            self.cache_order.push_back(key);
            while self.cache_order.len() > CACHE_LIMIT {
                if let Some(old) = self.cache_order.pop_front() {
                    self.cache.remove(&old);
                }
            }
        }
    }

    pub(super) fn has_ready_work<D: MarketoDestination>(&self, outbox: &Outbox<D>) -> bool {
        !outbox.rest_leads.is_empty() || !outbox.activities.is_empty() || !outbox.associations.is_empty() || !self.lookups.is_empty()
    }

    /// The earliest time REST work can start (quota hold, token retry).
    pub(super) fn gate(&self) -> i64 {
        self.quota_until.max(self.token_retry_at)
    }
}

impl<D: MarketoDestination> Outbox<D> {
    /// Queues a custom activity: at once when its lead id is cached, else behind the lookup (or
    /// the sync) that will find it.
    pub(super) fn enqueue_activity(&mut self, mut job: Job, now: Timestamp) {
        let Operation::RestActivity(activity) = &job.operation else {
            return;
        };
        let (field, value) = (activity.lead_key.field, activity.lead_key.value.clone());
        if value.contains(',') {
            let reason = format!(
                "{}: {field} {value:?} contains a comma, which a Marketo lead lookup cannot carry",
                activity.message
            );
            return self.finish_job(
                job,
                Delivery::Failed {
                    kind: ErrorKind::InvalidField,
                    reason,
                    code: None,
                },
            );
        }
        let key = cache_key(field, &value);
        if let Some(&id) = self.rest.cache.get(&key) {
            job.lead_id = Some(id);
            let id = self.add_job(job);
            return self.schedule(Work::Job(id), now, now);
        }
        let id = self.add_job(job);
        self.rest.waiting.entry(key.clone()).or_default().push(id);
        if !self.rest.syncing.contains_key(&key) {
            self.look_up(key);
        }
    }

    fn look_up(&mut self, key: String) {
        if self.rest.looking.insert(key.clone()) {
            self.rest.lookups.push_back(key);
        }
    }

    /// After a sync ends, the activities waiting on its keys go on: with the id now cached, or
    /// behind a lookup.
    pub(super) fn wake_waiting_activities(&mut self, input: &LeadInput, now: Timestamp) {
        if self.rest.waiting.is_empty() {
            return; // the common case: no activity waits on any lead
        }
        for key in record_keys(input) {
            if !self.rest.waiting.contains_key(&key) || self.rest.syncing.contains_key(&key) {
                continue;
            }
            match self.rest.cache.get(&key).copied() {
                Some(id) => self.release_waiting(&key, Some(id), now),
                None => self.look_up(key),
            }
        }
    }

    /// Hands the activities waiting on `key` their lead id, or fails them when there is none.
    fn release_waiting(&mut self, key: &str, lead_id: Option<i64>, now: Timestamp) {
        for id in self.rest.waiting.remove(key).unwrap_or_default() {
            let Some(mut job) = self.jobs.remove(&id) else { continue };
            match lead_id {
                Some(lead) => {
                    job.lead_id = Some(lead);
                    self.jobs.insert(id, job);
                    self.schedule(Work::Job(id), now, now);
                }
                None => {
                    let (field, value) = key.split_once('\0').unwrap_or((key, ""));
                    let reason = format!("no Marketo lead has {field} {value:?}: the activity has no lead to go to");
                    self.finish_job(
                        job,
                        Delivery::Failed {
                            kind: ErrorKind::InvalidField,
                            reason,
                            code: Some(1004),
                        },
                    );
                }
            }
        }
    }

    /// REST work: a token first when needed, then the queues in turn.
    pub(super) fn poll_rest(&mut self, now: Timestamp) -> Option<Transmit> {
        let t = now.unix_ms();
        if !self.rest.has_ready_work(self) {
            return None;
        }
        if self.rest.quota_until > t {
            return None;
        }
        self.rest.quota_until = i64::MIN;
        let retry_at = self.rest.token_retry_at;
        let holder = self.rest.holder.as_mut()?;
        // Asking the holder while a failed fetch backs off would mark a fetch in flight that
        // never goes out: ask only for a held token then.
        let token = match holder.token(now) {
            TokenState::Ready(token) => token.clone(),
            TokenState::Fetch(request) => {
                if retry_at > t {
                    holder.handle_token_failure();
                    return None;
                }
                self.stats.tokens += 1;
                return Some(self.start(Flight::Token, request, t));
            }
            _ => return None,
        };
        for i in 0..4 {
            let turn = (self.rest.turn + i) % 4;
            let tx = match turn {
                0 => self.send_leads(&token, now),
                1 => self.send_lookup(&token, now),
                2 => self.send_activities(&token, now),
                _ => self.send_association(&token, now),
            };
            if tx.is_some() {
                self.rest.turn = (turn + 1) % 4;
                return tx;
            }
        }
        None
    }

    fn send_leads(&mut self, token: &crate::rest::AccessToken, now: Timestamp) -> Option<Transmit> {
        let api = self.rest.api.clone()?;
        let mut batch = api.lead_batch();
        // Sized once: a job is large, and growing to a full batch would copy them all many times.
        let room = self.rest_leads.len().min(crate::rest::MAX_BATCH_RECORDS);
        let (mut keys, mut jobs) = (Vec::with_capacity(room), Vec::with_capacity(room));
        while let Some(key) = self.rest_leads.pop_front() {
            let Some(state) = self.leads.get(&key) else { continue };
            if state.in_flight || state.pending.is_none() {
                if let Some(s) = self.leads.get_mut(&key) {
                    s.scheduled = false;
                }
                continue;
            }
            let at = self.lead_ready_at(state);
            if at > now {
                self.schedule(Work::Lead(key), at, now);
                continue;
            }
            let Some(mut job) = self.leads.get_mut(&key).and_then(|s| s.pending.take()) else {
                continue;
            };
            let Operation::RestSyncLead { input, .. } = &job.operation else {
                continue;
            };
            match batch.push(input.clone()) {
                Ok(()) => {
                    if let Some(s) = self.leads.get_mut(&key) {
                        s.in_flight = true;
                        s.scheduled = false;
                    }
                    self.count_attempt(&mut job);
                    keys.push(key);
                    jobs.push(job);
                    if batch.len() >= crate::rest::MAX_BATCH_RECORDS {
                        break;
                    }
                }
                Err(_) if batch.is_empty() => {
                    // Alone it passes 1 MB: it can never be sent.
                    let reason = format!("the record makes a Sync Leads body over {} bytes", crate::rest::MAX_BODY_BYTES);
                    if let Some(s) = self.leads.get_mut(&key) {
                        s.scheduled = false;
                    }
                    self.complete_one(
                        Work::Lead(key),
                        job,
                        None,
                        Next::Done(Delivery::Failed {
                            kind: ErrorKind::TooLarge,
                            reason,
                            code: None,
                        }),
                        now,
                    );
                }
                Err(_) => {
                    if let Some(s) = self.leads.get_mut(&key) {
                        s.pending = Some(job);
                    }
                    self.rest_leads.push_front(key);
                    break;
                }
            }
        }
        if jobs.is_empty() {
            return None;
        }
        let request = batch.request(api.rest_base(), token);
        Some(self.start(
            Flight::Leads {
                keys,
                jobs,
                batch,
                token: token.clone(),
            },
            request,
            now.unix_ms(),
        ))
    }

    fn send_lookup(&mut self, token: &crate::rest::AccessToken, now: Timestamp) -> Option<Transmit> {
        let api = self.rest.api.clone()?;
        let first = self.rest.lookups.front()?.clone();
        let field = first.split_once('\0').map_or("", |(f, _)| f).to_owned();
        let (mut keys, mut values, mut budget) = (Vec::new(), Vec::new(), 0usize);
        while let Some(key) = self.rest.lookups.front() {
            let (f, v) = key.split_once('\0').unwrap_or(("", key));
            let cost = v.len() * 3 + 3;
            if f != field || values.len() >= crate::rest::MAX_BATCH_RECORDS || (!values.is_empty() && budget + cost > LOOKUP_URL_BUDGET) {
                break;
            }
            budget += cost;
            values.push(v.to_owned());
            keys.extend(self.rest.lookups.pop_front());
        }
        let built = LeadLookup::new(field.clone(), values).and_then(|l| l.request(api.rest_base(), token).map(|r| (l, r)));
        match built {
            Ok((lookup, request)) => {
                self.stats.lookups += 1;
                Some(self.start(
                    Flight::Lookup {
                        keys,
                        lookup,
                        token: token.clone(),
                    },
                    request,
                    now.unix_ms(),
                ))
            }
            Err(e) => {
                for key in keys {
                    self.rest.looking.remove(&key);
                    self.fail_waiting(&key, &e);
                }
                None
            }
        }
    }

    fn fail_waiting(&mut self, key: &str, error: &Error) {
        for id in self.rest.waiting.remove(key).unwrap_or_default() {
            if let Some(job) = self.jobs.remove(&id) {
                let code = error.fault().and_then(|f| f.code);
                self.finish_job(
                    job,
                    Delivery::Failed {
                        kind: error.kind(),
                        reason: error.to_string(),
                        code,
                    },
                );
            }
        }
    }

    fn send_activities(&mut self, token: &crate::rest::AccessToken, now: Timestamp) -> Option<Transmit> {
        let api = self.rest.api.clone()?;
        let mut batch = ActivityBatch::new();
        let mut jobs = Vec::new();
        while let Some(id) = self.activities.pop_front() {
            let Some(mut job) = self.jobs.remove(&id) else { continue };
            if job.not_before > now {
                let at = job.not_before;
                self.jobs.insert(id, job);
                self.schedule(Work::Job(id), at, now);
                continue;
            }
            let (Operation::RestActivity(activity), Some(lead_id)) = (&job.operation, job.lead_id) else {
                continue;
            };
            let input = match activity.input(lead_id) {
                Ok(input) => input,
                Err(e) => {
                    let delivery = Delivery::Failed {
                        kind: e.kind(),
                        reason: e.to_string(),
                        code: None,
                    };
                    self.finish_job(job, delivery);
                    continue;
                }
            };
            match batch.push(input) {
                Ok(()) => {
                    self.count_attempt(&mut job);
                    jobs.push(job);
                    if batch.len() >= crate::rest::MAX_BATCH_RECORDS {
                        break;
                    }
                }
                Err(_) => {
                    self.jobs.insert(id, job);
                    self.activities.push_front(id);
                    break;
                }
            }
        }
        if jobs.is_empty() {
            return None;
        }
        let request = batch.request(api.rest_base(), token);
        Some(self.start(
            Flight::Activities {
                jobs,
                batch,
                token: token.clone(),
            },
            request,
            now.unix_ms(),
        ))
    }

    fn send_association(&mut self, token: &crate::rest::AccessToken, now: Timestamp) -> Option<Transmit> {
        let api = self.rest.api.clone()?;
        while let Some(id) = self.associations.pop_front() {
            let Some(mut job) = self.jobs.remove(&id) else { continue };
            if job.not_before > now {
                let at = job.not_before;
                self.jobs.insert(id, job);
                self.schedule(Work::Job(id), at, now);
                continue;
            }
            let (Operation::RestSyncLead { cookie: Some(cookie), .. }, Some(lead_id)) = (&job.operation, job.lead_id) else {
                continue;
            };
            let request = associate_request(api.rest_base(), lead_id, cookie, token);
            job.attempts += 1;
            let flight = Flight::One {
                work: Work::Job(id),
                job: Box::new(job),
                prev_start: None,
                token: Some(token.clone()),
            };
            return Some(self.start(flight, request, now.unix_ms()));
        }
        None
    }

    /// The answer to an Associate Lead call: the sync stands whatever it says.
    pub(super) fn associated(&mut self, job: &mut Job, token: &crate::rest::AccessToken, response: &Response, now: Timestamp) -> Next {
        let error = match read_associate(response) {
            Ok(reply) => {
                job.association = Some(match reply.value {
                    AssociateOutcome::Associated => Association::Associated,
                    AssociateOutcome::InvalidCookie(f) => Association::Failed {
                        reason: f.to_string(),
                        code: f.code,
                    },
                });
                return Next::Done(self.delivered(job));
            }
            Err(e) => e,
        };
        self.reauth_if_needed(&error, token);
        match self.on_error(job, &error, now) {
            Next::Done(Delivery::Failed { reason, code, .. }) => {
                job.association = Some(Association::Failed { reason, code });
                Next::Done(self.delivered(job))
            }
            other => other,
        }
    }

    fn reauth_if_needed(&mut self, error: &Error, token: &crate::rest::AccessToken) {
        if error.retry() == Some(Retry::Reauthenticate)
            && let Some(holder) = self.rest.holder.as_mut()
        {
            holder.invalidate(token);
        }
    }

    /// Answers (or transport errors) to REST batch, lookup and token calls.
    pub(super) fn rest_response(&mut self, flight: Flight, response: Result<&Response, &str>, now: Timestamp) {
        match flight {
            Flight::Token => self.token_answered(response, now),
            Flight::Leads { keys, jobs, batch, token } => {
                let reply = response
                    .map_err(transport)
                    .and_then(|r| batch.read_response(r).map_err(Failure::Answer));
                let records = self.request_level(reply, &token);
                for (i, (key, mut job)) in keys.into_iter().zip(jobs).enumerate() {
                    let next = match &records {
                        Err(failure) => self.failed_call(&mut job, failure, now),
                        Ok(records) => match records.get(i) {
                            Some(record) => self.lead_record(&mut job, record, now),
                            None => self.failed_call(&mut job, &Failure::Transport("no result for the record".into()), now),
                        },
                    };
                    self.finish_lead(key, job, next, now);
                }
            }
            Flight::Activities { jobs, batch, token } => {
                let reply = response
                    .map_err(transport)
                    .and_then(|r| batch.read_response(r).map_err(Failure::Answer));
                let records = self.request_level(reply, &token);
                for (i, mut job) in jobs.into_iter().enumerate() {
                    let next = match &records {
                        Err(failure) => self.failed_call(&mut job, failure, now),
                        Ok(records) => match records.get(i) {
                            Some(record) if record.is_success() => Next::Done(self.delivered(&job)),
                            Some(record) => self.record_failed(&mut job, record, now),
                            None => self.failed_call(&mut job, &Failure::Transport("no result for the record".into()), now),
                        },
                    };
                    self.complete_one(Work::Job(u64::MAX), job, None, next, now);
                }
            }
            Flight::Lookup { keys, lookup, token } => {
                let reply = response
                    .map_err(transport)
                    .and_then(|r| lookup.read_response(r).map_err(Failure::Answer));
                match self.request_level(reply, &token) {
                    Ok(ids) => {
                        for (key, id) in keys.into_iter().zip(ids) {
                            self.rest.looking.remove(&key);
                            self.rest.lookup_attempts.remove(&key);
                            if let Some(id) = id {
                                self.rest.remember(key.clone(), id);
                            }
                            self.release_waiting(&key, id, now);
                        }
                    }
                    Err(failure) => {
                        for key in keys {
                            self.lookup_failed(key, &failure, now);
                        }
                    }
                }
            }
            Flight::One { .. } => {}
        }
    }

    /// Turns a call's reply into its records, or the failure shared by every record; a 601/602
    /// invalidates the token that was used.
    fn request_level<T>(&mut self, reply: Result<crate::rest::Reply<T>, Failure>, token: &crate::rest::AccessToken) -> Result<T, Failure> {
        match reply {
            Ok(reply) => Ok(reply.value),
            Err(Failure::Answer(e)) => {
                self.reauth_if_needed(&e, token);
                Err(Failure::Answer(e))
            }
            Err(other) => Err(other),
        }
    }

    fn failed_call(&mut self, job: &mut Job, failure: &Failure, now: Timestamp) -> Next {
        match failure {
            Failure::Answer(e) => self.on_error(job, e, now),
            Failure::Transport(reason) => self.backoff(job, now, &format!("transport error: {reason}"), ErrorKind::UnexpectedResponse),
        }
    }

    /// One Sync Leads record's result.
    fn lead_record(&mut self, job: &mut Job, record: &RecordOutcome, now: Timestamp) -> Next {
        match record {
            RecordOutcome::Created { id } | RecordOutcome::Updated { id } => {
                job.lead_id = Some(*id);
                job.status = Some(if matches!(record, RecordOutcome::Created { .. }) {
                    SyncStatus::Created
                } else {
                    SyncStatus::Updated
                });
                if let Operation::RestSyncLead { input, .. } = &job.operation {
                    for key in record_keys(input) {
                        self.rest.remember(key, *id);
                    }
                }
                Next::Done(self.delivered(job))
            }
            _ => self.record_failed(job, record, now),
        }
    }

    /// A skipped record: drop the fields Marketo does not know and resend, else per its reason.
    fn record_failed(&mut self, job: &mut Job, record: &RecordOutcome, now: Timestamp) -> Next {
        let unknown: Vec<String> = record.unknown_fields().into_iter().map(str::to_owned).collect();
        if !unknown.is_empty() && !job.strip(&unknown).is_empty() {
            return Next::Retry {
                at: now,
                restore_lock: true,
                counts_attempt: false,
            };
        }
        match record.error() {
            Some(e) => self.on_error(job, &e, now),
            None => Next::Done(Delivery::Failed {
                kind: ErrorKind::UnexpectedResponse,
                reason: "the record was not taken".into(),
                code: None,
            }),
        }
    }

    /// Ends a REST sync: with a cookie and a lead id, the message goes on to Associate Lead.
    fn finish_lead(&mut self, key: String, mut job: Job, next: Next, now: Timestamp) {
        let associate = matches!(&job.operation, Operation::RestSyncLead { cookie: Some(_), .. }) && job.lead_id.is_some();
        match next {
            Next::Done(Delivery::Delivered { .. }) if associate => {
                if let Operation::RestSyncLead { input, .. } = &job.operation {
                    let input = input.clone();
                    self.rest.syncing(&input, -1);
                    self.wake_waiting_activities(&input, now);
                }
                self.release_lead(&key, None, now);
                job.not_before = now;
                let id = self.add_job(job);
                self.schedule(Work::Job(id), now, now);
            }
            next => self.complete_one(Work::Lead(key), job, None, next, now),
        }
    }

    fn lookup_failed(&mut self, key: String, failure: &Failure, now: Timestamp) {
        let attempts = {
            let n = self.rest.lookup_attempts.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        let (retry, error) = match failure {
            Failure::Answer(e) => (e.retry(), Some(e)),
            Failure::Transport(_) => (Some(Retry::Backoff), None),
        };
        let give_up = retry.is_none() || attempts >= self.config.max_attempts;
        if give_up {
            self.rest.looking.remove(&key);
            self.rest.lookup_attempts.remove(&key);
            let e = match (error, failure) {
                (Some(e), _) => Error::Marketo(
                    e.fault()
                        .cloned()
                        .unwrap_or_else(|| crate::fault::Fault::new(crate::fault::Api::Rest, None, e.to_string(), "")),
                ),
                (None, Failure::Transport(reason)) => Error::unexpected(0, format!("lead lookup failed in transport: {reason}"), b""),
                _ => Error::unexpected(0, "lead lookup failed", b""),
            };
            return self.fail_waiting(&key, &e);
        }
        let at = match retry {
            Some(Retry::Throttle) => {
                self.throttle(now);
                now
            }
            Some(Retry::AfterQuotaReset) => {
                let until = now.next_us_central_midnight();
                self.rest.quota_until = self.rest.quota_until.max(until.unix_ms());
                until
            }
            Some(Retry::Reauthenticate) => now,
            _ => now.plus_ms(
                ms(self.config.backoff_base)
                    .saturating_mul(1 << attempts.min(16))
                    .min(ms(self.config.backoff_max)),
            ),
        };
        self.schedule(Work::Lookup(key), at, now);
    }

    fn token_answered(&mut self, response: Result<&Response, &str>, now: Timestamp) {
        let Some(holder) = self.rest.holder.as_mut() else { return };
        let error = match response {
            Ok(r) => match holder.handle_token_response(r, now) {
                Ok(()) => {
                    self.rest.token_failures = 0;
                    return;
                }
                Err(e) => Some(e),
            },
            Err(_) => None,
        };
        holder.handle_token_failure();
        self.rest.token_failures += 1;
        let pause = ms(self.config.backoff_base)
            .saturating_mul(1 << self.rest.token_failures.min(16))
            .min(ms(self.config.backoff_max));
        self.rest.token_retry_at = now.unix_ms() + pause;
        if let Some(e) = error.filter(|e| e.retry().is_none()) {
            self.fail_all_rest(&e, now);
        }
    }

    /// The credentials are refused: every REST message waiting for a token fails with the reason.
    fn fail_all_rest(&mut self, error: &Error, now: Timestamp) {
        let code = error.fault().and_then(|f| f.code);
        let failed = || Delivery::Failed {
            kind: error.kind(),
            reason: format!("no access token: {error}"),
            code,
        };
        for key in std::mem::take(&mut self.rest_leads) {
            let job = self.leads.get_mut(&key).and_then(|s| s.pending.take());
            if let Some(job) = job {
                self.complete_one(Work::Lead(key), job, None, Next::Done(failed()), now);
            }
        }
        let ids: Vec<u64> = self.activities.drain(..).chain(self.associations.drain(..)).collect();
        for id in ids {
            if let Some(mut job) = self.jobs.remove(&id) {
                let delivery = if job.lead_id.is_some() && matches!(job.operation, Operation::RestSyncLead { .. }) {
                    job.association = Some(Association::Failed {
                        reason: format!("no access token: {error}"),
                        code,
                    });
                    self.delivered(&job)
                } else {
                    failed()
                };
                self.finish_job(job, delivery);
            }
        }
        for key in std::mem::take(&mut self.rest.lookups) {
            self.rest.looking.remove(&key);
            self.fail_waiting(&key, error);
        }
    }
}

/// Why a REST call gave no records.
#[derive(Debug)]
pub(super) enum Failure {
    /// Marketo (or something in between) answered, with this error.
    Answer(Error),
    /// The transport failed.
    Transport(String),
}

fn transport(reason: &str) -> Failure {
    Failure::Transport(reason.to_owned())
}
