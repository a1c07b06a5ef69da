//! A sans-IO outbox that delivers messages to Marketo without losing any to its lock, rate and
//! quota limits, in the style of quinn-proto: the caller pushes messages and passes time in, the
//! outbox says what to send and when to wake up, the caller reports each response.
//!
//! ```text
//! push(msg, now) ─▶ poll_transmit(now) ─▶ caller sends ─▶ handle_response(tag, resp, now)
//!                   poll_timeout()      ◀─ caller sleeps until then, or until a response arrives
//!                   poll_outcome()      ─▶ one terminal outcome per pushed message
//! ```
//!
//! Rules (issue #3; limits from [`Config`], defaults Marketo's):
//! - per lead (cookie token, else email): one `syncLead` in flight, at least `lead_lock` between
//!   the starts of two syncs; identifies for a lead that is waiting are merged trait by trait,
//!   later message wins, and every merged message gets its own outcome;
//! - at most `rate_limit` starts per sliding `rate_window` and `max_in_flight` in flight, counting
//!   every request (SOAP and beacon) against the instance;
//! - 20016: sign again and resend at once (at most `max_resigns`); 20023/20024: pause everything;
//!   "Exceeded lock attempts": retry after the lead's lock; 20015 / REST 607: hold everything until
//!   the next 12:00 AM US Central (fixed UTC-6, see [`crate::time::US_CENTRAL_OFFSET_MINUTES`]);
//!   20105: remove exactly the fields Marketo names, resend, report them as dropped; transport
//!   errors and 5xx without a fault: exponential backoff with deterministic jitter, capped attempts
//!   and age; permanent faults fail at once.
//! - A request Marketo refused before processing it (signature, throttle, quota, unknown fields)
//!   does not hold the lead's lock; one that may have been processed (lock fault, 5xx, transport
//!   error) does.
//!
//! REST ([`crate::destination::RestDestination`], issue #4): identifies for different leads are
//! batched into one Sync Leads call (at most 300 records, under 1 MB) and each record's result goes
//! back to its messages; one access token is fetched at a time and refreshed and resent once on
//! 601/602; a cookie is associated once the lead id is known (1012 fails only the association);
//! mapped track events wait for their lead id from a lead-id cache, filled by syncs and by lookups,
//! with one lookup per key however many events wait on it, and are batched into Add Custom
//! Activities calls; 607 holds every REST call until the next US Central midnight while beacons go
//! on. REST syncs of one lead are never in flight together; the 30 s lock spacing is a SOAP rule.
//!
//! Memory: one entry per lead with work pending or a lock still running, one per beacon waiting,
//! and the pushed-but-unfinished messages, which `queue_limit` caps: `push` refuses beyond it
//! instead of dropping anything already accepted. The lead-id cache keeps at most
//! `lead_id_cache` entries.

mod config;
mod job;
mod rest;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

pub use config::Config;
use config::ms;
use job::{Entry, Job};

use crate::cookie::Cookie;
use crate::destination::{Answer, MarketoDestination};
use crate::error::{Error, ErrorKind, MessageRef, Retry};
use crate::event::Message;
use crate::plan::{Operation, OperationPlan, SkipReason, Warning};
use crate::request::{Request, Response};
use crate::soap::SyncStatus;
use crate::soap::lead::email_of;
use crate::time::Timestamp;

/// Names a pushed message; its [`Outcome`] carries the same ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// Names one transmission, to match its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u64);

/// A request to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit {
    /// Report the response with this tag.
    pub tag: Tag,
    /// The request.
    pub request: Request,
}

/// How a message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Marketo accepted it.
    Delivered {
        /// The Marketo lead id, for a sync.
        lead_id: Option<i64>,
        /// CREATED or UPDATED, for a sync.
        status: Option<SyncStatus>,
        /// Fields Marketo did not know (20105), removed before the sync went through.
        dropped_fields: Vec<String>,
        /// How many messages this one was merged with (0 when it went alone).
        merged_with: usize,
        /// REST: what became of associating the message's cookie with the lead, when it had one.
        association: Option<Association>,
    },
    /// Nothing had to be sent.
    Skipped(SkipReason),
    /// It will not be delivered.
    Failed {
        /// What kind of failure.
        kind: ErrorKind,
        /// Why, in a sentence.
        reason: String,
        /// The last Marketo code, when Marketo gave one.
        code: Option<u32>,
    },
}

