//! `wcheckout devnet`: a local EVM chain (anvil, installed by `npm ci`) with the three sandbox
//! stablecoins (`ETH_USDT`, `ETH_USDC`, `ETH_WUSD`) deployed at their well-known addresses, funded payer accounts, and a gateway
//! config for it. `wcheckout devnet pay ORDER_NO` then pays an order from a payer account.
//!
//! Everything lives in one directory (`./devnet-data` by default): the chain state (kept across
//! restarts), `wcheckout.toml` for `wcheckout serve`, the gateway's data under `gateway/`, and
//! `devnet.json` describing the chain. Only anvil's public dev keys are ever printed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tokio::signal::unix::{Signal, SignalKind, signal};
use wcheckout_domain::address::{Address, ChainFamily, EvmAddress};
use wcheckout_domain::ids::IntegratorNo;
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::order::{Order, OrderStatus};
use wcheckout_domain::ports::OrderStore;
use wcheckout_evm::anvil::{
    Anvil, AnvilError, AnvilOptions, DEFAULT_CHAIN_ID, DEV_ACCOUNTS, DEV_PRIVATE_KEYS,
};
use wcheckout_evm::stablecoin::{self, anvil_account};

mod solana;
mod tron;

use crate::config::networks::WUSD_DECIMALS;
use crate::config::{Config, DEVNET_USDC, DEVNET_USDT, DEVNET_WUSD};
use crate::runtime::{create_private_dir, load_config, open_store};

/// The gateway config written into the devnet directory.
pub const CONFIG_FILE_NAME: &str = "wcheckout.toml";
/// The devnet description written into the devnet directory.
pub const STATE_FILE_NAME: &str = "devnet.json";
/// anvil's chain state, kept across restarts.
const CHAIN_STATE_FILE_NAME: &str = "anvil-state.json";
/// The gateway's data directory inside the devnet directory.
const GATEWAY_DATA_DIR: &str = "gateway";
/// The devnet's chain key in the gateway config.
const CHAIN_KEY: &str = "ETH";
/// Dev accounts that receive tokens and pay orders.
const PAYERS: std::ops::RangeInclusive<u8> = 1..=5;
/// Whole tokens minted to each payer, of each token.
const PAYER_TOKENS: u128 = 1_000_000;

/// One devnet stablecoin.
struct DevnetToken {
    id: &'static str,
    name: &'static str,
    symbol: &'static str,
    /// As the real token's: 6 for USDT and USDC, 18 for WUSD.
    decimals: u8,
    /// Where it lands when deployed first (USDT), second (USDC) or third (WUSD) on a fresh
    /// chain.
    sandbox_address: &'static str,
}

/// In deployment order: the order fixes their addresses.
const TOKENS: [DevnetToken; 3] = [
    DevnetToken {
        id: "ETH_USDT",
        name: "Tether USD (devnet)",
        symbol: "USDT",
        decimals: 6,
        sandbox_address: DEVNET_USDT,
    },
    DevnetToken {
        id: "ETH_USDC",
        name: "USD Coin (devnet)",
        symbol: "USDC",
        decimals: 6,
        sandbox_address: DEVNET_USDC,
    },
    DevnetToken {
        id: "ETH_WUSD",
        name: "Worldwide USD (devnet)",
        symbol: "WUSD",
        decimals: WUSD_DECIMALS,
        sandbox_address: DEVNET_WUSD,
    },
];

/// `wcheckout devnet`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DevnetArgs {
    #[command(subcommand)]
    command: Option<DevnetCommand>,
    #[command(flatten)]
    start: StartArgs,
}

#[derive(Subcommand)]
enum DevnetCommand {
    /// Pay an order from a payer account and print the transaction hash.
    ///
    /// Sends the order's token to its deposit address. The order is looked up in the database
    /// of the gateway config (--config, default DIR/wcheckout.toml).
    Pay(PayArgs),
}

