//! `wcheckout-bench`: the benchmark harness. Benchmarks are not tests: they run on demand,
//! print a Markdown block per subcommand and, with `--write`, replace that subcommand's section
//! of `docs/benchmarks.md` (with the machine, the exact command and the date).
//!
//! ```text
//! cargo run --release -p wcheckout-bench -- all --write
//! cargo run --release -p wcheckout-bench -- orders --clients 1,16,64
//! cargo run --release -p wcheckout-bench -- webhooks --events 20000
//! cargo run --release -p wcheckout-bench -- detection --payments 200
//! cargo run --release -p wcheckout-bench -- detection --family tron --poll-interval-ms 1000,100
//! cargo run --release -p wcheckout-bench -- catchup --blocks 2000 --per-block 10
//! cargo run --release -p wcheckout-bench -- catchup --family tron --max-blocks-per-scan 1000,5000
//! cargo run --release -p wcheckout-bench -- scale --sizes 10000,1000000
//! cargo run --release -p wcheckout-bench -- console --orders 1000000
//! ```
//!
//! Everything runs on loopback: a local webhook receiver, a gateway in this process (SQLite in
//! a temporary directory, PostgreSQL in a fresh database that is dropped afterwards) and, for
//! detection and catch-up, an anvil node (on TRON with the TRON node stand-in in front).

/// mimalloc rather than the system allocator: order creation's profile spent a tenth of its
/// CPU in glibc's malloc and free (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod catchup;
mod chain;
mod console;
mod database;
mod detection;
mod gateway;
mod machine;
mod orders;
mod receiver;
mod report;
mod rpc_counter;
mod scale;
mod stats;
mod watcher_steps;
mod webhooks;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::chain::Family;
use crate::database::Engine;

/// The PostgreSQL server the runs create their databases on.
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Parser, Debug)]
#[command(
    name = "wcheckout-bench",
    about = "wcheckout benchmarks: order creation, webhook throughput, payment detection latency"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Signed CreateCheckoutOrder throughput and latency against the database's insert ceiling.
    Orders {
        #[command(flatten)]
        options: orders::Options,
        #[command(flatten)]
        common: Common,
    },
    /// Webhook delivery throughput from a full outbox to a fast local receiver.
    Webhooks {
        #[command(flatten)]
        options: webhooks::Options,
        #[command(flatten)]
        common: Common,
    },
    /// Time from the block paying an order to the receiver getting its PAID webhook (EVM, or
    /// TRON through the node stand-in with `--family tron`).
    Detection {
        #[command(flatten)]
        options: detection::Options,
        #[command(flatten)]
        common: Common,
    },
    /// A watcher catching up a backlog of blocks, against the raw `eth_getLogs` time (EVM, or
    /// TRON through the node stand-in with `--family tron`).
    Catchup {
        #[command(flatten)]
        options: catchup::Options,
        #[command(flatten)]
        common: Common,
    },
    /// Order creation and transfer matching with 10,000 and 1,000,000 open orders.
    Scale {
        #[command(flatten)]
        options: scale::Options,
        #[command(flatten)]
        common: Common,
    },
    /// The console's order list and search over HTTP with 1,000,000 orders.
    Console {
        #[command(flatten)]
        options: console::Options,
        #[command(flatten)]
        common: Common,
    },
    /// Every benchmark, one after the other, with default sizes unless given (the TRON ones
    /// skipped with a note when node or tronweb is missing).
    All {
        /// Events per webhook run.
        #[arg(long, default_value_t = webhooks::DEFAULT_EVENTS)]
        events: u64,
        /// Payments per detection run [default: 500 on EVM, 200 per poll interval on TRON].
        #[arg(long)]
        payments: Option<u64>,
        #[command(flatten)]
        common: Common,
    },
}

/// Options every subcommand takes.
#[derive(Args, Debug, Clone)]
struct Common {
    /// Replace this benchmark's section of docs/benchmarks.md with the results.
    #[arg(long)]
    write: bool,
    /// Engines to run on: sqlite, postgres or both.
    #[arg(long, value_enum, default_value_t = Engines::Both)]
    engines: Engines,
    /// PostgreSQL server (admin URL); each run creates a fresh database there and drops it.
    #[arg(long, env = "WCHECKOUT_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
    pg_url: String,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Engines {
    Sqlite,
    Postgres,
    Both,
}

impl Engines {
    fn list(self) -> Vec<Engine> {
        match self {
            Engines::Sqlite => vec![Engine::Sqlite],
            Engines::Postgres => vec![Engine::Postgres],
            Engines::Both => vec![Engine::Sqlite, Engine::Postgres],
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // A stopped gateway's new-heads follower keeps trying to reconnect to its stopped node
        // (the task is not tied to shutdown); its retries are noise here.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "warn,alloy_pubsub=error,alloy_transport_ws=off,wcheckout_evm::reader=error",
            )
        });
    let printed = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(printed)
        .with(watcher_steps::layer())
        .try_init();
    let command_line = report::command_line();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli.command, command_line))
}