/// What became of associating a Munchkin cookie with the lead (REST Associate Lead).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Association {
    /// The cookie is associated.
    Associated,
    /// The association failed (1012: invalid cookie, or another permanent error); the lead sync
    /// itself went through.
    Failed {
        /// Why.
        reason: String,
        /// Marketo's code, when given.
        code: Option<u32>,
    },
}

/// The terminal outcome of one pushed message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// The ticket `push` returned.
    pub ticket: Ticket,
    /// The message's `messageId`.
    pub message_id: Option<String>,
    /// How it ended.
    pub delivery: Delivery,
    /// Requests made for it (0 when it never needed one).
    pub attempts: u32,
    /// Warnings from planning.
    pub warnings: Vec<Warning>,
}

/// Counters, for dashboards and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages accepted by `push`.
    pub pushed: u64,
    /// Outcomes: delivered.
    pub delivered: u64,
    /// Outcomes: failed.
    pub failed: u64,
    /// Outcomes: skipped.
    pub skipped: u64,
    /// Messages merged into a sync already pending for their lead.
    pub merged: u64,
    /// Requests sent again (any reason).
    pub retries: u64,
    /// Requests signed again after 20016.
    pub resigns: u64,
    /// Times a daily quota fault started a hold.
    pub quota_holds: u64,
    /// Messages waiting behind the current quota hold (0 when there is none).
    pub held: u64,
    /// Requests in flight.
    pub in_flight: u64,
    /// Messages pushed without an outcome yet.
    pub unresolved: u64,
    /// Requests started (every call counts against Marketo's rate limit).
    pub requests: u64,
    /// REST access tokens fetched.
    pub tokens: u64,
    /// REST lead-id lookups sent.
    pub lookups: u64,
}

/// The partition key of a message: a fleet partitions its stream by it so that one outbox sees
/// every message of a lead (see the README, "Delivering").
///
/// Identify: the email, lower-cased (Marketo matches emails without case; every identify the
/// crate can send has one, and the same person with and without a cookie stays in one partition).
/// Track and page: the `userId`, else the `anonymousId`, else the cookie token: the key a REST
/// activity is looked up by, and what keeps one user's events in order. `None` when the message
/// has none of these (it cannot be delivered anyway).
pub fn lead_key(message: &Message<'_>) -> Option<String> {
    let common = message.common();
    match message {
        Message::Identify(m) => email_of(m).map(str::to_ascii_lowercase),
        _ => common
            .user_id
            .as_deref()
            .or(common.anonymous_id.as_deref())
            .map(str::to_owned)
            .or_else(|| {
                let raw = common.context.marketo_cookie.as_deref()?;
                Cookie::parse(raw).ok().map(|c| c.token.into_owned())
            }),
    }
}

#[derive(Debug, Default)]
struct Lead {
    pending: Option<Job>,
    in_flight: bool,
    last_start: Option<Timestamp>,
    scheduled: bool,
}

/// Work waiting for its time or its turn.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// A lead's pending sync (SOAP or REST: the job says which).
    Lead(String),
    /// A beacon, an activity or an association in `jobs`.
    Job(u64),
    /// Lead-id lookups to retry.
    Lookup(String),
    /// Forget a lead whose lock has run out, if it is idle.
    Expire(String),
}

/// Which queue a ready job waits in: batchable REST work has its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    /// SOAP syncs and beacons, one request each, no token.
    Plain,
    /// REST Sync Leads records (lead keys), batched.
    RestLeads,
    /// REST custom activities with a known lead id, batched.
    Activities,
    /// REST Associate Lead, one request each.
    Associations,
}

