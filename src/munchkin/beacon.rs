//! The server-side Munchkin webevents beacon (`visitWebPage`).
