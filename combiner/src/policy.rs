//! Which suites may pair (§7), and when to make FULL commits (§3).

use mlsx_base::codec::CipherSuite;
use mlsx_pq_suites::{PqKem, PqProvider, PqSignature};

use crate::Error;
use crate::codec::Mode;

/// Checks a suite pair for a session (§7, MUST reject otherwise): the T
/// suite is one of RFC 9420's classical suites; the PQ suite has a pure,
/// standardized PQ KEM (ML-KEM-768 or ML-KEM-1024: hybrids are refused)
/// and, in mode 1, an ML-DSA signature. `profile` maps PQ code points to
/// suites.
pub fn check_suites(t: CipherSuite, pq: CipherSuite, mode: Mode, profile: &PqProvider) -> Result<(), Error> {
    if !(1..=7).contains(&t.value()) {
        return Err(Error::NotTraditional(t));
    }
    let suite = profile.suite(pq).ok_or(Error::NotPurePq(pq))?;
    let (kem, _, _, signature) = suite.components();
    if !matches!(kem, PqKem::MlKem768 | PqKem::MlKem1024) {
        return Err(Error::NotPurePq(pq));
    }
    if mode == Mode::ConfidentialityAndAuthenticity
        && !matches!(signature, PqSignature::MlDsa44 | PqSignature::MlDsa65 | PqSignature::MlDsa87)
    {
        return Err(Error::NoPqSignature(pq));
    }
    Ok(())
}

/// What kind of commit to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitKind {
    /// A commit in both groups, the T one keyed from the PQ one.
    Full,
    /// A commit in the T group only.
    Partial,
}

/// When a session makes FULL commits (§3): FULL commits set the PQ
/// post-compromise-security window, PARTIAL ones are cheap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FullCommitPolicy {
    /// Every `every`-th commit is FULL (1: all of them).
    pub every: u32,
    /// A commit is FULL when the last FULL commit is older than this many
    /// seconds (the inactivity rule of §3 needs FULL commits more often
    /// than the application's inactivity threshold).
    pub max_age_seconds: Option<u64>,
    /// §3: a member whose own last FULL commit is older than this many
    /// seconds is inactive and must be removed
    /// ([`ApqSession::inactive_members`](crate::ApqSession::inactive_members),
    /// [`ApqSession::remove_inactive`](crate::ApqSession::remove_inactive)).
    /// It must exceed `max_age_seconds`, or active members are removed too.
    pub inactive_after_seconds: Option<u64>,
}

impl Default for FullCommitPolicy {
    fn default() -> Self {
        Self {
            every: 10,
            max_age_seconds: Some(7 * 24 * 3600),
            inactive_after_seconds: None,
        }
    }
}

impl FullCommitPolicy {
    /// A policy, checked with [`Self::validate`].
    pub fn new(every: u32, max_age_seconds: Option<u64>, inactive_after_seconds: Option<u64>) -> Result<Self, Error> {
        let policy = Self {
            every,
            max_age_seconds,
            inactive_after_seconds,
        };
        policy.validate()?;
        Ok(policy)
    }

    /// Checks the policy (also done by every session that takes it, through
    /// its [`ApqSetup`](crate::ApqSetup)): `every` is at least 1, and with
    /// an inactivity limit, every member's commits become FULL before it
    /// would count as inactive (§3): every commit is FULL (`every == 1`),
    /// or `max_age_seconds` is set and below `inactive_after_seconds`.
    pub fn validate(&self) -> Result<(), Error> {
        if self.every == 0 {
            return Err(Error::InvalidPolicy("every must be at least 1"));
        }
        if self.max_age_seconds == Some(0) {
            return Err(Error::InvalidPolicy("max_age_seconds must be above 0"));
        }
        match (self.inactive_after_seconds, self.max_age_seconds) {
            (Some(0), _) => Err(Error::InvalidPolicy("inactive_after_seconds must be above 0")),
            (Some(_), _) if self.every == 1 => Ok(()),
            (Some(_), None) => Err(Error::InvalidPolicy(
                "inactive_after_seconds needs max_age_seconds (or every = 1): active members would be removed",
            )),
            (Some(inactive), Some(age)) if age >= inactive => Err(Error::InvalidPolicy(
                "max_age_seconds must be below inactive_after_seconds: active members would be removed",
            )),
            _ => Ok(()),
        }
    }

    /// The kind of the next commit: FULL on a membership change (§3 MUST),
    /// for a member that has not made its first FULL commit since joining
    /// (§3.2 SHOULD), and by the period and age of the policy.
    pub fn decide(
        &self,
        membership_change: bool,
        commits_since_full: u32,
        seconds_since_full: u64,
        joined_without_full: bool,
    ) -> CommitKind {
        let by_count = self.every <= 1 || commits_since_full.saturating_add(1) >= self.every;
        let by_age = self.max_age_seconds.is_some_and(|m| seconds_since_full >= m);
        if membership_change || joined_without_full || by_count || by_age {
            CommitKind::Full
        } else {
            CommitKind::Partial
        }
    }
}
