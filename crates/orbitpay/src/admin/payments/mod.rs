//! Payments that need a person: unmatched ones (credited no session) and unreadable records.

pub mod unmatched;
pub mod unreadable;
