//! The dev chain: the accounts of the standard test mnemonic, as anvil and hardhat print them.

use alloy_primitives::{Address, U256};
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};

use crate::{ChainSpec, GenesisAccount};

/// The mnemonic every Ethereum dev tool uses for its test accounts.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// How many dev accounts genesis funds.
pub const DEV_ACCOUNTS: u32 = 10;
/// 10 000 coins (18 decimals) per dev account.
pub const DEV_BALANCE: U256 = U256::from_limbs([0x19e0_c9ba_b240_0000, 0x21e, 0, 0]);

/// The signer at derivation path m/44'/60'/0'/0/`index` of [`DEV_MNEMONIC`].
pub fn dev_signer(index: u32) -> PrivateKeySigner {
    MnemonicBuilder::<English>::default()
        .phrase(DEV_MNEMONIC)
        .index(index)
        .and_then(|b| b.build())
        // The mnemonic is a valid constant and every index below 2^31 is derivable.
        .expect("dev mnemonic derivation is infallible for non-hardened indices")
}

/// The first `n` dev signers.
pub fn dev_signers(n: u32) -> Vec<PrivateKeySigner> {
    (0..n).map(dev_signer).collect()
}

/// A chain spec that funds the dev accounts, with the first one as block producer.
pub fn dev_chain_spec(chain_id: u64, gas_limit: u64, genesis_timestamp: u64) -> ChainSpec {
    let signers = dev_signers(DEV_ACCOUNTS);
    let alloc = signers
        .iter()
        .map(|s| (s.address(), GenesisAccount { balance: DEV_BALANCE, ..Default::default() }))
        .collect();
    ChainSpec {
        chain_id,
        gas_limit,
        genesis_timestamp,
        initial_base_fee: crate::chainspec::INITIAL_BASE_FEE,
        coinbase: Address::ZERO,
        alloc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    #[test]
    fn dev_accounts_match_anvil() {
        assert_eq!(dev_signer(0).address(), address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
        assert_eq!(dev_signer(1).address(), address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"));
        assert_eq!(dev_signer(9).address(), address!("a0Ee7A142d267C1f36714E4a8F75612F20a79720"));
        assert_eq!(
            dev_signer(0).to_bytes().to_string(),
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        );
    }

    #[test]
    fn dev_balance_is_ten_thousand_coins() {
        assert_eq!(DEV_BALANCE, U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18)));
    }
}
