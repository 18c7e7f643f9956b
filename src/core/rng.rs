//! One seeded generator per component, derived from the scenario seed and the component's name, so that
//! adding a venue never reshuffles another component's draws.

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

/// The generator every simulated component uses: named, portable, fast.
pub type SimRng = Xoshiro256PlusPlus;

/// FNV-1a over the name, mixed with the seed by splitmix64: stable across Rust versions and platforms
/// (unlike `DefaultHasher`).
pub fn component_rng(seed: u64, component: &str) -> SimRng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in component.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    SimRng::seed_from_u64(splitmix64(seed ^ splitmix64(h)))
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn same_name_same_stream_other_name_other_stream() {
        let a: u64 = component_rng(7, "cex/binance").random();
        let b: u64 = component_rng(7, "cex/binance").random();
        let c: u64 = component_rng(7, "cex/coinbase").random();
        let d: u64 = component_rng(8, "cex/binance").random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
