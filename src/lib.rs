//! Segment's Marketo destination as pure transforms: Segment messages in, Marketo request values
//! out; Marketo responses in, typed answers out.
//!
//! # The contract
//!
//! - **No I/O.** The crate opens no socket and touches no file; it returns [`request::Request`]
//!   values that any HTTP client can execute and reads the [`request::Response`] you hand back.
//! - **No clock.** Every function that needs the time takes a [`time::Timestamp`] from the caller.
//! - **Never panics on input.** Bad messages, settings, cookies and responses are typed
//!   [`Error`]s naming the message (`messageId`) and the field; nothing is silently dropped.
//! - **Secrets stay secret.** Keys live in [`settings::Secret`], whose `Debug` prints `[redacted]`;
//!   no error or warning contains one.
//!
//! Marketo switched the SOAP API off on 2026-07-31. The SOAP path ([`destination::SoapDestination`])
//! reproduces Segment's classic destination exactly, for replays, self-hosted gateways and
//! migrations; a live Marketo today needs the REST API.
//!
//! # Example
//!
//! ```
//! use segment_marketo::destination::{MarketoDestination, SoapDestination};
//! use segment_marketo::event::Message;
//! use segment_marketo::plan::Plan;
//! use segment_marketo::settings::Settings;
//! use segment_marketo::time::Timestamp;
//!
//! // Public test-vector credentials from Marketo's documentation.
//! let settings = Settings::from_json(r#"{
//!     "accountId": "561-HYG-937",
//!     "userId": "bigcorp1_461839624B16E06BA2D663",
//!     "encryptionKey": "899756834129871744AAEE88DDCC77CDEEDEC1AAAD66",
//!     "soapEndpoint": "https://561-HYG-937.mktoapi.com/soap/mktows/2_1"
//! }"#)?;
//! let marketo = SoapDestination::new(&settings)?;
//! let now = Timestamp::parse_rfc3339("2010-04-09T14:04:54-07:00").unwrap();
//! let msg = Message::from_json(r#"{"type":"identify","traits":{"email":"t@t.com","firstName":"George"}}"#)?;
//!
//! let Plan::Send { steps, .. } = marketo.plan(&msg, now)? else { unreachable!() };
//! let body = steps[0].request.body.as_deref().unwrap();
//! assert!(body.contains("<requestSignature>ffbff4d4bef354807481e66dc7540f7890523a87</requestSignature>"));
//! assert!(body.contains("<attrName>FirstName</attrName><attrValue>George</attrValue>"));
//!
//! // Later, the transport's answer:
//! let answer = marketo.read_response(&steps[0].operation, &segment_marketo::request::Response::new(
//!     200,
//!     std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/marketo-wsdl/examples/syncLead-response-adobe-doc.xml")).unwrap(),
//! ))?;
//! # let _ = answer;
//! # Ok::<(), segment_marketo::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod casing;
pub mod cookie;
pub mod delivery;
pub mod destination;
pub mod error;
pub mod event;
pub mod fault;
pub mod json;
pub mod munchkin;
pub mod plan;
pub mod request;
pub mod rest;
mod scan;
pub mod settings;
pub mod soap;
pub mod time;

pub use error::{Error, ErrorKind, Retry};

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
