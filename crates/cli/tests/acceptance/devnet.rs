//! `wcheckout devnet` as a real process: it starts anvil (installed by `npm ci`), deploys the
//! sandbox stablecoins, writes a gateway config that `check-config` accepts, pays orders from
//! the gateway's database with `devnet pay`, and stops anvil on SIGTERM.
//!
//! Every wait is bounded; a devnet left running by a failing test is killed with its anvil.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::chain::rpc;
use crate::common::process::{Cli, send_signal, spawn_logged, terminate, wait_bounded};
use serde_json::{Value, json};
use wcheckout::config::{DEVNET_USDC, DEVNET_USDT, DEVNET_WUSD};
use wcheckout_app::admin::AppAdmin;
use wcheckout_app::clock::SystemClock;
use wcheckout_domain::address::{Address, EvmAddress};
use wcheckout_domain::ids::{AppId, IntegratorNo};
use wcheckout_domain::order::Order;
use wcheckout_domain::ports::{AppStore, OrderStore};
use wcheckout_evm::stablecoin;
use wcheckout_testkit::TempDir;

/// Longest the devnet may take to print its ready line (deploys and mints included).
const DEVNET_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest the devnet may take to stop, its anvil with it.
const DEVNET_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// anvil's dev account 1, the default payer.
const PAYER_1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/// A running `wcheckout devnet --json`; stopped (and its anvil with it) when dropped.
struct Devnet {
    child: Child,
    ready: Value,
    stderr_path: PathBuf,
}

impl Devnet {
    fn start(work: &Path, data_dir: &Path) -> Devnet {
        let stderr_path = work.join("devnet-stderr.log");
        let dir = data_dir.to_str().unwrap();
        let devnet = Cli::new(work).command(&["devnet", "--json", "--port", "0", "--dir", dir]);
        let (child, lines) = spawn_logged(devnet, &stderr_path);
        let first = lines.recv_timeout(DEVNET_READY_TIMEOUT);
        let mut devnet = Devnet {
            child,
            ready: Value::Null,
            stderr_path,
        };
        let line =
            first.unwrap_or_else(|e| panic!("no ready line ({e}); stderr:\n{}", devnet.stderr()));
        devnet.ready = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the ready line is not JSON ({e}): {line}"));
        assert!(lines.try_recv().is_err(), "more than one line on stdout");
        devnet
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    fn rpc_url(&self) -> String {
        self.ready["rpcUrl"].as_str().unwrap().to_owned()
    }

    fn config_file(&self) -> String {
        self.ready["configFile"].as_str().unwrap().to_owned()
    }

    /// SIGTERM, then a bounded wait for the exit.
    fn terminate(&mut self) -> ExitStatus {
        terminate(&mut self.child, DEVNET_STOP_TIMEOUT)
            .unwrap_or_else(|| panic!("devnet ignored SIGTERM; stderr:\n{}", self.stderr()))
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGTERM so that the devnet stops its anvil too.
            let _ = self.terminate();
        }
    }
}

fn answers(address: SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
}

fn socket_of(rpc_url: &str) -> SocketAddr {
    rpc_url.trim_start_matches("http://").parse().unwrap()
}

/// What `owner` holds of `token`, in base units.
async fn balance_of(url: &str, token: &str, owner: &Address) -> u128 {
    let token = EvmAddress::parse(token).unwrap();
    stablecoin::balance_of(url, token, stablecoin::anvil_account(owner))
        .await
        .unwrap()
        .base_units()
}

/// Creates an app and an order for `amount` USD in ETH_USDT in the devnet gateway's database,
/// as `wcheckout serve` would; returns the stored order.
async fn create_order(config_file: &str, order_no: &str, amount: &str) -> Order {
    create_order_in(config_file, order_no, amount, "ETH_USDT").await
}

