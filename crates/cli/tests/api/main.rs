//! Integration tests: the real server on a random port, against SQLite and PostgreSQL.

mod helpers;

mod browser;
mod cli;
mod crash;
mod errors;
mod interop;
mod legacy;
mod notifications;
mod openapi;
mod ops;
mod payments;
mod portal;
mod production;
mod properties;
mod refund_engine;
mod refunds;
mod reports;
mod seed;
