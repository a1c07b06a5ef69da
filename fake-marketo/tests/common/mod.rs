//! Helpers shared by the integration tests: a blocking HTTP client (ureq) and hand-built,
//! hand-signed syncLead envelopes.

#![allow(dead_code)]

use std::time::Duration;

use fake_marketo::{FakeMarketo, VECTOR_ENCRYPTION_KEY, VECTOR_USER_ID, format_timestamp};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

pub const SOAP_ACTION: &str = "\"http://www.marketo.com/mktows/syncLead\"";

/// The shared examples folder (`../shared/marketo-wsdl/examples` beside the repository).
pub fn example(name: &str) -> String {
    let path = format!("{}/../../shared/marketo-wsdl/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent()
}

/// What came back: a status and body, or a transport error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Http(u16, String),
    Transport,
}

impl Reply {
    pub fn status(&self) -> Option<u16> {
        match self {
            Reply::Http(status, _) => Some(*status),
            Reply::Transport => None,
        }
    }

    pub fn body(&self) -> &str {
        match self {
            Reply::Http(_, body) => body,
            Reply::Transport => "",
        }
    }

    /// The `<faultstring>` of a SOAP fault, if it is one.
    pub fn faultstring(&self) -> Option<&str> {
        between(self.body(), "<faultstring>", "</faultstring>")
    }

    /// A short label for comparing runs: `200`, `500 20011 - Internal Error`, `503`, `transport`.
    pub fn label(&self) -> String {
        match self {
            Reply::Transport => "transport".into(),
            Reply::Http(status, _) => match self.faultstring() {
                Some(fault) => format!("{status} {fault}"),
                None => status.to_string(),
            },
        }
    }
}

pub fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

/// What a ureq call gave, as a [`Reply`].
pub fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            match response.body_mut().read_to_string() {
                Ok(body) => Reply::Http(status, body),
                Err(_) => Reply::Transport,
            }
        }
        Err(_) => Reply::Transport,
    }
}

pub fn post_soap_with(agent: &ureq::Agent, url: &str, content_type: &str, action: &str, body: &str) -> Reply {
    reply(
        agent
            .post(url)
            .header("Content-Type", content_type)
            .header("SOAPAction", action)
            .send(body),
    )
}

pub fn post_soap(agent: &ureq::Agent, fake: &FakeMarketo, body: &str) -> Reply {
    post_soap_with(agent, &fake.soap_url(), "text/xml; charset=utf-8", SOAP_ACTION, body)
}

pub fn get(agent: &ureq::Agent, url: &str) -> Reply {
    reply(agent.get(url).call())
}

/// Lowercase hex HMAC-SHA1(key, timestamp + user id), computed here, independently of the fake.
pub fn sign(key: &str, timestamp: &str, user_id: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(user_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A SOAP envelope with the given header values and `paramsSyncLead` content.
pub fn envelope(user_id: &str, signature: &str, timestamp: &str, params: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns1="http://www.marketo.com/mktows/">
  <SOAP-ENV:Header>
    <ns1:AuthenticationHeader>
      <mktowsUserId>{user_id}</mktowsUserId>
      <requestSignature>{signature}</requestSignature>
      <requestTimestamp>{timestamp}</requestTimestamp>
    </ns1:AuthenticationHeader>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <ns1:paramsSyncLead>{params}</ns1:paramsSyncLead>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"#
    )
}

/// `paramsSyncLead` content for a lead with attributes, optional cookie.
pub fn params(email: Option<&str>, attributes: &[(&str, &str)], return_lead: bool, cookie: Option<&str>) -> String {
    let mut xml = String::from("<leadRecord>");
    if let Some(email) = email {
        xml.push_str(&format!("<Email>{email}</Email>"));
    }
    if !attributes.is_empty() {
        xml.push_str("<leadAttributeList>");
        for (name, value) in attributes {
            xml.push_str(&format!(
                "<attribute><attrName>{name}</attrName><attrType>string</attrType><attrValue>{value}</attrValue></attribute>"
            ));
        }
        xml.push_str("</leadAttributeList>");
    }
    xml.push_str(&format!("</leadRecord><returnLead>{return_lead}</returnLead>"));
    if let Some(cookie) = cookie {
        xml.push_str(&format!("<marketoCookie>{cookie}</marketoCookie>"));
    }
    xml
}

/// A correctly signed envelope timestamped at the fake's clock (written at -07:00, as in
/// Marketo's examples, to exercise the offset).
pub fn signed(fake: &FakeMarketo, params: &str) -> String {
    signed_at(fake.now_ms(), params)
}

pub fn signed_at(epoch_ms: i64, params: &str) -> String {
    let timestamp = format_timestamp(epoch_ms, -7 * 60);
    let signature = sign(VECTOR_ENCRYPTION_KEY, &timestamp, VECTOR_USER_ID);
    envelope(VECTOR_USER_ID, &signature, &timestamp, params)
}

/// A well-formed beacon URL for the vector Munchkin id.
pub fn beacon_url(fake: &FakeMarketo, token: &str, path: &str) -> String {
    format!(
        "{}/webevents/visitWebPage?_mchNc=1700000000000&_mchCn=&_mchId=561-HYG-937&_mchTk={token}&_mchHo=example.com&_mchPo=&_mchRu={path}&_mchPc=https%3A&_mchVr=159&_mchHa=&_mchRe=&_mchQp=a%3D1%26b%3Dx%20y",
        fake.beacon_base_url()
    )
}
