//! Configuration: a TOML file (every key documented in `config/wcheckout.example.toml`), each
//! key overridable by `WCHECKOUT__SECTION__KEY` environment variables, validated before anything
//! starts. With no file at all the gateway runs as a sandbox on 127.0.0.1:8080 with SQLite
//! under `./wcheckout-data/` and the devnet token table.
//!
//! - [`schema`]: the sections and keys, with their defaults;
//! - [`load()`]: defaults, network presets ([`networks`]), the file and the environment, layered;
//! - [`Config::problems`] (in `validate`): every problem, each naming its key;
//! - [`Config::token_registry`] and [`Config::token_rates`] (in `convert`): what the domain uses;
//! - [`Config::to_redacted_toml`] (in `print`): what `check-config` prints.

mod convert;
mod load;
pub mod networks;
pub mod payouts;
mod print;
pub mod schema;
mod validate;

pub use load::load;
pub use print::REDACTED;
pub use schema::*;

#[cfg(test)]
mod tests;
