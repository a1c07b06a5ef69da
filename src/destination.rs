//! The sans-IO [`MarketoDestination`] trait and its SOAP implementation, [`SoapDestination`].
//!
//! A destination turns one message and the caller's `now` into a [`Plan`] (requests to send, with
//! warnings, or a skip with its reason), renders an [`Operation`] again for a later `now` (a fresh
//! signature), and reads the transport's [`Response`] into an [`Answer`]. It never does I/O and
//! never reads a clock.

use crate::cookie::Cookie;
use crate::error::Error;
use crate::event::{Common, Identify, Message, Page, Track};
use crate::munchkin::beacon::{self, PageView};
use crate::munchkin::{write_track_params, write_track_path};
use crate::plan::{Operation, Plan, SkipReason, Step, Warning, WarningKind};
use crate::request::{Method, Request, RequestKind, Response};
use crate::settings::Settings;
use crate::soap::{self, LeadMapping, LeadRecord, Signer, SyncLeadResult, envelope};
use crate::time::Timestamp;

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

    /// Renders an operation as a request for `now` (signing again where the API signs).
    fn render(&self, operation: &Operation, now: Timestamp) -> Result<Request, Error>;

    /// Reads the response to a request made for `operation`.
    fn read_response(&self, operation: &Operation, response: &Response) -> Result<Answer, Error>;
}

/// Segment's classic server-side Marketo destination: identify -> SOAP `syncLead`, track and page
/// -> the Munchkin webevents beacon.
#[derive(Debug, Clone)]
pub struct SoapDestination {
    account_id: String,
    signer: Signer,
    mapping: LeadMapping,
    soap_endpoint: String,
    beacon_base: String,
    return_lead: bool,
}

impl SoapDestination {
    /// Validates the settings ([`Settings::validate_soap`]) and keys the signer once.
    pub fn new(settings: &Settings) -> Result<SoapDestination, Error> {
        settings.validate_soap()?;
        let (Some(user_id), Some(key), Some(endpoint)) = (&settings.user_id, &settings.encryption_key, &settings.soap_endpoint) else {
            return Err(Error::InvalidSettings {
                field: "userId".into(),
                reason: "missing".into(),
            });
        };
        Ok(SoapDestination {
            account_id: settings.account_id.clone(),
            signer: Signer::new(user_id, key),
            mapping: LeadMapping {
                casing: settings.trait_casing,
                field_map: settings.field_map.clone(),
            },
            soap_endpoint: endpoint.clone(),
            beacon_base: settings
                .beacon_endpoint
                .clone()
                .unwrap_or_else(|| format!("https://{}.mktoresp.com", settings.account_id)),
            return_lead: settings.return_lead,
        })
    }

    /// The lead record an identify syncs (public so callers can inspect or reuse the step).
    pub fn lead_record<'a>(&'a self, msg: &'a Identify<'a>, warnings: &mut Vec<Warning>) -> Result<LeadRecord<'a>, Error> {
        soap::lead::lead_record(msg, &self.mapping, warnings)
    }

    /// The hot path: writes the `syncLead` envelope of an identify into `out` (appends), warnings
    /// into `warnings`. Reusing `out` and `warnings` across calls avoids their allocations.
    ///
    /// It streams: trait names and values go from the parsed message into `out` without an
    /// intermediate lead record. On error `out` is left as it was.
    pub fn write_sync_lead(&self, msg: &Identify<'_>, now: Timestamp, out: &mut String, warnings: &mut Vec<Warning>) -> Result<(), Error> {
        let start = out.len();
        let Some(email) = soap::lead::email_of(msg) else {
            return Err(Error::MissingEmail {
                message: msg.common.message_ref(),
            });
        };
        let mut removed = envelope::write_head(&self.signer, now, email, out);
        let body_start = out.len();
        let result = soap::lead::visit(msg, &self.mapping, warnings, |name, value| {
            removed += envelope::write_attribute(out, |o| self.mapping.write_escaped(name, o), &value);
        });
        let cookie = match result {
            Ok((_, cookie)) => cookie,
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        };
        let had_attributes = out.len() > body_start;
        removed += envelope::write_tail(had_attributes, self.return_lead, cookie.as_ref(), out);
        removed_warning(removed, warnings);
        Ok(())
    }

    fn write_envelope(&self, lead: &LeadRecord<'_>, now: Timestamp, out: &mut String, warnings: &mut Vec<Warning>) {
        let removed = soap::write_sync_lead(&self.signer, now, lead, self.return_lead, out);
        removed_warning(removed, warnings);
    }

    fn sync_request(&self, body: String) -> Request {
        Request {
            kind: RequestKind::SyncLead,
            method: Method::Post,
            url: self.soap_endpoint.clone(),
            headers: vec![
                ("Content-Type", soap::CONTENT_TYPE.to_owned()),
                ("SOAPAction", soap::SYNC_LEAD_ACTION.to_owned()),
            ],
            body: Some(body),
        }
    }

    /// The visitor a track or page is for: the message's cookie, else one derived from `userId`,
    /// else `anonymousId`.
    pub fn visitor(&self, common: &Common<'_>, warnings: &mut Vec<Warning>) -> Result<Cookie<'static>, Error> {
        if let Some(raw) = common.context.marketo_cookie.as_deref() {
            match Cookie::parse(raw) {
                Ok(c) => return Ok(c.into_owned()),
                Err(e) => warnings.push(Warning::new(
                    WarningKind::InvalidCookie,
                    format!(
                        "{}: context.Marketo.marketoCookie ignored: {e}; using a visitor derived from the user id",
                        common.message_ref()
                    ),
                )),
            }
        }
        let user = common.user_id.as_deref().or(common.anonymous_id.as_deref());
        match user {
            Some(u) => Ok(Cookie::derive(&self.account_id, u)),
            None => Err(Error::MissingIdentity {
                message: common.message_ref(),
            }),
        }
    }

    fn beacon(&self, common: &Common<'_>, view: &PageView<'_>, now: Timestamp, mut warnings: Vec<Warning>) -> Result<Plan, Error> {
        let cookie = self.visitor(common, &mut warnings)?;
        let mut url = String::with_capacity(256);
        let cut = beacon::write_visit_web_page(&self.beacon_base, now, &cookie, view, &mut url);
        if !cut.is_empty() {
            warnings.push(Warning::new(
                WarningKind::Truncated,
                format!(
                    "{}: {} cut to keep the beacon URL within Marketo's 8 KB",
                    common.message_ref(),
                    cut.join(" and ")
                ),
            ));
        }
        let mut headers = Vec::new();
        if let Some(ua) = common.context.user_agent.as_deref() {
            let clean: String = ua.chars().filter(|c| !c.is_control()).collect();
            if clean.len() != ua.len() {
                warnings.push(Warning::new(
                    WarningKind::RemovedCharacters,
                    "control characters removed from context.userAgent",
                ));
            }
            headers.push(("User-Agent", clean));
        }
        let request = Request {
            kind: RequestKind::VisitWebPage,
            method: Method::Get,
            url,
            headers,
            body: None,
        };
        Ok(Plan::Send {
            steps: vec![Step {
                operation: Operation::VisitWebPage {
                    cookie,
                    request: request.clone(),
                },
                request,
            }],
            warnings,
        })
    }
}

