//! Destination settings, with Segment's names, and their validation.
//!
//! Names follow Segment's Marketo destination (`accountId`, `userId`, `encryptionKey`,
//! `soapEndpoint`, `privateKey`, `projectId`, V2's `traits` mapping) plus this crate's own
//! `traitCasing`, `fieldMap`, `returnLead` and `beaconEndpoint`. A settings JSON with any other key
//! is an error naming the key. Secrets are [`Secret`]s: their `Debug` prints `[redacted]`.

use std::collections::HashMap;

use serde_json::Value;

use crate::casing::TraitCasing;
use crate::error::Error;

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

/// Settings of the Marketo destination. Build with [`Settings::from_json`] or start from
/// [`Settings::default`] and set fields; every destination validates what it needs when built.
#[derive(Debug, Clone, Default)]
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
}

fn bad(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidSettings { field: field.to_owned(), reason: reason.into() }
}

fn string(field: &str, v: Value) -> Result<String, Error> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(bad(field, format!("expected a string, got {}", json_type(&other)))),
    }
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
                "returnLead" => {
                    s.return_lead = v.as_bool().ok_or_else(|| bad(&key, format!("expected a boolean, got {}", json_type(&v))))?
                }
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
        if let Some(e) = &self.beacon_endpoint {
            check_endpoint("beaconEndpoint", e)?;
        }
        for (k, v) in &self.field_map {
            if v.trim().is_empty() {
                return Err(bad(&format!("fieldMap.{k}"), "empty Marketo field name"));
            }
        }
        Ok(())
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
        out.push(TraitMapping { segment_trait, marketo_field_name, marketo_field_type });
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
    }
}
