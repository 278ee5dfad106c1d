//! The page's QR code, drawn as SVG by the server itself so that no outside service learns which
//! address is being paid. What it holds depends on the chain family (see `family`).

use qrcode::QrCode;
use qrcode::render::svg;

/// `ethereum:CONTRACT@CHAIN_ID/transfer?address=TO&uint256=UNITS`, the ERC-20 transfer wallets
/// prefill from a scan (EIP-681).
pub fn eip681_transfer(contract: &str, chain_id: u64, to: &str, units: &str) -> String {
    format!("ethereum:{contract}@{chain_id}/transfer?address={to}&uint256={units}")
}

/// The QR code of `text` as an SVG document, or `None` when it is too long for one.
pub fn svg_of(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(232, 232)
            .quiet_zone(true)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_uri_names_token_chain_recipient_and_units() {
        let uri = eip681_transfer("0xToken", 31337, "0xTo", "1500000");
        assert_eq!(
            uri,
            "ethereum:0xToken@31337/transfer?address=0xTo&uint256=1500000"
        );
        let svg = svg_of(&uri).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
    }
}
