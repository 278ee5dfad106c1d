//! Operator tools for money going out: `wcheckout ledger …`, `wcheckout reconcile`,
//! `wcheckout settlement …`, `wcheckout payout list` and `wcheckout hot-wallet`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;
use wcheckout_app::Gateway;
use wcheckout_app::clock::SystemClock;
use wcheckout_domain::ledger::{Asset, Totals};
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::settlement::{Destination, Settlement};
use wcheckout_domain::token::{ChainKey, TokenId};

use crate::keys;
use crate::payout_workers::{ChainAccess, chain_access};
use crate::runtime::{load_config, open_store};
use crate::serve::build_gateway;

#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Every account's debits, credits and balance, and the ledger's self-check.
    Balance {
        /// Only accounts whose name starts with this (`merchant:APP:`, `custody:ETH:` …).
        #[arg(long, default_value = "")]
        prefix: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record money the operator sent to the hot wallet (gas, or tokens for payouts).
    RecordFunding {
        /// The chain.
        #[arg(long)]
        chain: String,
        /// A token id; absent means the chain's native coin.
        #[arg(long)]
        token: Option<String>,
        /// Amount in whole units (ETH, USDT …).
        #[arg(long)]
        amount: String,
        /// The funding transaction's hash (kept as the entry's reference).
        #[arg(long)]
        tx_hash: String,
    },
}

#[derive(Subcommand)]
pub enum SettlementCommand {
    /// Settlements waiting for the operator: approvals and fiat wires.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a settlement (on chain: it is sent; fiat: it moves to SETTLING).
    Approve {
        /// The settlement's sysid (`ST…`).
        sysid: String,
    },
    /// Reject a settlement not paid yet; its funds return to the merchant.
    Reject {
        /// The settlement's sysid.
        sysid: String,
        /// Why (shown to the integrator as failureReason).
        #[arg(long)]
        reason: String,
    },
    /// Mark an approved fiat settlement's wire as sent.
    MarkPaid {
        /// The settlement's sysid.
        sysid: String,
        /// The bank's reference of the wire.
        #[arg(long)]
        bank_reference: String,
    },
}

#[derive(Subcommand)]
pub enum PayoutCommand {
    /// Payouts not final yet, per chain, with what they wait for.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hold new payouts: nothing queued is signed until `release` (what is signed already is
    /// still followed to the end).
    Hold,
    /// Release the hold (after a restore: once `reconcile` and `payout list` show that nothing
    /// queued was paid after the backup).
    Release,
}

struct Tools {
    gateway: Arc<Gateway>,
    chains: Vec<ChainAccess>,
}

async fn open(
    config_file: Option<PathBuf>,
) -> anyhow::Result<(Tools, Arc<wcheckout_store::SqlStore>)> {
    let config = load_config(config_file.as_deref())?;
    let keys = keys::resolve(&config)?;
    let store = open_store(&config).await?;
    let gateway = Arc::new(build_gateway(
        &config,
        &keys,
        store.clone(),
        Arc::new(SystemClock),
    )?);
    let chains = chain_access(&config, &gateway.tokens)?;
    Ok((Tools { gateway, chains }, store))
}

/// Runs `wcheckout ledger …`.
pub async fn ledger(config: Option<PathBuf>, command: LedgerCommand) -> anyhow::Result<()> {
    let (context, store) = open(config).await?;
    let result = match command {
        LedgerCommand::Balance { prefix, json } => balance(&context, &prefix, json).await,
        LedgerCommand::RecordFunding {
            chain,
            token,
            amount,
            tx_hash,
        } => record_funding(&context, &chain, token.as_deref(), &amount, &tx_hash).await,
    };
    store.close().await;
    result
}

fn decimals_of(context: &Tools, account: &str) -> Option<u8> {
    let asset = account.rsplit(':').find(|part| part.contains('_'))?;
    if let Some(chain) = asset.strip_suffix("_NATIVE") {
        let chain = ChainKey::parse(chain)?;
        return context
            .gateway
            .tokens
            .chain(&chain)
            .map(|chain| chain.family.native_decimals());
    }
    let id = TokenId::parse(asset)?;
    context
        .gateway
        .tokens
        .get(&id)
        .map(|(token, _)| token.decimals)
}

