//! Destination settings, with Segment's names, and their validation.
//!
//! Names follow Segment's Marketo destination (`accountId`, `userId`, `encryptionKey`,
//! `soapEndpoint`, `privateKey`, `projectId`, V2's `traits` mapping) plus this crate's own
//! `traitCasing`, `fieldMap`, `returnLead` and `beaconEndpoint`. A settings JSON with any other key
//! is an error naming the key. Secrets are [`Secret`]s: their `Debug` prints `[redacted]`.
//!
//! The REST side (Segment Marketo V2 names) adds `clientId`, `clientSecret`, `restEndpoint`,
//! `identityEndpoint`, `lookupField`, `events`, `trackAnonymousActivity`, `createIfNotExist`,
//! `sendUserIdAndAnonymousId` and `api`; [`Settings::validate_rest`] checks them. The `events`
//! mapping has this JSON shape (every key other than these four is an error):
//!
//! ```json
//! "events": [
//!   {
//!     "event": "Signed Up",
//!     "marketoActivityId": 100001,
//!     "primaryAttribute": "plan",
//!     "properties": [
//!       { "segmentProperty": "plan", "marketoAttribute": "Plan" },
//!       { "segmentProperty": "referrer.source", "marketoAttribute": "Source" }
//!     ]
//!   }
//! ]
//! ```
//!
//! `event` is the Segment event name (exact match); `marketoActivityId` the custom activity
//! type id (`activityTypeId`), a positive integer (a string of digits is accepted too, as Segment's
//! own exports store it); `primaryAttribute` (optional) the Segment property whose value becomes
//! `primaryAttributeValue` (without it, the event name does); `properties` (optional) maps Segment
//! properties (a dotted path reaches into nested objects) to the activity's attributes.

use std::collections::HashMap;

use serde_json::Value;

use crate::casing::TraitCasing;
use crate::error::Error;
use crate::fault::Api;

/// A secret string (encryption key, private key, client secret, token). `Debug` prints
/// `[redacted]`; there is no `Display` and no `Serialize`: reading it takes
/// [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }
    /// The secret itself; call only where it is used (signing).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One entry of Segment Marketo V2's `traits` setting: a Segment trait and the Marketo field it
/// goes to (REST name, translated to the SOAP name by [`crate::casing::soap_name_for_rest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraitMapping {
    /// The Segment trait key.
    pub segment_trait: String,
    /// The Marketo field name as configured.
    pub marketo_field_name: String,
    /// The Marketo field type as configured (informational).
    pub marketo_field_type: Option<String>,
}

/// One entry of the `events` setting: a Segment track event and the Marketo custom activity it
/// becomes (see the module docs for the JSON shape).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventMapping {
    /// `event`: the Segment event name, matched exactly.
    pub event: String,
    /// `marketoActivityId`: the custom activity type id (`activityTypeId`).
    pub marketo_activity_id: u64,
    /// `primaryAttribute`: the Segment property whose value is the `primaryAttributeValue`;
    /// `None` means the event name is.
    pub primary_attribute: Option<String>,
    /// `properties`: Segment property -> activity attribute, in this order.
    pub properties: Vec<PropertyMapping>,
}

impl EventMapping {
    /// A mapping of `event` to activity type `marketo_activity_id`, without primary attribute
    /// or properties.
    pub fn new(event: impl Into<String>, marketo_activity_id: u64) -> EventMapping {
        EventMapping {
            event: event.into(),
            marketo_activity_id,
            primary_attribute: None,
            properties: Vec::new(),
        }
    }
}

/// One entry of an [`EventMapping`]'s `properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyMapping {
    /// `segmentProperty`: the property key; a dotted path (`a.b`) reaches into nested objects
    /// when no top-level key has that exact name.
    pub segment_property: String,
    /// `marketoAttribute`: the activity attribute's name.
    pub marketo_attribute: String,
}

