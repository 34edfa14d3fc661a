//! The `apq_mls_info` component (0x0006) as the extensions layer sees it:
//! how AppDataUpdates of APQInfo apply (§5.1.1), and the `apq_psk` it
//! lends the T group's key schedule for one commit or Welcome (§5.2).

use std::sync::Mutex;

use mlsx_base::codec::{decode, encode};
use mlsx_base::crypto::Secret;
use mlsx_extensions::{APQ_MLS_INFO, Component, Origin, Rejection};

use crate::codec::{ApqInfo, ApqInfoUpdate};

/// The component `apq_mls_info` of one group of a session.
#[derive(Debug, Default)]
pub(crate) struct ApqComponent {
    /// `(apq_psk_id, apq_psk)` while a FULL commit or a Welcome of the T
    /// group is made or processed; taken away right after (§5.2: delete).
    psk: Mutex<Option<(Vec<u8>, Secret)>>,
    /// Whether the lent PSK was asked for since it was lent.
    used: std::sync::atomic::AtomicBool,
}

impl ApqComponent {
    pub(crate) fn lend_psk(&self, psk_id: Vec<u8>, psk: Secret) {
        self.used.store(false, std::sync::atomic::Ordering::SeqCst);
        *self.psk.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((psk_id, psk));
    }

    /// Takes the lent PSK back (deletes it); returns whether the T group
    /// used it.
    pub(crate) fn forget_psk(&self) -> bool {
        *self.psk.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.used.swap(false, std::sync::atomic::Ordering::SeqCst)
    }
}

fn reject(why: &str) -> Rejection {
    Rejection::new(why)
}

impl Component for ApqComponent {
    fn id(&self) -> u16 {
        APQ_MLS_INFO
    }

    fn validate_data(&self, _: mlsx_base::group::hooks::ExtensionContext, data: &[u8]) -> Result<(), Rejection> {
        decode::<ApqInfo>(data)
            .map(|_| ())
            .map_err(|e| Rejection::new(format!("APQInfo: {e}")))
    }

    /// §5.1.1: either one `full_update`, or `new_t_epoch` and
    /// `new_pq_epoch` applied to an existing APQInfo; only the epochs of an
    /// existing APQInfo may change.
    fn apply_updates(&self, current: Option<&[u8]>, updates: &[(&[u8], Origin)]) -> Result<Vec<u8>, Rejection> {
        let current: Option<ApqInfo> = current
            .map(decode)
            .transpose()
            .map_err(|_| reject("current APQInfo does not decode"))?;
        let parsed: Vec<ApqInfoUpdate> = updates
            .iter()
            .map(|(u, _)| decode(u))
            .collect::<Result<_, _>>()
            .map_err(|_| reject("APQInfoUpdate does not decode"))?;
        let new = match (parsed.as_slice(), current) {
            ([ApqInfoUpdate::FullUpdate(info)], None) => info.clone(),
            ([ApqInfoUpdate::FullUpdate(info)], Some(old)) => {
                if !old.same_session(info) {
                    return Err(reject("APQInfo: only the epochs may change"));
                }
                info.clone()
            }
            (
                [ApqInfoUpdate::NewTEpoch(t), ApqInfoUpdate::NewPqEpoch(pq)] | [ApqInfoUpdate::NewPqEpoch(pq), ApqInfoUpdate::NewTEpoch(t)],
                Some(old),
            ) => ApqInfo {
                t_epoch: *t,
                pq_epoch: *pq,
                ..old
            },
            (_, None) => return Err(reject("APQInfo: epoch updates without an APQInfo")),
            _ => return Err(reject("APQInfo: one full_update, or new_t_epoch with new_pq_epoch")),
        };
        encode(&new).map_err(|e| Rejection::new(e.to_string()))
    }

    /// APQInfo stays for the session's life.
    fn allow_remove(&self, _: &[u8], _: &Origin) -> Result<(), Rejection> {
        Err(reject("APQInfo cannot be removed"))
    }

