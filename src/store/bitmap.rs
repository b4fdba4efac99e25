//! Live-row bitmaps of segments.

/// Fixed-size bitmap of live rows.
#[derive(Debug, Clone)]
pub(crate) struct Bitmap(Vec<u64>);

impl Bitmap {
    pub(crate) fn full(n: usize) -> Bitmap {
        let mut v = vec![u64::MAX; n.div_ceil(64)];
        if !n.is_multiple_of(64) {
            if let Some(l) = v.last_mut() {
                *l = (1u64 << (n % 64)) - 1;
            }
        }
        Bitmap(v)
    }
    /// True if row `i` is live.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }
    pub(crate) fn clear(&mut self, i: usize) -> bool {
        let was = self.get(i);
        self.0[i / 64] &= !(1u64 << (i % 64));
        was
    }
    pub(crate) fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}
