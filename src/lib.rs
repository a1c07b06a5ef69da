//! Segment's Marketo destination as pure transforms.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod casing;
pub mod cookie;
pub mod error;
pub mod event;
pub mod fault;
pub mod munchkin;
pub mod soap;
pub mod request;
pub mod settings;
pub mod time;

pub use error::{Error, ErrorKind, Retry};
