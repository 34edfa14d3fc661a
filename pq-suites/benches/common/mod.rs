//! Shared by the pq-suites benches.

/// Unwraps a result inside a benchmark: an error aborts the run, since
/// criterion would otherwise time the error path.
#[allow(dead_code)] // not every bench uses it
pub fn must<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("benchmark operation failed: {e:?}");
            std::process::exit(1)
        }
    }
}

/// The KeyPackages of members `m0`..`m{n-2}` of a group of `n`.
#[allow(dead_code)] // not every bench uses it
pub fn key_packages(
    cs: &std::sync::Arc<dyn mlsx_base::crypto::CipherSuiteProvider>,
    n: usize,
) -> Result<Vec<mlsx_base::group::KeyPackageBundle>, mlsx_base::Error> {
    use mlsx_base::group::Identity;
    (0..n.saturating_sub(1))
        .map(|i| Identity::basic(cs.as_ref(), format!("m{i}").as_bytes())?.key_package(cs.as_ref()))
        .collect()
}

/// The group made by one commit: the creator ("alice") adds every
/// KeyPackage with the ratchet tree in the Welcome. Returns the creator
/// (merged) and the Welcome.
#[allow(dead_code)] // not every bench uses it
pub fn group_of(
    cs: &std::sync::Arc<dyn mlsx_base::crypto::CipherSuiteProvider>,
    kps: &[mlsx_base::group::KeyPackageBundle],
) -> Result<(mlsx_base::group::Group, mlsx_base::codec::MlsMessage), Box<dyn std::error::Error>> {
    use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity};
    let mut alice = Group::create(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"alice")?,
        b"bench".to_vec(),
        GroupConfig::default(),
    )?;
    let out = alice.commit(CommitOptions::add(kps.iter().map(|b| b.key_package.clone()).collect()))?;
    alice.merge_pending_commit()?;
    Ok((alice, out.welcome.ok_or("no Welcome")?))
}
