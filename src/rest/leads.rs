//! Identify -> one Sync Leads input record, and the batch that carries up to 300 of them.
//!
//! # The record
//!
//! [`RestApi::lead_input`] maps an identify's traits to REST field names
//! (AdobeDocs/marketo-developer.en `help/rest-api/leads.md`, `list-of-standard-fields.md`):
//!
//! | Segment trait | REST field |
//! |---|---|
//! | `email` (else a `userId` that looks like an email, as on the SOAP path) | `email` |
//! | `firstName`, `lastName`, `phone`, `title`, `website` | the same name |
//! | `company` (a string), or `company.name` | `company` |
//! | `address.city`, `.country`, `.postalCode` (else `.zip`), `.state`, `.street` | `city`, `country`, `postalCode`, `state`, `address` |
//! | `address` (a string) | `address` |
//! | `birthday` | `dateOfBirth` (an ISO date-time is cut to its `YYYY-MM-DD` date: the field is a `date`) |
//!
//! A trait listed in the `traits` setting goes to its `marketoFieldName` instead (the mapping wins
//! over the table; one trait may go to several fields). Every other trait is **not sent**, and
//! one [`WarningKind::FieldNotSent`] warning names them all; so are the unknown parts of an
//! `address` or `company` object. With `sendUserIdAndAnonymousId` (default), the message's
//! `userId` and `anonymousId` follow as fields `userId` and `anonymousId`.
//!
//! Values: strings as JSON strings, numbers as JSON numbers with the literal text that arrived,
//! booleans as booleans, objects and arrays as a string of their compact JSON; `null` is not
//! sent. A field name that is already set is not set again (the first wins; a warning names the
//! loser).
//!
//! Key order, deterministic: the `lookupField` first, then the traits' fields in the order the
//! traits arrived (an `address` object's parts in the table's order), then `userId`, then
//! `anonymousId`. The lookup field must have a value, else [`Error::MissingEmail`] (lookup field
//! `email`) or [`Error::InvalidField`] naming it.
//!
//! # The batch
//!
//! `POST {rest}/rest/v1/leads.json` with
//! `{"action":"createOrUpdate","lookupField":"email","input":[…]}` (keys in that order). The action
//! comes from `createIfNotExist`: true → `createOrUpdate`, false → `updateOnly` (update leads
//! that exist, create none). [`LeadBatch`] takes records until the next one would make 301
//! records or pass 1 MB (1,048,576 bytes) of body, and reads the answer back into one
//! [`RecordOutcome`] per record, in input order.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::error::{Error, MessageLabel};
use crate::event::{Identify, Value};
use crate::plan::{Warning, WarningKind};
use crate::request::{RequestKind, Response};
use crate::soap::lead::email_of;

use super::body::{FieldValue, InputJson, Records, write_json_str, write_object};
use super::response::{RecordOutcome, Reply, read_records};
use super::token::AccessToken;
use super::{MAX_BODY_BYTES, RestApi, post_json};
use crate::request::Request;

/// The Sync Leads `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncAction {
    /// `createOrUpdate`: update the lead matching the lookup field, else create it
    /// (`createIfNotExist: true`, the default).
    CreateOrUpdate,
    /// `updateOnly`: update the matching lead; a lead that does not exist is skipped with 1004
    /// (`createIfNotExist: false`).
    UpdateOnly,
    /// `createOnly`: create; an existing lead is skipped with 1005. Not chosen by any setting.
    CreateOnly,
}

impl SyncAction {
    /// Marketo's name for the action.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncAction::CreateOrUpdate => "createOrUpdate",
            SyncAction::UpdateOnly => "updateOnly",
            SyncAction::CreateOnly => "createOnly",
        }
    }

    /// The action for the `createIfNotExist` setting.
    pub fn for_create_if_not_exist(create: bool) -> SyncAction {
        if create {
            SyncAction::CreateOrUpdate
        } else {
            SyncAction::UpdateOnly
        }
    }
}

/// One Sync Leads input record: ordered `(REST field, value)` pairs, the lookup field first, and
/// their JSON text. Cheap to clone (shared): a record sits in its message's job and in the batch
/// that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct LeadInput(Arc<Record>);

