//! Track -> a Marketo custom activity, and the batch that carries up to 300 of them.
//!
//! The `events` setting maps a Segment event to a custom activity type (see
//! [`crate::settings`] for its JSON shape). [`RestApi::activity`] turns a track of a mapped event
//! into an [`Activity`]; an event that is not mapped gives `None`, and the caller falls back to
//! the Munchkin beacon (Segment's classic behaviour).
//!
//! The activity needs the lead's id. It carries a [`LeadKey`] saying how to find it: the lead
//! whose `userId` field is the message's `userId`, else, for an anonymous track and only with
//! `trackAnonymousActivity`, the lead whose `anonymousId` field is the message's `anonymousId`
//! (identify fills both fields when `sendUserIdAndAnonymousId` is on, the default). An anonymous
//! track without `trackAnonymousActivity` gives `None` too (beacon). Look the id up
//! ([`super::LeadLookup`]), then [`Activity::input`] renders the record:
//!
//! ```json
//! {"leadId":1001,"activityDate":"2016-09-26T06:56:35+07:00","activityTypeId":100001,
//!  "primaryAttributeValue":"Game Giveaway","attributes":[{"name":"URL","value":"http://…"}]}
//! ```
//!
//! (keys in that order; AdobeDocs/marketo-developer.en `help/rest-api/activities.md`, "Add Custom
//! Activities"). `activityDate` is the message's `timestamp` in its own offset, written
//! `YYYY-MM-DDThh:mm:ss±hh:mm` (RFC 3339, fraction dropped); a message without `timestamp` gets
//! the caller's `now` (the time the crate first saw it), one whose `timestamp` is not RFC 3339 is
//! an [`Error::InvalidField`]. `primaryAttributeValue` is the text of the `primaryAttribute`
//! property (an error when the message lacks it) or, without that setting, the event name.
//! `attributes` follow the `properties` mapping in its order, each `{"name": marketoAttribute,
//! "value": …}`; an absent or `null` property is left out; properties no mapping names are not
//! sent, and a [`WarningKind::FieldNotSent`] warning lists them.
//!
//! `POST {rest}/rest/v1/activities/external.json` with `{"input":[…]}`, at most 300 records and
//! 1 MB of body per call ([`ActivityBatch`]); results come back per record, in input order, as
//! [`RecordOutcome::Added`] or [`RecordOutcome::Skipped`].

use crate::error::{Error, MessageRef};
use crate::event::{Fields, Track, Value};
use crate::plan::{Warning, WarningKind};
use crate::request::{Request, RequestKind, Response};
use crate::time::Timestamp;

use super::body::{FieldValue, InputJson, Records, write_json_str};
use super::response::{RecordOutcome, Reply, read_records};
use super::token::AccessToken;
use super::{MAX_BODY_BYTES, RestApi, post_json};

/// How to find the lead an activity belongs to: the lead whose REST field `field` is `value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct LeadKey {
    /// `userId` or `anonymousId`.
    pub field: &'static str,
    /// The message's `userId` or `anonymousId`.
    pub value: String,
}

/// A custom activity of one track message, waiting for its lead id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Activity {
    /// The message it came from (for errors).
    pub message: MessageRef,
    /// How to find the lead.
    pub lead_key: LeadKey,
    /// `activityTypeId`: the mapping's `marketoActivityId`.
    pub activity_type_id: u64,
    /// `activityDate`.
    pub activity_date: Timestamp,
    /// `primaryAttributeValue`.
    pub primary_attribute_value: String,
    /// `attributes`, in the mapping's order: (name, value).
    pub attributes: Vec<(String, FieldValue)>,
}

