//! The browser side of Segment's Marketo destination: the Munchkin call that analytics.js would
//! have made for a message, as a value ([`MunchkinCall`]).
//!
//! - track -> `visitWebPage {url, params}` ([`track_call`]): `url` is the event name with every
//!   space and underscore replaced by `-` (case kept), prefixed with `/event/` unless it already
//!   starts with it; `params` is `key=encodeURIComponent(String(value))&` per property, key not
//!   encoded, trailing `&` kept.
//! - page -> `visitWebPage {url, params}` ([`page_call`]): `url` is `properties.url` as given;
//!   `params` is the query of that URL without `?` and without the fragment, as a browser's
//!   `<a href>` reports it (component-url `parse(url).query`).
//! - identify -> `associateLead(attributes, hash)` when there is an email; `hash` is
//!   [`associate_lead_hash`]. The attributes follow Segment's "Marketo" integration (v1), or
//!   "Marketo V2" when the `traits` mapping setting is non-empty (see [`Client::identify`]).
//! - A message whose `integrations` object disables Marketo gets no call.
//!
//! **`associateLead` is gone.** Marketo retired Munchkin's `associateLead` in 2021: Marketo's
//! Munchkin API reference now says of it "This method has been deprecated and is no longer
//! available for use" (AdobeDocs/marketo-developer.en `help/javascript-api/api-reference.md`), and
//! Segment's Marketo V2 4.0.0 (2021-09-09) "Deprecate associateLead method" and "Remove email hash
//! method" (segmentio/analytics.js-integrations `integrations/marketo-v2/HISTORY.md`). The payload
//! and hash stay available here as pure functions, for replaying and comparing old traffic. To
//! tie a browser's Munchkin cookie to a known lead today, use REST "Associate Lead":
//! `POST /rest/v1/leads/{id}/associate.json?cookie=…` (AdobeDocs/marketo-developer.en
//! `help/rest-api/leads.md`).
//!
//! # Sources
//!
//! - segmentio/analytics.js-integrations `integrations/marketo/lib/index.js` (v1) and
//!   `integrations/marketo-v2/lib/index.js` (V2, whose trait building this follows; V2 3.0.7 sent
//!   it with `associateLead` and a hash, 4.x through a hidden Marketo form).
//! - segmentio/facade `lib/identify.js`, `lib/facade.js` (`traits(aliases)`, `email()`,
//!   `firstName()`, `lastName()`, `proxy()`), and obj-case, which `proxy()` uses to find a trait
//!   whatever its casing (`first_name`, `FirstName` and `firstname` all answer `firstName`).
//! - segment-boneyard/marketo-sign `lib/index.js` `email()` for the hash.
//! - Vectors: `../shared/vectors/analytics-js-marketo.json`.
//!
//! # JavaScript semantics reproduced
//!
//! - **Object key order.** Properties and traits are iterated as a JavaScript object built by
//!   `JSON.parse` iterates them: keys that are array indices (`"0"`, `"17"`, not `"01"`, at most
//!   4294967294) first, in ascending numeric order, then the other keys in the order they first
//!   appeared; a repeated key keeps its first position and takes its last value.
//! - **`String(value)`** in track params: strings as they are; numbers as the JSON text that
//!   arrived (`1.50` stays `1.50` where JavaScript would print `1.5`: the crate's rule is that
//!   numbers travel as sent); `true`/`false`; `null` -> `null`; objects -> `[object Object]`;
//!   arrays -> their elements' `String` joined by `,` with `null` elements empty
//!   (`[1,[2,3],null,{}]` -> `1,2,3,,[object Object]`).
//! - **Truthiness**, where the sources test it: `null`, `false`, `0` and `""` are false; objects
//!   and arrays, even empty, are true.
//! - **`trim`** removes JavaScript's `\s` characters (which include U+FEFF and not U+0085).
//!
//! Not reproduced: analytics.js turns ISO-8601 date strings in traits and properties into `Date`
//! objects, whose text depends on the browser's time zone; here they stay the strings that
//! arrived. Prototype quirks of JavaScript objects (`__proto__`, inherited names such as
//! `constructor`) are not reproduced either.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use sha1::{Digest, Sha1};

use super::{encode_uri_component, encode_uri_component_with, write_track_path};
use crate::casing::REST_TO_SOAP;
use crate::error::Error;
use crate::event::{Fields, Identify, Message, Page, Track, Value, write_compact_json};
use crate::rest::body::write_json_str;
use crate::settings::{Secret, Settings, TraitMapping};

/// One Munchkin call: `mktoMunchkinFunction(<function>, <args>…)`.
///
/// [`MunchkinCall::to_json`] gives it as the JSON array of the shared vectors
/// (`["visitWebPage",{"url":…,"params":…}]`, `["associateLead",{…},"<hash>"]`); it also
/// serialises to that array with serde, where `serde_json` keeps number text as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MunchkinCall {
    /// `visitWebPage`: records a page visit.
    VisitWebPage {
        /// The page URL (track: `/event/…`).
        url: String,
        /// The query string recorded with it, without `?`.
        params: String,
    },
    /// `associateLead` (retired by Marketo in 2021): the lead's attributes and the hash that
    /// authenticated them.
    AssociateLead {
        /// Marketo field name and value, in the order JavaScript would enumerate them.
        attributes: Vec<(String, Value<'static>)>,
        /// [`associate_lead_hash`] of the API private key and the email.
        hash: String,
    },
}