#[derive(Debug)]
enum Flight {
    /// One job, one request (SOAP sync, beacon, association).
    One {
        work: Work,
        job: Box<Job>,
        prev_start: Option<Timestamp>,
        token: Option<crate::rest::AccessToken>,
    },
    /// A Sync Leads batch: lead keys and their jobs, in input order.
    Leads {
        keys: Vec<String>,
        jobs: Vec<Job>,
        batch: crate::rest::LeadBatch,
        token: crate::rest::AccessToken,
    },
    /// An Add Custom Activities batch, in input order.
    Activities {
        jobs: Vec<Job>,
        batch: crate::rest::ActivityBatch,
        token: crate::rest::AccessToken,
    },
    /// A lead-id lookup: the cache keys asked, in order.
    Lookup {
        keys: Vec<String>,
        lookup: crate::rest::LeadLookup,
        token: crate::rest::AccessToken,
    },
    /// The access token request.
    Token,
}

/// What to do with a job after its response.
enum Next {
    Done(Delivery),
    /// Back to the queue; `restore_lock` when Marketo refused the request before processing it.
    Retry {
        at: Timestamp,
        restore_lock: bool,
        counts_attempt: bool,
    },
}

/// The outbox. See the module docs.
pub struct Outbox<D: MarketoDestination> {
    destination: D,
    config: Config,
    next_ticket: u64,
    next_tag: u64,
    next_job: u64,
    leads: HashMap<String, Lead>,
    jobs: HashMap<u64, Job>,
    plain: VecDeque<Work>,
    rest_leads: VecDeque<String>,
    activities: VecDeque<u64>,
    associations: VecDeque<u64>,
    delayed: BinaryHeap<Reverse<(i64, u64, Work)>>,
    delayed_seq: u64,
    in_flight: HashMap<u64, Flight>,
    starts: VecDeque<i64>,
    throttle_until: i64,
    throttle_streak: u32,
    soap_quota_until: i64,
    rest: rest::RestState,
    outcomes: VecDeque<Outcome>,
    stats: Stats,
}

impl<D: MarketoDestination> std::fmt::Debug for Outbox<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<D: MarketoDestination> Outbox<D> {
    /// One more attempt of `job`, counted as a retry when it is not its first.
    fn count_attempt(&mut self, job: &mut Job) {
        job.attempts += 1;
        if job.attempts > 1 {
            self.stats.retries += 1;
        }
    }

