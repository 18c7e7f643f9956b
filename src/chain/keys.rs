//! Real keys, for fork and live mode: read from an environment variable (hex) or decrypted from an
//! encrypted JSON keystore (Web3 Secret Storage, as geth and foundry write it) whose password is in
//! an environment variable — never from argv or a committed file, never derived from a seed as
//! simulation keys are. No error, log line or `Debug` output carries key material: messages name
//! the variable or the file, never the value.

use std::path::PathBuf;

use super::signing::Wallet;

/// Where a key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable holding the key as 64 hex digits (an optional 0x).
    Env(String),
    /// An encrypted keystore file and the environment variable holding its password.
    Keystore { path: PathBuf, password_env: String },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env(var) => write!(f, "KeySource::Env({var})"),
            KeySource::Keystore { path, password_env } => {
                write!(f, "KeySource::Keystore({}, password in {password_env})", path.display())
            }
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the environment variable {0} is not set")]
    Unset(String),
    #[error("the environment variable {0} does not hold a private key (64 hex digits)")]
    NotAKey(String),
    #[error("{path}: {message}")]
    Keystore { path: String, message: String },
}

impl KeySource {
    /// The wallet the key signs for (nonce 0: the caller takes it from the chain).
    pub fn load(&self) -> Result<Wallet, KeyError> {
        match self {
            KeySource::Env(var) => {
                let text = std::env::var(var).map_err(|_| KeyError::Unset(var.clone()))?;
                let hex = text.trim().trim_start_matches("0x");
                let bytes: [u8; 32] = alloy_primitives::hex::decode(hex)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| KeyError::NotAKey(var.clone()))?;
                Wallet::from_secret(bytes).ok_or_else(|| KeyError::NotAKey(var.clone()))
            }
            KeySource::Keystore { path, password_env } => {
                let shown = path.display().to_string();
                let password = std::env::var(password_env).map_err(|_| KeyError::Unset(password_env.clone()))?;
                let signer = alloy_signer_local::PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| {
                    // The crate's messages name the failure (wrong password: a MAC mismatch), not the key.
                    KeyError::Keystore { path: shown.clone(), message: keystore_error(&e) }
                })?;
                Wallet::from_secret(signer.to_bytes().0)
                    .ok_or_else(|| KeyError::Keystore { path: shown, message: "not a secp256k1 key".into() })
            }
        }
    }
}

fn keystore_error(e: &alloy_signer_local::LocalSignerError) -> String {
    let m = e.to_string();
    if m.to_ascii_lowercase().contains("mac") {
        "cannot decrypt it: wrong password (or a corrupted file)".into()
    } else {
        format!("cannot read it as an encrypted keystore: {m}")
    }
}

/// Does `text` look like a private key itself (64 hex digits, optional 0x)? A config value that
/// does is refused: keys belong in the environment or a keystore, never in a file we read.
pub fn looks_like_a_key(text: &str) -> bool {
    let t = text.trim().trim_start_matches("0x");
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}
