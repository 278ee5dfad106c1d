//! `wcheckout sandbox`: a first look in one command — a local chain with its stablecoins, the
//! gateway watching it, an app and an order waiting to be paid.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use wcheckout_app::Gateway;
use wcheckout_app::admin::{AppAdmin, IssuedCredentials};
use wcheckout_app::wire::{CreateCheckoutOrderRequest, JsonPrice, OrderView};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::money::Decimal;
use wcheckout_evm::anvil::DEFAULT_CHAIN_ID;

use crate::devnet::{Devnet, StartArgs, StopSignals, launch};
use crate::runtime::{init_logging, load_config};
use crate::serve;

/// `wcheckout sandbox`.
#[derive(Args)]
pub struct SandboxArgs {
    /// Directory for the chain state, the gateway's database and the demo app's credentials.
    #[arg(long, default_value = "./devnet-data")]
    dir: PathBuf,
    /// The chain's JSON-RPC port.
    #[arg(long, default_value_t = 8545)]
    chain_port: u16,
    /// Where the gateway listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
}

const CREDENTIALS_FILE: &str = "sandbox-app.json";

/// Runs the sandbox until SIGINT or SIGTERM.
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let mut stop = StopSignals::listen()?;
    let chain = StartArgs {
        json: false,
        port: args.chain_port,
        chain_id: DEFAULT_CHAIN_ID,
        block_time: None,
        dir: args.dir.clone(),
    };
    let Some((anvil, devnet)) = launch(&chain, &mut stop).await? else {
        return Ok(());
    };
    // The gateway stops first (its workers end, their chain readers with them), then the
    // chain: stopped the other way round, the WebSocket clients would see the node vanish.
    let result = serve_sandbox(&args, &devnet, &mut stop).await;
    tokio::time::sleep(CLIENTS_CLOSE).await;
    anvil.stop();
    devnet.stop_others().await;
    result
}

/// Time for the gateway's WebSocket connections, whose readers have ended, to close before the
/// node stops (the client library closes them in tasks of its own).
const CLIENTS_CLOSE: std::time::Duration = std::time::Duration::from_millis(250);

async fn serve_sandbox(
    args: &SandboxArgs,
    devnet: &Devnet,
    stop: &mut StopSignals,
) -> anyhow::Result<()> {
    let mut config = load_config(Some(&devnet.config_file))?;
    config.server.listen = args.listen.clone();
    config.server.public_url = format!("http://{}", args.listen);
    init_logging(&config);
    let running = serve::start(&config).await?;
    devnet.fund_hot_wallets(&running.gateway).await?;
    let credentials_file = args.dir.join(CREDENTIALS_FILE);
    let app = demo_app(&running.gateway, &credentials_file).await?;
    let order = demo_order(&running.gateway, &app).await?;
    print_summary(&config.server.public_url, devnet, &credentials_file, &order);
    stop.received().await;
    running.stop().await
}

/// The sandbox's app: the one saved by an earlier run, or a new one saved now.
async fn demo_app(gateway: &Gateway, file: &Path) -> anyhow::Result<IssuedCredentials> {
    if let Ok(text) = std::fs::read_to_string(file) {
        let saved: IssuedCredentials = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a credentials file", file.display()))?;
        if gateway
            .store
            .app_by_api_key(&saved.api_key)
            .await?
            .is_some()
        {
            return Ok(saved);
        }
    }
    let admin = AppAdmin::new(
        gateway.store.clone(),
        gateway.secrets.clone(),
        gateway.clock.clone(),
    );
    let credentials = admin
        .create("Sandbox shop", None, &[])
        .await
        .map_err(|e| anyhow::anyhow!(e.public_message()))?;
    crate::keys::write_secret_file(file, &serde_json::to_string_pretty(&credentials)?)?;
    Ok(credentials)
}

async fn demo_order(
    gateway: &Gateway,
    credentials: &IssuedCredentials,
) -> anyhow::Result<OrderView> {
    let app = gateway
        .store
        .app(&AppId::new(credentials.app_id.clone()))
        .await?;
    let app = app.context("the sandbox app disappeared")?;
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let request = CreateCheckoutOrderRequest {
        order_no: format!("demo-{seconds}"),
        customer_id: "sandbox-customer".into(),
        merchant_id: None,
        order_amount: JsonPrice {
            sent: Decimal::from_integer(25),
            from_number: true,
        },
        token: "ETH_USDT".into(),
        fiat: None,
        expired_in: Some(3600),
        pc_callback_url: None,
        app_callback_url: None,
    };
    gateway
        .create_order(&app, request, None)
        .await
        .map_err(|e| anyhow::anyhow!(e.public_message()))
}

fn print_summary(public_url: &str, devnet: &Devnet, credentials: &Path, order: &OrderView) {
    let order_no = &order.order_no;
    println!();
    println!("wcheckout sandbox is up.");
    println!("  gateway   {public_url}  (API; /health, /metrics, /openapi.json)");
    println!(
        "  chain     {}  chain id {}",
        devnet.rpc_url(),
        devnet.chain_id()
    );
    println!("  app       credentials in {}", credentials.display());
    println!(
        "  order     {order_no}: pay {} {} to {}",
        order.paying_amount.as_str(),
        order.token,
        order.deposit_address
    );
    println!("            payment page {}", order.payment_url);
    println!();
    println!("In another terminal:");
    println!("  cargo run -q -p wcheckout -- devnet pay {order_no}");
    println!(
        "  cargo run -q -p wcheckout -- call --credentials {} GET '/checkout/order/info?orderNo={order_no}'",
        credentials.display()
    );
    println!("Ctrl-C stops the chain and the gateway (their data stays in the directory).");
}
