//! `docs/benchmarks.md`: a header saying how to run everything and on what it last ran, then one
//! section per benchmark between markers, each replaced only by its own subcommand.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::machine::Machine;

/// The sections of the document, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Orders,
    Webhooks,
    Detection,
    DetectionTron,
    Catchup,
    CatchupTron,
    Scale,
    Console,
}

impl Section {
    const ALL: [Section; 8] = [
        Section::Orders,
        Section::Webhooks,
        Section::Detection,
        Section::DetectionTron,
        Section::Catchup,
        Section::CatchupTron,
        Section::Scale,
        Section::Console,
    ];

    /// The marker name and subcommand.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Section::Orders => "orders",
            Section::Webhooks => "webhooks",
            Section::Detection => "detection",
            Section::DetectionTron => "detection-tron",
            Section::Catchup => "catchup",
            Section::CatchupTron => "catchup-tron",
            Section::Scale => "scale",
            Section::Console => "console",
        }
    }

    /// The subcommand that writes it.
    fn command(self) -> &'static str {
        match self {
            Section::DetectionTron => "detection --family tron",
            Section::CatchupTron => "catchup --family tron",
            Section::Orders
            | Section::Webhooks
            | Section::Detection
            | Section::Catchup
            | Section::Scale
            | Section::Console => self.name(),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Section::Orders => "Order creation throughput against the database's insert ceiling",
            Section::Webhooks => "Webhook delivery throughput",
            Section::Detection => "Payment detection latency (block → PAID webhook)",
            Section::DetectionTron => {
                "Payment detection latency on TRON (block → PAID webhook, polled)"
            }
            Section::Catchup => "Catch-up: a backlog of blocks against the raw eth_getLogs time",
            Section::CatchupTron => {
                "Catch-up on TRON: the same backlog through java-tron's eth_getLogs limits"
            }
            Section::Scale => "Scale of open orders: order creation and transfer matching",
            Section::Console => "Console: the order list and search with 1,000,000 orders",
        }
    }
}

/// The command as typed, rewritten to the documented `cargo run` form.
pub(crate) fn command_line() -> String {
    let args = std::env::args()
        .skip(1)
        .map(|arg| {
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'') {
                format!("'{}'", arg.replace('\'', r"'\''"))
            } else {
                arg
            }
        })
        .collect::<Vec<_>>();
    format!(
        "cargo run --release -p wcheckout-bench -- {}",
        args.join(" ")
    )
}

/// The section as printed and stored: title, provenance, results.
pub(crate) fn section_block(
    section: Section,
    results: &str,
    machine: &Machine,
    command_line: &str,
    (load_before, load_after): (Option<f64>, Option<f64>),
) -> String {
    let load = |value: Option<f64>| value.map_or_else(|| "unknown".into(), |l| format!("{l:.2}"));
    format!(
        "## {title}\n\n\
         - Command: `{command_line}`\n\
         - Date: {date}\n\
         - Machine: {machine}\n\
         - 1-minute load average before the run / at its end: {before} / {after}\n\n\
         {results}",
        title = section.title(),
        date = machine.date,
        machine = machine.one_line(),
        before = load(load_before),
        after = load(load_after),
        results = results.trim_end(),
    )
}

fn path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md")
}

fn start_marker(name: &str) -> String {
    format!("<!-- wcheckout-bench:{name} -->")
}

fn end_marker(name: &str) -> String {
    format!("<!-- /wcheckout-bench:{name} -->")
}

fn wrapped(name: &str, body: &str) -> String {
    format!(
        "{}\n{}\n{}",
        start_marker(name),
        body.trim_end(),
        end_marker(name)
    )
}

