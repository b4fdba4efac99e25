//! Arguments shared by several commands: the store directory, the user a template belongs to, one
//! template of a user, and where a 1:N search looks. Face and fingerprint commands use the same
//! structs, so `--user`, `--location` and `--store` mean the same everywhere.

use clap::Args;
use std::path::PathBuf;

/// Location used when none is given: a terminal that serves one site needs no location ids.
pub const DEFAULT_LOCATION: &str = "local";

/// The store directory argument shared by every command that works on a store.
#[derive(Args, Debug, Clone)]
pub struct StoreArg {
    /// Store directory.
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
}

/// A user of a location: whose templates are added, removed or verified against.
#[derive(Args, Debug, Clone)]
pub struct UserAt {
    /// User id.
    #[arg(long)]
    pub user: String,
    /// Location id.
    #[arg(long, default_value = DEFAULT_LOCATION)]
    pub location: String,
}

/// One template of a user in a store: `face add`, `finger add`.
#[derive(Args, Debug, Clone)]
pub struct TemplateAt {
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub who: UserAt,
    /// Template id (a user may have several; adding an existing one replaces it).
    #[arg(long)]
    pub template: String,
}

/// `face remove` and `finger remove`.
#[derive(Args, Debug, Clone)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub who: UserAt,
    /// Remove only this template (default: every template of the user of this kind, face or
    /// fingerprint).
    #[arg(long)]
    pub template: Option<String>,
}

/// A user of a store to verify a probe against: `face verify`, `finger verify`.
#[derive(Args, Debug, Clone)]
pub struct VerifyAt {
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub who: UserAt,
}

/// Where a 1:N search looks and how many users it lists: `face identify`, `finger identify`.
#[derive(Args, Debug, Clone)]
pub struct SearchArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// How many users to list, best first.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub k: u64,
    /// Only users of this location.
    #[arg(long)]
    pub location: Option<String>,
}
