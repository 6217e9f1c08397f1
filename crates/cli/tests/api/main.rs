//! Integration tests: the real server on a random port, against SQLite and PostgreSQL.

mod helpers;

mod cli;
mod errors;
mod interop;
mod payments;
mod refunds;
