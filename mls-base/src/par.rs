//! Data parallelism for independent public-key operations (HPKE
//! encryptions, signature checks). With the `parallel` feature the work is
//! spread over rayon's thread pool; without it, it runs in order. Results
//! always come back in input order, so errors are reported deterministically.

/// Below this many cheap items (a leaf's signature check, say) waking the
/// thread pool costs more than it saves.
pub(crate) const CHEAP_ITEMS: usize = 32;

/// Maps `f` over `items`, in parallel when the feature is on and there is
/// more than one item.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    map_from(2, items, f)
}

/// [`map`], parallel only from `min` items on.
pub(crate) fn map_from<T: Sync, R: Send>(min: usize, items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "parallel")]
    if items.len() >= min.max(2) {
        use rayon::prelude::*;
        return items.par_iter().map(f).collect();
    }
    items.iter().map(f).collect()
}

/// How many pieces to cut `len` independent items into so that each
/// worker gets one (one piece without the feature).
pub(crate) fn pieces(len: usize) -> usize {
    #[cfg(feature = "parallel")]
    if len >= CHEAP_ITEMS {
        return rayon::current_num_threads().clamp(1, len);
    }
    let _ = len;
    1
}

/// Like [`map`] for fallible work: the first error in input order wins.
pub(crate) fn try_map<T: Sync, R: Send, E: Send>(items: &[T], f: impl Fn(&T) -> Result<R, E> + Sync + Send) -> Result<Vec<R>, E> {
    map(items, f).into_iter().collect()
}

/// [`try_map`], parallel only from `min` items on.
pub(crate) fn try_map_from<T: Sync, R: Send, E: Send>(
    min: usize,
    items: &[T],
    f: impl Fn(&T) -> Result<R, E> + Sync + Send,
) -> Result<Vec<R>, E> {
    map_from(min, items, f).into_iter().collect()
}

/// Runs `a` and `b`, concurrently when the feature is on and `worth_it`.
pub(crate) fn join_if<A: Send, B: Send>(worth_it: bool, a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    #[cfg(feature = "parallel")]
    if worth_it {
        return rayon::join(a, b);
    }
    let _ = worth_it;
    (a(), b())
}
