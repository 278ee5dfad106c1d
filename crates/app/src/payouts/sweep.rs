//! Sweeping: confirmed tokens at deposit addresses move to the hot wallet, which pays refunds
//! and settlements. A deposit address holds no coin for gas, so its sweep waits until a gas
//! top-up from the hot wallet is final. Sweeps run at an interval for balances above a
//! threshold, and at once for whatever a waiting payout lacks.

use std::collections::HashMap;
use std::time::Duration;

use wcheckout_domain::address::Address;
use wcheckout_domain::ledger::{Account, Asset, parse_custody};
use wcheckout_domain::money::{Decimal, TokenAmount};
use wcheckout_domain::payout::{Payout, PayoutKind, Signer};
use wcheckout_domain::ports::{ChangeSet, PayoutChange};
use wcheckout_domain::token::TokenId;

use super::{PayoutDraft, PayoutEngine, PayoutError, Shortfalls, reference_of};
use crate::error::ChangeError;

/// When deposits are swept.
#[derive(Clone, Debug)]
pub struct SweepSettings {
    /// Whether the engine sweeps at all.
    pub enabled: bool,
    /// How often balances are checked.
    pub interval: Duration,
    /// Smallest balance swept on schedule, in whole tokens (on demand, any balance is).
    pub min_amount: Decimal,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            enabled: true,
            interval: Duration::from_secs(300),
            min_amount: Decimal::from_integer(100),
        }
    }
}

/// Every pending transfer, whatever its block.
const ANY_BLOCK: u64 = i64::MAX as u64;
/// At most this many sweeps are planned per round.
const SWEEPS_PER_ROUND: usize = 50;

/// Tokens a deposit address holds that are confirmed and not being swept.
struct Sweepable {
    deposit: Address,
    token: TokenId,
    amount: u128,
}

impl PayoutEngine {
    /// Queues gas top-ups for sweeps that lack gas, then sweeps of deposit balances above the
    /// threshold or needed by waiting payouts.
    pub(super) async fn plan_sweeps(
        &self,
        open: &[Payout],
        shortfalls: &Shortfalls,
    ) -> Result<(), PayoutError> {
        for (deposit, needed) in &shortfalls.gas {
            let topping = open
                .iter()
                .any(|p| p.kind == PayoutKind::GasTopUp && p.to == *deposit);
            if !topping {
                self.top_up(*deposit, *needed).await?;
            }
        }
        let mut wanted = shortfalls.tokens.clone();
        for sweep in open.iter().filter(|p| p.kind == PayoutKind::Sweep) {
            if let Asset::Token(token) = &sweep.asset
                && let Some(short) = wanted.get_mut(token)
            {
                *short = short.saturating_sub(sweep.amount.base_units());
            }
        }
        let mut candidates = self.sweepable(open).await?;
        candidates.sort_by_key(|c| std::cmp::Reverse(c.amount));
        let mut planned = 0;
        for candidate in candidates {
            let short = wanted.get(&candidate.token).copied().unwrap_or(0);
            if planned >= SWEEPS_PER_ROUND
                || (short == 0 && candidate.amount < self.min_sweep(&candidate.token))
            {
                continue;
            }
            if self.sweep(&candidate).await? {
                planned += 1;
                wanted.insert(
                    candidate.token.clone(),
                    short.saturating_sub(candidate.amount),
                );
            }
        }
        Ok(())
    }

    fn min_sweep(&self, token: &TokenId) -> u128 {
        let decimals = self
            .gateway
            .tokens
            .get(token)
            .map_or(0, |(t, _)| t.decimals);
        TokenAmount::from_decimal(&self.settings.sweeps.min_amount, decimals)
            .map_or(u128::MAX, |a| a.base_units())
    }