impl Activity {
    /// The record for the lead `lead_id`. [`Error::TooLarge`] when it alone would pass 1 MB of
    /// body.
    pub fn input(&self, lead_id: i64) -> Result<ActivityInput, Error> {
        let mut json = String::with_capacity(160 + self.primary_attribute_value.len());
        json.push_str("{\"leadId\":");
        json.push_str(&lead_id.to_string());
        json.push_str(",\"activityDate\":\"");
        json.push_str(self.activity_date.soap_text().as_str());
        json.push_str("\",\"activityTypeId\":");
        json.push_str(&self.activity_type_id.to_string());
        json.push_str(",\"primaryAttributeValue\":");
        write_json_str(&self.primary_attribute_value, &mut json);
        json.push_str(",\"attributes\":[");
        for (i, (name, value)) in self.attributes.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str("{\"name\":");
            write_json_str(name, &mut json);
            json.push_str(",\"value\":");
            value.write_json(&mut json);
            json.push('}');
        }
        json.push_str("]}");
        let input = ActivityInput { lead_id, json };
        let len = Records::alone_len(HEAD.len(), &input);
        if len > MAX_BODY_BYTES {
            return Err(Error::TooLarge {
                message: self.message.clone(),
                reason: format!(
                    "the activity makes a {len}-byte Add Custom Activities body; Marketo accepts at most {MAX_BODY_BYTES} bytes"
                ),
            });
        }
        Ok(input)
    }
}

/// One Add Custom Activities input record, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityInput {
    lead_id: i64,
    json: String,
}

impl InputJson for ActivityInput {
    fn json(&self) -> &str {
        &self.json
    }
}

impl ActivityInput {
    /// The lead id.
    pub fn lead_id(&self) -> i64 {
        self.lead_id
    }

    /// The record as JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }
}

const HEAD: &str = "{\"input\":[";

/// Up to 300 custom activities, under 1 MB of body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityBatch {
    records: Records<ActivityInput>,
}

impl Default for ActivityBatch {
    fn default() -> ActivityBatch {
        ActivityBatch::new()
    }
}

impl ActivityBatch {
    /// An empty batch.
    pub fn new() -> ActivityBatch {
        ActivityBatch {
            records: Records::new(HEAD.len()),
        }
    }

    /// Adds a record, or gives it back when adding it would pass 300 records or 1,048,576 bytes
    /// of body (send this batch, then start a new one with it). An empty batch refuses only a
    /// record too large on its own, which [`Activity::input`] never returns.
    pub fn push(&mut self, record: ActivityInput) -> Result<(), ActivityInput> {
        self.records.try_push(record)
    }

    /// The records, in input order.
    pub fn records(&self) -> &[ActivityInput] {
        self.records.records()
    }

    /// The records, given back.
    pub fn into_records(self) -> Vec<ActivityInput> {
        self.records.into_records()
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.records.records().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.records().is_empty()
    }

    /// The exact length of [`ActivityBatch::body`] in bytes.
    pub fn body_len(&self) -> usize {
        self.records.body_len()
    }

    /// The body: `{"input":[…]}`.
    pub fn body(&self) -> String {
        self.records.body(HEAD)
    }

    /// The request: `POST {rest_base}/rest/v1/activities/external.json`,
    /// `Content-Type: application/json`, `Authorization: Bearer …`.
    pub fn request(&self, rest_base: &str, token: &AccessToken) -> Request {
        post_json(
            RequestKind::CustomActivities,
            rest_base,
            "/rest/v1/activities/external.json",
            token,
            self.body(),
        )
    }

    /// Reads the answer: one [`RecordOutcome`] per record (`Added` or `Skipped`), result `i` for
    /// record `i`; a request-level error is an `Err`.
    pub fn read_response(&self, response: &Response) -> Result<Reply<Vec<RecordOutcome>>, Error> {
        read_records(response, self.len())
    }
}

/// The value at `path` in `fields`: the key `path` itself, else a dotted path into nested objects
/// (`a.b.c`, trying every split, leftmost first). `None` when absent or `null`.
fn property(fields: &Fields<'_>, path: &str) -> Option<FieldValue> {
    if let Some(v) = fields.get(path) {
        return FieldValue::from_event(v);
    }
    for (at, _) in path.match_indices('.') {
        if let Some(Value::Object(raw)) = fields.get(&path[..at])
            && let Ok(inner) = Fields::from_json(raw)
            && let Some(v) = property(&inner, &path[at + 1..])
        {
            return Some(v);
        }
    }
    None
}