#[derive(Clone, PartialEq, Eq)]
struct Record {
    /// Names are mostly the standard ones (`&'static str`); a `traits` mapping's are copied.
    fields: Vec<(Cow<'static, str>, FieldValue)>,
    json: String,
}

impl std::fmt::Debug for LeadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadInput")
            .field("fields", &self.0.fields)
            .field("json", &self.0.json)
            .finish()
    }
}

impl InputJson for LeadInput {
    fn json(&self) -> &str {
        &self.0.json
    }
}

impl LeadInput {
    fn new(fields: Vec<(Cow<'static, str>, FieldValue)>) -> LeadInput {
        let mut json = String::with_capacity(fields.iter().map(|(k, v)| k.len() + v.as_text().len() + 6).sum::<usize>() + 2);
        write_object(&fields, &mut json);
        LeadInput(Arc::new(Record { fields, json }))
    }

    /// The fields, taken out (copied only when the record is shared).
    fn into_fields(self) -> Vec<(Cow<'static, str>, FieldValue)> {
        Arc::try_unwrap(self.0).map_or_else(|shared| shared.fields.clone(), |record| record.fields)
    }

    /// The fields, taken out to build the record again (copied only when it is shared).
    fn take_fields(&mut self) -> Vec<(Cow<'static, str>, FieldValue)> {
        match Arc::get_mut(&mut self.0) {
            Some(record) => std::mem::take(&mut record.fields),
            None => self.0.fields.clone(),
        }
    }

    /// The fields in order (the lookup field first).
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&str, &FieldValue)> {
        self.0.fields.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.0.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The lookup field's name and value (the first field).
    pub fn lookup(&self) -> Option<(&str, &FieldValue)> {
        self.0.fields.first().map(|(k, v)| (k.as_ref(), v))
    }

    /// The record as JSON text (what goes into `input`).
    pub fn json(&self) -> &str {
        &self.0.json
    }

    /// Merges a later record for the same lead into this one, field by field: a later value wins,
    /// a new field is appended, the lookup field stays first.
    pub fn absorb(&mut self, later: LeadInput) {
        let mut fields = self.take_fields();
        for (name, value) in later.into_fields() {
            match fields.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => fields.push((name, value)),
            }
        }
        *self = LeadInput::new(fields);
    }

    /// Removes the named fields (Marketo answered 1006 `Field 'x' not found` for them) and
    /// returns the names removed. The lookup field is never removed: a record whose lookup field
    /// Marketo does not know cannot be synced.
    pub fn remove_fields<S: AsRef<str>>(&mut self, names: &[S]) -> Vec<String> {
        let known = |name: &str| !names.iter().any(|n| n.as_ref() == name);
        if self.0.fields.iter().skip(1).all(|(name, _)| known(name)) {
            return Vec::new();
        }
        let mut fields = self.take_fields();
        let mut removed = Vec::new();
        let mut i = 1;
        while i < fields.len() {
            if known(&fields[i].0) {
                i += 1;
            } else {
                removed.push(fields.remove(i).0.into_owned());
            }
        }
        *self = LeadInput::new(fields);
        removed
    }
}

/// Up to 300 Sync Leads records, under 1 MB of body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadBatch {
    action: SyncAction,
    /// Shared between the batches of one [`RestApi`] (its template is cloned per batch).
    lookup_field: Arc<str>,
    head: Arc<str>,
    records: Records<LeadInput>,
}

impl LeadBatch {
    /// An empty batch for this action and lookup field.
    pub fn new(action: SyncAction, lookup_field: &str) -> LeadBatch {
        let head = head(action, lookup_field);
        LeadBatch {
            action,
            lookup_field: lookup_field.into(),
            records: Records::new(head.len()),
            head: head.into(),
        }
    }

    /// Adds a record, or gives it back when adding it would pass 300 records or 1,048,576 bytes
    /// of body (send this batch, then start a new one with it), or when its first field is not
    /// this batch's lookup field. An empty batch refuses only a record that is too large on its
    /// own, which [`RestApi::lead_input`] never returns.
    pub fn push(&mut self, record: LeadInput) -> Result<(), LeadInput> {
        if record.lookup().map(|(k, _)| k) != Some(&*self.lookup_field) {
            return Err(record);
        }
        self.records.try_push(record)
    }