async fn run(command: Command, command_line: String) -> anyhow::Result<()> {
    use report::Section;
    let line = command_line.as_str();
    match command {
        Command::Orders { options, common } => {
            let engines = common.engines.list();
            let run = orders::run(&options, &engines, &common.pg_url);
            measured(Section::Orders, &common, line, run).await
        }
        Command::Webhooks { options, common } => {
            let engines = common.engines.list();
            let run = webhooks::run(&options, &engines, &common.pg_url);
            measured(Section::Webhooks, &common, line, run).await
        }
        Command::Detection { options, common } => {
            let section = detection_section(options.family);
            if !can_run(options.family, section) {
                return Ok(());
            }
            let engines = common.engines.list();
            let run = detection::run(&options, &engines, &common.pg_url);
            measured(section, &common, line, run).await
        }
        Command::Catchup { options, common } => {
            let section = catchup_section(options.family);
            if !can_run(options.family, section) {
                return Ok(());
            }
            let engines = common.engines.list();
            let run = catchup::run(&options, &engines, &common.pg_url);
            measured(section, &common, line, run).await
        }
        Command::Scale { options, common } => {
            let engines = common.engines.list();
            let run = scale::run(&options, &engines, &common.pg_url);
            measured(Section::Scale, &common, line, run).await
        }
        Command::Console { options, common } => {
            let engines = common.engines.list();
            let run = console::run(&options, &engines, &common.pg_url);
            measured(Section::Console, &common, line, run).await
        }
        Command::All {
            events,
            payments,
            common,
        } => {
            let engines = common.engines.list();
            let pg_url = common.pg_url.as_str();
            let orders = orders::Options::default();
            let run = orders::run(&orders, &engines, pg_url);
            measured(Section::Orders, &common, line, run).await?;
            let webhooks = webhooks::Options {
                events,
                ..webhooks::Options::default()
            };
            let run = webhooks::run(&webhooks, &engines, pg_url);
            measured(Section::Webhooks, &common, line, run).await?;
            for family in [Family::Evm, Family::Tron] {
                let section = detection_section(family);
                if can_run(family, section) {
                    let detection = detection::Options {
                        family,
                        payments,
                        ..detection::Options::default()
                    };
                    let run = detection::run(&detection, &engines, pg_url);
                    measured(section, &common, line, run).await?;
                }
            }
            for family in [Family::Evm, Family::Tron] {
                let section = catchup_section(family);
                if can_run(family, section) {
                    let catchup = catchup::Options {
                        family,
                        ..catchup::Options::default()
                    };
                    let run = catchup::run(&catchup, &engines, pg_url);
                    measured(section, &common, line, run).await?;
                }
            }
            let scale = scale::Options::default();
            let run = scale::run(&scale, &engines, pg_url);
            measured(Section::Scale, &common, line, run).await?;
            let console = console::Options::default();
            let run = console::run(&console, &engines, pg_url);
            measured(Section::Console, &common, line, run).await
        }
    }
}

fn detection_section(family: Family) -> report::Section {
    match family {
        Family::Evm => report::Section::Detection,
        Family::Tron => report::Section::DetectionTron,
    }
}

fn catchup_section(family: Family) -> report::Section {
    match family {
        Family::Evm => report::Section::Catchup,
        Family::Tron => report::Section::CatchupTron,
    }
}

/// Whether `family`'s benchmark can run; on TRON a missing tool skips it with a note (EVM's
/// runs say what is missing when they fail).
fn can_run(family: Family, section: report::Section) -> bool {
    if family == Family::Evm {
        return true;
    }
    match family.tools_missing() {
        None => true,
        Some(why) => {
            eprintln!("skipping the {} benchmark: {why}", section.name());
            false
        }
    }
}

/// Runs one benchmark (`run` starts only when awaited here, after the machine's load was read)
/// and emits its section.
async fn measured(
    section: report::Section,
    common: &Common,
    command_line: &str,
    run: impl std::future::Future<Output = anyhow::Result<String>>,
) -> anyhow::Result<()> {
    let load = machine::load_before_run(section.name());
    let block = run.await?;
    emit(section, &block, common, command_line, load)
}

/// Prints the block with its provenance and, with `--write`, stores it in the document.
fn emit(
    section: report::Section,
    results: &str,
    common: &Common,
    command_line: &str,
    load_before: Option<f64>,
) -> anyhow::Result<()> {
    let machine = machine::Machine::gather();
    let load = (load_before, machine::load_average());
    let block = report::section_block(section, results, &machine, command_line, load);
    println!("{block}");
    if common.write {
        let path = report::write(section, &block, &machine)?;
        eprintln!("wrote the {} section of {}", section.name(), path.display());
    }
    Ok(())
}
