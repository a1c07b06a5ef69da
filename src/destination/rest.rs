//! [`RestDestination`]: the live path. identify -> REST Sync Leads (and Associate Lead for a
//! cookie), mapped track events -> custom activities, other track and page events -> the Munchkin
//! beacon when there is a visitor, else skipped with a reason.
//!
//! A plan shows the requests that can be built before Marketo answers: the token request first,
//! then the sync (a one-record batch) or, for an activity, the lead lookup. Their `Authorization`
//! carries a placeholder token; the delivery outbox batches, authenticates, looks lead ids up and
//! associates through [`MarketoDestination::rest`].

use super::{Answer, MarketoDestination, not_mine, read_beacon};
use crate::cookie::Cookie;
use crate::error::Error;
use crate::event::{Common, Identify, Message, Page, Track};
use crate::munchkin::beacon::Beacons;
use crate::plan::{Operation, OperationPlan, Plan, SkipReason, Step, Warning};
use crate::request::{Request, Response};
use crate::rest::{AccessToken, RestApi, TokenState};
use crate::settings::Settings;
use crate::time::Timestamp;

/// The token placeholder in planned requests (the outbox puts a real token in).
pub const TOKEN_PLACEHOLDER: &str = "{access_token}";

/// The REST implementation of [`MarketoDestination`].
#[derive(Debug, Clone)]
pub struct RestDestination {
    api: RestApi,
    beacons: Beacons,
}

impl RestDestination {
    /// Validates the settings ([`Settings::validate_rest`]).
    pub fn new(settings: &Settings) -> Result<RestDestination, Error> {
        Ok(RestDestination {
            api: RestApi::new(settings)?,
            beacons: Beacons::new(settings)?,
        })
    }

    /// The REST API pieces.
    pub fn api(&self) -> &RestApi {
        &self.api
    }

    /// The beacon planner for track and page, whose `write_track` / `write_page` write a
    /// beacon URL into a caller's buffer (the hot path of [`MarketoDestination::track`] and
    /// [`MarketoDestination::page`]).
    pub fn beacons(&self) -> &Beacons {
        &self.beacons
    }

    fn token_step(&self, now: Timestamp) -> Option<Step> {
        match self.api.token_holder().token(now) {
            TokenState::Fetch(request) => Some(Step {
                operation: Operation::Token,
                request,
            }),
            _ => None,
        }
    }

    fn placeholder() -> AccessToken {
        AccessToken::new(TOKEN_PLACEHOLDER)
    }

    fn send(&self, now: Timestamp, step: Step, warnings: Vec<Warning>) -> Plan {
        Plan::Send {
            steps: self.token_step(now).into_iter().chain([step]).collect(),
            warnings,
        }
    }

    /// A beacon when the message has a visitor; `NoVisitor` otherwise.
    fn beacon_or_skip(&self, common: &Common<'_>, kind: &'static str, plan: impl FnOnce() -> Result<Plan, Error>) -> Result<Plan, Error> {
        let has_user = common.user_id.as_deref().is_some_and(|u| !u.is_empty());
        let anonymous_ok = self.api.track_anonymous_activity() && common.anonymous_id.as_deref().is_some_and(|a| !a.is_empty());
        if common.context.marketo_cookie.is_some() || has_user || anonymous_ok {
            plan()
        } else {
            Ok(Plan::Skip(SkipReason::NoVisitor(kind)))
        }
    }

    /// The Sync Leads operation of an identify: its record, and its cookie to associate.
    fn sync_operation(&self, msg: &Identify<'_>, warnings: &mut Vec<Warning>) -> Result<Operation, Error> {
        let input = self.api.lead_input(msg, warnings)?;
        let cookie = crate::cookie::from_message(&msg.common, "it is not associated", warnings).map(Cookie::into_owned);
        Ok(Operation::RestSyncLead { input, cookie })
    }
}

impl MarketoDestination for RestDestination {
    fn identify(&self, msg: &Identify<'_>, now: Timestamp) -> Result<Plan, Error> {
        let mut warnings = Vec::new();
        let operation = self.sync_operation(msg, &mut warnings)?;
        let request = self.render(&operation, now)?;
        Ok(self.send(now, Step { operation, request }, warnings))
    }

    fn track(&self, msg: &Track<'_>, now: Timestamp) -> Result<Plan, Error> {
        let mut warnings = Vec::new();
        match self.api.activity(msg, now, &mut warnings)? {
            Some(activity) => {
                let operation = Operation::RestActivity(activity);
                let request = self.render(&operation, now)?;
                Ok(self.send(now, Step { operation, request }, warnings))
            }
            None => self.beacon_or_skip(&msg.common, "track", || self.beacons.track(msg, now)),
        }
    }

    /// As [`MarketoDestination::plan`], without writing an identify's one-record batch and token
    /// request (rendering them cannot fail, so nothing is lost by not doing it). The token
    /// operation comes first, as in every plan: a destination holds no token, so each plan starts
    /// by fetching one. Other messages are planned: an activity's lead lookup is checked as it is
    /// rendered (a value with a comma cannot be looked up).
    fn plan_operations(&self, msg: &Message<'_>, now: Timestamp) -> Result<OperationPlan, Error> {
        match msg {
            Message::Identify(m) if msg.common().integrations.marketo_enabled() => {
                let mut warnings = Vec::new();
                let operation = self.sync_operation(m, &mut warnings)?;
                Ok(OperationPlan::Send {
                    operations: vec![Operation::Token, operation],
                    warnings,
                })
            }
            _ => self.plan(msg, now).map(OperationPlan::from),
        }
    }

    fn page(&self, msg: &Page<'_>, now: Timestamp) -> Result<Plan, Error> {
        self.beacon_or_skip(&msg.common, "page", || self.beacons.page(msg, now))
    }

    /// REST operations render with a placeholder token: a sync as a one-record batch, an activity
    /// as the lookup of its lead (what is sent first).
    fn render(&self, operation: &Operation, _now: Timestamp) -> Result<Request, Error> {
        match operation {
            Operation::RestSyncLead { input, .. } => {
                let mut batch = self.api.lead_batch();
                let _ = batch.push(input.clone());
                Ok(batch.request(self.api.rest_base(), &Self::placeholder()))
            }
            Operation::RestActivity(activity) => {
                let lookup = crate::rest::LeadLookup::new(activity.lead_key.field, vec![activity.lead_key.value.clone()])?;
                lookup.request(self.api.rest_base(), &Self::placeholder())
            }
            Operation::VisitWebPage { request, .. } => Ok(request.clone()),
            other => Err(not_mine(other)),
        }
    }

    fn read_response(&self, operation: &Operation, response: &Response) -> Result<Answer, Error> {
        match operation {
            Operation::RestSyncLead { input, .. } => {
                let mut batch = self.api.lead_batch();
                let _ = batch.push(input.clone());
                let reply = batch.read_response(response)?;
                Ok(Answer::Records(reply.value))
            }
            Operation::VisitWebPage { .. } => read_beacon(response),
            other => Err(not_mine(other)),
        }
    }

    fn rest(&self) -> Option<&RestApi> {
        Some(&self.api)
    }
}