impl RestApi {
    /// The custom activity of a track, or `None` when its event is not in the `events` setting or
    /// it is anonymous and `trackAnonymousActivity` is off (see the module docs). Warnings
    /// (properties not sent) are appended to `warnings`.
    ///
    /// Errors: [`Error::MissingIdentity`] without `userId` and `anonymousId`;
    /// [`Error::InvalidField`] for a `timestamp` that is not RFC 3339, or a missing primary
    /// attribute property.
    pub fn activity(&self, msg: &Track<'_>, now: Timestamp, warnings: &mut Vec<Warning>) -> Result<Option<Activity>, Error> {
        let Some(mapping) = self.events.iter().find(|e| e.event == msg.event) else {
            return Ok(None);
        };
        let message = msg.common.message_ref();
        let lead_key = match (msg.common.user_id.as_deref(), msg.common.anonymous_id.as_deref()) {
            (Some(u), _) if !u.is_empty() => LeadKey {
                field: "userId",
                value: u.to_owned(),
            },
            (_, Some(a)) if !a.is_empty() => {
                if !self.track_anonymous_activity {
                    return Ok(None);
                }
                LeadKey {
                    field: "anonymousId",
                    value: a.to_owned(),
                }
            }
            _ => return Err(Error::MissingIdentity { message }),
        };
        let activity_date = match msg.common.timestamp.as_deref() {
            None => now,
            Some(text) => Timestamp::parse_rfc3339(text).ok_or_else(|| Error::InvalidField {
                message: message.clone(),
                field: "timestamp".into(),
                reason: "not an RFC 3339 timestamp".into(),
            })?,
        };
        let primary_attribute_value = match &mapping.primary_attribute {
            None => msg.event.clone().into_owned(),
            Some(prop) => match property(&msg.properties, prop) {
                Some(v) => v.as_text().into_owned(),
                None => {
                    return Err(Error::InvalidField {
                        message,
                        field: format!("properties.{prop}"),
                        reason: format!(
                            "missing: it is the primary attribute of Marketo activity type {}",
                            mapping.marketo_activity_id
                        ),
                    });
                }
            },
        };
        let mut attributes = Vec::with_capacity(mapping.properties.len());
        for p in &mapping.properties {
            if let Some(v) = property(&msg.properties, &p.segment_property) {
                attributes.push((p.marketo_attribute.clone(), v));
            }
        }
        let used = |key: &str| {
            let named = |path: &str| path == key || path.strip_prefix(key).is_some_and(|rest| rest.starts_with('.'));
            mapping.primary_attribute.as_deref().is_some_and(named) || mapping.properties.iter().any(|p| named(&p.segment_property))
        };
        let not_sent: Vec<&str> = msg
            .properties
            .iter()
            .filter(|(k, v)| **v != Value::Null && !used(k))
            .map(|(k, _)| k)
            .collect();
        if !not_sent.is_empty() {
            warnings.push(Warning::new(
                WarningKind::FieldNotSent,
                format!(
                    "{message}: properties {} not sent: the `events` mapping of {:?} has no attribute for {}",
                    not_sent.join(", "),
                    mapping.event,
                    if not_sent.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
        Ok(Some(Activity {
            message,
            lead_key,
            activity_type_id: mapping.marketo_activity_id,
            activity_date,
            primary_attribute_value,
            attributes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths() {
        let f = Fields::from_json(r#"{"a.b":1,"a":{"b":2,"c":{"d":"x"}},"n":null}"#).unwrap();
        assert_eq!(property(&f, "a.b"), Some(FieldValue::Number("1".into())));
        assert_eq!(property(&f, "a.c.d"), Some(FieldValue::String("x".into())));
        assert_eq!(property(&f, "a.z"), None);
        assert_eq!(property(&f, "n"), None);
        assert_eq!(property(&f, ""), None);
    }
}