/// Settings of the Marketo destination. Build with [`Settings::from_json`] or start from
/// [`Settings::default`] and set fields; every destination validates what it needs when built.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// `accountId`: the Munchkin account id, like `561-HYG-937`.
    pub account_id: String,
    /// `userId`: the SOAP API user id (`mktowsUserId`).
    pub user_id: Option<String>,
    /// `encryptionKey`: the SOAP API encryption key (HMAC key for `requestSignature`).
    pub encryption_key: Option<Secret>,
    /// `soapEndpoint`: the SOAP endpoint URL (`https://…mktoapi.com/soap/mktows/2_1`).
    pub soap_endpoint: Option<String>,
    /// `privateKey`: the Munchkin API private key (browser `associateLead` hash).
    pub private_key: Option<Secret>,
    /// `projectId`: Segment's project id (browser side; accepted, unused on the server).
    pub project_id: Option<String>,
    /// `traitCasing`: how trait keys become Marketo field names (default `first-upper`).
    pub trait_casing: TraitCasing,
    /// `fieldMap`: explicit trait key -> Marketo field name; wins over casing.
    pub field_map: HashMap<String, String>,
    /// `returnLead`: ask `syncLead` to return the lead record (default false).
    pub return_lead: bool,
    /// `traits`: Segment Marketo V2's trait mapping (browser side, opt-in).
    pub traits: Vec<TraitMapping>,
    /// `beaconEndpoint`: base URL of the Munchkin webevents host; default
    /// `https://{accountId}.mktoresp.com`. Overridable so tests can point at a local server.
    pub beacon_endpoint: Option<String>,
    /// `api`: which API identify goes to, `"soap"` (default) or `"rest"`.
    pub api: Api,
    /// `clientId`: the REST API custom service's client id.
    pub client_id: Option<String>,
    /// `clientSecret`: the REST API custom service's client secret.
    pub client_secret: Option<Secret>,
    /// `restEndpoint`: base URL of the REST API; default `https://{accountId}.mktorest.com`
    /// (see [`Settings::rest_base`]).
    pub rest_endpoint: Option<String>,
    /// `identityEndpoint`: base URL of the identity service; default `{restEndpoint}/identity`
    /// (see [`Settings::identity_base`]).
    pub identity_endpoint: Option<String>,
    /// `lookupField`: the REST field leads are matched by (default `email`).
    pub lookup_field: String,
    /// `events`: Segment track event -> Marketo custom activity.
    pub events: Vec<EventMapping>,
    /// `trackAnonymousActivity`: send custom activities for tracks without a `userId`, matched
    /// by `anonymousId` (default false).
    pub track_anonymous_activity: bool,
    /// `createIfNotExist`: create leads that do not exist (default true). True syncs with
    /// `action: createOrUpdate`, false with `updateOnly`.
    pub create_if_not_exist: bool,
    /// `sendUserIdAndAnonymousId`: send `userId` and `anonymousId` as lead fields (default true;
    /// Segment Marketo V2 requires these custom fields in the Marketo instance).
    pub send_user_id_and_anonymous_id: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            account_id: String::new(),
            user_id: None,
            encryption_key: None,
            soap_endpoint: None,
            private_key: None,
            project_id: None,
            trait_casing: TraitCasing::default(),
            field_map: HashMap::new(),
            return_lead: false,
            traits: Vec::new(),
            beacon_endpoint: None,
            api: Api::Soap,
            client_id: None,
            client_secret: None,
            rest_endpoint: None,
            identity_endpoint: None,
            lookup_field: "email".to_owned(),
            events: Vec::new(),
            track_anonymous_activity: false,
            create_if_not_exist: true,
            send_user_id_and_anonymous_id: true,
        }
    }
}

fn bad(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidSettings {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn string(field: &str, v: Value) -> Result<String, Error> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(bad(field, format!("expected a string, got {}", json_type(&other)))),
    }
}

