//! One module per command group; `main.rs` only dispatches.

pub mod fx;
pub mod jobs;
pub mod ledger;
pub mod merchant;
pub mod notifications;
pub mod portal;
pub mod reconcile;
pub mod reports;
pub mod sandbox;
pub mod seed;
pub mod serve;
pub mod settle;