    /// An outbox planning through `destination`.
    pub fn new(destination: D, config: Config) -> Outbox<D> {
        let rest = rest::RestState::new(destination.rest());
        Outbox {
            destination,
            config,
            next_ticket: 0,
            next_tag: 0,
            next_job: 0,
            leads: HashMap::new(),
            jobs: HashMap::new(),
            plain: VecDeque::new(),
            rest_leads: VecDeque::new(),
            activities: VecDeque::new(),
            associations: VecDeque::new(),
            delayed: BinaryHeap::new(),
            delayed_seq: 0,
            in_flight: HashMap::new(),
            starts: VecDeque::new(),
            throttle_until: i64::MIN,
            throttle_streak: 0,
            soap_quota_until: i64::MIN,
            rest,
            outcomes: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The destination it plans through.
    pub fn destination(&self) -> &D {
        &self.destination
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.in_flight = self.in_flight.len() as u64;
        let holding = self.soap_quota_until > i64::MIN || self.rest.quota_until > i64::MIN;
        s.held = if holding { s.unresolved.saturating_sub(s.in_flight) } else { 0 };
        s
    }

    /// Accepts a message: plans it now and queues its requests. A message that cannot be planned
    /// (bad input) or needs no request ends at once (see [`Outbox::poll_outcome`]). Refuses with
    /// [`Error::QueueFull`] when `queue_limit` messages are unresolved; nothing accepted is dropped.
    pub fn push(&mut self, message: &Message<'_>, now: Timestamp) -> Result<Ticket, Error> {
        if self.stats.unresolved >= self.config.queue_limit as u64 {
            return Err(Error::QueueFull {
                message: MessageRef::new(message.common().message_id.as_deref()),
                limit: self.config.queue_limit,
            });
        }
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        self.stats.pushed += 1;
        self.stats.unresolved += 1;
        let message_id = message.common().message_id.as_deref().map(str::to_owned);
        // The outbox renders each operation when it sends it (signed then, or batched), so the
        // requests of a plan are not written here.
        let plan = self.destination.plan_operations(message, now);
        let mut entry = Entry {
            ticket,
            message_id,
            warnings: Vec::new(),
        };
        match plan {
            Err(e) => {
                let code = e.fault().and_then(|f| f.code);
                self.finish_entry(
                    entry,
                    Delivery::Failed {
                        kind: e.kind(),
                        reason: e.to_string(),
                        code,
                    },
                    0,
                );
            }
            Ok(OperationPlan::Skip(reason)) => self.finish_entry(entry, Delivery::Skipped(reason), 0),
            Ok(OperationPlan::Send { operations, warnings }) => {
                entry.warnings = warnings;
                // Token operations are for display: the outbox manages tokens itself.
                let mut operations: Vec<_> = operations.into_iter().filter(|o| !matches!(o, Operation::Token)).collect();
                let Some(operation) = operations.pop().filter(|_| operations.is_empty()) else {
                    let reason =
                        "the destination planned a number of requests other than one, which this outbox does not support".to_owned();
                    self.finish_entry(
                        entry,
                        Delivery::Failed {
                            kind: ErrorKind::InvalidField,
                            reason,
                            code: None,
                        },
                        0,
                    );
                    return Ok(ticket);
                };
                let job = Job::new(operation, entry, now);
                self.enqueue(job, now);
            }
        }
        Ok(ticket)
    }

    fn enqueue(&mut self, job: Job, now: Timestamp) {
        let key = match &job.operation {
            Operation::SyncLead(lead) => lead.lead_key().to_owned(),
            Operation::RestSyncLead { input, .. } => {
                self.rest.syncing(input, 1);
                rest::lookup_value(input)
            }
            Operation::RestActivity(_) => return self.enqueue_activity(job, now),
            _ => {
                let at = job.not_before;
                let id = self.add_job(job);
                return self.schedule(Work::Job(id), at, now);
            }
        };
        let state = self.leads.entry(key.clone()).or_default();
        match &mut state.pending {
            Some(pending) => {
                if let Operation::RestSyncLead { input, .. } = &job.operation {
                    // The merged record syncs once: count it once.
                    self.rest.syncing(input, -1);
                }
                pending.absorb(job);
                self.stats.merged += 1;
            }
            None => state.pending = Some(job),
        }
        self.schedule_lead(key, now);
    }

    fn add_job(&mut self, job: Job) -> u64 {
        let id = self.next_job;
        self.next_job += 1;
        self.jobs.insert(id, job);
        id
    }

    fn queue_of(&self, work: &Work) -> Queue {
        match work {
            Work::Lead(key) => match self.leads.get(key).and_then(|l| l.pending.as_ref()).map(|j| &j.operation) {
                Some(Operation::RestSyncLead { .. }) => Queue::RestLeads,
                _ => Queue::Plain,
            },
            Work::Job(id) => match self.jobs.get(id).map(|j| &j.operation) {
                Some(Operation::RestActivity(_)) => Queue::Activities,
                Some(Operation::RestSyncLead { .. }) => Queue::Associations,
                _ => Queue::Plain,
            },
            _ => Queue::Plain,
        }
    }

    fn schedule(&mut self, work: Work, at: Timestamp, now: Timestamp) {
        if at > now {
            self.delayed_seq += 1;
            self.delayed.push(Reverse((at.unix_ms(), self.delayed_seq, work)));
            return;
        }
        match (self.queue_of(&work), work) {
            (Queue::RestLeads, Work::Lead(key)) => self.rest_leads.push_back(key),
            (Queue::Activities, Work::Job(id)) => self.activities.push_back(id),
            (Queue::Associations, Work::Job(id)) => self.associations.push_back(id),
            (_, Work::Lookup(key)) => self.rest.lookups.push_back(key),
            (_, work) => self.plain.push_back(work),
        }
    }

    fn lead_ready_at(&self, state: &Lead) -> Timestamp {
        // The lock spacing is Marketo's SOAP rule; REST syncs of a lead only never overlap.
        let soap = matches!(state.pending.as_ref().map(|j| &j.operation), Some(Operation::SyncLead(_)));
        let lock = state.last_start.filter(|_| soap).map(|t| t.plus_ms(ms(self.config.lead_lock)));
        let mut at = state.pending.as_ref().map_or(Timestamp::from_unix_ms(i64::MIN), |j| j.not_before);
        if let Some(lock) = lock {
            at = at.max(lock);
        }
        if soap {
            at = at.max(Timestamp::from_unix_ms(self.soap_quota_until));
        }
        at
    }

    fn schedule_lead(&mut self, key: String, now: Timestamp) {
        let Some(state) = self.leads.get(&key) else { return };
        if state.scheduled || state.in_flight || state.pending.is_none() {
            return;
        }
        let at = self.lead_ready_at(state);
        if let Some(state) = self.leads.get_mut(&key) {
            state.scheduled = true;
        }
        self.schedule(Work::Lead(key), at, now);
    }

    /// Whether a new request may start at `now` under the instance-wide limits.
    fn may_start(&mut self, t: i64) -> bool {
        if self.throttle_until > t || self.in_flight.len() >= self.config.max_in_flight {
            return false;
        }
        let window = ms(self.config.rate_window);
        while self.starts.front().is_some_and(|&s| s + window <= t) {
            self.starts.pop_front();
        }
        self.config.rate_limit > 0 && self.starts.len() < self.config.rate_limit
    }

    fn start(&mut self, flight: Flight, request: Request, t: i64) -> Transmit {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.starts.push_back(t);
        self.stats.requests += 1;
        self.in_flight.insert(tag, flight);
        Transmit { tag: Tag(tag), request }
    }

    /// The next request that may go out at `now`, or `None`.
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Transmit> {
        let t = now.unix_ms();
        while let Some(Reverse((at, _, _))) = self.delayed.peek() {
            if *at > t {
                break;
            }
            if let Some(Reverse((_, _, work))) = self.delayed.pop() {
                match work {
                    Work::Expire(key) => self.expire(&key, now),
                    Work::Lead(key) => {
                        // Re-check: it may have been merged or sent meanwhile.
                        if let Some(s) = self.leads.get_mut(&key) {
                            s.scheduled = false;
                        }
                        self.schedule_lead(key, now);
                    }
                    work => self.schedule(work, now, now),
                }
            }
        }
        if self.soap_quota_until > i64::MIN && self.soap_quota_until <= t {
            self.soap_quota_until = i64::MIN; // the hold is over
        }
        if !self.may_start(t) {
            return None;
        }
        if let Some(tx) = self.poll_plain(now) {
            return Some(tx);
        }
        self.poll_rest(now)
    }

    /// SOAP syncs and beacons.
    fn poll_plain(&mut self, now: Timestamp) -> Option<Transmit> {
        let t = now.unix_ms();
        while let Some(work) = self.plain.pop_front() {
            let (job, prev_start) = match &work {
                Work::Lead(key) => {
                    let Some(state) = self.leads.get(key) else { continue };
                    let at = self.lead_ready_at(state);
                    if state.in_flight || state.pending.is_none() {
                        if let Some(s) = self.leads.get_mut(key) {
                            s.scheduled = false;
                        }
                        continue;
                    }
                    if at > now {
                        self.schedule(work, at, now);
                        continue;
                    }
                    let Some(state) = self.leads.get_mut(key) else { continue };
                    let prev = state.last_start.replace(now);
                    state.in_flight = true;
                    state.scheduled = false;
                    let Some(job) = state.pending.take() else { continue };
                    (job, prev)
                }
                Work::Job(id) => {
                    let Some(job) = self.jobs.remove(id) else { continue };
                    (job, None)
                }
                _ => continue,
            };
            match self.destination.render(&job.operation, now) {
                Ok(request) => {
                    let mut job = job;
                    self.count_attempt(&mut job);
                    return Some(self.start(
                        Flight::One {
                            work,
                            job: Box::new(job),
                            prev_start,
                            token: None,
                        },
                        request,
                        t,
                    ));
                }
                Err(e) => {
                    let code = e.fault().and_then(|f| f.code);
                    let delivery = Delivery::Failed {
                        kind: e.kind(),
                        reason: e.to_string(),
                        code,
                    };
                    self.complete_one(work, job, prev_start, Next::Done(delivery), now);
                }
            }
        }
        None
    }

    /// When to call [`Outbox::poll_transmit`] again if no response arrives first; `None` when
    /// nothing is waiting on time.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let mut next = self.delayed.peek().map(|Reverse((at, _, _))| *at);
        let rest_ready = self.rest.has_ready_work(self);
        if (!self.plain.is_empty() || rest_ready) && self.in_flight.len() < self.config.max_in_flight {
            let mut gate = self.throttle_until;
            if self.starts.len() >= self.config.rate_limit
                && let Some(&first) = self.starts.get(self.starts.len() - self.config.rate_limit)
            {
                gate = gate.max(first + ms(self.config.rate_window));
            }
            if rest_ready && self.plain.is_empty() {
                gate = gate.max(self.rest.gate());
            }
            next = Some(next.map_or(gate, |n| n.min(gate)));
        }
        next.map(|t| Timestamp::from_unix_ms(t.max(i64::MIN + 1)))
    }

    /// The next terminal outcome, or `None`.
    pub fn poll_outcome(&mut self) -> Option<Outcome> {
        self.outcomes.pop_front()
    }

    /// Reports the response to a transmission. Returns `false` when the tag is not in flight
    /// (already reported, or never issued), which changes nothing.
    pub fn handle_response(&mut self, tag: Tag, response: &Response, now: Timestamp) -> bool {
        let Some(flight) = self.in_flight.remove(&tag.0) else {
            return false;
        };
        match flight {
            Flight::One {
                work,
                mut job,
                prev_start,
                token,
            } => {
                let next = match (&job.operation, token) {
                    (Operation::RestSyncLead { .. }, Some(token)) => self.associated(&mut job, &token, response, now),
                    _ => self.answered_one(&mut job, response, now),
                };
                self.complete_one(work, *job, prev_start, next, now);
            }
            other => self.rest_response(other, Ok(response), now),
        }
        true
    }

    /// Reports that a transmission failed in transport (connection refused or dropped, timeout).
    /// Returns `false` when the tag is not in flight.
    pub fn handle_transport_error(&mut self, tag: Tag, error: &str, now: Timestamp) -> bool {
        let Some(flight) = self.in_flight.remove(&tag.0) else {
            return false;
        };
        match flight {
            Flight::One { work, job, prev_start, .. } => {
                let next = self.backoff(&job, now, &format!("transport error: {error}"), ErrorKind::UnexpectedResponse);
                self.complete_one(work, *job, prev_start, next, now);
            }
            other => self.rest_response(other, Err(error), now),
        }
        true
    }

    /// The answer to a SOAP sync or a beacon.
    fn answered_one(&mut self, job: &mut Job, response: &Response, now: Timestamp) -> Next {
        match self.destination.read_response(&job.operation, response) {
            Ok(Answer::SyncLead(result)) => match result.status {
                SyncStatus::Failed { error } => Next::Done(Delivery::Failed {
                    kind: ErrorKind::MarketoFault,
                    reason: format!("Marketo reported the sync FAILED: {error}"),
                    code: None,
                }),
                status => {
                    job.lead_id = result.lead_id;
                    job.status = Some(status);
                    Next::Done(self.delivered(job))
                }
            },
            Ok(_) => Next::Done(self.delivered(job)),
            Err(e) => self.on_error(job, &e, now),
        }
    }

    fn delivered(&self, job: &Job) -> Delivery {
        Delivery::Delivered {
            lead_id: job.lead_id,
            status: job.status.clone(),
            dropped_fields: job.dropped.clone(),
            merged_with: job.entries.len().saturating_sub(1),
            association: job.association.clone(),
        }
    }

    fn on_error(&mut self, job: &mut Job, error: &Error, now: Timestamp) -> Next {
        let code = error.fault().and_then(|f| f.code);
        if code.is_some() {
            job.last_code = code;
        }
        let retry = error.retry();
        if retry != Some(Retry::Throttle) {
            self.throttle_streak = 0;
        }
        let failed = |reason: String| {
            Next::Done(Delivery::Failed {
                kind: error.kind(),
                reason,
                code,
            })
        };
        match retry {
            Some(Retry::Resign) if job.resigns < self.config.max_resigns => {
                job.resigns += 1;
                self.stats.resigns += 1;
                Next::Retry {
                    at: now,
                    restore_lock: true,
                    counts_attempt: false,
                }
            }
            Some(Retry::Resign) => failed(format!("{error} (signed again {} times)", job.resigns)),
            Some(Retry::Throttle) => {
                self.throttle(now);
                Next::Retry {
                    at: now,
                    restore_lock: true,
                    counts_attempt: false,
                }
            }
            Some(Retry::AfterQuotaReset) => {
                let until = now.next_us_central_midnight();
                let rest = error.fault().is_some_and(|f| f.api == crate::fault::Api::Rest);
                let hold = if rest {
                    &mut self.rest.quota_until
                } else {
                    &mut self.soap_quota_until
                };
                if *hold <= now.unix_ms() {
                    self.stats.quota_holds += 1;
                }
                *hold = (*hold).max(until.unix_ms());
                Next::Retry {
                    at: until,
                    restore_lock: true,
                    counts_attempt: false,
                }
            }
            Some(Retry::AfterLeadLock) => {
                if job.attempts >= self.config.max_attempts {
                    return failed(format!("{error} after {} attempts", job.attempts));
                }
                Next::Retry {
                    at: now.plus_ms(ms(self.config.lead_lock)),
                    restore_lock: false,
                    counts_attempt: true,
                }
            }
            Some(Retry::Reauthenticate) => {
                // The token was invalidated by the caller of on_error; resend once with a new one.
                job.reauths += 1;
                if job.reauths > 1 {
                    return failed(format!("{error} (again with a fresh token)"));
                }
                Next::Retry {
                    at: now,
                    restore_lock: true,
                    counts_attempt: false,
                }
            }
            Some(_) => self.backoff(job, now, &error.to_string(), error.kind()),
            None => match error.fault() {
                Some(fault) if fault.code == Some(20105) && !fault.unknown_fields.is_empty() => {
                    if job.strip(&fault.unknown_fields).is_empty() {
                        // Marketo named fields this sync does not have: resending cannot help.
                        return failed(error.to_string());
                    }
                    Next::Retry {
                        at: now,
                        restore_lock: true,
                        counts_attempt: false,
                    }
                }
                _ => failed(error.to_string()),
            },
        }
    }

    /// A rate or concurrency fault: pause every start, longer while they repeat.
    fn throttle(&mut self, now: Timestamp) {
        let pause = ms(self.config.throttle_pause).saturating_mul(1 << self.throttle_streak.min(16));
        let pause = pause.min(ms(self.config.rate_window).max(1));
        self.throttle_streak += 1;
        self.throttle_until = self.throttle_until.max(now.unix_ms() + pause);
    }

    fn backoff(&self, job: &Job, now: Timestamp, reason: &str, kind: ErrorKind) -> Next {
        let age = now.ms_since(job.first_pushed);
        if job.attempts >= self.config.max_attempts || age >= ms(self.config.max_age) {
            return Next::Done(Delivery::Failed {
                kind,
                reason: format!("{reason} (gave up after {} attempts over {} s)", job.attempts, age / 1000),
                code: job.last_code,
            });
        }
        let exp = ms(self.config.backoff_base).saturating_mul(1i64 << (job.attempts.saturating_sub(1)).min(30));
        let capped = exp.min(ms(self.config.backoff_max));
        // Deterministic jitter in [50 %, 100 %] of the delay.
        let seed = self.config.jitter_seed
            ^ job.entries.first().map_or(0, |e| e.ticket.0).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(job.attempts);
        let fraction = 500 + (splitmix(seed) % 501) as i64;
        Next::Retry {
            at: now.plus_ms(capped * fraction / 1000),
            restore_lock: false,
            counts_attempt: true,
        }
    }

    /// Finishes or requeues a single-request job.
    fn complete_one(&mut self, work: Work, mut job: Job, prev_start: Option<Timestamp>, next: Next, now: Timestamp) {
        match next {
            Next::Done(delivery) => {
                if let (Work::Lead(_), Operation::RestSyncLead { input, .. }) = (&work, &job.operation) {
                    let input = input.clone();
                    self.rest.syncing(&input, -1);
                    self.wake_waiting_activities(&input, now);
                }
                self.finish_job(job, delivery);
                if let Work::Lead(key) = &work {
                    self.release_lead(key, None, now);
                }
            }
            Next::Retry {
                at,
                restore_lock,
                counts_attempt,
            } => {
                if !counts_attempt {
                    job.attempts = job.attempts.saturating_sub(1);
                }
                job.not_before = at;
                match work {
                    Work::Lead(key) => self.release_lead(&key, Some((job, restore_lock.then_some(prev_start))), now),
                    _ => {
                        let id = self.add_job(job);
                        self.schedule(Work::Job(id), at, now);
                    }
                }
            }
        }
    }

    fn finish_job(&mut self, mut job: Job, delivery: Delivery) {
        let attempts = job.attempts;
        for entry in std::mem::take(&mut job.entries) {
            self.finish_entry(entry, delivery.clone(), attempts);
        }
    }

    /// Ends a lead's flight. `retry` puts the job back (older than anything pending, so pending
    /// traits win), restoring the previous lock start when Marketo did not process the request.
    fn release_lead(&mut self, key: &str, retry: Option<(Job, Option<Option<Timestamp>>)>, now: Timestamp) {
        let Some(state) = self.leads.get_mut(key) else { return };
        state.in_flight = false;
        if let Some((mut job, restore)) = retry {
            if let Some(prev) = restore {
                state.last_start = prev;
            }
            if let Some(newer) = state.pending.take() {
                if let Operation::RestSyncLead { input, .. } = &newer.operation {
                    self.rest.syncing(input, -1);
                }
                job.absorb(newer);
            }
            state.pending = Some(job);
        }
        let soap = matches!(state.pending.as_ref().map(|j| &j.operation), Some(Operation::SyncLead(_)) | None);
        let expire_at = if soap {
            state.last_start.map(|t| t.plus_ms(ms(self.config.lead_lock)))
        } else {
            Some(now)
        };
        self.schedule_lead(key.to_owned(), now);
        if let Some(at) = expire_at {
            self.delayed_seq += 1;
            self.delayed
                .push(Reverse((at.unix_ms(), self.delayed_seq, Work::Expire(key.to_owned()))));
        }
    }

    fn expire(&mut self, key: &str, now: Timestamp) {
        let lock = ms(self.config.lead_lock);
        if let Some(state) = self.leads.get(key) {
            let lock_over = state.last_start.is_none_or(|t| t.plus_ms(lock) <= now);
            if !state.in_flight && state.pending.is_none() && lock_over {
                self.leads.remove(key);
            }
        }
    }

    fn finish_entry(&mut self, entry: Entry, delivery: Delivery, attempts: u32) {
        match &delivery {
            Delivery::Delivered { .. } => self.stats.delivered += 1,
            Delivery::Skipped(_) => self.stats.skipped += 1,
            Delivery::Failed { .. } => self.stats.failed += 1,
        }
        self.stats.unresolved = self.stats.unresolved.saturating_sub(1);
        self.outcomes.push_back(Outcome {
            ticket: entry.ticket,
            message_id: entry.message_id,
            delivery,
            attempts,
            warnings: entry.warnings,
        });
    }

    /// Leads currently tracked (pending work or a lock still running): the outbox's memory grows
    /// with this and with unresolved messages, nothing else.
    pub fn tracked_leads(&self) -> usize {
        self.leads.len()
    }

    /// Whether nothing is pending, in flight or waiting to be polled.
    pub fn is_idle(&self) -> bool {
        self.stats.unresolved == 0 && self.outcomes.is_empty()
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_keys() {
        let key = |j: &str| lead_key(&Message::from_json(j).unwrap());
        let cookie = r#""context":{"Marketo":{"marketoCookie":"id:561-HYG-937&token:_mch-a.com-1374552656411-00001"}}"#;
        assert_eq!(
            key(&format!(r#"{{"type":"identify","traits":{{"email":"A@B.co"}},{cookie}}}"#)),
            Some("a@b.co".into())
        );
        assert_eq!(key(r#"{"type":"identify","userId":"x@y.co"}"#), Some("x@y.co".into()));
        assert_eq!(key(r#"{"type":"identify","userId":"u1"}"#), None);
        assert_eq!(
            key(r#"{"type":"track","userId":"u1","anonymousId":"a","event":"E"}"#),
            Some("u1".into())
        );
        assert_eq!(
            key(&format!(r#"{{"type":"page",{cookie}}}"#)),
            Some("_mch-a.com-1374552656411-00001".into())
        );
    }
}
