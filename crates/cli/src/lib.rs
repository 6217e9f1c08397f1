//! Backflow as a program: configuration, the server with its listeners, and
//! the admin commands. The binary in `main.rs` only parses arguments and calls in here.

pub mod admin;
pub mod app;
pub mod commands;
pub mod demo;
pub mod logging;
pub mod metrics;
pub mod openapi;
mod reports_api;
pub mod storage;
pub mod tls;

pub use app::{Application, ServeConfig};