fn removed_warning(removed: usize, warnings: &mut Vec<Warning>) {
    if removed > 0 {
        warnings.push(Warning::new(
            WarningKind::RemovedCharacters,
            format!("{removed} character(s) XML 1.0 cannot carry (control characters, U+FFFE, U+FFFF) were removed from the envelope"),
        ));
    }
}

/// Host, port and protocol of a page URL, via the `url` crate (host lower-cased and IDNA-encoded
/// as `location.hostname` is).
fn location(url: &str) -> Option<(String, String, String)> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let port = parsed.port().map(|p| p.to_string()).unwrap_or_default();
    Some((host, port, format!("{}:", parsed.scheme())))
}

impl MarketoDestination for SoapDestination {
    fn identify(&self, msg: &Identify<'_>, now: Timestamp) -> Result<Plan, Error> {
        let mut warnings = Vec::new();
        let lead = soap::lead::lead_record(msg, &self.mapping, &mut warnings)?;
        let mut body = String::new();
        self.write_envelope(&lead, now, &mut body, &mut warnings);
        let request = self.sync_request(body);
        Ok(Plan::Send {
            steps: vec![Step {
                operation: Operation::SyncLead(lead.into_owned()),
                request,
            }],
            warnings,
        })
    }

    fn track(&self, msg: &Track<'_>, now: Timestamp) -> Result<Plan, Error> {
        let mut path = String::new();
        write_track_path(&msg.event, &mut path);
        let mut query = String::new();
        write_track_params(&msg.properties, &mut query);
        let ctx = &msg.common.context;
        let (host, port, protocol) = ctx.page_url.as_deref().and_then(location).unwrap_or_default();
        let view = PageView {
            host: &host,
            port,
            protocol,
            path: &path,
            query: &query,
            hash: "",
            referrer: ctx.page_referrer.as_deref().unwrap_or(""),
        };
        self.beacon(&msg.common, &view, now, Vec::new())
    }

    fn page(&self, msg: &Page<'_>, now: Timestamp) -> Result<Plan, Error> {
        let message = msg.common.message_ref();
        let ctx = &msg.common.context;
        let (url, field) = match (msg.properties.get_str("url"), ctx.page_url.as_deref()) {
            (Some(u), _) if !u.is_empty() => (u, "properties.url"),
            (_, Some(u)) if !u.is_empty() => (u, "context.page.url"),
            _ => return Err(Error::MissingUrl { message }),
        };
        let (host, port, protocol) = location(url).ok_or_else(|| Error::InvalidField {
            message: message.clone(),
            field: field.into(),
            reason: "not an absolute URL".into(),
        })?;
        let (_, path, query, fragment) = beacon::split_url(url);
        let hash = if fragment.is_empty() {
            String::new()
        } else {
            format!("#{fragment}")
        };
        let referrer = msg.properties.get_str("referrer").or(ctx.page_referrer.as_deref()).unwrap_or("");
        let view = PageView {
            host: &host,
            port,
            protocol,
            path,
            query,
            hash: &hash,
            referrer,
        };
        self.beacon(&msg.common, &view, now, Vec::new())
    }

    fn render(&self, operation: &Operation, now: Timestamp) -> Result<Request, Error> {
        match operation {
            Operation::SyncLead(lead) => {
                let mut body = String::new();
                let mut ignored = Vec::new();
                self.write_envelope(lead, now, &mut body, &mut ignored);
                Ok(self.sync_request(body))
            }
            Operation::VisitWebPage { request, .. } => Ok(request.clone()),
        }
    }

    fn read_response(&self, operation: &Operation, response: &Response) -> Result<Answer, Error> {
        match operation {
            Operation::SyncLead(_) => soap::read_sync_lead(response.status, &response.body).map(Answer::SyncLead),
            Operation::VisitWebPage { .. } if (200..300).contains(&response.status) => Ok(Answer::Beacon { status: response.status }),
            Operation::VisitWebPage { .. } => Err(Error::unexpected(response.status, "the beacon was not accepted", &response.body)),
        }
    }
}