    /// The records, in input order.
    pub fn records(&self) -> &[LeadInput] {
        self.records.records()
    }

    /// The records, given back.
    pub fn into_records(self) -> Vec<LeadInput> {
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

    /// The lookup field every record's first field must be.
    pub fn lookup_field(&self) -> &str {
        &self.lookup_field
    }

    /// The action.
    pub fn action(&self) -> SyncAction {
        self.action
    }

    /// The exact length of [`LeadBatch::body`] in bytes.
    pub fn body_len(&self) -> usize {
        self.records.body_len()
    }

    /// The body: `{"action":…,"lookupField":…,"input":[…]}`.
    pub fn body(&self) -> String {
        self.records.body(&self.head)
    }

    /// Appends [`LeadBatch::body`] to `out` (the hot path: the caller reuses its buffer).
    pub fn write_body(&self, out: &mut String) {
        self.records.write_body(&self.head, out);
    }

    /// The request: `POST {rest_base}/rest/v1/leads.json`, `Content-Type: application/json`,
    /// `Authorization: Bearer …`.
    pub fn request(&self, rest_base: &str, token: &AccessToken) -> Request {
        post_json(RequestKind::SyncLeads, rest_base, "/rest/v1/leads.json", token, self.body())
    }

    /// Reads the answer: one [`RecordOutcome`] per record, result `i` for record `i`; a
    /// request-level error (`success: false`) is an `Err` (see [`super::response`]).
    pub fn read_response(&self, response: &Response) -> Result<Reply<Vec<RecordOutcome>>, Error> {
        read_records(response, self.len())
    }
}

fn head(action: SyncAction, lookup_field: &str) -> String {
    let mut head = String::with_capacity(64 + lookup_field.len());
    head.push_str("{\"action\":");
    write_json_str(action.as_str(), &mut head);
    head.push_str(",\"lookupField\":");
    write_json_str(lookup_field, &mut head);
    head.push_str(",\"input\":[");
    head
}

/// Standard Segment traits with a scalar value -> REST field (`address` and `company` objects are
/// flattened separately; `email` is handled first of all).
fn standard_field(key: &str) -> Option<&'static str> {
    Some(match key {
        "firstName" => "firstName",
        "lastName" => "lastName",
        "phone" => "phone",
        "title" => "title",
        "website" => "website",
        "company" => "company",
        "address" => "address",
        "birthday" => "dateOfBirth",
        _ => return None,
    })
}

/// (REST field, source keys in order of preference) of a flattened object.
type Parts = [(&'static str, &'static [&'static str])];

const ADDRESS_PARTS: [(&str, &[&str]); 5] = [
    ("city", &["city"]),
    ("country", &["country"]),
    ("postalCode", &["postalCode", "zip"]),
    ("state", &["state"]),
    ("address", &["street"]),
];
const COMPANY_PARTS: [(&str, &[&str]); 1] = [("company", &["name"])];

/// `YYYY-MM-DD` of an ISO date or date-time; other text as it is.
fn date_part(text: &str) -> &str {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b.get(10), None | Some(b'T' | b't' | b' '))
    {
        &text[..10]
    } else {
        text
    }
}

/// The record under construction, with what did not make it.
struct Builder<'m> {
    fields: Vec<(Cow<'static, str>, FieldValue)>,
    /// (what, field already set).
    duplicates: Vec<(String, String)>,
    /// The warning naming the traits or parts not sent for want of a field, written as they come:
    /// the message, then the names joined by ", " (one string rather than a list: most traits of a
    /// typical identify land here); the rest of the sentence is added at the end.
    not_sent: String,
    /// The message's `messageId`, which the warning starts with.
    message_id: Option<&'m str>,
    /// How many names `not_sent` holds.
    not_sent_count: usize,
}

/// Where a field's value came from, named only when a warning needs it.
#[derive(Clone, Copy)]
enum Source<'s> {
    /// A trait.
    Trait(&'s str),
    /// A part of an object trait (`address.city`).
    Part(&'s str, &'s str),
}

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Trait(key) => f.write_str(key),
            Source::Part(parent, key) => write!(f, "{parent}.{key}"),
        }
    }
}

