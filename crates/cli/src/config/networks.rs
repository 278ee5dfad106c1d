//! Network presets: `[chains.KEY] network = "mainnet"` (or `"sepolia"`; on a TRON chain
//! `"mainnet"` or `"nile"`; on a Solana chain `"mainnet"` or `"devnet"`) fills in the chain id, the name shown to payers, the explorer link,
//! the finality and the contracts and decimals of the network's stablecoins (`{KEY}_USDT`,
//! `{KEY}_USDC`, and `{KEY}_WUSD` on Ethereum), so that an operator gives only endpoints. The
//! preset is a layer under the file and the environment: every key it fills can still be set.

use figment::Figment;
use serde_json::{Map, Value, json};

/// One stablecoin of a network preset.
#[derive(Debug)]
pub struct PresetToken {
    /// The asset part of the token id (`USDT` of `ETH_USDT`).
    pub asset: &'static str,
    /// The token contract (ERC-20, TRC-20, or the SPL mint on Solana); `None` when the network has no official deployment, so the
    /// operator must name the one they accept (or disable the token).
    pub contract: Option<&'static str>,
    /// The contract's decimals.
    pub decimals: u8,
}

/// A public network a chain can be configured as.
#[derive(Debug)]
pub struct NetworkPreset {
    /// The chain family it belongs to (`family` of the chain).
    pub family: &'static str,
    /// The value of `network`.
    pub name: &'static str,
    /// EIP-155 chain id (0 on Solana, which has none).
    pub chain_id: u64,
    /// Name shown to payers.
    pub display_name: &'static str,
    /// Explorer page of a transaction.
    pub explorer_tx_url: &'static str,
    /// Its finality, when not the family's default.
    pub finality: Option<&'static str>,
    /// Its stablecoins.
    pub tokens: &'static [PresetToken],
}

/// Ethereum mainnet USDT (Tether), 6 decimals.
pub const MAINNET_USDT: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
/// Ethereum mainnet USDC (Circle), 6 decimals.
pub const MAINNET_USDC: &str = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
/// Ethereum mainnet WUSD (Worldwide USD, WSPN), 18 decimals.
pub const MAINNET_WUSD: &str = "0x7Cd017ca5ddb86861FA983a34b5F495C6F898c41";
/// Sepolia USDC (Circle's test deployment), 6 decimals.
pub const SEPOLIA_USDC: &str = "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238";
/// Sepolia WUSD (WSPN's test deployment), taken to have mainnet's 18 decimals.
pub const SEPOLIA_WUSD: &str = "0x371607f7463d27ae9deaf64ae00da9cbd4cf0065";
/// Decimals of WUSD.
pub const WUSD_DECIMALS: u8 = 18;
/// TRON mainnet USDT (Tether's TRC-20), 6 decimals.
pub const TRON_MAINNET_USDT: &str = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
/// TRON mainnet USDC (Circle's TRC-20), 6 decimals.
pub const TRON_MAINNET_USDC: &str = "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8";
/// TRON Nile testnet USDT (Tether's test deployment, the one Nile's faucet hands out).
pub const TRON_NILE_USDT: &str = "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf";

/// Solana mainnet USDC (Circle's SPL mint, Token program), 6 decimals.
pub const SOLANA_MAINNET_USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
/// Solana mainnet USDT (Tether's SPL mint, Token program), 6 decimals.
pub const SOLANA_MAINNET_USDT: &str = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB";
/// Solana devnet USDC (Circle's test mint, the one Circle's faucet hands out), 6 decimals.
pub const SOLANA_DEVNET_USDC: &str = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU";

