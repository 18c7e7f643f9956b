//! The relay client over HTTPS, as it will reach a real relay: our relay serves TLS on loopback with
//! a certificate from a CA made for this run. A client trusting that CA sends a signed bundle and
//! cancels it (the relay verifies X-Flashbots-Signature over the same bytes); a client trusting
//! only the public roots refuses the certificate before anything is sent; a name the certificate
//! does not carry is refused too.

use std::sync::{Arc, Mutex};

use alloy_primitives::{Bytes, U256};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use xcrack::chain::simchain::actor;
use xcrack::chain::{SimChain, TxRequest, Wallet};
use xcrack::relay::rpc::SendBundleParams;
use xcrack::relay::{Relay, RelayClient, RelayError, RelayServer, chain_port};

/// (server config, a client config trusting only the run's CA).
fn tls() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "xcrack relay test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf = leaf.signed_by(&key, &ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

#[test]
fn bundles_reach_a_relay_over_verified_https_only() {
    let mut chain = SimChain::new(1);
    let mut searcher = Wallet::derived(42, "searcher");
    chain.set_balance(searcher.address(), U256::from(10u128.pow(19)));
    chain.advance_block(1_700_000_012, 10_000_000_000, actor("builder"));
    let relay = Arc::new(Mutex::new(Relay::new(&chain, 12)));
    let (port, _inbox) = chain_port();
    let (server_tls, client_tls) = tls();
    let server = RelayServer::start_tls(relay.clone(), port, "127.0.0.1:0".parse().unwrap(), server_tls).unwrap();
    let url = format!("https://localhost:{}/", server.addr().port());

    let req = TxRequest {
        chain_id: 1,
        to: actor("someone"),
        data: Bytes::new(),
        value: U256::from(1u8),
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
    };
    let (raw, _) = searcher.sign(&req).unwrap();
    let mut p = SendBundleParams::for_block(vec![raw], chain.block_number() + 1);
    p.replacement_uuid = Some("tls-test".into());

    // Trusting the run's CA: sent, signed, accepted; then cancelled.
    let mut client = RelayClient::connect(&url, Wallet::derived(7, "flashbots-auth")).unwrap().with_tls(client_tls);
    let hash = client.send_bundle(&p).expect("the relay took the bundle over HTTPS");
    assert_ne!(hash, alloy_primitives::B256::ZERO);
    assert_eq!(relay.lock().unwrap().pending_count(), 1, "the relay holds it (its signature verified)");
    client.cancel_bundle("tls-test").unwrap();
    assert_eq!(relay.lock().unwrap().pending_count(), 0, "cancelled over HTTPS");

    // Only the public roots: the certificate is refused before a request is sent.
    let mut stranger = RelayClient::connect(&url, Wallet::derived(8, "other-auth")).unwrap();
    match stranger.send_bundle(&p) {
        Err(RelayError::Http(e)) => {
            let m = e.to_string();
            assert!(m.contains("TLS") && m.to_lowercase().contains("certificate"), "{m}");
        }
        other => panic!("an unknown issuer must be refused: {other:?}"),
    }
    assert_eq!(relay.lock().unwrap().pending_count(), 0, "nothing reached the relay");

    // A name the certificate does not carry: refused even with the CA trusted.
    let (_, other_ca) = tls();
    let wrong = format!("https://127.0.0.1:{}/", server.addr().port());
    let mut c = RelayClient::connect(&wrong, Wallet::derived(9, "auth")).unwrap().with_tls(other_ca);
    assert!(matches!(c.send_bundle(&p), Err(RelayError::Http(_))));
    assert!(RelayClient::connect("wss://localhost:1/", Wallet::derived(9, "auth")).is_err());
}
