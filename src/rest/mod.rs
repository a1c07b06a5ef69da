//! Marketo's REST API, sans-IO: the access token's life cycle, Sync Leads, lead lookup, Associate
//! Lead and custom activities, and the reader of their answers.
//!
//! Every piece is values in, values out: builders return [`Request`]s for the caller's transport,
//! readers take the [`crate::request::Response`] back and return typed outcomes. Nothing here
//! reads a clock (time is a [`crate::time::Timestamp`] parameter), does I/O or panics on any
//! input.
//!
//! | Concern | Module | Marketo call |
//! |---|---|---|
//! | access token | [`token`] | `GET {identity}/oauth/token?grant_type=client_credentials&…` |
//! | identify -> lead record, batches | [`leads`] | `POST /rest/v1/leads.json` |
//! | lead ids by field value | [`lookup`] | `GET /rest/v1/leads.json?filterType=…` |
//! | cookie -> lead | [`associate`] | `POST /rest/v1/leads/{id}/associate.json?cookie=…` |
//! | track -> custom activity, batches | [`activities`] | `POST /rest/v1/activities/external.json` |
//! | answers, errors, per-record results | [`response`] | |
//!
//! [`RestApi`] holds validated settings and builds each piece the way they say.
//!
//! # What a caller (the delivery outbox) does
//!
//! 1. Ask [`TokenHolder::token`] before each call: `Ready` → build the request with that token;
//!    `Fetch` → send that request first (one at a time); `Waiting` / `NotBefore` → hold the call.
//! 2. Batch records ([`LeadBatch`], [`ActivityBatch`]): a refused record starts the next batch.
//! 3. Read the answer. An `Err` whose [`Error::retry`] is [`crate::Retry::Reauthenticate`] (601,
//!    602): [`TokenHolder::invalidate`] the token used, fetch a new one and resend the request
//!    **once**; a second 601/602 for the same request is a failure (bad credentials or clock, not
//!    a stale token). Other classes: throttle, quota, retry or give up per [`Error::retry`].
//! 4. Per record ([`RecordOutcome`]): success; or [`RecordOutcome::unknown_fields`] not empty
//!    (1006) → [`LeadInput::remove_fields`] and resend that record (warn about the fields);
//!    otherwise [`RecordOutcome::error`]`.retry()` decides.
//!
//! Secrets: the client secret is only in the URL of the token request, the access token only in
//! `Authorization` headers. [`Request`] derives `Debug`, so a caller must not log requests as
//! they are; the crate never does.

pub mod activities;
pub mod associate;
pub(crate) mod body;
pub mod leads;
pub mod lookup;
pub mod response;
pub mod token;

pub use activities::{Activity, ActivityBatch, ActivityInput, LeadKey};
pub use associate::{AssociateOutcome, associate_request, read_associate};
pub use body::FieldValue;
pub use leads::{LeadBatch, LeadInput, SyncAction};
pub use lookup::LeadLookup;
pub use response::{Envelope, RecordOutcome, Reply, read_records, read_success};
pub use token::{AccessToken, TokenHolder, TokenState};

use crate::error::Error;
use crate::request::{Method, Request, RequestKind};
use crate::settings::{EventMapping, Secret, Settings};

/// At most this many records per batch call (and values per lookup): 300.
pub const MAX_BATCH_RECORDS: usize = 300;
/// At most this many bytes of request body: 1 MB, 1,048,576 (Marketo answers 413 above).
pub const MAX_BODY_BYTES: usize = 1_048_576;
/// At most this many bytes of URL: 8 KB, 8,192 (Marketo answers 414 above).
pub const MAX_URL_BYTES: usize = 8_192;

/// The REST side of the destination, from validated settings: builds token holders, lead
/// records, batches, lookups and activities the way the settings say.
#[derive(Debug, Clone)]
pub struct RestApi {
    rest_base: String,
    identity_base: String,
    client_id: String,
    client_secret: Secret,
    /// An empty Sync Leads batch for the lookup field and action: its head is built once, here,
    /// and shared by the batches cloned from it (and measured for every record's 1 MB check). It
    /// also holds the lookup field and action the accessors give.
    lead_batch: leads::LeadBatch,
    /// `traits` setting: (Segment trait, REST field), in order.
    traits: Vec<(String, String)>,
    send_user_id_and_anonymous_id: bool,
    events: Vec<EventMapping>,
    track_anonymous_activity: bool,
}

impl RestApi {
    /// Validates the settings ([`Settings::validate_rest`]) and keeps what the REST side needs.
    pub fn new(settings: &Settings) -> Result<RestApi, Error> {
        settings.validate_rest()?;
        Ok(RestApi {
            rest_base: settings.rest_base(),
            identity_base: settings.identity_base(),
            client_id: settings.client_id.clone().unwrap_or_default(),
            client_secret: settings.client_secret.clone().unwrap_or_default(),
            lead_batch: leads::LeadBatch::new(
                SyncAction::for_create_if_not_exist(settings.create_if_not_exist),
                &settings.lookup_field,
            ),
            traits: settings
                .traits
                .iter()
                .map(|t| (t.segment_trait.clone(), t.marketo_field_name.clone()))
                .collect(),
            send_user_id_and_anonymous_id: settings.send_user_id_and_anonymous_id,
            events: settings.events.clone(),
            track_anonymous_activity: settings.track_anonymous_activity,
        })
    }

    /// The REST base URL (no trailing `/`), for the request builders.
    pub fn rest_base(&self) -> &str {
        &self.rest_base
    }

    /// The `lookupField`.
    pub fn lookup_field(&self) -> &str {
        self.lead_batch.lookup_field()
    }

    /// The Sync Leads action (from `createIfNotExist`).
    pub fn action(&self) -> SyncAction {
        self.lead_batch.action()
    }

    /// `trackAnonymousActivity`: whether events without `userId` are sent.
    pub fn track_anonymous_activity(&self) -> bool {
        self.track_anonymous_activity
    }

    /// A new [`TokenHolder`] (no token yet) for this destination's identity service and client.
    pub fn token_holder(&self) -> TokenHolder {
        TokenHolder::new(self.identity_base.clone(), self.client_id.clone(), self.client_secret.clone())
    }
}

/// An authorized JSON `POST` to `{rest_base}{path}`.
fn post_json(kind: RequestKind, rest_base: &str, path: &str, token: &token::AccessToken, body: String) -> Request {
    Request {
        kind,
        method: Method::Post,
        url: body::join(rest_base, path),
        headers: vec![
            ("Content-Type", body::CONTENT_TYPE_JSON.to_owned()),
            ("Authorization", token.authorization()),
        ],
        body: Some(body),
    }
}
