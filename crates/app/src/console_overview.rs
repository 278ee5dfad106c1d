//! The console's overview: the last 30 days' orders per day and token, success and abnormal
//! rates, balances (with the last reconciliation), hot-wallet gas, chain health and webhook
//! delivery. Every figure is read through an index, app by app (see docs/console.md, "The
//! overview"); an account bound to an app sees that app's figures only.

use std::collections::BTreeMap;

use wcheckout_domain::ids::AppId;
use wcheckout_domain::ledger::{Account, Asset, Bucket, Totals};
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::operator::Operator;
use wcheckout_domain::order::OrderStatus;
use wcheckout_domain::ports::WebhookCounts;
use wcheckout_domain::reconciliation::AssetReconciliation;
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::TokenId;

use crate::chain_health::ChainHealth;
use crate::error::ServiceError;
use crate::gateway::Gateway;

/// Days the overview's chart covers, today included.
pub const OVERVIEW_DAYS: i64 = 30;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// One day of one token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    /// UTC days since 1970-01-01.
    pub day: i64,
    /// Orders created that day.
    pub created: u64,
    /// Of those, how many were paid (`PAID`, or refunded since).
    pub paid: u64,
    /// What they paid, base units.
    pub volume: TokenAmount,
}

/// One token's last [`OVERVIEW_DAYS`] days, oldest first (every day present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDays {
    /// The token.
    pub token: String,
    /// Its decimals (0 when it is no longer configured).
    pub decimals: u8,
    /// Day by day.
    pub days: Vec<DayFigures>,
}

/// A balance: an asset, its decimals and what the ledger says (negative when overdrawn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// A token (`ETH_USDT`) or a chain's native coin (`ETH_NATIVE`).
    pub asset: String,
    /// Merchant balances: which bucket; custody: `None`.
    pub bucket: Option<Bucket>,
    /// Decimals of the asset.
    pub decimals: u8,
    /// Base units.
    pub units: i128,
    /// Custody: the asset's last reconciliation with its chain, if any.
    pub reconciled: Option<AssetReconciliation>,
}

/// The overview's figures.
#[derive(Debug, Clone)]
pub struct Overview {
    /// When they were read.
    pub at: Timestamp,
    /// The first day of the window (UTC days since 1970-01-01).
    pub first_day: i64,
    /// Orders the operator sees in each status, all time.
    pub by_status: Vec<(OrderStatus, u64)>,
    /// Per token, day by day.
    pub tokens: Vec<TokenDays>,
    /// Orders created in the window.
    pub created: u64,
    /// Of those, paid.
    pub paid: u64,
    /// Abnormal payments recorded in the window.
    pub abnormal: u64,
    /// For an operator who sees every app: what our addresses hold by the ledger, per asset.
    /// For an app's operator: what its merchants are owed, per token and bucket.
    pub balances: Vec<Balance>,
    /// The hot wallet's native coin per chain (`None` for an app's operator).
    pub gas: Option<Vec<Balance>>,
    /// Every watched chain's health.
    pub chains: BTreeMap<String, ChainHealth>,
    /// Webhook events, summed over the apps seen.
    pub webhooks: WebhookCounts,
}

/// `part / whole` in tenths of a percent, `None` when `whole` is 0.
pub fn permille(part: u64, whole: u64) -> Option<u64> {
    let part = u128::from(part).checked_mul(1000)?;
    let ratio = part.checked_div(u128::from(whole))?;
    u64::try_from(ratio).ok()
}

fn was_paid(status: &str) -> bool {
    matches!(
        OrderStatus::parse(status),
        Some(
            OrderStatus::Paid
                | OrderStatus::Refunding
                | OrderStatus::PartialRefunded
                | OrderStatus::Refunded
        )
    )
}

fn overflow() -> ServiceError {
    ServiceError::internal("an overview total does not fit in 128 bits")
}

fn add(total: &mut u64, n: u64) -> Result<(), ServiceError> {
    *total = total.checked_add(n).ok_or_else(overflow)?;
    Ok(())
}

/// The window's days per token, built app by app.
#[derive(Default)]
struct Chart {
    tokens: BTreeMap<String, BTreeMap<i64, DayFigures>>,
    created: u64,
    paid: u64,
}

