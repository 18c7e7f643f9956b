//! Flashbots request authentication: `X-Flashbots-Signature: <address>:<0x 65-byte signature>`, the
//! signature being EIP-191 `personal_sign` over the ASCII text `"0x" + hex(keccak256(body))` of the
//! raw body bytes as sent.

use alloy_primitives::{Address, Signature, hex, keccak256};

use crate::chain::Wallet;

pub const HEADER: &str = "X-Flashbots-Signature";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing X-Flashbots-Signature header")]
    Missing,
    #[error("malformed X-Flashbots-Signature header: {0}")]
    Malformed(String),
    #[error("signature does not match the signing address {claimed} (recovered {recovered})")]
    Mismatch { claimed: Address, recovered: Address },
}

/// The text that is signed for `body`.
pub fn message(body: &[u8]) -> String {
    format!("0x{}", hex::encode(keccak256(body)))
}

/// The header value for `body` signed by `wallet`.
pub fn sign(wallet: &Wallet, body: &[u8]) -> Result<String, alloy_signer::Error> {
    let sig = wallet.sign_message(message(body).as_bytes())?;
    Ok(format!("{}:0x{}", wallet.address(), hex::encode(sig.as_bytes())))
}

/// Verifies a header value against the raw body; returns the signing address.
pub fn verify(header: Option<&str>, body: &[u8]) -> Result<Address, AuthError> {
    let header = header.ok_or(AuthError::Missing)?;
    let (addr, sig) = header.split_once(':').ok_or_else(|| AuthError::Malformed("no `:` separator".into()))?;
    let claimed: Address =
        addr.trim().parse().map_err(|_| AuthError::Malformed(format!("`{addr}` is not an address")))?;
    let bytes = hex::decode(sig.trim()).map_err(|_| AuthError::Malformed("signature is not hex".into()))?;
    if bytes.len() != 65 {
        return Err(AuthError::Malformed(format!("signature has {} bytes, not 65", bytes.len())));
    }
    // v may be 0/1 or 27/28; anything else is refused by `from_raw`.
    let sig = Signature::from_raw(&bytes).map_err(|e| AuthError::Malformed(format!("signature: {e}")))?;
    let recovered = sig
        .recover_address_from_msg(message(body).as_bytes())
        .map_err(|e| AuthError::Malformed(format!("unrecoverable signature: {e}")))?;
    // Address equality is byte equality: case in the hex text does not matter.
    if recovered != claimed {
        return Err(AuthError::Mismatch { claimed, recovered });
    }
    Ok(recovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_body_verifies_and_any_change_is_refused() {
        let w = Wallet::derived(1, "searcher");
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[]}"#;
        let h = sign(&w, body).unwrap();
        assert_eq!(verify(Some(&h), body), Ok(w.address()));
        // Lower-case address text and v as 0/1 are accepted too.
        let (addr, sig) = h.split_once(':').unwrap();
        let mut raw = hex::decode(sig).unwrap();
        raw[64] -= 27;
        let alt = format!("{}:0x{}", addr.to_lowercase(), hex::encode(&raw));
        assert_eq!(verify(Some(&alt), body), Ok(w.address()));
        // Another body, another signer, garbage.
        assert!(matches!(verify(Some(&h), b"{}"), Err(AuthError::Mismatch { .. })));
        let other = Wallet::derived(2, "other");
        let forged = format!("{}:{}", other.address(), sig);
        assert!(matches!(verify(Some(&forged), body), Err(AuthError::Mismatch { .. })));
        assert_eq!(verify(None, body), Err(AuthError::Missing));
        assert!(matches!(verify(Some("nocolon"), body), Err(AuthError::Malformed(_))));
        assert!(matches!(verify(Some(&format!("{addr}:0x1234")), body), Err(AuthError::Malformed(_))));
        raw[64] = 5;
        assert!(matches!(verify(Some(&format!("{addr}:0x{}", hex::encode(&raw))), body), Err(AuthError::Malformed(_))));
    }
}