/// Starting the devnet.
#[derive(Args, Clone, Debug)]
pub(crate) struct StartArgs {
    /// When ready, print one line of JSON (rpcUrl, chainId, tokens, payerPrivateKeys,
    /// configFile) instead of a summary.
    #[arg(long)]
    pub(crate) json: bool,
    /// JSON-RPC port (HTTP and WebSocket); 0 picks a free one.
    #[arg(long, default_value_t = 8545)]
    pub(crate) port: u16,
    /// EIP-155 chain id.
    #[arg(long, default_value_t = DEFAULT_CHAIN_ID)]
    pub(crate) chain_id: u64,
    /// Mine a block every SECS seconds (fractions allowed) instead of one per transaction.
    #[arg(long, value_name = "SECS", value_parser = parse_block_time)]
    pub(crate) block_time: Option<Duration>,
    /// Directory for the chain state, the gateway config and devnet.json.
    #[arg(long, default_value = "./devnet-data")]
    pub(crate) dir: PathBuf,
}

/// Paying an order.
#[derive(Args)]
struct PayArgs {
    /// The order's number (orderNo).
    order_no: String,
    /// Whole tokens to send, like 12.5 (default: what is still due).
    #[arg(long)]
    amount: Option<String>,
    /// The devnet directory whose wcheckout.toml is used when --config is not given.
    #[arg(long, default_value = "./devnet-data")]
    dir: PathBuf,
    /// Which payer account pays (dev account 1 to 5).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    payer: u8,
}

fn parse_block_time(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err("must be greater than 0".into());
    }
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

/// Runs `wcheckout devnet [pay]`; `config_file` is the global `--config`, used by `pay`.
pub async fn run(config_file: Option<PathBuf>, args: DevnetArgs) -> anyhow::Result<()> {
    match args.command {
        None => start(args.start).await,
        Some(DevnetCommand::Pay(pay_args)) => pay(config_file, pay_args).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Starting

/// Where the devnet is, once its tokens are in place.
pub(crate) struct Devnet {
    rpc_url: String,
    ws_url: String,
    chain_id: u64,
    /// `(token, address)` in [`TOKENS`] order.
    tokens: Vec<(&'static DevnetToken, EvmAddress)>,
    /// The tokens deployed by this run (the others came from a previous run's chain state).
    deployed: Vec<&'static str>,
    /// The gateway configuration written for this chain.
    pub(crate) config_file: PathBuf,
    /// The TRON chain beside it, when its tools are here.
    tron: Option<tron::TronDevnet>,
    /// The Solana cluster beside it, when its tools are here.
    solana: Option<solana::SolanaDevnet>,
}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    let mut stop = StopSignals::listen()?;
    let Some((anvil, devnet)) = launch(&args, &mut stop).await? else {
        return Ok(());
    };
    if let Err(error) = fund_configured_hot_wallet(&devnet).await {
        anvil.kill();
        return Err(error);
    }
    announce(&devnet, args.json)?;
    stop.received().await;
    anvil.stop();
    devnet.stop_others().await;
    if !args.json {
        eprintln!("devnet stopped; chain state kept in {}", args.dir.display());
    }
    Ok(())
}

/// Starts anvil in the devnet directory and puts the tokens, the funds and the gateway config
/// in place; `None` when a stop signal came first (anvil is then stopped).
pub(crate) async fn launch(
    args: &StartArgs,
    stop: &mut StopSignals,
) -> anyhow::Result<Option<(Anvil, Devnet)>> {
    let dir = prepare_dir(&args.dir)?;
    let anvil = Anvil::spawn(&anvil_options(args, &dir)).map_err(|e| explain_spawn(e, args))?;
    let devnet = tokio::select! {
        devnet = set_up(&anvil, &dir) => devnet,
        () = stop.received() => {
            anvil.kill();
            return Ok(None);
        }
    };
    match devnet {
        Ok(devnet) => Ok(Some((anvil, devnet))),
        Err(error) => {
            // Keep the previous chain state rather than a half-built one.
            anvil.kill();
            Err(error)
        }
    }
}

/// SIGINT and SIGTERM, registered before anvil starts so that neither can leave it orphaned.
pub(crate) struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    pub(crate) fn listen() -> anyhow::Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    pub(crate) async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Creates the directory (owner-only) and returns its absolute path.
fn prepare_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    create_private_dir(dir)?;
    dir.canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))
}