fn header(machine: &Machine) -> String {
    format!(
        "Benchmarks are not tests: they run on demand, through one harness, and record here \
what they measured, on which machine, with which command and when. Run everything (release \
build; a clean build of the harness takes a few minutes on a small machine) with:

```sh
cargo run --release -p wcheckout-bench -- all --write
```

or one benchmark at a time (each replaces only its own section below):

```sh
cargo run --release -p wcheckout-bench -- orders --write      # --clients 1,16,64 --seconds 8
cargo run --release -p wcheckout-bench -- webhooks --write    # --events N (default 20000), --apps N (default 16)
cargo run --release -p wcheckout-bench -- detection --write   # --payments N (default 500)
cargo run --release -p wcheckout-bench -- detection --family tron --write   # --poll-interval-ms 1000,100 --payments N (default 200)
cargo run --release -p wcheckout-bench -- catchup --write     # --blocks 2000 --per-block 10 --orders 2000
cargo run --release -p wcheckout-bench -- catchup --family tron --write     # --max-blocks-per-scan 1000,5000
cargo run --release -p wcheckout-bench -- scale --write       # --sizes 10000,1000000 --clients 16 --seconds 4 --rounds 3
cargo run --release -p wcheckout-bench -- console --write     # --orders 1000000 --repeats 7
```

Every run uses loopback only. `--engines sqlite|postgres|both` (default both) picks the \
databases: SQLite in a temporary directory, PostgreSQL in a fresh database created on \
`--pg-url` (default `postgres://postgres@127.0.0.1:5432/test`, or `$WCHECKOUT_BENCH_PG_URL`) and \
dropped afterwards; without a reachable server the PostgreSQL runs are skipped with a note. \
The detection and catch-up benchmarks need the pinned anvil (`npm ci` at the repository root, or \
`$WCHECKOUT_ANVIL`); their TRON variants (`--family tron`: the same anvil workload, read by the \
gateway as a TRON chain through the TRON node stand-in) also need `node` and tronweb (`npm ci`), \
and are skipped with a note without them. Runs stop by themselves (each webhook run is also capped by \
`--timeout-secs`). Without `--write` the results are only printed.

The gateway runs in the harness process, wired like `wcheckout serve` (`build_gateway`, \
`spawn_workers`, the HTTP router, a Prometheus recorder), with the default configuration except \
where a section says otherwise; log level `warn` (`RUST_LOG` overrides). The receiver, the \
gateway, the database and anvil share the machine's CPUs, so the figures are for the whole \
system on that machine, not for the gateway alone.

Machine of the last write ({date}):

| | |
| --- | --- |
| CPU | {cpu} × {cpus} |
| Memory | {memory} |
| OS | {os} |
| Rust | {rustc} |",
        date = machine.date,
        cpu = machine.cpu,
        cpus = machine.cpus,
        memory = machine.memory,
        os = machine.os,
        rustc = machine.rustc,
    )
}

fn template() -> String {
    let mut text = String::from("# Benchmarks\n\n");
    text.push_str(&wrapped("header", ""));
    for section in Section::ALL {
        text.push_str("\n\n");
        let placeholder = format!(
            "## {}\n\nNot run yet: `cargo run --release -p wcheckout-bench -- {} --write`.",
            section.title(),
            section.command()
        );
        text.push_str(&wrapped(section.name(), &placeholder));
    }
    text.push('\n');
    text
}

/// `text` with the block named `name` replaced by `body` (appended when absent).
fn replace_block(text: &str, name: &str, body: &str) -> String {
    let start = start_marker(name);
    let end = end_marker(name);
    let new_block = wrapped(name, body);
    if let Some(from) = text.find(&start)
        && let Some(to) = text[from..].find(&end).map(|at| from + at + end.len())
    {
        return format!("{}{new_block}{}", &text[..from], &text[to..]);
    }
    format!("{}\n\n{new_block}\n", text.trim_end())
}

/// Replaces the header and `section` in the document (creating it when missing).
pub(crate) fn write(section: Section, block: &str, machine: &Machine) -> anyhow::Result<PathBuf> {
    let path = path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => template(),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let text = replace_block(&text, "header", &header(machine));
    let text = replace_block(&text, section.name(), block);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path.canonicalize().unwrap_or(path))
}
