//! Data parallelism for independent public-key operations (HPKE
//! encryptions, signature checks). With the `parallel` feature the work is
//! spread over rayon's thread pool; without it, it runs in order. Results
//! always come back in input order, so errors are reported deterministically.

/// Maps `f` over `items`, in parallel when the feature is on and there is
/// more than one item.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "parallel")]
    if items.len() > 1 {
        use rayon::prelude::*;
        return items.par_iter().map(f).collect();
    }
    items.iter().map(f).collect()
}

/// Like [`map`] for fallible work: the first error in input order wins.
pub(crate) fn try_map<T: Sync, R: Send, E: Send>(items: &[T], f: impl Fn(&T) -> Result<R, E> + Sync + Send) -> Result<Vec<R>, E> {
    map(items, f).into_iter().collect()
}

/// Runs `a` and `b`, concurrently when the feature is on.
pub(crate) fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    #[cfg(feature = "parallel")]
    {
        rayon::join(a, b)
    }
    #[cfg(not(feature = "parallel"))]
    {
        (a(), b())
    }
}
