//! A unit of delivery work: one operation, the messages waiting on it, and its retry state.

use std::collections::HashMap;

use super::{Association, Ticket};
use crate::plan::{Operation, Warning};
use crate::soap::{Attribute, SyncStatus};
use crate::time::Timestamp;

/// A pushed message waiting for its outcome.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) ticket: Ticket,
    pub(super) message_id: Option<String>,
    pub(super) warnings: Vec<Warning>,
}

/// One operation and everything the outbox knows about it.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) operation: Operation,
    pub(super) entries: Vec<Entry>,
    /// SOAP attribute name -> index, built on the first merge.
    index: HashMap<String, usize>,
    pub(super) dropped: Vec<String>,
    pub(super) attempts: u32,
    pub(super) resigns: u32,
    /// Fresh tokens fetched for this job after 601/602; one is allowed.
    pub(super) reauths: u32,
    pub(super) first_pushed: Timestamp,
    pub(super) not_before: Timestamp,
    pub(super) last_code: Option<u32>,
    /// REST: the lead id, once known (from the sync, the cache or a lookup).
    pub(super) lead_id: Option<i64>,
    /// REST: CREATED / UPDATED from the sync.
    pub(super) status: Option<SyncStatus>,
    /// REST: the association's result, once tried.
    pub(super) association: Option<Association>,
}

impl Job {
    pub(super) fn new(operation: Operation, entry: Entry, now: Timestamp) -> Job {
        Job {
            operation,
            entries: vec![entry],
            index: HashMap::new(),
            dropped: Vec::new(),
            attempts: 0,
            resigns: 0,
            reauths: 0,
            first_pushed: now,
            not_before: now,
            last_code: None,
            lead_id: None,
            status: None,
            association: None,
        }
    }

    /// Merges a later job for the same lead into this one: traits one by one, later wins.
    pub(super) fn absorb(&mut self, later: Job) {
        match (&mut self.operation, later.operation) {
            (Operation::SyncLead(mine), Operation::SyncLead(theirs)) => {
                if self.index.len() != mine.attributes.len() {
                    self.index = mine.attributes.iter().enumerate().map(|(i, a)| (a.name.to_string(), i)).collect();
                }
                mine.email = theirs.email;
                if theirs.cookie.is_some() {
                    mine.cookie = theirs.cookie;
                }
                for attr in theirs.attributes {
                    if self.dropped.iter().any(|d| *d == attr.name) {
                        continue;
                    }
                    match self.index.get(attr.name.as_ref()) {
                        Some(&i) => mine.attributes[i].value = attr.value,
                        None => {
                            self.index.insert(attr.name.to_string(), mine.attributes.len());
                            mine.attributes.push(attr);
                        }
                    }
                }
            }
            (
                Operation::RestSyncLead { input, cookie },
                Operation::RestSyncLead {
                    input: later_input,
                    cookie: later_cookie,
                },
            ) => {
                let mut later_input = later_input;
                later_input.remove_fields(&self.dropped);
                input.absorb(later_input);
                if later_cookie.is_some() {
                    *cookie = later_cookie;
                }
            }
            _ => return,
        }
        self.entries.extend(later.entries);
        self.first_pushed = self.first_pushed.min(later.first_pushed);
    }

    /// Removes the fields Marketo named as unknown; returns those actually removed.
    pub(super) fn strip(&mut self, unknown: &[String]) -> Vec<String> {
        let removed = match &mut self.operation {
            Operation::SyncLead(lead) => {
                let before: Vec<Attribute<'static>> = std::mem::take(&mut lead.attributes);
                let mut removed: Vec<String> = Vec::new();
                for attr in before {
                    if unknown.iter().any(|u| u.eq_ignore_ascii_case(&attr.name)) {
                        if !removed.iter().any(|r| *r == attr.name) {
                            removed.push(attr.name.to_string());
                        }
                    } else {
                        lead.attributes.push(attr);
                    }
                }
                self.index.clear();
                removed
            }
            Operation::RestSyncLead { input, .. } => input.remove_fields(unknown),
            _ => Vec::new(),
        };
        self.dropped.extend(removed.iter().cloned());
        removed
    }
}