impl MunchkinCall {
    /// The Munchkin function name: `visitWebPage` or `associateLead`.
    pub fn function(&self) -> &'static str {
        match self {
            MunchkinCall::VisitWebPage { .. } => "visitWebPage",
            MunchkinCall::AssociateLead { .. } => "associateLead",
        }
    }

    /// The value of attribute `name` of an `associateLead` call.
    pub fn attribute(&self, name: &str) -> Option<&Value<'static>> {
        match self {
            MunchkinCall::AssociateLead { attributes, .. } => attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            MunchkinCall::VisitWebPage { .. } => None,
        }
    }

    /// The call as a JSON array: `["visitWebPage",{"url":…,"params":…}]` or
    /// `["associateLead",{…},"<hash>"]`.
    ///
    /// Attribute values keep their JSON type. `serde_json::Value` stores numbers as `f64`/integers,
    /// so `1.50` reads back as `1.5`, and a number beyond `f64` (`1e400`) becomes a string of its
    /// text; [`MunchkinCall::to_json_string`] keeps the text exactly. `serde_json::Map` does not
    /// keep key order; the order is in [`MunchkinCall::AssociateLead::attributes`].
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            MunchkinCall::VisitWebPage { url, params } => {
                let mut args = serde_json::Map::new();
                args.insert("url".into(), J::String(url.clone()));
                args.insert("params".into(), J::String(params.clone()));
                J::Array(vec![J::String(self.function().into()), J::Object(args)])
            }
            MunchkinCall::AssociateLead { attributes, hash } => {
                let mut lead = serde_json::Map::new();
                for (k, v) in attributes {
                    lead.insert(k.clone(), value_to_json(v));
                }
                J::Array(vec![J::String(self.function().into()), J::Object(lead), J::String(hash.clone())])
            }
        }
    }

    /// The call as compact JSON text, attributes in order and numbers as the text that arrived.
    pub fn to_json_string(&self) -> String {
        match self {
            MunchkinCall::VisitWebPage { .. } => serde_json::to_string(self).unwrap_or_default(),
            MunchkinCall::AssociateLead { attributes, hash } => {
                let mut out = String::new();
                // A call built by hand may hold number or object text that is not JSON: checked.
                write_associate_lead(attributes.iter().map(|(k, v)| (k.as_str(), v)), hash, true, &mut out);
                out
            }
        }
    }
}

impl Serialize for MunchkinCall {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MunchkinCall::VisitWebPage { url, params } => {
                let mut seq = s.serialize_seq(Some(2))?;
                seq.serialize_element(self.function())?;
                seq.serialize_element(&VisitArgs { url, params })?;
                seq.end()
            }
            MunchkinCall::AssociateLead { attributes, hash } => {
                let mut seq = s.serialize_seq(Some(3))?;
                seq.serialize_element(self.function())?;
                seq.serialize_element(&Attributes(attributes))?;
                seq.serialize_element(hash)?;
                seq.end()
            }
        }
    }
}

struct VisitArgs<'s> {
    url: &'s str,
    params: &'s str,
}

impl Serialize for VisitArgs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("url", self.url)?;
        map.serialize_entry("params", self.params)?;
        map.end()
    }
}

struct Attributes<'s>(&'s [(String, Value<'static>)]);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, &JsonText(v))?;
        }
        map.end()
    }
}

/// A [`Value`] serialised with its JSON text (through `RawValue`, which `serde_json` writes
/// verbatim); text that is not valid JSON is written as a string.
struct JsonText<'s>(&'s Value<'s>);

impl Serialize for JsonText<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = match self.0 {
            Value::Null => return s.serialize_unit(),
            Value::Bool(b) => return s.serialize_bool(*b),
            Value::String(v) => return s.serialize_str(v),
            Value::Number(n) => n.to_string(),
            Value::Object(raw) | Value::Array(raw) => {
                let mut out = String::with_capacity(raw.len());
                write_compact_json(raw, &mut out);
                out
            }
        };
        match serde_json::value::RawValue::from_string(text) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_str(&self.0.to_text().unwrap_or_default()),
        }
    }
}

fn value_to_json(v: &Value<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::String(s) => J::String(s.to_string()),
        Value::Number(n) => serde_json::from_str::<serde_json::Number>(n).map_or_else(|_| J::String(n.to_string()), J::Number),
        Value::Object(raw) | Value::Array(raw) => serde_json::from_str(raw).unwrap_or_else(|_| {
            let mut out = String::with_capacity(raw.len());
            write_compact_json(raw, &mut out);
            J::String(out)
        }),
    }
}

/// The `associateLead` hash: lowercase hex SHA-1 of the Munchkin API private key followed by the
/// email, exactly as given (no trimming, no case change), as segment-boneyard/marketo-sign
/// `email(key, email)` computes it.
pub fn associate_lead_hash(private_key: &str, email: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(private_key.as_bytes());
    sha.update(email.as_bytes());
    hex::encode(sha.finalize())
}

/// The `visitWebPage` call of a track: `url` from the event name, `params` from the properties
/// (see the [module documentation](self) for the `String(value)` rules and the key order).
pub fn track_call(event: &str, properties: &Fields<'_>) -> MunchkinCall {
    let mut url = String::with_capacity(event.len() + 7);
    write_track_path(event, &mut url);
    let mut params = String::new();
    write_js_params(properties, &mut params);
    MunchkinCall::VisitWebPage { url, params }
}

/// Appends `key=encodeURIComponent(String(value))&` per property, in JavaScript object order
/// (array-index keys first, ascending; a repeated key keeps its first place and its last value).
pub(crate) fn write_js_params(properties: &Fields<'_>, params: &mut String) {
    write_params(properties, false, params);
}

/// [`write_js_params`] encoded once more with `encodeURIComponent`, as the beacon's `_mchQp`
/// carries it, in one pass: a key is encoded once, `=` and `&` become `%3D` and `%26`, and a
/// value's escapes `%XY` become `%25XY`.
pub(crate) fn write_js_params_encoded(properties: &Fields<'_>, params: &mut String) {
    write_params(properties, true, params);
}

fn write_params(properties: &Fields<'_>, again: bool, params: &mut String) {
    let mut text = String::new();
    let mut param = |key: &str, value: &Value<'_>| {
        if again {
            encode_uri_component(key, params);
            params.push_str("%3D");
        } else {
            params.push_str(key);
            params.push('=');
        }
        let value = match value {
            Value::String(v) | Value::Number(v) => v.as_ref(),
            other => {
                text.clear();
                js_string(other, &mut text);
                &text
            }
        };
        encode_uri_component_with(value, again, params);
        params.push_str(if again { "%26" } else { "&" });
    };
    // Most property lists have no array-index key and no repeated key: then JavaScript's order is
    // the arrival order and no reordering copy is needed.
    let keys = || properties.iter().map(|(k, _)| k);
    let plain = properties.len() <= 32
        && keys().all(|k| array_index(k).is_none())
        && keys().enumerate().all(|(i, k)| !keys().take(i).any(|earlier| earlier == k));
    if plain {
        for (key, value) in properties.iter() {
            param(key, value);
        }
    } else {
        for (key, value) in JsObject::from_fields(properties).entries.iter() {
            param(key, value);
        }
    }
}

