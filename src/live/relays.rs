//! Every bundle to every configured relay: one `BundleSink` over several relay clients. A bundle is
//! out when at least one relay took it (its hash is the one the first taker returned); a relay that
//! refused or could not be reached is logged with its URL (without credentials).

use alloy_primitives::B256;

use crate::execution::bundle_manager::BundleSink;
use crate::relay::RelayClient;
use crate::relay::rpc::SendBundleParams;

pub struct Relays {
    relays: Vec<(String, RelayClient)>,
}

impl Relays {
    /// Clients for `urls` (http:// or https://), each signing with the relay-auth key `auth` loads.
    pub fn connect(urls: &[String], auth: &crate::chain::keys::KeySource) -> Result<Self, String> {
        let mut relays = Vec::with_capacity(urls.len());
        for url in urls {
            let key = auth.load().map_err(|e| format!("keys.relay_auth: {e}"))?;
            let client = RelayClient::connect(url, key)?;
            relays.push((crate::chain::rpc::redact(url), client));
        }
        Ok(Relays { relays })
    }
}

impl BundleSink for Relays {
    fn send(&mut self, p: &SendBundleParams) -> Result<B256, String> {
        let mut taken = None;
        let mut refusals = Vec::new();
        for (url, client) in &mut self.relays {
            match client.send_bundle(p) {
                Ok(h) => taken = taken.or(Some(h)),
                Err(e) => {
                    tracing::warn!(target: "xcrack::live", relay = %url, error = %e, "bundle refused");
                    refusals.push(format!("{url}: {e}"));
                }
            }
        }
        taken.ok_or_else(|| refusals.join("; "))
    }

    fn cancel(&mut self, replacement_uuid: &str) -> Result<(), String> {
        let mut errors = Vec::new();
        for (url, client) in &mut self.relays {
            if let Err(e) = client.cancel_bundle(replacement_uuid) {
                errors.push(format!("{url}: {e}"));
            }
        }
        if errors.len() == self.relays.len() && !errors.is_empty() { Err(errors.join("; ")) } else { Ok(()) }
    }
}