/// [`create_order`] in `token`.
async fn create_order_in(config_file: &str, order_no: &str, amount: &str, token: &str) -> Order {
    let config = wcheckout::runtime::load_config(Some(Path::new(config_file))).unwrap();
    let keys = wcheckout::keys::resolve(&config).unwrap();
    let store = wcheckout::runtime::open_store(&config).await.unwrap();
    let clock = Arc::new(SystemClock);
    let gateway =
        wcheckout::serve::build_gateway(&config, &keys, store.clone(), clock.clone()).unwrap();
    let admin = AppAdmin::new(store.clone(), gateway.secrets.clone(), clock);
    let credentials = admin.create("Devnet shop", None, &[]).await.unwrap();
    let app = store
        .app(&AppId::new(credentials.app_id))
        .await
        .unwrap()
        .unwrap();
    let request = json!({
        "orderNo": order_no, "customerId": "c1", "orderAmount": amount, "token": token
    });
    gateway
        .create_order(&app, serde_json::from_value(request).unwrap(), None)
        .await
        .unwrap();
    let order = store
        .order_by_no(&app.id, &IntegratorNo::parse(order_no).unwrap())
        .await
        .unwrap()
        .unwrap();
    store.close().await;
    order
}

#[tokio::test]
async fn the_devnet_deploys_configures_and_stops_on_sigterm() {
    let work = TempDir::new();
    let data_dir = work.path.join("devnet data");
    let (cli, http) = (Cli::new(&work.path), reqwest::Client::new());
    let mut devnet = Devnet::start(&work.path, &data_dir);
    let ready = devnet.ready.clone();
    let rpc_url = devnet.rpc_url();
    assert!(rpc_url.starts_with("http://127.0.0.1:"), "{ready}");
    assert_eq!(ready["chainId"], 31337);
    assert_eq!(ready["tokens"]["ETH_USDT"], DEVNET_USDT);
    assert_eq!(ready["tokens"]["ETH_USDC"], DEVNET_USDC);
    assert_eq!(ready["tokens"]["ETH_WUSD"], DEVNET_WUSD);
    assert_eq!(ready["payerPrivateKeys"].as_array().unwrap().len(), 5);

    assert_eq!(
        rpc(&http, &rpc_url, "eth_chainId", json!([])).await,
        "0x7a69"
    );
    for token in [DEVNET_USDT, DEVNET_USDC, DEVNET_WUSD] {
        let code = rpc(&http, &rpc_url, "eth_getCode", json!([token, "latest"])).await;
        assert!(
            code.as_str().unwrap().len() > 100,
            "no code at {token}: {code}"
        );
    }
    let payer = EvmAddress::parse(PAYER_1).unwrap();
    assert_eq!(
        balance_of(&rpc_url, DEVNET_USDC, &payer.into()).await,
        1_000_000_000_000
    );
    assert_eq!(
        balance_of(&rpc_url, DEVNET_WUSD, &payer.into()).await,
        1_000_000 * 10u128.pow(18),
        "WUSD has 18 decimals"
    );
    let decimals = rpc(
        &http,
        &rpc_url,
        "eth_call",
        json!([{"to": DEVNET_WUSD, "data": "0x313ce567"}, "latest"]),
    )
    .await;
    assert_eq!(
        u128::from_str_radix(decimals.as_str().unwrap().trim_start_matches("0x"), 16).unwrap(),
        18
    );

    let config_file = devnet.config_file();
    assert!(Path::new(&config_file).starts_with(data_dir.canonicalize().unwrap()));
    let checked = cli.run_ok(&["check-config", "--config", &config_file]);
    assert!(
        checked.stdout.contains("configuration is valid"),
        "{}",
        checked.stdout
    );
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("devnet.json")).unwrap())
            .unwrap();
    assert_eq!(state["rpcUrl"], ready["rpcUrl"]);

    let socket = socket_of(&rpc_url);
    assert!(answers(socket));
    let status = devnet.terminate();
    assert!(
        status.success(),
        "devnet exit: {status}\n{}",
        devnet.stderr()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while answers(socket) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !answers(socket),
        "anvil still answers on {socket} after SIGTERM"
    );

    let again = Devnet::start(&work.path, &data_dir);
    assert_eq!(again.ready["tokens"], ready["tokens"]);
    let restored = balance_of(&again.rpc_url(), DEVNET_USDC, &payer.into()).await;
    assert_eq!(restored, 1_000_000_000_000, "the payers are funded once");
}