/// The `visitWebPage` call of a page: `url` as given, `params` its query without `?` and without
/// the fragment, percent-encoded as a browser's URL parser leaves it (`?a=b c` gives `a=b%20c`).
///
/// A relative `url` is resolved against `base` (the page's own URL, `context.page.url`, as the
/// browser resolves it against the document) or, without one, against `http://localhost/`. A
/// URL that does not parse (`http://exa mple.com/?q=1`) gives empty params, as in a browser.
pub fn page_call(url: &str, base: Option<&str>) -> MunchkinCall {
    MunchkinCall::VisitWebPage {
        url: url.to_owned(),
        params: url_query(url, base),
    }
}

/// What `document.createElement('a')` with `href = url` reports as `search`, without the `?`.
fn url_query(url: &str, base: Option<&str>) -> String {
    let base = base
        .and_then(|b| url::Url::parse(b).ok())
        .or_else(|| url::Url::parse("http://localhost/").ok());
    url::Url::options()
        .base_url(base.as_ref())
        .parse(url)
        .ok()
        .and_then(|u| u.query().map(str::to_owned))
        .unwrap_or_default()
}

/// Builds [`MunchkinCall`]s from Segment messages, as analytics.js's Marketo integration did in
/// the browser. Pure: no I/O, no clock.
///
/// ```
/// use segment_marketo::event::Message;
/// use segment_marketo::munchkin::client::{associate_lead_hash, Client};
/// use segment_marketo::settings::Settings;
///
/// let settings = Settings::from_json(r#"{"accountId":"332-UOQ-444","privateKey":"k"}"#)?;
/// let client = Client::new(&settings)?;
///
/// let track = Message::from_json(r#"{"type":"track","event":"Signed Up","properties":{"plan":"pro plus"}}"#)?;
/// let call = client.call(&track)?.unwrap();
/// assert_eq!(call.to_json_string(), r#"["visitWebPage",{"url":"/event/Signed-Up","params":"plan=pro%20plus&"}]"#);
///
/// let identify = Message::from_json(r#"{"type":"identify","userId":"u1","traits":{"email":"a@b.co","plan":1.50}}"#)?;
/// let call = client.call(&identify)?.unwrap();
/// let hash = associate_lead_hash("k", "a@b.co");
/// assert_eq!(call.to_json_string(), format!(r#"["associateLead",{{"plan":1.50,"id":"u1","Email":"a@b.co","userId":"u1"}},"{hash}"]"#));
/// # Ok::<(), segment_marketo::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    private_key: Secret,
    trait_mappings: Vec<TraitMapping>,
}

impl Client {
    /// A client for these settings; they must pass [`Settings::validate_client`] (`accountId` and
    /// `privateKey`). A non-empty `traits` mapping selects Marketo V2's identify rules.
    pub fn new(settings: &Settings) -> Result<Client, Error> {
        settings.validate_client()?;
        Ok(Client {
            private_key: settings.private_key.clone().unwrap_or_default(),
            trait_mappings: settings.traits.clone(),
        })
    }

    /// Whether identify follows Marketo V2 (the `traits` mapping setting is non-empty).
    pub fn is_v2(&self) -> bool {
        !self.trait_mappings.is_empty()
    }

    /// The call for any message: `None` when `integrations` disables Marketo, for an identify
    /// without an email, and for group, alias and screen.
    pub fn call(&self, message: &Message<'_>) -> Result<Option<MunchkinCall>, Error> {
        match message {
            Message::Identify(m) => self.identify(m),
            Message::Track(m) => self.track(m),
            Message::Page(m) => self.page(m),
            _ => Ok(None),
        }
    }

    /// The `visitWebPage` call of a track ([`track_call`]); `None` when Marketo is disabled for
    /// it. The same in v1 and V2 mode (V2 3.x had dropped browser tracks; this keeps them).
    pub fn track(&self, message: &Track<'_>) -> Result<Option<MunchkinCall>, Error> {
        if !message.common.integrations.marketo_enabled() {
            return Ok(None);
        }
        Ok(Some(track_call(&message.event, &message.properties)))
    }

    /// The `visitWebPage` call of a page ([`page_call`], relative URLs resolved against
    /// `context.page.url`); `None` when Marketo is disabled for it.
    ///
    /// Errors: [`Error::MissingUrl`] when `properties.url` is absent, `null` or empty;
    /// [`Error::InvalidField`] when it is not a string.
    pub fn page(&self, message: &Page<'_>) -> Result<Option<MunchkinCall>, Error> {
        let common = &message.common;
        if !common.integrations.marketo_enabled() {
            return Ok(None);
        }
        let url = match message.properties.get("url") {
            None | Some(Value::Null) => {
                return Err(Error::MissingUrl {
                    message: common.message_ref(),
                });
            }
            Some(Value::String(s)) if s.is_empty() => {
                return Err(Error::MissingUrl {
                    message: common.message_ref(),
                });
            }
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(Error::InvalidField {
                    message: common.message_ref(),
                    field: "properties.url".into(),
                    reason: format!("expected a string, got {}", json_type(other)),
                });
            }
        };
        Ok(Some(page_call(url, common.context.page_url.as_deref())))
    }

    /// The `associateLead` call of an identify; `None` without an email (`traits.email`, found
    /// whatever its casing, when truthy; else a `userId` that matches `/.+@.+\..+/`) or when
    /// Marketo is disabled for it.
    ///
    /// **v1** (no `traits` mapping), Segment's "Marketo": every trait is kept as it arrived; `id`
    /// and `userId` are the `userId`; `address`, `company`, `email`, `firstName`, `industry`,
    /// `lastName` and `phone` are renamed `Address`, `Company`, `Email`, `FirstName`, `Industry`,
    /// `LastName`, `Phone`, taking facade's values (`firstName`/`lastName` split from `name` when
    /// absent, `phone` from `phones[0]`, names trimmed); an object `Address` becomes `City`,
    /// `Country`, `PostalCode`, `State`.
    ///
    /// **V2** ("Marketo V2"): only `Email`, `DateofBirth` (`birthday`), `FirstName`,
    /// `MarketoSocialGender` (`gender`), `LastName`, `Phone`, `userId`, `anonymousId`, `City`,
    /// `Country`, `PostalCode` (`zip`, else `postalCode`), `State` (or `Address` when the address
    /// is not an object), `Company` (`company.name` when an object), then each mapped trait under
    /// its `marketoFieldName`, a standard REST name translated to its SOAP name (`fax` -> `Fax`)
    /// and any other name kept as written. Traits not mapped are not sent, nor is `id`.
    pub fn identify(&self, message: &Identify<'_>) -> Result<Option<MunchkinCall>, Error> {
        Ok(self.associate(message).map(|(attributes, hash)| MunchkinCall::AssociateLead {
            attributes: attributes
                .entries
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            hash: hex::encode(hash),
        }))
    }

    /// The hot path of [`Client::identify`]: appends the call's JSON text (as
    /// [`MunchkinCall::to_json_string`] writes it) to `out`, without building the call. Returns
    /// false, writing nothing, when there is no call.
    pub fn write_identify(&self, message: &Identify<'_>, out: &mut String) -> Result<bool, Error> {
        let Some((attributes, hash)) = self.associate(message) else {
            return Ok(false);
        };
        let mut hex = [0u8; 40];
        // 20 bytes always fit 40 hex digits.
        let hash = match hex::encode_to_slice(hash, &mut hex) {
            Ok(()) => std::str::from_utf8(&hex).unwrap_or_default(),
            Err(_) => "",
        };
        // Values from the message parser are JSON already.
        write_associate_lead(attributes.entries.iter().map(|(k, v)| (k.as_ref(), v)), hash, false, out);
        Ok(true)
    }

    /// The attributes and the hash of an identify's `associateLead`, when it has one.
    fn associate<'m>(&self, message: &'m Identify<'_>) -> Option<(JsObject<'m>, [u8; 20])> {
        if !message.common.integrations.marketo_enabled() {
            return None;
        }
        let facade = Facade::new(message);
        let email = facade.email()?;
        let mut sha = Sha1::new();
        sha.update(self.private_key.expose().as_bytes());
        match &email {
            Value::String(s) => sha.update(s.as_bytes()),
            other => {
                let mut text = String::new();
                js_string(other, &mut text);
                sha.update(text.as_bytes());
            }
        }
        let attributes = if self.is_v2() {
            facade.v2(email, &self.trait_mappings)
        } else {
            facade.v1(email)
        };
        Some((attributes, sha.finalize().into()))
    }
}

