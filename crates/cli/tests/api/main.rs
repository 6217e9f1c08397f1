//! Integration tests: the real server on a random port, against SQLite and PostgreSQL.

mod helpers;

mod cli;
mod crash;
mod errors;
mod interop;
mod legacy;
mod notifications;
mod payments;
mod properties;
mod refund_engine;
mod refunds;
mod reports;
