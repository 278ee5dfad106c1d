//! Reconciliation: what the ledger says each of our addresses holds, against what the chain
//! says. Any difference is money the ledger does not explain (a payout in flight, an operator
//! transfer not recorded, or a bug), so it is reported, never corrected silently.

use wcheckout_domain::address::Address;
use wcheckout_domain::chain::ChainWriter;
use wcheckout_domain::ledger::{Account, Asset, parse_custody};
use wcheckout_domain::payout::PayoutStatus;
use wcheckout_domain::ports::LedgerCheck;
use wcheckout_domain::token::Chain;

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
}

impl Gateway {
    /// Compares every custody account of `chain` not at zero, and the hot wallet's, with the
    /// chain's balances at the latest block.
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
        let mut found = ChainReconciliation::default();
        for (key, totals) in accounts {
            let Some(Account::Custody { address, asset, .. }) = parse_custody(&key) else {
                continue;
            };
            let ledger = totals.balance(true);
            let chain_balance = self.chain_balance(writer, &address, &asset).await?;
            found.checked += 1;
            if i128::try_from(chain_balance).ok() != Some(ledger) {
                found.differences.push(Difference {
                    account: key,
                    ledger,
                    chain: chain_balance,
                });
            }
        }
        let open = self.store.open_payouts(&chain.key, 10_000).await?;
        found.in_flight = open
            .iter()
            .filter(|p| matches!(p.status, PayoutStatus::Signed | PayoutStatus::Broadcast))
            .count();
        Ok(found)
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