impl Builder<'_> {
    fn push(&mut self, source: Source<'_>, field: Cow<'static, str>, value: FieldValue) {
        if self.has(&field) {
            self.duplicates.push((source.to_string(), field.into_owned()));
        } else {
            self.fields.push((field, value));
        }
    }

    fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == field)
    }

    /// The parts of an object trait, read in one pass: the last value of each source key (as
    /// `Fields::get`), and the other keys with a value (not sent), in order.
    fn nested<'m>(&mut self, parent: &str, raw: &'m str, parts: &Parts) {
        let mut last: [Option<Value<'m>>; 8] = Default::default();
        let mut unknown: Vec<String> = Vec::new();
        let read = crate::event::each_field(raw, |key, value| {
            match parts.iter().flat_map(|(_, s)| s.iter()).position(|k| *k == key) {
                Some(at) if at < last.len() => last[at] = Some(value),
                _ if value == Value::Null => {}
                _ => unknown.push(format!("{parent}.{key}")),
            }
        });
        if let Err(e) = read {
            // Only a key or value JSON allows but Rust strings cannot hold (a lone surrogate).
            self.not_sent_part(parent, &format!(" (not readable: {e})"));
            return;
        }
        let mut first = 0;
        for (field, sources) in parts {
            let value = (first..first + sources.len()).find_map(|at| last.get_mut(at)?.take().filter(|v| *v != Value::Null));
            first += sources.len();
            if let Some(v) = value.as_ref().and_then(FieldValue::from_event) {
                self.push(Source::Part(parent, sources[0]), Cow::Borrowed(field), v);
            }
        }
        for key in unknown {
            self.not_sent_part(&key, "");
        }
    }

    /// Adds `name` `suffix` to the names not sent.
    fn not_sent_part(&mut self, name: &str, suffix: &str) {
        if self.not_sent_count > 0 {
            self.not_sent.push_str(", ");
        } else {
            // Room for a typical warning at once: growing it step by step cost more than the rest.
            self.not_sent.reserve(384);
            let _ = write!(self.not_sent, "{}: ", MessageLabel(self.message_id));
        }
        self.not_sent_count += 1;
        self.not_sent.push_str(name);
        self.not_sent.push_str(suffix);
    }
}

