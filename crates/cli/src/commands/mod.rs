//! One module per command group; `main.rs` only dispatches.

pub mod fx;
pub mod ledger;
pub mod merchant;
pub mod notifications;
pub mod reconcile;
pub mod reports;
pub mod sandbox;
pub mod serve;
pub mod settle;
