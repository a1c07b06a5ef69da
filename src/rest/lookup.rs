//! Finding lead ids: Get Leads by Filter Type.
//!
//! `GET {rest}/rest/v1/leads.json?filterType=email&filterValues=a%40b.com,c%40d.com&fields=id,email`
//! (AdobeDocs/marketo-developer.en `help/rest-api/leads.md`): up to 300 comma-separated values,
//! each percent-encoded; the URL must stay within 8 KB. The answer lists the matching leads in no
//! promised order, so the filter field is requested beside `id` and each value is matched to its
//! leads by that field (`email` ignoring ASCII case, as Marketo matches emails; other fields
//! exactly). A value with no lead gives `None`; a value matching several leads (duplicates) gives
//! the lowest id, so the answer is the same whatever order Marketo lists them in.

use serde_json::Value;

use crate::error::{Error, MessageRef};
use crate::request::{Method, Request, RequestKind, Response};

use super::body::{join, push_query_value};
use super::response::{Reply, integer, read_success};
use super::token::AccessToken;
use super::{MAX_BATCH_RECORDS, MAX_URL_BYTES, RestApi};

/// A lookup of lead ids by one field's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadLookup {
    filter_type: String,
    values: Vec<String>,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidField {
        message: MessageRef(None),
        field: field.to_owned(),
        reason: reason.into(),
    }
}

impl LeadLookup {
    /// A lookup of the leads whose `filter_type` field (a REST name: `email`, `userId`, …) is one
    /// of `values`. Errors ([`Error::InvalidField`]): no values or more than 300, an empty value,
    /// a value holding a comma (the list separator, which Marketo cannot escape), an empty or
    /// malformed field name.
    pub fn new(filter_type: impl Into<String>, values: Vec<String>) -> Result<LeadLookup, Error> {
        let filter_type = filter_type.into();
        if filter_type.is_empty() || !filter_type.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(invalid("filterType", format!("{filter_type:?} is not a REST field name")));
        }
        if values.is_empty() || values.len() > MAX_BATCH_RECORDS {
            return Err(invalid(
                "filterValues",
                format!("{} values; a lookup takes 1 to {MAX_BATCH_RECORDS}", values.len()),
            ));
        }
        if let Some(v) = values.iter().find(|v| v.is_empty() || v.contains(',')) {
            return Err(invalid(
                "filterValues",
                format!("{v:?} cannot be looked up: empty, or holds a comma"),
            ));
        }
        Ok(LeadLookup { filter_type, values })
    }

    /// The field looked up by.
    pub fn filter_type(&self) -> &str {
        &self.filter_type
    }

    /// The values, in order.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// The request: `GET {rest_base}/rest/v1/leads.json?filterType=…&filterValues=…&fields=id,…`
    /// with `Authorization: Bearer …`. [`Error::TooLarge`] when the URL would pass 8 KB (look
    /// fewer values up at a time).
    pub fn request(&self, rest_base: &str, token: &AccessToken) -> Result<Request, Error> {
        let mut url = join(rest_base, "/rest/v1/leads.json?filterType=");
        push_query_value(&self.filter_type, &mut url);
        url.push_str("&filterValues=");
        for (i, v) in self.values.iter().enumerate() {
            if i > 0 {
                url.push(',');
            }
            push_query_value(v, &mut url);
        }
        url.push_str("&fields=id");
        if self.filter_type != "id" {
            url.push(',');
            push_query_value(&self.filter_type, &mut url);
        }
        if url.len() > MAX_URL_BYTES {
            return Err(Error::TooLarge {
                message: MessageRef(None),
                reason: format!("the lookup URL is {} bytes; Marketo accepts at most {MAX_URL_BYTES}", url.len()),
            });
        }
        Ok(Request {
            kind: RequestKind::LookupLead,
            method: Method::Get,
            url,
            headers: vec![("Authorization", token.authorization())],
            body: None,
        })
    }

    /// Reads the answer: the lead id for each value, in the order of the values (see the module
    /// docs). A request-level error is an `Err`; a result entry without an integer `id` is an
    /// [`Error::UnexpectedResponse`].
    pub fn read_response(&self, response: &Response) -> Result<Reply<Vec<Option<i64>>>, Error> {
        let envelope = read_success(response)?;
        let mut ids: Vec<Option<i64>> = vec![None; self.values.len()];
        for (i, item) in envelope.result.iter().enumerate() {
            let Some(id) = item.get("id").and_then(integer) else {
                return Err(Error::unexpected(
                    response.status,
                    format!("result[{i}] has no integer `id`"),
                    &response.body,
                ));
            };
            let key = if self.filter_type == "id" {
                Some(id.to_string())
            } else {
                item.get(&self.filter_type).and_then(text)
            };
            let Some(key) = key else { continue };
            for (slot, value) in ids.iter_mut().zip(&self.values) {
                let matches = if self.filter_type == "email" {
                    key.eq_ignore_ascii_case(value)
                } else {
                    key == *value
                };
                if matches && slot.is_none_or(|old| id < old) {
                    *slot = Some(id);
                }
            }
        }
        Ok(envelope.reply(ids))
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl RestApi {
    /// A [`LeadLookup`] by this destination's `lookupField`.
    pub fn lookup(&self, values: Vec<String>) -> Result<LeadLookup, Error> {
        LeadLookup::new(self.lookup_field().to_owned(), values)
    }
}