fn anvil_options(args: &StartArgs, dir: &Path) -> AnvilOptions {
    AnvilOptions {
        port: args.port,
        chain_id: args.chain_id,
        block_time: args.block_time,
        state_file: Some(dir.join(CHAIN_STATE_FILE_NAME)),
        ..AnvilOptions::default()
    }
}

fn explain_spawn(error: AnvilError, args: &StartArgs) -> anyhow::Error {
    match error {
        AnvilError::PortInUse { port, .. } => anyhow::anyhow!(
            "port {port} is already in use (is another devnet or node running?); choose \
             another with --port, or --port 0 for a free one"
        ),
        other => anyhow::anyhow!(
            "cannot start the devnet chain in {}: {other}",
            args.dir.display()
        ),
    }
}

/// Puts the tokens in place, funds the payers, writes the gateway config and devnet.json.
async fn set_up(anvil: &Anvil, dir: &Path) -> anyhow::Result<Devnet> {
    let rpc_url = anvil.rpc_url();
    let (tokens, deployed) = ensure_tokens(&rpc_url).await?;
    fund_payers(&rpc_url, &deployed).await?;
    let tron = tron::launch(dir).await?;
    let solana = solana::launch().await?;
    let devnet = Devnet {
        ws_url: anvil.ws_url(),
        rpc_url,
        chain_id: anvil.chain_id(),
        tokens,
        deployed: deployed.iter().map(|(token, _)| token.id).collect(),
        config_file: dir.join(CONFIG_FILE_NAME),
        tron,
        solana,
    };
    write_file(&devnet.config_file, &gateway_config(&devnet, dir))?;
    let state = serde_json::to_string_pretty(&state_json(&devnet))?;
    write_file(&dir.join(STATE_FILE_NAME), &format!("{state}\n"))?;
    Ok(devnet)
}

