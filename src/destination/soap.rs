//! [`SoapDestination`]: Segment's classic server-side Marketo destination. identify -> SOAP
//! `syncLead`, track and page -> the Munchkin webevents beacon.

use super::{Answer, MarketoDestination, not_mine, read_beacon};
use crate::error::Error;
use crate::event::{Identify, Page, Track};
use crate::munchkin::beacon::Beacons;
use crate::plan::{Operation, Plan, Step, Warning, WarningKind};
use crate::request::{Method, Request, RequestKind, Response};
use crate::settings::Settings;
use crate::soap::{self, LeadMapping, LeadRecord, Signer, envelope};
use crate::time::Timestamp;

/// Segment's classic server-side Marketo destination: identify -> SOAP `syncLead`, track and page
/// -> the Munchkin webevents beacon.
#[derive(Debug, Clone)]
pub struct SoapDestination {
    beacons: Beacons,
    signer: Signer,
    mapping: LeadMapping,
    soap_endpoint: String,
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
            beacons: Beacons::new(settings)?,
            signer: Signer::new(user_id, key),
            mapping: LeadMapping {
                casing: settings.trait_casing,
                field_map: settings.field_map.clone(),
            },
            soap_endpoint: endpoint.clone(),
            return_lead: settings.return_lead,
        })
    }

    /// The beacon planner for track and page, whose `write_track` / `write_page` write a
    /// beacon URL into a caller's buffer (the hot path of [`MarketoDestination::track`] and
    /// [`MarketoDestination::page`]).
    pub fn beacons(&self) -> &Beacons {
        &self.beacons
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
            removed += envelope::write_attribute(
                out,
                |o| self.mapping.write_escaped(name, o),
                |o| match &value {
                    soap::lead::AttrValue::Text(text) => envelope::escape_text(text, o),
                    soap::lead::AttrValue::Json(raw) => envelope::escape_compact_json(raw, o),
                },
            );
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
}

fn removed_warning(removed: usize, warnings: &mut Vec<Warning>) {
    if removed > 0 {
        warnings.push(Warning::new(
            WarningKind::RemovedCharacters,
            format!("{removed} character(s) XML 1.0 cannot carry (control characters, U+FFFE, U+FFFF) were removed from the envelope"),
        ));
    }
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
        self.beacons.track(msg, now)
    }

    fn page(&self, msg: &Page<'_>, now: Timestamp) -> Result<Plan, Error> {
        self.beacons.page(msg, now)
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
            other => Err(not_mine(other)),
        }
    }

    fn read_response(&self, operation: &Operation, response: &Response) -> Result<Answer, Error> {
        match operation {
            Operation::SyncLead(_) => soap::read_sync_lead(response.status, &response.body).map(Answer::SyncLead),
            Operation::VisitWebPage { .. } => read_beacon(response),
            other => Err(not_mine(other)),
        }
    }
}