/// Appends `["associateLead",{…},"<hash>"]`: the attributes in order, strings JSON-escaped as
/// `serde_json` does, numbers as the text that arrived, objects and arrays compact. With `check`,
/// number or object text that is not JSON is written as a string, as the `Serialize` impl does.
fn write_associate_lead<'v>(attributes: impl Iterator<Item = (&'v str, &'v Value<'v>)>, hash: &str, check: bool, out: &mut String) {
    out.push_str(r#"["associateLead",{"#);
    for (i, (name, value)) in attributes.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(name, out);
        out.push(':');
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            // As serde's `RawValue` takes them: trimmed when JSON, else written as a string.
            Value::Number(n) if check => match crate::json::is_json(n) {
                true => out.push_str(n.trim_matches([' ', '\t', '\n', '\r'])),
                false => write_json_str(n, out),
            },
            Value::Object(raw) | Value::Array(raw) if check => {
                let mut compact = String::with_capacity(raw.len());
                write_compact_json(raw, &mut compact);
                match crate::json::is_json(&compact) {
                    true => out.push_str(&compact),
                    false => write_json_str(&compact, out),
                }
            }
            Value::Number(n) => out.push_str(n),
            Value::String(s) => write_json_str(s, out),
            Value::Object(raw) | Value::Array(raw) => write_compact_json(raw, out),
        }
    }
    out.push_str("},");
    write_json_str(hash, out);
    out.push(']');
}

fn json_type(v: &Value<'_>) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
    }
}

/// segmentio/facade's `Identify`, reduced to what the Marketo integrations call.
struct Facade<'m> {
    /// `identify.traits()`: the traits plus `id` = `userId` when there is one.
    traits: JsObject<'m>,
    /// The first byte of each trait key's obj-case form (0 when it has none), so a lookup passes
    /// over most keys with one comparison: a typical identify makes a dozen lookups.
    firsts: Vec<u8>,
    user_id: Option<&'m str>,
    anonymous_id: Option<&'m str>,
}