impl Chart {
    fn day(&mut self, token: &str, day: i64) -> &mut DayFigures {
        self.tokens
            .entry(token.to_owned())
            .or_default()
            .entry(day)
            .or_insert_with(|| DayFigures {
                day,
                ..DayFigures::default()
            })
    }
}

impl Gateway {
    /// The overview as `operator` may see it, for the [`OVERVIEW_DAYS`] days up to today (UTC).
    pub async fn console_overview(&self, operator: &Operator) -> Result<Overview, ServiceError> {
        let now = self.clock.now();
        let today = now.micros().div_euclid(MICROS_PER_DAY);
        let first_day = today.saturating_sub(OVERVIEW_DAYS.saturating_sub(1));
        let since = Timestamp::from_micros(first_day.saturating_mul(MICROS_PER_DAY));
        let apps = self.overview_apps(operator).await?;
        let mut chart = Chart::default();
        let mut abnormal = 0u64;
        let mut webhooks = WebhookCounts::default();
        for app in &apps {
            self.chart_app(app, since, &mut chart).await?;
            add(&mut abnormal, self.store.abnormal_since(app, since).await?)?;
            let counts = self.store.webhook_counts(app, since).await?;
            add(&mut webhooks.backlog, counts.backlog)?;
            add(&mut webhooks.delivered, counts.delivered)?;
            add(&mut webhooks.failed, counts.failed)?;
        }
        let (balances, gas) = match &operator.app {
            Some(app) => (self.merchant_balances(app).await?, None),
            None => (
                self.custody_balances().await?,
                Some(self.hot_wallet_gas().await?),
            ),
        };
        Ok(Overview {
            at: now,
            first_day,
            by_status: self.console_orders_by_status(operator).await?,
            tokens: self.token_days(&chart, first_day),
            created: chart.created,
            paid: chart.paid,
            abnormal,
            balances,
            gas,
            chains: self.chain_health.snapshot(now),
            webhooks,
        })
    }

    async fn overview_apps(&self, operator: &Operator) -> Result<Vec<AppId>, ServiceError> {
        let all = self.store.apps().await?.into_iter().map(|a| a.id);
        Ok(all.filter(|id| operator.sees_app(id)).collect())
    }

    async fn chart_app(
        &self,
        app: &AppId,
        since: Timestamp,
        chart: &mut Chart,
    ) -> Result<(), ServiceError> {
        for count in self.store.order_days(app, since).await? {
            add(&mut chart.created, count.orders)?;
            add(
                &mut chart.day(&count.token, count.day).created,
                count.orders,
            )?;
            if was_paid(&count.status) {
                add(&mut chart.paid, count.orders)?;
                add(&mut chart.day(&count.token, count.day).paid, count.orders)?;
            }
        }
        for paid in self.store.paid_days(app, since).await? {
            let figures = chart.day(&paid.token, paid.day);
            figures.volume = figures
                .volume
                .checked_add(paid.paid)
                .map_err(|_| overflow())?;
        }
        Ok(())
    }

    fn token_days(&self, chart: &Chart, first_day: i64) -> Vec<TokenDays> {
        chart
            .tokens
            .iter()
            .map(|(token, days)| TokenDays {
                token: token.clone(),
                decimals: self.decimals_of_token(token),
                days: (0..OVERVIEW_DAYS)
                    .map(|offset| {
                        let day = first_day.saturating_add(offset);
                        days.get(&day).cloned().unwrap_or(DayFigures {
                            day,
                            ..DayFigures::default()
                        })
                    })
                    .collect(),
            })
            .collect()
    }

    fn decimals_of_token(&self, token: &str) -> u8 {
        TokenId::parse(token)
            .and_then(|id| self.tokens.get(&id).map(|(t, _)| t.decimals))
            .unwrap_or(0)
    }

    /// The decimals of a configured asset (0 when it is no longer configured).
    pub fn asset_decimals(&self, asset: &Asset) -> u8 {
        match asset {
            Asset::Token(id) => self.decimals_of_token(id.as_str()),
            Asset::Native(chain) => self
                .tokens
                .chain(chain)
                .map_or(0, |c| c.family.native_decimals()),
        }
    }

