//! A local fake Marketo.
