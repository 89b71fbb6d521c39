//! The client address behind `X-Forwarded-For`, and the key the listener counts connections under: any peer,
//! header values and trusted proxies give an address without a panic; an untrusted peer is always the client
//! (its header is ignored); the client is the peer or an address written in the header; and the counting key
//! of an address is its own key.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use arbitrary::Arbitrary;
use farmlokal::api::client_ip::client_ip;
use farmlokal::api::connection_limits::client_key;
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    peer: IpAddr,
    forwarded_for: Vec<String>,
    trusted: Vec<(IpAddr, u8)>,
    trust_peer: bool,
}

fuzz_target!(|input: Input| {
    let mut trusted: Vec<IpNet> =
        input.trusted.iter().filter_map(|(address, prefix)| IpNet::new(*address, prefix % 129).ok()).collect();
    let peer = input.peer.to_canonical();
    if input.trust_peer {
        trusted.push(IpNet::from(peer));
    }
    let is_trusted = |address: IpAddr| trusted.iter().any(|net| net.contains(&address));

    let client = client_ip(input.peer, input.forwarded_for.iter().map(String::as_str), &trusted);

    if !is_trusted(peer) {
        assert_eq!(client, peer, "an untrusted peer's header was believed");
    } else if client != peer {
        let written = input.forwarded_for.iter().flat_map(|v| v.split(',')).filter_map(address_in).any(|a| a == client);
        assert!(written, "{client} is neither the peer nor in the header {:?}", input.forwarded_for);
    }

    let key = client_key(client);
    assert_eq!(client_key(key), key, "a counting key is its own key");
});

/// The address an `X-Forwarded-For` entry names: an address, or an address with a port.
fn address_in(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let address = entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(address.to_canonical())
}
