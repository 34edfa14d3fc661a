//! Shared by the pq-suites benches.

/// Unwraps a result inside a benchmark: an error aborts the run, since
/// criterion would otherwise time the error path.
pub fn must<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("benchmark operation failed: {e:?}");
            std::process::exit(1)
        }
    }
}
