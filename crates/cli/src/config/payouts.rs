//! Configuration of money going out: `[payouts]`, `[sweeps]`, `[settlements]` and
//! `[bank_accounts.ID]`.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wcheckout_app::gateway::RegisteredBankAccount;
use wcheckout_app::payouts::{PayoutSettings, SweepSettings};
use wcheckout_app::wire::BankAccount;
use wcheckout_domain::ids::AppId;
use wcheckout_domain::money::Decimal;

use crate::config::Config;

/// `[payouts]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayoutsConfig {
    /// Whether this process sends payouts (one process per chain does at a time, by lease).
    pub enabled: bool,
    /// Highest max fee per gas offered, in gwei (a decimal).
    pub max_fee_per_gas_gwei: String,
    /// A transaction not mined after this long is replaced with higher fees (same nonce).
    pub replace_after_secs: u64,
    /// Rounds run at least this often; new payouts wake the engine at once.
    pub poll_interval_ms: u64,
    /// A payout waiting for funds or gas is checked again after this long.
    pub funds_retry_secs: u64,
    /// How long a process's payout lease lasts without renewal.
    pub lease_ttl_secs: u64,
    /// Timeout of one node call made for payouts, before it is tried again.
    pub rpc_timeout_ms: u64,
    /// Passes over the chain's endpoints before a payout's node call fails for this round.
    pub rpc_attempts: u32,
    /// Node calls for payouts in flight at once.
    pub rpc_concurrency: usize,
    /// How often each chain's balances are reconciled with the ledger and the result kept for
    /// the console (0: only by `wcheckout reconcile`).
    pub reconcile_interval_secs: u64,
}

impl Default for PayoutsConfig {
    fn default() -> Self {
        PayoutsConfig {
            enabled: true,
            max_fee_per_gas_gwei: "500".into(),
            replace_after_secs: 180,
            poll_interval_ms: 2000,
            funds_retry_secs: 10,
            lease_ttl_secs: 30,
            rpc_timeout_ms: 3000,
            rpc_attempts: 3,
            rpc_concurrency: 16,
            reconcile_interval_secs: 3600,
        }
    }
}

/// `[sweeps]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepsConfig {
    /// Whether deposits are swept into the hot wallet.
    pub enabled: bool,
    /// How often deposit balances are checked.
    pub interval_secs: u64,
    /// Smallest balance swept on schedule, in whole tokens; payouts waiting for funds get any.
    pub min_amount: String,
}

impl Default for SweepsConfig {
    fn default() -> Self {
        SweepsConfig {
            enabled: true,
            interval_secs: 300,
            min_amount: "100".into(),
        }
    }
}

/// `[settlements]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettlementsConfig {
    /// On-chain settlements above this many tokens wait for `wcheckout settlement approve`
    /// (absent: none waits).
    pub approval_above: Option<String>,
}

/// `[bank_accounts.ID]`: a bank account an app may name by `bankAccountId`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BankAccountConfig {
    /// The app allowed to use it.
    pub app: String,
    /// Account holder.
    pub account_name: String,
    /// Account number or IBAN.
    pub account_number: String,
    /// Bank name.
    pub bank_name: String,
    /// SWIFT/BIC.
    pub swift_code: Option<String>,
    /// Routing number.
    pub routing_number: Option<String>,
    /// Bank country.
    pub country: Option<String>,
}

fn gwei_to_wei(text: &str) -> Option<u128> {
    Decimal::parse(text)
        .ok()?
        .to_base_units(9)
        .filter(|wei| *wei > 0)
}

impl Config {
    /// The payout engine's settings.
    pub fn payout_settings(&self) -> PayoutSettings {
        let payouts = &self.payouts;
        PayoutSettings {
            max_fee_per_gas: gwei_to_wei(&payouts.max_fee_per_gas_gwei).unwrap_or(0),
            replace_after: Duration::from_secs(payouts.replace_after_secs),
            poll_interval: Duration::from_millis(payouts.poll_interval_ms),
            funds_retry: Duration::from_secs(payouts.funds_retry_secs),
            lease_ttl: Duration::from_secs(payouts.lease_ttl_secs),
            rpc_concurrency: payouts.rpc_concurrency,
            sweeps: SweepSettings {
                enabled: self.sweeps.enabled,
                interval: Duration::from_secs(self.sweeps.interval_secs),
                min_amount: Decimal::parse(&self.sweeps.min_amount)
                    .unwrap_or(Decimal::from_integer(0)),
            },
        }
    }