impl<'m> Facade<'m> {
    fn new(message: &'m Identify<'_>) -> Facade<'m> {
        let user_id = message.common.user_id.as_deref().filter(|s| !s.is_empty());
        let anonymous_id = message.common.anonymous_id.as_deref().filter(|s| !s.is_empty());
        let mut traits = JsObject::from_fields(&message.traits);
        if let Some(id) = user_id {
            traits.set(Cow::Borrowed("id"), Value::String(Cow::Borrowed(id)));
        }
        let firsts = traits
            .entries
            .iter()
            .map(|(k, _)| {
                k.bytes()
                    .find(|b| b.is_ascii_alphanumeric() || *b == b'.')
                    .map_or(0, |b| b.to_ascii_lowercase())
            })
            .collect();
        Facade {
            traits,
            firsts,
            user_id,
            anonymous_id,
        }
    }

    /// `proxy('traits.<path>')`.
    fn proxy(&self, path: &str) -> Option<Value<'m>> {
        if path.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.') {
            self.obj_case(path) // already normal: no copy
        } else {
            self.obj_case(&normalize(path))
        }
    }

    /// [`obj_case`] over the traits, skipping keys whose first byte cannot match. The filter is
    /// exact for a path that starts with a letter or digit (all the paths used here); any other
    /// path (empty, or starting with `.`, which a key with an empty normal form could answer)
    /// walks every key.
    fn obj_case(&self, path: &str) -> Option<Value<'m>> {
        match path.as_bytes().first() {
            Some(&first) if first.is_ascii_alphanumeric() => {
                let candidates = self.traits.entries.iter().zip(&self.firsts).filter(|(_, f)| **f == first);
                obj_case_in(candidates.map(|(entry, _)| entry), path)
            }
            _ => obj_case(&self.traits, path),
        }
    }

    /// `email()`: a truthy `traits.email`, else an email-like `userId`.
    fn email(&self) -> Option<Value<'m>> {
        match self.proxy("email") {
            Some(v) if truthy(&v) => Some(v),
            _ => self
                .user_id
                .filter(|u| crate::event::looks_like_email(u))
                .map(|u| Value::String(Cow::Borrowed(u))),
        }
    }

    /// `firstName()`: trimmed `traits.firstName` when a string, else the first space-separated
    /// word of the trimmed `traits.name`.
    fn first_name(&self) -> Option<String> {
        if let Some(Value::String(first)) = self.proxy("firstName") {
            return Some(js_trim(&first).to_owned());
        }
        match self.proxy("name") {
            Some(Value::String(name)) => js_trim(&name).split(' ').next().map(str::to_owned),
            _ => None,
        }
    }

    /// `lastName()`: trimmed `traits.lastName` when a string, else what follows the first space of
    /// the trimmed `traits.name`.
    fn last_name(&self) -> Option<String> {
        if let Some(Value::String(last)) = self.proxy("lastName") {
            return Some(js_trim(&last).to_owned());
        }
        match self.proxy("name") {
            Some(Value::String(name)) => js_last_name(&name),
            _ => None,
        }
    }

    /// `phone()` (`Facade.one('traits.phone')`): a truthy `traits.phone`, else `traits.phones[0]`
    /// when `phones` is an array.
    fn phone(&self) -> Option<Value<'m>> {
        match self.proxy("phone") {
            Some(v) if truthy(&v) => Some(v),
            _ => match self.proxy("phones") {
                Some(Value::Array(raw)) => first_element(&raw),
                _ => None,
            },
        }
    }

    /// Segment's "Marketo" (v1) attributes.
    fn v1(self, email: Value<'m>) -> JsObject<'m> {
        // Every lookup reads the traits as they arrived, so all are made first; the traits then
        // become the result without a copy.
        let address = self.proxy("address");
        let aliases: [(&str, &str, Option<Value<'m>>); 7] = [
            ("address", "Address", address.clone()),
            ("company", "Company", self.proxy("company")),
            ("email", "Email", Some(email)),
            ("firstName", "FirstName", self.first_name().map(owned_string)),
            ("industry", "Industry", self.proxy("industry")),
            ("lastName", "LastName", self.last_name().map(owned_string)),
            ("phone", "Phone", self.phone()),
        ];
        let mut ret = self.traits;
        for (alias, name, value) in aliases {
            // `if (value == null) continue;`
            let Some(value) = value.filter(|v| *v != Value::Null) else {
                continue;
            };
            ret.set(Cow::Borrowed(name), value);
            ret.remove(alias);
        }
        if let Some(id) = self.user_id {
            ret.set(Cow::Borrowed("userId"), Value::String(Cow::Borrowed(id)));
        }
        if let Some(Value::Object(_)) = ret.get("Address") {
            // `identify.proxy('address.city')`: looked up in `identify.address()`.
            let address = match address {
                Some(Value::Object(raw)) => JsObject::parse_text(&raw),
                _ => JsObject::default(),
            };
            for (key, name) in [
                ("city", "City"),
                ("country", "Country"),
                ("postalCode", "PostalCode"),
                ("state", "State"),
            ] {
                match obj_case(&address, &normalize(key)) {
                    Some(v) => ret.set(Cow::Borrowed(name), v),
                    // `traits.City = undefined`: a key Munchkin never sees; left out.
                    None => ret.remove(name),
                }
            }
            ret.remove("Address");
        }
        ret
    }

    /// Segment's "Marketo V2" attributes.
    fn v2(&self, email: Value<'m>, mappings: &[TraitMapping]) -> JsObject<'m> {
        let mut out = JsObject::default();
        let put = |out: &mut JsObject<'m>, name: &str, value: Value<'m>| out.set(Cow::Owned(name.to_owned()), value);
        put(&mut out, "Email", email);
        if let Some(v) = self.proxy("birthday").filter(truthy) {
            put(&mut out, "DateofBirth", v);
        }
        if let Some(v) = self.first_name().filter(|s| !s.is_empty()) {
            put(&mut out, "FirstName", owned_string(v));
        }
        if let Some(v) = self.proxy("gender").filter(truthy) {
            put(&mut out, "MarketoSocialGender", v);
        }
        if let Some(v) = self.last_name().filter(|s| !s.is_empty()) {
            put(&mut out, "LastName", owned_string(v));
        }
        if let Some(v) = self.phone().filter(truthy) {
            put(&mut out, "Phone", v);
        }
        if let Some(id) = self.user_id {
            put(&mut out, "userId", Value::String(Cow::Borrowed(id)));
        }
        if let Some(id) = self.anonymous_id {
            put(&mut out, "anonymousId", Value::String(Cow::Borrowed(id)));
        }
        match self.proxy("address").filter(truthy) {
            Some(Value::Object(raw)) => {
                // Plain property reads (`address.city`), not obj-case; `undefined` left out.
                let address = JsObject::parse_text(&raw);
                let get = |key: &str| address.get(key).cloned();
                let postal = match get("zip") {
                    Some(zip) if truthy(&zip) => Some(zip),
                    _ => get("postalCode"),
                };
                for (name, value) in [
                    ("City", get("city")),
                    ("Country", get("country")),
                    ("PostalCode", postal),
                    ("State", get("state")),
                ] {
                    if let Some(v) = value {
                        put(&mut out, name, v);
                    }
                }
            }
            Some(other) => put(&mut out, "Address", other),
            None => {}
        }
        match self.proxy("company").filter(truthy) {
            Some(Value::Object(raw)) => {
                if let Some(name) = JsObject::parse_text(&raw).get("name") {
                    put(&mut out, "Company", name.clone());
                }
            }
            Some(other) => put(&mut out, "Company", other),
            None => {}
        }
        for mapping in mappings {
            // `traits[segmentTrait] !== undefined`: a plain read of `identify.traits()`.
            if let Some(v) = self.traits.get(&mapping.segment_trait) {
                put(&mut out, v2_field_name(&mapping.marketo_field_name), v.clone());
            }
        }
        out
    }
}

fn owned_string<'x>(s: String) -> Value<'x> {
    Value::String(Cow::Owned(s))
}

/// Appends JavaScript's `String(value)` (see the [module documentation](self)): strings as they
/// are, numbers as their JSON text, `true`/`false`, `null`, `[object Object]`, and arrays as their
/// elements joined by `,` (nested arrays flattened the same way, `null` elements empty).
///
/// Arrays are read in one pass without recursion, so any nesting depth is safe.
fn js_string(value: &Value<'_>, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Object(_) => out.push_str("[object Object]"),
        Value::Array(raw) => js_array_string(raw, out),
        other => {
            other.write_text(out);
        }
    }
}

/// `String(array)` from the array's JSON text. Brackets vanish and every `,` between elements, at
/// any depth, stays a `,`, which is what the recursive `join(',')` produces: `[1,[2,3],[],null]`
/// -> `1,2,3,,`.
fn js_array_string(raw: &str, out: &mut String) {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'[' | b']' | b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b',' => {
                out.push(',');
                i += 1;
            }
            b'"' => {
                let end = string_end(b, i);
                if let Some(Ok(Value::String(s))) = raw.get(i..end).map(Value::from_raw) {
                    out.push_str(&s);
                }
                i = end;
            }
            b'{' => {
                out.push_str("[object Object]");
                i = container_end(b, i);
            }
            _ => {
                // true, false, null or a number: up to the next delimiter.
                let end = b[i..]
                    .iter()
                    .position(|c| matches!(c, b',' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    .map_or(b.len(), |n| i + n);
                match raw.get(i..end) {
                    Some("null") | None => {}
                    Some(token) => out.push_str(token),
                }
                i = end.max(i + 1);
            }
        }
    }
}

/// The index just after the JSON string starting at `start` (its closing quote), or the end.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// The index just after the object or array starting at `start`, or the end.
fn container_end(b: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = string_end(b, i);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// A mapped V2 field name: a standard REST name becomes its SOAP name (`fax` -> `Fax`), any other
/// name is kept as written (custom field API names are the same in REST and SOAP, as
/// `integrations/marketo-v2/lib/index.js` says).
fn v2_field_name(name: &str) -> &str {
    match REST_TO_SOAP.binary_search_by(|(rest, _)| (*rest).cmp(name)) {
        Ok(i) => REST_TO_SOAP[i].1,
        Err(_) => name,
    }
}

/// `lastName()` from `name`: `trim(name.substr(trim(name).indexOf(' ') + 1))`. The index is taken
/// in the trimmed name and applied to the untrimmed one, in UTF-16 units, as the facade does
/// (so a name with leading blanks loses characters: `"  Ada Lovelace"` gives `"a Lovelace"`).
fn js_last_name(name: &str) -> Option<String> {
    let trimmed = js_trim(name);
    let space = trimmed.find(' ')?;
    let index = trimmed[..space].encode_utf16().count() + 1;
    let units: Vec<u16> = name.encode_utf16().skip(index).collect();
    let rest = String::from_utf16_lossy(&units);
    Some(js_trim(&rest).to_owned())
}

/// JavaScript's `\s`: WhiteSpace and LineTerminator.
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// The `trim` package: `str.replace(/^\s*|\s*$/g, '')`.
fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_space)
}

