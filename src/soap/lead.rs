//! From an identify message to the Marketo lead record `syncLead` sends.
//!
//! Rules (segmentio/segment-docs `src/connections/destinations/catalog/marketo/index.md`, and the
//! crate's issue #2): the email is `traits.email`, else a `userId` that looks like an email
//! (`.+@.+\..+`). Every other trait becomes an attribute, in arrival order: `email` is not
//! repeated, `id` is not sent (Marketo reserves it), `null` is not sent; `userId` is sent as a trait
//! (appended unless `traits.userId` is already there). An `address` object becomes `City`,
//! `Country`, `PostalCode` (`postalCode`, else `zip`), `State` and `Address` (`street`); a
//! `company` object becomes `Company` from its `name`. Other objects and arrays are sent as
//! compact JSON. Names go through the field map, else the casing.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::casing::TraitCasing;
use crate::cookie::Cookie;
use crate::error::Error;
use crate::event::{Common, Identify, Value};
use crate::plan::{Warning, WarningKind};

/// One `leadAttributeList/attribute`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute<'a> {
    /// `attrName`: the Marketo field name.
    pub name: Cow<'a, str>,
    /// `attrValue`: the value as text.
    pub value: Cow<'a, str>,
}

impl Attribute<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> Attribute<'static> {
        Attribute {
            name: Cow::Owned(self.name.into_owned()),
            value: Cow::Owned(self.value.into_owned()),
        }
    }
}

/// The `leadRecord` of a `syncLead`, plus the cookie that goes beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadRecord<'a> {
    /// `leadRecord/Email`.
    pub email: Cow<'a, str>,
    /// `leadRecord/leadAttributeList`, in order.
    pub attributes: Vec<Attribute<'a>>,
    /// `marketoCookie`, when the message carried a valid one.
    pub cookie: Option<Cookie<'a>>,
}

impl LeadRecord<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> LeadRecord<'static> {
        LeadRecord {
            email: Cow::Owned(self.email.into_owned()),
            attributes: self.attributes.into_iter().map(Attribute::into_owned).collect(),
            cookie: self.cookie.map(Cookie::into_owned),
        }
    }

    /// The key the lead is locked by in Marketo: the cookie token when there is one, else the
    /// email.
    pub fn lead_key(&self) -> &str {
        match &self.cookie {
            Some(c) => &c.token,
            None => &self.email,
        }
    }
}

/// How trait keys become Marketo field names: an explicit map first, else a casing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadMapping {
    /// The casing for keys not in the map.
    pub casing: TraitCasing,
    /// Explicit trait key -> Marketo field name.
    pub field_map: HashMap<String, String>,
}

impl LeadMapping {
    /// The Marketo field name for a trait key.
    pub fn field_name<'k>(&'k self, key: &'k str) -> Cow<'k, str> {
        if !self.field_map.is_empty()
            && let Some(name) = self.field_map.get(key)
        {
            return Cow::Borrowed(name);
        }
        self.casing.apply(key)
    }
}

/// The email of an identify: `traits.email`, else a `userId` that looks like an email.
pub fn email_of<'m>(msg: &'m Identify<'_>) -> Option<&'m str> {
    match msg.traits.get_str("email") {
        Some(e) if !e.trim().is_empty() => Some(e),
        _ => msg.common.user_id.as_deref().filter(|u| crate::event::looks_like_email(u)),
    }
}