fn shown(balance: i128, decimals: Option<u8>) -> String {
    let Some(decimals) = decimals else {
        return balance.to_string();
    };
    let amount = TokenAmount::from_base_units(balance.unsigned_abs())
        .to_decimal(decimals)
        .normalized();
    if balance < 0 {
        format!("-{amount}")
    } else {
        amount.to_string()
    }
}

async fn balance(context: &Tools, prefix: &str, json: bool) -> anyhow::Result<()> {
    let accounts = context.gateway.store.ledger_accounts(prefix, false).await?;
    let check = context.gateway.ledger_check().await?;
    let balanced = check.mismatched_accounts.is_empty()
        && check.account_debits == check.account_credits
        && check.total == check.account_debits;
    let rows: Vec<_> = accounts
        .iter()
        .map(|(account, totals)| {
            let balance = account_balance(account, totals);
            (
                account,
                totals,
                balance,
                shown(balance, decimals_of(context, account)),
            )
        })
        .collect();
    if json {
        let accounts: Vec<_> = rows.iter().map(|(account, totals, balance, shown)| json!({"account": account, "debits": totals.debits.to_string(), "credits": totals.credits.to_string(), "balance": balance.to_string(), "amount": shown})).collect();
        let check = json!({"entries": check.entries, "debits": check.account_debits.to_string(), "credits": check.account_credits.to_string(), "mismatchedAccounts": check.mismatched_accounts, "balanced": balanced});
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"accounts": accounts, "check": check}))?
        );
    } else {
        for (account, _, _, shown) in &rows {
            println!("{account:<100} {shown:>28}");
        }
        println!(
            "entries: {}, debits = credits: {}, accounts matching their entries: {}",
            check.entries,
            check.account_debits == check.account_credits,
            check.mismatched_accounts.is_empty()
        );
    }
    if !balanced {
        bail!(
            "the ledger does not balance: {:?}",
            check.mismatched_accounts
        );
    }
    Ok(())
}

fn account_balance(account: &str, totals: &Totals) -> i128 {
    let debit_normal = account.starts_with("custody:") || account.starts_with("fees:");
    totals.balance(debit_normal)
}

fn chain_of<'a>(context: &'a Tools, key: &str) -> anyhow::Result<&'a ChainAccess> {
    let key = ChainKey::parse(key).with_context(|| format!("'{key}' is not a chain key"))?;
    context
        .chains
        .iter()
        .find(|c| c.chain.key == key)
        .with_context(|| format!("chain {key} is not configured"))
}

async fn record_funding(
    context: &Tools,
    chain: &str,
    token: Option<&str>,
    amount: &str,
    tx_hash: &str,
) -> anyhow::Result<()> {
    let access = chain_of(context, chain)?;
    let (asset, decimals) = match token {
        None => (
            Asset::Native(access.chain.key.clone()),
            access.chain.family.native_decimals(),
        ),
        Some(id) => {
            let (token, _) = TokenId::parse(id)
                .and_then(|id| context.gateway.tokens.get(&id))
                .with_context(|| format!("'{id}' is not a configured token"))?;
            (Asset::Token(token.id.clone()), token.decimals)
        }
    };
    let value = Decimal::parse(amount).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
    let amount = TokenAmount::from_decimal(&value, decimals)
        .filter(|a| !a.is_zero())
        .with_context(|| format!("--amount: must be above 0 with at most {decimals} decimals"))?;
    context
        .gateway
        .record_funding(&access.chain, asset, amount, tx_hash.trim())
        .await?;
    println!("recorded");
    Ok(())
}

/// Runs `wcheckout reconcile`: fails when any balance differs.
pub async fn reconcile(config: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let (context, store) = open(config).await?;
    let result = reconcile_all(&context, json).await;
    store.close().await;
    result
}

