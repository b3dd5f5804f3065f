//! xorshift64*: a deterministic generator, so every benchmark run replays the same synthetic data.

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A zero seed would only ever produce zeros.
    pub fn new(seed: u64) -> Self {
        assert_ne!(seed, 0, "xorshift needs a non-zero seed");
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// An index into a collection of `len` items.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_sequence_within_bounds() {
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..100).map(|_| rng.below(7)).collect::<Vec<_>>()
        };
        let first = draw(0x5EED);
        assert_eq!(first, draw(0x5EED));
        assert_ne!(first, draw(0x5EEE));
        assert!(first.iter().all(|&n| n < 7));
        assert_eq!((0..7).filter(|n| first.contains(n)).count(), 7);
    }
}
