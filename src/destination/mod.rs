//! The sans-IO [`MarketoDestination`] trait and its implementations: [`SoapDestination`]
//! (Segment's classic destination) and [`RestDestination`] (the live REST API).
//!
//! A destination turns one message and the caller's `now` into a [`Plan`] (requests to send, with
//! warnings, or a skip with its reason), renders an [`Operation`] again for a later `now` (a fresh
//! signature), and reads the transport's [`Response`] into an [`Answer`]. It never does I/O and
//! never reads a clock.

use crate::error::Error;
use crate::event::{Identify, Message, Page, Track};
use crate::plan::{Operation, OperationPlan, Plan, SkipReason};
use crate::request::{Request, Response};
use crate::rest::RestApi;
use crate::soap::SyncLeadResult;
use crate::time::Timestamp;

mod rest;
mod soap;

pub use rest::RestDestination;
pub use soap::SoapDestination;

/// What Marketo said to one request that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The `syncLead` result (lead id and CREATED / UPDATED / FAILED).
    SyncLead(SyncLeadResult),
    /// The beacon was accepted (any 2xx).
    Beacon {
        /// The HTTP status.
        status: u16,
    },
    /// REST: one outcome per input record, in input order.
    Records(Vec<crate::rest::RecordOutcome>),
}

/// What [`SoapDestination::write_json`] did with a message's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Written<'a> {
    /// The identify's `syncLead` envelope is in the buffer: `POST` it to the SOAP endpoint with
    /// [`crate::soap::CONTENT_TYPE`] and `SOAPAction` [`crate::soap::SYNC_LEAD_ACTION`].
    SyncLead,
    /// A message `plan` skips (its `integrations` keep it from Marketo, or a `group`, `alias` or
    /// `screen`); nothing written.
    Skipped(SkipReason),
    /// A track or page for Marketo, parsed, for the beacon writers
    /// ([`SoapDestination::beacons`]); nothing written.
    Other(Box<Message<'a>>),
}

/// A Marketo destination: messages in, request values out, responses in, answers out.
///
/// Object-safe: `Box<dyn MarketoDestination>` works. The per-type methods plan a message as it is;
/// [`MarketoDestination::plan`] first applies the `integrations` object and skips the types Marketo
/// has no counterpart for.
pub trait MarketoDestination {
    /// Plans an identify.
    fn identify(&self, msg: &Identify<'_>, now: Timestamp) -> Result<Plan, Error>;
    /// Plans a track.
    fn track(&self, msg: &Track<'_>, now: Timestamp) -> Result<Plan, Error>;
    /// Plans a page.
    fn page(&self, msg: &Page<'_>, now: Timestamp) -> Result<Plan, Error>;

    /// Plans any message: skipped when `integrations` turns Marketo off, or for `group`, `alias`
    /// and `screen`; otherwise dispatched to the per-type method.
    fn plan(&self, msg: &Message<'_>, now: Timestamp) -> Result<Plan, Error> {
        if !msg.common().integrations.marketo_enabled() {
            return Ok(Plan::Skip(SkipReason::Disabled));
        }
        match msg {
            Message::Identify(m) => self.identify(m, now),
            Message::Track(m) => self.track(m, now),
            Message::Page(m) => self.page(m, now),
            Message::Other(kind, _) => Ok(Plan::Skip(SkipReason::UnsupportedType(kind.as_str()))),
        }
    }

    /// [`MarketoDestination::plan`] without its requests: the same operations, warnings, skip or
    /// error, for a sender that renders each operation when it sends it (the delivery outbox).
    /// The default plans and drops the requests; a destination whose requests cost something to
    /// write for nothing overrides it (REST: a one-record batch and a token request per identify).
    fn plan_operations(&self, msg: &Message<'_>, now: Timestamp) -> Result<OperationPlan, Error> {
        self.plan(msg, now).map(OperationPlan::from)
    }

    /// Renders an operation as a request for `now` (signing again where the API signs).
    fn render(&self, operation: &Operation, now: Timestamp) -> Result<Request, Error>;

    /// Reads the response to a request made for `operation`.
    fn read_response(&self, operation: &Operation, response: &Response) -> Result<Answer, Error>;

    /// The REST API behind this destination, when it speaks REST. The delivery outbox batches,
    /// authenticates, looks lead ids up and associates cookies through it.
    fn rest(&self) -> Option<&RestApi> {
        None
    }
}

/// The destination the settings' `api` chooses: [`SoapDestination`] for `"soap"` (the
/// default), [`RestDestination`] for `"rest"`.
pub fn from_settings(settings: &crate::settings::Settings) -> Result<Box<dyn MarketoDestination + Send + Sync>, Error> {
    Ok(match settings.api {
        crate::fault::Api::Rest => Box::new(RestDestination::new(settings)?),
        _ => Box::new(SoapDestination::new(settings)?),
    })
}

impl<T: MarketoDestination + ?Sized> MarketoDestination for Box<T> {
    fn identify(&self, msg: &Identify<'_>, now: Timestamp) -> Result<Plan, Error> {
        (**self).identify(msg, now)
    }
    fn track(&self, msg: &Track<'_>, now: Timestamp) -> Result<Plan, Error> {
        (**self).track(msg, now)
    }
    fn page(&self, msg: &Page<'_>, now: Timestamp) -> Result<Plan, Error> {
        (**self).page(msg, now)
    }
    fn plan(&self, msg: &Message<'_>, now: Timestamp) -> Result<Plan, Error> {
        (**self).plan(msg, now)
    }
    fn plan_operations(&self, msg: &Message<'_>, now: Timestamp) -> Result<OperationPlan, Error> {
        (**self).plan_operations(msg, now)
    }
    fn render(&self, operation: &Operation, now: Timestamp) -> Result<Request, Error> {
        (**self).render(operation, now)
    }
    fn read_response(&self, operation: &Operation, response: &Response) -> Result<Answer, Error> {
        (**self).read_response(operation, response)
    }
    fn rest(&self) -> Option<&RestApi> {
        (**self).rest()
    }
}

/// The error for an operation a destination did not plan (a caller mixing destinations).
pub(crate) fn not_mine(operation: &Operation) -> Error {
    Error::InvalidField {
        message: crate::error::MessageRef(None),
        field: "operation".into(),
        reason: format!("this destination does not handle {}", operation.name()),
    }
}

/// A beacon's answer: any 2xx is accepted.
pub(crate) fn read_beacon(response: &Response) -> Result<Answer, Error> {
    if (200..300).contains(&response.status) {
        Ok(Answer::Beacon { status: response.status })
    } else {
        Err(Error::unexpected(response.status, "the beacon was not accepted", &response.body))
    }
}
