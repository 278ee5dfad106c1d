//! The default rate source: a configured fixed rate per token, with an optional spread.

use std::collections::HashMap;

use async_trait::async_trait;
use wcheckout_domain::money::Decimal;
use wcheckout_domain::ports::{RateError, RateSource};
use wcheckout_domain::token::TokenId;

/// Fixed rates: `exchangeRate = rate × (1 + spread_percent / 100)`, exactly.
#[derive(Debug, Clone, Default)]
pub struct FixedRates {
    rates: HashMap<TokenId, Decimal>,
}

impl FixedRates {
    /// Rates per token, each with the spread applied.
    pub fn new(
        rates: impl IntoIterator<Item = (TokenId, Decimal)>,
        spread_percent: Decimal,
    ) -> Result<FixedRates, String> {
        let factor = Decimal::from_integer(100)
            .checked_add(&spread_percent)
            .map_err(|e| e.to_string())?;
        let rates = rates
            .into_iter()
            .map(|(token, rate)| {
                let scale = rate
                    .scale()
                    .saturating_add(factor.scale())
                    .saturating_add(2);
                let percent = rate
                    .mul_round_up(&factor, scale)
                    .map_err(|e| e.to_string())?;
                // Dividing by 100 is a shift of the scale, so nothing is rounded.
                let with_spread =
                    Decimal::new(percent.mantissa(), percent.scale().saturating_add(2))
                        .ok_or_else(|| format!("rate of {token} has too many decimals"))?;
                Ok((token, with_spread.normalized()))
            })
            .collect::<Result<_, String>>()?;
        Ok(FixedRates { rates })
    }
}

#[async_trait]
impl RateSource for FixedRates {
    async fn rate(&self, token: &TokenId, fiat: &str) -> Result<Decimal, RateError> {
        if fiat != "USD" {
            return Err(RateError::FiatNotOffered(fiat.to_owned()));
        }
        let rate = self.rates.get(token).copied();
        rate.ok_or_else(|| RateError::NoRate(token.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn applies_the_spread_exactly() {
        let usdt = TokenId::parse("ETH_USDT").unwrap();
        let d = |t| Decimal::parse(t).unwrap();
        let rates = FixedRates::new([(usdt.clone(), d("1"))], d("1")).unwrap();
        assert_eq!(rates.rate(&usdt, "USD").await.unwrap().to_string(), "1.01");
        let rates = FixedRates::new([(usdt.clone(), d("1.0"))], d("0")).unwrap();
        assert_eq!(rates.rate(&usdt, "USD").await.unwrap().to_string(), "1");
        assert!(
            rates
                .rate(&TokenId::parse("ETH_USDC").unwrap(), "USD")
                .await
                .is_err()
        );
        assert!(rates.rate(&usdt, "EUR").await.is_err());
    }
}
