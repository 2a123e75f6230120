//! The address blocks a webhook must not reach, in one table per family: every entry of IANA's
//! IPv4 and IPv6 Special-Purpose Address Registries (row for row, nested entries included, so
//! the table can be audited against them), multicast, and the IPv6 space outside 2000::/3
//! that IANA's IPv6 Address Space registry keeps reserved.
//!
//! Entries the registries call globally reachable (the AS112, AMT, PCP and TURN anycast
//! blocks, ORCHIDv2, SRv6 SIDs) are refused as well: no merchant's server lives there, so a
//! refusal costs nothing, and judging each one's reachability is how a guard grows holes.
//!
//! Five IPv6 blocks carry an IPv4 address that the packet ends up at: IPv4-mapped,
//! IPv4-compatible, the NAT64 well-known prefix, 6to4 and Teredo. Those are decoded and judged
//! by the IPv4 table, so `::ffff:10.0.0.1` and `2002:a00:1::` are refused as `10.0.0.1` is,
//! and a public address in any of them passes as that address would. The local-use NAT64
//! prefix (64:ff9b:1::/48) is refused whole instead: where an IPv4 address sits in it depends on
//! a prefix length only the operator's translator knows (RFC 6052 §2.2), and whatever it
//! reaches goes through that operator's network.
//!
//! A block inside another is judged by the most specific one (Teredo inside 2001::/23, the
//! embeddings inside ::/8).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::IpNet;

/// What a block means for a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// No webhook goes there.
    Refused,
    /// It carries an IPv4 destination, judged by the IPv4 table.
    Embeds(Embedding),
}

/// Where an IPv6 block keeps the IPv4 address it leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// The last 32 bits (RFC 4291 §2.5.5, RFC 6052 §2.2 with a /96 prefix).
    Last32,
    /// `2002:AABB:CCDD::/48`: bits 16 to 47 (RFC 3056 §2).
    SixToFour,
    /// The Teredo server in bits 32 to 63, and the client (the destination) inverted in the
    /// last 32 (RFC 4380 §4). Both are judged: either one private is a way in.
    Teredo,
}

impl Embedding {
    /// The IPv4 addresses inside `ip`.
    pub fn decode(self, ip: Ipv6Addr) -> Vec<Ipv4Addr> {
        let bits = ip.to_bits();
        let at = |shift: u32| Ipv4Addr::from_bits((bits >> shift) as u32);
        match self {
            Embedding::Last32 => vec![at(0)],
            Embedding::SixToFour => vec![at(80)],
            Embedding::Teredo => vec![at(64), Ipv4Addr::from_bits(!(bits as u32))],
        }
    }
}

/// One row of the table.
#[derive(Debug)]
pub struct Block {
    pub net: IpNet,
    /// The registry's name for it.
    pub name: &'static str,
    pub rfc: &'static str,
    pub usage: Use,
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}, {}", self.net, self.name, self.rfc)
    }
}

use Embedding::*;
use Use::*;

/// (block, name, RFC, use)
type Row = (&'static str, &'static str, &'static str, Use);

/// IANA IPv4 Special-Purpose Address Registry, then multicast from the IPv4 Address Space
/// registry.
#[rustfmt::skip]
const V4: &[Row] = &[
    ("0.0.0.0/8", "\"This network\"", "RFC 791", Refused),
    ("0.0.0.0/32", "\"This host on this network\"", "RFC 1122", Refused),
    ("10.0.0.0/8", "Private-Use", "RFC 1918", Refused),
    ("100.64.0.0/10", "Shared Address Space", "RFC 6598", Refused),
    ("127.0.0.0/8", "Loopback", "RFC 1122", Refused),
    ("169.254.0.0/16", "Link Local", "RFC 3927", Refused),
    ("172.16.0.0/12", "Private-Use", "RFC 1918", Refused),
    ("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890", Refused),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", Refused),
    ("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", Refused),
    ("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", Refused),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", Refused),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 7050", Refused),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 7050", Refused),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", Refused),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535", Refused),
    ("192.52.193.0/24", "AMT", "RFC 7450", Refused),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", Refused),
    ("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", Refused),
    ("192.168.0.0/16", "Private-Use", "RFC 1918", Refused),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", Refused),
    ("198.18.0.0/15", "Benchmarking", "RFC 2544", Refused),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", Refused),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", Refused),
    ("224.0.0.0/4", "Multicast", "RFC 5771", Refused),
    ("240.0.0.0/4", "Reserved", "RFC 1112", Refused),
    ("255.255.255.255/32", "Limited Broadcast", "RFC 919", Refused),
];

