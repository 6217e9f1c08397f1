//! One module per command group; `main.rs` only dispatches.

pub mod merchant;
pub mod serve;