    /// What our addresses hold by the ledger, per asset, each with its last reconciliation
    /// (assets reconciled but absent from the ledger too).
    async fn custody_balances(&self) -> Result<Vec<Balance>, ServiceError> {
        let mut sums: BTreeMap<Asset, i128> = BTreeMap::new();
        for (key, totals) in self.store.ledger_range("custody:").await? {
            let Some(Account::Custody { asset, .. }) =
                wcheckout_domain::ledger::parse_custody(&key)
            else {
                continue;
            };
            let sum = sums.entry(asset).or_default();
            *sum = sum.checked_add(totals.balance(true)).ok_or_else(overflow)?;
        }
        let mut reconciled: BTreeMap<Asset, AssetReconciliation> = BTreeMap::new();
        for result in self.last_reconciliations().await? {
            sums.entry(result.asset.clone()).or_default();
            reconciled.insert(result.asset.clone(), result);
        }
        Ok(sums
            .into_iter()
            .map(|(asset, units)| Balance {
                decimals: self.asset_decimals(&asset),
                bucket: None,
                units,
                reconciled: reconciled.remove(&asset),
                asset: asset.to_string(),
            })
            .collect())
    }

    /// What the merchants of `app` are owed, per token and bucket.
    async fn merchant_balances(&self, app: &AppId) -> Result<Vec<Balance>, ServiceError> {
        let prefix = format!("merchant:{app}:");
        let mut sums: BTreeMap<(String, Bucket), i128> = BTreeMap::new();
        for (key, totals) in self.store.ledger_range(&prefix).await? {
            // `merchant:{app}:{merchant}:{token}:{bucket}`; a merchant id may hold a colon.
            let mut tail = key.rsplitn(3, ':');
            let (Some(bucket), Some(token)) = (tail.next(), tail.next()) else {
                continue;
            };
            let Some(bucket) = Bucket::parse(bucket) else {
                continue;
            };
            let sum = sums.entry((token.to_owned(), bucket)).or_default();
            *sum = sum
                .checked_add(totals.balance(false))
                .ok_or_else(overflow)?;
        }
        Ok(sums
            .into_iter()
            .map(|((token, bucket), units)| Balance {
                decimals: self.decimals_of_token(&token),
                asset: token,
                bucket: Some(bucket),
                units,
                reconciled: None,
            })
            .collect())
    }

    /// The hot wallet's native coin on each chain, by the ledger.
    async fn hot_wallet_gas(&self) -> Result<Vec<Balance>, ServiceError> {
        let mut gas = Vec::new();
        for chain in self.tokens.chains() {
            let Ok(address) = self.hot_wallet(chain) else {
                continue;
            };
            let asset = Asset::Native(chain.key.clone());
            let key = Account::Custody {
                chain: chain.key.clone(),
                address,
                asset: asset.clone(),
            }
            .key();
            let totals = self.store.ledger_totals(std::slice::from_ref(&key)).await?;
            let units = totals.get(&key).copied().unwrap_or(Totals::default());
            gas.push(Balance {
                decimals: self.asset_decimals(&asset),
                asset: asset.to_string(),
                bucket: None,
                units: units.balance(true),
                reconciled: None,
            });
        }
        Ok(gas)
    }
}

/// `units` of an asset with `decimals` as whole tokens (`-1.5`), exact.
pub fn whole_units(units: i128, decimals: u8) -> String {
    let amount = TokenAmount::from_base_units(units.unsigned_abs());
    let text = amount.to_decimal(decimals).normalized().to_string();
    if units < 0 { format!("-{text}") } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_tenths_of_a_percent_and_none_of_nothing() {
        assert_eq!(permille(1, 3), Some(333));
        assert_eq!(permille(3, 3), Some(1000));
        assert_eq!(permille(0, 7), Some(0));
        assert_eq!(permille(5, 0), None);
        assert_eq!(permille(u64::MAX, 1), None);
    }

    #[test]
    fn whole_units_are_exact_and_signed() {
        assert_eq!(whole_units(1_500_000, 6), "1.5");
        assert_eq!(whole_units(-2_000_000_000_000_000_000, 18), "-2");
        assert_eq!(whole_units(0, 18), "0");
    }

    #[test]
    fn refunded_orders_were_paid() {
        assert!(was_paid("PAID"));
        assert!(was_paid("PARTIAL_REFUNDED"));
        assert!(!was_paid("TIMEOUT"));
        assert!(!was_paid("PAYING"));
    }
}