/// IANA IPv6 Special-Purpose Address Registry, then the IPv4-compatible, site-local and
/// multicast blocks of RFC 4291 and RFC 3879, then what the IPv6 Address Space registry keeps
/// "Reserved by IETF" outside 2000::/3.
#[rustfmt::skip]
const V6: &[Row] = &[
    ("::1/128", "Loopback Address", "RFC 4291", Refused),
    ("::/128", "Unspecified Address", "RFC 4291", Refused),
    ("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", Embeds(Last32)),
    ("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", Embeds(Last32)),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local use)", "RFC 8215", Refused),
    ("100::/64", "Discard-Only Address Block", "RFC 6666", Refused),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", Refused),
    ("2001::/23", "IETF Protocol Assignments", "RFC 2928", Refused),
    ("2001::/32", "TEREDO", "RFC 4380", Embeds(Teredo)),
    ("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", Refused),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", Refused),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", Refused),
    ("2001:2::/48", "Benchmarking", "RFC 5180", Refused),
    ("2001:3::/32", "AMT", "RFC 7450", Refused),
    ("2001:4:112::/48", "AS112-v6", "RFC 7535", Refused),
    ("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", Refused),
    ("2001:20::/28", "ORCHIDv2", "RFC 7343", Refused),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", Refused),
    ("2001:db8::/32", "Documentation", "RFC 3849", Refused),
    ("2002::/16", "6to4", "RFC 3056", Embeds(SixToFour)),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", Refused),
    ("3fff::/20", "Documentation", "RFC 9637", Refused),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", Refused),
    ("fc00::/7", "Unique-Local", "RFC 4193", Refused),
    ("fe80::/10", "Link-Local Unicast", "RFC 4291", Refused),
    ("::/96", "IPv4-compatible Address (deprecated)", "RFC 4291", Embeds(Last32)),
    ("fec0::/10", "Site-Local (deprecated)", "RFC 3879", Refused),
    ("ff00::/8", "Multicast", "RFC 4291", Refused),
    ("::/8", "Reserved by IETF", "RFC 4291", Refused),
    ("100::/8", "Reserved by IETF", "RFC 4291", Refused),
    ("200::/7", "Reserved by IETF", "RFC 4048", Refused),
    ("400::/6", "Reserved by IETF", "RFC 4291", Refused),
    ("800::/5", "Reserved by IETF", "RFC 4291", Refused),
    ("1000::/4", "Reserved by IETF", "RFC 4291", Refused),
    ("4000::/3", "Reserved by IETF", "RFC 4291", Refused),
    ("6000::/3", "Reserved by IETF", "RFC 4291", Refused),
    ("8000::/3", "Reserved by IETF", "RFC 4291", Refused),
    ("a000::/3", "Reserved by IETF", "RFC 4291", Refused),
    ("c000::/3", "Reserved by IETF", "RFC 4291", Refused),
    ("e000::/4", "Reserved by IETF", "RFC 4291", Refused),
    ("f000::/5", "Reserved by IETF", "RFC 4291", Refused),
    ("f800::/6", "Reserved by IETF", "RFC 4291", Refused),
    ("fe00::/9", "Reserved by IETF", "RFC 4291", Refused),
];

fn parse(rows: &'static [Row]) -> Vec<Block> {
    rows.iter()
        .map(|&(net, name, rfc, usage)| Block {
            net: net.parse().expect("the table's blocks parse"),
            name,
            rfc,
            usage,
        })
        .collect()
}

static V4_BLOCKS: LazyLock<Vec<Block>> = LazyLock::new(|| parse(V4));
static V6_BLOCKS: LazyLock<Vec<Block>> = LazyLock::new(|| parse(V6));

/// Every row, IPv4 first.
pub fn blocks() -> impl Iterator<Item = &'static Block> {
    V4_BLOCKS.iter().chain(V6_BLOCKS.iter())
}

/// The most specific block holding `ip`.
fn most_specific(table: &'static [Block], ip: IpAddr) -> Option<&'static Block> {
    table
        .iter()
        .filter(|b| b.net.contains(&ip))
        .max_by_key(|b| b.net.prefix_len())
}

/// The block that refuses `ip`, if one does: for an address that carries an IPv4 one, the
/// IPv4 block that refuses what it carries.
pub fn refused_by(ip: IpAddr) -> Option<&'static Block> {
    match ip {
        IpAddr::V4(v4) => v4_refused_by(v4),
        IpAddr::V6(v6) => {
            let block = most_specific(&V6_BLOCKS, IpAddr::V6(v6))?;
            match block.usage {
                Refused => Some(block),
                Embeds(embedding) => embedding.decode(v6).into_iter().find_map(v4_refused_by),
            }
        }
    }
}

fn v4_refused_by(ip: Ipv4Addr) -> Option<&'static Block> {
    most_specific(&V4_BLOCKS, IpAddr::V4(ip))
}

#[cfg(test)]
mod tests;