    /// Confirmed token balances of deposit addresses per the ledger, less transfers not final
    /// yet, leaving out addresses with a sweep under way.
    async fn sweepable(&self, open: &[Payout]) -> Result<Vec<Sweepable>, PayoutError> {
        let store = &self.gateway.store;
        let prefix = format!("custody:{}:", self.chain.key);
        let accounts = store.ledger_accounts(&prefix, true).await?;
        let mut unconfirmed: HashMap<(Address, TokenId), u128> = HashMap::new();
        for transfer in store
            .pending_transfers_up_to(&self.chain.key, ANY_BLOCK, 10_000)
            .await?
        {
            *unconfirmed
                .entry((transfer.to, transfer.token))
                .or_default() += transfer.amount.base_units();
        }
        let mut found = Vec::new();
        for (key, totals) in accounts {
            let Some(Account::Custody {
                address,
                asset: Asset::Token(token),
                ..
            }) = parse_custody(&key)
            else {
                continue;
            };
            let sweeping = open.iter().any(|p| {
                p.kind == PayoutKind::Sweep
                    && p.from == address
                    && p.asset == Asset::Token(token.clone())
            });
            if address == self.gateway.hot_wallet(&self.chain)? || sweeping {
                continue;
            }
            let held = u128::try_from(totals.balance(true)).unwrap_or(0);
            let amount = held.saturating_sub(
                unconfirmed
                    .get(&(address, token.clone()))
                    .copied()
                    .unwrap_or(0),
            );
            if amount > 0 {
                found.push(Sweepable {
                    deposit: address,
                    token,
                    amount,
                });
            }
        }
        Ok(found)
    }

    /// Queues a sweep signed by the deposit address's key; false when the address is not ours.
    async fn sweep(&self, sweepable: &Sweepable) -> Result<bool, PayoutError> {
        let orders = self
            .gateway
            .store
            .orders_by_deposit_addresses(&[sweepable.deposit])
            .await?;
        let Some(order) = orders.first() else {
            tracing::warn!(address = %sweepable.deposit, "custody at an address no order owns; not swept");
            return Ok(false);
        };
        let now = self.gateway.clock.now();
        let object = format!(
            "{}:{}:{}",
            sweepable.deposit.storage_key(),
            sweepable.token,
            now.micros()
        );
        let draft = PayoutDraft {
            chain: self.chain.key.clone(),
            kind: PayoutKind::Sweep,
            reference: reference_of(PayoutKind::Sweep, &object),
            signer: Signer::Deposit(order.address_index),
            from: sweepable.deposit,
            to: self.gateway.hot_wallet(&self.chain)?,
            asset: Asset::Token(sweepable.token.clone()),
            amount: TokenAmount::from_base_units(sweepable.amount),
        };
        tracing::info!(address = %sweepable.deposit, token = %sweepable.token, amount = sweepable.amount, "sweep queued");
        self.create(draft).await
    }

    /// Queues gas for a deposit address: what its sweep needs, a quarter more for fee moves.
    async fn top_up(&self, deposit: Address, needed: u128) -> Result<bool, PayoutError> {
        let held = self.writer.balance(&deposit, None).await?;
        let amount = needed.saturating_add(needed / 4).saturating_sub(held);
        if amount == 0 {
            return Ok(false);
        }
        let now = self.gateway.clock.now();
        let object = format!("{}:{}", deposit.storage_key(), now.micros());
        let draft = PayoutDraft {
            chain: self.chain.key.clone(),
            kind: PayoutKind::GasTopUp,
            reference: reference_of(PayoutKind::GasTopUp, &object),
            signer: Signer::HotWallet,
            from: self.gateway.hot_wallet(&self.chain)?,
            to: deposit,
            asset: Asset::Native(self.chain.key.clone()),
            amount: TokenAmount::from_base_units(amount),
        };
        tracing::info!(address = %deposit, wei = amount, "gas top-up queued");
        self.create(draft).await
    }

    async fn create(&self, draft: PayoutDraft) -> Result<bool, PayoutError> {
        let mut changes = ChangeSet::default();
        changes
            .payouts
            .push(PayoutChange::Create(draft.queued(self.gateway.clock.now())));
        match self.gateway.commit(changes).await {
            Ok(()) => Ok(true),
            Err(ChangeError::Conflict) => Ok(false),
            Err(ChangeError::Failed(error)) => Err(error.into()),
        }
    }
}