/// Every preset, by family and `network` value.
pub const NETWORKS: [NetworkPreset; 6] = [
    NetworkPreset {
        family: "evm",
        name: "mainnet",
        chain_id: 1,
        display_name: "Ethereum",
        explorer_tx_url: "https://etherscan.io/tx/{tx}",
        finality: None,
        tokens: &[
            PresetToken {
                asset: "USDT",
                contract: Some(MAINNET_USDT),
                decimals: 6,
            },
            PresetToken {
                asset: "USDC",
                contract: Some(MAINNET_USDC),
                decimals: 6,
            },
            PresetToken {
                asset: "WUSD",
                contract: Some(MAINNET_WUSD),
                decimals: WUSD_DECIMALS,
            },
        ],
    },
    NetworkPreset {
        family: "evm",
        name: "sepolia",
        chain_id: 11_155_111,
        display_name: "Ethereum Sepolia",
        explorer_tx_url: "https://sepolia.etherscan.io/tx/{tx}",
        finality: None,
        tokens: &[
            // Tether publishes no Sepolia USDT: the operator names the test token they accept.
            PresetToken {
                asset: "USDT",
                contract: None,
                decimals: 6,
            },
            PresetToken {
                asset: "USDC",
                contract: Some(SEPOLIA_USDC),
                decimals: 6,
            },
            PresetToken {
                asset: "WUSD",
                contract: Some(SEPOLIA_WUSD),
                decimals: WUSD_DECIMALS,
            },
        ],
    },
    // TRON's chain ids are what its JSON-RPC answers to `eth_chainId` (the last four bytes of
    // the genesis block's hash); transfers are final once solidified (`finalized`).
    NetworkPreset {
        family: "tron",
        name: "mainnet",
        chain_id: 728_126_428,
        display_name: "TRON",
        explorer_tx_url: "https://tronscan.org/#/transaction/{tx}",
        finality: Some("finalized"),
        tokens: &[
            PresetToken {
                asset: "USDT",
                contract: Some(TRON_MAINNET_USDT),
                decimals: 6,
            },
            PresetToken {
                asset: "USDC",
                contract: Some(TRON_MAINNET_USDC),
                decimals: 6,
            },
        ],
    },
    NetworkPreset {
        family: "tron",
        name: "nile",
        chain_id: 3_448_148_188,
        display_name: "TRON Nile",
        explorer_tx_url: "https://nile.tronscan.org/#/transaction/{tx}",
        finality: Some("finalized"),
        tokens: &[
            PresetToken {
                asset: "USDT",
                contract: Some(TRON_NILE_USDT),
                decimals: 6,
            },
            // Circle publishes no Nile USDC: the operator names the test token they accept.
            PresetToken {
                asset: "USDC",
                contract: None,
                decimals: 6,
            },
        ],
    },
    // Solana has no chain id; tokens are SPL mints, final at the `finalized` commitment.
    NetworkPreset {
        family: "solana",
        name: "mainnet",
        chain_id: 0,
        display_name: "Solana",
        explorer_tx_url: "https://explorer.solana.com/tx/{tx}",
        finality: Some("finalized"),
        tokens: &[
            PresetToken {
                asset: "USDT",
                contract: Some(SOLANA_MAINNET_USDT),
                decimals: 6,
            },
            PresetToken {
                asset: "USDC",
                contract: Some(SOLANA_MAINNET_USDC),
                decimals: 6,
            },
        ],
    },
    NetworkPreset {
        family: "solana",
        name: "devnet",
        chain_id: 0,
        display_name: "Solana Devnet",
        explorer_tx_url: "https://explorer.solana.com/tx/{tx}?cluster=devnet",
        finality: Some("finalized"),
        tokens: &[
            // Tether publishes no devnet USDT: the operator names the test mint they accept.
            PresetToken {
                asset: "USDT",
                contract: None,
                decimals: 6,
            },
            PresetToken {
                asset: "USDC",
                contract: Some(SOLANA_DEVNET_USDC),
                decimals: 6,
            },
        ],
    },
];

/// The preset called `name` of chain family `family`.
pub fn preset(family: &str, name: &str) -> Option<&'static NetworkPreset> {
    NETWORKS
        .iter()
        .find(|network| network.family == family && network.name == name)
}

/// The names of a family's presets, for messages (`mainnet or sepolia`).
pub fn preset_names(family: &str) -> String {
    let names: Vec<&str> = NETWORKS
        .iter()
        .filter(|network| network.family == family)
        .map(|network| network.name)
        .collect();
    names.join(" or ")
}

/// What the presets named by `[chains.KEY] network` in `user` (the file and the environment)
/// put under it: `{"chains": {KEY: …}, "tokens": {"{KEY}_USDT": …}}`. Unknown names add
/// nothing; the chain's check reports them.
pub(crate) fn preset_layer(user: &Figment) -> Value {
    let mut chains = Map::new();
    let mut tokens = Map::new();
    for (key, family, network) in chosen_networks(user) {
        let Some(preset) = preset(&family, &network) else {
            continue;
        };
        let mut chain = json!({
            "chain_id": preset.chain_id,
            "display_name": preset.display_name,
            "explorer_tx_url": preset.explorer_tx_url,
        });
        if let (Some(finality), Some(fields)) = (preset.finality, chain.as_object_mut()) {
            fields.insert("finality".into(), json!(finality));
        }
        chains.insert(key.clone(), chain);
        for token in preset.tokens {
            let mut fields = Map::new();
            fields.insert("decimals".into(), json!(token.decimals));
            if let Some(contract) = token.contract {
                fields.insert("contract".into(), json!(contract));
            }
            tokens.insert(format!("{key}_{}", token.asset), Value::Object(fields));
        }
    }
    json!({ "chains": chains, "tokens": tokens })
}

/// `(chain key, family, network)` for every chain whose `network` is set to a string.
fn chosen_networks(user: &Figment) -> Vec<(String, String, String)> {
    let Ok(chains) = user.find_value("chains") else {
        return Vec::new();
    };
    let Some(chains) = chains.into_dict() else {
        return Vec::new();
    };
    chains
        .into_iter()
        .filter_map(|(key, chain)| {
            let network = chain.find_ref("network")?.as_str()?.to_owned();
            let family = chain
                .find_ref("family")
                .and_then(|family| family.as_str())
                .unwrap_or("evm")
                .to_owned();
            Some((key, family, network))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wcheckout_domain::address::{Address, ChainFamily};

    #[test]
    fn preset_contracts_are_addresses_of_their_family() {
        for network in &NETWORKS {
            let family = ChainFamily::parse(network.family).unwrap();
            for token in network.tokens {
                if let Some(contract) = token.contract {
                    assert!(Address::parse(family, contract).is_ok(), "{contract}");
                }
            }
        }
        assert_eq!(
            preset("evm", "sepolia").map(|p| p.chain_id),
            Some(11_155_111)
        );
        assert_eq!(
            preset("tron", "mainnet").map(|p| p.chain_id),
            Some(0x2b66_53dc)
        );
        assert!(preset("evm", "goerli").is_none());
        assert!(preset("evm", "nile").is_none());
        assert_eq!(preset_names("evm"), "mainnet or sepolia");
        assert_eq!(preset_names("tron"), "mainnet or nile");
        assert_eq!(preset_names("solana"), "mainnet or devnet");
        assert!(preset("solana", "nile").is_none());
    }
}