/// An attribute name before the mapping applies: a trait key (mapped or cased) or a fixed
/// Marketo field (from a flattened `address` or `company`, or a `fieldMap` entry for one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldName<'a> {
    /// A trait key; the field map or the casing names it.
    Trait(&'a str),
    /// A Marketo field name, final as it is.
    Fixed(&'a str),
}

impl LeadMapping {
    /// The final Marketo name.
    pub fn resolve<'a>(&'a self, name: FieldName<'a>) -> Cow<'a, str> {
        match name {
            FieldName::Trait(key) => self.field_name(key),
            FieldName::Fixed(field) => Cow::Borrowed(field),
        }
    }

    /// Appends the final name XML-escaped, without an intermediate string for the default
    /// casing; returns how many characters XML cannot carry were removed.
    pub fn write_escaped(&self, name: FieldName<'_>, out: &mut String) -> usize {
        use super::envelope::escape_text;
        match name {
            FieldName::Fixed(field) => escape_text(field, out),
            FieldName::Trait(key) => match self.field_map.get(key).filter(|_| !self.field_map.is_empty()) {
                Some(mapped) => escape_text(mapped, out),
                None if self.casing == TraitCasing::FirstUpper => {
                    if let Some(&first) = key.as_bytes().first()
                        && first.is_ascii_alphanumeric()
                    {
                        // The common case: an ASCII letter or digit, nothing to escape.
                        out.push(char::from(first.to_ascii_uppercase()));
                        return escape_text(&key[1..], out);
                    }
                    let mut chars = key.chars();
                    let Some(first) = chars.next() else { return 0 };
                    let mut buf = [0u8; 4];
                    let mut removed = 0;
                    for up in first.to_uppercase() {
                        removed += escape_text(up.encode_utf8(&mut buf), out);
                    }
                    removed + escape_text(chars.as_str(), out)
                }
                None => escape_text(&self.casing.apply(key), out),
            },
        }
    }
}

/// Walks an identify the way `syncLead` needs it: returns the email and the cookie (a malformed
/// cookie is a warning), and calls `attribute` for every attribute in order. The trait rules live
/// in one place (a per-trait step shared with the one-pass writer,
/// [`crate::destination::SoapDestination::write_json`]); [`lead_record`] collects, the envelope
/// writers stream.
pub fn visit<'a>(
    msg: &'a Identify<'a>,
    mapping: &'a LeadMapping,
    warnings: &mut Vec<Warning>,
    mut attribute: impl FnMut(FieldName<'a>, AttrValue<'a>),
) -> Result<(&'a str, Option<Cookie<'a>>), Error> {
    let email = email_of(msg).ok_or_else(|| Error::MissingEmail {
        message: msg.common.message_ref(),
    })?;
    let mut walk = Walk::default();
    for (key, value) in msg.traits.iter() {
        if key != "email" {
            walk.step(key, value, mapping, &mut attribute);
        }
    }
    walk.finish(&msg.common, warnings, &mut attribute);
    let cookie = crate::cookie::from_message(&msg.common, "it is not sent; the lead is synced by email", warnings);
    Ok((email, cookie))
}

/// What a walk over an identify's traits has seen: whether a `userId` trait was sent, and the
/// parts of `address` and `company` objects Marketo has no field for (warned about once the
/// whole message, and so its `messageId`, is known).
#[derive(Debug, Default)]
pub(crate) struct Walk {
    has_user_id_trait: bool,
    not_sent: Vec<(&'static str, Result<Vec<String>, String>)>,
}

impl Walk {
    /// One trait other than `email` (whose value the caller keeps): the attributes it gives, in
    /// order; none for `id` and `null`.
    pub(crate) fn step<'k>(
        &mut self,
        key: &'k str,
        value: &'k Value<'_>,
        mapping: &'k LeadMapping,
        attribute: &mut impl FnMut(FieldName<'k>, AttrValue<'k>),
    ) {
        match key {
            "id" => return,
            "userId" => self.has_user_id_trait = true,
            _ => {}
        }
        let parts: &'static Parts = match (key, value) {
            ("address", Value::Object(_)) => &ADDRESS_PARTS,
            ("company", Value::Object(_)) => &COMPANY_PARTS,
            _ => {
                // Borrowed from the message: no copy of a string that had escapes.
                if let Some(text) = text_of(&value.borrowed()) {
                    attribute(FieldName::Trait(key), text);
                }
                return;
            }
        };
        let (parent, Value::Object(raw)) = (if key == "address" { "address" } else { "company" }, value) else {
            return;
        };
        let ignored = nested(mapping, parent, raw, parts, attribute);
        if !matches!(&ignored, Ok(list) if list.is_empty()) {
            self.not_sent.push((parent, ignored));
        }
    }

    /// After the last trait: the `userId` attribute (unless a `userId` trait was sent), and the
    /// warnings for object parts not sent.
    pub(crate) fn finish<'k>(
        self,
        common: &'k Common<'_>,
        warnings: &mut Vec<Warning>,
        attribute: &mut impl FnMut(FieldName<'k>, AttrValue<'k>),
    ) {
        if let (false, Some(user_id)) = (self.has_user_id_trait, common.user_id.as_deref()) {
            attribute(FieldName::Trait("userId"), AttrValue::Text(Cow::Borrowed(user_id)));
        }
        for (parent, ignored) in self.not_sent {
            let text = match ignored {
                Ok(list) => format!(
                    "{}: {parent}.{} not sent: Marketo's lead has no field for {}",
                    common.message_ref(),
                    list.join(", "),
                    if list.len() == 1 { "it" } else { "them" }
                ),
                // Only a key or value JSON allows but Rust strings cannot hold gets here.
                Err(e) => format!("{}: {parent} not sent: {e}", common.message_ref()),
            };
            warnings.push(Warning::new(WarningKind::FieldNotSent, text));
        }
    }
}

