//! Which address a request comes from, for the rate limit.
//!
//! The peer address, unless the peer is a trusted proxy (`FARMLOKAL_TRUSTED_PROXIES`): then the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy. Entries left of it were written by the client and
//! prove nothing. `X-Real-IP`, `Forwarded` and any `X-Forwarded-For` from an untrusted peer are ignored, which
//! is why `poem::web::RealIp` (it believes them all) is not used. A request built in process (no connection)
//! has the peer `HttpSettings::in_process_client` names, so tests see what a client on a port would.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use poem::{Addr, Request};

/// The header proxies append the address they received a request from to.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client address of `request`. Its peer is the connection's address; a request built in memory (poem's
/// default `Addr::Custom`, as `TestClient` sends) has `in_process` as its peer. `None` when there is no peer
/// address: a Unix socket, or a request built in memory while `in_process` is `None`.
pub fn of_request(request: &Request, trusted_proxies: &[IpNet], in_process: Option<IpAddr>) -> Option<IpAddr> {
    let peer = match &request.remote_addr().0 {
        Addr::SocketAddr(address) => address.ip(),
        Addr::Custom(..) => in_process?,
        #[cfg(unix)]
        Addr::Unix(_) => return None,
    };
    // A header value that is not text cannot be parsed: it stands for one unparsable entry, which stops the walk.
    let forwarded = request.headers().get_all(X_FORWARDED_FOR).iter().map(|v| v.to_str().unwrap_or(""));
    Some(client_ip(peer, forwarded, trusted_proxies))
}

/// The client address given the peer, the `X-Forwarded-For` header values in order, and the trusted proxies.
///
/// The values are joined as one comma-separated list and walked right to left while each entry is a trusted
/// proxy; the first entry that is not is the client. When every entry is trusted, the left-most is. An entry
/// that is not an address (or `address:port`) stops the walk: the last address read (or the peer) is the
/// client, since nothing trusted vouches for what lies left of it.
pub fn client_ip<'a>(peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let values: Vec<&str> = forwarded_for.into_iter().collect();
    let mut client = peer;
    for entry in values.iter().rev().flat_map(|value| value.rsplit(',')) {
        let Some(address) = parse_entry(entry) else { return client };
        client = address;
        if !is_trusted(address, trusted) {
            return address;
        }
    }
    client
}

fn is_trusted(address: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&address))
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (`1.2.3.4:5`, `[2001:db8::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let address = entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("test CIDR")).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("203.0.113.9"), ["1.1.1.1"], &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("203.0.113.9"), [], &[]), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        assert_eq!(client_ip(ip("10.0.0.1"), [], &nets(&["10.0.0.0/8"])), ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        let chain = ["6.6.6.6, 1.1.1.1, 10.0.0.7, 10.0.0.8"];
        assert_eq!(client_ip(ip("10.0.0.1"), chain, &trusted), ip("1.1.1.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), ["1.1.1.1, 2.2.2.2"], &trusted), ip("2.2.2.2"));
    }

    #[test]
    fn several_headers_are_one_list_in_order() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.1"), ["1.1.1.1", "2.2.2.2, 10.0.0.3"], &trusted), ip("2.2.2.2"));
        assert_eq!(client_ip(ip("10.0.0.1"), ["1.1.1.1, 2.2.2.2", "10.0.0.3"], &trusted), ip("2.2.2.2"));
    }

    #[test]
    fn when_every_entry_is_trusted_the_left_most_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.1"), ["10.0.0.5, 10.0.0.6"], &trusted), ip("10.0.0.5"));
    }

    #[test]
    fn an_unparsable_entry_stops_the_walk_at_the_last_good_address() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.1"), ["1.1.1.1, garbage, 10.0.0.6"], &trusted), ip("10.0.0.6"));
        assert_eq!(client_ip(ip("10.0.0.1"), ["1.1.1.1, unknown"], &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), ["1.1.1.1,"], &trusted), ip("10.0.0.1"), "an empty entry");
        assert_eq!(client_ip(ip("10.0.0.1"), ["1.1.1.1", ""], &trusted), ip("10.0.0.1"), "an unreadable value");
    }

    #[test]
    fn entries_with_ports_and_ipv6_are_read() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(client_ip(ip("fd00::1"), ["[2001:db8::5]:443, fd00::2"], &trusted), ip("2001:db8::5"));
        assert_eq!(client_ip(ip("10.0.0.1"), ["1.2.3.4:5678"], &trusted), ip("1.2.3.4"));
    }

    #[test]
    fn a_request_built_in_process_comes_from_the_in_process_address_if_one_is_set() {
        let request = Request::builder().header(X_FORWARDED_FOR, "1.1.1.1").finish();
        let localhost = Some(ip("127.0.0.1"));
        assert_eq!(of_request(&request, &[], localhost), localhost);
        assert_eq!(of_request(&request, &nets(&["127.0.0.0/8"]), localhost), Some(ip("1.1.1.1")));
        assert_eq!(of_request(&request, &[], None), None);
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_proxies() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("::ffff:10.0.0.1"), ["::ffff:10.0.0.2, 3.3.3.3"], &trusted), ip("3.3.3.3"));
        assert_eq!(client_ip(ip("::ffff:10.0.0.1"), ["3.3.3.3, ::ffff:10.0.0.2"], &trusted), ip("3.3.3.3"));
    }
}