fn boolean(field: &str, v: &Value) -> Result<bool, Error> {
    v.as_bool()
        .ok_or_else(|| bad(field, format!("expected a boolean, got {}", json_type(v))))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Settings {
    /// Parses a settings JSON object. Unknown keys are an error naming the key; `null` means unset.
    pub fn from_json(json: &str) -> Result<Settings, Error> {
        let value: Value = serde_json::from_str(json).map_err(|e| bad("(settings)", format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(bad("(settings)", "expected a JSON object"));
        };
        let mut s = Settings::default();
        for (key, v) in map {
            if v.is_null() {
                continue;
            }
            match key.as_str() {
                "accountId" => s.account_id = string(&key, v)?,
                "userId" => s.user_id = Some(string(&key, v)?),
                "encryptionKey" => s.encryption_key = Some(Secret(string(&key, v)?)),
                "soapEndpoint" => s.soap_endpoint = Some(string(&key, v)?),
                "privateKey" => s.private_key = Some(Secret(string(&key, v)?)),
                "projectId" => s.project_id = Some(string(&key, v)?),
                "beaconEndpoint" => s.beacon_endpoint = Some(string(&key, v)?),
                "traitCasing" => {
                    let name = string(&key, v)?;
                    s.trait_casing = TraitCasing::from_name(&name)
                        .ok_or_else(|| bad(&key, format!("{name:?} is not one of first-upper, pascal, preserve")))?;
                }
                "returnLead" => s.return_lead = boolean(&key, &v)?,
                "fieldMap" => {
                    let Value::Object(m) = v else {
                        return Err(bad(&key, format!("expected an object, got {}", json_type(&v))));
                    };
                    for (k, field) in m {
                        let field = string(&format!("fieldMap.{k}"), field)?;
                        s.field_map.insert(k, field);
                    }
                }
                "traits" => s.traits = trait_mappings(v)?,
                "api" => {
                    s.api = match string(&key, v)?.as_str() {
                        "soap" => Api::Soap,
                        "rest" => Api::Rest,
                        other => return Err(bad(&key, format!("{other:?} is not one of soap, rest"))),
                    }
                }
                "clientId" => s.client_id = Some(string(&key, v)?),
                "clientSecret" => s.client_secret = Some(Secret(string(&key, v)?)),
                "restEndpoint" => s.rest_endpoint = Some(string(&key, v)?),
                "identityEndpoint" => s.identity_endpoint = Some(string(&key, v)?),
                "lookupField" => s.lookup_field = string(&key, v)?,
                "events" => s.events = event_mappings(v)?,
                "trackAnonymousActivity" => s.track_anonymous_activity = boolean(&key, &v)?,
                "createIfNotExist" => s.create_if_not_exist = boolean(&key, &v)?,
                "sendUserIdAndAnonymousId" => s.send_user_id_and_anonymous_id = boolean(&key, &v)?,
                _ => return Err(Error::UnknownSetting { key }),
            }
        }
        Ok(s)
    }

    /// Checks `accountId`: three digits, three upper-case letters, three digits (`561-HYG-937`).
    pub fn validate_account_id(&self) -> Result<(), Error> {
        if is_munchkin_id(&self.account_id) {
            Ok(())
        } else if self.account_id.is_empty() {
            Err(bad("accountId", "missing"))
        } else {
            Err(bad("accountId", "must look like 561-HYG-937"))
        }
    }

    /// Checks what the SOAP side needs: `accountId`, `userId`, `encryptionKey`, an https
    /// `soapEndpoint` (plain http only on a loopback host, for local tests), and `beaconEndpoint`
    /// when set.
    pub fn validate_soap(&self) -> Result<(), Error> {
        self.validate_account_id()?;
        match &self.user_id {
            Some(u) if !u.trim().is_empty() => {}
            _ => return Err(bad("userId", "missing (the SOAP API user id)")),
        }
        if self.encryption_key.as_ref().is_none_or(Secret::is_empty) {
            return Err(bad("encryptionKey", "missing"));
        }
        match &self.soap_endpoint {
            Some(e) => check_endpoint("soapEndpoint", e)?,
            None => return Err(bad("soapEndpoint", "missing")),
        }
        self.validate_beacon()?;
        for (k, v) in &self.field_map {
            if v.trim().is_empty() {
                return Err(bad(&format!("fieldMap.{k}"), "empty Marketo field name"));
            }
        }
        Ok(())
    }

    /// The REST API base URL without a trailing `/`: `restEndpoint`, else
    /// `https://{accountId}.mktorest.com`.
    pub fn rest_base(&self) -> String {
        match &self.rest_endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://{}.mktorest.com", self.account_id),
        }
    }

    /// The identity service base URL without a trailing `/`: `identityEndpoint`, else
    /// `{restEndpoint}/identity` (from [`Settings::rest_base`]).
    pub fn identity_base(&self) -> String {
        match &self.identity_endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("{}/identity", self.rest_base()),
        }
    }

    /// Checks what the REST side needs: `clientId`, `clientSecret`, an https `restEndpoint`
    /// (or a valid `accountId` to derive it from) and `identityEndpoint` when set (plain http only
    /// on a loopback host, for local tests), a `lookupField`, non-empty `traits` field names, and
    /// `events` entries with a non-empty, unique `event`, an activity id above 0 and non-empty
    /// property names. Errors name the setting (`events[2].marketoActivityId`).
    pub fn validate_rest(&self) -> Result<(), Error> {
        match &self.client_id {
            Some(c) if !c.trim().is_empty() => {}
            _ => return Err(bad("clientId", "missing (the REST API custom service's client id)")),
        }
        if self.client_secret.as_ref().is_none_or(Secret::is_empty) {
            return Err(bad("clientSecret", "missing"));
        }
        match &self.rest_endpoint {
            Some(e) => check_endpoint("restEndpoint", e)?,
            None => self
                .validate_account_id()
                .map_err(|_| bad("restEndpoint", "missing, and no valid `accountId` to derive it from"))?,
        }
        if let Some(e) = &self.identity_endpoint {
            check_endpoint("identityEndpoint", e)?;
        }
        let lookup = self.lookup_field.trim();
        if lookup.is_empty() || lookup.len() != self.lookup_field.len() || lookup.contains([',', '&', '=', '#', '?', '/']) {
            return Err(bad("lookupField", "must be a Marketo REST field name like `email`"));
        }
        for (i, t) in self.traits.iter().enumerate() {
            if t.marketo_field_name.trim().is_empty() {
                return Err(bad(&format!("traits[{i}].marketoFieldName"), "empty Marketo field name"));
            }
        }
        for (i, e) in self.events.iter().enumerate() {
            if e.event.is_empty() {
                return Err(bad(&format!("events[{i}].event"), "empty event name"));
            }
            if self.events[..i].iter().any(|earlier| earlier.event == e.event) {
                return Err(bad(&format!("events[{i}].event"), format!("{:?} is mapped twice", e.event)));
            }
            if e.marketo_activity_id == 0 {
                return Err(bad(
                    &format!("events[{i}].marketoActivityId"),
                    "must be a custom activity type id above 0",
                ));
            }
            if e.primary_attribute.as_deref().is_some_and(str::is_empty) {
                return Err(bad(&format!("events[{i}].primaryAttribute"), "empty property name"));
            }
            for (j, p) in e.properties.iter().enumerate() {
                if p.segment_property.is_empty() {
                    return Err(bad(&format!("events[{i}].properties[{j}].segmentProperty"), "empty property name"));
                }
                if p.marketo_attribute.trim().is_empty() {
                    return Err(bad(
                        &format!("events[{i}].properties[{j}].marketoAttribute"),
                        "empty attribute name",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks what beacons need: `accountId`, and `beaconEndpoint` when set.
    pub fn validate_beacon(&self) -> Result<(), Error> {
        self.validate_account_id()?;
        match &self.beacon_endpoint {
            Some(e) => check_endpoint("beaconEndpoint", e),
            None => Ok(()),
        }
    }

    /// Checks what the browser side needs: `accountId` and `privateKey`.
    pub fn validate_client(&self) -> Result<(), Error> {
        self.validate_account_id()?;
        if self.private_key.as_ref().is_none_or(Secret::is_empty) {
            return Err(bad("privateKey", "missing (the Munchkin API private key)"));
        }
        Ok(())
    }
}

fn trait_mappings(v: Value) -> Result<Vec<TraitMapping>, Error> {
    let Value::Array(items) = v else {
        return Err(bad("traits", format!("expected an array, got {}", json_type(&v))));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(bad(&format!("traits[{i}]"), "expected an object"));
        };
        let (mut segment_trait, mut marketo_field_name, mut marketo_field_type) = (None, None, None);
        for (k, v) in m {
            let field = format!("traits[{i}].{k}");
            match k.as_str() {
                "segmentTrait" => segment_trait = Some(string(&field, v)?),
                "marketoFieldName" => marketo_field_name = Some(string(&field, v)?),
                "marketoFieldType" => marketo_field_type = Some(string(&field, v)?),
                _ => return Err(Error::UnknownSetting { key: field }),
            }
        }
        let segment_trait = segment_trait.ok_or_else(|| bad(&format!("traits[{i}].segmentTrait"), "missing"))?;
        let marketo_field_name = marketo_field_name.ok_or_else(|| bad(&format!("traits[{i}].marketoFieldName"), "missing"))?;
        out.push(TraitMapping {
            segment_trait,
            marketo_field_name,
            marketo_field_type,
        });
    }
    Ok(out)
}

fn event_mappings(v: Value) -> Result<Vec<EventMapping>, Error> {
    let Value::Array(items) = v else {
        return Err(bad("events", format!("expected an array, got {}", json_type(&v))));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(bad(&format!("events[{i}]"), "expected an object"));
        };
        let (mut event, mut activity, mut primary, mut properties) = (None, None, None, Vec::new());
        for (k, v) in m {
            let field = format!("events[{i}].{k}");
            if v.is_null() {
                continue;
            }
            match k.as_str() {
                "event" => event = Some(string(&field, v)?),
                "marketoActivityId" => activity = Some(activity_id(&field, &v)?),
                "primaryAttribute" => primary = Some(string(&field, v)?),
                "properties" => properties = property_mappings(&field, v)?,
                _ => return Err(Error::UnknownSetting { key: field }),
            }
        }
        let event = event.ok_or_else(|| bad(&format!("events[{i}].event"), "missing"))?;
        let marketo_activity_id = activity.ok_or_else(|| bad(&format!("events[{i}].marketoActivityId"), "missing"))?;
        out.push(EventMapping {
            event,
            marketo_activity_id,
            primary_attribute: primary,
            properties,
        });
    }
    Ok(out)
}

/// A positive integer, or a string of ASCII digits holding one.
fn activity_id(field: &str, v: &Value) -> Result<u64, Error> {
    let parsed = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    };
    match parsed {
        Some(id) if id > 0 => Ok(id),
        _ => Err(bad(field, "expected a positive integer (the custom activity type id)")),
    }
}

fn property_mappings(field: &str, v: Value) -> Result<Vec<PropertyMapping>, Error> {
    let Value::Array(items) = v else {
        return Err(bad(field, format!("expected an array, got {}", json_type(&v))));
    };
    let mut out = Vec::with_capacity(items.len());
    for (j, item) in items.into_iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(bad(&format!("{field}[{j}]"), "expected an object"));
        };
        let (mut segment_property, mut marketo_attribute) = (None, None);
        for (k, v) in m {
            let key = format!("{field}[{j}].{k}");
            match k.as_str() {
                "segmentProperty" => segment_property = Some(string(&key, v)?),
                "marketoAttribute" => marketo_attribute = Some(string(&key, v)?),
                _ => return Err(Error::UnknownSetting { key }),
            }
        }
        let segment_property = segment_property.ok_or_else(|| bad(&format!("{field}[{j}].segmentProperty"), "missing"))?;
        let marketo_attribute = marketo_attribute.ok_or_else(|| bad(&format!("{field}[{j}].marketoAttribute"), "missing"))?;
        out.push(PropertyMapping {
            segment_property,
            marketo_attribute,
        });
    }
    Ok(out)
}

/// Whether `id` looks like a Munchkin account id: `ddd-LLL-ddd`.
pub fn is_munchkin_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 11
        && b[3] == b'-'
        && b[7] == b'-'
        && b[..3].iter().chain(&b[8..]).all(u8::is_ascii_digit)
        && b[4..7].iter().all(u8::is_ascii_uppercase)
}

