//! The command line: `serve` runs the gateway; the other subcommands are operator tools.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{apps, backup, call, devnet, money, operators, runtime, sandbox, serve, webhooks};

/// wcheckout — a self-hostable stablecoin payment gateway (W Checkout merchant API).
#[derive(Parser)]
#[command(name = "wcheckout", version, about)]
struct Cli {
    /// Configuration file (TOML). Every key can also be set as WCHECKOUT__SECTION__KEY.
    #[arg(long, global = true, env = "WCHECKOUT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (API, workers).
    Serve,
    /// Manage apps (integrators) and their credentials.
    #[command(subcommand)]
    App(apps::AppCommand),
    /// Manage the console's operator accounts.
    #[command(subcommand)]
    Operator(operators::OperatorCommand),
    /// Check the configuration and print it with secrets redacted.
    CheckConfig,
    /// Compute a request signature (for hand-made requests).
    Sign(call::SignArgs),
    /// Send a signed, authenticated request to a gateway and print the answer.
    Call(call::CallArgs),
    /// Run a local EVM devnet with the sandbox stablecoins, or pay an order on it.
    Devnet(devnet::DevnetArgs),
    /// The webhook delivery log: list, show, resend, test.
    #[command(subcommand)]
    Webhook(webhooks::WebhookCommand),
    /// The ledger: balances and the operator's funding of the hot wallet.
    #[command(subcommand)]
    Ledger(money::LedgerCommand),
    /// Compare the ledger's custody balances with the chains' (exit 1 on any difference).
    Reconcile {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Settlements waiting for the operator: list, approve, reject, mark-paid.
    #[command(subcommand)]
    Settlement(money::SettlementCommand),
    /// Payouts (refunds, settlements, sweeps, gas top-ups) in flight.
    #[command(subcommand)]
    Payout(money::PayoutCommand),
    /// The hot wallet's address and balances.
    HotWallet,
    /// Copy the SQLite database to a new file while the gateway runs (checked before it is
    /// kept). PostgreSQL: use pg_dump or point-in-time recovery.
    Backup {
        /// The backup file to write (it must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup in place as the configured SQLite database (which must not exist yet),
    /// or (--in-place) prepare a database restored by other means; payouts are then held until
    /// `wcheckout payout release`.
    Restore {
        /// The SQLite backup file.
        #[arg(
            long,
            required_unless_present = "in_place",
            conflicts_with = "in_place"
        )]
        from: Option<PathBuf>,
        /// The configured database was restored already (pg_restore, point-in-time recovery):
        /// only skip deposit addresses and hold payouts.
        #[arg(long)]
        in_place: bool,
        /// Deposit address indexes to skip: at least the orders made after the backup.
        #[arg(long, default_value_t = 100_000)]
        skip_addresses: u64,
    },
    /// A first look in one command: a devnet, the gateway watching it, an app and a payable
    /// order.
    Sandbox(sandbox::SandboxArgs),
}

/// Parses the arguments and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve => runtime::block_on(serve::run(cli.config)),
        Command::App(command) => runtime::block_on(apps::run(cli.config, command)),
        Command::Operator(command) => runtime::block_on(operators::run(cli.config, command)),
        Command::CheckConfig => serve::check_config(cli.config),
        Command::Sign(args) => call::sign(&args),
        Command::Call(args) => runtime::block_on(call::call(args)),
        Command::Devnet(args) => runtime::block_on(devnet::run(cli.config, args)),
        Command::Sandbox(args) => runtime::block_on(sandbox::run(args)),
        Command::Webhook(command) => runtime::block_on(webhooks::run(cli.config, command)),
        Command::Ledger(command) => runtime::block_on(money::ledger(cli.config, command)),
        Command::Reconcile { json } => runtime::block_on(money::reconcile(cli.config, json)),
        Command::Settlement(command) => runtime::block_on(money::settlement(cli.config, command)),
        Command::Payout(command) => runtime::block_on(money::payout(cli.config, command)),
        Command::HotWallet => runtime::block_on(money::hot_wallet(cli.config)),
        Command::Backup { to } => runtime::block_on(backup::backup(cli.config, &to)),
        Command::Restore {
            from,
            in_place: _,
            skip_addresses,
        } => runtime::block_on(backup::restore(cli.config, from, skip_addresses)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