    fn psk(&self, psk_id: &[u8]) -> Option<Secret> {
        let slot = self.psk.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*slot {
            Some((id, psk)) if id.as_slice() == psk_id => {
                self.used.store(true, std::sync::atomic::Ordering::SeqCst);
                Some(psk.duplicate())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use mlsx_base::codec::{CipherSuite, Sender, VLBytes};
    use mlsx_base::tree::math::LeafIndex;

    use super::*;
    use crate::codec::Mode;

    fn info(t_epoch: u64, pq_epoch: u64) -> ApqInfo {
        ApqInfo {
            t_session_group_id: VLBytes::new(b"T".to_vec()),
            pq_session_group_id: VLBytes::new(b"PQ".to_vec()),
            mode: Mode::ConfidentialityOnly,
            t_cipher_suite: CipherSuite(1),
            pq_cipher_suite: CipherSuite(0xf006),
            t_epoch,
            pq_epoch,
        }
    }

    fn apply(current: Option<&ApqInfo>, updates: &[ApqInfoUpdate]) -> Result<ApqInfo, Rejection> {
        let origin = Origin {
            sender: Sender::Member(LeafIndex(0)),
            committer: Sender::Member(LeafIndex(0)),
            epoch: 4,
        };
        let current = current.map(|c| encode(c).unwrap());
        let encoded: Vec<Vec<u8>> = updates.iter().map(|u| encode(u).unwrap()).collect();
        let list: Vec<(&[u8], Origin)> = encoded.iter().map(|u| (u.as_slice(), origin)).collect();
        ApqComponent::default()
            .apply_updates(current.as_deref(), &list)
            .map(|out| decode(&out).unwrap())
    }

    /// §5.1.1: one full_update, or new_t_epoch with new_pq_epoch applied to
    /// an existing APQInfo (either order); every other list is refused.
    #[test]
    fn only_the_two_forms_of_update_list_apply() {
        let old = info(3, 2);
        assert_eq!(apply(None, &[ApqInfoUpdate::FullUpdate(info(1, 1))]).unwrap(), info(1, 1));
        assert_eq!(apply(Some(&old), &[ApqInfoUpdate::FullUpdate(info(4, 3))]).unwrap(), info(4, 3));
        for pair in [
            [ApqInfoUpdate::NewTEpoch(4), ApqInfoUpdate::NewPqEpoch(3)],
            [ApqInfoUpdate::NewPqEpoch(3), ApqInfoUpdate::NewTEpoch(4)],
        ] {
            assert_eq!(apply(Some(&old), &pair).unwrap(), info(4, 3));
            // The two-update form needs an APQInfo to change.
            assert!(apply(None, &pair).is_err());
        }
        let refused: [&[ApqInfoUpdate]; 5] = [
            &[ApqInfoUpdate::NewTEpoch(4)],
            &[ApqInfoUpdate::NewPqEpoch(3)],
            &[ApqInfoUpdate::NewTEpoch(4), ApqInfoUpdate::NewTEpoch(5)],
            &[ApqInfoUpdate::FullUpdate(info(4, 3)), ApqInfoUpdate::NewTEpoch(4)],
            &[
                ApqInfoUpdate::NewTEpoch(4),
                ApqInfoUpdate::NewPqEpoch(3),
                ApqInfoUpdate::NewPqEpoch(3),
            ],
        ];
        for list in refused {
            assert!(apply(Some(&old), list).is_err(), "{list:?} accepted");
        }
        // A full_update may change only the epochs.
        let mut other = info(4, 3);
        other.mode = Mode::ConfidentialityAndAuthenticity;
        assert!(apply(Some(&old), &[ApqInfoUpdate::FullUpdate(other)]).is_err());
        let mut other = info(4, 3);
        other.pq_session_group_id = VLBytes::new(b"another".to_vec());
        assert!(apply(Some(&old), &[ApqInfoUpdate::FullUpdate(other)]).is_err());
    }
}