fn check_endpoint(field: &str, text: &str) -> Result<(), Error> {
    let url = url::Url::parse(text).map_err(|e| bad(field, format!("not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    // The URL parser quietly drops tabs and line breaks; the request would carry them as written.
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad(field, "must not contain spaces or control characters"));
    }
    // Paths and parameters are appended to endpoints: a query or fragment would swallow them.
    if url.query().is_some() || url.fragment().is_some() || text.contains(['?', '#']) {
        return Err(bad(
            field,
            "must not have a query or fragment (paths and parameters are appended to it)",
        ));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad(field, "must be an https URL (http is allowed only on a loopback host)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn munchkin_ids() {
        assert!(is_munchkin_id("561-HYG-937"));
        assert!(!is_munchkin_id("561-hyg-937"));
        assert!(!is_munchkin_id("561-HYG-93"));
        assert!(!is_munchkin_id("5é1-HYG-937"));
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Settings::from_json(r#"{"accountId":"561-HYG-937","bogus":1}"#).unwrap_err();
        assert_eq!(err.to_string(), "unknown setting `bogus`");
    }

    #[test]
    fn endpoint_rules() {
        assert!(check_endpoint("soapEndpoint", "https://123-ABC-456.mktoapi.com/soap/mktows/2_1").is_ok());
        assert!(check_endpoint("soapEndpoint", "http://127.0.0.1:8080/soap").is_ok());
        assert!(check_endpoint("soapEndpoint", "http://example.com/soap").is_err());
        assert!(check_endpoint("soapEndpoint", "not a url").is_err());
        assert!(check_endpoint("beaconEndpoint", "https://b.example.com/x#f").is_err());
        // Found by fuzzing (fuzz/regressions/settings_json-1): the url crate drops the newline.
        assert!(check_endpoint("soapEndpoint", "https://toic}m/so\ne_1").is_err());
        assert!(check_endpoint("beaconEndpoint", "https://b.example.com/x?a=1").is_err());
    }
}
