//! What every resource's handlers share: errors and their codes, JSON responses, body and
//! query parsing, pagination and the database access (the handlers' retry budget). Nothing here
//! knows a resource.

pub(crate) mod body;
pub(crate) mod db;
pub mod error;
pub(crate) mod input;
pub(crate) mod json;
pub(crate) mod pagination;