/// Builds the lead record of an identify. Warnings (bad cookie, nested fields not sent) are
/// appended to `warnings`.
pub fn lead_record<'a>(msg: &'a Identify<'a>, mapping: &'a LeadMapping, warnings: &mut Vec<Warning>) -> Result<LeadRecord<'a>, Error> {
    let mut attributes = Vec::with_capacity(msg.traits.len() + 4);
    let (email, cookie) = visit(msg, mapping, warnings, |name, value| {
        attributes.push(Attribute {
            name: mapping.resolve(name),
            value: value.into_text(),
        })
    })?;
    Ok(LeadRecord {
        email: Cow::Borrowed(email),
        attributes,
        cookie,
    })
}

/// An attribute value: text as it goes out, or an object or array whose compact JSON goes out
/// (kept raw so a streaming writer can compact and escape it in one pass, without a copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// The text itself.
    Text(Cow<'a, str>),
    /// Raw JSON of an object or array; sent as its compact form.
    Json(Cow<'a, str>),
}

impl<'a> AttrValue<'a> {
    /// The text Marketo receives.
    pub fn into_text(self) -> Cow<'a, str> {
        match self {
            AttrValue::Text(t) => t,
            AttrValue::Json(raw) => {
                let mut out = String::with_capacity(raw.len());
                crate::event::write_compact_json(&raw, &mut out);
                Cow::Owned(out)
            }
        }
    }
}

/// The value of a trait as it goes out; `None` for `null`.
fn text_of<'a>(value: &Value<'a>) -> Option<AttrValue<'a>> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(AttrValue::Text(Cow::Borrowed(if *b { "true" } else { "false" }))),
        Value::Number(n) | Value::String(n) => Some(AttrValue::Text(n.clone())),
        Value::Object(raw) | Value::Array(raw) => Some(AttrValue::Json(raw.clone())),
    }
}

/// (Marketo field, source keys in order of preference) for a flattened object.
type Parts = [(&'static str, &'static [&'static str])];

const ADDRESS_PARTS: [(&str, &[&str]); 5] = [
    ("City", &["city"]),
    ("Country", &["country"]),
    ("PostalCode", &["postalCode", "zip"]),
    ("State", &["state"]),
    ("Address", &["street"]),
];
const COMPANY_PARTS: [(&str, &[&str]); 1] = [("Company", &["name"])];

/// The attributes of an `address` or `company` object, read in one pass without collecting: the
/// last value of each source key (a repeated key's last value wins, as in `Fields::get`). Returns
/// the other keys that have a value (not sent), or why the object could not be read.
fn nested<'a>(
    mapping: &'a LeadMapping,
    parent: &str,
    raw: &'a str,
    parts: &Parts,
    attribute: &mut impl FnMut(FieldName<'a>, AttrValue<'a>),
) -> Result<Vec<String>, String> {
    let mut last: [Option<Value<'a>>; 8] = Default::default();
    let mut ignored = Vec::new();
    crate::event::each_field(raw, |key, value| {
        match parts.iter().flat_map(|(_, s)| s.iter()).position(|k| *k == key) {
            Some(at) if at < last.len() => last[at] = Some(value),
            _ if value == Value::Null => {}
            _ => ignored.push(key.into_owned()),
        }
    })
    .map_err(|e| e.to_string())?;
    let mut first = 0;
    for (field, keys) in parts {
        let value = (first..first + keys.len()).find_map(|at| last.get_mut(at)?.take().filter(|v| *v != Value::Null));
        first += keys.len();
        if let Some(text) = value.as_ref().and_then(text_of) {
            let mapped = if mapping.field_map.is_empty() {
                None
            } else {
                mapping.field_map.get(&format!("{parent}.{}", keys[0]))
            };
            let name = match mapped {
                Some(m) => FieldName::Fixed(m.as_str()),
                None => FieldName::Fixed(field),
            };
            attribute(name, text);
        }
    }
    Ok(ignored)
}