/// JavaScript truthiness of a JSON value.
fn truthy(v: &Value<'_>) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.parse::<f64>() != Ok(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Object(_) | Value::Array(_) => true,
    }
}

/// The first element of a JSON array's text (`array[0]`), `None` for an empty array or `null`.
fn first_element<'x>(raw: &str) -> Option<Value<'x>> {
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(raw).ok()?;
    let first = Value::from_raw(items.first()?.get()).ok()?.into_owned();
    (first != Value::Null).then_some(first)
}

/// obj-case's key normalisation: drop everything but ASCII letters, digits and `.`, lower-case.
fn normalize(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `path` (ASCII, normalised) without the normalised form of `key` at its start, when it starts
/// with it; [`normalize`] without allocating.
fn strip_normalized<'p>(path: &'p str, key: &str) -> Option<&'p str> {
    let mut rest = path.as_bytes();
    for c in key.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.') {
        match rest.split_first() {
            Some((&b, tail)) if b == c.to_ascii_lowercase() as u8 => rest = tail,
            _ => return None,
        }
    }
    path.get(path.len() - rest.len()..)
}

/// obj-case `get(obj, path)` with an already normalised `path`: the first key (in JavaScript
/// order) whose normalised form is `path`, or a prefix of it followed by `.` (then the rest is
/// looked up inside that value). `Some(Null)` for a `null` found on the way, `None` for
/// `undefined`. Only objects are searched inside; the paths used here never match the index keys
/// of strings and arrays.
fn obj_case<'x>(obj: &JsObject<'x>, path: &str) -> Option<Value<'x>> {
    obj_case_in(obj.entries.iter(), path)
}

/// [`obj_case`] over `entries` (in JavaScript order).
fn obj_case_in<'e, 'x: 'e>(entries: impl Iterator<Item = &'e (Cow<'x, str>, Value<'x>)>, path: &str) -> Option<Value<'x>> {
    for (key, value) in entries {
        let Some(rest) = strip_normalized(path, key) else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with('.')) {
            continue;
        }
        let rest = rest.get(1..).unwrap_or("");
        if *value == Value::Null || rest.is_empty() {
            return Some(value.clone());
        }
        return match value {
            Value::Object(raw) => obj_case(&JsObject::parse_text(raw), rest),
            _ => None,
        };
    }
    None
}

/// A JSON object as JavaScript holds it after `JSON.parse`: one entry per key, in enumeration
/// order (array-index keys first, ascending; then the rest in first-appearance order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct JsObject<'a> {
    entries: Vec<(Cow<'a, str>, Value<'a>)>,
}

