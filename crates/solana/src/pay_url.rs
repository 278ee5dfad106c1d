//! Solana Pay transfer requests: the `solana:` URL a payment page shows as a QR code, which
//! Phantom, Solflare and Backpack scan:
//! `solana:<recipient>?amount=<decimal>&spl-token=<mint>&reference=<key>&label=…&message=…`.
//!
//! The recipient is a wallet (owner) address: the paying wallet derives its associated token
//! account for `spl-token` itself. The amount is in the token's units, written exactly from
//! base units and the mint's decimals (never through floating point), without trailing
//! zeros. Each `reference` is a key the wallet adds to the transfer as a read-only account, so
//! that `getSignaturesForAddress(reference)` finds the payment. Text fields are UTF-8,
//! percent-encoded except for RFC 3986's unreserved characters (a space is `%20`), which both
//! `URLSearchParams` and `decodeURIComponent` read back unchanged.

use std::fmt::Write;

use crate::address::SolanaAddress;

/// A transfer request; [`TransferRequest::to_url`] writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferRequest {
    /// The wallet to pay (for a token, its owner).
    pub recipient: SolanaAddress,
    /// The amount in base units and the decimals of its mint (9 for SOL), if fixed.
    pub amount: Option<(u64, u8)>,
    /// The token's mint; none for SOL.
    pub spl_token: Option<SolanaAddress>,
    /// Keys that identify this payment on chain.
    pub references: Vec<SolanaAddress>,
    /// Who is asking to be paid (the merchant).
    pub label: Option<String>,
    /// What the payment is for.
    pub message: Option<String>,
    /// A memo the wallet adds to the transaction (public on chain).
    pub memo: Option<String>,
}

impl TransferRequest {
    /// The `solana:` URL, parameters in the order Solana Pay's reference encoder writes them.
    pub fn to_url(&self) -> String {
        let mut url = format!("solana:{}", self.recipient);
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some((units, decimals)) = self.amount {
            params.push(("amount", decimal(units, decimals)));
        }
        if let Some(mint) = self.spl_token {
            params.push(("spl-token", mint.to_string()));
        }
        params.extend(
            self.references
                .iter()
                .map(|key| ("reference", key.to_string())),
        );
        for (name, text) in [
            ("label", &self.label),
            ("message", &self.message),
            ("memo", &self.memo),
        ] {
            if let Some(text) = text {
                params.push((name, percent_encode(text)));
            }
        }
        for (i, (name, value)) in params.iter().enumerate() {
            let separator = if i == 0 { '?' } else { '&' };
            // Writing to a String cannot fail.
            let _ = write!(url, "{separator}{name}={value}");
        }
        url
    }
}

/// `units / 10^decimals` written exactly, trailing zeros (and a bare point) trimmed.
pub fn decimal(units: u64, decimals: u8) -> String {
    let digits = units.to_string();
    let decimals = usize::from(decimals);
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (whole, fraction) = padded.split_at(padded.len() - decimals);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    }
}

/// UTF-8 percent-encoding of everything but `A-Z a-z 0-9 - . _ ~`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> SolanaAddress {
        SolanaAddress::parse(text).unwrap()
    }

    const MERCHANT: &str = "mvines9iiHiQTysrwkJjGf2gb9Ex9jXJX8ns3qwf2kN";
    const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

    #[test]
    fn the_specifications_examples() {
        let sol = TransferRequest {
            recipient: address(MERCHANT),
            amount: Some((1_000_000_000, 9)),
            label: Some("Michael".into()),
            message: Some("Thanks for all the fish".into()),
            memo: Some("OrderId12345".into()),
            ..TransferRequest::default()
        };
        assert_eq!(
            sol.to_url(),
            "solana:mvines9iiHiQTysrwkJjGf2gb9Ex9jXJX8ns3qwf2kN?amount=1&label=Michael\
             &message=Thanks%20for%20all%20the%20fish&memo=OrderId12345"
        );
        let usdc = TransferRequest {
            recipient: address(MERCHANT),
            amount: Some((10_000, 6)),
            spl_token: Some(address(USDC)),
            ..TransferRequest::default()
        };
        assert_eq!(
            usdc.to_url(),
            format!("solana:{MERCHANT}?amount=0.01&spl-token={USDC}")
        );
        let bare = TransferRequest {
            recipient: address(MERCHANT),
            ..TransferRequest::default()
        };
        assert_eq!(bare.to_url(), format!("solana:{MERCHANT}"));
    }

    #[test]
    fn an_order_request_carries_its_reference_and_encoded_texts() {
        let reference = address("HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk");
        let request = TransferRequest {
            recipient: address(MERCHANT),
            amount: Some((12_340_000, 6)),
            spl_token: Some(address(USDC)),
            references: vec![reference],
            label: Some("Café & Co/Shop".into()),
            message: Some("Order #42: 100% paid? a+b=c".into()),
            memo: None,
        };
        assert_eq!(
            request.to_url(),
            format!(
                "solana:{MERCHANT}?amount=12.34&spl-token={USDC}&reference={reference}\
                 &label=Caf%C3%A9%20%26%20Co%2FShop\
                 &message=Order%20%2342%3A%20100%25%20paid%3F%20a%2Bb%3Dc"
            )
        );
    }

    #[test]
    fn amounts_are_exact_decimals_without_trailing_zeros() {
        let cases: [(u64, u8, &str); 10] = [
            (0, 6, "0"),
            (1, 6, "0.000001"),
            (10, 6, "0.00001"),
            (1_000_000, 6, "1"),
            (1_500_000, 6, "1.5"),
            (123_456_789, 6, "123.456789"),
            (u64::MAX, 6, "18446744073709.551615"),
            (u64::MAX, 0, "18446744073709551615"),
            (u64::MAX, 20, "0.18446744073709551615"),
            (5, 25, "0.0000000000000000000000005"),
        ];
        for (units, decimals, text) in cases {
            assert_eq!(decimal(units, decimals), text, "{units} {decimals}");
        }
    }
}
