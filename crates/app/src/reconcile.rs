//! Reconciliation: what the ledger says each of our addresses holds, against what the chain
//! says. Any difference is money the ledger does not explain (a payout in flight, an operator
//! transfer not recorded, or a bug), so it is reported, never corrected silently.

use std::collections::BTreeMap;

use wcheckout_domain::address::Address;
use wcheckout_domain::chain::ChainWriter;
use wcheckout_domain::ledger::{Account, Asset, parse_custody};
use wcheckout_domain::payout::PayoutStatus;
use wcheckout_domain::ports::LedgerCheck;
use wcheckout_domain::reconciliation::AssetReconciliation;
use wcheckout_domain::token::Chain;

use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::payouts::PayoutError;
use crate::postings;

/// One address and asset whose ledger and chain balances differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The custody account.
    pub account: String,
    /// What the ledger says, base units.
    pub ledger: i128,
    /// What the chain says.
    pub chain: u128,
}

/// What reconciling one chain found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainReconciliation {
    /// Accounts compared.
    pub checked: usize,
    /// Those that differ.
    pub differences: Vec<Difference>,
    /// Payouts signed but not final, which move balances before the ledger records them.
    pub in_flight: usize,
    /// Per asset, summed over the accounts compared (kept in the store).
    pub assets: Vec<AssetReconciliation>,
}

/// Adds one address's balances to its asset's sums.
fn add_to(
    sum: &mut AssetReconciliation,
    ledger: i128,
    on_chain: u128,
    agrees: bool,
) -> Result<(), ServiceError> {
    let overflow = || ServiceError::internal("a reconciled total does not fit in 128 bits");
    sum.ledger = sum.ledger.checked_add(ledger).ok_or_else(overflow)?;
    sum.on_chain = sum.on_chain.checked_add(on_chain).ok_or_else(overflow)?;
    sum.accounts = sum.accounts.saturating_add(1);
    if !agrees {
        sum.differing = sum.differing.saturating_add(1);
    }
    Ok(())
}

impl Gateway {
    /// Compares every custody account of `chain` not at zero, and the hot wallet's, with the
    /// chain's balances at the latest block, and keeps each asset's sums in the store.
    pub async fn reconcile_chain(
        &self,
        chain: &Chain,
        writer: &dyn ChainWriter,
    ) -> Result<ChainReconciliation, PayoutError> {
        let hot_wallet = self.hot_wallet(chain)?;
        let mut accounts = self
            .store
            .ledger_accounts(&format!("custody:{}:", chain.key), true)
            .await?;
        for asset in self.assets_of(chain) {
            let hot = Account::Custody {
                chain: chain.key.clone(),
                address: hot_wallet,
                asset,
            };
            if !accounts.iter().any(|(key, _)| *key == hot.key()) {
                let totals = self.store.ledger_totals(&[hot.key()]).await?;
                accounts.push((
                    hot.key(),
                    totals.get(&hot.key()).copied().unwrap_or_default(),
                ));
            }
        }
        let open = self.store.open_payouts(&chain.key, 10_000).await?;
        let in_flight = open
            .iter()
            .filter(|p| matches!(p.status, PayoutStatus::Signed | PayoutStatus::Broadcast))
            .count();
        let mut found = ChainReconciliation {
            in_flight,
            ..ChainReconciliation::default()
        };
        let mut sums: BTreeMap<Asset, AssetReconciliation> = BTreeMap::new();
        let at = self.clock.now();
        for (key, totals) in accounts {
            let Some(Account::Custody { address, asset, .. }) = parse_custody(&key) else {
                continue;
            };
            let ledger = totals.balance(true);
            let chain_balance = self.chain_balance(writer, &address, &asset).await?;
            let agrees = i128::try_from(chain_balance).ok() == Some(ledger);
            let sum = sums
                .entry(asset.clone())
                .or_insert_with(|| AssetReconciliation {
                    chain: chain.key.clone(),
                    asset,
                    at,
                    ledger: 0,
                    on_chain: 0,
                    accounts: 0,
                    differing: 0,
                    in_flight: u64::try_from(in_flight).unwrap_or(u64::MAX),
                });
            add_to(sum, ledger, chain_balance, agrees)?;
            found.checked += 1;
            if !agrees {
                found.differences.push(Difference {
                    account: key,
                    ledger,
                    chain: chain_balance,
                });
            }
        }
        found.assets = sums.into_values().collect();
        self.store.record_reconciliations(&found.assets).await?;
        Ok(found)
    }

    /// The last result of every chain and asset reconciled (by `wcheckout reconcile`, or by a
    /// gateway's [`crate::reconciler::Reconciler`] on its schedule).
    pub async fn last_reconciliations(&self) -> Result<Vec<AssetReconciliation>, ServiceError> {
        Ok(self.store.last_reconciliations().await?)
    }

    fn assets_of(&self, chain: &Chain) -> Vec<Asset> {
        let tokens = self
            .tokens
            .tokens_of(&chain.key)
            .map(|t| Asset::Token(t.id.clone()));
        std::iter::once(Asset::Native(chain.key.clone()))
            .chain(tokens)
            .collect()
    }

    async fn chain_balance(
        &self,
        writer: &dyn ChainWriter,
        address: &Address,
        asset: &Asset,
    ) -> Result<u128, PayoutError> {
        let contract = match asset {
            Asset::Native(_) => None,
            Asset::Token(id) => match self.tokens.get(id) {
                Some((token, _)) => Some(token.contract),
                None => return Ok(0),
            },
        };
        Ok(writer.balance(address, contract.as_ref()).await?)
    }

    /// The ledger's self-check: every entry has both sides, every account's totals match its
    /// entries, and all debits equal all credits.
    pub async fn ledger_check(&self) -> Result<LedgerCheck, PayoutError> {
        Ok(self.store.ledger_check().await?)
    }

    /// Records operator money sent to the hot wallet (gas, or tokens for payouts), so the
    /// ledger explains it.
    pub async fn record_funding(
        &self,
        chain: &Chain,
        asset: Asset,
        amount: wcheckout_domain::money::TokenAmount,
        reference: &str,
    ) -> Result<(), PayoutError> {
        let account = Account::Custody {
            chain: chain.key.clone(),
            address: self.hot_wallet(chain)?,
            asset: asset.clone(),
        };
        let mut changes = wcheckout_domain::ports::ChangeSet::default();
        changes.postings.push(postings::funded(
            account,
            asset,
            amount,
            format!("funding:{reference}"),
        ));
        self.commit(changes).await?;
        Ok(())
    }
}
