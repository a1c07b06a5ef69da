//! What a destination answers for one message: a [`Plan`] of requests with warnings, or a skip
//! ([`OperationPlan`]: the same without the requests).

use serde::Serialize;

use crate::cookie::Cookie;
use crate::request::Request;
use crate::rest::{Activity, LeadInput};
use crate::soap::LeadRecord;

/// Something the caller should know about a planned message that did not stop it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Warning {
    /// What kind of warning.
    pub kind: WarningKind,
    /// A sentence saying what happened and why.
    pub message: String,
}

impl Warning {
    /// A warning of `kind`.
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Warning {
        Warning {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Kinds of [`Warning`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WarningKind {
    /// `context.Marketo.marketoCookie` did not parse; the lead is synced by email without it.
    InvalidCookie,
    /// Characters XML 1.0 cannot carry were removed.
    RemovedCharacters,
    /// A nested field has no Marketo counterpart and was not sent.
    FieldNotSent,
    /// A value was cut to keep the request within Marketo's limits.
    Truncated,
}

/// Why a message needs no request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum SkipReason {
    /// `integrations` turns Marketo off for this message.
    Disabled,
    /// The message type has no Marketo counterpart (`group`, `alias`, `screen`).
    UnsupportedType(&'static str),
    /// REST: a track whose event is not mapped to a custom activity, or a page, with no cookie or
    /// `userId` for a beacon (and anonymous events not enabled by `trackAnonymousActivity`).
    NoVisitor(&'static str),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Disabled => f.write_str("integrations disables Marketo for this message"),
            SkipReason::UnsupportedType(t) => write!(f, "{t} messages have no Marketo counterpart"),
            SkipReason::NoVisitor("track") => {
                f.write_str("track not mapped to a custom activity, and no cookie or userId for a beacon (trackAnonymousActivity is off)")
            }
            SkipReason::NoVisitor(t) => write!(f, "{t} with no cookie or userId for a beacon (trackAnonymousActivity is off)"),
        }
    }
}

/// The semantic content of one planned request, kept so a request can be rendered again (a fresh
/// signature) or changed (merged traits, fields Marketo does not know removed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// A SOAP `syncLead` of this lead record.
    SyncLead(LeadRecord<'static>),
    /// A Munchkin webevents beacon; the request is final as planned.
    VisitWebPage {
        /// The visitor the beacon is for.
        cookie: Cookie<'static>,
        /// The planned request.
        request: Request,
    },
    /// Fetching a REST access token. Plans show it first for display; the delivery outbox
    /// manages tokens itself and skips this step.
    Token,
    /// A REST Sync Leads record, then (with a cookie) Associate Lead once the lead id is known.
    RestSyncLead {
        /// The input record.
        input: LeadInput,
        /// The Munchkin cookie to associate with the lead afterwards.
        cookie: Option<Cookie<'static>>,
    },
    /// A REST custom activity, sent once its lead id is known (from a sync or a lookup).
    RestActivity(Activity),
}

impl Operation {
    /// A short name (`syncLead`, `visitWebPage`, `token`, `restSyncLead`, `restActivity`).
    pub fn name(&self) -> &'static str {
        match self {
            Operation::SyncLead(_) => "syncLead",
            Operation::VisitWebPage { .. } => "visitWebPage",
            Operation::Token => "token",
            Operation::RestSyncLead { .. } => "restSyncLead",
            Operation::RestActivity(_) => "restActivity",
        }
    }
}

/// One request of a plan and the operation it carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Step {
    /// What the request does.
    pub operation: Operation,
    /// The request, rendered for the `now` the plan was made at.
    pub request: Request,
}

/// A destination's answer for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Plan {
    /// Send these requests, in order.
    Send {
        /// The steps.
        steps: Vec<Step>,
        /// Things the caller should know.
        warnings: Vec<Warning>,
    },
    /// Send nothing, for this reason.
    Skip(SkipReason),
}

/// A [`Plan`] without its requests: the operations to carry out for one message, in order, with
/// the same warnings, or the same skip. For a sender that renders each operation only when it
/// sends it (the delivery outbox signs at send time and batches REST records), so that the
/// requests a plan holds are not written for nothing
/// (see [`crate::destination::MarketoDestination::plan_operations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OperationPlan {
    /// Carry out these operations, in order.
    Send {
        /// The operations.
        operations: Vec<Operation>,
        /// Things the caller should know.
        warnings: Vec<Warning>,
    },
    /// Send nothing, for this reason.
    Skip(SkipReason),
}

impl From<Plan> for OperationPlan {
    /// The plan's operations; its requests are dropped.
    fn from(plan: Plan) -> OperationPlan {
        match plan {
            Plan::Send { steps, warnings } => OperationPlan::Send {
                operations: steps.into_iter().map(|s| s.operation).collect(),
                warnings,
            },
            Plan::Skip(reason) => OperationPlan::Skip(reason),
        }
    }
}
