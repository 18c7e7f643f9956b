//! Keys and signed transactions. A wallet's key is derived from the scenario seed and a name (never
//! read from a file in simulation, never logged); transactions are EIP-1559, signed with alloy and
//! encoded exactly as a node or relay receives them (EIP-2718).

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;

/// A signing account with a local nonce counter.
pub struct Wallet {
    signer: PrivateKeySigner,
    /// The same key for libsecp256k1, which signs transactions several times faster.
    secret: secp256k1::SecretKey,
    pub nonce: u64,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Wallet").field("address", &self.address()).field("nonce", &self.nonce).finish()
    }
}

/// What to sign: an EIP-1559 call.
#[derive(Debug, Clone)]
pub struct TxRequest {
    pub chain_id: u64,
    pub to: Address,
    pub data: Bytes,
    pub value: U256,
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

impl Wallet {
    /// A deterministic key for simulations: keccak(seed ‖ name), re-hashed until it is a valid scalar.
    pub fn derived(seed: u64, name: &str) -> Self {
        let mut material = keccak256([seed.to_be_bytes().as_slice(), name.as_bytes()].concat());
        loop {
            if let (Ok(signer), Ok(secret)) =
                (PrivateKeySigner::from_bytes(&material), secp256k1::SecretKey::from_byte_array(&material.0))
            {
                return Wallet { signer, secret, nonce: 0 };
            }
            material = keccak256(material);
        }
    }

    /// A wallet for a real key (`chain::keys`); `None` when the bytes are not a valid scalar.
    pub fn from_secret(bytes: [u8; 32]) -> Option<Self> {
        let signer = PrivateKeySigner::from_bytes(&B256::from(bytes)).ok()?;
        let secret = secp256k1::SecretKey::from_byte_array(&bytes).ok()?;
        Some(Wallet { signer, secret, nonce: 0 })
    }

    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// EIP-191 `personal_sign` of `message` (what Flashbots' auth header carries).
    /// On libsecp256k1 like transactions (the relay-auth header is signed for every bundle sent);
    /// the same deterministic (RFC 6979, low-s) signature the pure-Rust signer makes.
    pub fn sign_message(&self, message: &[u8]) -> Result<alloy_primitives::Signature, alloy_signer::Error> {
        let digest = secp256k1::Message::from_digest(alloy_primitives::eip191_hash_message(message).0);
        let (recid, rs) = secp256k1::SECP256K1.sign_ecdsa_recoverable(&digest, &self.secret).serialize_compact();
        Ok(alloy_primitives::Signature::from_bytes_and_parity(&rs, i32::from(recid) != 0))
    }

    /// Signs `req` with the next nonce and returns the raw EIP-2718 bytes and the transaction hash.
    pub fn sign(&mut self, req: &TxRequest) -> Result<(Bytes, B256), alloy_signer::Error> {
        let tx = TxEip1559 {
            chain_id: req.chain_id,
            nonce: self.nonce,
            gas_limit: req.gas_limit,
            max_fee_per_gas: req.max_fee_per_gas,
            max_priority_fee_per_gas: req.max_priority_fee_per_gas,
            to: TxKind::Call(req.to),
            value: req.value,
            access_list: Default::default(),
            input: req.data.clone(),
        };
        let digest = secp256k1::Message::from_digest(tx.signature_hash().0);
        let (recid, rs) = secp256k1::SECP256K1.sign_ecdsa_recoverable(&digest, &self.secret).serialize_compact();
        let signature = alloy_primitives::Signature::from_bytes_and_parity(&rs, i32::from(recid) != 0);
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        self.nonce += 1;
        Ok((envelope.encoded_2718().into(), *envelope.tx_hash()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn message_signatures_are_the_pure_rust_signers_to_the_byte() {
        use alloy_signer::SignerSync;
        let w = super::Wallet::derived(3, "signing/message");
        for m in [&b""[..], b"0xabc", &[7u8; 300][..]] {
            assert_eq!(w.sign_message(m).unwrap(), w.signer.sign_message_sync(m).unwrap());
        }
    }
}