#[tokio::test]
async fn devnet_pay_sends_what_is_due_to_the_deposit_address() {
    let work = TempDir::new();
    let data_dir = work.path.join("devnet-data");
    let (cli, http) = (Cli::new(&work.path), reqwest::Client::new());
    let devnet = Devnet::start(&work.path, &data_dir);
    let rpc_url = devnet.rpc_url();
    let order = create_order(&devnet.config_file(), "devnet-pay-1", "12.34").await;
    let deposit = order.deposit_address;
    assert_eq!(order.paying_amount.base_units(), 12_340_000);

    let paid = cli.run_ok(&["devnet", "pay", "devnet-pay-1"]);
    let hash = paid.stdout.trim();
    assert!(
        hash.starts_with("0x") && hash.len() == 66,
        "{}",
        paid.stdout
    );
    assert!(
        paid.stderr.contains("sent 12.34 ETH_USDT from payer 1"),
        "{}",
        paid.stderr
    );
    assert_eq!(
        balance_of(&rpc_url, DEVNET_USDT, &deposit).await,
        12_340_000
    );
    let receipt = rpc(&http, &rpc_url, "eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(receipt["status"], "0x1", "{receipt}");

    let extra = [
        "devnet",
        "pay",
        "devnet-pay-1",
        "--amount",
        "0.5",
        "--payer",
        "2",
    ];
    cli.run_ok(&extra);
    assert_eq!(
        balance_of(&rpc_url, DEVNET_USDT, &deposit).await,
        12_840_000
    );

    let config_file = devnet.config_file();
    let explicit = [
        "devnet",
        "pay",
        "devnet-pay-1",
        "--config",
        &config_file,
        "--amount",
        "1",
    ];
    Cli::new(Path::new("/")).run_ok(&explicit);
    assert_eq!(
        balance_of(&rpc_url, DEVNET_USDT, &deposit).await,
        13_840_000
    );

    // ETH_WUSD, 18 decimals: what is due, then a fraction finer than USDT's 6 places.
    let order = create_order_in(&devnet.config_file(), "devnet-wusd", "12.34", "ETH_WUSD").await;
    let deposit = order.deposit_address;
    assert_eq!(order.paying_amount.base_units(), 12_340_000_000_000_000_000);
    let paid = cli.run_ok(&["devnet", "pay", "devnet-wusd"]);
    assert!(
        paid.stderr.contains("sent 12.34 ETH_WUSD from payer 1"),
        "{}",
        paid.stderr
    );
    let extra = [
        "devnet",
        "pay",
        "devnet-wusd",
        "--amount",
        "0.000000000000000001",
    ];
    cli.run_ok(&extra);
    assert_eq!(
        balance_of(&rpc_url, DEVNET_WUSD, &deposit).await,
        12_340_000_000_000_000_001
    );
}

/// The devnet's TRON chain: offered beside ETH, `devnet pay` sends a TRC-20 transfer through
/// the stand-in's HTTP API, and a gateway on the devnet's config credits it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_devnet_offers_tron_and_pays_a_tron_order() {
    let tools = wcheckout_evm::anvil::find_binary().is_ok();
    if !wcheckout_testkit::node_tools::tools_available("the TRON devnet test", &["tronweb"], tools)
    {
        return;
    }
    let work = TempDir::new();
    let data_dir = work.path.join("devnet-data");
    let cli = Cli::new(&work.path);
    let devnet = Devnet::start(&work.path, &data_dir);
    let tron = devnet.ready["tron"].clone();
    let usdt = tron["tokens"]["TRX_USDT"].as_str().unwrap().to_owned();
    assert!(usdt.starts_with('T') && usdt.len() == 34, "{tron}");
    let jsonrpc = tron["jsonRpcUrl"].as_str().unwrap().to_owned();

    // A gateway on the devnet's config, watching TRX from now on, sees the payment.
    let mut config =
        wcheckout::runtime::load_config(Some(Path::new(&devnet.config_file()))).unwrap();
    config.server.listen = "127.0.0.1:0".into();
    let application = wcheckout::application::Application::build(&config, Arc::new(SystemClock))
        .await
        .unwrap();
    let running = application.start(None).unwrap();
    let order = create_order_in(&devnet.config_file(), "tron-pay", "12.34", "TRX_USDT").await;
    let deposit = order.deposit_address;
    assert!(deposit.to_string().starts_with('T'), "{deposit}");
    let paid = cli.run_ok(&["devnet", "pay", "tron-pay"]);
    let txid = paid.stdout.trim();
    assert!(
        txid.len() == 64 && txid.bytes().all(|b| b.is_ascii_hexdigit()),
        "a TRON txID: {}",
        paid.stdout
    );
    assert!(
        paid.stderr.contains("sent 12.34 TRX_USDT from payer 1"),
        "{}",
        paid.stderr
    );
    let token = Address::parse_any(&usdt).unwrap();
    let held = stablecoin::balance_of(
        &jsonrpc,
        stablecoin::anvil_account(&token),
        stablecoin::anvil_account(&deposit),
    )
    .await
    .unwrap();
    assert_eq!(held.base_units(), 12_340_000);

    let number = IntegratorNo::parse("tron-pay").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let credited = loop {
        let order = running
            .store
            .order_by_no(&order.app_id, &number)
            .await
            .unwrap();
        let order = order.unwrap();
        if order.status == wcheckout_domain::order::OrderStatus::Paid || Instant::now() > deadline {
            break order;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    running.stop().await.unwrap();
    assert_eq!(credited.status, wcheckout_domain::order::OrderStatus::Paid);
    assert_eq!(credited.tx_hash.as_deref(), Some(txid));
}

/// The devnet's Solana cluster: `SOL_USDT` at a fixed mint, `devnet pay` pays a Solana order
/// with a signed `transferChecked`, a gateway on the devnet's config credits it, and the hot
/// wallet got SOL for its fees.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_devnet_offers_solana_and_pays_a_solana_order() {
    let tools = wcheckout_evm::anvil::find_binary().is_ok();
    let surfnet = wcheckout_solana::surfnet::PACKAGE;
    if !wcheckout_testkit::node_tools::tools_available("the Solana devnet test", &[surfnet], tools)
    {
        return;
    }
    let work = TempDir::new();
    let data_dir = work.path.join("devnet-data");
    let cli = Cli::new(&work.path);
    let devnet = Devnet::start(&work.path, &data_dir);
    let solana = devnet.ready["solana"].clone();
    let usdt = solana["tokens"]["SOL_USDT"].as_str().unwrap().to_owned();
    assert!(
        Address::parse(wcheckout_domain::address::ChainFamily::Solana, &usdt).is_ok(),
        "{solana}"
    );

    let mut config =
        wcheckout::runtime::load_config(Some(Path::new(&devnet.config_file()))).unwrap();
    config.server.listen = "127.0.0.1:0".into();
    let application = wcheckout::application::Application::build(&config, Arc::new(SystemClock))
        .await
        .unwrap();
    let running = application.start(None).unwrap();
    let order = create_order_in(&devnet.config_file(), "sol-pay", "7.25", "SOL_USDT").await;
    let paid = cli.run_ok(&["devnet", "pay", "sol-pay"]);
    let signature = paid.stdout.trim().to_owned();
    assert!(
        (64..=88).contains(&signature.len()),
        "a Solana signature: {}",
        paid.stdout
    );
    assert!(
        paid.stderr.contains("sent 7.25 SOL_USDT from payer 1"),
        "{}",
        paid.stderr
    );
    let number = IntegratorNo::parse("sol-pay").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let credited = loop {
        let order = running.store.order_by_no(&order.app_id, &number).await;
        let order = order.unwrap().unwrap();
        if order.status == wcheckout_domain::order::OrderStatus::Paid || Instant::now() > deadline {
            break order;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    running.stop().await.unwrap();
    assert_eq!(credited.status, wcheckout_domain::order::OrderStatus::Paid);
    assert_eq!(credited.tx_hash.as_deref(), Some(signature.as_str()));
}

#[tokio::test]
async fn devnet_pay_explains_missing_duplicate_and_bad_requests() {
    let work = TempDir::new();
    let data_dir = work.path.join("devnet-data");
    let cli = Cli::new(&work.path);
    let no_devnet = cli.run(&["devnet", "pay", "x1"]);
    assert!(!no_devnet.status.success());
    assert!(
        no_devnet.stderr.contains("start `wcheckout devnet` first"),
        "{}",
        no_devnet.stderr
    );

    let devnet = Devnet::start(&work.path, &data_dir);
    let rpc_url = devnet.rpc_url();
    let missing = cli.run(&["devnet", "pay", "nobody-has-this"]);
    assert!(!missing.status.success());
    assert!(
        missing.stderr.contains("no order numbered nobody-has-this"),
        "{}",
        missing.stderr
    );

    let older = create_order(&devnet.config_file(), "shared-no", "1").await;
    let newer = create_order(&devnet.config_file(), "shared-no", "2").await;
    assert_ne!(older.deposit_address, newer.deposit_address);
    let paid = cli.run_ok(&["devnet", "pay", "shared-no"]);
    assert!(
        paid.stderr
            .contains("2 apps have an order numbered shared-no"),
        "{}",
        paid.stderr
    );
    assert_eq!(
        balance_of(&rpc_url, DEVNET_USDT, &newer.deposit_address).await,
        2_000_000
    );
    assert_eq!(
        balance_of(&rpc_url, DEVNET_USDT, &older.deposit_address).await,
        0
    );

    let too_fine = cli.run(&["devnet", "pay", "shared-no", "--amount", "0.0000001"]);
    assert!(!too_fine.status.success());
    assert!(
        too_fine.stderr.contains("at most 6 decimal places"),
        "{}",
        too_fine.stderr
    );
    let too_much = cli.run(&["devnet", "pay", "shared-no", "--amount", "2000000"]);
    assert!(!too_much.status.success());
    assert!(too_much.stderr.contains("reverted"), "{}", too_much.stderr);
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let work = TempDir::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let dir = work.path.join("d");
    let args = ["devnet", "--port", &port, "--dir", dir.to_str().unwrap()];
    let ran = Cli::new(&work.path).run(&args);
    assert!(!ran.status.success());
    assert!(
        ran.stderr
            .contains(&format!("port {port} is already in use")),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("--port 0"), "{}", ran.stderr);
}

/// `wcheckout sandbox` stopped by Ctrl-C, which a terminal sends to its whole process group:
/// each key warning is said once, the gateway stops before the chain (so no client of the
/// chain logs an error), and no node is left running.
#[test]
fn the_sandbox_warns_once_and_stops_cleanly_on_ctrl_c() {
    use std::os::unix::process::CommandExt;
    let work = TempDir::new();
    let dir = work.path.join("sandbox");
    let chain_port = wcheckout_testkit::free_port().to_string();
    let listen = format!("127.0.0.1:{}", wcheckout_testkit::free_port());
    let stderr_path = work.path.join("sandbox-stderr.log");
    let args = [
        "sandbox",
        "--dir",
        dir.to_str().unwrap(),
        "--chain-port",
        &chain_port,
        "--listen",
        &listen,
    ];
    let mut sandbox = Cli::new(&work.path).command(&args);
    sandbox.process_group(0);
    let (mut child, lines) = spawn_logged(sandbox, &stderr_path);
    let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let deadline = Instant::now() + DEVNET_READY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("wcheckout sandbox is up") => break,
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the sandbox never came up ({e}):\n{}", stderr());
            }
        }
    }
    let chain: SocketAddr = format!("127.0.0.1:{chain_port}").parse().unwrap();
    assert!(answers(chain), "the sandbox chain does not answer");

    let group = format!("-{}", child.id());
    send_signal("INT", &group);
    let status = wait_bounded(&mut child, DEVNET_STOP_TIMEOUT)
        .unwrap_or_else(|| panic!("the sandbox ignored Ctrl-C:\n{}", stderr()));
    let log = stderr();
    assert!(status.success(), "{status}:\n{log}");
    for warning in ["generated a new seed", "generated a new master key"] {
        assert_eq!(log.matches(warning).count(), 1, "{warning}:\n{log}");
    }
    assert!(
        !log.contains("ERROR"),
        "a clean stop logged an error:\n{log}"
    );
    assert!(
        !answers(chain),
        "the chain still runs after the sandbox stopped"
    );
}