impl RestApi {
    /// The Sync Leads record of an identify (see the module docs for the rules and the key
    /// order). Warnings (traits not sent, fields set twice) are appended to `warnings`.
    ///
    /// Errors: [`Error::MissingEmail`] when the lookup field is `email` and there is none;
    /// [`Error::InvalidField`] naming the lookup field when another lookup field has no value;
    /// [`Error::TooLarge`] when the record alone would pass 1 MB of body.
    pub fn lead_input(&self, msg: &Identify<'_>, warnings: &mut Vec<Warning>) -> Result<LeadInput, Error> {
        // Named only in warnings and errors: built when one is.
        let message = || msg.common.message_ref();
        let mut b = Builder {
            fields: Vec::with_capacity(msg.traits.len() + 3),
            duplicates: Vec::new(),
            not_sent: String::new(),
            message_id: msg.common.message_id.as_deref(),
            not_sent_count: 0,
        };
        let email = email_of(msg);
        let mut email_sent = false;
        let push_email = |b: &mut Builder<'_>, email: &str| {
            let mut mapped = false;
            for m in self.traits.iter().filter(|(t, _)| t == "email") {
                mapped = true;
                b.push(
                    Source::Trait("email"),
                    Cow::Owned(m.1.clone()),
                    FieldValue::String(email.to_owned()),
                );
            }
            if !mapped {
                b.push(Source::Trait("email"), Cow::Borrowed("email"), FieldValue::String(email.to_owned()));
            }
        };
        for (key, value) in msg.traits.iter() {
            if key == "email" {
                if let (false, Some(e)) = (email_sent, email) {
                    push_email(&mut b, e);
                    email_sent = true;
                }
                continue;
            }
            let mut mapped = false;
            for m in self.traits.iter().filter(|(t, _)| t == key) {
                mapped = true;
                if let Some(v) = FieldValue::from_event(value) {
                    b.push(Source::Trait(key), Cow::Owned(m.1.clone()), v);
                }
            }
            if mapped {
                continue;
            }
            match (key, value) {
                (_, Value::Null) => {}
                ("address", Value::Object(raw)) => b.nested("address", raw, &ADDRESS_PARTS),
                ("company", Value::Object(raw)) => b.nested("company", raw, &COMPANY_PARTS),
                // The value is copied only for a trait that is sent.
                _ => match (standard_field(key), value) {
                    (Some("dateOfBirth"), Value::String(s)) => {
                        let date = date_part(s).to_owned();
                        b.push(Source::Trait(key), Cow::Borrowed("dateOfBirth"), FieldValue::String(date));
                    }
                    (Some(field), value) => match FieldValue::from_event(value) {
                        Some(v) => b.push(Source::Trait(key), Cow::Borrowed(field), v),
                        None => b.not_sent_part(key, ""),
                    },
                    (None, _) => b.not_sent_part(key, ""),
                },
            }
        }
        if let (false, Some(e)) = (email_sent, email) {
            push_email(&mut b, e);
        }
        if self.send_user_id_and_anonymous_id {
            for (field, id) in [("userId", &msg.common.user_id), ("anonymousId", &msg.common.anonymous_id)] {
                if let Some(id) = id.as_deref()
                    && !b.has(field)
                {
                    b.fields.push((Cow::Borrowed(field), FieldValue::String(id.to_owned())));
                }
            }
        }
        let Some(at) = b.fields.iter().position(|(k, _)| *k == self.lookup_field()) else {
            return Err(if self.lookup_field() == "email" {
                Error::MissingEmail { message: message() }
            } else {
                Error::InvalidField {
                    message: message(),
                    field: self.lookup_field().to_owned(),
                    reason: "the lookup field has no value: no trait maps to it (see the `traits` setting)".into(),
                }
            });
        };
        let lookup = b.fields.remove(at);
        b.fields.insert(0, lookup);
        if b.not_sent_count > 0 {
            let mut text = std::mem::take(&mut b.not_sent);
            text.push_str(" not sent: no standard Marketo field for ");
            text.push_str(if b.not_sent_count == 1 { "it" } else { "them" });
            text.push_str(", and no entry in the `traits` setting");
            warnings.push(Warning::new(WarningKind::FieldNotSent, text));
        }
        for (source, field) in &b.duplicates {
            warnings.push(Warning::new(
                WarningKind::FieldNotSent,
                format!("{}: {source} not sent: field `{field}` is already set", message()),
            ));
        }
        let input = LeadInput::new(b.fields);
        let len = Records::alone_len(self.lead_batch.head.len(), &input);
        if len > MAX_BODY_BYTES {
            return Err(Error::TooLarge {
                message: message(),
                reason: format!("the lead record makes a {len}-byte Sync Leads body; Marketo accepts at most {MAX_BODY_BYTES} bytes"),
            });
        }
        Ok(input)
    }

    /// An empty [`LeadBatch`] with this destination's action and lookup field.
    pub fn lead_batch(&self) -> LeadBatch {
        self.lead_batch.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_part("1990-05-17T00:00:00.000Z"), "1990-05-17");
        assert_eq!(date_part("1990-05-17"), "1990-05-17");
        assert_eq!(date_part("17/05/1990"), "17/05/1990");
        assert_eq!(date_part("1990-05-17x"), "1990-05-17x");
        assert_eq!(date_part("é"), "é");
    }

    #[test]
    fn remove_fields_keeps_lookup() {
        let mut r = LeadInput::new(vec![
            ("email".into(), FieldValue::String("a@b.co".into())),
            ("foo".into(), FieldValue::Number("1".into())),
            ("bar".into(), FieldValue::Bool(true)),
        ]);
        assert_eq!(r.remove_fields(&["email", "foo"]), vec!["foo"]);
        assert_eq!(r.json(), r#"{"email":"a@b.co","bar":true}"#);
    }
}
