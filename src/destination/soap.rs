//! [`SoapDestination`]: Segment's classic server-side Marketo destination. identify -> SOAP
//! `syncLead`, track and page -> the Munchkin webevents beacon.

use std::borrow::Cow;

use super::{Answer, MarketoDestination, Written, not_mine, read_beacon};
use crate::error::Error;
use crate::event::{Identify, Message, Page, Track, Value, looks_like_email};
use crate::munchkin::beacon::Beacons;
use crate::plan::{Operation, Plan, SkipReason, Step, Warning, WarningKind};
use crate::request::{Method, Request, RequestKind, Response};
use crate::settings::Settings;
use crate::soap::lead::{AttrValue, FieldName, Walk};
use crate::soap::{self, LeadMapping, LeadRecord, SignedHead, Signer, envelope};
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

    /// Writes the `syncLead` envelope of a parsed identify into `out` (appends), warnings into
    /// `warnings`. Reusing `out` and `warnings` across calls avoids their allocations.
    ///
    /// It streams: trait names and values go from the parsed message into `out` without an
    /// intermediate lead record. On error `out` is left as it was. From JSON bytes,
    /// [`SoapDestination::write_json`] is faster still.
    pub fn write_sync_lead(&self, msg: &Identify<'_>, now: Timestamp, out: &mut String, warnings: &mut Vec<Warning>) -> Result<(), Error> {
        let start = out.len();
        let Some(email) = soap::lead::email_of(msg) else {
            return Err(Error::MissingEmail {
                message: msg.common.message_ref(),
            });
        };
        let mut removed = envelope::write_head(&self.signer, now, email, out);
        let mut listed = false;
        let result = soap::lead::visit(msg, &self.mapping, warnings, |name, value| {
            removed += self.write_attribute(out, &mut listed, name, &value);
        });
        let cookie = match result {
            Ok((_, cookie)) => cookie,
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        };
        removed += envelope::write_tail(listed, self.return_lead, cookie.as_ref(), out);
        removed_warning(removed, warnings);
        Ok(())
    }

    /// The hot path, from a message's JSON bytes: an identify's `syncLead` envelope is written
    /// into `out` (appends) in one pass over the bytes, each trait written as it is read, without
    /// a parsed trait list; warnings go to `warnings`. The result is byte for byte what
    /// [`MarketoDestination::plan`] gives (same envelope, warnings and errors).
    ///
    /// Returns [`Written::SyncLead`]; [`Written::Skipped`] for any message `integrations` keeps
    /// from Marketo and for `group`, `alias` and `screen` (as `plan` skips them); or a track or
    /// page, parsed, as [`Written::Other`], for [`Beacons::write_track`] /
    /// [`Beacons::write_page`]. On error, and for anything but [`Written::SyncLead`], `out` is
    /// left as it was.
    ///
    /// Each envelope is signed anew; [`SoapDestination::write_json_with_head`] signs once per
    /// second.
    pub fn write_json<'a>(
        &self,
        json: &'a [u8],
        now: Timestamp,
        out: &mut String,
        warnings: &mut Vec<Warning>,
    ) -> Result<Written<'a>, Error> {
        self.write_json_from(json, Head::Sign(now), out, warnings)
    }

    /// [`SoapDestination::write_json`] with the signed start of the envelope taken from `head`,
    /// which carries it from call to call: `head` is re-signed only when `now` is in another
    /// second than it was signed for (or it was signed by another destination's key or user id).
    /// The envelope is byte for byte the one `write_json` writes.
    ///
    /// ```
    /// # use segment_marketo::{destination::SoapDestination, settings::Settings, soap::SignedHead, time::Timestamp};
    /// # let settings = Settings::from_json(r#"{"accountId":"561-HYG-937","userId":"u1","encryptionKey":"k","soapEndpoint":"https://561-HYG-937.mktoapi.com/soap/mktows/2_1"}"#)?;
    /// let dest = SoapDestination::new(&settings)?;
    /// let mut head = SignedHead::new(); // one per thread, kept across messages
    /// let (mut body, mut warnings) = (String::new(), Vec::new());
    /// let now = Timestamp::from_unix_ms(1_709_661_600_000);
    /// for json in [r#"{"type":"identify","traits":{"email":"a@b.co"}}"#, r#"{"type":"identify","traits":{"email":"c@d.co"}}"#] {
    ///     body.clear();
    ///     dest.write_json_with_head(json.as_bytes(), now, &mut head, &mut body, &mut warnings)?;
    ///     assert!(body.starts_with(head.as_str())); // one HMAC for both
    /// }
    /// # Ok::<(), segment_marketo::error::Error>(())
    /// ```
    pub fn write_json_with_head<'a>(
        &self,
        json: &'a [u8],
        now: Timestamp,
        head: &mut SignedHead,
        out: &mut String,
        warnings: &mut Vec<Warning>,
    ) -> Result<Written<'a>, Error> {
        head.refresh(&self.signer, now);
        self.write_json_from(json, Head::Signed(head), out, warnings)
    }

    /// A [`SignedHead`] for this destination at `now`.
    pub fn signed_head(&self, now: Timestamp) -> SignedHead {
        let mut head = SignedHead::new();
        head.refresh(&self.signer, now);
        head
    }

    fn write_json_from<'a>(
        &self,
        json: &'a [u8],
        head: Head<'_>,
        out: &mut String,
        warnings: &mut Vec<Warning>,
    ) -> Result<Written<'a>, Error> {
        let start = out.len();
        let mut email: Option<Value<'a>> = None;
        let mut walk = Walk::default();
        let (mut removed, mut listed) = (0, false);
        // The head is written when the traits start, so the attributes follow it with no copy.
        // `Email` comes first in `leadRecord` but is known only at the end; when the first trait
        // is a usable email (the common case) it is written at once, and put right at the end
        // otherwise. `slot`: where `Email` goes and where the one written ends.
        let mut slot: Option<(usize, usize)> = None;
        let mut sent_email: Option<Cow<'a, str>> = None;
        let mut email_removed = 0;
        let parsed = Message::from_slice_with(json, |r| {
            // A repeated `traits` key replaces the earlier one, as in the parsed message.
            out.truncate(start);
            (email, walk, removed, listed, slot, sent_email) = (None, Walk::default(), 0, false, None, None);
            if r.object()? {
                removed += head.write(&self.signer, out);
                let at = out.len();
                slot = Some((at, at));
                let mut first = true;
                while let Some(key) = r.next_key(&mut first)? {
                    let value = r.value()?;
                    if key == "email" {
                        if out.len() == at
                            && let Value::String(e) = &value
                            && !e.trim().is_empty()
                        {
                            email_removed = envelope::write_email(e, out);
                            slot = Some((at, out.len()));
                            sent_email = Some(e.clone());
                        }
                        email = Some(value); // the last one counts, as in `Fields::get`
                        continue;
                    }
                    walk.step(&key, &value, &self.mapping, &mut |name: FieldName<'_>, value: AttrValue<'_>| {
                        removed += self.write_attribute(out, &mut listed, name, &value);
                    });
                }
            }
            Ok(None)
        });
        // What `plan` decides before the per-type work: integrations, then the type.
        let msg = match parsed {
            Ok(msg) if !msg.common().integrations.marketo_enabled() => {
                out.truncate(start);
                return Ok(Written::Skipped(SkipReason::Disabled));
            }
            Ok(Message::Identify(m)) => m,
            Ok(Message::Other(kind, _)) => {
                out.truncate(start);
                return Ok(Written::Skipped(SkipReason::UnsupportedType(kind.as_str())));
            }
            Ok(other) => {
                out.truncate(start);
                return Ok(Written::Other(Box::new(other)));
            }
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        };
        // `email_of`, on the traits as they went by.
        let email = match &email {
            Some(Value::String(e)) if !e.trim().is_empty() => Some(e.as_ref()),
            _ => msg.common.user_id.as_deref().filter(|u| looks_like_email(u)),
        };
        let Some(email) = email else {
            out.truncate(start);
            return Err(Error::MissingEmail {
                message: msg.common.message_ref(),
            });
        };
        let (at, end) = slot.unwrap_or_else(|| {
            // No traits object: nothing was written yet.
            removed += head.write(&self.signer, out);
            (out.len(), out.len())
        });
        if sent_email.as_deref() == Some(email) {
            removed += email_removed;
        } else {
            let mut element = String::with_capacity(email.len() + 16);
            removed += envelope::write_email(email, &mut element);
            out.replace_range(at..end, &element);
        }
        walk.finish(&msg.common, warnings, &mut |name: FieldName<'_>, value: AttrValue<'_>| {
            removed += self.write_attribute(out, &mut listed, name, &value);
        });
        let cookie = crate::cookie::from_message(&msg.common, "it is not sent; the lead is synced by email", warnings);
        removed += envelope::write_tail(listed, self.return_lead, cookie.as_ref(), out);
        removed_warning(removed, warnings);
        Ok(Written::SyncLead)
    }

    /// One attribute: the name through the field map or casing, the value escaped.
    fn write_attribute(&self, out: &mut String, listed: &mut bool, name: FieldName<'_>, value: &AttrValue<'_>) -> usize {
        envelope::write_attribute(
            out,
            listed,
            |o| self.mapping.write_escaped(name, o),
            |o| match value {
                AttrValue::Text(text) => envelope::escape_text(text, o),
                AttrValue::Json(raw) => envelope::escape_compact_json(raw, o),
            },
        )
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

/// Where the signed start of an envelope comes from.
#[derive(Clone, Copy)]
enum Head<'h> {
    /// Signed for this envelope alone.
    Sign(Timestamp),
    /// Copied from a head signed for this second.
    Signed(&'h SignedHead),
}

impl Head<'_> {
    /// Writes the envelope up to `<leadRecord>`; returns how many characters were removed.
    fn write(self, signer: &Signer, out: &mut String) -> usize {
        match self {
            Head::Sign(now) => envelope::write_head_start(signer, now, out),
            Head::Signed(head) => {
                out.push_str(head.as_str());
                head.removed()
            }
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