    /// How often each chain is reconciled on schedule (`None`: only by `wcheckout reconcile`).
    pub fn reconcile_every(&self) -> Option<Duration> {
        let secs = self.payouts.reconcile_interval_secs;
        (secs > 0).then(|| Duration::from_secs(secs))
    }

    /// The approval threshold of on-chain settlements.
    pub fn settlement_approval_above(&self) -> Option<Decimal> {
        let text = self.settlements.approval_above.as_deref()?;
        Decimal::parse(text).ok()
    }

    /// Registered bank accounts by id.
    pub fn bank_accounts(&self) -> HashMap<String, RegisteredBankAccount> {
        self.bank_accounts
            .iter()
            .map(|(id, account)| {
                let registered = RegisteredBankAccount {
                    app: AppId::new(account.app.clone()),
                    account: BankAccount {
                        account_name: account.account_name.clone(),
                        account_number: account.account_number.clone(),
                        bank_name: account.bank_name.clone(),
                        swift_code: account.swift_code.clone(),
                        routing_number: account.routing_number.clone(),
                        country: account.country.clone(),
                    },
                };
                (id.clone(), registered)
            })
            .collect()
    }

    /// What is wrong in the money-out sections.
    pub(crate) fn payout_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, message: String| {
            if !ok {
                problems.push(message);
            }
        };
        let payouts = &self.payouts;
        check(
            gwei_to_wei(&payouts.max_fee_per_gas_gwei).is_some(),
            "payouts.max_fee_per_gas_gwei: must be a positive number of gwei with at most 9 decimals".into(),
        );
        check(
            (1..=86_400).contains(&payouts.replace_after_secs),
            "payouts.replace_after_secs: must be between 1 and 86400".into(),
        );
        check(
            (10..=60_000).contains(&payouts.poll_interval_ms),
            "payouts.poll_interval_ms: must be between 10 and 60000".into(),
        );
        check(
            (1..=3600).contains(&payouts.funds_retry_secs),
            "payouts.funds_retry_secs: must be between 1 and 3600".into(),
        );
        check(
            (2..=600).contains(&payouts.lease_ttl_secs),
            "payouts.lease_ttl_secs: must be between 2 and 600".into(),
        );
        check(
            (100..=120_000).contains(&payouts.rpc_timeout_ms),
            "payouts.rpc_timeout_ms: must be between 100 and 120000".into(),
        );
        check(
            (1..=10).contains(&payouts.rpc_attempts),
            "payouts.rpc_attempts: must be between 1 and 10".into(),
        );
        check(
            (1..=256).contains(&payouts.rpc_concurrency),
            "payouts.rpc_concurrency: must be between 1 and 256".into(),
        );
        check(
            (1..=86_400).contains(&self.sweeps.interval_secs),
            "sweeps.interval_secs: must be between 1 and 86400".into(),
        );
        check(
            Decimal::parse(&self.sweeps.min_amount).is_ok(),
            "sweeps.min_amount: must be a non-negative number of tokens".into(),
        );
        if let Some(limit) = &self.settlements.approval_above {
            check(
                Decimal::parse(limit).is_ok(),
                "settlements.approval_above: must be a non-negative number of tokens".into(),
            );
        }
        for (id, account) in &self.bank_accounts {
            let filled = [
                &account.app,
                &account.account_name,
                &account.account_number,
                &account.bank_name,
            ];
            check(
                filled.iter().all(|v| !v.trim().is_empty()),
                format!(
                    "bank_accounts.{id}: app, account_name, account_number and bank_name are required"
                ),
            );
        }
        problems
    }
}