/// The devnet tokens with their addresses, and those deployed now (to be funded).
type EnsuredTokens = (
    Vec<(&'static DevnetToken, EvmAddress)>,
    Vec<(&'static DevnetToken, EvmAddress)>,
);

/// Reuses the tokens of a restored chain and deploys the missing ones from dev account 0 (on
/// a fresh chain, all of them, in order, so that they land at their sandbox addresses; a
/// chain kept from before ETH_WUSD existed gets it at the next free address).
async fn ensure_tokens(rpc_url: &str) -> anyhow::Result<EnsuredTokens> {
    let mut all = Vec::new();
    let mut deployed = Vec::new();
    for token in &TOKENS {
        let sandbox = EvmAddress::parse(token.sandbox_address)?;
        if stablecoin::has_code(rpc_url, sandbox).await? {
            all.push((token, sandbox));
        } else {
            let address = deploy(rpc_url, token).await?;
            all.push((token, address));
            deployed.push((token, address));
        }
    }
    Ok((all, deployed))
}

async fn deploy(rpc_url: &str, token: &DevnetToken) -> anyhow::Result<EvmAddress> {
    let deployer = DEV_PRIVATE_KEYS[0];
    let address = stablecoin::deploy(rpc_url, deployer, token.name, token.symbol, token.decimals)
        .await
        .with_context(|| format!("cannot deploy {}", token.id))?;
    if address.to_checksum() != token.sandbox_address {
        eprintln!(
            "warning: {} landed at {address}, not at the sandbox address {} (the chain state \
             already had transactions from dev account 0); the written config uses {address}",
            token.id, token.sandbox_address
        );
    }
    Ok(address)
}

async fn fund_payers(
    rpc_url: &str,
    tokens: &[(&'static DevnetToken, EvmAddress)],
) -> anyhow::Result<()> {
    let payers = PAYERS
        .map(|index| EvmAddress::parse(DEV_ACCOUNTS[usize::from(index)]))
        .collect::<Result<Vec<_>, _>>()?;
    for (token, address) in tokens {
        let amount =
            TokenAmount::from_base_units(PAYER_TOKENS * 10u128.pow(u32::from(token.decimals)));
        stablecoin::mint_to_each(rpc_url, DEV_PRIVATE_KEYS[0], *address, &payers, amount)
            .await
            .with_context(|| format!("cannot mint {} to the payer accounts", token.id))?;
    }
    Ok(())
}

/// A TOML string: a JSON string literal is a valid TOML basic string.
fn toml_string(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

fn gateway_config(devnet: &Devnet, dir: &Path) -> String {
    let data_dir = dir.join(GATEWAY_DATA_DIR);
    let mut text = format!(
        "# Written by `wcheckout devnet` (rewritten at each start): a sandbox gateway for the\n\
         # local devnet in this directory. Run it with:\n\
         #   wcheckout serve --config {config}\n\
         \n\
         [server]\n\
         mode = \"sandbox\"\n\
         listen = \"127.0.0.1:8080\"\n\
         data_dir = {data_dir}\n\
         \n\
         [chains.{CHAIN_KEY}]\n\
         chain_id = {chain_id}\n\
         display_name = \"Ethereum (local devnet)\"\n\
         rpc_urls = [{rpc_url}]\n\
         wallet_rpc_url = {rpc_url}\n\
         ws_url = {ws_url}\n\
         confirmations = 1\n",
        config = devnet.config_file.display(),
        data_dir = toml_string(&data_dir.display().to_string()),
        chain_id = devnet.chain_id,
        rpc_url = toml_string(&devnet.rpc_url),
        ws_url = toml_string(&devnet.ws_url),
    );
    for (token, address) in &devnet.tokens {
        text.push_str(&format!(
            "\n[tokens.{}]\ncontract = \"{address}\"\ndecimals = {}\n",
            token.id, token.decimals
        ));
    }
    if let Some(tron) = &devnet.tron {
        text.push_str(&tron.config_sections());
    }
    if let Some(solana) = &devnet.solana {
        text.push_str(&solana.config_sections());
    }
    text
}

fn write_file(path: &Path, content: &str) -> anyhow::Result<()> {
    std::fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))
}

fn payer_keys() -> Vec<&'static str> {
    PAYERS
        .map(|index| DEV_PRIVATE_KEYS[usize::from(index)])
        .collect()
}

/// The one line printed with `--json`.
fn ready_json(devnet: &Devnet) -> Value {
    let tokens: serde_json::Map<String, Value> = devnet
        .tokens
        .iter()
        .map(|(token, address)| (token.id.to_owned(), json!(address.to_checksum())))
        .collect();
    let mut ready = json!({
        "rpcUrl": devnet.rpc_url,
        "chainId": devnet.chain_id,
        "tokens": tokens,
        "payerPrivateKeys": payer_keys(),
        "configFile": devnet.config_file.display().to_string(),
    });
    if let Some(fields) = ready.as_object_mut() {
        if let Some(tron) = &devnet.tron {
            fields.insert("tron".into(), tron.ready_json());
        }
        if let Some(solana) = &devnet.solana {
            fields.insert("solana".into(), solana.ready_json());
        }
    }
    ready
}

/// `devnet.json`: the ready line plus the WebSocket URL and the payer addresses.
fn state_json(devnet: &Devnet) -> Value {
    let mut state = ready_json(devnet);
    if let Some(object) = state.as_object_mut() {
        object.insert("wsUrl".into(), json!(devnet.ws_url));
        let payers: Vec<&str> = PAYERS
            .map(|index| DEV_ACCOUNTS[usize::from(index)])
            .collect();
        object.insert("payerAddresses".into(), json!(payers));
    }
    state
}

fn announce(devnet: &Devnet, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(&ready_json(devnet))?);
        return Ok(());
    }
    println!("wcheckout devnet is up (chain id {}).", devnet.chain_id);
    println!(
        "  JSON-RPC   {}   WebSocket {}",
        devnet.rpc_url, devnet.ws_url
    );
    for (token, address) in &devnet.tokens {
        let origin = if devnet.deployed.contains(&token.id) {
            "deployed"
        } else {
            "restored from the previous run"
        };
        println!(
            "  {:<10} {address} ({origin}, {} decimals)",
            token.id, token.decimals
        );
    }
    if let Some(tron) = &devnet.tron {
        tron.announce();
    }
    if let Some(solana) = &devnet.solana {
        solana.announce();
    }
    println!(
        "  payers     {PAYER_TOKENS} of each token when it is deployed; anvil's public dev keys:"
    );
    for index in PAYERS {
        let i = usize::from(index);
        println!("    {index}  {}  {}", DEV_ACCOUNTS[i], DEV_PRIVATE_KEYS[i]);
    }
    println!("  config     {}", devnet.config_file.display());
    println!();
    println!(
        "Next: wcheckout serve --config {}",
        devnet.config_file.display()
    );
    println!("      wcheckout devnet pay ORDER_NO");
    println!("Press Ctrl-C to stop (the chain state is kept in the same directory).");
    Ok(())
}