async fn reconcile_all(context: &Tools, json: bool) -> anyhow::Result<()> {
    let mut differences = 0;
    let mut report = Vec::new();
    for access in &context.chains {
        let found = context
            .gateway
            .reconcile_chain(&access.chain, access.writer.as_ref())
            .await?;
        differences += found.differences.len();
        if !json {
            println!(
                "{}: {} balances checked, {} different, {} payouts in flight",
                access.chain.key,
                found.checked,
                found.differences.len(),
                found.in_flight
            );
            for a in &found.assets {
                let decimals = Some(context.gateway.asset_decimals(&a.asset));
                println!(
                    "  {}: ledger {} chain {} ({} addresses, {} different)",
                    a.asset,
                    shown(a.ledger, decimals),
                    shown(i128::try_from(a.on_chain).unwrap_or(i128::MAX), decimals),
                    a.accounts,
                    a.differing
                );
            }
            for d in &found.differences {
                println!("  {}: ledger {} chain {}", d.account, d.ledger, d.chain);
            }
        }
        let rows: Vec<_> = found.differences.iter().map(|d| json!({"account": d.account, "ledger": d.ledger.to_string(), "chain": d.chain.to_string()})).collect();
        let assets: Vec<_> = found.assets.iter().map(|a| json!({"asset": a.asset.to_string(), "ledger": a.ledger.to_string(), "chain": a.on_chain.to_string(), "addresses": a.accounts, "different": a.differing})).collect();
        report.push(json!({"chain": access.chain.key.to_string(), "checked": found.checked, "assets": assets, "differences": rows, "inFlight": found.in_flight}));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"chains": report, "differences": differences}))?
        );
    }
    if differences > 0 {
        bail!("{differences} balances differ between the ledger and the chain");
    }
    Ok(())
}

/// Runs `wcheckout settlement …`.
pub async fn settlement(config: Option<PathBuf>, command: SettlementCommand) -> anyhow::Result<()> {
    let (context, store) = open(config).await?;
    let gateway = &context.gateway;
    let fail = |e: wcheckout_app::ServiceError| anyhow::anyhow!(e.to_string());
    let result = match command {
        SettlementCommand::List { json } => gateway
            .settlements_for_operator(500)
            .await
            .map_err(fail)
            .and_then(|found| print_settlements(&found, json)),
        SettlementCommand::Approve { sysid } => gateway
            .approve_settlement(&sysid)
            .await
            .map_err(fail)
            .map(|s| print_one(&s)),
        SettlementCommand::Reject { sysid, reason } => gateway
            .reject_settlement(&sysid, &reason)
            .await
            .map_err(fail)
            .map(|s| print_one(&s)),
        SettlementCommand::MarkPaid {
            sysid,
            bank_reference,
        } => gateway
            .mark_settlement_paid(&sysid, &bank_reference)
            .await
            .map_err(fail)
            .map(|s| print_one(&s)),
    };
    store.close().await;
    result
}

fn settlement_json(settlement: &Settlement) -> serde_json::Value {
    let destination = match &settlement.destination {
        Destination::OnChain(address) => json!({"address": address.to_string()}),
        Destination::Bank { fiat, account } => {
            json!({"fiat": fiat, "bankAccount": serde_json::from_str::<serde_json::Value>(account).unwrap_or_default()})
        }
    };
    json!({
        "sysid": settlement.sysid,
        "app": settlement.app_id.to_string(),
        "settlementOrderNo": settlement.settlement_order_no.to_string(),
        "merchantId": settlement.merchant_id,
        "token": settlement.token.to_string(),
        "amountBaseUnits": settlement.amount.base_units().to_string(),
        "status": settlement.status.as_str(),
        "approved": settlement.approved,
        "destination": destination,
        "createdAt": settlement.created_at.to_iso_micros(),
    })
}

