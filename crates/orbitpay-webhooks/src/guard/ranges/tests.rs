use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

fn refused(ip: IpAddr) -> bool {
    refused_by(ip).is_some()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn row(net: &str) -> &'static Block {
    let net: IpNet = net.parse().unwrap();
    blocks()
        .find(|b| b.net == net)
        .unwrap_or_else(|| panic!("{net} is not in the table"))
}

/// One test per row: the block's first and last addresses and `refuses` are refused; `allows`
/// pass (the public neighbours just outside, and for an embedding, a public address inside).
macro_rules! block_tests {
    ($($test:ident: $net:literal refuses [$($inside:literal),*] allows [$($outside:literal),*];)*) => {
        $(
            #[test]
            fn $test() {
                let block = row($net);
                for a in [block.net.network(), block.net.broadcast() $(, ip($inside))*] {
                    assert!(refused(a), "{a} is in {block} and must be refused");
                }
                let outside: Vec<IpAddr> = vec![$(ip($outside)),*];
                for a in outside {
                    assert!(!refused(a), "{a} must pass (beside {block}): {:?}", refused_by(a));
                }
            }
        )*

        const TESTED: &[&str] = &[$($net),*];
    };
}

block_tests! {
    this_network: "0.0.0.0/8" refuses ["0.1.2.3"] allows ["1.0.0.0"];
    this_host: "0.0.0.0/32" refuses [] allows [];
    private_10: "10.0.0.0/8" refuses ["10.1.2.3"] allows ["9.255.255.255", "11.0.0.0"];
    shared_address_space: "100.64.0.0/10" refuses ["100.100.0.1"] allows ["100.63.255.255", "100.128.0.0"];
    loopback_v4: "127.0.0.0/8" refuses ["127.0.0.1"] allows ["126.255.255.255", "128.0.0.0"];
    link_local_v4: "169.254.0.0/16" refuses ["169.254.169.254"] allows ["169.253.255.255", "169.255.0.0"];
    private_172: "172.16.0.0/12" refuses ["172.20.0.1"] allows ["172.15.255.255", "172.32.0.0"];
    ietf_protocol_assignments_v4: "192.0.0.0/24" refuses ["192.0.0.100"] allows ["191.255.255.255", "192.0.1.0"];
    ipv4_service_continuity: "192.0.0.0/29" refuses ["192.0.0.1"] allows [];
    ipv4_dummy: "192.0.0.8/32" refuses [] allows [];
    pcp_anycast_v4: "192.0.0.9/32" refuses [] allows [];
    turn_anycast_v4: "192.0.0.10/32" refuses [] allows [];
    nat64_discovery_170: "192.0.0.170/32" refuses [] allows [];
    nat64_discovery_171: "192.0.0.171/32" refuses [] allows [];
    test_net_1: "192.0.2.0/24" refuses ["192.0.2.1"] allows ["192.0.1.255", "192.0.3.0"];
    as112_v4: "192.31.196.0/24" refuses ["192.31.196.1"] allows ["192.31.195.255", "192.31.197.0"];
    amt_v4: "192.52.193.0/24" refuses ["192.52.193.1"] allows ["192.52.192.255", "192.52.194.0"];
    six_to_four_relay_anycast: "192.88.99.0/24" refuses ["192.88.99.1"] allows ["192.88.98.255", "192.88.100.0"];
    six_a44_relay_anycast: "192.88.99.2/32" refuses [] allows [];
    private_192_168: "192.168.0.0/16" refuses ["192.168.1.1"] allows ["192.167.255.255", "192.169.0.0"];
    as112_direct_delegation_v4: "192.175.48.0/24" refuses ["192.175.48.6"] allows ["192.175.47.255", "192.175.49.0"];
    benchmarking_v4: "198.18.0.0/15" refuses ["198.19.1.1"] allows ["198.17.255.255", "198.20.0.0"];
    test_net_2: "198.51.100.0/24" refuses ["198.51.100.1"] allows ["198.51.99.255", "198.51.101.0"];
    test_net_3: "203.0.113.0/24" refuses ["203.0.113.1"] allows ["203.0.112.255", "203.0.114.0"];
    multicast_v4: "224.0.0.0/4" refuses ["224.0.0.1"] allows ["223.255.255.255"];
    reserved_v4: "240.0.0.0/4" refuses ["250.1.2.3"] allows [];
    limited_broadcast: "255.255.255.255/32" refuses [] allows [];

    loopback_v6: "::1/128" refuses [] allows [];
    unspecified_v6: "::/128" refuses [] allows [];
    ipv4_mapped: "::ffff:0:0/96" refuses ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:198.18.0.1"] allows ["::ffff:8.8.8.8"];
    nat64_well_known: "64:ff9b::/96" refuses ["64:ff9b::a9fe:a9fe", "64:ff9b::10.1.1.1", "64:ff9b::192.0.0.1"] allows ["64:ff9b::808:808"];
    nat64_local_use: "64:ff9b:1::/48" refuses ["64:ff9b:1::808:808", "64:ff9b:1:808:800::"] allows [];
    discard_only: "100::/64" refuses ["100::1"] allows [];
    dummy_prefix: "100:0:0:1::/64" refuses ["100::1:0:0:0:1"] allows [];
    ietf_protocol_assignments_v6: "2001::/23" refuses ["2001:100::1"] allows ["2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:200::"];
    // Server 65.54.227.120 (public); the client is the last 32 bits inverted.
    teredo: "2001::/32" refuses ["2001:0:4136:e378:8000:63bf:f5ff:fffe", "2001:0:a00:1:8000:63bf:f7f7:f7f7", "2001:0:4136:e378:8000:63bf:80ff:fffe"] allows ["2001:0:4136:e378:8000:63bf:f7f7:f7f7"];
    pcp_anycast_v6: "2001:1::1/128" refuses [] allows [];
    turn_anycast_v6: "2001:1::2/128" refuses [] allows [];
    dns_sd_srp_anycast: "2001:1::3/128" refuses [] allows [];
    benchmarking_v6: "2001:2::/48" refuses ["2001:2::1"] allows [];
    amt_v6: "2001:3::/32" refuses ["2001:3::1"] allows [];
    as112_v6: "2001:4:112::/48" refuses ["2001:4:112::1"] allows [];
    orchid: "2001:10::/28" refuses ["2001:10::1"] allows [];
    orchid_v2: "2001:20::/28" refuses ["2001:20::1"] allows [];
    drone_remote_id: "2001:30::/28" refuses ["2001:30::1"] allows [];
    documentation_v6: "2001:db8::/32" refuses ["2001:db8::1"] allows ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"];
    // 6to4 carries a.b.c.d in its second and third groups, whatever follows.
    six_to_four: "2002::/16" refuses ["2002:a00:1::", "2002:7f00:1::1", "2002:c0a8:101:1::1", "2002:a9fe:a9fe::"] allows ["2002:808:808::", "2002:808:808:1:2:3:4:5", "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2003::"];
    as112_direct_delegation_v6: "2620:4f:8000::/48" refuses ["2620:4f:8000::1"] allows ["2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", "2620:4f:8001::"];
    documentation_3fff: "3fff::/20" refuses ["3fff:fff::1"] allows ["3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "3fff:1000::"];
    srv6_sids: "5f00::/16" refuses ["5f00:1:1::1"] allows [];
    unique_local: "fc00::/7" refuses ["fd12:3456::1"] allows [];
    link_local_v6: "fe80::/10" refuses ["fe80::1"] allows [];
    ipv4_compatible: "::/96" refuses ["::127.0.0.2", "::10.0.0.1"] allows ["::8.8.8.8"];
    site_local: "fec0::/10" refuses ["fec0::1"] allows [];
    multicast_v6: "ff00::/8" refuses ["ff02::1"] allows [];
    reserved_0000: "::/8" refuses ["::1:0:0:1", "ff:ffff::"] allows [];
    reserved_0100: "100::/8" refuses ["1ff::1"] allows [];
    reserved_0200: "200::/7" refuses ["200::1"] allows [];
    reserved_0400: "400::/6" refuses ["400::1"] allows [];
    reserved_0800: "800::/5" refuses ["800::1"] allows [];
    reserved_1000: "1000::/4" refuses ["1000::1"] allows ["2000::"];
    reserved_4000: "4000::/3" refuses ["4000::1"] allows ["3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"];
    reserved_6000: "6000::/3" refuses ["6000::1"] allows [];
    reserved_8000: "8000::/3" refuses ["8000::1"] allows [];
    reserved_a000: "a000::/3" refuses ["a000::1"] allows [];
    reserved_c000: "c000::/3" refuses ["c000::1"] allows [];
    reserved_e000: "e000::/4" refuses ["e000::1"] allows [];
    reserved_f000: "f000::/5" refuses ["f000::1"] allows [];
    reserved_f800: "f800::/6" refuses ["f800::1"] allows [];
    reserved_fe00: "fe00::/9" refuses ["fe00::1"] allows [];
}

#[test]
fn every_row_of_the_table_has_its_test() {
    let tested: BTreeSet<IpNet> = TESTED.iter().map(|n| n.parse().unwrap()).collect();
    let table: Vec<IpNet> = blocks().map(|b| b.net).collect();
    let rows: BTreeSet<IpNet> = table.iter().copied().collect();
    assert_eq!(rows.len(), table.len(), "a block is listed twice");
    assert_eq!(tested, rows);
}

#[test]
fn the_ipv4_table_refuses_every_row_and_names_the_refusing_block() {
    assert!(V4_BLOCKS.iter().all(|b| b.usage == Refused));
    // An embedding is refused by the IPv4 block of what it carries.
    assert_eq!(
        refused_by(ip("2002:c612:1::")).unwrap().to_string(),
        "198.18.0.0/15 Benchmarking, RFC 2544"
    );
    assert_eq!(
        refused_by(ip("192.0.0.9")).unwrap().name,
        "Port Control Protocol Anycast"
    );
}

#[test]
fn public_addresses_pass() {
    for s in [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "2606:4700:4700::1111",
        "2a00:1450::1",
    ] {
        assert!(!refused(ip(s)), "{s}");
    }
}

/// An IPv6 address carrying `v4` in each embedding the table decodes; `noise` fills the bits
/// the embedding leaves free.
fn embeddings(v4: u32, noise: u128) -> Vec<Ipv6Addr> {
    let v4 = u128::from(v4);
    let teredo_server = u128::from(u32::from(Ipv4Addr::new(65, 54, 227, 120)));
    let mut out = vec![
        0xffff_0000_0000 | v4,
        0x0064_ff9b << 96 | v4,
        0x2002 << 112 | v4 << 80 | (noise & ((1 << 80) - 1)),
        0x2001_0000 << 96 | teredo_server << 64 | (noise & 0xffff_ffff) << 32 | (!v4 & 0xffff_ffff),
    ];
    if v4 > 1 {
        // IPv4-compatible, apart from :: and ::1.
        out.push(v4);
    }
    out.into_iter().map(Ipv6Addr::from_bits).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn an_embedded_ipv4_address_is_judged_as_that_address(v4 in any::<u32>(), noise in any::<u128>()) {
        let expected = refused(Ipv4Addr::from_bits(v4).into());
        for v6 in embeddings(v4, noise) {
            prop_assert_eq!(refused(v6.into()), expected, "{} carries {}", v6, Ipv4Addr::from_bits(v4));
        }
    }

    /// The reference is the standard library's own classification: nothing it calls special is
    /// let through.
    #[test]
    fn every_address_the_standard_library_calls_special_is_refused(v4 in any::<u32>(), v6 in any::<u128>(), top in prop::sample::select(vec![0xfc00u16, 0xfd00, 0xfe80, 0xfebf, 0xff02, 0])) {
        let a = Ipv4Addr::from_bits(v4);
        if a.is_private() || a.is_loopback() || a.is_link_local() || a.is_multicast()
            || a.is_broadcast() || a.is_documentation() || a.is_unspecified()
        {
            prop_assert!(refused(a.into()), "{}", a);
        }
        for b in [Ipv6Addr::from_bits(v6), Ipv6Addr::from_bits(u128::from(top) << 112 | v6 >> 16)] {
            if b.is_loopback() || b.is_unspecified() || b.is_multicast() || b.is_unique_local()
                || b.is_unicast_link_local()
            {
                prop_assert!(refused(b.into()), "{}", b);
            }
        }
    }

    /// Outside 2000::/3 only an address that carries a public IPv4 one passes.
    #[test]
    fn outside_global_unicast_only_embeddings_of_public_ipv4_pass(v6 in prop_oneof![
        any::<u128>(),
        any::<u32>().prop_map(u128::from),
        any::<u32>().prop_map(|v4| 0xffff_0000_0000 | u128::from(v4)),
        any::<u32>().prop_map(|v4| 0x0064_ff9b << 96 | u128::from(v4)),
    ]) {
        let a = Ipv6Addr::from_bits(v6);
        prop_assume!(v6 >> 125 != 0b001);
        let carried = if v6 >> 32 == 0xffff || v6 >> 32 == 0x0064_ff9b_0000_0000_0000_0000 || (v6 >> 32 == 0 && v6 > 1) {
            Some(Ipv4Addr::from_bits(v6 as u32))
        } else {
            None
        };
        let expected = carried.is_none_or(|v4| refused(v4.into()));
        prop_assert_eq!(refused(a.into()), expected, "{}", a);
    }
}