impl<'a> JsObject<'a> {
    /// The object of `fields`, borrowing keys and values.
    fn from_fields(fields: &'a Fields<'_>) -> JsObject<'a> {
        JsObject::from_entries(fields.iter().map(|(k, v)| (Cow::Borrowed(k), v.borrowed())))
    }

    fn from_entries(pairs: impl ExactSizeIterator<Item = (Cow<'a, str>, Value<'a>)>) -> JsObject<'a> {
        // A repeated key keeps its first place and takes its last value. Small objects are
        // searched in place; large ones through an index, so that 10,000 traits stay linear.
        const SCAN: usize = 32;
        let mut entries: Vec<(Cow<'a, str>, Value<'a>)> = Vec::with_capacity(pairs.len());
        let mut index: HashMap<Cow<'a, str>, usize> = HashMap::new();
        for (key, value) in pairs {
            let seen = if entries.len() <= SCAN {
                entries.iter().position(|(k, _)| *k == key)
            } else {
                if index.is_empty() {
                    index.extend(entries.iter().enumerate().rev().map(|(i, (k, _))| (k.clone(), i)));
                }
                index.get(&key).copied()
            };
            match seen {
                Some(i) => entries[i].1 = value,
                None => {
                    if !index.is_empty() {
                        index.insert(key.clone(), entries.len());
                    }
                    entries.push((key, value));
                }
            }
        }
        // Array-index keys first, ascending; the sort is stable for the rest.
        if entries.iter().any(|(k, _)| array_index(k).is_some()) {
            entries.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |n| (0, n)));
        }
        JsObject { entries }
    }

    /// Parses an object's JSON text (as held by [`Value::Object`]); not an object: empty.
    fn parse(raw: &'a str) -> JsObject<'a> {
        match Fields::from_json(raw) {
            Ok(fields) => JsObject::from_entries(fields.into_iter()),
            Err(_) => JsObject::default(),
        }
    }

    /// [`JsObject::parse`] of an object value's text, for as long as the text lives.
    fn parse_text<'x>(raw: &Cow<'x, str>) -> JsObject<'x> {
        match raw {
            Cow::Borrowed(raw) => JsObject::parse(raw),
            Cow::Owned(raw) => JsObject {
                entries: JsObject::parse(raw)
                    .entries
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            },
        }
    }

    fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `obj[key] = value`: an existing key keeps its place; a new one goes where JavaScript
    /// enumerates it.
    fn set(&mut self, key: Cow<'a, str>, value: Value<'a>) {
        if let Some(entry) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            entry.1 = value;
            return;
        }
        let at = match array_index(&key) {
            Some(n) => self
                .entries
                .iter()
                .position(|(k, _)| array_index(k).is_none_or(|m| m > n))
                .unwrap_or(self.entries.len()),
            None => self.entries.len(),
        };
        self.entries.insert(at, (key, value));
    }

    /// `delete obj[key]` (keys are unique: one entry at most).
    fn remove(&mut self, key: &str) {
        if let Some(at) = self.entries.iter().position(|(k, _)| k == key) {
            self.entries.remove(at);
        }
    }
}