fn print_settlements(found: &[Settlement], json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<_> = found.iter().map(settlement_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if found.is_empty() {
        println!("no settlement waits for the operator");
    }
    for settlement in found {
        let what = if settlement.is_fiat() {
            "fiat wire"
        } else {
            "on-chain approval"
        };
        println!(
            "{}  {}  {}  {} base units of {}  app {} merchant {}",
            settlement.sysid,
            settlement.status,
            what,
            settlement.amount.base_units(),
            settlement.token,
            settlement.app_id,
            settlement.merchant_id
        );
    }
    Ok(())
}

fn print_one(settlement: &Settlement) {
    println!("{} is {}", settlement.sysid, settlement.status);
}

/// Runs `wcheckout payout list`.
pub async fn payout(config: Option<PathBuf>, command: PayoutCommand) -> anyhow::Result<()> {
    let (context, store) = open(config).await?;
    let result = match command {
        PayoutCommand::List { json } => list_payouts(&context, json).await,
        PayoutCommand::Hold => hold_payouts(&context, true).await,
        PayoutCommand::Release => hold_payouts(&context, false).await,
    };
    store.close().await;
    result
}

async fn hold_payouts(context: &Tools, held: bool) -> anyhow::Result<()> {
    let was = context.gateway.store.set_payouts_held(held).await?;
    let message = match (was, held) {
        (false, true) => "payouts held: nothing queued is signed until `wcheckout payout release`",
        (true, true) => "payouts were held already",
        (true, false) => "payouts released: queued payouts are sent at the engines' next round",
        (false, false) => "payouts were not held",
    };
    println!("{message}");
    Ok(())
}

async fn list_payouts(context: &Tools, json: bool) -> anyhow::Result<()> {
    let held = context.gateway.store.payouts_held().await?;
    if held && !json {
        println!("payouts are HELD: nothing queued is signed until `wcheckout payout release`");
    }
    let mut rows = Vec::new();
    for access in &context.chains {
        for payout in context
            .gateway
            .store
            .open_payouts(&access.chain.key, 1000)
            .await?
        {
            rows.push(json!({
                "id": payout.id, "chain": payout.chain.to_string(), "kind": payout.kind.as_str(),
                "reference": payout.reference, "status": payout.status.as_str(),
                "from": payout.from.to_string(), "to": payout.to.to_string(),
                "asset": payout.asset.to_string(), "amountBaseUnits": payout.amount.base_units().to_string(),
                "nonce": payout.nonce, "txHash": payout.tx_hash, "note": payout.note,
            }));
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("no payout in flight");
    } else {
        for row in &rows {
            println!("{row}");
        }
    }
    Ok(())
}

/// Runs `wcheckout hot-wallet`: its address in each chain family, and its balances on every
/// chain.
pub async fn hot_wallet(config: Option<PathBuf>) -> anyhow::Result<()> {
    let (context, store) = open(config).await?;
    let mut families: Vec<_> = context.gateway.hot_wallets.iter().collect();
    families.sort_by_key(|(family, _)| family.as_str());
    for (family, address) in families {
        println!("hot wallet ({family}): {address}");
    }
    for access in &context.chains {
        let hot = context.gateway.hot_wallet(&access.chain)?;
        let native = access.writer.balance(&hot, None).await;
        let native = native.map_or_else(
            |e| format!("unavailable ({e})"),
            |units| {
                shown(
                    i128::try_from(units).unwrap_or(i128::MAX),
                    Some(access.chain.family.native_decimals()),
                )
            },
        );
        println!("  {}: {native} native", access.chain.key);
        for token in context.gateway.tokens.tokens_of(&access.chain.key) {
            let held = access.writer.balance(&hot, Some(&token.contract)).await;
            let held = held.map_or_else(
                |e| format!("unavailable ({e})"),
                |units| {
                    shown(
                        i128::try_from(units).unwrap_or(i128::MAX),
                        Some(token.decimals),
                    )
                },
            );
            println!("  {}: {held} {}", access.chain.key, token.id);
        }
    }
    store.close().await;
    Ok(())
}