impl Devnet {
    /// The chain's JSON-RPC URL.
    pub(crate) fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// The chain id.
    pub(crate) fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Stops the TRON and Solana chains, if any (the EVM chain's anvil is stopped by its
    /// owner).
    pub(crate) async fn stop_others(self) {
        if let Some(tron) = self.tron {
            tron.stop();
        }
        if let Some(solana) = self.solana {
            solana.stop().await;
        }
    }

    /// Funds the hot wallets of `gateway` (built on this devnet's config) on every devnet chain.
    pub(crate) async fn fund_hot_wallets(
        &self,
        gateway: &wcheckout_app::Gateway,
    ) -> anyhow::Result<()> {
        for chain in gateway.tokens.chains() {
            match chain.family {
                ChainFamily::Evm => fund_hot_wallet(gateway, chain, &self.rpc_url).await?,
                ChainFamily::Tron => {
                    if let Some(tron) = &self.tron {
                        tron::fund_hot_wallet(gateway, chain, &tron.anvil_rpc_url()).await?;
                    }
                }
                ChainFamily::Solana => {
                    if let Some(solana) = &self.solana {
                        solana.fund_hot_wallet(gateway, chain).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Paying

async fn pay(config_file: Option<PathBuf>, args: PayArgs) -> anyhow::Result<()> {
    let config_file = config_file.unwrap_or_else(|| args.dir.join(CONFIG_FILE_NAME));
    if !config_file.exists() {
        bail!(
            "no gateway config at {}: start `wcheckout devnet` first (or pass --dir), or give \
             the gateway's config with --config",
            config_file.display()
        );
    }
    let config = load_config(Some(&config_file))?;
    let order = find_order(&config, &args.order_no).await?;
    let payment = Payment::for_order(&config, &order, args.amount.as_deref())?;
    let payer = usize::from(args.payer);
    let key = DEV_PRIVATE_KEYS[payer];
    let to = &order.deposit_address;
    let hash = match payment.family {
        ChainFamily::Evm => {
            let (token, to) = (anvil_account(&payment.contract), anvil_account(to));
            stablecoin::transfer(&payment.node_url, key, token, to, payment.amount).await?
        }
        ChainFamily::Tron => {
            tron::pay(
                &payment.node_url,
                key,
                &payment.contract,
                to,
                payment.amount,
            )
            .await?
        }
        ChainFamily::Solana => {
            solana::pay(
                &payment.node_url,
                args.payer,
                &payment.contract,
                to,
                payment.amount,
            )
            .await?
        }
    };
    let payer_address = match payment.family {
        ChainFamily::Solana => solana::payer(args.payer)?.address().to_string(),
        ChainFamily::Evm | ChainFamily::Tron => DEV_ACCOUNTS[payer].to_owned(),
    };
    eprintln!(
        "sent {} {} from payer {payer} ({payer_address}) to {} for order {}",
        payment.amount.to_decimal(payment.decimals).normalized(),
        order.token,
        order.deposit_address,
        order.order_no
    );
    println!("{hash}");
    Ok(())
}

/// The order with this number; the most recent one (said on stderr) when several apps have it.
async fn find_order(config: &Config, order_no: &str) -> anyhow::Result<Order> {
    let number = IntegratorNo::parse(order_no)
        .with_context(|| format!("'{order_no}' is not a valid orderNo"))?;
    let store = open_store(config).await?;
    let found = store.orders_by_no_any_app(&number).await;
    store.close().await;
    let mut orders = found?;
    let count = orders.len();
    let Some(order) = orders.pop() else {
        bail!("no order numbered {number} in the gateway's database");
    };
    if count > 1 {
        eprintln!(
            "note: {count} apps have an order numbered {number}; paying the most recent one \
             (app {}, created {}). There is no option to choose another app.",
            order.app_id, order.created_at
        );
    }
    if order.status != OrderStatus::Paying {
        eprintln!(
            "note: order {number} is {}; the transfer is sent anyway",
            order.status
        );
    }
    Ok(order)
}

/// What to send for an order, and where.
struct Payment {
    family: ChainFamily,
    /// Where a payer sends: an EVM chain's JSON-RPC, or TRON's HTTP API.
    node_url: String,
    contract: Address,
    decimals: u8,
    amount: TokenAmount,
}

impl Payment {
    fn for_order(config: &Config, order: &Order, amount: Option<&str>) -> anyhow::Result<Payment> {
        let registry = config
            .token_registry()
            .map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
        let (token, chain) = registry
            .get(&order.token)
            .with_context(|| format!("token {} of the order is not in the config", order.token))?;
        let chain_config = config.chains.get(chain.key.as_str());
        let node_url = match chain.family {
            ChainFamily::Evm => chain_config.and_then(|c| c.rpc_urls.first()),
            ChainFamily::Tron => chain_config.and_then(|c| c.api_urls.first()),
            ChainFamily::Solana => chain_config.and_then(|c| c.rpc_urls.first()),
        };
        let node_url =
            node_url.with_context(|| format!("chain {} has no node to send to", chain.key))?;
        Ok(Payment {
            family: chain.family,
            node_url: node_url.clone(),
            contract: token.contract,
            decimals: token.decimals,
            amount: amount_to_send(order, token.decimals, amount)?,
        })
    }
}

/// `--amount` in base units, or what is still due.
fn amount_to_send(
    order: &Order,
    decimals: u8,
    amount: Option<&str>,
) -> anyhow::Result<TokenAmount> {
    let Some(text) = amount else {
        let due = order.paying_amount.saturating_sub(order.paid_amount);
        if due.is_zero() {
            bail!(
                "order {} has nothing left to pay; pass --amount to send more anyway",
                order.order_no
            );
        }
        return Ok(due);
    };
    let whole_tokens =
        Decimal::parse(text).map_err(|e| anyhow::anyhow!("--amount '{text}': {e}"))?;
    let amount = TokenAmount::from_decimal(&whole_tokens, decimals)
        .with_context(|| format!("--amount '{text}': at most {decimals} decimal places"))?;
    if amount.is_zero() {
        bail!("--amount must be greater than 0");
    }
    Ok(amount)
}

/// The devnet account that funds hot wallets (the last of anvil's ten: tests pay from the
/// first ones, and the first deploys the tokens).
pub const FUNDER_KEY_INDEX: usize = 9;

/// Funds the hot wallet of the gateway the devnet's config describes (its keys, its database).
async fn fund_configured_hot_wallet(devnet: &Devnet) -> anyhow::Result<()> {
    let config = load_config(Some(&devnet.config_file))?;
    let keys = crate::keys::resolve(&config)?;
    let store = open_store(&config).await?;
    let clock = std::sync::Arc::new(wcheckout_app::clock::SystemClock);
    let gateway = crate::serve::build_gateway(&config, &keys, store.clone(), clock)?;
    let funded = devnet.fund_hot_wallets(&gateway).await;
    store.close().await;
    funded
}

/// Gives a devnet gateway's hot wallet gas money when it has less than one coin, and records it
/// in the ledger as operator funding (what an operator does by hand on a real chain).
pub async fn fund_hot_wallet(
    gateway: &wcheckout_app::Gateway,
    chain: &wcheckout_domain::token::Chain,
    rpc_url: &str,
) -> anyhow::Result<()> {
    const ONE_COIN: u128 = 1_000_000_000_000_000_000;
    let hot_wallet = anvil_account(&gateway.hot_wallet(chain)?);
    let held = stablecoin::native_balance(rpc_url, hot_wallet).await?;
    if held >= ONE_COIN {
        return Ok(());
    }
    let amount = 10 * ONE_COIN;
    let key = wcheckout_evm::anvil::DEV_PRIVATE_KEYS[FUNDER_KEY_INDEX];
    let tx_hash = stablecoin::send_native(rpc_url, key, hot_wallet, amount).await?;
    let asset = wcheckout_domain::ledger::Asset::Native(chain.key.clone());
    gateway
        .record_funding(chain, asset, TokenAmount::from_base_units(amount), &tx_hash)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devnet() -> Devnet {
        Devnet {
            rpc_url: "http://127.0.0.1:8545".into(),
            ws_url: "ws://127.0.0.1:8545".into(),
            chain_id: 31337,
            tokens: TOKENS
                .iter()
                .map(|t| (t, EvmAddress::parse(t.sandbox_address).unwrap()))
                .collect(),
            deployed: TOKENS.iter().map(|t| t.id).collect(),
            config_file: PathBuf::from("/tmp/devnet \"x\"/wcheckout.toml"),
            tron: None,
            solana: None,
        }
    }

    #[test]
    fn the_written_config_is_a_valid_gateway_config() {
        let dir = std::env::temp_dir().join(format!("wcheckout-devnet-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(CONFIG_FILE_NAME);
        std::fs::write(
            &file,
            gateway_config(&devnet(), Path::new("/tmp/dev \"q\"")),
        )
        .unwrap();
        let loaded = crate::config::load(Some(&file));
        let _ = std::fs::remove_dir_all(&dir);
        let config = loaded.unwrap();
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(config.server.data_dir, Path::new("/tmp/dev \"q\"/gateway"));
        let chain = &config.chains["ETH"];
        assert_eq!(chain.rpc_urls, ["http://127.0.0.1:8545"]);
        assert_eq!(chain.ws_url.as_deref(), Some("ws://127.0.0.1:8545"));
        assert_eq!(chain.confirmations, Some(1));
        assert_eq!(config.tokens["ETH_USDT"].contract, DEVNET_USDT);
        assert_eq!(config.tokens["ETH_USDC"].contract, DEVNET_USDC);
        assert_eq!(config.tokens["ETH_USDC"].decimals, 6);
        assert_eq!(config.tokens["ETH_WUSD"].contract, DEVNET_WUSD);
        assert_eq!(config.tokens["ETH_WUSD"].decimals, 18);
        let registry = config.token_registry().unwrap();
        assert_eq!(registry.tokens().count(), 3);
    }

    #[test]
    fn the_devnet_tokens_are_the_sandbox_defaults() {
        let defaults = crate::config::DEVNET_TOKENS;
        assert_eq!(TOKENS.len(), defaults.len());
        for (token, (id, address, decimals)) in TOKENS.iter().zip(defaults) {
            assert_eq!(
                (token.id, token.sandbox_address, token.decimals),
                (id, address, decimals)
            );
        }
    }

    #[test]
    fn the_ready_line_has_the_documented_fields() {
        let line = ready_json(&devnet());
        let mut keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "chainId",
                "configFile",
                "payerPrivateKeys",
                "rpcUrl",
                "tokens"
            ]
        );
        assert_eq!(line["tokens"]["ETH_USDT"], DEVNET_USDT);
        assert_eq!(line["tokens"]["ETH_WUSD"], DEVNET_WUSD);
        assert_eq!(line["payerPrivateKeys"].as_array().unwrap().len(), 5);
        assert_eq!(line["payerPrivateKeys"][0], DEV_PRIVATE_KEYS[1]);
        let state = state_json(&devnet());
        assert_eq!(state["payerAddresses"][4], DEV_ACCOUNTS[5]);
        assert_eq!(state["wsUrl"], "ws://127.0.0.1:8545");
    }

    #[test]
    fn block_times_are_positive_seconds() {
        assert_eq!(parse_block_time("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_block_time("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_block_time("0").is_err());
        assert!(parse_block_time("-1").is_err());
        assert!(parse_block_time("NaN").is_err());
        assert!(parse_block_time("soon").is_err());
    }
}