/// The number of a key that is an array index (`0` to `4294967294`, canonical decimal).
fn array_index(key: &str) -> Option<u32> {
    let b = key.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    key.parse::<u32>().ok().filter(|n| *n != u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> JsObject<'_> {
        JsObject::parse(json)
    }

    fn keys(o: &JsObject<'_>) -> Vec<String> {
        o.entries.iter().map(|(k, _)| k.to_string()).collect()
    }

    #[test]
    fn hash_matches_marketo_sign() {
        // segment-boneyard/marketo-sign test/test.js.
        assert_eq!(
            associate_lead_hash("04815162342048151623420481516234204815162342", "calvin@segment.io"),
            "2b10f792b8fa3e0b45018195fb2ba39f21350c76"
        );
        assert_eq!(associate_lead_hash("", ""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn javascript_key_order() {
        // node: Object.keys(JSON.parse('{"b":1,"2":2,"1":3,"b":4,"01":5,"4294967295":6,"4294967294":7}'))
        let o = object(r#"{"b":1,"2":2,"1":3,"b":4,"01":5,"4294967295":6,"4294967294":7}"#);
        assert_eq!(keys(&o), ["1", "2", "4294967294", "b", "01", "4294967295"]);
        assert_eq!(o.get("b"), Some(&Value::Number("4".into())));
        let mut o = o;
        o.set("3".into(), Value::Null);
        o.set("c".into(), Value::Null);
        o.set("b".into(), Value::Null);
        o.remove("1");
        assert_eq!(keys(&o), ["2", "3", "4294967294", "b", "01", "4294967295", "c"]);
    }

    #[test]
    fn array_indices() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("4294967294"), Some(4_294_967_294));
        for no in ["", "01", "4294967295", "99999999999", "-1", "1.0", "1e3", " 1", "١"] {
            assert_eq!(array_index(no), None, "{no:?}");
        }
    }

    #[test]
    fn obj_case_lookup() {
        let o = object(r#"{"First_Name":"a","firstName":"b","address":{"Postal Code":"1","city":null},"nil":null}"#);
        assert_eq!(obj_case(&o, &normalize("firstName")), Some(Value::String("a".into())));
        assert_eq!(obj_case(&o, &normalize("address.postalCode")), Some(Value::String("1".into())));
        assert_eq!(obj_case(&o, &normalize("address.city")), Some(Value::Null));
        assert_eq!(obj_case(&o, &normalize("address.state")), None);
        assert_eq!(obj_case(&o, &normalize("nil.x")), Some(Value::Null));
        assert_eq!(obj_case(&o, &normalize("first")), None);
        assert_eq!(obj_case(&o, &normalize("firstNameX")), None);
        let dotted = object(r#"{"address.city":"X","address":{"city":"Y"}}"#);
        assert_eq!(obj_case(&dotted, "address.city"), Some(Value::String("X".into())));
        assert_eq!(normalize("E-Mail Address_2.x"), "emailaddress2.x");
    }

    #[test]
    fn facade_lookups_pass_over_what_obj_case_drops() {
        // obj-case drops `_`, `-`, spaces and non-ASCII before comparing, so the first byte a key
        // is filtered on is its first letter or digit, lower-cased.
        let json = r#"{"type":"identify","traits":{"_E-mail":"a@b.co","zeta":1,"- First Name":"Ann","é_Phone":"5"}}"#;
        let msg = Message::from_json(json).unwrap();
        let Message::Identify(m) = &msg else { panic!() };
        let facade = Facade::new(m);
        assert_eq!(facade.email(), Some(Value::String("a@b.co".into())));
        assert_eq!(facade.first_name().as_deref(), Some("Ann"));
        assert_eq!(facade.phone(), Some(Value::String("5".into())));
        assert_eq!(facade.proxy("zeta"), Some(Value::Number("1".into())));
        assert_eq!(facade.proxy("eta"), None);
        // Paths the filter cannot serve walk every key, as obj-case does.
        let json = r#"{"type":"identify","traits":{"_":{"x":1},"é":2}}"#;
        let msg = Message::from_json(json).unwrap();
        let Message::Identify(m) = &msg else { panic!() };
        let facade = Facade::new(m);
        assert_eq!(facade.obj_case(".x"), obj_case(&facade.traits, ".x"));
        assert_eq!(facade.obj_case(".x"), Some(Value::Number("1".into())));
        assert_eq!(facade.obj_case(""), obj_case(&facade.traits, ""));
    }

    #[test]
    fn trim_and_names() {
        assert_eq!(js_trim("\u{feff}\u{a0} a b \u{3000}"), "a b");
        assert_eq!(js_trim("\u{85}a"), "\u{85}a");
        assert_eq!(js_last_name("Ada Lovelace"), Some("Lovelace".into()));
        assert_eq!(js_last_name("Ada  King Lovelace "), Some("King Lovelace".into()));
        assert_eq!(js_last_name("Ada"), None);
        // node: var n = "  Ada Lovelace"; n.substr(n.trim().indexOf(' ') + 1).trim() === "a Lovelace"
        assert_eq!(js_last_name("  Ada Lovelace"), Some("a Lovelace".into()));
        // UTF-16 indices: "😀" is two units.
        assert_eq!(js_last_name("😀 x"), Some("x".into()));
        assert_eq!(js_last_name(" 😀 x"), Some("x".into()));
    }

    #[test]
    fn truthiness() {
        assert!(!truthy(&Value::Number("0".into())));
        assert!(!truthy(&Value::Number("-0.0e5".into())));
        assert!(truthy(&Value::Number("1e400".into())));
        assert!(!truthy(&Value::String("".into())));
        assert!(truthy(&Value::Array("[]".into())));
        assert!(!truthy(&Value::Bool(false)));
    }

    #[test]
    fn page_queries() {
        // node: new URL(u, "http://localhost/").search.slice(1)
        assert_eq!(
            url_query("https://example.com/pricing?plan=pro&ref=ad#top", None),
            "plan=pro&ref=ad"
        );
        assert_eq!(url_query("http://x/?a=b c&d=é#f", None), "a=b%20c&d=%C3%A9");
        assert_eq!(url_query("http://x/?q=%zz'\"<>`", None), "q=%zz%27%22%3C%3E`");
        assert_eq!(url_query("/rel?x=1 2", None), "x=1%202");
        assert_eq!(url_query("http://exa mple.com/?q=1", None), "");
        assert_eq!(url_query("http://example.com", None), "");
        assert_eq!(url_query("http://example.com/?", None), "");
        assert_eq!(url_query("#top", Some("https://a.com/p?from=base")), "from=base");
        assert_eq!(url_query("/p?own=1", Some("https://a.com/p?from=base")), "own=1");
    }

    #[test]
    fn v2_names() {
        assert_eq!(v2_field_name("fax"), "Fax");
        assert_eq!(v2_field_name("facebookId"), "MarketoSocialFacebookId");
        assert_eq!(v2_field_name("myCustomField"), "myCustomField");
        assert_eq!(v2_field_name("Fax"), "Fax");
    }

    fn js(json: &str) -> String {
        let fields = Fields::from_json(json).unwrap();
        let (_, v) = fields.iter().next().unwrap();
        let mut out = String::new();
        js_string(v, &mut out);
        out
    }

    #[test]
    fn javascript_string_of_values() {
        // Each expected value is node's String(JSON.parse(text).v).
        assert_eq!(js(r#"{"v":"a\"b"}"#), "a\"b");
        assert_eq!(js(r#"{"v":null}"#), "null");
        assert_eq!(js(r#"{"v":true}"#), "true");
        assert_eq!(js(r#"{"v":-0.5}"#), "-0.5");
        assert_eq!(js(r#"{"v":{"a":[1]}}"#), "[object Object]");
        assert_eq!(js(r#"{"v":[]}"#), "");
        assert_eq!(js(r#"{"v":[[]]}"#), "");
        assert_eq!(js(r#"{"v":[[],[]]}"#), ",");
        assert_eq!(js(r#"{"v":[1,[2,3],[],null]}"#), "1,2,3,,");
        assert_eq!(
            js(r#"{"v":[ null , false, "x,]\"y" ,{"k":"}]"},[{}]]}"#),
            ",false,x,]\"y,[object Object],[object Object]"
        );
        // Numbers keep their JSON text (node prints 1000 for 1e3).
        assert_eq!(js(r#"{"v":["\u00e9\n", 1e3]}"#), "é\n,1e3");
        // Not valid JSON (cannot come from the parser): no panic.
        let mut out = String::new();
        js_array_string("[\"unterminated, {\"a\": [é", &mut out);
        js_array_string("é]]]]", &mut out);
    }

    #[test]
    fn first_elements() {
        assert_eq!(first_element("[\"1\", 2]"), Some(Value::String("1".into())));
        assert_eq!(first_element("[]"), None);
        assert_eq!(first_element("[null]"), None);
    }

    #[test]
    fn hand_built_calls_print_as_serde_prints_them() {
        let call = |value: Value<'static>| MunchkinCall::AssociateLead {
            attributes: vec![("k".to_owned(), value)],
            hash: "h".to_owned(),
        };
        for value in [
            Value::Number(" 1".into()),
            Value::Number("1 ".into()),
            Value::Number("".into()),
            Value::Number("NaN".into()),
            Value::Number("true".into()),
            Value::Object("[1 2]".into()),
            Value::Object("{ \"a\" : 1 }".into()),
            Value::Array("[1,".into()),
            Value::String("q\"\u{1}".into()),
            Value::Null,
            Value::Bool(false),
        ] {
            let call = call(value);
            assert_eq!(call.to_json_string(), serde_json::to_string(&call).unwrap(), "{call:?}");
        }
    }

    #[test]
    fn json_forms() {
        let call = MunchkinCall::AssociateLead {
            attributes: vec![
                ("b".into(), Value::Number("1.50".into())),
                ("a".into(), Value::Object("{ \"x\" : [1, 2.0] }".into())),
                ("n".into(), Value::Number("1e400".into())),
                ("bad".into(), Value::Number("NaN".into())),
            ],
            hash: "h".into(),
        };
        assert_eq!(
            call.to_json_string(),
            r#"["associateLead",{"b":1.50,"a":{"x":[1,2.0]},"n":1e400,"bad":"NaN"},"h"]"#
        );
        assert_eq!(
            call.to_json(),
            serde_json::json!(["associateLead", {"b": 1.5, "a": {"x": [1, 2.0]}, "n": "1e400", "bad": "NaN"}, "h"])
        );
    }
}
